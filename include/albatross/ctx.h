/* SPDX-License-Identifier: ISC */
/**
 * @file ctx.h
 * @brief Library context: logging, last error, version.
 *
 * Every object of libalbatross belongs to a context. The context carries the
 * log handler (the library never prints on its own) and the human-readable
 * reason of the last failure in this context.
 *
 * Errors: every fallible call returns an int, >= 0 on success and a negative
 * errno value on failure (-EINVAL, -ENOENT, -EEXIST, -ENOMEM, -EDQUOT for a
 * policy limit, -EBADMSG for malformed input, -EPROTO for an unknown protocol
 * version, ...). Afterwards alb_ctx_last_error() tells why, in words.
 *
 * Threads: a context and the objects made with it may be used from one
 * thread at a time.
 */
#ifndef ALBATROSS_CTX_H
#define ALBATROSS_CTX_H

#include <stdarg.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque, reference counted library context. */
typedef struct alb_ctx alb_ctx;

/** Log priorities, the same numbers as syslog's. */
enum alb_log_priority {
	ALB_LOG_ERR = 3,
	ALB_LOG_WARNING = 4,
	ALB_LOG_NOTICE = 5,
	ALB_LOG_INFO = 6,
	ALB_LOG_DEBUG = 7
};

/**
 * A log handler. @p message is one line without a trailing newline and is
 * borrowed for the duration of the call.
 */
typedef void (*alb_log_fn)(alb_ctx *ctx, int priority, const char *message, void *userdata);

/**
 * Creates a context with no log handler and priority ALB_LOG_WARNING.
 * @param ret_ctx the new context, released with alb_ctx_unref().
 * @return 0, or -ENOMEM, -EINVAL.
 */
int alb_ctx_new(alb_ctx **ret_ctx);

/** Takes a reference. Accepts NULL. @return @p ctx. */
alb_ctx *alb_ctx_ref(alb_ctx *ctx);

/** Drops a reference and frees the context on the last one. Accepts NULL. @return NULL. */
alb_ctx *alb_ctx_unref(alb_ctx *ctx);

/**
 * Sets the log handler; NULL discards log messages (the default).
 * @p userdata is passed to every call of @p fn.
 */
void alb_ctx_set_log_fn(alb_ctx *ctx, alb_log_fn fn, void *userdata);

/** Sets the most verbose priority passed to the handler. @return 0 or -EINVAL. */
int alb_ctx_set_log_priority(alb_ctx *ctx, int priority);

/** @return the current log priority. */
int alb_ctx_get_log_priority(const alb_ctx *ctx);

/**
 * The reason of the last failure reported in this context, in words, e.g.
 * "label 'Foo_' has an invalid character '_' at position 4".
 * Borrowed: valid until the next call that fails in this context.
 * @return the message, or "" when nothing failed yet.
 */
const char *alb_ctx_last_error(const alb_ctx *ctx);

/** Forgets the last error. */
void alb_ctx_clear_error(alb_ctx *ctx);

/** Frees memory that the library returned as a non-const pointer. Accepts NULL. */
void alb_free(void *ptr);

/** @return the library's version, e.g. "0.1.0". Static storage. */
const char *alb_version(void);

#ifdef __cplusplus
}
#endif

#endif
