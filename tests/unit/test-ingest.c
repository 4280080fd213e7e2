/* SPDX-License-Identifier: ISC */
/* Uploads written by a thread of their own, reported on the loop (ingest-private.h). */
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest-private.h"
#include "test-common.h"
#include "zstream-private.h"

static alb_loop *loop;

static void setup(void)
{
	tc_ctx_setup();
	ck_assert_alb_ok(test_ctx, alb_loop_new(test_ctx, &loop));
}

static void teardown(void)
{
	loop = alb_loop_unref(loop);
	tc_ctx_teardown();
}

/* What the callbacks saw. */
struct seen {
	int done; /* calls of on_done */
	int r;
	int drained;
	bool free_in_done; /* on_done frees the ingest */
	alb_ingest **ingest;
};

static void on_done(alb_ingest *ingest, int r, void *userdata)
{
	struct seen *s = userdata;
	s->done++;
	s->r = r;
	if (s->free_in_done)
		*s->ingest = alb_ingest_free(ingest);
}

static void on_drained(alb_ingest *ingest, void *userdata)
{
	struct seen *s = userdata;
	s->drained++;
}

/* Runs the loop until *flag, for at most a generous 60 s (it takes milliseconds). */
static void run_until(const int *flag)
{
	uint64_t end = alb_now_monotonic() + UINT64_C(60) * 1000000;
	while (!*flag && alb_now_monotonic() < end)
		ck_assert_int_ge(alb_loop_run_once(loop, 100), 0);
	ck_assert_msg(*flag, "the loop was not told in 60 s");
}

static int check_magic(alb_ctx *ctx, const uint8_t *head, size_t len)
{
	if (len < 4 || memcmp(head, "GOOD", 4) != 0)
		return alb_error(ctx, EBADMSG, "a bad head of %zu bytes", len);
	return 0;
}

/* A head check that waits until the test writes a byte to gate[1]: the thread stands
 * still meanwhile. */
static int gate[2];

static int wait_at_gate(alb_ctx *ctx, const uint8_t *head, size_t len)
{
	char c;
	return read(gate[0], &c, 1) == 1 ? 0 : alb_error(ctx, EIO, "the gate broke");
}

static alb_ingest *start(int fd, bool compressed, uint64_t max, bool head, struct seen *s)
{
	struct alb_ingest_options o = {
	    .fd = fd,
	    .what = "thing",
	    .compressed = compressed,
	    .max = max,
	    .hash = true,
	    .sync = true,
	    .head_len = head ? 4 : 0,
	    .head_check = head ? check_magic : NULL,
	    .on_done = on_done,
	    .on_drained = on_drained,
	    .userdata = s,
	};
	alb_ingest *g = NULL;
	ck_assert_alb_ok(test_ctx, alb_ingest_new(loop, &o, &g));
	return g;
}

static uint8_t *dup_buf(const void *p, size_t len)
{
	uint8_t *b = malloc(len);
	ck_assert_ptr_nonnull(b);
	memcpy(b, p, len);
	return b;
}

static size_t file_size(int fd)
{
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	return (size_t)st.st_size;
}

START_TEST(test_copy_and_inflate)
{
	size_t n = 3 * ALB_ZSTREAM_BUF + 17;
	uint8_t *data = malloc(n), want[32], got[32];
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 7 + i / 251);
	memcpy(data, "GOOD", 4);
	ck_assert_int_eq(gnutls_hash_fast(GNUTLS_DIG_SHA256, data, n, want), 0);
	uint8_t *z;
	size_t zlen;
	ck_assert_int_eq(alb_zlib_deflate(data, n, &z, &zlen), 0);
	for (int compressed = 0; compressed <= 1; compressed++) {
		int fd = memfd_create("out", MFD_CLOEXEC);
		int check = dup(fd); /* the ingest closes its own */
		struct seen s = {0};
		alb_ingest *g = start(fd, compressed, n, true, &s);
		const uint8_t *in = compressed ? z : data;
		size_t len = compressed ? zlen : n;
		/* In uneven pieces: a zlib stream and a head split anywhere. */
		for (size_t off = 0, step = 1; off < len; off += step, step = step * 3 + 1) {
			size_t k = len - off < step ? len - off : step;
			ck_assert_int_eq(alb_ingest_push(g, dup_buf(in + off, k), k), 0);
		}
		alb_ingest_end(g);
		ck_assert_alb_err(test_ctx, alb_ingest_push(g, dup_buf("x", 1), 1), EINVAL);
		run_until(&s.done);
		ck_assert_int_eq(s.r, 0);
		ck_assert_str_eq(alb_ingest_error(g), "");
		ck_assert_uint_eq(alb_ingest_written(g), n);
		ck_assert_int_eq(alb_ingest_digest(g, got), 0);
		ck_assert_mem_eq(got, want, 32);
		ck_assert_uint_eq(file_size(check), n);
		uint8_t *back = malloc(n);
		ck_assert_int_eq(pread(check, back, n, 0), (ssize_t)n);
		ck_assert_mem_eq(back, data, n);
		free(back);
		alb_ingest_free(g);
		/* Its fd is closed: the file is still open through the copy only. */
		ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
		close(check);
		ck_assert_int_eq(s.done, 1);
	}
	free(z);
	free(data);
}
END_TEST

/* A zlib stream of mib MiB of zeros after head. */
static uint8_t *bomb(const char *head, size_t mib, size_t *ret_len)
{
	size_t n = strlen(head) + (mib << 20);
	uint8_t *plain = calloc(1, n), *z;
	memcpy(plain, head, strlen(head));
	ck_assert_int_eq(alb_zlib_deflate(plain, n, &z, ret_len), 0);
	free(plain);
	return z;
}

START_TEST(test_bound_stops_a_bomb_before_its_end)
{
	size_t zlen;
	uint8_t *z = bomb("GOOD", 64, &zlen);
	ck_assert_uint_lt(zlen, UINT64_C(1) << 20);
	int fd = memfd_create("out", MFD_CLOEXEC), check = dup(fd);
	struct seen s = {0};
	alb_ingest *g = start(fd, true, UINT64_C(1) << 20, true, &s);
	/* The whole stream, but no end: the bound is found as it goes. */
	ck_assert_int_eq(alb_ingest_push(g, z, zlen), 0);
	run_until(&s.done);
	ck_assert_int_eq(s.r, -EFBIG);
	ck_assert_int_eq(alb_ingest_fault(g), ALB_ZSTREAM_FAULT_TOO_BIG);
	ck_assert_str_eq(alb_ingest_error(g),
			 "the thing is larger than 1048576 bytes uncompressed");
	ck_assert_uint_le(alb_ingest_written(g), UINT64_C(1) << 20);
	ck_assert_uint_le(file_size(check), (size_t)1 << 20);
	uint8_t d[32];
	ck_assert_int_eq(alb_ingest_digest(g, d), -EINVAL);
	alb_ingest_free(g);
	close(check);
}
END_TEST

START_TEST(test_head_refused_on_the_first_bytes)
{
	size_t zlen;
	uint8_t *z = bomb("EVIL", 64, &zlen);
	int fd = memfd_create("out", MFD_CLOEXEC), check = dup(fd);
	struct seen s = {.free_in_done = true};
	alb_ingest *g = start(fd, true, UINT64_MAX, true, &s);
	s.ingest = &g;
	ck_assert_int_eq(alb_ingest_push(g, z, zlen), 0);
	run_until(&s.done);
	ck_assert_int_eq(s.r, -EBADMSG);
	ck_assert_ptr_null(g); /* freed in on_done */
	/* Refused before any of it was written. */
	ck_assert_uint_eq(file_size(check), 0);
	close(check);

	/* A head in pieces: held back until it is complete, refused, never written. */
	fd = memfd_create("out", MFD_CLOEXEC);
	check = dup(fd);
	struct seen v = {0};
	g = start(fd, false, UINT64_MAX, true, &v);
	for (const char *c = "EVIL and the rest"; *c; c++)
		ck_assert_int_eq(alb_ingest_push(g, dup_buf(c, 1), 1), 0);
	run_until(&v.done);
	ck_assert_int_eq(v.r, -EBADMSG);
	ck_assert_str_eq(alb_ingest_error(g), "a bad head of 4 bytes");
	ck_assert_uint_eq(file_size(check), 0);
	alb_ingest_free(g);
	close(check);

	/* Shorter than the head: checked at the end, with what there is. */
	fd = memfd_create("out", MFD_CLOEXEC);
	struct seen t = {0};
	g = start(fd, false, UINT64_MAX, true, &t);
	ck_assert_int_eq(alb_ingest_push(g, dup_buf("GOO", 3), 3), 0);
	alb_ingest_end(g);
	run_until(&t.done);
	ck_assert_int_eq(t.r, -EBADMSG);
	ck_assert_str_eq(alb_ingest_error(g), "a bad head of 3 bytes");
	alb_ingest_free(g);

	/* Nothing at all. */
	fd = memfd_create("out", MFD_CLOEXEC);
	struct seen u = {0};
	g = start(fd, false, UINT64_MAX, true, &u);
	alb_ingest_end(g);
	run_until(&u.done);
	ck_assert_str_eq(alb_ingest_error(g), "a bad head of 0 bytes");
	alb_ingest_free(g);
}
END_TEST

START_TEST(test_bad_streams)
{
	const char data[] = "GOOD and more of it, GOOD and more of it";
	uint8_t *z;
	size_t zlen;
	ck_assert_int_eq(alb_zlib_deflate((const uint8_t *)data, sizeof(data), &z, &zlen), 0);
	struct {
		size_t len; /* of z to push */
		const char *extra;
		const char *why;
	} cases[] = {
	    {zlen - 3, NULL, "the compressed thing is cut short"},
	    {zlen, "x", "trailing data after the compressed thing"},
	    {0, NULL, "the compressed thing is corrupt: "},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct seen s = {0};
		alb_ingest *g =
		    start(memfd_create("out", MFD_CLOEXEC), true, UINT64_MAX, false, &s);
		if (cases[i].len)
			ck_assert_int_eq(alb_ingest_push(g, dup_buf(z, cases[i].len), cases[i].len),
					 0);
		else
			ck_assert_int_eq(alb_ingest_push(g, dup_buf("not zlib", 8), 8), 0);
		if (cases[i].extra)
			ck_assert_int_eq(alb_ingest_push(g, dup_buf(cases[i].extra, 1), 1), 0);
		alb_ingest_end(g);
		run_until(&s.done);
		ck_assert_int_eq(s.r, -EBADMSG);
		ck_assert_msg(strncmp(alb_ingest_error(g), cases[i].why, strlen(cases[i].why)) == 0,
			      "case %zu: %s", i, alb_ingest_error(g));
		alb_ingest_free(g);
	}
	free(z);

	/* A write that fails: its reason. */
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	close(p[0]);
	struct seen s = {0};
	alb_ingest *g = start(p[1], false, UINT64_MAX, false, &s);
	ck_assert_int_eq(alb_ingest_push(g, dup_buf("data", 4), 4), 0);
	run_until(&s.done);
	ck_assert_int_eq(s.r, -EPIPE);
	ck_assert_str_eq(alb_ingest_error(g), "Failed to write the thing: Broken pipe");
	alb_ingest_free(g);
}
END_TEST

START_TEST(test_queue_full_then_drained)
{
	int fd = memfd_create("out", MFD_CLOEXEC), check = dup(fd);
	ck_assert_int_eq(pipe2(gate, O_CLOEXEC), 0);
	struct seen s = {0};
	struct alb_ingest_options o = {
	    .fd = fd,
	    .max = UINT64_MAX,
	    .head_len = 1,
	    .head_check = wait_at_gate,
	    .on_done = on_done,
	    .on_drained = on_drained,
	    .userdata = &s,
	};
	alb_ingest *g = NULL;
	ck_assert_alb_ok(test_ctx, alb_ingest_new(loop, &o, &g));
	/* The thread stands at the gate with the first piece: the rest queues up. */
	size_t piece = 1 << 20, pushed = 0;
	int r;
	do {
		uint8_t *b = malloc(piece);
		memset(b, (int)(pushed >> 20), piece);
		r = alb_ingest_push(g, b, piece);
		ck_assert_int_ge(r, 0);
		pushed += piece;
	} while (r == 0);
	ck_assert_uint_ge(pushed, ALB_INGEST_QUEUE_MAX);
	ck_assert_uint_le(pushed, ALB_INGEST_QUEUE_MAX + piece);
	/* Still taken when full; the loop is told once the thread caught up. */
	ck_assert_int_eq(alb_ingest_push(g, dup_buf("end", 3), 3), 1);
	ck_assert_int_eq(alb_loop_run_once(loop, 0), 0);
	ck_assert_int_eq(s.drained, 0);
	ck_assert_int_eq(write(gate[1], "", 1), 1);
	run_until(&s.drained);
	ck_assert_int_eq(s.drained, 1);
	alb_ingest_end(g);
	run_until(&s.done);
	ck_assert_int_eq(s.r, 0);
	ck_assert_int_eq(s.drained, 1);
	ck_assert_uint_eq(file_size(check), pushed + 3);
	alb_ingest_free(g);
	close(check);
	close(gate[0]);
	close(gate[1]);
}
END_TEST

START_TEST(test_free_while_running)
{
	/* A bomb without bound: freeing stops the thread at its next step. */
	size_t zlen;
	uint8_t *z = bomb("GOOD", 64, &zlen);
	int fd = open(test_tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	struct seen s = {0};
	alb_ingest *g = start(fd, true, UINT64_MAX, true, &s);
	ck_assert_int_eq(alb_ingest_push(g, z, zlen), 0);
	ck_assert_int_eq(alb_ingest_push(g, dup_buf("more", 4), 4), 0);
	alb_ingest_free(g);
	ck_assert_int_eq(s.done, 0); /* never told */
	/* One that never got anything, and one freed after it ended. */
	g = start(memfd_create("out", MFD_CLOEXEC), false, UINT64_MAX, false, &s);
	alb_ingest_free(g);
	g = start(memfd_create("out", MFD_CLOEXEC), false, UINT64_MAX, false, &s);
	alb_ingest_end(g);
	run_until(&s.done);
	alb_ingest_free(g);
	alb_ingest_free(NULL);
}
END_TEST

START_TEST(test_arguments)
{
	alb_ingest *g = NULL;
	struct alb_ingest_options o = {.fd = -1, .on_done = on_done};
	ck_assert_int_eq(alb_ingest_new(loop, &o, &g), -EINVAL);
	ck_assert_int_eq(alb_ingest_new(loop, NULL, &g), -EINVAL);
	/* The fd is taken, also on failure. */
	o.fd = memfd_create("out", MFD_CLOEXEC);
	o.on_done = NULL;
	ck_assert_int_eq(alb_ingest_new(loop, &o, &g), -EINVAL);
	ck_assert_int_eq(fcntl(o.fd, F_GETFD), -1);
	o.fd = memfd_create("out", MFD_CLOEXEC);
	o.on_done = on_done;
	o.head_len = ALB_INGEST_HEAD_MAX + 1;
	o.head_check = check_magic;
	ck_assert_int_eq(alb_ingest_new(loop, &o, &g), -EINVAL);
	ck_assert_int_eq(fcntl(o.fd, F_GETFD), -1);
	ck_assert_ptr_null(g);
	ck_assert_int_eq(alb_ingest_push(NULL, dup_buf("x", 1), 1), -EINVAL);
	alb_ingest_end(NULL);
	ck_assert_str_eq(alb_ingest_error(NULL), "");
}
END_TEST

static Suite *ingest_suite(void)
{
	Suite *s = suite_create("ingest");
	TCase *tc = tcase_create("ingest");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_checked_fixture(tc, tc_tmpdir_setup, tc_tmpdir_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_copy_and_inflate);
	tcase_add_test(tc, test_bound_stops_a_bomb_before_its_end);
	tcase_add_test(tc, test_head_refused_on_the_first_bytes);
	tcase_add_test(tc, test_bad_streams);
	tcase_add_test(tc, test_queue_full_then_drained);
	tcase_add_test(tc, test_free_while_running);
	tcase_add_test(tc, test_arguments);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(ingest_suite());
}
