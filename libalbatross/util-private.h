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

#define _cleanup_(f)   __attribute__((cleanup(f)))
#define _unused_       __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _likely_(x)    __builtin_expect(!!(x), 1)
#define _unlikely_(x)  __builtin_expect(!!(x), 0)
#define ELEMENTSOF(x)  (sizeof(x) / sizeof((x)[0]))

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
#define _cleanup_close_ _cleanup_(closep)

/* Steals a pointer from a cleanup variable. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _tp = (p);                                                           \
		(p) = NULL;                                                                        \
		_tp;                                                                               \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _tfd = (fd);                                                                   \
		(fd) = -1;                                                                         \
		_tfd;                                                                              \
	})

/* Defines a cleanup function name##p for a type with a free function returning NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                    \
	static inline void func##p(type *p)                                                        \
	{                                                                                          \
		if (*p)                                                                            \
			func(*p);                                                                  \
	}

static inline bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* A NULL-terminated array of strings. */
void alb_strv_free(char **v);
static inline void alb_strv_freep(char ***v)
{
	alb_strv_free(*v);
}
#define _cleanup_strv_free_ _cleanup_(alb_strv_freep)

/* Copies n strings; NULL on allocation failure. */
char **alb_strv_dup(char *const *v, uint32_t n);

/* 1 if s[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool alb_utf8_valid(const char *s, size_t len);

/* EINTR-safe full read/write. read returns bytes read (< len only at EOF) or -errno. */
ssize_t alb_read_full(int fd, void *buf, size_t len);
int alb_write_full(int fd, const void *buf, size_t len);

/* Sorted unique uint32 set in a growable array. */
int alb_u32set_add(uint32_t **set, uint32_t *n, uint32_t value, uint32_t max);
bool alb_u32set_has(const uint32_t *set, uint32_t n, uint32_t value);
bool alb_u32set_subset(const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb);
/* Sorted unique string set. */
int alb_strset_add(char ***set, uint32_t *n, const char *value, uint32_t max);
bool alb_strset_has(char *const *set, uint32_t n, const char *value);
bool alb_strset_subset(char *const *a, uint32_t na, char *const *b, uint32_t nb);

#include <dirent.h>
static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}
