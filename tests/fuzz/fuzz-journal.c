/* SPDX-License-Identifier: ISC */
/* Fuzzes the journal parser (docs/state.md, "The journal"): it never reads past the input,
 * what it keeps is whole records, and the state it builds encodes and decodes to the same
 * bytes. */
#include <stdlib.h>
#include <string.h>

#include "journal-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	alb_ctx *ctx = NULL;
	alb_ctx_new(&ctx);
	struct alb_state *s = NULL;
	size_t valid = 0;
	uint64_t last = 0;
	bool torn = false;
	if (alb_state_new(&s) < 0)
		abort();
	int r = alb_journal_replay(ctx, "fuzz", data, size, s, &valid, &last, &torn);
	if (r == 0) {
		if (valid > size || (!torn && valid != size) || (torn && valid == size))
			abort();
		/* The kept prefix alone replays to the same, without a torn tail. */
		struct alb_state *t = NULL;
		size_t valid2;
		uint64_t last2;
		bool torn2;
		if (alb_state_new(&t) < 0 ||
		    alb_journal_replay(ctx, "fuzz", data, valid, t, &valid2, &last2, &torn2) < 0 ||
		    valid2 != valid || last2 != last || torn2)
			abort();
		uint8_t *a = NULL, *b = NULL;
		size_t la, lb;
		struct alb_state *u = NULL;
		if (alb_state_encode(ctx, s, &a, &la) < 0 ||
		    alb_state_encode(ctx, t, &b, &lb) < 0 || la != lb || memcmp(a, b, la) != 0 ||
		    alb_state_decode(ctx, a, la, &u) < 0)
			abort();
		free(a);
		free(b);
		alb_state_free(t);
		alb_state_free(u);
	} else if (r != -EBADMSG && r != -ENOMEM)
		abort();
	alb_state_free(s);
	alb_ctx_unref(ctx);
	return 0;
}
