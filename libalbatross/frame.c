/* SPDX-License-Identifier: ISC */
/* Framing: a 4-byte big-endian length, then that many bytes; 0 ends a stream. */
#include <inttypes.h>

#include "ctx-private.h"
#include "frame-private.h"
#include "wire-private.h"

/* What one alb_frame_reader_read() asks read(2) for. */
#define READ_SIZE (64u << 10)
/* A frame at least this long is read into a buffer of its own, straight from the
 * socket: no copy out of the reader's buffer, no growth of it (uploads: 1 MB chunks).
 * One read then takes up to the rest of that frame (at most the reader's max): each
 * connection still gets one read per turn of a loop, and each read is counted as
 * before by the server's progress window (the trickle bound). */
#define DIRECT_MIN (128u << 10)
/* ... once this much of its body came: a header alone never makes the reader allocate the
 * whole frame (a peer that announces megabytes and sends nothing holds a READ_SIZE buffer,
 * as for any frame, not its announced length). */
#define DIRECT_AFTER (32u << 10)

/* ---- the header ------------------------------------------------------------------------- */

void alb_frame_header_put(uint8_t header[static ALB_FRAME_HEADER_SIZE], uint32_t len)
{
	header[0] = (uint8_t)(len >> 24);
	header[1] = (uint8_t)(len >> 16);
	header[2] = (uint8_t)(len >> 8);
	header[3] = (uint8_t)len;
}

uint32_t alb_frame_header_get(const uint8_t header[static ALB_FRAME_HEADER_SIZE])
{
	return (uint32_t)header[0] << 24 | (uint32_t)header[1] << 16 | (uint32_t)header[2] << 8 |
	       header[3];
}

int alb_frame_check_len(alb_ctx *ctx, uint64_t len, uint64_t max)
{
	if (max == 0)
		max = ALB_FRAME_MAX_DEFAULT;
	if (len <= max)
		return 0;
	return alb_error(ctx, EBADMSG, "frame of %" PRIu64 " bytes exceeds the bound %" PRIu64, len,
			 max);
}

int alb_frame_header_parse(alb_ctx *ctx, const uint8_t *buf, size_t avail, uint64_t max,
			   uint32_t *ret_len)
{
	if (avail < ALB_FRAME_HEADER_SIZE)
		return 0;
	uint32_t len = alb_frame_header_get(buf);
	int r = alb_frame_check_len(ctx, len, max);
	if (r < 0)
		return r;
	*ret_len = len;
	return 1;
}

int alb_frame_build(alb_ctx *ctx, const uint8_t *payload, uint64_t len, uint8_t **ret,
		    size_t *ret_size)
{
	if ((!payload && len > 0) || !ret || !ret_size)
		return -EINVAL;
	if (len > UINT32_MAX)
		return alb_error(ctx, EMSGSIZE, "frame of %" PRIu64 " bytes exceeds %" PRIu32, len,
				 UINT32_MAX);
	uint8_t *frame = malloc(ALB_FRAME_HEADER_SIZE + len);
	if (!frame)
		return -ENOMEM;
	alb_frame_header_put(frame, (uint32_t)len);
	if (len > 0)
		memcpy(frame + ALB_FRAME_HEADER_SIZE, payload, len);
	*ret = frame;
	*ret_size = ALB_FRAME_HEADER_SIZE + (size_t)len;
	return 0;
}

/* ---- blocking reads and writes ---------------------------------------------------------- */

ALB_EXPORT int alb_frame_read(alb_ctx *ctx, int fd, uint64_t max, uint8_t **ret_buf,
			      uint64_t *ret_len)
{
	_cleanup_free_ uint8_t *buf = NULL;
	uint8_t header[ALB_FRAME_HEADER_SIZE];
	ssize_t n;
	int r;

	if (fd < 0 || !ret_buf || !ret_len)
		return -EINVAL;
	if (max == 0)
		max = ALB_FRAME_MAX_DEFAULT;

	n = alb_read_full(fd, header, sizeof(header));
	if (n < 0)
		return alb_error(ctx, (int)-n, "Failed to read a frame: %s", strerror((int)-n));
	if (n == 0)
		return alb_error(ctx, EPIPE, "the peer closed the connection");
	if (n < (ssize_t)sizeof(header))
		return alb_error(ctx, EBADMSG, "frame header cut short after %zd bytes", n);

	uint32_t len = alb_frame_header_get(header);
	if ((r = alb_frame_check_len(ctx, len, max)) < 0)
		return r;
	if (len > 0) {
		buf = malloc(len);
		if (!buf)
			return -ENOMEM;
		n = alb_read_full(fd, buf, len);
		if (n < 0)
			return alb_error(ctx, (int)-n, "Failed to read a frame: %s",
					 strerror((int)-n));
		if ((size_t)n < len)
			return alb_error(ctx, EBADMSG,
					 "frame cut short after %zd of %" PRIu32 " bytes", n, len);
	}
	*ret_buf = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

ALB_EXPORT int alb_frame_write(alb_ctx *ctx, int fd, const uint8_t *buf, uint64_t len)
{
	_cleanup_free_ uint8_t *frame = NULL;
	size_t size;
	int r;

	if (fd < 0 || (!buf && len > 0))
		return -EINVAL;
	/* One write, so that header and payload travel together. */
	if ((r = alb_frame_build(ctx, buf, len, &frame, &size)) < 0)
		return r;
	r = alb_write_full(fd, frame, size);
	if (r < 0)
		return alb_error(ctx, -r, "Failed to write a frame: %s", strerror(-r));
	return 0;
}

struct alb_frame_reader {
	uint64_t max;
	uint8_t *buf; /* the bytes buffered are buf[start..end) */
	size_t start, end, size;
	/* A long frame being read into its own buffer: big_got of its big_len bytes are
	 * there. Nothing is buffered in buf meanwhile (what follows it is read after it). */
	uint8_t *big;
	size_t big_len, big_got;
};

int alb_frame_reader_new(uint64_t max, alb_frame_reader **ret)
{
	alb_frame_reader *reader = calloc(1, sizeof(*reader));

	if (!reader)
		return -ENOMEM;
	reader->max = max > 0 ? max : ALB_FRAME_MAX_DEFAULT;
	*ret = reader;
	return 0;
}

alb_frame_reader *alb_frame_reader_free(alb_frame_reader *reader)
{
	if (reader) {
		free(reader->buf);
		free(reader->big);
		free(reader);
	}
	return NULL;
}

/* Makes room for more bytes after end. */
static int reserve(alb_frame_reader *reader, size_t more)
{
	if (reader->start > 0) {
		memmove(reader->buf, reader->buf + reader->start, reader->end - reader->start);
		reader->end -= reader->start;
		reader->start = 0;
	}
	if (reader->size - reader->end >= more)
		return 0;

	size_t size = reader->size * 2 > reader->end + more ? reader->size * 2 : reader->end + more;
	uint8_t *buf = realloc(reader->buf, size);
	if (!buf)
		return -ENOMEM;
	reader->buf = buf;
	reader->size = size;
	return 0;
}

/* Rejects the frame at start as soon as its header declares too much. */
static int check_header(alb_ctx *ctx, const alb_frame_reader *reader)
{
	uint32_t len;
	int r = alb_frame_header_parse(ctx, reader->buf + reader->start,
				       reader->end - reader->start, reader->max, &len);
	return r < 0 ? r : 0;
}

int alb_frame_reader_feed(alb_ctx *ctx, alb_frame_reader *reader, const void *buf, size_t len)
{
	int r;

	if (len == 0)
		return 0;
	if (reader->big) {
		size_t take = reader->big_len - reader->big_got;
		if (take > len)
			take = len;
		memcpy(reader->big + reader->big_got, buf, take);
		reader->big_got += take;
		buf = (const uint8_t *)buf + take;
		len -= take;
		if (len == 0)
			return 0;
	}
	r = reserve(reader, len);
	if (r < 0)
		return r;
	memcpy(reader->buf + reader->end, buf, len);
	reader->end += len;
	return check_header(ctx, reader);
}

ssize_t alb_frame_reader_read(alb_ctx *ctx, alb_frame_reader *reader, int fd)
{
	int r;

	if (reader->big && reader->big_got < reader->big_len) {
		ssize_t n =
		    read(fd, reader->big + reader->big_got, reader->big_len - reader->big_got);
		if (n < 0) {
			int e = errno;
			if (e == EAGAIN || e == EINTR)
				return -EAGAIN;
			return alb_error(ctx, e, "Failed to read a frame: %s", strerror(e));
		}
		reader->big_got += (size_t)n;
		return n;
	}
	r = reserve(reader, READ_SIZE);
	if (r < 0)
		return r;
	ssize_t n = read(fd, reader->buf + reader->end, READ_SIZE);
	if (n < 0) {
		int e = errno;
		if (e == EAGAIN || e == EINTR)
			return -EAGAIN;
		return alb_error(ctx, e, "Failed to read a frame: %s", strerror(e));
	}
	reader->end += (size_t)n;
	r = check_header(ctx, reader);
	return r < 0 ? r : n;
}

int alb_frame_reader_next(alb_ctx *ctx, alb_frame_reader *reader, uint8_t **ret_buf,
			  uint64_t *ret_len)
{
	size_t avail = reader->end - reader->start;
	uint32_t len;
	int r;

	if (reader->big) {
		if (reader->big_got < reader->big_len)
			return 0;
		*ret_buf = TAKE_PTR(reader->big);
		*ret_len = reader->big_len;
		reader->big_len = reader->big_got = 0;
		return 1;
	}
	if (avail < ALB_FRAME_HEADER_SIZE)
		return 0; /* also: nothing buffered yet, buf may be NULL */
	r = alb_frame_header_parse(ctx, reader->buf + reader->start, avail, reader->max, &len);
	if (r <= 0)
		return r;
	if (avail - ALB_FRAME_HEADER_SIZE < len) {
		size_t got = avail - ALB_FRAME_HEADER_SIZE;
		if (len < DIRECT_MIN || got < DIRECT_AFTER)
			return 0;
		/* A long frame: the rest of it goes straight into a buffer of its own. All
		 * that is buffered is of this frame (it is incomplete). */
		reader->big = malloc(len);
		if (!reader->big)
			return -ENOMEM;
		memcpy(reader->big, reader->buf + reader->start + ALB_FRAME_HEADER_SIZE, got);
		reader->big_len = len;
		reader->big_got = got;
		reader->start = reader->end = 0;
		return 0;
	}

	uint8_t *buf = NULL;
	if (len > 0) {
		buf = malloc(len);
		if (!buf)
			return -ENOMEM;
		memcpy(buf, reader->buf + reader->start + ALB_FRAME_HEADER_SIZE, len);
	}
	reader->start += ALB_FRAME_HEADER_SIZE + (size_t)len;
	*ret_buf = buf;
	*ret_len = len;
	return 1;
}

bool alb_frame_reader_is_empty(const alb_frame_reader *reader)
{
	return reader->start == reader->end && !reader->big;
}
