/* SPDX-License-Identifier: ISC */
/* zlib streaming with a running SHA-256 (zstream-private.h). */
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "test-common.h"
#include "util-private.h"
#include "zstream-private.h"

/* A growing buffer as a sink; fails with -ENOSPC past limit. */
struct out {
	uint8_t *data;
	size_t len, limit, calls;
};

static int out_sink(const uint8_t *buf, size_t len, void *userdata)
{
	struct out *o = userdata;
	ck_assert_uint_gt(len, 0);
	ck_assert_uint_le(len, ALB_ZSTREAM_BUF);
	if (o->limit && o->len + len > o->limit)
		return -ENOSPC;
	o->data = realloc(o->data, o->len + len);
	ck_assert_ptr_nonnull(o->data);
	memcpy(o->data + o->len, buf, len);
	o->len += len;
	o->calls++;
	return 0;
}

/* Bytes that compress somewhat, not all alike. */
static uint8_t *make_data(size_t n)
{
	uint8_t *d = malloc(n ? n : 1);
	uint32_t x = 12345;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245 + 12345;
		d[i] = (uint8_t)((x >> 16) % 16 + 'a');
	}
	return d;
}

/* Runs data through a stream of mode, in pieces of step bytes. */
static int run(int mode, uint64_t max, const uint8_t *data, size_t len, size_t step, struct out *o,
	       uint8_t digest[32], alb_zstream **keep)
{
	alb_zstream *z = NULL;
	int r = alb_zstream_new(mode, max, digest != NULL, out_sink, o, &z);
	ck_assert_int_eq(r, 0);
	for (size_t i = 0; r == 0 && i < len; i += step)
		r = alb_zstream_write(z, data + i, len - i < step ? len - i : step);
	if (r == 0)
		r = alb_zstream_finish(z);
	if (r == 0 && digest)
		ck_assert_int_eq(alb_zstream_digest(z, digest), 0);
	if (keep)
		*keep = z;
	else
		alb_zstream_free(z);
	return r;
}

START_TEST(test_round_trip_and_digest)
{
	static const size_t sizes[] = {0, 1, 100, ALB_ZSTREAM_BUF, 3 * ALB_ZSTREAM_BUF + 17};
	static const size_t steps[] = {1, 7, 4096, 1 << 20};

	for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
		size_t n = sizes[i];
		_cleanup_free_ uint8_t *data = make_data(n);
		uint8_t want[32], d1[32], d2[32];
		ck_assert_int_eq(gnutls_hash_fast(GNUTLS_DIG_SHA256, data, n, want), 0);
		for (size_t k = 0; k < ELEMENTSOF(steps); k++) {
			if (steps[k] == 1 && n > 100)
				continue;
			struct out z = {0}, back = {0};
			alb_zstream *s = NULL;
			ck_assert_int_eq(
			    run(ALB_ZSTREAM_DEFLATE, UINT64_MAX, data, n, steps[k], &z, d1, &s), 0);
			ck_assert_uint_eq(alb_zstream_plain_bytes(s), n);
			ck_assert_uint_eq(alb_zstream_out_bytes(s), z.len);
			alb_zstream_free(s);
			ck_assert_int_eq(memcmp(d1, want, 32), 0);
			/* zlib inflates what the engine deflated... */
			uLongf got = n + 1;
			_cleanup_free_ uint8_t *check = malloc(got);
			ck_assert_int_eq(uncompress(check, &got, z.data, z.len), Z_OK);
			ck_assert_uint_eq(got, n);
			ck_assert_int_eq(memcmp(check, data, n), 0);
			/* ...and the engine inflates it back, with the same digest. */
			ck_assert_int_eq(
			    run(ALB_ZSTREAM_INFLATE, n, z.data, z.len, steps[k], &back, d2, &s), 0);
			ck_assert_uint_eq(alb_zstream_plain_bytes(s), n);
			ck_assert_uint_eq(alb_zstream_out_bytes(s), n);
			alb_zstream_free(s);
			ck_assert_uint_eq(back.len, n);
			ck_assert(n == 0 || memcmp(back.data, data, n) == 0);
			ck_assert_int_eq(memcmp(d2, want, 32), 0);
			free(z.data);
			free(back.data);
		}
		/* Copying: the data as it is, the same digest. */
		struct out c = {0};
		ck_assert_int_eq(run(ALB_ZSTREAM_COPY, n, data, n, 4096, &c, d1, NULL), 0);
		ck_assert_uint_eq(c.len, n);
		ck_assert(n == 0 || memcmp(c.data, data, n) == 0);
		ck_assert_int_eq(memcmp(d1, want, 32), 0);
		free(c.data);
	}
}
END_TEST

START_TEST(test_zlib_deflate_buffer)
{
	size_t n = 200000, zlen;
	_cleanup_free_ uint8_t *data = make_data(n), *z = NULL;
	struct out back = {0};

	ck_assert_int_eq(alb_zlib_deflate(data, n, &z, &zlen), 0);
	ck_assert_uint_lt(zlen, n);
	ck_assert_int_eq(run(ALB_ZSTREAM_INFLATE, n, z, zlen, 5000, &back, NULL, NULL), 0);
	ck_assert_uint_eq(back.len, n);
	ck_assert_int_eq(memcmp(back.data, data, n), 0);
	free(back.data);
}
END_TEST

START_TEST(test_bound)
{
	size_t n = 5 * ALB_ZSTREAM_BUF, zlen;
	_cleanup_free_ uint8_t *zeros = calloc(1, n), *z = NULL;
	struct out o = {0};
	alb_zstream *s = NULL;

	ck_assert_int_eq(alb_zlib_deflate(zeros, n, &z, &zlen), 0);
	/* One byte over the bound: refused, and no more than the bound was given out. */
	ck_assert_int_eq(run(ALB_ZSTREAM_INFLATE, n - 1, z, zlen, zlen, &o, NULL, &s), -EFBIG);
	ck_assert_int_eq(alb_zstream_fault(s), ALB_ZSTREAM_FAULT_TOO_BIG);
	ck_assert_uint_le(o.len, n - 1);
	/* A failed stream stays failed. */
	ck_assert_int_eq(alb_zstream_write(s, z, 1), -EFBIG);
	ck_assert_int_eq(alb_zstream_finish(s), -EFBIG);
	alb_zstream_free(s);
	free(o.data);
	o = (struct out){0};
	ck_assert_int_eq(run(ALB_ZSTREAM_INFLATE, n, z, zlen, zlen, &o, NULL, NULL), 0);
	ck_assert_uint_eq(o.len, n);
	free(o.data);
	/* Copying and deflating bound the uncompressed bytes too. */
	o = (struct out){0};
	ck_assert_int_eq(run(ALB_ZSTREAM_COPY, 10, zeros, 11, 11, &o, NULL, &s), -EFBIG);
	ck_assert_int_eq(alb_zstream_fault(s), ALB_ZSTREAM_FAULT_TOO_BIG);
	ck_assert_uint_eq(o.len, 0);
	alb_zstream_free(s);
	ck_assert_int_eq(run(ALB_ZSTREAM_COPY, 11, zeros, 11, 11, &o, NULL, NULL), 0);
	free(o.data);
	o = (struct out){0};
	ck_assert_int_eq(run(ALB_ZSTREAM_DEFLATE, 10, zeros, 11, 4, &o, NULL, NULL), -EFBIG);
	free(o.data);
}
END_TEST

START_TEST(test_corrupt_truncated_trailing)
{
	size_t n = 100000, zlen;
	_cleanup_free_ uint8_t *data = make_data(n), *z = NULL;
	struct out o = {0};
	alb_zstream *s = NULL;

	ck_assert_int_eq(alb_zlib_deflate(data, n, &z, &zlen), 0);

	/* Not zlib at all. */
	ck_assert_int_eq(run(ALB_ZSTREAM_INFLATE, UINT64_MAX, data, 100, 100, &o, NULL, &s),
			 -EBADMSG);
	ck_assert_int_eq(alb_zstream_fault(s), ALB_ZSTREAM_FAULT_CORRUPT);
	ck_assert_ptr_nonnull(alb_zstream_zlib_message(s));
	alb_zstream_free(s);

	/* A flipped byte in the middle (the checksum at the end catches what inflate does not). */
	_cleanup_free_ uint8_t *bad = malloc(zlen);
	memcpy(bad, z, zlen);
	bad[zlen / 2] ^= 0x55;
	ck_assert_int_eq(run(ALB_ZSTREAM_INFLATE, UINT64_MAX, bad, zlen, 1000, &o, NULL, &s),
			 -EBADMSG);
	ck_assert_int_eq(alb_zstream_fault(s), ALB_ZSTREAM_FAULT_CORRUPT);
	alb_zstream_free(s);

	/* Cut short: every write succeeds, the end says so. */
	for (size_t cut = 0; cut < zlen; cut += zlen / 7 + 1) {
		ck_assert_int_eq(run(ALB_ZSTREAM_INFLATE, UINT64_MAX, z, cut, 4096, &o, NULL, &s),
				 -EBADMSG);
		ck_assert_int_eq(alb_zstream_fault(s), ALB_ZSTREAM_FAULT_TRUNCATED);
		ck_assert_ptr_null(alb_zstream_zlib_message(s));
		alb_zstream_free(s);
	}
	ck_assert_int_eq(run(ALB_ZSTREAM_INFLATE, UINT64_MAX, z, zlen - 1, zlen, &o, NULL, &s),
			 -EBADMSG);
	ck_assert_int_eq(alb_zstream_fault(s), ALB_ZSTREAM_FAULT_TRUNCATED);
	alb_zstream_free(s);

	/* Data after the end: in the same write, and in a later one. */
	_cleanup_free_ uint8_t *more = malloc(zlen + 1);
	memcpy(more, z, zlen);
	more[zlen] = 0;
	ck_assert_int_eq(
	    run(ALB_ZSTREAM_INFLATE, UINT64_MAX, more, zlen + 1, zlen + 1, &o, NULL, &s), -EBADMSG);
	ck_assert_int_eq(alb_zstream_fault(s), ALB_ZSTREAM_FAULT_TRAILING);
	alb_zstream_free(s);
	ck_assert_int_eq(run(ALB_ZSTREAM_INFLATE, UINT64_MAX, more, zlen + 1, zlen, &o, NULL, &s),
			 -EBADMSG);
	ck_assert_int_eq(alb_zstream_fault(s), ALB_ZSTREAM_FAULT_TRAILING);
	alb_zstream_free(s);
	free(o.data);
}
END_TEST

START_TEST(test_sink_error_and_args)
{
	size_t n = 3 * ALB_ZSTREAM_BUF;
	_cleanup_free_ uint8_t *data = make_data(n);
	struct out o = {.limit = ALB_ZSTREAM_BUF};
	alb_zstream *s = NULL;
	uint8_t d[32];

	/* The sink's error comes back as it is, with no fault. */
	ck_assert_int_eq(run(ALB_ZSTREAM_COPY, UINT64_MAX, data, n, n, &o, NULL, &s), -ENOSPC);
	ck_assert_int_eq(alb_zstream_fault(s), ALB_ZSTREAM_FAULT_NONE);
	ck_assert_int_eq(alb_zstream_write(s, data, 1), -ENOSPC);
	ck_assert_int_eq(alb_zstream_digest(s, d), -EINVAL); /* not finished */
	alb_zstream_free(s);
	free(o.data);

	ck_assert_int_eq(alb_zstream_new(7, 0, false, out_sink, NULL, &s), -EINVAL);
	ck_assert_int_eq(alb_zstream_new(ALB_ZSTREAM_COPY, 0, false, NULL, NULL, &s), -EINVAL);
	ck_assert_int_eq(alb_zstream_new(ALB_ZSTREAM_COPY, 0, false, out_sink, &o, &s), 0);
	ck_assert_int_eq(alb_zstream_finish(s), 0);
	ck_assert_int_eq(alb_zstream_finish(s), -EINVAL);
	ck_assert_int_eq(alb_zstream_digest(s, d), -EINVAL); /* not hashing */
	alb_zstream_free(s);
	ck_assert_ptr_null(alb_zstream_free(NULL));
}
END_TEST

START_TEST(test_pump_fd)
{
	size_t n = 2 * ALB_ZSTREAM_BUF + 3;
	_cleanup_free_ uint8_t *data = make_data(n);
	_cleanup_close_ int in = memfd_create("in", MFD_CLOEXEC),
			    out = memfd_create("out", MFD_CLOEXEC);
	alb_zstream *s = NULL;
	uint8_t want[32], got[32];

	ck_assert_int_ge(in, 0);
	ck_assert_int_ge(out, 0);
	ck_assert_int_eq(alb_write_full(in, data, n), 0);
	ck_assert_int_eq(lseek(in, 0, SEEK_SET), 0);
	ck_assert_int_eq(
	    alb_zstream_new(ALB_ZSTREAM_DEFLATE, UINT64_MAX, true, alb_zstream_sink_fd, &out, &s),
	    0);
	ck_assert_int_eq(alb_zstream_pump_fd(s, in), 0);
	ck_assert_int_eq(alb_zstream_digest(s, got), 0);
	ck_assert_int_eq(gnutls_hash_fast(GNUTLS_DIG_SHA256, data, n, want), 0);
	ck_assert_int_eq(memcmp(got, want, 32), 0);
	uint64_t zlen = alb_zstream_out_bytes(s);
	alb_zstream_free(s);
	ck_assert_int_eq(lseek(out, 0, SEEK_CUR), (off_t)zlen);

	/* Back through an fd sink. */
	_cleanup_close_ int back = memfd_create("back", MFD_CLOEXEC);
	ck_assert_int_eq(lseek(out, 0, SEEK_SET), 0);
	ck_assert_int_eq(
	    alb_zstream_new(ALB_ZSTREAM_INFLATE, n, true, alb_zstream_sink_fd, &back, &s), 0);
	ck_assert_int_eq(alb_zstream_pump_fd(s, out), 0);
	ck_assert_int_eq(alb_zstream_digest(s, got), 0);
	ck_assert_int_eq(memcmp(got, want, 32), 0);
	alb_zstream_free(s);
	ck_assert_int_eq(lseek(back, 0, SEEK_CUR), (off_t)n);

	/* A read error comes back as it is. */
	ck_assert_int_eq(
	    alb_zstream_new(ALB_ZSTREAM_COPY, UINT64_MAX, false, alb_zstream_sink_fd, &back, &s),
	    0);
	ck_assert_int_eq(alb_zstream_pump_fd(s, -1), -EBADF);
	alb_zstream_free(s);
}
END_TEST

static Suite *zstream_suite(void)
{
	Suite *s = suite_create("zstream");
	TCase *tc = tcase_create("zstream");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_round_trip_and_digest);
	tcase_add_test(tc, test_zlib_deflate_buffer);
	tcase_add_test(tc, test_bound);
	tcase_add_test(tc, test_corrupt_truncated_trailing);
	tcase_add_test(tc, test_sink_error_and_args);
	tcase_add_test(tc, test_pump_fd);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(zstream_suite());
}
