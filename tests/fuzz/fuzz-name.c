/* SPDX-License-Identifier: ISC */
/* Fuzzes the name parser: parse, format, parse again, compare, and the operations. */
#include <stdlib.h>
#include <string.h>

#include <albatross/name.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	alb_ctx *ctx = NULL;
	alb_ctx_new(&ctx);
	alb_name *n = NULL;
	if (alb_name_parse(ctx, s, &n) == 0) {
		char *f = alb_name_to_string(n);
		alb_name *again = NULL;
		/* What we print must parse back to the same name. */
		if (!f || alb_name_parse(ctx, f, &again) < 0 || !alb_name_equal(n, again))
			abort();
		alb_name *parent = NULL, *path = NULL, *rel = NULL, *back = NULL;
		if (alb_name_parent(n, &parent) == 0) {
			if (!alb_name_is_prefix(parent, n))
				abort();
			if (alb_name_relative_to(ctx, n, parent, &rel) < 0)
				abort();
			if (alb_name_prepend_path(ctx, parent, rel, &back) < 0 ||
			    !alb_name_equal(back, n))
				abort();
		}
		if (alb_name_to_path(n, &path) == 0 && !alb_name_is_prefix(path, n))
			abort();
		alb_name_free(back);
		alb_name_free(rel);
		alb_name_free(path);
		alb_name_free(parent);
		alb_name_free(again);
		alb_free(f);
		alb_name_free(n);
	}
	alb_label_validate(ctx, s);
	alb_ctx_unref(ctx);
	free(s);
	return 0;
}
