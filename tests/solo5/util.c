/* SPDX-License-Identifier: ISC */
#include "util.h"

void *memcpy(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
	while (n--)
		*d++ = *s++;
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;
	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x < *y ? -1 : 1;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

struct out {
	char buf[512];
	size_t n;
};

static void put(struct out *o, char c)
{
	if (o->n < sizeof o->buf)
		o->buf[o->n++] = c;
}

static void put_number(struct out *o, uint64_t v, unsigned base, unsigned width, char pad)
{
	char digits[24];
	unsigned n = 0;
	do {
		unsigned d = (unsigned)(v % base);
		digits[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
		v /= base;
	} while (v);
	for (; width > n; width--)
		put(o, pad);
	while (n)
		put(o, digits[--n]);
}

void say(const char *fmt, ...)
{
	struct out o;
	va_list ap;
	o.n = 0;
	va_start(ap, fmt);
	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			put(&o, *p);
			continue;
		}
		p++;
		char pad = ' ';
		unsigned width = 0, longs = 0;
		int precision = -1;
		if (*p == '0') {
			pad = '0';
			p++;
		}
		while (*p >= '0' && *p <= '9')
			width = width * 10 + (unsigned)(*p++ - '0');
		if (p[0] == '.' && p[1] == '*') {
			precision = va_arg(ap, int);
			p += 2;
		}
		for (; *p == 'l' || *p == 'z'; p++)
			longs++;
		uint64_t u;
		switch (*p) {
		case 'd': {
			int64_t v = longs ? va_arg(ap, long) : va_arg(ap, int);
			if (v < 0) {
				put(&o, '-');
				u = (uint64_t)0 - (uint64_t)v;
			} else {
				u = (uint64_t)v;
			}
			put_number(&o, u, 10, width, pad);
			break;
		}
		case 'u':
		case 'x':
			u = longs ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
			put_number(&o, u, *p == 'u' ? 10 : 16, width, pad);
			break;
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			for (int i = 0; s[i] && (precision < 0 || i < precision); i++)
				put(&o, s[i]);
			break;
		}
		case '%':
			put(&o, '%');
			break;
		default:
			va_end(ap);
			solo5_abort();
		}
	}
	va_end(ap);
	solo5_console_write(o.buf, o.n);
}

const char *next_word(const char **cursor, size_t *len)
{
	const char *p = *cursor;
	while (*p == ' ')
		p++;
	if (!*p)
		return NULL;
	const char *start = p;
	while (*p && *p != ' ')
		p++;
	*len = (size_t)(p - start);
	*cursor = p;
	return start;
}

bool option(const char *word, size_t len, const char *key, const char **value, size_t *vlen)
{
	size_t k = strlen(key);
	if (len < k || memcmp(word, key, k) != 0)
		return false;
	*value = word + k;
	*vlen = len - k;
	return true;
}

bool parse_uint(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > 19)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

void bad_argument(const char *prog, const char *word, size_t len)
{
	say("%s: bad argument '%.*s'\n", prog, (int)len, word);
	solo5_exit(EXIT_BAD_ARGUMENT);
}
