/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util-private.h"

ALB_EXPORT void alb_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

ALB_EXPORT char **alb_strv_dup(char *const *v, uint32_t n)
{
	char **r = calloc((size_t)n + 1, sizeof(char *));
	if (!r)
		return NULL;
	for (uint32_t i = 0; i < n; i++) {
		r[i] = strdup(v[i]);
		if (!r[i]) {
			alb_strv_free(r);
			return NULL;
		}
	}
	return r;
}

bool alb_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		uint32_t cp;
		size_t n;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else
			return false;
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000))
			return false; /* overlong */
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

ALB_EXPORT ssize_t alb_read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = read(fd, (char *)buf + done, len - done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

ALB_EXPORT int alb_write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = write(fd, (const char *)buf + done, len - done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)r;
	}
	return 0;
}

/* Index of the first element >= value. */
static uint32_t u32_lower_bound(const uint32_t *set, uint32_t n, uint32_t value)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (set[mid] < value)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int alb_u32set_add(uint32_t **set, uint32_t *n, uint32_t value, uint32_t max)
{
	uint32_t i = u32_lower_bound(*set, *n, value);
	if (i < *n && (*set)[i] == value)
		return 0;
	if (*n >= max)
		return -E2BIG;
	uint32_t *s = realloc(*set, ((size_t)*n + 1) * sizeof(uint32_t));
	if (!s)
		return -ENOMEM;
	memmove(s + i + 1, s + i, ((size_t)*n - i) * sizeof(uint32_t));
	s[i] = value;
	*set = s;
	(*n)++;
	return 1;
}

bool alb_u32set_has(const uint32_t *set, uint32_t n, uint32_t value)
{
	uint32_t i = u32_lower_bound(set, n, value);
	return i < n && set[i] == value;
}

bool alb_u32set_subset(const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb)
{
	for (uint32_t i = 0; i < na; i++)
		if (!alb_u32set_has(b, nb, a[i]))
			return false;
	return true;
}

static uint32_t str_lower_bound(char *const *set, uint32_t n, const char *value)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (strcmp(set[mid], value) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int alb_strset_add(char ***set, uint32_t *n, const char *value, uint32_t max)
{
	uint32_t i = str_lower_bound(*set, *n, value);
	if (i < *n && streq((*set)[i], value))
		return 0;
	if (*n >= max)
		return -E2BIG;
	char *copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	/* Keep the array NULL-terminated. */
	char **s = realloc(*set, ((size_t)*n + 2) * sizeof(char *));
	if (!s) {
		free(copy);
		return -ENOMEM;
	}
	memmove(s + i + 1, s + i, ((size_t)*n - i) * sizeof(char *));
	s[i] = copy;
	*set = s;
	(*n)++;
	s[*n] = NULL;
	return 1;
}

bool alb_strset_has(char *const *set, uint32_t n, const char *value)
{
	uint32_t i = str_lower_bound(set, n, value);
	return i < n && streq(set[i], value);
}

bool alb_strset_subset(char *const *a, uint32_t na, char *const *b, uint32_t nb)
{
	for (uint32_t i = 0; i < na; i++)
		if (!alb_strset_has(b, nb, a[i]))
			return false;
	return true;
}

uint32_t alb_sorted_find(const void *base, uint32_t n, size_t size,
			 const char *(*key_of)(const void *elt), const char *key, bool *found)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(key_of((const char *)base + (size_t)mid * size), key);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}
