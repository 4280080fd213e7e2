/* SPDX-License-Identifier: ISC */
/*
 * Fuzzes the argument templates (libalbatross/ipam.c): the input is a template.
 * validate and expand agree (a template that expands validates; a template
 * that validates fails to expand only for its length), the result is within
 * the bound, and an escaped argument expands back to itself.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ipam-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > ALB_TEMPLATE_LENGTH_MAX + 2)
		return 0;
	char *t = malloc(size + 1);
	if (!t)
		return 0;
	memcpy(t, data, size);
	t[size] = '\0';

	alb_ctx *ctx = NULL;
	alb_ctx_new(&ctx);
	const struct alb_template_vars vars = {
	    .ip = 0x0a000005,
	    .prefix_len = 24,
	    .gateway = 0x0a000001,
	    .name = "alice:web.3",
	    .generation = 42,
	};
	char *s = NULL;
	int re = alb_template_expand(ctx, t, &vars, &s);
	int rv = alb_template_validate(ctx, t);
	if (re == 0 && rv != 0)
		abort();
	if (rv == 0 && re != 0 && re != -E2BIG)
		abort();
	if (re == -EINVAL && rv != -EINVAL)
		abort();
	if (re != 0 && re != -EINVAL && re != -E2BIG)
		abort();
	if (re == 0) {
		if (!s || strlen(s) > ALB_ARGS_LENGTH_MAX)
			abort();
		/* The result, escaped, is a template that expands to it. */
		char *e = NULL, *back = NULL;
		if (alb_template_escape(s, &e) < 0 ||
		    alb_template_expand(ctx, e, &vars, &back) < 0 || strcmp(back, s))
			abort();
		free(back);
		free(e);
	} else if (s)
		abort();
	free(s);

	/* The input as a literal: escaped, it expands back to itself. */
	char *e = NULL, *back = NULL;
	if (strlen(t) <= ALB_ARGS_LENGTH_MAX) {
		if (alb_template_escape(t, &e) < 0 || alb_template_validate(ctx, e) < 0 ||
		    alb_template_expand(ctx, e, &vars, &back) < 0 || strcmp(back, t))
			abort();
	} else if (alb_template_escape(t, &e) != -E2BIG)
		abort();
	free(back);
	free(e);
	alb_ctx_unref(ctx);
	free(t);
	return 0;
}
