/* SPDX-License-Identifier: ISC */
/*
 * The frame codec (libalbatross/frame-private.h): the 4-byte big-endian
 * header both ways, its bounds (zero, the largest, over the bound), partial
 * headers, whole frames in one buffer, and the readers built on it.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test-common.h"

#include "frame-private.h"
#include "wire-private.h"

START_TEST(test_header_encode_decode)
{
	static const struct {
		uint32_t len;
		uint8_t bytes[4];
	} cases[] = {
	    {0, {0, 0, 0, 0}},
	    {1, {0, 0, 0, 1}},
	    {0x0102, {0, 0, 1, 2}},
	    {0x01020304, {1, 2, 3, 4}},
	    {0x80000000u, {0x80, 0, 0, 0}}, /* no sign anywhere */
	    {0xfffffffeu, {0xff, 0xff, 0xff, 0xfe}},
	    {UINT32_MAX, {0xff, 0xff, 0xff, 0xff}},
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		uint8_t h[ALB_FRAME_HEADER_SIZE + 2] = {0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa};
		alb_frame_header_put(h, cases[i].len);
		ck_assert_mem_eq(h, cases[i].bytes, 4);
		/* Nothing written beyond the header. */
		ck_assert_uint_eq(h[4], 0xaa);
		ck_assert_uint_eq(h[5], 0xaa);
		ck_assert_uint_eq(alb_frame_header_get(cases[i].bytes), cases[i].len);
	}
	/* Round trips at every byte position. */
	for (unsigned shift = 0; shift < 32; shift += 7) {
		uint8_t h[ALB_FRAME_HEADER_SIZE];
		uint32_t v = (uint32_t)0x5a5a5a5a >> shift;
		alb_frame_header_put(h, v);
		ck_assert_uint_eq(alb_frame_header_get(h), v);
	}
}
END_TEST

START_TEST(test_bounds)
{
	uint8_t h[ALB_FRAME_HEADER_SIZE];
	uint32_t len = 12345;

	/* Zero: an end-of-stream frame, always within the bound. */
	ck_assert_int_eq(alb_frame_check_len(test_ctx, 0, 1), 0);
	alb_frame_header_put(h, 0);
	ck_assert_int_eq(alb_frame_header_parse(test_ctx, h, sizeof(h), 1, &len), 1);
	ck_assert_uint_eq(len, 0);

	/* Exactly the bound, and one over. */
	ck_assert_int_eq(alb_frame_check_len(test_ctx, 1000, 1000), 0);
	ck_assert_alb_err(test_ctx, alb_frame_check_len(test_ctx, 1001, 1000), EBADMSG);
	ck_assert_last_error_has(test_ctx, "frame of 1001 bytes exceeds the bound 1000");
	alb_frame_header_put(h, 1000);
	ck_assert_int_eq(alb_frame_header_parse(test_ctx, h, sizeof(h), 1000, &len), 1);
	ck_assert_uint_eq(len, 1000);
	alb_frame_header_put(h, 1001);
	len = 7;
	ck_assert_alb_err(test_ctx, alb_frame_header_parse(test_ctx, h, sizeof(h), 1000, &len),
			  EBADMSG);
	ck_assert_uint_eq(len, 7); /* untouched */

	/* 0: the default bound. */
	ck_assert_int_eq(alb_frame_check_len(test_ctx, ALB_FRAME_MAX_DEFAULT, 0), 0);
	ck_assert_alb_err(test_ctx, alb_frame_check_len(test_ctx, ALB_FRAME_MAX_DEFAULT + 1, 0),
			  EBADMSG);

	/* The largest header there is, against the largest bound there is. */
	alb_frame_header_put(h, UINT32_MAX);
	ck_assert_int_eq(alb_frame_header_parse(test_ctx, h, sizeof(h), UINT32_MAX, &len), 1);
	ck_assert_uint_eq(len, UINT32_MAX);
	ck_assert_alb_err(test_ctx, alb_frame_header_parse(test_ctx, h, sizeof(h), 0, &len),
			  EBADMSG);
}
END_TEST

START_TEST(test_partial_header)
{
	uint8_t h[ALB_FRAME_HEADER_SIZE];
	uint32_t len = 99;

	/* Over the bound, but not yet known to be: 0 until the fourth byte. */
	alb_frame_header_put(h, UINT32_MAX);
	for (size_t avail = 0; avail < ALB_FRAME_HEADER_SIZE; avail++)
		ck_assert_int_eq(alb_frame_header_parse(test_ctx, h, avail, 10, &len), 0);
	ck_assert_uint_eq(len, 99);
	ck_assert_alb_err(test_ctx, alb_frame_header_parse(test_ctx, h, 4, 10, &len), EBADMSG);
	/* More than a header: only the header counts. */
	uint8_t frame[6] = {0, 0, 0, 2, 'h', 'i'};
	ck_assert_int_eq(alb_frame_header_parse(test_ctx, frame, sizeof(frame), 10, &len), 1);
	ck_assert_uint_eq(len, 2);
}
END_TEST

START_TEST(test_build)
{
	uint8_t *f = NULL;
	size_t size = 0;

	ck_assert_int_eq(alb_frame_build(test_ctx, (const uint8_t *)"abc", 3, &f, &size), 0);
	ck_assert_uint_eq(size, 7);
	ck_assert_mem_eq(f, "\0\0\0\3abc", 7);
	free(f);
	/* An end-of-stream frame: a header of zero and nothing else. */
	ck_assert_int_eq(alb_frame_build(test_ctx, NULL, 0, &f, &size), 0);
	ck_assert_uint_eq(size, 4);
	ck_assert_mem_eq(f, "\0\0\0\0", 4);
	free(f);
	f = NULL;
	ck_assert_int_eq(alb_frame_build(test_ctx, NULL, 1, &f, &size), -EINVAL);
	/* Longer than a header can say (checked before anything is read or allocated). */
	ck_assert_alb_err(
	    test_ctx, alb_frame_build(test_ctx, (const uint8_t *)"", UINT64_C(1) << 32, &f, &size),
	    EMSGSIZE);
	ck_assert_ptr_null(f);
}
END_TEST

/* alb_frame_write() and alb_frame_read() on a socket, with the bound on the way in. */
START_TEST(test_blocking_read_write)
{
	int sv[2];
	uint8_t *buf = NULL;
	uint64_t len = 0;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_alb_ok(test_ctx, alb_frame_write(test_ctx, sv[0], (const uint8_t *)"hello", 5));
	ck_assert_alb_ok(test_ctx, alb_frame_write(test_ctx, sv[0], NULL, 0));
	ck_assert_alb_ok(test_ctx, alb_frame_write(test_ctx, sv[0], (const uint8_t *)"toolong", 7));
	ck_assert_alb_ok(test_ctx, alb_frame_read(test_ctx, sv[1], 5, &buf, &len));
	ck_assert_uint_eq(len, 5);
	ck_assert_mem_eq(buf, "hello", 5);
	free(buf);
	ck_assert_alb_ok(test_ctx, alb_frame_read(test_ctx, sv[1], 5, &buf, &len));
	ck_assert_uint_eq(len, 0);
	ck_assert_ptr_null(buf);
	ck_assert_alb_err(test_ctx, alb_frame_read(test_ctx, sv[1], 5, &buf, &len), EBADMSG);
	ck_assert_last_error_has(test_ctx, "frame of 7 bytes exceeds the bound 5");
	close(sv[0]);
	close(sv[1]);

	/* A header cut short, then a payload cut short, then nothing: three errors. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(write(sv[0], "\0\0", 2), 2);
	close(sv[0]);
	ck_assert_alb_err(test_ctx, alb_frame_read(test_ctx, sv[1], 0, &buf, &len), EBADMSG);
	ck_assert_last_error_has(test_ctx, "frame header cut short after 2 bytes");
	close(sv[1]);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(write(sv[0], "\0\0\0\5abc", 7), 7);
	close(sv[0]);
	ck_assert_alb_err(test_ctx, alb_frame_read(test_ctx, sv[1], 0, &buf, &len), EBADMSG);
	ck_assert_last_error_has(test_ctx, "cut short after 3 of 5 bytes");
	close(sv[1]);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	close(sv[0]);
	ck_assert_alb_err(test_ctx, alb_frame_read(test_ctx, sv[1], 0, &buf, &len), EPIPE);
	close(sv[1]);
}
END_TEST

/* The incremental reader, fed a byte at a time: a header over the bound is refused as
 * soon as its fourth byte arrives, before any payload. */
START_TEST(test_reader_partial)
{
	_cleanup_(alb_frame_reader_freep) alb_frame_reader *r = NULL;
	uint8_t *buf = NULL;
	uint64_t len;

	ck_assert_int_eq(alb_frame_reader_new(8, &r), 0);
	/* Nothing yet: no frame, and no byte of one. */
	ck_assert_int_eq(alb_frame_reader_next(test_ctx, r, &buf, &len), 0);
	ck_assert(alb_frame_reader_is_empty(r));
	static const uint8_t two[] = {0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 0};
	for (size_t i = 0; i < sizeof(two); i++) {
		ck_assert_int_eq(alb_frame_reader_feed(test_ctx, r, two + i, 1), 0);
		int got = alb_frame_reader_next(test_ctx, r, &buf, &len);
		if (i == 6) {
			ck_assert_int_eq(got, 1);
			ck_assert_uint_eq(len, 3);
			ck_assert_mem_eq(buf, "abc", 3);
			free(buf);
			ck_assert(alb_frame_reader_is_empty(r));
		} else if (i == sizeof(two) - 1) {
			ck_assert_int_eq(got, 1); /* the end frame */
			ck_assert_ptr_null(buf);
			ck_assert_uint_eq(len, 0);
		} else {
			ck_assert_int_eq(got, 0);
			ck_assert(!alb_frame_reader_is_empty(r));
		}
	}
	/* The bound (8) exactly, then one over: refused at the header. */
	static const uint8_t eight[] = {0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
	ck_assert_int_eq(alb_frame_reader_feed(test_ctx, r, eight, sizeof(eight)), 0);
	ck_assert_int_eq(alb_frame_reader_next(test_ctx, r, &buf, &len), 1);
	ck_assert_uint_eq(len, 8);
	free(buf);
	ck_assert_int_eq(alb_frame_reader_feed(test_ctx, r, "\0\0", 2), 0);
	ck_assert_int_eq(alb_frame_reader_feed(test_ctx, r, "\0", 1), 0);
	ck_assert_alb_err(test_ctx, alb_frame_reader_feed(test_ctx, r, "\x09", 1), EBADMSG);
	ck_assert_alb_err(test_ctx, alb_frame_reader_next(test_ctx, r, &buf, &len), EBADMSG);
	ck_assert_last_error_has(test_ctx, "frame of 9 bytes exceeds the bound 8");
}
END_TEST

/* Long frames (read into their own buffer) among short ones, read from a file in reads
 * of any size, or fed in pieces; cut short in the middle of a long one. */
START_TEST(test_reader_long_frames)
{
	static const size_t lens[] = {3, 200000, 0, 131072, 131071, 5, 1 << 20};
	size_t total = 0;
	for (size_t i = 0; i < ELEMENTSOF(lens); i++)
		total += ALB_FRAME_HEADER_SIZE + lens[i];
	uint8_t *all = malloc(total);
	ck_assert_ptr_nonnull(all);
	size_t off = 0;
	for (size_t i = 0; i < ELEMENTSOF(lens); i++) {
		alb_frame_header_put(all + off, (uint32_t)lens[i]);
		off += ALB_FRAME_HEADER_SIZE;
		for (size_t k = 0; k < lens[i]; k++)
			all[off + k] = (uint8_t)(i * 31 + k * 7 + k / 1009);
		off += lens[i];
	}
	for (int mode = 0; mode < 3; mode++) {
		_cleanup_(alb_frame_reader_freep) alb_frame_reader *r = NULL;
		ck_assert_int_eq(alb_frame_reader_new(2u << 20, &r), 0);
		int fd = memfd_create("frames", MFD_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		/* mode 2: the stream stops 1000 bytes into the last (long) frame */
		size_t avail = mode == 2 ? total - (1u << 20) + 1000 : total;
		ck_assert_int_eq(write(fd, all, avail), (ssize_t)avail);
		ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
		size_t got = 0, fed = 0, step = 1;
		bool eof = false;
		for (;;) {
			uint8_t *buf = NULL;
			uint64_t len;
			int n = alb_frame_reader_next(test_ctx, r, &buf, &len);
			ck_assert_int_ge(n, 0);
			if (n == 1) {
				ck_assert_uint_lt(got, ELEMENTSOF(lens));
				ck_assert_uint_eq(len, lens[got]);
				size_t at = 0;
				for (size_t i = 0; i < got; i++)
					at += ALB_FRAME_HEADER_SIZE + lens[i];
				if (len)
					ck_assert_mem_eq(buf, all + at + ALB_FRAME_HEADER_SIZE,
							 len);
				else
					ck_assert_ptr_null(buf);
				free(buf);
				got++;
				continue;
			}
			if (eof)
				break;
			if (mode == 1) { /* fed in pieces of growing sizes */
				size_t k = avail - fed < step ? avail - fed : step;
				if (k == 0) {
					eof = true;
					continue;
				}
				ck_assert_int_eq(alb_frame_reader_feed(test_ctx, r, all + fed, k),
						 0);
				fed += k;
				step = step * 5 + 3;
			} else {
				ssize_t m = alb_frame_reader_read(test_ctx, r, fd);
				ck_assert_int_ge(m, 0);
				eof = m == 0;
			}
		}
		close(fd);
		if (mode == 2) {
			ck_assert_uint_eq(got, ELEMENTSOF(lens) - 1);
			ck_assert(!alb_frame_reader_is_empty(r)); /* cut short */
		} else {
			ck_assert_uint_eq(got, ELEMENTSOF(lens));
			ck_assert(alb_frame_reader_is_empty(r));
		}
	}
	free(all);
}
END_TEST

static Suite *frame_suite(void)
{
	Suite *s = suite_create("frame");
	TCase *tc = tcase_create("codec");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_header_encode_decode);
	tcase_add_test(tc, test_bounds);
	tcase_add_test(tc, test_partial_header);
	tcase_add_test(tc, test_build);
	tcase_add_test(tc, test_blocking_read_write);
	tcase_add_test(tc, test_reader_partial);
	tcase_add_test(tc, test_reader_long_frames);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(frame_suite());
}
