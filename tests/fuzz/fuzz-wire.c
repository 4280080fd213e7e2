/* SPDX-License-Identifier: ISC */
/* Fuzzes the message decoder: what decodes must encode, and that encoding must
 * decode and encode to the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "wire-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	alb_ctx *ctx = NULL;
	alb_msg *msg = NULL, *again = NULL;
	uint8_t *a = NULL, *b = NULL;
	uint64_t la, lb;

	if (alb_ctx_new(&ctx) < 0)
		abort();
	if (alb_msg_decode(ctx, data, size, &msg) == 0) {
		if (alb_msg_encode(ctx, msg, &a, &la) < 0 ||
		    alb_msg_decode(ctx, a, la, &again) < 0 ||
		    alb_msg_encode(ctx, again, &b, &lb) < 0 || la != lb || memcmp(a, b, la) != 0)
			abort();
		alb_free(a);
		alb_free(b);
		alb_msg_free(again);
		alb_msg_free(msg);
	}
	alb_ctx_unref(ctx);
	return 0;
}
