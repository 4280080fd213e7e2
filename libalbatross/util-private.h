/* SPDX-License-Identifier: ISC */
/* Internal helpers: cleanup attributes, small string and I/O helpers. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ALB_EXPORT __attribute__((visibility("default")))

/* _cleanup_, TAKE_PTR, streq...: the extension tier's, shared with the programs. */
#include <albatross/sys/cleanup.h>
#include <albatross/sys/util.h>

static inline void alb_strv_freep(char ***v)
{
	alb_strv_free(*v);
}
#define _cleanup_strv_free_ _cleanup_(alb_strv_freep)

/* Appends a copy of s to the NULL-terminated *v of *n strings. 0 or -ENOMEM (*v unchanged
 * but for its room). */
static inline int alb_strv_push(char ***v, uint32_t *n, const char *s)
{
	char **t = realloc(*v, (*n + 2) * sizeof(*t));
	if (!t)
		return -ENOMEM;
	*v = t;
	if (!(t[*n] = strdup(s)))
		return -ENOMEM;
	t[++*n] = NULL;
	return 0;
}

/* 1 if s[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool alb_utf8_valid(const char *s, size_t len);

/* Sorted unique uint32 set in a growable array. */
int alb_u32set_add(uint32_t **set, uint32_t *n, uint32_t value, uint32_t max);
bool alb_u32set_has(const uint32_t *set, uint32_t n, uint32_t value);
bool alb_u32set_subset(const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb);
/* Sorted unique string set. */
int alb_strset_add(char ***set, uint32_t *n, const char *value, uint32_t max);
bool alb_strset_has(char *const *set, uint32_t n, const char *value);
bool alb_strset_subset(char *const *a, uint32_t na, char *const *b, uint32_t nb);

/* Binary search of key in the n elements of size bytes at base, sorted by the string
 * key_of(element) (strcmp): its index, or the index it would go at; *found says which. */
uint32_t alb_sorted_find(const void *base, uint32_t n, size_t size,
			 const char *(*key_of)(const void *elt), const char *key, bool *found);
