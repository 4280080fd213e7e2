/* SPDX-License-Identifier: ISC */
/*
 * The console module: ring buffers, line splitting and truncation, history
 * queries, inactive buffers; and the service (a forked child serving a Unix
 * socket) against the client module.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "test-common.h"

#include "client-private.h"
#include "console-private.h"
#include "console-service-private.h"
#include "wire-private.h"

static alb_console *console;

static void setup(void)
{
	tc_ctx_setup();
	ck_assert_alb_ok(test_ctx, alb_console_new(test_ctx, &console));
}

static void teardown(void)
{
	console = alb_console_free(console);
	tc_ctx_teardown();
}

static alb_name *name(const char *s)
{
	alb_name *n = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, s, &n));
	return n;
}

/* Lines collected by a query or the callback. */
struct seen {
	uint32_t n;
	uint64_t time[64];
	char line[64][128];
	uint32_t len[64];
	uint32_t flags[64];
};

static int collect(const alb_name *nm, uint64_t time_us, const uint8_t *line, uint32_t len,
		   uint32_t flags, void *userdata)
{
	struct seen *s = userdata;
	ck_assert_uint_lt(s->n, 64);
	s->time[s->n] = time_us;
	ck_assert_uint_lt(len, 128);
	if (len)
		memcpy(s->line[s->n], line, len);
	s->line[s->n][len] = '\0';
	s->len[s->n] = len;
	s->flags[s->n] = flags;
	s->n++;
	return 0;
}

static void feed(const alb_name *n, const char *text, uint64_t now)
{
	ck_assert_int_ge(alb_console_feed(console, n, text, strlen(text), now), 0);
}

START_TEST(test_ring_wraparound)
{
	_cleanup_(alb_name_freep) alb_name *vm = name("a:vm");
	struct seen s = {0};
	char buf[32];

	ck_assert_alb_ok(test_ctx, alb_console_set_lines(console, 4));
	ck_assert_int_eq(alb_console_activate(console, vm), 1);
	ck_assert_int_eq(alb_console_activate(console, vm), 0);
	for (int i = 1; i <= 10; i++) {
		snprintf(buf, sizeof(buf), "line %d\n", i);
		feed(vm, buf, 1000);
	}
	ck_assert_uint_eq(alb_console_get_line_count(console, vm), 4);
	ck_assert_int_eq(alb_console_query_last(console, vm, 100, collect, &s), 4);
	ck_assert_str_eq(s.line[0], "line 7");
	ck_assert_str_eq(s.line[3], "line 10");
	/* The same microsecond: stamps still increase strictly. */
	for (uint32_t i = 1; i < s.n; i++)
		ck_assert_uint_eq(s.time[i], s.time[i - 1] + 1);
	s.n = 0;
	ck_assert_int_eq(alb_console_query_last(console, vm, 2, collect, &s), 2);
	ck_assert_str_eq(s.line[0], "line 9");
	/* Setting the size once buffers exist is refused. */
	ck_assert_alb_err(test_ctx, alb_console_set_lines(console, 8), EBUSY);
	ck_assert_alb_err(test_ctx, alb_console_query_last(console, vm, 0, collect, &s), EINVAL);
}
END_TEST

START_TEST(test_split_and_truncate)
{
	_cleanup_(alb_name_freep) alb_name *vm = name("vm");
	struct seen s = {0};

	ck_assert_alb_ok(test_ctx, alb_console_set_line_max(console, 8));
	ck_assert_int_eq(alb_console_activate(console, vm), 1);
	alb_console_set_line_fn(console, collect, &s);
	/* Exactly the bound: not cut. Over it: cut, and the rest dropped. */
	ck_assert_int_eq(alb_console_feed(console, vm, "01234567\n0123456789abc\nx\n", 25, 0), 3);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_str_eq(s.line[0], "01234567");
	ck_assert_uint_eq(s.flags[0], 0);
	ck_assert_str_eq(s.line[1], "01234567");
	ck_assert_uint_eq(s.flags[1], ALB_CONSOLE_LINE_TRUNCATED);
	ck_assert_str_eq(s.line[2], "x");
	/* Across feeds; the cut line is announced when it goes over. */
	ck_assert_int_eq(alb_console_feed(console, vm, "abc", 3, 0), 0);
	ck_assert_int_eq(alb_console_feed(console, vm, "defg", 4, 0), 0);
	ck_assert_int_eq(alb_console_feed(console, vm, "hij", 3, 0), 1);
	ck_assert_str_eq(s.line[3], "abcdefgh");
	ck_assert_uint_eq(s.flags[3], ALB_CONSOLE_LINE_TRUNCATED);
	ck_assert_int_eq(alb_console_feed(console, vm, "klm\nok", 6, 0), 0);
	ck_assert_uint_eq(s.n, 4);
	/* Empty lines are lines; a partial one is completed when the buffer stops. */
	ck_assert_int_eq(alb_console_feed(console, vm, "\n\n", 2, 0), 2);
	ck_assert_str_eq(s.line[4], "ok");
	ck_assert_uint_eq(s.len[5], 0);
	ck_assert_int_eq(alb_console_feed(console, vm, "tail", 4, 0), 0);
	ck_assert_alb_ok(test_ctx, alb_console_deactivate(console, vm));
	ck_assert_uint_eq(s.n, 7);
	ck_assert_str_eq(s.line[6], "tail");
	ck_assert_uint_eq(alb_console_get_line_count(console, vm), 7);
	/* No output into an inactive buffer. */
	ck_assert_alb_err(test_ctx, alb_console_feed(console, vm, "x\n", 2, 0), ENOENT);
}
END_TEST

START_TEST(test_bytes_kept)
{
	_cleanup_(alb_name_freep) alb_name *vm = name("vm");
	static const uint8_t raw[] = {'a', 0xff, 0x00, 0x1b, '[', 0xc3, 0x28, '\r', '\n'};
	struct seen s = {0};

	ck_assert_int_eq(alb_console_activate(console, vm), 1);
	ck_assert_int_eq(alb_console_feed(console, vm, raw, sizeof(raw), 0), 1);
	ck_assert_int_eq(alb_console_query_last(console, vm, 1, collect, &s), 1);
	ck_assert_uint_eq(s.len[0], sizeof(raw) - 1);
	ck_assert_int_eq(memcmp(s.line[0], raw, sizeof(raw) - 1), 0);
}
END_TEST

START_TEST(test_since)
{
	_cleanup_(alb_name_freep) alb_name *vm = name("p:vm");
	struct seen s = {0};

	ck_assert_int_eq(alb_console_activate(console, vm), 1);
	feed(vm, "one\n", 100);
	feed(vm, "two\n", 200);
	feed(vm, "three\n", 300);
	feed(vm, "four\n", 250); /* the clock went back: after "three" still */
	ck_assert_int_eq(alb_console_query_since(console, vm, 200, collect, &s), 2);
	ck_assert_str_eq(s.line[0], "three");
	ck_assert_str_eq(s.line[1], "four");
	ck_assert_uint_eq(s.time[1], 301);
	s.n = 0;
	ck_assert_int_eq(alb_console_query_since(console, vm, 199, collect, &s), 3);
	s.n = 0;
	ck_assert_int_eq(alb_console_query_since(console, vm, 0, collect, &s), 4);
	s.n = 0;
	ck_assert_int_eq(alb_console_query_since(console, vm, 301, collect, &s), 0);
	/* Cursor helpers of the service. */
	ck_assert_uint_eq(alb_console_last_time(console, vm), 301);
	ck_assert_uint_eq(alb_console_time_of_last(console, vm, 2), 299);
	ck_assert_int_eq(alb_console_query_range(console, vm, 0, 200, 10, collect, &s), 2);
	ck_assert_int_eq(alb_console_query_range(console, vm, 0, 1000, 3, collect, &s), 3);
	/* Unknown names. */
	_cleanup_(alb_name_freep) alb_name *other = name("p:other");
	ck_assert_int_eq(alb_console_query_since(console, other, 0, collect, &s), -ENOENT);
	_cleanup_(alb_name_freep) alb_name *path = name("p:");
	ck_assert_alb_err(test_ctx, alb_console_activate(console, path), EINVAL);
}
END_TEST

static void names_free(alb_name **v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		alb_name_free(v[i]);
	alb_free(v);
}

START_TEST(test_inactive_bound)
{
	_cleanup_(alb_name_freep) alb_name *root = name(":"), *pa = name("a:"), *b = name("b:vm");
	alb_name **v = NULL;
	uint32_t n = 0;
	char buf[32];

	ck_assert_alb_ok(test_ctx, alb_console_set_inactive_max(console, 2));
	for (int i = 1; i <= 4; i++) {
		snprintf(buf, sizeof(buf), "a:vm%d", i);
		_cleanup_(alb_name_freep) alb_name *vm = name(buf);
		ck_assert_int_eq(alb_console_activate(console, vm), 1);
		feed(vm, "hello\n", 0);
		ck_assert_alb_ok(test_ctx, alb_console_deactivate(console, vm));
	}
	ck_assert_int_eq(alb_console_activate(console, b), 1);
	ck_assert_alb_ok(test_ctx, alb_console_deactivate(console, b));
	/* a: keeps its two newest; b: is another path. */
	ck_assert_alb_ok(test_ctx, alb_console_list_inactive(console, root, &v, &n));
	ck_assert_uint_eq(n, 3);
	char *s0 = alb_name_to_string(v[0]), *s1 = alb_name_to_string(v[1]),
	     *s2 = alb_name_to_string(v[2]);
	ck_assert_str_eq(s0, "a:vm3");
	ck_assert_str_eq(s1, "a:vm4");
	ck_assert_str_eq(s2, "b:vm");
	ck_assert_ptr_null(v[3]);
	alb_free(s0);
	alb_free(s1);
	alb_free(s2);
	names_free(v, n);
	ck_assert_alb_ok(test_ctx, alb_console_list_inactive(console, pa, &v, &n));
	ck_assert_uint_eq(n, 2);
	names_free(v, n);

	/* Active again: the lines are there, and it leaves the inactive list. */
	_cleanup_(alb_name_freep) alb_name *vm4 = name("a:vm4"), *vm1 = name("a:vm1");
	ck_assert_int_eq(alb_console_activate(console, vm4), 0);
	ck_assert_int_eq(alb_console_is_active(console, vm4), 1);
	ck_assert_uint_eq(alb_console_get_line_count(console, vm4), 1);
	feed(vm4, "again\n", 0);
	ck_assert_uint_eq(alb_console_get_line_count(console, vm4), 2);
	ck_assert_int_eq(alb_console_is_active(console, vm1), -ENOENT);
	ck_assert_alb_err(test_ctx, alb_console_list_inactive(console, vm4, &v, &n), ENOENT);
	ck_assert_alb_err(test_ctx, alb_console_list_inactive(console, vm1, &v, &n), ENOENT);

	/* A smaller bound applies at once; 0 drops a buffer when it stops. */
	ck_assert_alb_ok(test_ctx, alb_console_set_inactive_max(console, 0));
	ck_assert_alb_ok(test_ctx, alb_console_list_inactive(console, root, &v, &n));
	ck_assert_uint_eq(n, 0);
	names_free(v, n);
	ck_assert_alb_ok(test_ctx, alb_console_deactivate(console, vm4));
	ck_assert_int_eq(alb_console_is_active(console, vm4), -ENOENT);
	ck_assert_alb_err(
	    test_ctx, alb_console_set_inactive_max(console, ALB_CONSOLE_BUFFERS_MAX + 1), EINVAL);
}
END_TEST

START_TEST(test_remove_and_many)
{
	char buf[32];
	/* Enough buffers to grow the hash table a few times. */
	for (int i = 0; i < 1000; i++) {
		snprintf(buf, sizeof(buf), "p%d:vm%d", i % 7, i);
		_cleanup_(alb_name_freep) alb_name *vm = name(buf);
		ck_assert_int_eq(alb_console_activate(console, vm), 1);
		feed(vm, buf, 0);
		feed(vm, "\n", 0);
	}
	for (int i = 0; i < 1000; i += 3) {
		snprintf(buf, sizeof(buf), "p%d:vm%d", i % 7, i);
		_cleanup_(alb_name_freep) alb_name *vm = name(buf);
		struct seen s = {0};
		ck_assert_int_eq(alb_console_query_last(console, vm, 1, collect, &s), 1);
		ck_assert_str_eq(s.line[0], buf);
		ck_assert_alb_ok(test_ctx, alb_console_remove(console, vm));
		ck_assert_int_eq(alb_console_remove(console, vm), -ENOENT);
	}
}
END_TEST

/* ---- the service ------------------------------------------------------------------------ */

static pid_t service_pid = -1;
static char sock_path[4200];

/* Serves in a child until killed. */
static void start_service(const struct alb_console_service_options *o)
{
	snprintf(sock_path, sizeof(sock_path), "%s/console.sock", test_tmpdir);
	/* The child says it listens (a byte) or fails (end of file) on this pipe. */
	int ready[2];
	ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
	service_pid = fork();
	ck_assert_int_ge(service_pid, 0);
	if (service_pid == 0) {
		alb_ctx *ctx = NULL;
		alb_loop *loop = NULL;
		struct alb_console_service *svc = NULL;
		struct alb_console_service_options opts = *o;
		signal(SIGPIPE, SIG_IGN);
		close(ready[0]);
		if (alb_ctx_new(&ctx) < 0 || alb_loop_new(ctx, &loop) < 0 ||
		    alb_console_service_new(ctx, loop, &opts, &svc) < 0 ||
		    alb_console_service_listen_unix(svc, sock_path, 0600, (gid_t)-1) < 0)
			_exit(1);
		if (write(ready[1], "", 1) != 1)
			_exit(1);
		close(ready[1]);
		alb_loop_run(loop);
		_exit(0);
	}
	close(ready[1]);
	char c;
	ssize_t n;
	while ((n = read(ready[0], &c, 1)) < 0 && errno == EINTR)
		;
	close(ready[0]);
	ck_assert_msg(n == 1, "the console service did not start");
}

static void service_teardown(void)
{
	if (service_pid > 0) {
		kill(service_pid, SIGKILL);
		waitpid(service_pid, NULL, 0);
	}
	service_pid = -1;
	tc_tmpdir_teardown();
	tc_ctx_teardown();
}

static void service_setup(void)
{
	tc_ctx_setup();
	tc_tmpdir_setup();
}

static alb_client *connect_service(void)
{
	alb_client *c = NULL;
	ck_assert_alb_ok(test_ctx, alb_client_connect_unix(test_ctx, sock_path, &c));
	return c;
}

/* Console output as albatrossd relays it (NULL: none), bytes lost before it. */
struct output {
	const char *data;
	size_t len;
	uint64_t dropped;
};

static int request(alb_client *c, int kind, const char *nm, const struct alb_history *h,
		   const struct output *out, alb_msg **ret_reply, uint64_t *ret_seq)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	_cleanup_(alb_name_freep) alb_name *n = name(nm);
	ck_assert_alb_ok(test_ctx, alb_msg_new(&m, ALB_MSG_COMMAND, 0, n));
	m->cmd.kind = kind;
	if (h)
		m->cmd.history = *h;
	if (out) {
		m->cmd.time_us = alb_now_realtime();
		m->cmd.dropped = out->dropped;
		if (out->len) {
			m->cmd.output = malloc(out->len);
			ck_assert_ptr_nonnull(m->cmd.output);
			memcpy(m->cmd.output, out->data, out->len);
			m->cmd.output_len = (uint32_t)out->len;
		}
	}
	alb_msg *reply = NULL;
	int r = alb_client_request(c, m, &reply);
	if (ret_seq)
		*ret_seq = m->seq;
	if (ret_reply)
		*ret_reply = reply;
	else
		alb_msg_free(reply);
	return r;
}

/* A run of name begins, as albatrossd says it. */
static void run_begin(alb_client *d, const char *nm)
{
	ck_assert_alb_ok(test_ctx, request(d, ALB_CMD_CONSOLE_ADD, nm, NULL, NULL, NULL, NULL));
}

/* Output of name; each request is answered once the service has taken it. */
static void output(alb_client *d, const char *nm, const char *s)
{
	struct output o = {s, strlen(s), 0};
	ck_assert_alb_ok(test_ctx, request(d, ALB_CMD_CONSOLE_DATA, nm, NULL, &o, NULL, NULL));
}

static void run_end(alb_client *d, const char *nm)
{
	ck_assert_alb_ok(test_ctx, request(d, ALB_CMD_CONSOLE_END, nm, NULL, NULL, NULL, NULL));
}

/* Receives the next console line of seq into buf; 1 for the end of the stream. */
static int next_line(alb_client *c, uint64_t seq, char *buf, size_t size)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	int r = alb_client_receive(c, &m);
	if (r == ALB_CLIENT_END)
		return 1;
	ck_assert_alb_ok(test_ctx, r);
	ck_assert_uint_eq(m->seq, seq);
	if (m->kind == ALB_MSG_FAILURE) {
		snprintf(buf, size, "failure %u: %s", m->failure.code, m->failure.message);
		return 2;
	}
	ck_assert_int_eq(m->kind, ALB_MSG_DATA);
	ck_assert_int_eq(m->data.kind, ALB_DATA_CONSOLE);
	ck_assert_uint_lt(m->data.console.len, size);
	memcpy(buf, m->data.console.line, m->data.console.len);
	buf[m->data.console.len] = '\0';
	return m->data.console.dropped ? 3 : 0;
}

START_TEST(test_service_history_and_follow)
{
	struct alb_console_service_options o = {.inactive_max = UINT32_MAX};
	start_service(&o);
	_cleanup_(alb_client_freep) alb_client *d = connect_service(), *c = connect_service();
	run_begin(d, "vm");
	output(d, "vm", "one\ntwo\nthree\n");

	/* Without follow: the history, then the end; the connection goes on. */
	struct alb_history h = {.has_count = true, .count = 2};
	uint64_t seq;
	char buf[256];
	ck_assert_alb_ok(test_ctx,
			 request(c, ALB_CMD_CONSOLE_SUBSCRIBE, "vm", &h, NULL, NULL, &seq));
	ck_assert_int_eq(next_line(c, seq, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "two");
	ck_assert_int_eq(next_line(c, seq, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "three");
	ck_assert_int_eq(next_line(c, seq, buf, sizeof(buf)), 1);

	/* Bad requests are refused, and the service goes on. */
	h = (struct alb_history){.has_since = true, .since_us = alb_now_realtime() + 60000000};
	ck_assert_int_eq(request(c, ALB_CMD_CONSOLE_SUBSCRIBE, "vm", &h, NULL, NULL, NULL),
			 -EINVAL);
	ck_assert_last_error_has(test_ctx, "in the future");
	ck_assert_int_eq(request(c, ALB_CMD_CONSOLE_SUBSCRIBE, "p:", NULL, NULL, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(request(c, ALB_CMD_STATS_SUBSCRIBE, "vm", NULL, NULL, NULL, NULL),
			 -EOPNOTSUPP);
	ck_assert_int_eq(request(c, ALB_CMD_CONSOLE_ADD, "p:", NULL, NULL, NULL, NULL), -EINVAL);
	ck_assert_last_error_has(test_ctx, "not a path");
	ck_assert_int_eq(request(c, ALB_CMD_CONSOLE_LIST_INACTIVE, "vm", NULL, NULL, NULL, NULL),
			 -ENOENT);

	/* Follow, subscribed before the unikernel "later" starts. */
	h = (struct alb_history){.follow = true};
	ck_assert_alb_ok(test_ctx,
			 request(c, ALB_CMD_CONSOLE_SUBSCRIBE, "later", &h, NULL, NULL, &seq));
	run_begin(d, "later");
	output(d, "later", "hello\n");
	ck_assert_int_eq(next_line(c, seq, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "hello");
	output(d, "later", "partial");
	run_end(d, "later"); /* the tender exits: the partial line completes, inactive */
	ck_assert_int_eq(next_line(c, seq, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "partial");

	_cleanup_(alb_msg_freep) alb_msg *reply = NULL;
	ck_assert_alb_ok(test_ctx,
			 request(d, ALB_CMD_CONSOLE_LIST_INACTIVE, ":", NULL, NULL, &reply, NULL));
	ck_assert_int_eq(reply->reply.kind, ALB_REPLY_NAMES);
	ck_assert_uint_eq(reply->reply.n_names, 1);
	ck_assert_str_eq(alb_name_label(reply->reply.names[0]), "later");
}
END_TEST

START_TEST(test_service_subscriber_bound)
{
	struct alb_console_service_options o = {.inactive_max = UINT32_MAX, .subscribers = 2};
	start_service(&o);
	_cleanup_(alb_client_freep) alb_client *d = connect_service();
	alb_client *subs[3];
	uint64_t seqs[3];
	struct alb_history h = {.follow = true};
	char buf[256];
	run_begin(d, "vm");
	for (int i = 0; i < 3; i++) {
		subs[i] = connect_service();
		ck_assert_alb_ok(test_ctx, request(subs[i], ALB_CMD_CONSOLE_SUBSCRIBE, "vm", &h,
						   NULL, NULL, &seqs[i]));
	}
	/* The oldest was told, then closed. */
	ck_assert_int_eq(next_line(subs[0], seqs[0], buf, sizeof(buf)), 2);
	ck_assert_msg(strstr(buf, "failure 87") && strstr(buf, "newer subscriber"), "%s", buf);
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	ck_assert_int_eq(alb_client_receive(subs[0], &m), -EPIPE);
	output(d, "vm", "x\n");
	for (int i = 1; i < 3; i++) {
		ck_assert_int_eq(next_line(subs[i], seqs[i], buf, sizeof(buf)), 0);
		ck_assert_str_eq(buf, "x");
	}
	for (int i = 0; i < 3; i++)
		alb_client_free(subs[i]);
}
END_TEST

START_TEST(test_service_slow_subscriber)
{
	struct alb_console_service_options o = {.inactive_max = UINT32_MAX, .queue_max = 64 << 10};
	start_service(&o);
	_cleanup_(alb_client_freep) alb_client *d = connect_service(), *c = connect_service();
	struct alb_history h = {.follow = true};
	uint64_t seq;
	char chunk[100 * 100 + 1], buf[256];
	run_begin(d, "vm");
	ck_assert_alb_ok(test_ctx,
			 request(c, ALB_CMD_CONSOLE_SUBSCRIBE, "vm", &h, NULL, NULL, &seq));
	for (int i = 0; i < 100; i++) {
		memset(chunk + 100 * i, 'x', 99);
		chunk[100 * i + 99] = '\n';
	}
	chunk[sizeof(chunk) - 1] = '\0';
	/* Far more than the socket and the queue hold, while c reads nothing (each
	 * request returns when the service has queued its lines). */
	for (int i = 0; i < 400; i++)
		output(d, "vm", chunk);
	int r;
	unsigned lines = 0;
	while ((r = next_line(c, seq, buf, sizeof(buf))) == 0)
		lines++;
	ck_assert_int_eq(r, 2);
	ck_assert_msg(strstr(buf, "failure 105") && strstr(buf, "unread"), "%s", buf);
	ck_assert_uint_lt(lines, 40000);
}
END_TEST

START_TEST(test_service_relayed_output)
{
	struct alb_console_service_options o = {.inactive_max = UINT32_MAX};
	start_service(&o);
	_cleanup_(alb_client_freep) alb_client *d = connect_service(), *c = connect_service();
	char buf[256];
	uint64_t seq;
	/* Output of a run whose beginning this service missed (it restarted): kept. */
	output(d, "vm", "first\nhalf");
	/* Bytes lost in the middle of a line: the half line is kept, then the note. */
	struct output lost = {" rest\nnext\n", 11, 12345};
	ck_assert_alb_ok(test_ctx, request(d, ALB_CMD_CONSOLE_DATA, "vm", NULL, &lost, NULL, NULL));
	/* Lost at the very end of the run. */
	struct output tail = {NULL, 0, 1};
	ck_assert_alb_ok(test_ctx, request(d, ALB_CMD_CONSOLE_END, "vm", NULL, &tail, NULL, NULL));
	struct alb_history h = {.has_count = true, .count = 100};
	ck_assert_alb_ok(test_ctx,
			 request(c, ALB_CMD_CONSOLE_SUBSCRIBE, "vm", &h, NULL, NULL, &seq));
	ck_assert_int_eq(next_line(c, seq, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "first");
	ck_assert_int_eq(next_line(c, seq, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "half");
	ck_assert_int_eq(next_line(c, seq, buf, sizeof(buf)), 3);
	ck_assert_str_eq(buf, "12345 bytes of console output lost here");
	ck_assert_int_eq(next_line(c, seq, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, " rest");
	ck_assert_int_eq(next_line(c, seq, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "next");
	ck_assert_int_eq(next_line(c, seq, buf, sizeof(buf)), 3);
	ck_assert_str_eq(buf, "1 byte of console output lost here");
	ck_assert_int_eq(next_line(c, seq, buf, sizeof(buf)), 1);
	/* The run ended: inactive. The end of a name never seen changes nothing. */
	_cleanup_(alb_msg_freep) alb_msg *reply = NULL;
	ck_assert_alb_ok(test_ctx,
			 request(d, ALB_CMD_CONSOLE_LIST_INACTIVE, "vm", NULL, NULL, &reply, NULL));
	ck_assert_uint_eq(reply->reply.n_names, 1);
	run_end(d, "never");
	ck_assert_int_eq(request(c, ALB_CMD_CONSOLE_SUBSCRIBE, "never", NULL, NULL, NULL, NULL),
			 -ENOENT);
	/* A begin of a run that is on changes nothing: a line begun goes on. */
	run_begin(d, "on");
	output(d, "on", "a");
	run_begin(d, "on");
	output(d, "on", "b\n");
	h = (struct alb_history){.has_count = true, .count = 10};
	ck_assert_alb_ok(test_ctx,
			 request(c, ALB_CMD_CONSOLE_SUBSCRIBE, "on", &h, NULL, NULL, &seq));
	ck_assert_int_eq(next_line(c, seq, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "ab");
	ck_assert_int_eq(next_line(c, seq, buf, sizeof(buf)), 1);
}
END_TEST

static Suite *console_suite(void)
{
	Suite *s = suite_create("console");
	TCase *tc = tcase_create("ring");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_ring_wraparound);
	tcase_add_test(tc, test_split_and_truncate);
	tcase_add_test(tc, test_bytes_kept);
	tcase_add_test(tc, test_since);
	tcase_add_test(tc, test_inactive_bound);
	tcase_add_test(tc, test_remove_and_many);
	suite_add_tcase(s, tc);
	tc = tcase_create("service");
	tcase_add_checked_fixture(tc, service_setup, service_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_service_history_and_follow);
	tcase_add_test(tc, test_service_subscriber_bound);
	tcase_add_test(tc, test_service_slow_subscriber);
	tcase_add_test(tc, test_service_relayed_output);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(console_suite());
}
