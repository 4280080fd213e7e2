/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "parse-private.h"
#include "util-private.h"

ALB_EXPORT int alb_parse_u64_span(const char *s, size_t len, uint64_t min, uint64_t max,
				  uint64_t *ret)
{
	uint64_t v = 0;
	bool overflow = false;

	if (!s || len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			overflow = true; /* still a number: -ERANGE once all digits are seen */
		else
			v = v * 10 + d;
	}
	if (overflow || v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

ALB_EXPORT int alb_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	if (!s)
		return -EINVAL;
	return alb_parse_u64_span(s, strlen(s), min, max, ret);
}

ALB_EXPORT int alb_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *ret)
{
	uint64_t v;
	int r = alb_parse_u64(s, min, max, &v);

	if (r < 0)
		return r;
	*ret = (uint32_t)v;
	return 0;
}

ALB_EXPORT int alb_parse_seconds(const char *s, uint64_t min_sec, uint64_t max_sec,
				 uint64_t *ret_usec)
{
	uint64_t v;
	int r;

	if (max_sec > UINT64_MAX / 1000000)
		max_sec = UINT64_MAX / 1000000;
	if ((r = alb_parse_u64(s, min_sec, max_sec, &v)) < 0)
		return r;
	*ret_usec = v * 1000000;
	return 0;
}

ALB_EXPORT int alb_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	unsigned shift = 0;
	uint64_t v;
	size_t len;
	int r;

	if (!s)
		return -EINVAL;
	len = strlen(s);
	if (len > 1) {
		switch (s[len - 1]) {
		case 'K':
		case 'k':
			shift = 10;
			break;
		case 'M':
			shift = 20;
			break;
		case 'G':
			shift = 30;
			break;
		}
	}
	if ((r = alb_parse_u64_span(s, shift ? len - 1 : len, 0, UINT64_MAX >> shift, &v)) < 0)
		return r;
	v <<= shift;
	if (v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}
