/* SPDX-License-Identifier: ISC */
/*
 * IPv4 addresses and prefixes as text and as numbers. Addresses are in HOST
 * byte order (10.0.0.1 is 0x0a000001), so that masks and comparisons are plain
 * integer operations; convert with htonl() at the kernel boundary.
 *
 * The text forms are strict: a dotted quad is exactly four decimal numbers
 * 0..255 of 1 to 3 digits joined by '.', without leading zeros ("010" could be
 * read as octal), signs or spaces; a prefix is a dotted quad, '/', and a length
 * 1..32 without leading zeros, whose host bits are zero ("10.0.0.1/24" is
 * refused: it names an address, not a network).
 */
#pragma once

#include <stdint.h>

/* Longest dotted quad and prefix, with the NUL. */
#define ALB_IPV4_STRING_MAX   16u
#define ALB_PREFIX_STRING_MAX 19u

/* Parses a dotted quad into *ret (host order). 0 or -EINVAL. */
int alb_ipv4_parse(const char *s, uint32_t *ret);
/* Formats addr (host order) as a dotted quad. */
char *alb_ipv4_format(uint32_t addr, char buf[16]); /* returns buf */
/* Parses "A.B.C.D/N" (N 1..32, host bits zero) into *ret_addr and *ret_len. 0 or -EINVAL. */
int alb_prefix_parse(const char *s, uint32_t *ret_addr, uint32_t *ret_len);
/* Formats addr/len as "A.B.C.D/N". */
void alb_prefix_format(uint32_t addr, uint32_t len, char buf[19]);
/* The netmask of a prefix length (host order): 0 for 0, 0xffffffff for 32 and above. */
uint32_t alb_prefix_mask(uint32_t len);
/* 1 if the prefix inner/inner_len lies inside outer/outer_len (equal included), 0 if not. */
int alb_prefix_contains(uint32_t outer, uint32_t outer_len, uint32_t inner, uint32_t inner_len);
