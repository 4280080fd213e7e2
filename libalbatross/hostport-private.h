/* SPDX-License-Identifier: ISC */
/*
 * HOST:PORT, the one grammar of every address given to albatross (the TLS
 * endpoint's --listen, the client's --destination, albatross-stats' --influx
 * and --prometheus):
 *
 *   HOST:PORT     HOST a name or an IPv4 address: no ':', '/', '[', ']',
 *                 space or control character
 *   [IPV6]:PORT   IPV6 (with a ':' in it) in brackets: no '/', '[', ']',
 *                 space or control character
 *
 * HOST is 1..ALB_HOST_MAX bytes; PORT is 1 to 5 decimal digits, 1..65535 (0 too
 * with ALB_HOST_PORT_ZERO: any free port, for listening). An IPv6 address
 * without brackets ("::1:80") is refused: which colon starts the port would be
 * a guess.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <albatross/ctx.h>

/* Longest host part of HOST:PORT (a DNS name is at most 253 bytes). */
#define ALB_HOST_MAX 255u

enum {
	ALB_HOST_PORT_ZERO = 1u << 0, /* port 0 is allowed (listen on any free port) */
};

/*
 * Parses [s, s + len) (not NUL-terminated: a part of a URL) into host (without
 * brackets, NUL-terminated) and *ret_port; flags is a mask of ALB_HOST_PORT_*.
 * 0, or -EINVAL with the reason in ctx (which may be NULL), in one of the forms
 * "'S': expected HOST:PORT", "'S': expected HOST:PORT, or [ADDRESS]:PORT for IPv6",
 * "'S': expected [ADDRESS]:PORT", "'S': invalid host",
 * "'S': the port must be 1 to 65535" (0 to 65535 with ALB_HOST_PORT_ZERO).
 */
int alb_host_port_parse(alb_ctx *ctx, const char *s, size_t len, unsigned flags,
			char host[static ALB_HOST_MAX + 1], uint16_t *ret_port);
