/* SPDX-License-Identifier: ISC */
/*
 * Fuzzes the reader of the monitor's frames (libalbatross/monitor.c): the
 * input is a stream as a monitor would send it. Read at once and read in
 * pieces of every size (the first byte chooses them), it must give the same
 * frames, or fail at the same point.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "monitor-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct log {
	uint8_t *buf;
	size_t len, cap;
};

static void put(struct log *l, const void *p, size_t n)
{
	if (l->len + n > l->cap) {
		size_t cap = (l->len + n) * 2 + 64;
		uint8_t *b = realloc(l->buf, cap);
		if (!b)
			abort();
		l->buf = b;
		l->cap = cap;
	}
	memcpy(l->buf + l->len, p, n);
	l->len += n;
}

static int on_frame(void *userdata, const struct alb_monitor_frame *f)
{
	struct log *l = userdata;
	/* Console output in pieces is the same output: only its bytes are logged. */
	if (f->kind == ALB_MONITOR_DATA) {
		if (f->len == 0 || f->len > ALB_MONITOR_DATA_MAX)
			abort();
		put(l, f->data, f->len);
		return 0;
	}
	uint8_t k = (uint8_t)f->kind;
	put(l, "\n#", 2);
	put(l, &k, 1);
	put(l, &f->pid, sizeof(f->pid));
	put(l, &f->started_us, sizeof(f->started_us));
	put(l, &f->exited, sizeof(f->exited));
	put(l, &f->status, sizeof(f->status));
	put(l, &f->lost, sizeof(f->lost));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = data[0] % 7 + 1;
	data++;
	size--;
	alb_ctx *ctx = NULL;
	if (alb_ctx_new(&ctx) < 0)
		return 0;
	struct log whole = {0}, pieces = {0};
	struct alb_monitor_reader a = {0}, b = {0};
	int ra = alb_monitor_feed(ctx, &a, data, size, on_frame, &whole);
	int rb = 0;
	for (size_t off = 0; off < size && rb == 0; off += step)
		rb = alb_monitor_feed(ctx, &b, data + off, size - off < step ? size - off : step,
				      on_frame, &pieces);
	if (ra != rb || (ra == 0 && (whole.len != pieces.len ||
				     (whole.len && memcmp(whole.buf, pieces.buf, whole.len)))))
		abort();
	if (ra != 0 && ra != -EPROTO)
		abort();
	free(whole.buf);
	free(pieces.buf);
	alb_ctx_unref(ctx);
	return 0;
}
