/* SPDX-License-Identifier: ISC */
/*
 * The framed server's bounds (libalbatross/server-private.h), on a real loop
 * with real Unix sockets: the largest frame accepted, malformed frames, the
 * bytes queued for output per connection, the number of connections, and
 * what happens around them (pause, end of file with frames buffered).
 */
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "test-common.h"

#include "frame-private.h"
#include "server-private.h"

static alb_loop *loop;
static struct alb_server *server;
static char sock_path[4200];
static struct alb_conn *last_conn; /* the connection of the last message */
static unsigned messages, ends, closes;
static bool pause_on_message;
static uint64_t order[1024]; /* the seqs of the messages, as they were handled */

static int on_message(struct alb_conn *conn, alb_msg *msg, void *userdata)
{
	_cleanup_(alb_msg_freep) alb_msg *m = msg; /* taken */
	(void)m;
	last_conn = conn;
	if (!msg) {
		ends++;
		return 0;
	}
	if (messages < sizeof(order) / sizeof(order[0]))
		order[messages] = msg->seq;
	messages++;
	if (pause_on_message)
		alb_conn_pause(conn, true);
	/* Every command is answered with its seq. */
	return alb_conn_send_ok(conn, msg->seq, msg->name, NULL);
}

static void on_close(struct alb_conn *conn, void *userdata)
{
	closes++;
	if (conn == last_conn)
		last_conn = NULL;
}

static const struct alb_server_ops ops = {.on_message = on_message, .on_close = on_close};

/* Collects the server's log messages. */
static char logged[8192];

static void log_fn(alb_ctx *ctx, int priority, const char *message, void *userdata)
{
	size_t n = strlen(logged);
	snprintf(logged + n, sizeof(logged) - n, "%s\n", message);
}

static void setup_bound(uint64_t frame_max)
{
	ck_assert_alb_ok(test_ctx, alb_loop_new(test_ctx, &loop));
	ck_assert_alb_ok(test_ctx, alb_server_new(test_ctx, loop, &ops, NULL, frame_max, &server));
	ck_assert_alb_ok(test_ctx, alb_server_listen_unix(server, sock_path, 0600, (gid_t)-1));
}

static void setup(void)
{
	tc_ctx_setup();
	tc_tmpdir_setup();
	alb_ctx_set_log_fn(test_ctx, log_fn, NULL);
	alb_ctx_set_log_priority(test_ctx, ALB_LOG_DEBUG);
	logged[0] = '\0';
	snprintf(sock_path, sizeof(sock_path), "%s/server.sock", test_tmpdir);
	messages = ends = closes = 0;
	pause_on_message = false;
	last_conn = NULL;
}

static void teardown(void)
{
	server = alb_server_free(server);
	loop = alb_loop_unref(loop);
	tc_tmpdir_teardown();
	tc_ctx_teardown();
}

static int connect_client(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	ck_assert_uint_lt(strlen(sock_path), sizeof(sa.sun_path));
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Runs the loop until cond holds, for at most 10 s. */
#define RUN_UNTIL(cond)                                                                            \
	do {                                                                                       \
		uint64_t _deadline = alb_now_monotonic() + 10000000;                               \
		while (!(cond)) {                                                                  \
			ck_assert_msg(alb_now_monotonic() < _deadline, "timed out: %s", #cond);    \
			ck_assert_int_ge(alb_loop_run_once(loop, 50), 0);                          \
		}                                                                                  \
	} while (0)

static bool readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) > 0;
}

/* The encoded command unikernel-info of seq on the root. */
static uint8_t *info_cmd(uint64_t seq, uint64_t *ret_len)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	_cleanup_(alb_name_freep) alb_name *root = NULL;
	uint8_t *buf = NULL;
	ck_assert_int_eq(alb_name_new_root(&root), 0);
	ck_assert_int_eq(alb_msg_new(&m, ALB_MSG_COMMAND, seq, root), 0);
	m->cmd.kind = ALB_CMD_UNIKERNEL_INFO;
	ck_assert_alb_ok(test_ctx, alb_msg_encode(test_ctx, m, &buf, ret_len));
	return buf;
}

static void send_info(int fd, uint64_t seq)
{
	uint64_t len;
	_cleanup_free_ uint8_t *buf = info_cmd(seq, &len);
	ck_assert_alb_ok(test_ctx, alb_frame_write(test_ctx, fd, buf, len));
}

/* Reads one message from fd (the loop has written it), or NULL at the end. */
static alb_msg *read_msg(int fd)
{
	uint8_t *buf = NULL;
	uint64_t len;
	alb_msg *m = NULL;
	RUN_UNTIL(readable(fd));
	int r = alb_frame_read(test_ctx, fd, 0, &buf, &len);
	if (r == -EPIPE)
		return NULL;
	ck_assert_alb_ok(test_ctx, r);
	ck_assert_ptr_nonnull(buf);
	ck_assert_alb_ok(test_ctx, alb_msg_decode(test_ctx, buf, len, &m));
	free(buf);
	return m;
}

/* The connection is closed by the server: end of file, after what it sent. */
static void assert_closed(int fd)
{
	char c;
	RUN_UNTIL(readable(fd));
	ck_assert_int_eq(read(fd, &c, 1), 0);
}

START_TEST(test_serves)
{
	setup_bound(0);
	int fd = connect_client();
	send_info(fd, 7);
	_cleanup_(alb_msg_freep) alb_msg *reply = read_msg(fd);
	ck_assert_int_eq(reply->kind, ALB_MSG_SUCCESS);
	ck_assert_uint_eq(reply->seq, 7);
	ck_assert_uint_eq(alb_server_conn_count(server), 1);
	ck_assert_uint_eq(alb_conn_peer_uid(last_conn), getuid());
	/* An end-of-stream frame reaches the callee as NULL. */
	ck_assert_alb_ok(test_ctx, alb_frame_write(test_ctx, fd, NULL, 0));
	RUN_UNTIL(ends == 1);
	close(fd);
	RUN_UNTIL(alb_server_conn_count(server) == 0);
	ck_assert_uint_eq(closes, 1);
}
END_TEST

/* A frame over the bound is refused at its header (EMSGSIZE), and the connection
 * closes; a frame of exactly the bound is read. */
START_TEST(test_frame_max)
{
	uint64_t len;
	free(info_cmd(1, &len)); /* its length is the bound */
	setup_bound(len);

	int fd = connect_client();
	send_info(fd, 1);
	_cleanup_(alb_msg_freep) alb_msg *ok = read_msg(fd);
	ck_assert_int_eq(ok->kind, ALB_MSG_SUCCESS);

	/* Only the header of one byte more: refused without waiting for the payload. */
	uint8_t h[ALB_FRAME_HEADER_SIZE];
	alb_frame_header_put(h, (uint32_t)len + 1);
	ck_assert_int_eq(write(fd, h, sizeof(h)), (ssize_t)sizeof(h));
	_cleanup_(alb_msg_freep) alb_msg *failure = read_msg(fd);
	ck_assert_int_eq(failure->kind, ALB_MSG_FAILURE);
	ck_assert_uint_eq(failure->seq, 0);
	ck_assert_uint_eq(failure->failure.code, EMSGSIZE);
	char want[128];
	snprintf(want, sizeof(want), "frame of %u bytes exceeds the bound %u", (unsigned)len + 1,
		 (unsigned)len);
	ck_assert_str_eq(failure->failure.message, want);
	assert_closed(fd);
	ck_assert_uint_eq(messages, 1);
	close(fd);
	RUN_UNTIL(alb_server_conn_count(server) == 0);
}
END_TEST

/* A frame within the bound that is not a message: a failure, then the close. */
START_TEST(test_malformed)
{
	setup_bound(0);
	int fd = connect_client();
	ck_assert_alb_ok(test_ctx, alb_frame_write(test_ctx, fd, (const uint8_t *)"\xff\xff", 2));
	send_info(fd, 2); /* after the bad frame: never handled */
	_cleanup_(alb_msg_freep) alb_msg *failure = read_msg(fd);
	ck_assert_int_eq(failure->kind, ALB_MSG_FAILURE);
	ck_assert_uint_eq(failure->seq, 0);
	ck_assert_ptr_nonnull(strstr(failure->failure.message, "malformed message"));
	assert_closed(fd);
	ck_assert_uint_eq(messages, 0);
	close(fd);
}
END_TEST

/* The bytes queued for a connection that does not read: ALB_SERVER_QUEUE_MAX, then
 * -ENOBUFS with the queue as it was; the connection still works. */
START_TEST(test_queue_max)
{
	setup_bound(0);
	int fd = connect_client();
	send_info(fd, 1);
	RUN_UNTIL(messages == 1 && last_conn);
	struct alb_conn *conn = alb_conn_ref(last_conn);

	_cleanup_(alb_msg_freep) alb_msg *chunk = NULL;
	_cleanup_(alb_name_freep) alb_name *root = NULL;
	_cleanup_free_ uint8_t *data = calloc(1, ALB_CHUNK_MAX);
	uint8_t *enc = NULL;
	uint64_t enc_len;
	ck_assert_ptr_nonnull(data);
	ck_assert_int_eq(alb_name_new_root(&root), 0);
	ck_assert_int_eq(alb_msg_new(&chunk, ALB_MSG_DATA, 1, root), 0);
	chunk->data.kind = ALB_DATA_CHUNK;
	chunk->data.chunk = data;
	chunk->data.chunk_len = ALB_CHUNK_MAX;
	ck_assert_alb_ok(test_ctx, alb_msg_encode(test_ctx, chunk, &enc, &enc_len));
	free(enc);
	const uint64_t frame = ALB_FRAME_HEADER_SIZE + enc_len;

	/* Without running the loop nothing is written: everything stays queued. */
	uint64_t queued = alb_conn_queued(conn);
	unsigned sent = 0;
	int r;
	while ((r = alb_conn_send(conn, chunk)) == 0) {
		queued += frame;
		sent++;
		ck_assert_uint_eq(alb_conn_queued(conn), queued);
		ck_assert_uint_le(queued, ALB_SERVER_QUEUE_MAX);
	}
	ck_assert_int_eq(r, -ENOBUFS);
	ck_assert_uint_eq(alb_conn_queued(conn), queued);
	ck_assert_uint_gt(queued + frame, ALB_SERVER_QUEUE_MAX);
	ck_assert_uint_eq(sent, (ALB_SERVER_QUEUE_MAX - (queued - sent * frame)) / frame);
	/* A smaller frame that fits is still taken. */
	if (queued + ALB_FRAME_HEADER_SIZE <= ALB_SERVER_QUEUE_MAX)
		ck_assert_int_eq(alb_conn_send_end(conn), 0);
	chunk->data.chunk = NULL; /* borrowed */
	alb_conn_unref(conn);
	close(fd);
}
END_TEST

/* ALB_SERVER_CONNS_MAX connections at once: one more takes the slot of the idlest
 * connection of the uid that holds the most (here every one is ours: the least recently
 * active), which gets a failure naming the bound; the others are served. */
START_TEST(test_conns_max)
{
	static int fds[ALB_SERVER_CONNS_MAX];
	setup_bound(0);
	for (unsigned i = 0; i < ALB_SERVER_CONNS_MAX; i++) {
		fds[i] = connect_client();
		RUN_UNTIL(alb_server_conn_count(server) == i + 1);
	}
	/* fds[0] is active now: fds[1] is the idlest. */
	send_info(fds[0], 3);
	_cleanup_(alb_msg_freep) alb_msg *reply = read_msg(fds[0]);
	ck_assert_uint_eq(reply->seq, 3);
	int extra = connect_client();
	_cleanup_(alb_msg_freep) alb_msg *gone = read_msg(fds[1]);
	ck_assert_int_eq(gone->kind, ALB_MSG_FAILURE);
	ck_assert_uint_eq(gone->failure.code, EUSERS);
	char want[160];
	snprintf(want, sizeof(want),
		 "closed to make room: %u connections are open (the bound), uid %u holds %u",
		 ALB_SERVER_CONNS_MAX, (unsigned)getuid(), ALB_SERVER_CONNS_MAX);
	ck_assert_msg(strstr(gone->failure.message, want), "%s", gone->failure.message);
	assert_closed(fds[1]);
	close(fds[1]);
	fds[1] = extra;
	ck_assert_uint_eq(alb_server_conn_count(server), ALB_SERVER_CONNS_MAX);
	ck_assert_ptr_nonnull(strstr(logged, "Closing a connection of uid"));
	/* The newcomer and the others are served. */
	send_info(extra, 4);
	_cleanup_(alb_msg_freep) alb_msg *again = read_msg(extra);
	ck_assert_uint_eq(again->seq, 4);
	send_info(fds[0], 5);
	_cleanup_(alb_msg_freep) alb_msg *first = read_msg(fds[0]);
	ck_assert_uint_eq(first->seq, 5);
	for (unsigned i = 0; i < ALB_SERVER_CONNS_MAX; i++)
		close(fds[i]);
	RUN_UNTIL(alb_server_conn_count(server) == 0);
}
END_TEST

static void set_limits(uint64_t conns_max, uint64_t idle_ms, uint64_t min_rate)
{
	struct alb_server_limits l = {
	    .conns_max = conns_max, .idle_ms = idle_ms, .min_rate = min_rate};
	alb_server_set_limits(server, &l);
}

/* Every slot runs a command: the newcomer is refused, with the bound in the failure. A
 * connection whose command runs is never taken. */
START_TEST(test_conns_all_busy)
{
	int fds[3];
	setup_bound(0);
	set_limits(3, 0, 0);
	pause_on_message = true;
	for (unsigned i = 0; i < 3; i++) {
		fds[i] = connect_client();
		send_info(fds[i], i + 1);
		RUN_UNTIL(messages == i + 1);
	}
	int extra = connect_client();
	_cleanup_(alb_msg_freep) alb_msg *refused = read_msg(extra);
	ck_assert_int_eq(refused->kind, ALB_MSG_FAILURE);
	ck_assert_uint_eq(refused->failure.code, EUSERS);
	ck_assert_str_eq(refused->failure.message,
			 "refused: 3 connections are open (the bound) and each runs a command; "
			 "try again");
	assert_closed(extra);
	close(extra);
	ck_assert_uint_eq(alb_server_conn_count(server), 3);
	for (unsigned i = 0; i < 3; i++)
		close(fds[i]);
}
END_TEST

/* A connection with nothing under way is closed after the idle timeout, with a failure
 * saying so; a subscription (streaming) is not, nor one whose command runs. */
START_TEST(test_idle_timeout)
{
	setup_bound(0);
	int stream = connect_client();
	send_info(stream, 1);
	RUN_UNTIL(messages == 1 && last_conn);
	alb_conn_set_streaming(last_conn, true);
	_cleanup_(alb_msg_freep) alb_msg *ok = read_msg(stream);
	ck_assert_int_eq(ok->kind, ALB_MSG_SUCCESS);
	pause_on_message = true;
	int busy = connect_client();
	send_info(busy, 2);
	RUN_UNTIL(messages == 2 && last_conn);
	struct alb_conn *busy_conn = alb_conn_ref(last_conn);
	/* The bound from now on (the two above are set up, however slowly). */
	set_limits(ALB_SERVER_CONNS_MAX, 200, 0);
	int idle = connect_client();

	_cleanup_(alb_msg_freep) alb_msg *gone = read_msg(idle);
	ck_assert_int_eq(gone->kind, ALB_MSG_FAILURE);
	ck_assert_uint_eq(gone->failure.code, ETIMEDOUT);
	ck_assert_str_eq(gone->failure.message, "closed: idle for 200 ms");
	assert_closed(idle);
	close(idle);
	/* Ten timeouts later, the other two are still there. */
	uint64_t until = alb_now_monotonic() + 2000000;
	while (alb_now_monotonic() < until)
		ck_assert_int_ge(alb_loop_run_once(loop, 50), 0);
	ck_assert_uint_eq(alb_server_conn_count(server), 2);
	ck_assert(!alb_conn_is_closed(busy_conn));
	/* Its command done, the busy one is idle from then on. */
	alb_conn_pause(busy_conn, false);
	_cleanup_(alb_msg_freep) alb_msg *reply = read_msg(busy);
	ck_assert_uint_eq(reply->seq, 2);
	_cleanup_(alb_msg_freep) alb_msg *later = read_msg(busy);
	ck_assert_str_eq(later->failure.message, "closed: idle for 200 ms");
	alb_conn_unref(busy_conn);
	close(busy);
	close(stream);
}
END_TEST

/* A message that trickles in below the minimum rate is cut off with a failure naming the
 * rate; one that keeps it goes through. */
START_TEST(test_trickle)
{
	setup_bound(0);
	set_limits(ALB_SERVER_CONNS_MAX, 300, 1000); /* 300 bytes in each 300 ms */
	int fd = connect_client();
	uint64_t len;
	_cleanup_free_ uint8_t *cmd = info_cmd(1, &len);
	uint8_t h[ALB_FRAME_HEADER_SIZE];
	alb_frame_header_put(h, (uint32_t)len);
	ck_assert_int_eq(write(fd, h, sizeof(h)), (ssize_t)sizeof(h));
	ck_assert_int_eq(write(fd, cmd, 1), 1); /* then nothing */
	_cleanup_(alb_msg_freep) alb_msg *gone = read_msg(fd);
	ck_assert_int_eq(gone->kind, ALB_MSG_FAILURE);
	ck_assert_uint_eq(gone->failure.code, ETIMEDOUT);
	ck_assert_msg(strstr(gone->failure.message, "of a message, 300 at least are expected (1000 "
						    "bytes/s)"),
		      "%s", gone->failure.message);
	assert_closed(fd);
	close(fd);
	ck_assert_uint_eq(messages, 0);
}
END_TEST

/* A reader that reads nothing of what waits for it is closed after the idle timeout, even
 * while its command runs (a download). */
START_TEST(test_stalled_reader)
{
	setup_bound(0);
	int fd = connect_client();
	pause_on_message = true;
	send_info(fd, 1);
	RUN_UNTIL(messages == 1 && last_conn);
	struct alb_conn *conn = alb_conn_ref(last_conn);
	set_limits(ALB_SERVER_CONNS_MAX, 200, 0);
	/* More than the socket takes: output waits, unread. */
	_cleanup_free_ uint8_t *big = calloc(1, 1 << 20);
	ck_assert_ptr_nonnull(big);
	_cleanup_(alb_msg_freep) alb_msg *chunk = NULL;
	_cleanup_(alb_name_freep) alb_name *root = NULL;
	ck_assert_int_eq(alb_name_new_root(&root), 0);
	ck_assert_int_eq(alb_msg_new(&chunk, ALB_MSG_DATA, 1, root), 0);
	chunk->data.kind = ALB_DATA_CHUNK;
	chunk->data.chunk = big;
	chunk->data.chunk_len = ALB_CHUNK_MAX;
	for (int i = 0; i < 16; i++)
		ck_assert_int_eq(alb_conn_send(conn, chunk), 0);
	chunk->data.chunk = NULL;
	RUN_UNTIL(alb_conn_is_closed(conn));
	ck_assert_ptr_nonnull(strstr(logged, "it read nothing of its"));
	alb_conn_unref(conn);
	close(fd);
}
END_TEST

/* An upload whose next frame does not come within the slow bound (a chunk at the minimum
 * rate) is cut off, saying so. */
START_TEST(test_upload_gap)
{
	setup_bound(0);
	int fd = connect_client();
	send_info(fd, 1);
	RUN_UNTIL(messages == 1 && last_conn);
	_cleanup_(alb_msg_freep) alb_msg *ok = read_msg(fd);
	ck_assert_int_eq(ok->kind, ALB_MSG_SUCCESS);
	alb_conn_set_receiving(last_conn, true);
	set_limits(ALB_SERVER_CONNS_MAX, 100, 4u << 20); /* a chunk of 1 MiB in 250 ms */
	_cleanup_(alb_msg_freep) alb_msg *gone = read_msg(fd);
	ck_assert_int_eq(gone->kind, ALB_MSG_FAILURE);
	ck_assert_uint_eq(gone->failure.code, ETIMEDOUT);
	ck_assert_msg(strstr(gone->failure.message, "closed: no data of the upload for"), "%s",
		      gone->failure.message);
	assert_closed(fd);
	close(fd);
}
END_TEST

/* A client that sends many frames and closes while they are handled a burst at a time: every
 * one is answered before the close. */
START_TEST(test_burst_then_eof)
{
	setup_bound(0);
	int a = connect_client();
	uint64_t len;
	_cleanup_free_ uint8_t *cmd = info_cmd(1, &len);
	size_t n = 4 * ALB_SERVER_BURST + 5, one = ALB_FRAME_HEADER_SIZE + len;
	_cleanup_free_ uint8_t *burst = malloc(n * one);
	ck_assert_ptr_nonnull(burst);
	for (size_t i = 0; i < n; i++) {
		alb_frame_header_put(burst + i * one, (uint32_t)len);
		memcpy(burst + i * one + ALB_FRAME_HEADER_SIZE, cmd, len);
	}
	/* The first command pauses the connection; the rest wait, then the peer closes. */
	pause_on_message = true;
	ck_assert_int_eq(write(a, burst, one), (ssize_t)one);
	RUN_UNTIL(messages == 1 && last_conn);
	struct alb_conn *conn = alb_conn_ref(last_conn);
	pause_on_message = false;
	ck_assert_int_eq(write(a, burst + one, (n - 1) * one), (ssize_t)((n - 1) * one));
	ck_assert_int_eq(shutdown(a, SHUT_WR), 0);
	alb_conn_pause(conn, false);
	alb_conn_unref(conn);
	for (size_t i = 0; i < n; i++) {
		_cleanup_(alb_msg_freep) alb_msg *r = read_msg(a);
		ck_assert_ptr_nonnull(r);
		ck_assert_uint_eq(r->seq, 1);
	}
	RUN_UNTIL(alb_server_conn_count(server) == 0);
	ck_assert_uint_eq(messages, n);
	close(a);
}
END_TEST

/* One connection's burst of frames does not hold up another's: the other's command is
 * answered before the burst is done. */
START_TEST(test_burst_yields)
{
	setup_bound(0);
	int a = connect_client(), b = connect_client();
	uint64_t len;
	_cleanup_free_ uint8_t *cmd = info_cmd(1, &len);
	size_t n = 4 * ALB_SERVER_BURST, one = ALB_FRAME_HEADER_SIZE + len;
	_cleanup_free_ uint8_t *burst = malloc(n * one);
	ck_assert_ptr_nonnull(burst);
	for (size_t i = 0; i < n; i++) {
		alb_frame_header_put(burst + i * one, (uint32_t)len);
		memcpy(burst + i * one + ALB_FRAME_HEADER_SIZE, cmd, len);
	}
	ck_assert_int_eq(write(a, burst, n * one), (ssize_t)(n * one));
	send_info(b, 2);
	/* Both are readable to the loop in one turn: b's command is handled after at most one
	 * burst of a's, not after all of them. */
	RUN_UNTIL(messages == n + 1);
	size_t at = 0;
	while (order[at] != 2)
		at++;
	ck_assert_uint_le(at, ALB_SERVER_BURST);
	_cleanup_(alb_msg_freep) alb_msg *rb = read_msg(b);
	ck_assert_uint_eq(rb->seq, 2);
	for (size_t i = 0; i < n; i++) { /* all of a's are answered */
		_cleanup_(alb_msg_freep) alb_msg *ra = read_msg(a);
		ck_assert_uint_eq(ra->seq, 1);
	}
	close(a);
	close(b);
}
END_TEST

/* A paused connection reads no further frame; resumed, it handles what waited. The
 * peer closing with frames buffered: they are answered first, then the close. */
START_TEST(test_pause_and_eof)
{
	setup_bound(0);
	int fd = connect_client();
	pause_on_message = true;
	send_info(fd, 1);
	send_info(fd, 2);
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	RUN_UNTIL(messages == 1);
	for (int i = 0; i < 5; i++)
		ck_assert_int_ge(alb_loop_run_once(loop, 20), 0);
	ck_assert_uint_eq(messages, 1);
	ck_assert_uint_eq(alb_server_conn_count(server), 1);
	pause_on_message = false;
	alb_conn_pause(last_conn, false);
	RUN_UNTIL(messages == 2);
	_cleanup_(alb_msg_freep) alb_msg *r1 = read_msg(fd);
	_cleanup_(alb_msg_freep) alb_msg *r2 = read_msg(fd);
	ck_assert_uint_eq(r1->seq, 1);
	ck_assert_uint_eq(r2->seq, 2);
	/* Everything answered, the peer gone: closed by the server. */
	assert_closed(fd);
	RUN_UNTIL(alb_server_conn_count(server) == 0);
	ck_assert_uint_eq(closes, 1);
	close(fd);
}
END_TEST

/* Freeing the server closes every connection, each on_close once. */
START_TEST(test_free_closes)
{
	setup_bound(0);
	int a = connect_client(), b = connect_client();
	RUN_UNTIL(alb_server_conn_count(server) == 2);
	server = alb_server_free(server);
	ck_assert_uint_eq(closes, 2);
	char c;
	ck_assert_int_eq(read(a, &c, 1), 0);
	ck_assert_int_eq(read(b, &c, 1), 0);
	close(a);
	close(b);
}
END_TEST

static Suite *server_suite(void)
{
	Suite *s = suite_create("server");
	TCase *tc = tcase_create("bounds");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_serves);
	tcase_add_test(tc, test_frame_max);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_queue_max);
	tcase_add_test(tc, test_conns_max);
	tcase_add_test(tc, test_conns_all_busy);
	tcase_add_test(tc, test_idle_timeout);
	tcase_add_test(tc, test_trickle);
	tcase_add_test(tc, test_stalled_reader);
	tcase_add_test(tc, test_burst_yields);
	tcase_add_test(tc, test_upload_gap);
	tcase_add_test(tc, test_burst_then_eof);
	tcase_add_test(tc, test_pause_and_eof);
	tcase_add_test(tc, test_free_closes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(server_suite());
}
