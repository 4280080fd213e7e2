/* SPDX-License-Identifier: ISC */
/* The daemon-to-daemon connection: delivery, reconnect, the bounded queue. */
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "peer-private.h"
#include "test-common.h"

static alb_loop *loop;
static char sock_path[4200];
static int connects, disconnects;

static void on_connect(struct alb_peer *p, void *ud)
{
	connects++;
}

static void on_disconnect(struct alb_peer *p, void *ud)
{
	disconnects++;
}

static const struct alb_peer_ops ops = {on_connect, on_disconnect};

static void setup(void)
{
	tc_ctx_setup();
	tc_tmpdir_setup();
	ck_assert_alb_ok(test_ctx, alb_loop_new(test_ctx, &loop));
	snprintf(sock_path, sizeof(sock_path), "%s/peer.sock", test_tmpdir);
	connects = disconnects = 0;
}

static void teardown(void)
{
	loop = alb_loop_unref(loop);
	tc_tmpdir_teardown();
	tc_ctx_teardown();
}

static int listener(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, sock_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	unlink(sock_path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	return fd;
}

static alb_msg *event_msg(uint32_t attempt)
{
	alb_msg *m = NULL;
	alb_name *root = NULL;
	ck_assert_int_eq(alb_name_new_root(&root), 0);
	ck_assert_int_eq(alb_msg_new(&m, ALB_MSG_COMMAND, 0, root), 0);
	alb_name_free(root);
	m->cmd.kind = ALB_CMD_LOG_EVENT;
	m->cmd.event = calloc(1, sizeof(*m->cmd.event));
	m->cmd.event->kind = ALB_EVENT_DAEMON_START;
	m->cmd.event->time_us = 1000000 + attempt;
	return m;
}

/* Reads one message from fd; returns its event time, or 0 at the end. */
static uint64_t read_event(int fd)
{
	uint8_t *buf = NULL;
	uint64_t len;
	int r = alb_frame_read(test_ctx, fd, 0, &buf, &len);
	if (r == -EPIPE)
		return 0;
	ck_assert_alb_ok(test_ctx, r);
	alb_msg *m = NULL;
	ck_assert_alb_ok(test_ctx, alb_msg_decode(test_ctx, buf, len, &m));
	free(buf);
	ck_assert_int_eq(m->cmd.kind, ALB_CMD_LOG_EVENT);
	uint64_t t = m->cmd.event->time_us;
	alb_msg_free(m);
	return t;
}

/* Generous caps: what they bound takes milliseconds, but a busy machine or a sanitizer
 * build must never reach them. */
#define WAIT_US	      (UINT64_C(60) * 1000000)
#define FLUSH_WAIT_MS 60000

/* Runs the loop until *counter reaches value (a reconnect comes after the peer's back-off,
 * 0.2 s at first), for at most WAIT_US. */
static void run_until(int *counter, int value)
{
	uint64_t end = alb_now_monotonic() + WAIT_US;
	while (*counter < value && alb_now_monotonic() < end)
		ck_assert_int_ge(alb_loop_run_once(loop, 100), 0);
	ck_assert_int_ge(*counter, value);
}

START_TEST(test_deliver_and_reconnect)
{
	int l = listener();
	struct alb_peer *p = NULL;
	ck_assert_alb_ok(test_ctx, alb_peer_new(test_ctx, loop, "test", sock_path, &ops, NULL, true,
						1 << 20, &p));
	ck_assert(alb_peer_connected(p));
	ck_assert_int_eq(connects, 1);
	int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(c, 0);
	for (uint32_t i = 1; i <= 3; i++) {
		alb_msg *m = event_msg(i);
		ck_assert_alb_ok(test_ctx, alb_peer_send(p, m));
		alb_msg_free(m);
	}
	alb_peer_flush(p, FLUSH_WAIT_MS);
	for (uint32_t i = 1; i <= 3; i++)
		ck_assert_uint_eq(read_event(c), 1000000 + i);

	/* The other side goes away: noticed, and reconnected when it is back. */
	close(c);
	close(l);
	unlink(sock_path);
	run_until(&disconnects, 1);
	ck_assert(!alb_peer_connected(p));
	alb_msg *m = event_msg(4);
	ck_assert_alb_ok(test_ctx, alb_peer_send(p, m)); /* kept while down */
	alb_msg_free(m);
	l = listener();
	run_until(&connects, 2);
	c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	alb_peer_flush(p, FLUSH_WAIT_MS);
	ck_assert_uint_eq(read_event(c), 1000004);
	ck_assert_uint_eq(alb_peer_dropped(p), 0);
	alb_peer_free(p);
	ck_assert_uint_eq(read_event(c), 0); /* closed */
	close(c);
	close(l);
}
END_TEST

START_TEST(test_bounded_queue_keeps_newest)
{
	/* Nobody listens: everything waits in a small queue. */
	struct alb_peer *p = NULL;
	ck_assert_alb_ok(
	    test_ctx, alb_peer_new(test_ctx, loop, "test", sock_path, &ops, NULL, true, 1024, &p));
	ck_assert(!alb_peer_connected(p));
	for (uint32_t i = 1; i <= 200; i++) {
		alb_msg *m = event_msg(i);
		ck_assert_alb_ok(test_ctx, alb_peer_send(p, m));
		alb_msg_free(m);
	}
	ck_assert_uint_gt(alb_peer_dropped(p), 100);
	int l = listener();
	run_until(&connects, 1);
	int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	alb_peer_flush(p, FLUSH_WAIT_MS);
	uint64_t t, last = 0, n = 0;
	alb_peer_free(p); /* closes: read until the end */
	while ((t = read_event(c)) != 0) {
		ck_assert_uint_gt(t, last); /* in order */
		last = t;
		n++;
	}
	ck_assert_uint_eq(last, 1000200); /* the newest survived */
	ck_assert_uint_lt(n, 100);
	close(c);
	close(l);
}
END_TEST

START_TEST(test_dropped_while_down_without_keep)
{
	struct alb_peer *p = NULL;
	ck_assert_alb_ok(test_ctx, alb_peer_new(test_ctx, loop, "test", sock_path, &ops, NULL,
						false, 1 << 20, &p));
	alb_msg *m = event_msg(1);
	ck_assert_int_eq(alb_peer_send(p, m), -ENOTCONN);
	alb_msg_free(m);
	ck_assert_uint_eq(alb_peer_dropped(p), 1);
	alb_peer_free(p);
}
END_TEST

static Suite *peer_suite(void)
{
	Suite *s = suite_create("peer");
	TCase *tc = tcase_create("peer");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 100); /* above run_until()'s cap: its message is clearer */
	tcase_add_test(tc, test_deliver_and_reconnect);
	tcase_add_test(tc, test_bounded_queue_keeps_newest);
	tcase_add_test(tc, test_dropped_while_down_without_keep);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(peer_suite());
}
