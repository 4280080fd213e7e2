/* SPDX-License-Identifier: ISC */
#pragma once

#include <albatross/ctx.h>

#include "util-private.h"

/*
 * Records the reason of a failure in ctx (which may be NULL) and returns
 * -error, so that callers write: return alb_error(ctx, EINVAL, "...", ...);
 * error is a positive errno value.
 */
int alb_error(alb_ctx *ctx, int error, const char *fmt, ...) _printf_(3, 4);
int alb_errorv(alb_ctx *ctx, int error, const char *fmt, va_list ap) _printf_(3, 0);

/* Prefixes the context's last error with "prefix: ". Returns r. */
int alb_error_prefix(alb_ctx *ctx, int r, const char *fmt, ...) _printf_(3, 4);

/* Passes a message to the context's log handler if priority is enabled. */
void alb_log(alb_ctx *ctx, int priority, const char *fmt, ...) _printf_(3, 4);

#define alb_log_debug(ctx, ...)	 alb_log(ctx, ALB_LOG_DEBUG, __VA_ARGS__)
#define alb_log_info(ctx, ...)	 alb_log(ctx, ALB_LOG_INFO, __VA_ARGS__)
#define alb_log_notice(ctx, ...) alb_log(ctx, ALB_LOG_NOTICE, __VA_ARGS__)
#define alb_log_warn(ctx, ...)	 alb_log(ctx, ALB_LOG_WARNING, __VA_ARGS__)
#define alb_log_err(ctx, ...)	 alb_log(ctx, ALB_LOG_ERR, __VA_ARGS__)

DEFINE_TRIVIAL_CLEANUP_FUNC(alb_ctx *, alb_ctx_unref);
