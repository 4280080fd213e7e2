/* SPDX-License-Identifier: ISC */
/*
 * Addresses of services (issue 14): the address of each instance of a service
 * picked from an IPv4 prefix, and the argument templates that hand it to the
 * unikernel. Pure functions: no I/O, no global state.
 *
 * IPv4 addresses are uint32_t in HOST byte order everywhere (10.0.0.1 is
 * 0x0a000001).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <albatross/ctx.h>
#include <albatross/unikernel.h>

/* Most addresses in the excluded list of alb_ipam_pick(). */
#define ALB_IPAM_EXCLUDED_MAX 256u
/* Longest seed of alb_ipam_pick(), in bytes without the NUL. */
#define ALB_IPAM_SEED_MAX 4096u

/*
 * Picks the address for an instance of a service in the prefix net/len (len
 * 1..30, net without host bits). The network and broadcast addresses are never
 * picked, nor any of excluded[0..n_excluded) (n_excluded <= ALB_IPAM_EXCLUDED_MAX;
 * addresses outside the prefix are ignored), nor any address for which
 * used(addr, userdata) returns true (used may be NULL: nothing used).
 *
 * Deterministic, the same on every host and in every version: with
 *
 *   D = SHA-256(seed bytes (strlen(seed), without the NUL) || one 0x00 byte ||
 *               generation as 8 bytes big-endian)
 *   H = the first 8 bytes of D read as a big-endian uint64
 *   n = 2^(32 - len) - 2, the usable host addresses
 *
 * the first candidate is net + 1 + (H mod n); then the next addresses in
 * order, wrapping from the last usable address (broadcast - 1) to the first
 * (net + 1), until a free one is found. The same inputs with the same used set
 * give the same address. used() is called at most once per candidate, in that
 * order, and never for the network, broadcast or excluded addresses.
 *
 * seed is a string of at most ALB_IPAM_SEED_MAX bytes (the service name and a
 * digest of its configuration). ctx may be NULL.
 *
 * 0 with *ret, or:
 *   -EINVAL  a bad prefix ("10.0.0.1/24 has host bits set", "prefix length 31 of
 *            10.0.0.0/31 is not 1 to 30"), too many excluded addresses, no or too
 *            long a seed, ret NULL;
 *   -ENOSPC  every usable address is taken ("no free address in 10.0.0.0/24");
 *   -EIO     the hash failed (GnuTLS).
 */
int alb_ipam_pick(alb_ctx *ctx, uint32_t net, uint32_t len, const uint32_t *excluded,
		  size_t n_excluded, bool (*used)(uint32_t addr, void *userdata), void *userdata,
		  const char *seed, uint64_t generation, uint32_t *ret);

#include "inet-private.h" /* alb_ipv4_format() */
#define ALB_IPV4_STRING_MAX 16u

/* Longest argument template: an argument of ALB_ARGS_LENGTH_MAX bytes escaped
 * (alb_template_escape() doubles each brace). */
#define ALB_TEMPLATE_LENGTH_MAX (2u * ALB_ARGS_LENGTH_MAX)

/* Values substituted into an argument template. */
struct alb_template_vars {
	uint32_t ip;	     /* the instance's address */
	uint32_t prefix_len; /* 0..32 */
	uint32_t gateway;    /* 0: none: a template that uses {gateway} is then an error */
	const char *name;    /* the instance's unikernel name, e.g. "alice:web.3" */
	uint64_t generation;
};

/*
 * Expands one argument template:
 *
 *   {ip}          "10.0.0.5"
 *   {prefix_len}  "24"
 *   {cidr}        "10.0.0.5/24"
 *   {netmask}     "255.255.255.0"
 *   {gateway}     "10.0.0.1" (-EINVAL when vars->gateway is 0)
 *   {name}        vars->name, as is (-EINVAL when NULL)
 *   {generation}  decimal
 *   {{ and }}     a literal '{' and '}'
 *
 * Anything else between braces, an unterminated '{' or a lone '}' is -EINVAL,
 * with a message naming the template and the bad placeholder
 * ("argument template '--ip={ipv4}': unknown placeholder '{ipv4}'"). A template
 * longer than ALB_TEMPLATE_LENGTH_MAX is -E2BIG, and so is a result longer than
 * ALB_ARGS_LENGTH_MAX bytes. *ret (NUL-terminated) is freed with free().
 * ctx may be NULL.
 */
int alb_template_expand(alb_ctx *ctx, const char *template, const struct alb_template_vars *vars,
			char **ret);

/*
 * Checks a template without values, to refuse a bad template early: the same
 * syntax errors as alb_template_expand() (-EINVAL), and -E2BIG when the
 * template is longer than ALB_TEMPLATE_LENGTH_MAX or its literal text alone is
 * longer than ALB_ARGS_LENGTH_MAX (no values could make it fit). A template
 * that passes can still fail to expand: {gateway} without a gateway, or a
 * result too long for the values given.
 */
int alb_template_validate(alb_ctx *ctx, const char *template);

/*
 * Escapes a literal argument for use as a template ("{" -> "{{", "}" -> "}}"):
 * it expands back to itself with any values. 0 with *ret (freed with free()),
 * -EINVAL for NULL arguments, -E2BIG when literal is longer than
 * ALB_ARGS_LENGTH_MAX, -ENOMEM.
 */
int alb_template_escape(const char *literal, char **ret);
