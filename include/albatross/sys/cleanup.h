/* SPDX-License-Identifier: ISC */
/**
 * @file sys/cleanup.h
 * Extension tier (docs/abi.md): scope-bound cleanup for GNU C compilers (GCC,
 * Clang), as libalbatross and its programs use it. Header-only: nothing here
 * is a symbol of the library. The macros use the cleanup attribute and
 * statement expressions, extensions of GNU C.
 */
#ifndef ALBATROSS_SYS_CLEANUP_H
#define ALBATROSS_SYS_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <albatross/client.h>
#include <albatross/ctx.h>
#include <albatross/manifest.h>
#include <albatross/name.h>
#include <albatross/policy.h>
#include <albatross/tls.h>
#include <albatross/unikernel.h>
#include <albatross/wire.h>
#include <albatross/x509.h>

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

static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

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

/* Defines a cleanup function name##p for a type with a free function. */
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

/* The handles of the public API. */
DEFINE_TRIVIAL_CLEANUP_FUNC(alb_ctx *, alb_ctx_unref)
DEFINE_TRIVIAL_CLEANUP_FUNC(alb_name *, alb_name_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(alb_policy *, alb_policy_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(alb_unikernel_config *, alb_unikernel_config_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(alb_manifest *, alb_manifest_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(alb_msg *, alb_msg_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(alb_client *, alb_client_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(alb_tls_endpoint *, alb_tls_endpoint_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(alb_x509_ext *, alb_x509_ext_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(alb_x509_chain *, alb_x509_chain_free)

#endif
