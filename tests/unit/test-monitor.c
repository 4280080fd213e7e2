/* SPDX-License-Identifier: ISC */
/*
 * albatrossd's side of the monitor (libalbatross/monitor.c): the frames a
 * monitor sends, read in any pieces, and the run file.
 */
#include "monitor-private.h"
#include "test-common.h"
#include "util-private.h"

struct got {
	int kinds[16];
	int n;
	char data[256];
	size_t len;
	struct alb_monitor_frame last;
};

static int on_frame(void *userdata, const struct alb_monitor_frame *f)
{
	struct got *g = userdata;
	if (f->kind == ALB_MONITOR_DATA) {
		ck_assert_uint_le(g->len + f->len, sizeof(g->data));
		memcpy(g->data + g->len, f->data, f->len);
		g->len += f->len;
		if (g->n == 0 || g->kinds[g->n - 1] != ALB_MONITOR_DATA)
			g->kinds[g->n++] = f->kind;
		return 0;
	}
	g->kinds[g->n++] = f->kind;
	g->last = *f;
	return f->kind == ALB_MONITOR_EXIT ? 1 : 0;
}

static size_t frame(uint8_t *p, char type, const void *payload, uint32_t len)
{
	p[0] = (uint8_t)type;
	p[1] = (uint8_t)(len >> 24);
	p[2] = (uint8_t)(len >> 16);
	p[3] = (uint8_t)(len >> 8);
	p[4] = (uint8_t)len;
	memcpy(p + 5, payload, len);
	return 5 + len;
}

START_TEST(test_frames_in_any_pieces)
{
	uint8_t stream[256];
	size_t n = 0;
	uint8_t hello[27] = {1, 0, 0, 0x30, 0x39, 0, 0, 0, 0, 0, 0, 0, 42};
	uint8_t lost[8] = {0, 0, 0, 0, 0, 0, 0x10, 0};
	uint8_t exit_status[13] = {0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 99, 1}; /* code 7 */
	n += frame(stream + n, 'H', hello, sizeof(hello));
	n += frame(stream + n, 'D', "hello ", 6);
	n += frame(stream + n, 'L', lost, sizeof(lost));
	n += frame(stream + n, 'D', "world\n", 6);
	n += frame(stream + n, 'X', exit_status, sizeof(exit_status));
	n += frame(stream + n, 'D', "after the exit", 14);
	/* Every way to cut it gives the same frames, and nothing after the exit. */
	for (size_t step = 1; step <= n; step++) {
		struct got g = {0};
		struct alb_monitor_reader r = {0};
		int v = 0;
		for (size_t off = 0; off < n && v == 0; off += step)
			v = alb_monitor_feed(test_ctx, &r, stream + off,
					     n - off < step ? n - off : step, on_frame, &g);
		ck_assert_int_eq(v, 1);
		ck_assert_int_eq(g.n, 5);
		ck_assert_int_eq(g.kinds[0], ALB_MONITOR_HELLO);
		ck_assert_int_eq(g.kinds[2], ALB_MONITOR_LOST);
		ck_assert_int_eq(g.kinds[4], ALB_MONITOR_EXIT);
		ck_assert_uint_eq(g.len, 12);
		ck_assert_mem_eq(g.data, "hello world\n", 12);
		ck_assert_int_eq(g.last.status, 7 << 8);
		ck_assert_uint_eq(g.last.exited_us, 99);
		ck_assert(g.last.host_stop);
	}
	struct got g = {0};
	struct alb_monitor_reader r = {0};
	ck_assert_int_eq(alb_monitor_feed(test_ctx, &r, stream, 32, on_frame, &g), 0);
	ck_assert_uint_eq(g.last.pid, 12345);
	ck_assert_uint_eq(g.last.started_us, 42);
	ck_assert(!g.last.exited);
}
END_TEST

START_TEST(test_bad_frames)
{
	uint8_t buf[64];
	uint8_t hello[27] = {2, 0, 0, 0, 1};
	struct {
		char type;
		uint32_t len;
		const char *why;
	} bad[] = {{'D', 0, "malformed frame"},
		   {'X', 4, "malformed frame"},
		   {'Z', 4, "malformed frame"},
		   {'H', 27, "protocol version 2"}};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct got g = {0};
		struct alb_monitor_reader r = {0};
		size_t n = frame(buf, bad[i].type, hello, bad[i].len);
		ck_assert_alb_err(test_ctx, alb_monitor_feed(test_ctx, &r, buf, n, on_frame, &g),
				  EPROTO);
		ck_assert_last_error_has(test_ctx, bad[i].why);
		ck_assert_int_eq(g.n, 0);
	}
	/* A data frame longer than the monitor sends. */
	struct alb_monitor_reader r = {0};
	uint8_t head[5] = {'D', 0, 1, 0, 1};
	ck_assert_alb_err(test_ctx, alb_monitor_feed(test_ctx, &r, head, 5, on_frame, NULL),
			  EPROTO);
}
END_TEST

START_TEST(test_run_file)
{
	char *taps[] = {"alb0", "alb12", NULL};
	uint64_t exits[] = {5, 6, 7};
	struct alb_run_file rf = {.run = 9,
				  .taps = taps,
				  .n_taps = 2,
				  .restarts = 3,
				  .backoff_us = 4000000,
				  .exits = exits,
				  .n_exits = 3,
				  .restart = true};
	snprintf(rf.name, sizeof(rf.name), "alice:web");
	memset(rf.config, 'f', 64);
	char *text = NULL;
	size_t len = 0;
	ck_assert_int_eq(alb_run_file_format(&rf, &text, &len), 0);
	ck_assert_str_eq(text,
			 "albatross-run 1\nname alice:web\nrun 9\nconfig "
			 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\ntaps "
			 "alb0 alb12\ntally 3 4000000 3 5 6 7\nrestart\n");
	struct alb_run_file back;
	ck_assert_int_eq(alb_run_file_parse(text, len, &back), 0);
	ck_assert_str_eq(back.name, "alice:web");
	ck_assert_uint_eq(back.run, 9);
	ck_assert_uint_eq(back.n_taps, 2);
	ck_assert_str_eq(back.taps[1], "alb12");
	ck_assert_uint_eq(back.n_exits, 3);
	ck_assert_uint_eq(back.exits[2], 7);
	ck_assert(back.restart && !back.destroy);
	alb_run_file_clear(&back);
	/* Cut short anywhere before its last required line ends: not a run file (it is
	 * written whole, by a rename, but a file torn by other means is refused). */
	for (size_t cut = 0; cut < len - strlen("restart\n"); cut++) {
		ck_assert_int_eq(alb_run_file_parse(text, cut, &back), -EBADMSG);
		ck_assert_ptr_null(back.taps);
		ck_assert_ptr_null(back.exits);
	}
	free(text);
	/* More exits than it says, a bad tap, both intents: refused. */
	rf.n_exits = 1002;
	ck_assert_int_eq(alb_run_file_format(&rf, &text, &len), -EINVAL);
#define F64 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
	const char *bad[] = {
	    ("albatross-run 1\nname a\nrun 1\nconfig " F64 "\ntaps\ntally 0 0 1 5 6\n"),
	    ("albatross-run 1\nname a\nrun 1\nconfig " F64 "\ntaps Alb/0\ntally 0 0 0\n"),
	    ("albatross-run 1\nname a\nrun 1\nconfig " F64
	     "\ntaps\ntally 0 0 0\ndestroy\nrestart\n"),
	    ("albatross-run 1\nname a\nrun 0\nconfig " F64 "\ntaps\ntally 0 0 0\n"),
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		ck_assert_int_eq(alb_run_file_parse(bad[i], strlen(bad[i]), &back), -EBADMSG);
}
END_TEST

/* A back-off under way and a failure for good travel in the run file to the next albatrossd. */
START_TEST(test_run_file_wait_and_failed)
{
	struct alb_run_file rf = {.run = 2,
				  .restarts = 1,
				  .backoff_us = 6000000,
				  .wait_us = 123,
				  .exit_kind = ALB_EXIT_CODE,
				  .exit_value = 3};
	snprintf(rf.name, sizeof(rf.name), "a");
	memset(rf.config, 'f', 64);
	char *text = NULL;
	size_t len = 0;
	ck_assert_int_eq(alb_run_file_format(&rf, &text, &len), 0);
	ck_assert_str_eq(text, "albatross-run 1\nname a\nrun 2\nconfig " F64
			       "\ntaps\ntally 1 6000000 0\nwait 123\nexit code 3\n");
	struct alb_run_file back;
	ck_assert_int_eq(alb_run_file_parse(text, len, &back), 0);
	ck_assert_uint_eq(back.wait_us, 123);
	ck_assert_ptr_null(back.failed);
	ck_assert_uint_eq(back.backoff_us, 6000000);
	ck_assert_int_eq(back.exit_kind, ALB_EXIT_CODE);
	ck_assert_uint_eq(back.exit_value, 3);
	alb_run_file_clear(&back);
	free(text);

	rf.wait_us = 0;
	rf.exit_kind = ALB_EXIT_SIGNAL;
	rf.exit_value = 9;
	rf.failed = (char *)"crash loop: it exited 5 times within 60 s";
	ck_assert_int_eq(alb_run_file_format(&rf, &text, &len), 0);
	ck_assert_int_eq(alb_run_file_parse(text, len, &back), 0);
	ck_assert_str_eq(back.failed, "crash loop: it exited 5 times within 60 s");
	ck_assert_int_eq(back.exit_kind, ALB_EXIT_SIGNAL);
	ck_assert_uint_eq(back.exit_value, 9);
	ck_assert_uint_eq(back.wait_us, 0);
	alb_run_file_clear(&back);
	free(text);

	/* Both, an empty or multi-line reason, an exit out of range: not written. */
	rf.exit_kind = ALB_EXIT_CODE;
	rf.exit_value = 256;
	ck_assert_int_eq(alb_run_file_format(&rf, &text, &len), -EINVAL);
	rf.exit_value = 1;
	rf.wait_us = 5;
	ck_assert_int_eq(alb_run_file_format(&rf, &text, &len), -EINVAL);
	rf.wait_us = 0;
	rf.failed = (char *)"";
	ck_assert_int_eq(alb_run_file_format(&rf, &text, &len), -EINVAL);
	rf.failed = (char *)"a\nb";
	ck_assert_int_eq(alb_run_file_format(&rf, &text, &len), -EINVAL);
	const char *head = "albatross-run 1\nname a\nrun 1\nconfig " F64 "\ntaps\ntally 0 0 0\n";
	const char *tails[] = {"wait 0\n",
			       "wait\n",
			       "wait x\n",
			       "wait 1\nwait 2\n",
			       "failed\n",
			       "wait 1\nfailed x\n",
			       "failed x\nfailed y\n",
			       "exit code 256\n",
			       "exit signal 0\n",
			       "exit signal 65\n",
			       "exit code\n",
			       "exit code 1 2\n",
			       "exit kill 9\n",
			       "exit code 1\nexit code 2\n",
			       "failed x\nwait 1\n"};
	for (size_t i = 0; i < ELEMENTSOF(tails); i++) {
		char buf[512];
		snprintf(buf, sizeof(buf), "%s%s", head, tails[i]);
		ck_assert_int_eq(alb_run_file_parse(buf, strlen(buf), &back), -EBADMSG);
		ck_assert_ptr_null(back.failed);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("monitor");
	TCase *tc = tcase_create("monitor");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_add_test(tc, test_frames_in_any_pieces);
	tcase_add_test(tc, test_bad_frames);
	tcase_add_test(tc, test_run_file);
	tcase_add_test(tc, test_run_file_wait_and_failed);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
