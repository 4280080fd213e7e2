/* SPDX-License-Identifier: ISC */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-common.h"

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

struct hits {
	int n;
	int last;
	alb_source *free_me;
};

static int on_io(alb_source *s, int fd, uint32_t events, void *userdata)
{
	struct hits *h = userdata;
	char buf[16];
	ck_assert(events & ALB_IO_IN);
	h->last = (int)read(fd, buf, sizeof(buf));
	h->n++;
	if (h->free_me)
		h->free_me = alb_source_free(h->free_me);
	return 0;
}

/* The cap of a wait for what is due at once: generous, never reached on a busy machine. */
#define WAIT_MS 60000

START_TEST(test_io_and_fd)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	struct hits h = {0};
	alb_source *s = NULL;
	ck_assert_alb_ok(test_ctx, alb_loop_add_io(loop, p[0], ALB_IO_IN, on_io, &h, &s));
	ck_assert_alb_err(test_ctx, alb_loop_add_io(loop, p[0], ALB_IO_IN, on_io, &h, &s), EEXIST);
	/* Nothing to do: the loop's fd is not readable and run_once dispatches nothing. */
	struct pollfd pfd = {.fd = alb_loop_get_fd(loop), .events = POLLIN};
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	ck_assert_int_eq(alb_loop_run_once(loop, 0), 0);
	ck_assert_int_eq(write(p[1], "abc", 3), 3);
	/* An embedder polls the loop's fd, then runs it without waiting. */
	ck_assert_int_eq(poll(&pfd, 1, WAIT_MS), 1);
	ck_assert_int_eq(alb_loop_run_once(loop, 0), 1);
	ck_assert_int_eq(h.n, 1);
	ck_assert_int_eq(h.last, 3);
	alb_source_free(s);
	close(p[0]);
	close(p[1]);
}
END_TEST

static int on_timer(alb_source *s, void *userdata)
{
	struct hits *h = userdata;
	h->n++;
	h->last = (int)(alb_now_monotonic() / 1000);
	if (h->n == 2) {
		alb_source_free(s);
		alb_loop_exit(loop, 7);
	} else
		ck_assert_int_eq(alb_source_set_timer(s, 1000), 0);
	return 0;
}

START_TEST(test_timer_rearm_and_exit)
{
	struct hits h = {0};
	alb_source *s = NULL;
	uint64_t start = alb_now_monotonic();
	ck_assert_alb_ok(test_ctx, alb_loop_add_timer(loop, 20000, on_timer, &h, &s));
	ck_assert_int_eq(alb_loop_run(loop), 7);
	ck_assert_int_eq(h.n, 2);
	ck_assert_uint_ge(alb_now_monotonic() - start, 21000);
	/* A zero delay fires at once. */
	struct hits z = {0};
	ck_assert_alb_ok(test_ctx, alb_loop_add_timer(loop, 0, on_timer, &z, &s));
	ck_assert_int_eq(alb_loop_run_once(loop, WAIT_MS), 1);
	ck_assert_int_eq(z.n, 1);
	alb_source_free(s);
}
END_TEST

static int on_signal(alb_source *s, int signo, void *userdata)
{
	struct hits *h = userdata;
	h->n++;
	h->last = signo;
	return 0;
}

START_TEST(test_signal)
{
	struct hits h = {0};
	alb_source *s = NULL;
	ck_assert_alb_ok(test_ctx, alb_loop_add_signal(loop, SIGUSR1, on_signal, &h, &s));
	ck_assert_int_eq(raise(SIGUSR1), 0);
	ck_assert_int_eq(alb_loop_run_once(loop, WAIT_MS), 1);
	ck_assert_int_eq(h.n, 1);
	ck_assert_int_eq(h.last, SIGUSR1);
	alb_source_free(s);
}
END_TEST

struct child {
	int pid, how, status, n;
};

static int on_child(alb_source *s, int pid, int how, int status, void *userdata)
{
	struct child *c = userdata;
	c->pid = pid;
	c->how = how;
	c->status = status;
	c->n++;
	alb_source_free(s);
	return 0;
}

START_TEST(test_child_exit_and_signal)
{
	struct child c = {0};
	alb_source *s = NULL;
	pid_t pid = fork();
	if (pid == 0)
		_exit(42);
	ck_assert_alb_ok(test_ctx, alb_loop_add_child(loop, pid, -1, on_child, &c, &s));
	while (c.n == 0)
		ck_assert_int_ge(alb_loop_run_once(loop, 5000), 0);
	ck_assert_int_eq(c.pid, pid);
	ck_assert_int_eq(c.how, ALB_CHILD_EXITED);
	ck_assert_int_eq(c.status, 42);
	/* Reaped: waitpid has nothing left. */
	ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), -1);

	memset(&c, 0, sizeof(c));
	pid = fork();
	if (pid == 0) {
		pause();
		_exit(0);
	}
	ck_assert_alb_ok(test_ctx, alb_loop_add_child(loop, pid, -1, on_child, &c, &s));
	kill(pid, SIGKILL);
	while (c.n == 0)
		ck_assert_int_ge(alb_loop_run_once(loop, 5000), 0);
	ck_assert_int_eq(c.how, ALB_CHILD_KILLED);
	ck_assert_int_eq(c.status, SIGKILL);
	ck_assert_int_eq(alb_loop_add_child(loop, 999999999, -1, on_child, &c, &s), -ESRCH);
}
END_TEST

START_TEST(test_free_other_source_in_batch)
{
	/* Two ready pipes; the first callback frees the second's source: it must not run. */
	int a[2], b[2];
	ck_assert_int_eq(pipe2(a, O_CLOEXEC | O_NONBLOCK), 0);
	ck_assert_int_eq(pipe2(b, O_CLOEXEC | O_NONBLOCK), 0);
	struct hits ha = {0}, hb = {0};
	alb_source *sa = NULL, *sb = NULL;
	ck_assert_alb_ok(test_ctx, alb_loop_add_io(loop, a[0], ALB_IO_IN, on_io, &ha, &sa));
	ck_assert_alb_ok(test_ctx, alb_loop_add_io(loop, b[0], ALB_IO_IN, on_io, &hb, &sb));
	ha.free_me = sb;
	hb.free_me = sa;
	ck_assert_int_eq(write(a[1], "x", 1), 1);
	ck_assert_int_eq(write(b[1], "y", 1), 1);
	ck_assert_int_eq(alb_loop_run_once(loop, WAIT_MS), 1);
	ck_assert_int_eq(ha.n + hb.n, 1);
	alb_source_free(ha.n ? sa : sb);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}
END_TEST

static int on_io_fail(alb_source *s, int fd, uint32_t events, void *userdata)
{
	return -ECANCELED;
}

START_TEST(test_callback_error_ends_run)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	alb_source *s = NULL;
	ck_assert_alb_ok(test_ctx, alb_loop_add_io(loop, p[0], ALB_IO_IN, on_io_fail, NULL, &s));
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(alb_loop_run(loop), -ECANCELED);
	alb_source_free(s);
	close(p[0]);
	close(p[1]);
}
END_TEST

static Suite *loop_suite(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("loop");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_io_and_fd);
	tcase_add_test(tc, test_timer_rearm_and_exit);
	tcase_add_test(tc, test_signal);
	tcase_add_test(tc, test_child_exit_and_signal);
	tcase_add_test(tc, test_free_other_source_in_batch);
	tcase_add_test(tc, test_callback_error_ends_run);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(loop_suite());
}
