/* SPDX-License-Identifier: ISC */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "ctx-private.h"

#define ERROR_MAX 1024

struct alb_ctx {
	unsigned refcount;
	alb_log_fn log_fn;
	void *log_userdata;
	int log_priority;
	char last_error[ERROR_MAX];
};

ALB_EXPORT int alb_ctx_new(alb_ctx **ret_ctx)
{
	if (!ret_ctx)
		return -EINVAL;
	alb_ctx *ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->refcount = 1;
	ctx->log_priority = ALB_LOG_WARNING;
	*ret_ctx = ctx;
	return 0;
}

ALB_EXPORT alb_ctx *alb_ctx_ref(alb_ctx *ctx)
{
	if (ctx)
		ctx->refcount++;
	return ctx;
}

ALB_EXPORT alb_ctx *alb_ctx_unref(alb_ctx *ctx)
{
	if (ctx && --ctx->refcount == 0)
		free(ctx);
	return NULL;
}

ALB_EXPORT void alb_ctx_set_log_fn(alb_ctx *ctx, alb_log_fn fn, void *userdata)
{
	if (!ctx)
		return;
	ctx->log_fn = fn;
	ctx->log_userdata = userdata;
}

ALB_EXPORT int alb_ctx_set_log_priority(alb_ctx *ctx, int priority)
{
	if (!ctx || priority < ALB_LOG_ERR || priority > ALB_LOG_DEBUG)
		return -EINVAL;
	ctx->log_priority = priority;
	return 0;
}

ALB_EXPORT int alb_ctx_get_log_priority(const alb_ctx *ctx)
{
	return ctx ? ctx->log_priority : -EINVAL;
}

ALB_EXPORT const char *alb_ctx_last_error(const alb_ctx *ctx)
{
	return ctx ? ctx->last_error : "";
}

ALB_EXPORT void alb_ctx_clear_error(alb_ctx *ctx)
{
	if (ctx)
		ctx->last_error[0] = '\0';
}

ALB_EXPORT void alb_free(void *ptr)
{
	free(ptr);
}

ALB_EXPORT const char *alb_version(void)
{
	return PACKAGE_VERSION;
}

ALB_EXPORT int alb_errorv(alb_ctx *ctx, int error, const char *fmt, va_list ap)
{
	if (ctx)
		vsnprintf(ctx->last_error, sizeof(ctx->last_error), fmt, ap);
	return -error;
}

ALB_EXPORT int alb_error(alb_ctx *ctx, int error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	alb_errorv(ctx, error, fmt, ap);
	va_end(ap);
	return -error;
}

ALB_EXPORT int alb_error_prefix(alb_ctx *ctx, int r, const char *fmt, ...)
{
	if (!ctx)
		return r;
	char prefix[ERROR_MAX], old[ERROR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	snprintf(old, sizeof(old), "%s", ctx->last_error);
	/* "prefix: reason", cut to the buffer; it stays NUL-terminated. */
	const char *parts[] = {prefix, ": ", old[0] ? old : strerror(r < 0 ? -r : r)};
	size_t used = 0;
	for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
		size_t l = strlen(parts[i]);
		if (l > sizeof(ctx->last_error) - 1 - used)
			l = sizeof(ctx->last_error) - 1 - used;
		memcpy(ctx->last_error + used, parts[i], l);
		used += l;
	}
	ctx->last_error[used] = '\0';
	return r;
}

ALB_EXPORT void alb_log(alb_ctx *ctx, int priority, const char *fmt, ...)
{
	if (!ctx || !ctx->log_fn || priority > ctx->log_priority)
		return;
	char msg[ERROR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->log_fn(ctx, priority, msg, ctx->log_userdata);
}
