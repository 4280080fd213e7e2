/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <zlib.h>

#include "sha256-private.h"
#include "util-private.h"
#include "zstream-private.h"

struct alb_zstream {
	int mode;
	bool z_ready, z_end, hashing, finished;
	int fault, error; /* error: the first failure (negative), sticky */
	uint64_t max, plain, out;
	alb_zstream_sink_fn sink;
	void *userdata;
	z_stream z;
	alb_sha256_ctx hash;
	uint8_t *buf; /* ALB_ZSTREAM_BUF of output (inflate, deflate) */
};

ALB_EXPORT int alb_zstream_new(int mode, uint64_t max, bool hash, alb_zstream_sink_fn sink,
			       void *userdata, alb_zstream **ret)
{
	_cleanup_(alb_zstream_freep) alb_zstream *z = NULL;

	if (mode < ALB_ZSTREAM_COPY || mode > ALB_ZSTREAM_DEFLATE || !sink || !ret)
		return -EINVAL;
	z = calloc(1, sizeof(*z));
	if (!z)
		return -ENOMEM;
	*z = (alb_zstream){.mode = mode, .max = max, .sink = sink, .userdata = userdata};
	if (mode != ALB_ZSTREAM_COPY) {
		z->buf = malloc(ALB_ZSTREAM_BUF);
		if (!z->buf)
			return -ENOMEM;
		if ((mode == ALB_ZSTREAM_INFLATE ? inflateInit(&z->z)
						 : deflateInit(&z->z, Z_BEST_COMPRESSION)) != Z_OK)
			return -ENOMEM;
		z->z_ready = true;
	}
	if (hash) {
		alb_sha256_init(&z->hash);
		z->hashing = true;
	}
	*ret = TAKE_PTR(z);
	return 0;
}

ALB_EXPORT alb_zstream *alb_zstream_free(alb_zstream *z)
{
	if (!z)
		return NULL;
	if (z->z_ready)
		(void)(z->mode == ALB_ZSTREAM_INFLATE ? inflateEnd(&z->z) : deflateEnd(&z->z));
	free(z->buf);
	free(z);
	return NULL;
}

static int fail(alb_zstream *z, int fault, int error)
{
	z->fault = fault;
	z->error = error;
	return error;
}

/* Counts (and hashes) len uncompressed bytes against the bound. */
static int plain(alb_zstream *z, const void *buf, size_t len)
{
	if (len > z->max - z->plain)
		return fail(z, ALB_ZSTREAM_FAULT_TOO_BIG, -EFBIG);
	z->plain += len;
	if (z->hashing)
		alb_sha256_update(&z->hash, buf, len);
	return 0;
}

static int emit(alb_zstream *z, const uint8_t *buf, size_t len)
{
	if (len == 0)
		return 0;
	int r = z->sink(buf, len, z->userdata);
	if (r < 0)
		return fail(z, ALB_ZSTREAM_FAULT_NONE, r);
	z->out += len;
	return 0;
}

static int inflate_some(alb_zstream *z, const void *buf, size_t len)
{
	int r;

	if (z->z_end)
		return fail(z, ALB_ZSTREAM_FAULT_TRAILING, -EBADMSG);
	while (len > 0) {
		/* avail_in is an uInt: feed a large buffer in parts. */
		uInt part = len > UINT32_MAX ? UINT32_MAX : (uInt)len;
		z->z.next_in = (Bytef *)buf;
		z->z.avail_in = part;
		while (z->z.avail_in > 0 && !z->z_end) {
			z->z.next_out = z->buf;
			z->z.avail_out = ALB_ZSTREAM_BUF;
			int zr = inflate(&z->z, Z_NO_FLUSH);
			/* Z_BUF_ERROR (no progress) cannot be with input and room left. */
			if (zr != Z_OK && zr != Z_STREAM_END)
				return fail(z, ALB_ZSTREAM_FAULT_CORRUPT, -EBADMSG);
			size_t got = ALB_ZSTREAM_BUF - z->z.avail_out;
			if ((r = plain(z, z->buf, got)) < 0 || (r = emit(z, z->buf, got)) < 0)
				return r;
			if (zr == Z_STREAM_END)
				z->z_end = true;
		}
		if (z->z_end && (z->z.avail_in > 0 || len > part))
			return fail(z, ALB_ZSTREAM_FAULT_TRAILING, -EBADMSG);
		buf = (const uint8_t *)buf + part;
		len -= part;
	}
	return 0;
}

static int deflate_some(alb_zstream *z, const void *buf, size_t len, int flush)
{
	int r;

	do {
		uInt part = len > UINT32_MAX ? UINT32_MAX : (uInt)len;
		int f = part == len ? flush : Z_NO_FLUSH;
		z->z.next_in = (Bytef *)buf;
		z->z.avail_in = part;
		do {
			z->z.next_out = z->buf;
			z->z.avail_out = ALB_ZSTREAM_BUF;
			(void)deflate(&z->z, f); /* cannot fail with a valid state */
			if ((r = emit(z, z->buf, ALB_ZSTREAM_BUF - z->z.avail_out)) < 0)
				return r;
		} while (z->z.avail_out == 0);
		buf = (const uint8_t *)buf + part;
		len -= part;
	} while (len > 0);
	return 0;
}

ALB_EXPORT int alb_zstream_write(alb_zstream *z, const void *buf, size_t len)
{
	int r;

	if (!z || (!buf && len) || z->finished)
		return -EINVAL;
	if (z->error)
		return z->error;
	if (len == 0)
		return 0;
	switch (z->mode) {
	case ALB_ZSTREAM_COPY:
		if ((r = plain(z, buf, len)) < 0)
			return r;
		for (size_t i = 0; i < len; i += ALB_ZSTREAM_BUF)
			if ((r = emit(z, (const uint8_t *)buf + i,
				      len - i < ALB_ZSTREAM_BUF ? len - i : ALB_ZSTREAM_BUF)) < 0)
				return r;
		return 0;
	case ALB_ZSTREAM_INFLATE:
		return inflate_some(z, buf, len);
	default:
		if ((r = plain(z, buf, len)) < 0)
			return r;
		return deflate_some(z, buf, len, Z_NO_FLUSH);
	}
}

ALB_EXPORT int alb_zstream_finish(alb_zstream *z)
{
	int r = 0;

	if (!z || z->finished)
		return -EINVAL;
	if (z->error)
		return z->error;
	if (z->mode == ALB_ZSTREAM_INFLATE && !z->z_end)
		r = fail(z, ALB_ZSTREAM_FAULT_TRUNCATED, -EBADMSG);
	else if (z->mode == ALB_ZSTREAM_DEFLATE)
		r = deflate_some(z, NULL, 0, Z_FINISH);
	if (r == 0)
		z->finished = true;
	return r;
}

ALB_EXPORT int alb_zstream_fault(const alb_zstream *z)
{
	return z ? z->fault : ALB_ZSTREAM_FAULT_NONE;
}

ALB_EXPORT const char *alb_zstream_zlib_message(const alb_zstream *z)
{
	return z && z->fault == ALB_ZSTREAM_FAULT_CORRUPT ? z->z.msg : NULL;
}

ALB_EXPORT uint64_t alb_zstream_plain_bytes(const alb_zstream *z)
{
	return z ? z->plain : 0;
}

ALB_EXPORT uint64_t alb_zstream_out_bytes(const alb_zstream *z)
{
	return z ? z->out : 0;
}

ALB_EXPORT int alb_zstream_digest(alb_zstream *z, uint8_t digest[32])
{
	if (!z || !z->hashing || !z->finished || !digest)
		return -EINVAL;
	alb_sha256_final(&z->hash, digest);
	return 0;
}

ALB_EXPORT int alb_zstream_sink_fd(const uint8_t *buf, size_t len, void *userdata)
{
	return alb_write_full(*(const int *)userdata, buf, len);
}

ALB_EXPORT int alb_zstream_pump_fd(alb_zstream *z, int in)
{
	_cleanup_free_ uint8_t *buf = malloc(ALB_ZSTREAM_BUF);
	int r;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = alb_read_full(in, buf, ALB_ZSTREAM_BUF);
		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		if ((r = alb_zstream_write(z, buf, (size_t)n)) < 0)
			return r;
	}
	return alb_zstream_finish(z);
}

ALB_EXPORT int alb_zlib_deflate(const uint8_t *in, size_t len, uint8_t **ret, size_t *ret_len)
{
	if ((uLong)len != len)
		return -ENOMEM;
	uLongf out_len = compressBound((uLong)len);
	uint8_t *out = malloc(out_len ? out_len : 1);
	if (!out)
		return -ENOMEM;
	if (compress2(out, &out_len, in, (uLong)len, Z_BEST_COMPRESSION) != Z_OK) {
		free(out);
		return -ENOMEM;
	}
	*ret = out;
	*ret_len = out_len;
	return 0;
}
