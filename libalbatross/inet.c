/* SPDX-License-Identifier: ISC */
/* IPv4 addresses and prefixes (inet-private.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "inet-private.h"

/* Parses 1..3 decimal digits without a leading zero, at most max, at *s; advances *s. */
static int parse_decimal(const char **s, uint32_t max, uint32_t *ret)
{
	const char *p = *s;
	uint32_t v = 0;
	size_t n = 0;

	while (p[n] >= '0' && p[n] <= '9') {
		if (n == 3)
			return -EINVAL;
		v = v * 10 + (uint32_t)(p[n] - '0');
		n++;
	}
	if (n == 0 || (n > 1 && p[0] == '0') || v > max)
		return -EINVAL;
	*s = p + n;
	*ret = v;
	return 0;
}

/* Parses a dotted quad at *s, advancing *s past it. */
static int parse_quad(const char **s, uint32_t *ret)
{
	uint32_t addr = 0;

	for (int i = 0; i < 4; i++) {
		uint32_t octet;
		if (i > 0) {
			if (**s != '.')
				return -EINVAL;
			(*s)++;
		}
		if (parse_decimal(s, 255, &octet) < 0)
			return -EINVAL;
		addr = addr << 8 | octet;
	}
	*ret = addr;
	return 0;
}

int alb_ipv4_parse(const char *s, uint32_t *ret)
{
	uint32_t addr;

	if (!s || !ret || parse_quad(&s, &addr) < 0 || *s != '\0')
		return -EINVAL;
	*ret = addr;
	return 0;
}

char *alb_ipv4_format(uint32_t addr, char buf[16])
{
	snprintf(buf, ALB_IPV4_STRING_MAX, "%u.%u.%u.%u", addr >> 24, addr >> 16 & 0xff,
		 addr >> 8 & 0xff, addr & 0xff);
	return buf;
}

uint32_t alb_prefix_mask(uint32_t len)
{
	if (len == 0)
		return 0;
	if (len >= 32)
		return UINT32_MAX;
	return UINT32_MAX << (32 - len);
}

int alb_prefix_parse(const char *s, uint32_t *ret_addr, uint32_t *ret_len)
{
	uint32_t addr, len;

	if (!s || !ret_addr || !ret_len || parse_quad(&s, &addr) < 0 || *s++ != '/' ||
	    parse_decimal(&s, 32, &len) < 0 || *s != '\0' || len == 0 ||
	    (addr & ~alb_prefix_mask(len)) != 0)
		return -EINVAL;
	*ret_addr = addr;
	*ret_len = len;
	return 0;
}

void alb_prefix_format(uint32_t addr, uint32_t len, char buf[19])
{
	snprintf(buf, ALB_PREFIX_STRING_MAX, "%u.%u.%u.%u/%u", addr >> 24, addr >> 16 & 0xff,
		 addr >> 8 & 0xff, addr & 0xff, len > 32 ? 32 : len);
}

int alb_prefix_contains(uint32_t outer, uint32_t outer_len, uint32_t inner, uint32_t inner_len)
{
	if (inner_len < outer_len)
		return 0;
	uint32_t mask = alb_prefix_mask(outer_len);
	return (inner & mask) == (outer & mask);
}
