/* SPDX-License-Identifier: ISC */
/* Fuzzes the message decoder: what decodes must encode, and that encoding must
 * decode and encode to the same bytes. Then the decoder of received frames
 * (alb_msg_decode_frame(), whose long data chunks take the frame's buffer): the input
 * followed by a long byte string (a chunk's 4-byte-length header and its bytes) must be
 * accepted or refused exactly as alb_msg_decode() does, as the same message. */
#include <stdlib.h>
#include <string.h>

#include "wire-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A chunk just long enough for the frame decoder's own way (more than 64 KiB). */
#define LONG_CHUNK (UINT16_MAX + 1u + 7u)

static void same_message(alb_ctx *ctx, const alb_msg *a, const alb_msg *b)
{
	uint8_t *ea = NULL, *eb = NULL;
	uint64_t la, lb;
	if (alb_msg_encode(ctx, a, &ea, &la) < 0 || alb_msg_encode(ctx, b, &eb, &lb) < 0 ||
	    la != lb || memcmp(ea, eb, la) != 0)
		abort();
	alb_free(ea);
	alb_free(eb);
}

static void frame_decoder(alb_ctx *ctx, const uint8_t *data, size_t size)
{
	size_t len = size + 5 + LONG_CHUNK;
	uint8_t *frame = malloc(len);
	if (!frame)
		return;
	memcpy(frame, data, size);
	frame[size] = 0x5a; /* a byte string of 4-byte length */
	frame[size + 1] = (uint8_t)(LONG_CHUNK >> 24);
	frame[size + 2] = (uint8_t)(LONG_CHUNK >> 16);
	frame[size + 3] = (uint8_t)(LONG_CHUNK >> 8);
	frame[size + 4] = (uint8_t)LONG_CHUNK;
	for (size_t i = 0; i < LONG_CHUNK; i++)
		frame[size + 5 + i] = (uint8_t)(i * 31 + size);

	alb_msg *general = NULL, *fast = NULL;
	int rg = alb_msg_decode(ctx, frame, len, &general);
	uint8_t *buf = frame;
	int rf = alb_msg_decode_frame(ctx, &buf, len, &fast);
	if ((rg == 0) != (rf == 0))
		abort();
	if (rg == 0)
		same_message(ctx, general, fast);
	alb_msg_free(general);
	alb_msg_free(fast);
	free(buf); /* NULL when the chunk took it */
}

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
	/* Envelopes longer than the frame decoder looks at are the general way's anyway. */
	if (size <= 1024)
		frame_decoder(ctx, data, size);
	alb_ctx_unref(ctx);
	return 0;
}
