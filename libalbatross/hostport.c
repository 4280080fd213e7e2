/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "ctx-private.h"
#include "hostport-private.h"
#include "parse-private.h"

/* A byte that may be in a host: not a space, a control character, '/', '[' or ']'. */
static bool host_byte(char c)
{
	return (unsigned char)c > ' ' && c != 0x7f && c != '/' && c != '[' && c != ']';
}

int alb_host_port_parse(alb_ctx *ctx, const char *s, size_t len, unsigned flags,
			char host[static ALB_HOST_MAX + 1], uint16_t *ret_port)
{
	const char *end, *hs, *he, *colon;
	bool bracketed = false;
	uint64_t port;

	if (!s || !host || !ret_port)
		return -EINVAL;
	end = s + len;
	if (len > 0 && s[0] == '[') {
		he = memchr(s, ']', len);
		if (!he || he + 1 >= end || he[1] != ':')
			return alb_error(ctx, EINVAL, "'%.*s': expected [ADDRESS]:PORT", (int)len,
					 s);
		bracketed = true;
		hs = s + 1;
		colon = he + 1;
	} else {
		colon = memchr(s, ':', len);
		if (!colon)
			return alb_error(ctx, EINVAL, "'%.*s': expected HOST:PORT", (int)len, s);
		if (memchr(colon + 1, ':', (size_t)(end - colon - 1)))
			return alb_error(ctx, EINVAL,
					 "'%.*s': expected HOST:PORT, or [ADDRESS]:PORT for IPv6",
					 (int)len, s);
		hs = s;
		he = colon;
	}
	size_t hlen = (size_t)(he - hs);
	bool ok = hlen > 0 && hlen <= ALB_HOST_MAX && (!bracketed || memchr(hs, ':', hlen));
	for (size_t i = 0; ok && i < hlen; i++)
		ok = host_byte(hs[i]);
	if (!ok)
		return alb_error(ctx, EINVAL, "'%.*s': invalid host", (int)len, s);
	size_t plen = (size_t)(end - colon - 1);
	uint64_t min = flags & ALB_HOST_PORT_ZERO ? 0 : 1;
	if (plen > 5 || alb_parse_u64_span(colon + 1, plen, min, 65535, &port) < 0)
		return alb_error(ctx, EINVAL, "'%.*s': the port must be %u to 65535", (int)len, s,
				 (unsigned)min);
	memcpy(host, hs, hlen);
	host[hlen] = '\0';
	*ret_port = (uint16_t)port;
	return 0;
}
