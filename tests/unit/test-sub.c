/* SPDX-License-Identifier: ISC */
/*
 * The subscription engine (sub-private.h) on a framed server in this
 * process: history replay in steps, live data held behind the history, the
 * bound of the live queue (the slow consumer is dropped), the bound of
 * subscribers (the oldest goes first), a busy connection, and every
 * subscriber's data freed when it goes.
 */
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "test-common.h"

#include "client-private.h"
#include "server-private.h"
#include "sub-private.h"
#include "wire-private.h"

static alb_loop *loop;
static struct alb_server *server;
static struct alb_subs *subs;
static char sock_path[108];
static unsigned data_freed; /* subscribers' data freed */

/* A subscriber's history: count items "h0", "h1", ... */
struct hist {
	uint32_t count, next;
};

static void hist_free(void *data)
{
	data_freed++;
	free(data);
}

static int chunk_msg(struct alb_sub *sub, const char *text, alb_msg **ret)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	int r = alb_msg_new(&m, ALB_MSG_DATA, alb_sub_get_seq(sub), alb_sub_get_name(sub));
	if (r < 0)
		return r;
	m->data.kind = ALB_DATA_CHUNK;
	m->data.chunk = (uint8_t *)strdup(text);
	if (!m->data.chunk)
		return -ENOMEM;
	m->data.chunk_len = (uint32_t)strlen(text);
	*ret = TAKE_PTR(m);
	return 0;
}

static int history(struct alb_sub *sub, void *userdata)
{
	struct hist *h = alb_sub_get_data(sub);
	ck_assert_ptr_eq(userdata, &subs);
	while (h->next < h->count && alb_sub_wants_more(sub)) {
		char text[32];
		snprintf(text, sizeof(text), "h%u", h->next++);
		_cleanup_(alb_msg_freep) alb_msg *m = NULL;
		int r = chunk_msg(sub, text, &m);
		if (r < 0 || (r = alb_sub_send(sub, m)) < 0)
			return r;
	}
	return h->next < h->count;
}

/* A live item: text, for the subscribers of name (NULL: all). */
struct live {
	const char *text;
	const char *name;
};

static int build(struct alb_sub *sub, void *userdata, alb_msg **ret)
{
	const struct live *l = userdata;
	_cleanup_free_ char *n = alb_name_to_string(alb_sub_get_name(sub));
	if (l->name && (!n || strcmp(n, l->name) != 0))
		return 0;
	return chunk_msg(sub, l->text, ret);
}

static void publish(const char *text, const char *name, uint64_t size)
{
	struct live l = {text, name};
	alb_subs_publish(subs, size, build, &l);
}

/* log-subscribe stands for any subscribe: count is the history, follow as asked. */
static int on_message(struct alb_conn *conn, alb_msg *msg, void *userdata)
{
	_cleanup_(alb_msg_freep) alb_msg *m = msg;
	if (!m)
		return 0;
	int r = alb_subs_refuse_busy(subs, conn, m);
	if (r < 0)
		return r;
	ck_assert_int_eq(m->cmd.kind, ALB_CMD_LOG_SUBSCRIBE);
	struct hist *h = calloc(1, sizeof(*h));
	ck_assert_ptr_nonnull(h);
	h->count = m->cmd.history.has_count ? m->cmd.history.count : 0;
	r = alb_subs_add(subs, conn, m->seq, m->name, h->count > 0, m->cmd.history.follow, h,
			 hist_free);
	if (r < 0)
		(void)alb_conn_send_failure(conn, m->seq, m->name, -r, "%s", strerror(-r));
	return 0;
}

static void on_close(struct alb_conn *conn, void *userdata)
{
	alb_subs_conn_closed(subs, conn);
}

static void on_drain(struct alb_conn *conn, void *userdata)
{
	alb_subs_conn_drained(subs, conn);
}

static const struct alb_server_ops ops = {on_message, on_close, on_drain};

static void start(const struct alb_subs_options *o)
{
	struct alb_subs_options so = *o;
	so.history = history;
	so.userdata = &subs;
	ck_assert_alb_ok(test_ctx, alb_subs_new(test_ctx, &so, &subs));
	ck_assert_alb_ok(test_ctx, alb_loop_new(test_ctx, &loop));
	ck_assert_alb_ok(test_ctx, alb_server_new(test_ctx, loop, &ops, NULL, 0, &server));
	ck_assert_int_lt(snprintf(sock_path, sizeof(sock_path), "%s/sub.sock", test_tmpdir),
			 (int)sizeof(sock_path));
	ck_assert_alb_ok(test_ctx, alb_server_listen_unix(server, sock_path, 0600, (gid_t)-1));
}

static void setup(void)
{
	tc_ctx_setup();
	tc_tmpdir_setup();
	data_freed = 0;
}

static void teardown(void)
{
	alb_server_free(server);
	server = NULL;
	subs = alb_subs_free(subs);
	loop = alb_loop_unref(loop);
	tc_tmpdir_teardown();
	tc_ctx_teardown();
}

static void pump(void)
{
	for (int i = 0; i < 20; i++)
		alb_loop_run_once(loop, 2);
}

struct client {
	int fd;
	alb_client *out; /* writes frames (on a dup of fd) */
	alb_frame_reader *in;
	uint64_t seq;
};

static void client_open(struct client *c, int rcvbuf)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, sock_path, sizeof(sock_path));
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(c->fd, 0);
	if (rcvbuf)
		ck_assert_int_eq(setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)),
				 0);
	ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_alb_ok(test_ctx,
			 alb_client_new_fd(test_ctx, fcntl(c->fd, F_DUPFD_CLOEXEC, 3), &c->out));
	ck_assert_int_eq(fcntl(c->fd, F_SETFL, O_NONBLOCK), 0);
	ck_assert_alb_ok(test_ctx, alb_frame_reader_new(0, &c->in));
	pump(); /* accepted */
}

static void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->out = alb_client_free(c->out);
	c->in = alb_frame_reader_free(c->in);
}

/* Sends a subscribe of name: count items of history, follow. */
static void subscribe(struct client *c, const char *name, uint32_t count, bool follow)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	_cleanup_(alb_name_freep) alb_name *n = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, name, &n));
	ck_assert_alb_ok(test_ctx, alb_msg_new(&m, ALB_MSG_COMMAND, ++c->seq, n));
	m->cmd.kind = ALB_CMD_LOG_SUBSCRIBE;
	m->cmd.history =
	    (struct alb_history){.has_count = count > 0, .count = count, .follow = follow};
	ck_assert_alb_ok(test_ctx, alb_client_send(c->out, m));
}

enum { GOT_MSG = 1, GOT_END, GOT_EOF };

/* The next frame from the service, running the loop meanwhile. */
static int next(struct client *c, alb_msg **ret)
{
	*ret = NULL;
	for (int tries = 0; tries < 2000; tries++) {
		_cleanup_free_ uint8_t *buf = NULL;
		uint64_t len;
		int r = alb_frame_reader_next(test_ctx, c->in, &buf, &len);
		ck_assert_int_ge(r, 0);
		if (r == 1) {
			if (!buf)
				return GOT_END;
			ck_assert_alb_ok(test_ctx, alb_msg_decode(test_ctx, buf, len, ret));
			return GOT_MSG;
		}
		ssize_t n = alb_frame_reader_read(test_ctx, c->in, c->fd);
		if (n == 0)
			return GOT_EOF;
		if (n == -EAGAIN)
			alb_loop_run_once(loop, 5);
		else
			ck_assert_int_gt(n, 0);
	}
	ck_abort_msg("nothing came from the service");
	return 0;
}

/* The next frame is a data chunk of text. */
static void expect_chunk(struct client *c, const char *text)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	ck_assert_int_eq(next(c, &m), GOT_MSG);
	ck_assert_int_eq(m->kind, ALB_MSG_DATA);
	ck_assert_uint_eq(m->seq, c->seq);
	ck_assert_uint_eq(m->data.chunk_len, strlen(text));
	ck_assert_int_eq(memcmp(m->data.chunk, text, strlen(text)), 0);
}

static void expect_success(struct client *c)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	ck_assert_int_eq(next(c, &m), GOT_MSG);
	ck_assert_int_eq(m->kind, ALB_MSG_SUCCESS);
	ck_assert_uint_eq(m->seq, c->seq);
}

/* The next frame is a failure of code whose message has needle. */
static void expect_failure(struct client *c, uint32_t code, const char *needle)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	ck_assert_int_eq(next(c, &m), GOT_MSG);
	ck_assert_int_eq(m->kind, ALB_MSG_FAILURE);
	ck_assert_uint_eq(m->failure.code, code);
	ck_assert_msg(strstr(m->failure.message, needle), "'%s' lacks '%s'", m->failure.message,
		      needle);
}

START_TEST(test_history_then_end)
{
	struct alb_subs_options o = {.what = "items", .history_step = 1};
	struct client c = {.fd = -1};
	start(&o);
	client_open(&c, 0);
	subscribe(&c, "a:vm", 5, false);
	expect_success(&c);
	for (int i = 0; i < 5; i++) {
		char text[8];
		snprintf(text, sizeof(text), "h%d", i);
		expect_chunk(&c, text);
	}
	alb_msg *m = NULL;
	ck_assert_int_eq(next(&c, &m), GOT_END);
	/* The subscription ended with its history: data freed, and the connection takes
	 * commands again. */
	ck_assert_uint_eq(alb_subs_count(subs), 0);
	ck_assert_uint_eq(data_freed, 1);
	subscribe(&c, "a:vm", 1, false);
	expect_success(&c);
	expect_chunk(&c, "h0");
	ck_assert_int_eq(next(&c, &m), GOT_END);
	/* Live data is not for it. */
	publish("l0", NULL, 10);
	subscribe(&c, "a:vm", 0, false);
	expect_success(&c);
	ck_assert_int_eq(next(&c, &m), GOT_END);
	ck_assert_uint_eq(data_freed, 3);
	client_close(&c);
}
END_TEST

START_TEST(test_live_held_behind_history)
{
	/* A step of one byte: one item of history per drain. */
	struct alb_subs_options o = {.what = "items", .history_step = 1};
	struct client c = {.fd = -1}, other = {.fd = -1};
	start(&o);
	client_open(&c, 0);
	client_open(&other, 0);
	subscribe(&other, "b:vm", 0, true);
	pump();
	subscribe(&c, "a:vm", 3, true);
	/* Taken (the reply queued), then the reply written and h0 queued: live items now
	 * wait for the rest. */
	alb_loop_run_once(loop, 50);
	alb_loop_run_once(loop, 50);
	ck_assert_uint_eq(alb_subs_count(subs), 2);
	publish("l0", "a:vm", 10);
	publish("x0", "b:vm", 10);
	publish("l1", NULL, 10);
	expect_success(&c);
	expect_chunk(&c, "h0");
	expect_chunk(&c, "h1");
	expect_chunk(&c, "h2");
	expect_chunk(&c, "l0");
	expect_chunk(&c, "l1");
	expect_success(&other);
	expect_chunk(&other, "x0");
	expect_chunk(&other, "l1");
	/* Following now: straight to the connection. */
	publish("l2", "a:vm", 10);
	expect_chunk(&c, "l2");
	ck_assert_uint_eq(alb_subs_count(subs), 2);
	ck_assert_uint_eq(alb_subs_dropped_slow(subs), 0);
	client_close(&c);
	client_close(&other);
}
END_TEST

START_TEST(test_slow_consumer)
{
	struct alb_subs_options o = {.what = "items", .queue_max = 64 << 10};
	struct client c = {.fd = -1}, fast = {.fd = -1};
	char text[1025];
	start(&o);
	client_open(&c, 4096);
	client_open(&fast, 0);
	subscribe(&c, "a:vm", 0, true);
	subscribe(&fast, "a:vm", 0, true);
	pump();
	ck_assert_uint_eq(alb_subs_count(subs), 2);
	expect_success(&fast);
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	/* c reads nothing: far more than its socket and the queue hold. */
	unsigned sent = 0;
	for (; sent < 2000 && alb_subs_count(subs) == 2; sent++) {
		publish(text, NULL, sizeof(text) + 64);
		expect_chunk(&fast, text); /* the fast one keeps up, and is kept */
	}
	ck_assert_uint_eq(alb_subs_count(subs), 1);
	ck_assert_uint_eq(alb_subs_dropped_slow(subs), 1);
	ck_assert_uint_eq(alb_subs_dropped_full(subs), 0);
	ck_assert_uint_eq(data_freed, 1);
	/* What it was sent, then why it was dropped, then the end. */
	expect_success(&c);
	unsigned got = 0;
	alb_msg *m = NULL;
	while (next(&c, &m) == GOT_MSG && m->kind == ALB_MSG_DATA) {
		got++;
		m = alb_msg_free(m);
	}
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(m->kind, ALB_MSG_FAILURE);
	ck_assert_uint_eq(m->failure.code, ALB_SUB_SLOW);
	ck_assert_str_eq(m->failure.message, "dropped: more than 65536 bytes of items unread");
	m = alb_msg_free(m);
	ck_assert_int_eq(next(&c, &m), GOT_EOF);
	/* Dropped when the next item would have gone over the bound: it got fewer. */
	ck_assert_uint_lt(got, sent);
	ck_assert_uint_gt(got, 0);
	client_close(&c);
	client_close(&fast);
}
END_TEST

START_TEST(test_slow_in_history)
{
	/* Items held behind a history count against the bound too. */
	struct alb_subs_options o = {.what = "items", .history_step = 1, .queue_max = 4000};
	struct client c = {.fd = -1};
	start(&o);
	client_open(&c, 0);
	subscribe(&c, "a:vm", 100, true);
	alb_loop_run_once(loop, 50);
	ck_assert_uint_eq(alb_subs_count(subs), 1);
	/* The reply (a few bytes) is queued, the history waits for it to drain: four items
	 * of 900 fit, the fifth does not. */
	for (int i = 0; i < 4; i++) {
		publish("held", NULL, 900);
		ck_assert_uint_eq(alb_subs_count(subs), 1);
	}
	publish("held", NULL, 900);
	ck_assert_uint_eq(alb_subs_count(subs), 0);
	ck_assert_uint_eq(alb_subs_dropped_slow(subs), 1);
	ck_assert_uint_eq(data_freed, 1);
	expect_success(&c);
	expect_failure(&c, ALB_SUB_SLOW, "4000 bytes of items unread");
	alb_msg *m = NULL;
	ck_assert_int_eq(next(&c, &m), GOT_EOF);
	client_close(&c);
}
END_TEST

START_TEST(test_full_oldest_goes)
{
	struct alb_subs_options o = {.what = "items", .max = 2};
	struct client c[3];
	start(&o);
	for (int i = 0; i < 3; i++) {
		c[i] = (struct client){.fd = -1};
		client_open(&c[i], 0);
		subscribe(&c[i], i == 1 ? "b:vm" : "a:vm", 0, true);
		pump();
	}
	ck_assert_uint_eq(alb_subs_count(subs), 2);
	ck_assert_uint_eq(alb_subs_dropped_full(subs), 1);
	ck_assert_uint_eq(data_freed, 1);
	expect_success(&c[0]);
	expect_failure(&c[0], ALB_SUB_FULL, "dropped: a newer subscriber came, and 2 at most");
	alb_msg *m = NULL;
	ck_assert_int_eq(next(&c[0], &m), GOT_EOF);
	publish("l0", NULL, 10);
	for (int i = 1; i < 3; i++) {
		expect_success(&c[i]);
		expect_chunk(&c[i], "l0");
	}
	for (int i = 0; i < 3; i++)
		client_close(&c[i]);
}
END_TEST

START_TEST(test_full_per_name)
{
	struct alb_subs_options o = {.what = "items", .max_per_name = 1, .per_name = "unikernel"};
	struct client a = {.fd = -1}, b = {.fd = -1}, a2 = {.fd = -1};
	start(&o);
	client_open(&a, 0);
	client_open(&b, 0);
	client_open(&a2, 0);
	subscribe(&a, "a:vm", 0, true);
	pump();
	subscribe(&b, "b:vm", 0, true);
	pump();
	ck_assert_uint_eq(alb_subs_count(subs), 2);
	subscribe(&a2, "a:vm", 0, true);
	pump();
	ck_assert_uint_eq(alb_subs_count(subs), 2);
	expect_success(&a);
	expect_failure(&a, ALB_SUB_FULL, "1 at most are served per unikernel");
	publish("l0", NULL, 10);
	expect_success(&b);
	expect_chunk(&b, "l0");
	expect_success(&a2);
	expect_chunk(&a2, "l0");
	client_close(&a);
	client_close(&b);
	client_close(&a2);
}
END_TEST

START_TEST(test_busy_and_close_free)
{
	struct alb_subs_options o = {.what = "items"};
	struct client c = {.fd = -1}, d = {.fd = -1};
	start(&o);
	client_open(&c, 0);
	client_open(&d, 0);
	subscribe(&c, "a:vm", 0, true);
	subscribe(&d, "a:vm", 2, true);
	pump();
	ck_assert_uint_eq(alb_subs_count(subs), 2);
	expect_success(&c);
	/* Anything on a subscribed connection is refused, and closes it. */
	subscribe(&c, "a:vm", 0, true);
	expect_failure(&c, EBUSY, "in progress");
	alb_msg *m = NULL;
	ck_assert_int_eq(next(&c, &m), GOT_EOF);
	ck_assert_uint_eq(alb_subs_count(subs), 1);
	ck_assert_uint_eq(data_freed, 1);
	/* A client that goes away: its subscriber and data go with it. */
	client_close(&d);
	pump();
	ck_assert_uint_eq(alb_subs_count(subs), 0);
	ck_assert_uint_eq(data_freed, 2);
	client_close(&c);
}
END_TEST

START_TEST(test_free_with_subscribers)
{
	struct alb_subs_options o = {.what = "items", .history_step = 1};
	struct client c = {.fd = -1};
	start(&o);
	client_open(&c, 0);
	subscribe(&c, "a:vm", 50, true);
	alb_loop_run_once(loop, 50);
	publish("held", NULL, 10); /* held behind the history: freed with it */
	ck_assert_uint_eq(alb_subs_count(subs), 1);
	subs = alb_subs_free(subs);
	ck_assert_uint_eq(data_freed, 1);
	/* The server goes without the engine (on_close must not find it). */
	alb_server_free(server);
	server = NULL;
	client_close(&c);
	/* Bad arguments. */
	struct alb_subs *s = NULL;
	ck_assert_int_eq(alb_subs_new(test_ctx, &(struct alb_subs_options){0}, &s), -EINVAL);
	ck_assert_ptr_null(alb_subs_free(NULL));
}
END_TEST

static Suite *sub_suite(void)
{
	Suite *s = suite_create("sub");
	TCase *tc = tcase_create("engine");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_history_then_end);
	tcase_add_test(tc, test_live_held_behind_history);
	tcase_add_test(tc, test_slow_consumer);
	tcase_add_test(tc, test_slow_in_history);
	tcase_add_test(tc, test_full_oldest_goes);
	tcase_add_test(tc, test_full_per_name);
	tcase_add_test(tc, test_busy_and_close_free);
	tcase_add_test(tc, test_free_with_subscribers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(sub_suite());
}
