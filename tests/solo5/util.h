/* SPDX-License-Identifier: ISC */
/* The few helpers the test unikernels share: no libc in a Solo5 guest. */
#ifndef ALB_SOLO5_TEST_UTIL_H
#define ALB_SOLO5_TEST_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "solo5.h"

/* The compiler may emit calls to these four: they must exist. */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

/*
 * printf to the console, one solo5_console_write() per call (at most 512
 * bytes). Conversions: %s %.*s %c %d %u %x %% with the length modifiers l, ll
 * and z, the flag 0 and a field width.
 */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The words of a command line, separated by spaces: the next word from
 * *cursor, its length in *len; NULL after the last one.
 */
const char *next_word(const char **cursor, size_t *len);

/* The word is KEY (such as "--exit="): its value and the value's length. */
bool option(const char *word, size_t len, const char *key, const char **value, size_t *vlen);

/* A decimal number of n characters, at most max. */
bool parse_uint(const char *s, size_t n, uint64_t max, uint64_t *out);

/* Exits with MirageOS's code for a bad argument after saying which. */
void bad_argument(const char *prog, const char *word, size_t len) __attribute__((noreturn));

#define EXIT_BAD_ARGUMENT 64

#endif
