/* SPDX-License-Identifier: ISC */
/* Fuzzes the state decoder: what decodes must encode and decode to the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "state-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	alb_ctx *ctx = NULL;
	alb_ctx_new(&ctx);
	struct alb_state *s = NULL;
	if (alb_state_decode(ctx, data, size, &s) == 0) {
		uint8_t *a = NULL, *b = NULL;
		size_t la, lb;
		struct alb_state *t = NULL;
		if (alb_state_encode(ctx, s, &a, &la) < 0 || alb_state_decode(ctx, a, la, &t) < 0 ||
		    alb_state_encode(ctx, t, &b, &lb) < 0 || la != lb || memcmp(a, b, la) != 0)
			abort();
		free(a);
		free(b);
		alb_state_free(t);
		alb_state_free(s);
	}
	alb_ctx_unref(ctx);
	return 0;
}
