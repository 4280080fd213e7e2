/* SPDX-License-Identifier: ISC */
/*
 * The client module against a peer that speaks the protocol: a forked child
 * on the other end of a socketpair (or of a Unix socket), which checks every
 * frame that it receives and exits non-zero (with a message on stderr) when
 * something is not as expected.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "test-common.h"

#include "client-private.h"
#include "frame-private.h"
#include "wire-private.h"

/* ---- the peer ------------------------------------------------------------ */

static alb_ctx *peer_ctx;

#define PEER_ASSERT(cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "peer: %s:%d: %s failed (last error: %s)\n", __FILE__,     \
				__LINE__, #cond, alb_ctx_last_error(peer_ctx));                    \
			_exit(1);                                                                  \
		}                                                                                  \
	} while (0)

/* Receives one frame: a message, or NULL for an end-of-stream frame. */
static alb_msg *peer_recv(int fd)
{
	uint8_t *buf = NULL;
	uint64_t len;
	alb_msg *msg = NULL;

	PEER_ASSERT(alb_frame_read(peer_ctx, fd, 0, &buf, &len) == 0);
	if (len == 0)
		return NULL;
	PEER_ASSERT(alb_msg_decode(peer_ctx, buf, len, &msg) == 0);
	alb_free(buf);
	return msg;
}

static alb_msg *peer_recv_command(int fd, int command, uint64_t seq, const char *name)
{
	alb_msg *msg = peer_recv(fd);
	char *s;

	PEER_ASSERT(msg);
	PEER_ASSERT(msg->kind == ALB_MSG_COMMAND);
	PEER_ASSERT(msg->cmd.kind == command);
	PEER_ASSERT(msg->seq == seq);
	s = alb_name_to_string(msg->name);
	PEER_ASSERT(s && streq(s, name));
	alb_free(s);
	return msg;
}

/* Sends msg (freed). */
static void peer_send(int fd, alb_msg *msg)
{
	uint8_t *buf = NULL;
	uint64_t len;

	PEER_ASSERT(alb_msg_encode(peer_ctx, msg, &buf, &len) == 0);
	PEER_ASSERT(alb_frame_write(peer_ctx, fd, buf, len) == 0);
	alb_free(buf);
	alb_msg_free(msg);
}

static alb_msg *reply_to(const alb_msg *cmd, int kind)
{
	alb_msg *msg = NULL;

	PEER_ASSERT(alb_msg_new(&msg, ALB_MSG_SUCCESS, cmd->seq, cmd->name) == 0);
	msg->reply.kind = kind;
	return msg;
}

static alb_msg *failure_to(const alb_msg *cmd, uint32_t code, const char *message)
{
	alb_msg *msg = NULL;

	PEER_ASSERT(alb_msg_new(&msg, ALB_MSG_FAILURE, cmd->seq, cmd->name) == 0);
	msg->failure.code = code;
	msg->failure.message = strdup(message);
	return msg;
}

static void peer_send_chunk(int fd, uint64_t seq, const alb_name *name, const uint8_t *buf,
			    size_t len)
{
	alb_msg *msg = NULL;

	PEER_ASSERT(alb_msg_new(&msg, ALB_MSG_DATA, seq, name) == 0);
	msg->data.kind = ALB_DATA_CHUNK;
	msg->data.chunk = malloc(len);
	PEER_ASSERT(msg->data.chunk);
	memcpy(msg->data.chunk, buf, len);
	msg->data.chunk_len = (uint32_t)len;
	peer_send(fd, msg);
}

static void peer_write_raw(int fd, const void *buf, size_t len)
{
	PEER_ASSERT(alb_write_full(fd, buf, len) == 0);
}

typedef void (*peer_fn)(int fd);

/* Runs fn in a child on one end of a socketpair; the other end is the client's. */
static pid_t spawn_peer(peer_fn fn, int *ret_fd)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(sv[0]);
		if (alb_ctx_new(&peer_ctx) < 0)
			_exit(3);
		fn(sv[1]);
		close(sv[1]);
		_exit(0);
	}
	close(sv[1]);
	*ret_fd = sv[0];
	return pid;
}

static void wait_peer(pid_t pid)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the peer failed (status 0x%x), see its message above", status);
}

static alb_client *client_on(int fd)
{
	alb_client *client = NULL;

	ck_assert_alb_ok(test_ctx, alb_client_new_fd(test_ctx, fd, &client));
	return client;
}

static alb_name *N(const char *s)
{
	alb_name *name = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, s, &name));
	return name;
}

static alb_msg *command(int kind, const char *name)
{
	alb_msg *msg = NULL;
	alb_name *n = N(name);

	ck_assert_alb_ok(test_ctx, alb_msg_new(&msg, ALB_MSG_COMMAND, 0, n));
	alb_name_free(n);
	msg->cmd.kind = kind;
	return msg;
}

/* Test data: byte i of a stream is a function of i. */
static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i * 31 + (i >> 13));
}

static uint8_t *pattern_buf(size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(i);
	return buf;
}

/* ---- request and reply --------------------------------------------------- */

static void peer_two_requests(int fd)
{
	alb_msg *cmd = peer_recv_command(fd, ALB_CMD_UNIKERNEL_INFO, 1, ":");
	alb_msg *reply = reply_to(cmd, ALB_REPLY_STRING);
	reply->reply.string = strdup("hello");
	peer_send(fd, reply);
	alb_msg_free(cmd);

	cmd = peer_recv_command(fd, ALB_CMD_UNIKERNEL_DESTROY, 2, "alice:hello");
	peer_send(fd, reply_to(cmd, ALB_REPLY_EMPTY));
	alb_msg_free(cmd);
	/* Then the client closes. */
	uint8_t *buf;
	uint64_t len;
	PEER_ASSERT(alb_frame_read(peer_ctx, fd, 0, &buf, &len) == -EPIPE);
}

START_TEST(test_request_reply)
{
	int fd;
	pid_t pid = spawn_peer(peer_two_requests, &fd);
	alb_client *client = client_on(fd);
	alb_msg *msg = command(ALB_CMD_UNIKERNEL_INFO, ":"), *reply = NULL;

	ck_assert_alb_ok(test_ctx, alb_client_request(client, msg, &reply));
	ck_assert_uint_eq(msg->seq, 1);
	ck_assert_int_eq(reply->kind, ALB_MSG_SUCCESS);
	ck_assert_int_eq(reply->reply.kind, ALB_REPLY_STRING);
	ck_assert_str_eq(reply->reply.string, "hello");
	ck_assert_uint_eq(alb_client_get_refused(client), 0);
	alb_msg_free(msg);
	alb_msg_free(reply);

	msg = command(ALB_CMD_UNIKERNEL_DESTROY, "Alice:hello");
	ck_assert_alb_ok(test_ctx, alb_client_request(client, msg, &reply));
	ck_assert_uint_eq(msg->seq, 2);
	ck_assert_int_eq(reply->reply.kind, ALB_REPLY_EMPTY);
	ck_assert_uint_eq(reply->seq, 2);
	alb_msg_free(msg);
	alb_msg_free(reply);
	alb_client_free(client);
	wait_peer(pid);
}
END_TEST

static void peer_refuse(int fd)
{
	alb_msg *cmd = peer_recv_command(fd, ALB_CMD_POLICY_REMOVE, 1, "alice:");
	peer_send(fd, failure_to(cmd, EDQUOT, "memory 128 MB exceeds 64 MB"));
	alb_msg_free(cmd);
	cmd = peer_recv_command(fd, ALB_CMD_POLICY_REMOVE, 2, "alice:");
	peer_send(fd, failure_to(cmd, 1234, "an errno value the client does not know"));
	alb_msg_free(cmd);
	cmd = peer_recv_command(fd, ALB_CMD_POLICY_INFO, 3, ":");
	peer_send(fd, reply_to(cmd, ALB_REPLY_EMPTY));
	alb_msg_free(cmd);
}

START_TEST(test_failure_reply)
{
	int fd;
	pid_t pid = spawn_peer(peer_refuse, &fd);
	alb_client *client = client_on(fd);
	alb_msg *msg = command(ALB_CMD_POLICY_REMOVE, "alice:"), *reply = NULL;

	ck_assert_alb_err(test_ctx, alb_client_request(client, msg, &reply), EDQUOT);
	ck_assert_ptr_null(reply);
	ck_assert_str_eq(alb_ctx_last_error(test_ctx), "memory 128 MB exceeds 64 MB");
	ck_assert_uint_eq(alb_client_get_refused(client), EDQUOT);

	ck_assert_int_eq(alb_client_request(client, msg, &reply), -1234);
	ck_assert_uint_eq(alb_client_get_refused(client), 1234);
	ck_assert_str_eq(alb_ctx_last_error(test_ctx), "an errno value the client does not know");
	alb_msg_free(msg);

	/* The connection goes on, and a success clears the refusal. */
	msg = command(ALB_CMD_POLICY_INFO, ":");
	ck_assert_alb_ok(test_ctx, alb_client_request(client, msg, &reply));
	ck_assert_uint_eq(alb_client_get_refused(client), 0);
	alb_msg_free(msg);
	alb_msg_free(reply);
	alb_client_free(client);
	wait_peer(pid);
}
END_TEST

/* ---- upload -------------------------------------------------------------- */

#define UPLOAD_SIZE ((size_t)ALB_CHUNK_MAX * 2 + ALB_CHUNK_MAX / 2 + 7)

/* Receives the chunk stream of cmd up to its end frame, checking the pattern. */
static void peer_recv_stream(int fd, const alb_msg *cmd, uint64_t size, uint32_t expected_chunks)
{
	uint64_t done = 0;
	uint32_t chunks = 0;
	alb_msg *msg;

	while ((msg = peer_recv(fd))) {
		PEER_ASSERT(msg->kind == ALB_MSG_DATA);
		PEER_ASSERT(msg->data.kind == ALB_DATA_CHUNK);
		PEER_ASSERT(msg->seq == cmd->seq);
		PEER_ASSERT(alb_name_equal(msg->name, cmd->name));
		PEER_ASSERT(msg->data.chunk_len >= 1 && msg->data.chunk_len <= ALB_CHUNK_MAX);
		/* Every chunk but the last is a full one. */
		PEER_ASSERT(done + msg->data.chunk_len == size ||
			    msg->data.chunk_len == ALB_CHUNK_MAX);
		for (uint32_t i = 0; i < msg->data.chunk_len; i++)
			PEER_ASSERT(msg->data.chunk[i] == pattern(done + i));
		done += msg->data.chunk_len;
		chunks++;
		alb_msg_free(msg);
	}
	PEER_ASSERT(done == size);
	PEER_ASSERT(chunks == expected_chunks);
}

static void peer_upload(int fd)
{
	uint64_t seq;

	for (seq = 1; seq <= 3; seq++) {
		alb_msg *cmd = peer_recv_command(fd, ALB_CMD_UNIKERNEL_CREATE, seq, "alice:hello");
		uint64_t size = cmd->cmd.config->image_size;
		PEER_ASSERT(size == (seq == 3 ? 0 : UPLOAD_SIZE));
		peer_recv_stream(fd, cmd, size, seq == 3 ? 0 : 3);
		alb_msg *reply = reply_to(cmd, ALB_REPLY_STRING);
		reply->reply.string = strdup("created");
		peer_send(fd, reply);
		alb_msg_free(cmd);
	}

	/* The file is shorter than announced: whole chunks, no end frame, then the close. */
	alb_msg *cmd = peer_recv_command(fd, ALB_CMD_UNIKERNEL_CREATE, seq, "alice:hello");
	uint64_t done = 0;
	uint8_t *buf;
	uint64_t len;
	int r;
	while ((r = alb_frame_read(peer_ctx, fd, 0, &buf, &len)) == 0) {
		PEER_ASSERT(len > 0);
		alb_free(buf);
		done++;
	}
	PEER_ASSERT(r == -EPIPE);
	PEER_ASSERT(done == 2);
	alb_msg_free(cmd);
}

static alb_msg *create_command(uint64_t image_size)
{
	alb_msg *msg = command(ALB_CMD_UNIKERNEL_CREATE, "alice:hello");

	ck_assert_alb_ok(test_ctx, alb_unikernel_config_new(test_ctx, &msg->cmd.config));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_set_image(msg->cmd.config, image_size, 0));
	return msg;
}

struct progress {
	uint64_t calls, last, total;
	bool monotonic;
};

static void on_progress(uint64_t done, uint64_t total, void *userdata)
{
	struct progress *p = userdata;

	if (done < p->last)
		p->monotonic = false;
	p->calls++;
	p->last = done;
	p->total = total;
}

START_TEST(test_upload)
{
	int fd;
	pid_t pid = spawn_peer(peer_upload, &fd);
	alb_client *client = client_on(fd);
	uint8_t *data = pattern_buf(UPLOAD_SIZE);
	alb_msg *msg = create_command(UPLOAD_SIZE), *reply = NULL;
	struct progress p = {.monotonic = true};

	/* From memory. */
	ck_assert_alb_ok(test_ctx, alb_client_request_upload(client, msg, data, UPLOAD_SIZE,
							     on_progress, &p, &reply));
	ck_assert_str_eq(reply->reply.string, "created");
	ck_assert_uint_eq(p.calls, 3);
	ck_assert_uint_eq(p.last, UPLOAD_SIZE);
	ck_assert_uint_eq(p.total, UPLOAD_SIZE);
	ck_assert(p.monotonic);
	alb_msg_free(reply);

	/* From a file. */
	int file = memfd_create("image", MFD_CLOEXEC);
	ck_assert_int_ge(file, 0);
	ck_assert_int_eq(alb_write_full(file, data, UPLOAD_SIZE), 0);
	ck_assert_int_eq(lseek(file, 0, SEEK_SET), 0);
	p = (struct progress){.monotonic = true};
	ck_assert_alb_ok(test_ctx, alb_client_request_upload_fd(client, msg, file, UPLOAD_SIZE,
								on_progress, &p, &reply));
	ck_assert_uint_eq(msg->seq, 2);
	ck_assert_uint_eq(p.calls, 3);
	ck_assert_uint_eq(p.last, UPLOAD_SIZE);
	alb_msg_free(reply);
	alb_msg_free(msg);

	/* An empty stream is only the end frame. */
	msg = create_command(0);
	ck_assert_alb_ok(test_ctx,
			 alb_client_request_upload(client, msg, NULL, 0, NULL, NULL, &reply));
	alb_msg_free(reply);
	alb_msg_free(msg);

	/* A file shorter than announced: nothing more is sent. */
	msg = create_command(UPLOAD_SIZE + 1);
	ck_assert_int_eq(lseek(file, 0, SEEK_SET), 0);
	ck_assert_alb_err(
	    test_ctx,
	    alb_client_request_upload_fd(client, msg, file, UPLOAD_SIZE + 1, NULL, NULL, &reply),
	    EIO);
	ck_assert_last_error_has(test_ctx, "the data ended after");
	alb_msg_free(msg);
	close(file);
	free(data);
	alb_client_free(client);
	wait_peer(pid);
}
END_TEST

/* The peer refuses at once and closes, without reading the stream. */
static void peer_refuse_upload(int fd)
{
	alb_msg *cmd = peer_recv_command(fd, ALB_CMD_BLOCK_SET, 1, "alice:disk");
	peer_send(fd, failure_to(cmd, EBUSY, "block device alice:disk is in use"));
	alb_msg_free(cmd);
	/* Let the client see the reply before the close: drop what remains. */
	shutdown(fd, SHUT_WR);
}

START_TEST(test_upload_refused_early)
{
	int fd;
	pid_t pid = spawn_peer(peer_refuse_upload, &fd);
	alb_client *client = client_on(fd);
	size_t size = 16u << 20; /* more than the socket buffers hold */
	uint8_t *data = pattern_buf(size);
	alb_msg *msg = command(ALB_CMD_BLOCK_SET, "alice:disk"), *reply = NULL;

	msg->cmd.data_size = size;
	ck_assert_alb_err(test_ctx,
			  alb_client_request_upload(client, msg, data, size, NULL, NULL, &reply),
			  EBUSY);
	ck_assert_str_eq(alb_ctx_last_error(test_ctx), "block device alice:disk is in use");
	ck_assert_uint_eq(alb_client_get_refused(client), EBUSY);
	alb_msg_free(msg);
	free(data);
	alb_client_free(client);
	wait_peer(pid);
}
END_TEST

/* ---- download ------------------------------------------------------------ */

#define DOWNLOAD_SIZE ((size_t)ALB_CHUNK_MAX * 3 + 12345)

static void peer_send_stream(int fd, const alb_msg *cmd, size_t size, size_t chunk)
{
	uint8_t *data = pattern_buf(size);

	for (size_t done = 0; done < size; done += chunk)
		peer_send_chunk(fd, cmd->seq, cmd->name, data + done,
				size - done < chunk ? size - done : chunk);
	PEER_ASSERT(alb_frame_write(peer_ctx, fd, NULL, 0) == 0);
	free(data);
}

static void peer_image(int fd)
{
	for (uint64_t seq = 1; seq <= 3; seq++) {
		alb_msg *cmd = peer_recv_command(fd, ALB_CMD_UNIKERNEL_GET, seq, "alice:hello");
		PEER_ASSERT(cmd->cmd.compress == (seq == 2));
		alb_msg *reply = reply_to(cmd, ALB_REPLY_IMAGE);
		reply->reply.image_size = DOWNLOAD_SIZE;
		reply->reply.tender = ALB_TENDER_HVT;
		peer_send(fd, reply);
		/* The third stream is one chunk short. */
		peer_send_stream(fd, cmd, seq == 3 ? DOWNLOAD_SIZE - 100 : DOWNLOAD_SIZE,
				 seq == 1 ? ALB_CHUNK_MAX : 4096);
		alb_msg_free(cmd);
	}
}

struct collect {
	uint8_t *buf;
	size_t len;
};

static int collect(const uint8_t *buf, size_t len, void *userdata)
{
	struct collect *c = userdata;

	c->buf = realloc(c->buf, c->len + len);
	ck_assert_ptr_nonnull(c->buf);
	memcpy(c->buf + c->len, buf, len);
	c->len += len;
	return 0;
}

START_TEST(test_download)
{
	int fd;
	pid_t pid = spawn_peer(peer_image, &fd);
	alb_client *client = client_on(fd);
	alb_msg *msg = command(ALB_CMD_UNIKERNEL_GET, "alice:hello"), *reply = NULL;
	uint8_t *expected = pattern_buf(DOWNLOAD_SIZE);
	struct progress p = {.monotonic = true};
	uint64_t size = 0;

	/* Into a file. */
	ck_assert_alb_ok(test_ctx, alb_client_request(client, msg, &reply));
	ck_assert_int_eq(reply->reply.kind, ALB_REPLY_IMAGE);
	ck_assert_uint_eq(reply->reply.image_size, DOWNLOAD_SIZE);
	int file = memfd_create("image", MFD_CLOEXEC);
	ck_assert_int_ge(file, 0);
	ck_assert_alb_ok(test_ctx, alb_client_download_fd(client, msg->seq, DOWNLOAD_SIZE, file,
							  on_progress, &p, &size));
	ck_assert_uint_eq(size, DOWNLOAD_SIZE);
	ck_assert_uint_eq(p.calls, 4);
	ck_assert_uint_eq(p.last, DOWNLOAD_SIZE);
	ck_assert_uint_eq(p.total, DOWNLOAD_SIZE);
	ck_assert(p.monotonic);
	uint8_t *got = malloc(DOWNLOAD_SIZE);
	ck_assert_int_eq(pread(file, got, DOWNLOAD_SIZE, 0), (ssize_t)DOWNLOAD_SIZE);
	ck_assert_mem_eq(got, expected, DOWNLOAD_SIZE);
	free(got);
	close(file);
	alb_msg_free(reply);

	/* Into a sink, in small chunks, of unknown length. */
	msg->cmd.compress = true;
	struct collect c = {0};
	ck_assert_alb_ok(test_ctx, alb_client_request(client, msg, &reply));
	ck_assert_alb_ok(test_ctx, alb_client_download(client, msg->seq, UINT64_MAX, collect, &c,
						       NULL, NULL, &size));
	ck_assert_uint_eq(size, DOWNLOAD_SIZE);
	ck_assert_uint_eq(c.len, DOWNLOAD_SIZE);
	ck_assert_mem_eq(c.buf, expected, DOWNLOAD_SIZE);
	free(c.buf);
	alb_msg_free(reply);

	/* Shorter than announced. */
	msg->cmd.compress = false;
	c = (struct collect){0};
	ck_assert_alb_ok(test_ctx, alb_client_request(client, msg, &reply));
	ck_assert_alb_err(
	    test_ctx,
	    alb_client_download(client, msg->seq, DOWNLOAD_SIZE, collect, &c, NULL, NULL, NULL),
	    EBADMSG);
	ck_assert_last_error_has(test_ctx, "the stream ended after");
	free(c.buf);
	alb_msg_free(reply);
	alb_msg_free(msg);
	free(expected);
	alb_client_free(client);
	wait_peer(pid);
}
END_TEST

/* A longer stream than announced, then data of another seq. */
static void peer_bad_streams(int fd)
{
	alb_msg *cmd = peer_recv_command(fd, ALB_CMD_BLOCK_DUMP, 1, "alice:disk");
	peer_send(fd, reply_to(cmd, ALB_REPLY_EMPTY));
	peer_send_stream(fd, cmd, 5000, 1000);
	alb_msg_free(cmd);
}

START_TEST(test_download_longer)
{
	int fd;
	pid_t pid = spawn_peer(peer_bad_streams, &fd);
	alb_client *client = client_on(fd);
	alb_msg *msg = command(ALB_CMD_BLOCK_DUMP, "alice:disk"), *reply = NULL;
	struct collect c = {0};

	ck_assert_alb_ok(test_ctx, alb_client_request(client, msg, &reply));
	ck_assert_alb_err(
	    test_ctx, alb_client_download(client, msg->seq, 4500, collect, &c, NULL, NULL, NULL),
	    EBADMSG);
	ck_assert_last_error_has(test_ctx, "longer than the 4500 bytes announced");
	ck_assert_uint_eq(c.len, 4000);
	/* The peer has written it all (it fits in the socket's buffer) before we close:
	 * closing first could make its last writes fail. */
	wait_peer(pid);
	free(c.buf);
	alb_msg_free(reply);
	alb_msg_free(msg);
	alb_client_free(client);
}
END_TEST

/* ---- a peer that misbehaves ---------------------------------------------- */

enum {
	BAD_CLOSE,	    /* closes after the command */
	BAD_CLOSE_IN_FRAME, /* closes in the middle of a frame */
	BAD_OVERSIZED,	    /* announces a frame over the bound */
	BAD_GARBAGE,	    /* a frame that is not a message */
	BAD_WRONG_SEQ,	    /* a reply of another seq */
	BAD_COMMAND,	    /* a command instead of a reply */
	BAD_END,	    /* an end-of-stream frame instead of a reply */
	BAD_VERSION,	    /* a message of protocol version 2 */
	BAD_CONN_FAILURE,   /* a failure of seq 0: about the connection (closed by a bound) */
	BAD_N,
};

static const struct {
	int err;
	const char *needle;
} bad_cases[BAD_N] = {
    [BAD_CLOSE] = {EPIPE, "the peer closed the connection"},
    [BAD_CLOSE_IN_FRAME] = {EBADMSG, "in the middle of a frame"},
    [BAD_OVERSIZED] = {EBADMSG, "frame of 67108865 bytes exceeds the bound 67108864"},
    [BAD_GARBAGE] = {EBADMSG, "malformed message from the peer"},
    [BAD_WRONG_SEQ] = {EBADMSG, "expected a reply of sequence number 1, got one of 7"},
    [BAD_COMMAND] = {EBADMSG, "expected a reply, got a command"},
    [BAD_END] = {EBADMSG, "expected a reply, got an end-of-stream frame"},
    [BAD_VERSION] = {EPROTO, "unsupported protocol version 2"},
    [BAD_CONN_FAILURE] = {ETIMEDOUT, "closed: idle for 60000 ms"},
};

static int bad_case;

static void peer_bad(int fd)
{
	alb_msg *cmd = peer_recv_command(fd, ALB_CMD_BLOCK_INFO, 1, ":");
	alb_msg *reply;

	switch (bad_case) {
	case BAD_CLOSE:
		break;
	case BAD_CLOSE_IN_FRAME:
		peer_write_raw(fd,
			       "\0\0\0\x10"
			       "abc",
			       7);
		break;
	case BAD_OVERSIZED: {
		uint32_t len = (uint32_t)ALB_FRAME_MAX_DEFAULT + 1;
		uint8_t header[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16),
				     (uint8_t)(len >> 8), (uint8_t)len};
		peer_write_raw(fd, header, 4);
		/* The client must not wait for the payload. */
		uint8_t *buf;
		uint64_t n;
		PEER_ASSERT(alb_frame_read(peer_ctx, fd, 0, &buf, &n) == -EPIPE);
		break;
	}
	case BAD_GARBAGE:
		PEER_ASSERT(alb_frame_write(peer_ctx, fd, (const uint8_t *)"\xff\xfe", 2) == 0);
		break;
	case BAD_WRONG_SEQ:
		reply = reply_to(cmd, ALB_REPLY_EMPTY);
		reply->seq = 7;
		peer_send(fd, reply);
		break;
	case BAD_COMMAND: /* the command itself, sent back */
		cmd->cmd.kind = ALB_CMD_POLICY_INFO;
		peer_send(fd, cmd);
		cmd = NULL;
		break;
	case BAD_END:
		PEER_ASSERT(alb_frame_write(peer_ctx, fd, NULL, 0) == 0);
		break;
	case BAD_CONN_FAILURE:
		reply = failure_to(cmd, ETIMEDOUT, "closed: idle for 60000 ms");
		reply->seq = 0;
		peer_send(fd, reply);
		break;
	default: {
		static const uint8_t v2[] = {0xa1, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x02};
		PEER_ASSERT(alb_frame_write(peer_ctx, fd, v2, sizeof(v2)) == 0);
		break;
	}
	}
	alb_msg_free(cmd);
}

START_TEST(test_peer_misbehaves)
{
	int fd;
	bad_case = _i;
	pid_t pid = spawn_peer(peer_bad, &fd);
	alb_client *client = client_on(fd);
	alb_msg *msg = command(ALB_CMD_BLOCK_INFO, ":"), *reply = NULL;

	ck_assert_alb_err(test_ctx, alb_client_request(client, msg, &reply), bad_cases[_i].err);
	ck_assert_last_error_has(test_ctx, bad_cases[_i].needle);
	ck_assert_ptr_null(reply);
	/* Only the daemon's failure is a refusal. */
	ck_assert_uint_eq(alb_client_get_refused(client), _i == BAD_CONN_FAILURE ? ETIMEDOUT : 0);
	alb_msg_free(msg);
	alb_client_free(client);
	wait_peer(pid);
}
END_TEST

/* A smaller bound refuses a frame that the default accepts. */
static void peer_big_reply(int fd)
{
	alb_msg *cmd = peer_recv_command(fd, ALB_CMD_UNIKERNEL_INFO, 1, ":");
	alb_msg *reply = reply_to(cmd, ALB_REPLY_STRING);
	reply->reply.string = calloc(1, 4001);
	memset(reply->reply.string, 'x', 4000);
	peer_send(fd, reply);
	alb_msg_free(cmd);
}

START_TEST(test_frame_bound)
{
	int fd;
	pid_t pid = spawn_peer(peer_big_reply, &fd);
	alb_client *client = client_on(fd);
	alb_msg *msg = command(ALB_CMD_UNIKERNEL_INFO, ":"), *reply = NULL;

	alb_client_set_frame_max(client, 1024);
	ck_assert_alb_err(test_ctx, alb_client_request(client, msg, &reply), EBADMSG);
	ck_assert_last_error_has(test_ctx, "exceeds the bound 1024");
	alb_msg_free(msg);
	alb_client_free(client);
	wait_peer(pid);
}
END_TEST

/* Sending to a peer that has gone is -EPIPE, not SIGPIPE. */
static void peer_gone(int fd)
{
}

START_TEST(test_send_to_closed_peer)
{
	int fd;
	pid_t pid = spawn_peer(peer_gone, &fd);
	wait_peer(pid);
	alb_client *client = client_on(fd);
	alb_msg *msg = command(ALB_CMD_UNIKERNEL_INFO, ":"), *reply = NULL;

	ck_assert_alb_err(test_ctx, alb_client_request(client, msg, &reply), EPIPE);
	ck_assert_alb_err(test_ctx, alb_client_send_end(client), EPIPE);
	alb_msg_free(msg);
	alb_client_free(client);
}
END_TEST

START_TEST(test_invalid_arguments)
{
	int fd;
	pid_t pid = spawn_peer(peer_gone, &fd);
	alb_client *client = client_on(fd);
	alb_name *name = N("vm");
	uint8_t byte = 0;

	ck_assert_int_eq(alb_client_send_chunk(client, 1, name, &byte, 0), -EINVAL);
	ck_assert_int_eq(alb_client_send_chunk(client, 1, name, &byte, ALB_CHUNK_MAX + 1), -EINVAL);
	ck_assert_int_eq(alb_client_send(client, NULL), -EINVAL);
	ck_assert_int_eq(alb_client_new_fd(test_ctx, -1, &client), -EINVAL);
	ck_assert_ptr_null(alb_client_free(NULL));

	/* A message that would not decode is not sent. */
	alb_msg *msg = command(ALB_CMD_UNIKERNEL_CREATE, "vm"), *reply = NULL;
	ck_assert_alb_err(test_ctx, alb_client_request(client, msg, &reply), EINVAL);
	ck_assert_last_error_has(test_ctx, "command.config");
	alb_msg_free(msg);
	alb_name_free(name);
	alb_client_free(client);
	wait_peer(pid);
}
END_TEST

/* A chunk goes out without being copied (client.c, send_chunk_direct): its frame is the
 * one the copying encoder makes, byte for byte, for every size of byte-string header. */
struct frame_reader_arg {
	int fd;
	uint8_t *buf;
	size_t len;
};

static void *read_exactly(void *userdata)
{
	struct frame_reader_arg *a = userdata;
	ck_assert_int_eq(alb_read_full(a->fd, a->buf, a->len), (ssize_t)a->len);
	return NULL;
}

START_TEST(test_chunk_frame_bytes)
{
	static const size_t sizes[] = {1, 23, 24, 255, 256, 65535, 65536, ALB_CHUNK_MAX};
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	alb_client *client = client_on(sv[0]);
	alb_name *name = N("vm");
	uint8_t *data = malloc(ALB_CHUNK_MAX);
	ck_assert_ptr_nonnull(data);
	for (size_t i = 0; i < ALB_CHUNK_MAX; i++)
		data[i] = (uint8_t)(i * 7 + 3);

	for (size_t k = 0; k < ELEMENTSOF(sizes); k++) {
		alb_msg *msg = NULL;
		uint8_t *enc = NULL, *want = NULL;
		uint64_t enc_len;
		size_t want_len;
		ck_assert_int_eq(alb_msg_new(&msg, ALB_MSG_DATA, 42, name), 0);
		msg->data.kind = ALB_DATA_CHUNK;
		msg->data.chunk = data;
		msg->data.chunk_len = (uint32_t)sizes[k];
		ck_assert_alb_ok(test_ctx, alb_msg_encode(test_ctx, msg, &enc, &enc_len));
		msg->data.chunk = NULL;
		ck_assert_alb_ok(test_ctx,
				 alb_frame_build(test_ctx, enc, enc_len, &want, &want_len));

		struct frame_reader_arg a = {sv[1], malloc(want_len), want_len};
		ck_assert_ptr_nonnull(a.buf);
		pthread_t t;
		ck_assert_int_eq(pthread_create(&t, NULL, read_exactly, &a), 0);
		ck_assert_alb_ok(test_ctx, alb_client_send_chunk(client, 42, name, data, sizes[k]));
		ck_assert_int_eq(pthread_join(t, NULL), 0);
		ck_assert_msg(memcmp(a.buf, want, want_len) == 0,
			      "chunk of %zu bytes: frames differ", sizes[k]);
		free(a.buf);
		free(want);
		free(enc);
		alb_msg_free(msg);
	}
	free(data);
	alb_name_free(name);
	alb_client_free(client);
	close(sv[1]);
}
END_TEST

/* ---- Unix sockets -------------------------------------------------------- */

START_TEST(test_connect_missing)
{
	alb_client *client = NULL;
	char path[4200];

	ck_assert_alb_err(
	    test_ctx, alb_client_connect_unix(test_ctx, "/nonexistent/albatrossd.sock", &client),
	    ENOENT);
	ck_assert_str_eq(alb_ctx_last_error(test_ctx),
			 "Failed to connect to albatrossd at /nonexistent/albatrossd.sock: No such "
			 "file or directory (is albatrossd running?)");
	ck_assert_ptr_null(client);

	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	ck_assert_alb_err(test_ctx, alb_client_connect_unix(test_ctx, path, &client), ENAMETOOLONG);
	ck_assert_last_error_has(test_ctx,
				 "the socket path of 4199 bytes is too long (at most 107)");
	ck_assert_alb_err(test_ctx, alb_client_connect_unix(test_ctx, "", &client), EINVAL);

	/* A socket file nobody listens on. */
	snprintf(path, sizeof(path), "%s/dead.sock", test_tmpdir);
	if (strlen(path) < sizeof(((struct sockaddr_un *)0)->sun_path)) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		strcpy(sa.sun_path, path);
		ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(s);
		ck_assert_alb_err(test_ctx, alb_client_connect_unix(test_ctx, path, &client),
				  ECONNREFUSED);
		ck_assert_last_error_has(test_ctx, "Connection refused (is albatrossd running?)");
	}
}
END_TEST

static char listen_path[108];

static void peer_listen(int fd)
{
	int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	PEER_ASSERT(conn >= 0);
	alb_msg *cmd = peer_recv_command(conn, ALB_CMD_TENDERS_INFO, 1, ":");
	alb_msg *reply = reply_to(cmd, ALB_REPLY_TENDERS);
	reply->reply.n_tenders = 1;
	reply->reply.tenders = calloc(1, sizeof(*reply->reply.tenders));
	reply->reply.tenders[0] =
	    (struct alb_tender_info){strdup("solo5-hvt.2"), strdup("/usr/bin/solo5-hvt.2"),
				     ALB_TENDER_HVT, strdup("v0.12.1"), 2};
	peer_send(conn, reply);
	alb_msg_free(cmd);
	close(conn);
}

START_TEST(test_connect_unix)
{
	char dir[] = "/tmp/alb-client-XXXXXX";
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	alb_client *client = NULL;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(listen_path, sizeof(listen_path), "%s/albatrossd.sock", dir);
	strcpy(sa.sun_path, listen_path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(s, 1), 0);

	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (alb_ctx_new(&peer_ctx) < 0)
			_exit(3);
		peer_listen(s);
		_exit(0);
	}
	close(s);
	ck_assert_alb_ok(test_ctx, alb_client_connect_unix(test_ctx, listen_path, &client));
	alb_msg *msg = command(ALB_CMD_TENDERS_INFO, ":"), *reply = NULL;
	ck_assert_alb_ok(test_ctx, alb_client_request(client, msg, &reply));
	ck_assert_int_eq(reply->reply.kind, ALB_REPLY_TENDERS);
	ck_assert_uint_eq(reply->reply.n_tenders, 1);
	ck_assert_str_eq(reply->reply.tenders[0].version, "v0.12.1");
	alb_msg_free(reply);
	alb_msg_free(msg);
	alb_client_free(client);
	wait_peer(pid);
	unlink(listen_path);
	rmdir(dir);
}
END_TEST

static Suite *client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *tc = tcase_create("requests");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_add_test(tc, test_request_reply);
	tcase_add_test(tc, test_failure_reply);
	tcase_add_test(tc, test_invalid_arguments);
	suite_add_tcase(s, tc);

	tc = tcase_create("streams");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_add_test(tc, test_upload);
	tcase_add_test(tc, test_upload_refused_early);
	tcase_add_test(tc, test_download);
	tcase_add_test(tc, test_download_longer);
	tcase_add_test(tc, test_chunk_frame_bytes);
	suite_add_tcase(s, tc);

	tc = tcase_create("misbehaving peers");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_add_loop_test(tc, test_peer_misbehaves, 0, BAD_N);
	tcase_add_test(tc, test_frame_bound);
	tcase_add_test(tc, test_send_to_closed_peer);
	suite_add_tcase(s, tc);

	tc = tcase_create("unix sockets");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_add_checked_fixture(tc, tc_tmpdir_setup, tc_tmpdir_teardown);
	tcase_add_test(tc, test_connect_missing);
	tcase_add_test(tc, test_connect_unix);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(client_suite());
}
