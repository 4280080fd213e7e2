/* SPDX-License-Identifier: ISC */
/* A blocking client of the wire protocol over a transport (a Unix socket for now). */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <inttypes.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <albatross/tls.h>

#include "client-private.h"
#include "ctx-private.h"
#include "frame-private.h"
#include "sha256-private.h"
#include "wire-private.h"

/* What one transport read asks for. */
#define READ_SIZE (64u << 10)

struct alb_client {
	alb_ctx *ctx; /* a reference */
	struct alb_client_transport transport;
	alb_frame_reader *reader;
	uint64_t frame_max;
	uint64_t seq;
	uint32_t refused;      /* code of the failure reply that ended the last call */
	bool remote;	       /* a TLS session: the command is in the certificate */
	bool remote_used;      /* its one command was taken */
	bool endpoint_refused; /* the TLS endpoint refused the session */
};

/* The socket transport: the fd, and how long a read waits (-1: forever). */
struct fd_transport {
	int fd;
	int timeout_ms;
};

static ssize_t fd_read(void *userdata, void *buf, size_t len)
{
	struct fd_transport *t = userdata;

	if (t->timeout_ms >= 0) {
		struct pollfd p = {.fd = t->fd, .events = POLLIN};
		int n;
		do
			n = poll(&p, 1, t->timeout_ms);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
	}
	for (;;) {
		ssize_t n = read(t->fd, buf, len);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return -errno;
	}
}

static int fd_write(void *userdata, const void *buf, size_t len)
{
	int fd = ((struct fd_transport *)userdata)->fd;
	size_t done = 0;

	while (done < len) {
		/* MSG_NOSIGNAL: a peer that went away is -EPIPE, not SIGPIPE. */
		ssize_t n = send(fd, (const char *)buf + done, len - done, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, (const char *)buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

static void fd_close(void *userdata)
{
	struct fd_transport *t = userdata;

	close(t->fd);
	free(t);
}

static int fd_pending(void *userdata)
{
	struct pollfd p = {.fd = ((struct fd_transport *)userdata)->fd, .events = POLLIN};
	int n = poll(&p, 1, 0);

	return n > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) ? 1 : 0;
}

static void fd_set_read_timeout(void *userdata, int ms)
{
	((struct fd_transport *)userdata)->timeout_ms = ms;
}

ALB_EXPORT int alb_client_new(alb_ctx *ctx, const struct alb_client_transport *transport,
			      alb_client **ret)
{
	alb_client *client;
	int r;

	if (!transport || !transport->read || !transport->write || !ret) {
		if (transport && transport->close)
			transport->close(transport->userdata);
		return -EINVAL;
	}
	client = calloc(1, sizeof(*client));
	if (!client) {
		if (transport->close)
			transport->close(transport->userdata);
		return -ENOMEM;
	}
	client->transport = *transport;
	client->ctx = alb_ctx_ref(ctx);
	client->frame_max = ALB_FRAME_MAX_DEFAULT;
	r = alb_frame_reader_new(client->frame_max, &client->reader);
	if (r < 0) {
		alb_client_free(client);
		return r;
	}
	*ret = client;
	return 0;
}

ALB_EXPORT int alb_client_new_fd(alb_ctx *ctx, int fd, alb_client **ret)
{
	if (fd < 0)
		return -EINVAL;
	struct fd_transport *ft = malloc(sizeof(*ft));
	if (!ft) {
		close(fd);
		return -ENOMEM;
	}
	*ft = (struct fd_transport){.fd = fd, .timeout_ms = -1};
	struct alb_client_transport t = {
	    .read = fd_read,
	    .write = fd_write,
	    .close = fd_close,
	    .pending = fd_pending,
	    .set_read_timeout = fd_set_read_timeout,
	    .userdata = ft,
	};
	return alb_client_new(ctx, &t, ret);
}

ALB_EXPORT int alb_client_connect_unix_service(alb_ctx *ctx, const char *service, const char *path,
					       alb_client **ret)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = -1;

	if (!service || !path || !ret)
		return -EINVAL;
	if (!path[0])
		return alb_error(ctx, EINVAL, "Failed to connect to %s: the socket path is empty",
				 service);
	if (strlen(path) >= sizeof(sa.sun_path))
		return alb_error(
		    ctx, ENAMETOOLONG,
		    "Failed to connect to %s: the socket path of %zu bytes is too long "
		    "(at most %zu)",
		    service, strlen(path), sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return alb_error(ctx, errno, "Failed to create a socket: %s", strerror(errno));
	/* An upload's chunks (1 MB each) in the kernel while the daemon takes the previous
	 * ones: the default (~200 KB) makes the client wait for every fifth of a chunk.
	 * Capped by net.core.wmem_max; a hint. */
	int sndbuf = 4 << 20;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		if (e == ENOENT || e == ECONNREFUSED)
			return alb_error(ctx, e,
					 "Failed to connect to %s at %s: %s (is %s running?)",
					 service, path, strerror(e), service);
		if (e == EACCES || e == EPERM)
			return alb_error(ctx, e,
					 "Failed to connect to %s at %s: %s (is this user in the "
					 "socket's group?)",
					 service, path, strerror(e));
		return alb_error(ctx, e, "Failed to connect to %s at %s: %s", service, path,
				 strerror(e));
	}
	return alb_client_new_fd(ctx, TAKE_FD(fd), ret);
}

ALB_EXPORT int alb_client_connect_unix(alb_ctx *ctx, const char *path, alb_client **ret)
{
	return alb_client_connect_unix_service(ctx, "albatrossd", path, ret);
}

ALB_EXPORT alb_client *alb_client_free(alb_client *client)
{
	if (!client)
		return NULL;
	if (client->transport.close)
		client->transport.close(client->transport.userdata);
	alb_frame_reader_free(client->reader);
	alb_ctx_unref(client->ctx);
	free(client);
	return NULL;
}

ALB_EXPORT void alb_client_set_frame_max(alb_client *client, uint64_t max)
{
	alb_frame_reader *reader = NULL;

	if (!client)
		return;
	client->frame_max = max > 0 ? max : ALB_FRAME_MAX_DEFAULT;
	/* Only between frames: a new reader, unless bytes are buffered. */
	if (alb_frame_reader_is_empty(client->reader) &&
	    alb_frame_reader_new(client->frame_max, &reader) >= 0) {
		alb_frame_reader_free(client->reader);
		client->reader = reader;
	}
}

ALB_EXPORT uint64_t alb_client_next_seq(alb_client *client)
{
	return ++client->seq;
}

ALB_EXPORT uint32_t alb_client_get_refused(const alb_client *client)
{
	return client ? client->refused : 0;
}

/* Writes one frame: the 4-byte header and the payload in one write. */
static int write_frame(alb_client *client, const uint8_t *buf, uint64_t len)
{
	_cleanup_free_ uint8_t *frame = NULL;
	size_t size;
	int r;

	if ((r = alb_frame_build(client->ctx, buf, len, &frame, &size)) < 0)
		return r;
	r = client->transport.write(client->transport.userdata, frame, size);
	if (r == -EPIPE || r == -ECONNRESET)
		return alb_error(client->ctx, EPIPE, "the peer closed the connection");
	if (r < 0)
		return alb_error(client->ctx, -r, "Failed to send a frame: %s", strerror(-r));
	return 0;
}

ALB_EXPORT int alb_client_send(alb_client *client, const alb_msg *msg)
{
	_cleanup_free_ uint8_t *buf = NULL;
	uint64_t len;
	int r;

	if (!client || !msg)
		return -EINVAL;
	r = alb_msg_encode(client->ctx, msg, &buf, &len);
	if (r < 0)
		return r;
	return write_frame(client, buf, len);
}

/*
 * Sends msg, a chunk message without its bytes, with the len bytes at buf as its chunk,
 * without copying them (an upload is mostly chunks of 1 MB: copying each into a CBOR
 * item, then into its serialization, then into a frame cost more than sending it).
 * The message is encoded with a chunk of one byte, buf[0], which must be the encoding's
 * last item (0x41 buf[0], a byte string of one byte); those two bytes are replaced by
 * the header of a byte string of len bytes, and the bytes follow from buf: CBOR
 * counts the entries of a map, not
 * their bytes, so nothing before the chunk changes, and the frame is the one
 * alb_client_send() would write, byte for byte. -EAGAIN if the encoding does not end
 * so (the caller copies instead).
 */
static int send_chunk_direct(alb_client *client, alb_msg *msg, const uint8_t *buf, size_t len)
{
	_cleanup_free_ uint8_t *enc = NULL;
	uint8_t head[ALB_FRAME_HEADER_SIZE + 512];
	uint64_t enc_len;
	size_t n = 0;
	int r;

	msg->data.chunk = (uint8_t *)buf;
	msg->data.chunk_len = 1;
	r = alb_msg_encode(client->ctx, msg, &enc, &enc_len);
	msg->data.chunk = NULL;
	if (r < 0 || enc_len < 2 || enc[enc_len - 2] != 0x41 || enc[enc_len - 1] != buf[0] ||
	    enc_len - 2 > sizeof(head) - ALB_FRAME_HEADER_SIZE - 5 || len > UINT32_MAX)
		return -EAGAIN;
	enc_len -= 2;
	uint8_t bs[5];
	size_t bs_len;
	if (len < 24) {
		bs[0] = (uint8_t)(0x40 | len);
		bs_len = 1;
	} else if (len <= UINT8_MAX) {
		bs[0] = 0x58;
		bs[1] = (uint8_t)len;
		bs_len = 2;
	} else if (len <= UINT16_MAX) {
		bs[0] = 0x59;
		bs[1] = (uint8_t)(len >> 8);
		bs[2] = (uint8_t)len;
		bs_len = 3;
	} else {
		bs[0] = 0x5a;
		for (unsigned i = 0; i < 4; i++)
			bs[1 + i] = (uint8_t)(len >> (24 - 8 * i));
		bs_len = 5;
	}
	uint64_t payload = enc_len + bs_len + len;
	if (payload > UINT32_MAX)
		return -EAGAIN;
	alb_frame_header_put(head, (uint32_t)payload);
	n = ALB_FRAME_HEADER_SIZE;
	memcpy(head + n, enc, enc_len);
	n += enc_len;
	memcpy(head + n, bs, bs_len);
	n += bs_len;
	r = client->transport.write(client->transport.userdata, head, n);
	if (r >= 0)
		r = client->transport.write(client->transport.userdata, buf, len);
	if (r == -EPIPE || r == -ECONNRESET)
		return alb_error(client->ctx, EPIPE, "the peer closed the connection");
	if (r < 0)
		return alb_error(client->ctx, -r, "Failed to send a frame: %s", strerror(-r));
	return 0;
}

ALB_EXPORT int alb_client_send_chunk(alb_client *client, uint64_t seq, const alb_name *name,
				     const uint8_t *buf, size_t len)
{
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL;
	int r;

	if (!client || !name || !buf || len == 0 || len > ALB_CHUNK_MAX)
		return -EINVAL;
	r = alb_msg_new(&msg, ALB_MSG_DATA, seq, name);
	if (r < 0)
		return r;
	msg->data.kind = ALB_DATA_CHUNK;
	r = send_chunk_direct(client, msg, buf, len);
	if (r != -EAGAIN)
		return r;
	/* Borrowed for the encoding only. */
	msg->data.chunk = (uint8_t *)buf;
	msg->data.chunk_len = (uint32_t)len;
	r = alb_client_send(client, msg);
	msg->data.chunk = NULL;
	return r;
}

ALB_EXPORT int alb_client_send_end(alb_client *client)
{
	if (!client)
		return -EINVAL;
	return write_frame(client, NULL, 0);
}

/* Reads the next frame: 1 and the payload (NULL, 0 for an end frame), or -errno. */
static int read_frame(alb_client *client, uint8_t **ret_buf, uint64_t *ret_len)
{
	_cleanup_free_ uint8_t *chunk = NULL;
	int r;

	for (;;) {
		r = alb_frame_reader_next(client->ctx, client->reader, ret_buf, ret_len);
		if (r != 0)
			return r;
		if (!chunk) {
			chunk = malloc(READ_SIZE);
			if (!chunk)
				return -ENOMEM;
		}
		ssize_t n = client->transport.read(client->transport.userdata, chunk, READ_SIZE);
		if (n == -ECONNRESET)
			n = 0;
		if (n < 0)
			return alb_error(client->ctx, (int)-n, "Failed to receive a frame: %s",
					 strerror((int)-n));
		if (n == 0)
			return alb_frame_reader_is_empty(client->reader)
				   ? alb_error(client->ctx, EPIPE, "the peer closed the connection")
				   : alb_error(client->ctx, EBADMSG,
					       "the peer closed the connection in the middle of "
					       "a frame");
		r = alb_frame_reader_feed(client->ctx, client->reader, chunk, (size_t)n);
		if (r < 0)
			return r;
	}
}

/*
 * Decoding a message of len bytes takes tens of times as much heap, in small pieces
 * (libcbor's tree, then the structures): each fresh page of it is a page fault, and
 * faults cost more than the decoding on a virtual machine (a listing of 1000 unikernels:
 * ~1500 faults, ~35 ms). The heap is grown by that much first and its pages made present
 * in one go (MADV_POPULATE_WRITE), then given back to malloc, which carves the pieces
 * out of it. Only where malloc serves such a block from the heap (the brk area), as with
 * albatross-client's mallopt(): a block of its own mapping would be unmapped at free().
 * Not for a data chunk (alb_msg_decode_chunk() takes its frame). A hint: nothing happens
 * where it does not apply.
 */
#define PREFAULT_MIN	(16u << 10)
#define PREFAULT_FACTOR 64u
/* Below albatross-client's M_MMAP_THRESHOLD (32 MiB): a block that large would be a mapping
 * of its own, out of the heap. */
#define PREFAULT_MAX ((32u << 20) - (64u << 10))
static void heap_prefault(uint64_t len)
{
#if defined(__GLIBC__) && defined(MADV_POPULATE_WRITE)
	if (len < PREFAULT_MIN)
		return;
	size_t n =
	    len > PREFAULT_MAX / PREFAULT_FACTOR ? PREFAULT_MAX : (size_t)len * PREFAULT_FACTOR;
	uint8_t *p = malloc(n);
	if (!p)
		return;
	uint8_t *brk = sbrk(0);
	if (brk != (void *)-1 && p < brk && p + n <= brk) {
		const uintptr_t page = 4096;
		uintptr_t start = ((uintptr_t)p + page - 1) & ~(page - 1);
		uintptr_t end = ((uintptr_t)p + n) & ~(page - 1);
		if (end > start)
			(void)madvise((void *)start, end - start, MADV_POPULATE_WRITE);
	}
	free(p);
#else
	(void)len;
#endif
}

ALB_EXPORT int alb_client_receive(alb_client *client, alb_msg **ret)
{
	_cleanup_free_ uint8_t *buf = NULL;
	uint64_t len;
	int r;

	if (!client || !ret)
		return -EINVAL;
	r = read_frame(client, &buf, &len);
	if (r < 0)
		return r;
	if (len == 0) {
		*ret = NULL;
		return ALB_CLIENT_END;
	}
	/* A downloaded chunk takes the frame's buffer; anything else is decoded in full. */
	r = alb_msg_decode_chunk(client->ctx, &buf, len, ret);
	if (r != 0)
		return r < 0 ? r : 0;
	heap_prefault(len);
	r = alb_msg_decode(client->ctx, buf, len, ret);
	if (r == -EBADMSG || r == -EPROTO)
		return alb_error_prefix(client->ctx, r, "malformed message from the peer");
	return r;
}

/* Turns a failure reply into -code, with the peer's message in the context. */
static int refused(alb_client *client, const alb_msg *msg)
{
	client->refused = msg->failure.code;
	if (client->remote && msg->seq == 0)
		client->endpoint_refused = true;
	return alb_error(client->ctx, (int)msg->failure.code, "%s", msg->failure.message);
}

static int unexpected(alb_client *client, const alb_msg *msg, uint64_t seq, const char *what)
{
	if (msg->seq != seq)
		return alb_error(client->ctx, EBADMSG,
				 "expected %s of sequence number %" PRIu64 ", got one of %" PRIu64,
				 what, seq, msg->seq);
	static const char *const kinds[] = {
	    [ALB_MSG_COMMAND] = "a command",
	    [ALB_MSG_SUCCESS] = "a success reply",
	    [ALB_MSG_FAILURE] = "a failure reply",
	    [ALB_MSG_DATA] = "stream data",
	};
	return alb_error(
	    client->ctx, EBADMSG, "expected %s, got %s", what,
	    msg->kind >= ALB_MSG_COMMAND && msg->kind <= ALB_MSG_DATA ? kinds[msg->kind] : "?");
}

/* Receives the reply of the command seq. */
static int receive_reply(alb_client *client, uint64_t seq, alb_msg **ret)
{
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL;
	int r;

	r = alb_client_receive(client, &msg);
	if (r < 0)
		return r;
	if (r == ALB_CLIENT_END)
		return alb_error(client->ctx, EBADMSG,
				 "expected a reply, got an end-of-stream frame");
	/* A failure of sequence number 0 is about the connection (closed by a bound, a
	 * malformed frame): the daemon's reason, as the reply. */
	if ((msg->seq == seq || msg->seq == 0) && msg->kind == ALB_MSG_FAILURE)
		return refused(client, msg);
	if (msg->seq != seq || msg->kind != ALB_MSG_SUCCESS)
		return unexpected(client, msg, seq, "a reply");
	*ret = TAKE_PTR(msg);
	return 0;
}

static int send_command(alb_client *client, alb_msg *msg)
{
	if (!client || !msg || msg->kind != ALB_MSG_COMMAND)
		return -EINVAL;
	client->refused = 0;
	client->endpoint_refused = false;
	if (client->remote) {
		/* The endpoint runs the certificate's command: nothing to send. */
		if (client->remote_used)
			return alb_error(client->ctx, EINVAL,
					 "a remote session carries one command, its certificate's");
		client->remote_used = true;
		msg->seq = ALB_TLS_COMMAND_SEQ;
		return 0;
	}
	msg->seq = alb_client_next_seq(client);
	return alb_client_send(client, msg);
}

ALB_EXPORT int alb_client_set_read_timeout(alb_client *client, int ms)
{
	if (!client->transport.set_read_timeout)
		return -EOPNOTSUPP;
	client->transport.set_read_timeout(client->transport.userdata, ms);
	return 0;
}

ALB_EXPORT void alb_client_set_remote(alb_client *client)
{
	client->remote = true;
}

ALB_EXPORT bool alb_client_is_remote(const alb_client *client)
{
	return client->remote;
}

ALB_EXPORT bool alb_client_endpoint_refused(const alb_client *client)
{
	return client->endpoint_refused;
}

ALB_EXPORT int alb_client_request(alb_client *client, alb_msg *msg, alb_msg **ret)
{
	int r;

	if (!ret)
		return -EINVAL;
	r = send_command(client, msg);
	if (r < 0)
		return r;
	return receive_reply(client, msg->seq, ret);
}

/* A source of upload bytes: a buffer or an fd. */
struct source {
	const uint8_t *buf;
	int fd;
};

static int upload(alb_client *client, alb_msg *msg, const struct source *src, uint64_t size,
		  alb_client_progress_fn progress, void *userdata, alb_msg **ret)
{
	_cleanup_free_ uint8_t *chunk = NULL;
	uint64_t done = 0;
	int r;

	if (!ret)
		return -EINVAL;
	r = send_command(client, msg);
	if (r < 0)
		return r;
	if (!src->buf) {
		chunk = malloc(size < ALB_CHUNK_MAX ? (size > 0 ? size : 1) : ALB_CHUNK_MAX);
		if (!chunk)
			return -ENOMEM;
	}
	while (done < size) {
		size_t n = size - done < ALB_CHUNK_MAX ? (size_t)(size - done) : ALB_CHUNK_MAX;
		const uint8_t *p;

		/* The peer speaks before the end only to refuse: stop and read why. */
		if (client->transport.pending &&
		    client->transport.pending(client->transport.userdata) > 0) {
			r = receive_reply(client, msg->seq, ret);
			if (r == 0) {
				/* A peer replies before the end of an upload only to refuse it. */
				*ret = alb_msg_free(*ret);
				return alb_error(client->ctx, EBADMSG,
						 "a success reply after %" PRIu64 " of %" PRIu64
						 " bytes, before the end of the upload",
						 done, size);
			}
			/* End the stream where it stopped, so that the connection stays usable. */
			if (r < 0 && r != -EPIPE && client->refused && !client->remote) {
				char why[512];
				snprintf(why, sizeof(why), "%s", alb_ctx_last_error(client->ctx));
				if (alb_client_send_end(client) < 0)
					alb_error(client->ctx, -r, "%s", why);
			}
			if (r == -EPIPE)
				return alb_error(client->ctx, EPIPE,
						 "the peer closed the connection after %" PRIu64
						 " of %" PRIu64 " bytes",
						 done, size);
			return r;
		}

		if (src->buf) {
			p = src->buf + done;
		} else {
			ssize_t got = alb_read_full(src->fd, chunk, n);
			if (got < 0)
				return alb_error(client->ctx, (int)-got,
						 "Failed to read the data: %s",
						 strerror((int)-got));
			if ((size_t)got < n)
				return alb_error(client->ctx, EIO,
						 "the data ended after %" PRIu64 " of %" PRIu64
						 " bytes",
						 done + (uint64_t)got, size);
			p = chunk;
		}
		r = alb_client_send_chunk(client, msg->seq, msg->name, p, n);
		if (r < 0)
			break;
		done += n;
		if (progress)
			progress(done, size, userdata);
	}
	if (r >= 0)
		r = alb_client_send_end(client);
	if (r == -EPIPE) {
		/* The peer may have refused the command before it closed. */
		_cleanup_(alb_msg_freep) alb_msg *reply = NULL;
		int q = alb_client_receive(client, &reply);
		if (q == 0 && (reply->seq == msg->seq || reply->seq == 0) &&
		    reply->kind == ALB_MSG_FAILURE)
			return refused(client, reply);
		return alb_error(client->ctx, EPIPE,
				 "the peer closed the connection after %" PRIu64 " of %" PRIu64
				 " bytes",
				 done, size);
	}
	if (r < 0)
		return r;
	return receive_reply(client, msg->seq, ret);
}

ALB_EXPORT int alb_client_request_upload(alb_client *client, alb_msg *msg, const uint8_t *buf,
					 uint64_t size, alb_client_progress_fn progress,
					 void *userdata, alb_msg **ret)
{
	if (!buf && size > 0)
		return -EINVAL;
	struct source src = {.buf = buf ? buf : (const uint8_t *)"", .fd = -1};
	return upload(client, msg, &src, size, progress, userdata, ret);
}

ALB_EXPORT int alb_client_request_upload_fd(alb_client *client, alb_msg *msg, int fd, uint64_t size,
					    alb_client_progress_fn progress, void *userdata,
					    alb_msg **ret)
{
	if (fd < 0)
		return -EINVAL;
	struct source src = {.buf = NULL, .fd = fd};
	return upload(client, msg, &src, size, progress, userdata, ret);
}

ALB_EXPORT int alb_client_download(alb_client *client, uint64_t seq, uint64_t expected,
				   alb_client_sink_fn sink, void *sink_userdata,
				   alb_client_progress_fn progress, void *userdata,
				   uint64_t *ret_size)
{
	uint64_t done = 0;
	int r;

	if (!client || !sink)
		return -EINVAL;
	client->refused = 0;
	for (;;) {
		_cleanup_(alb_msg_freep) alb_msg *msg = NULL;

		r = alb_client_receive(client, &msg);
		if (r < 0)
			return r;
		if (r == ALB_CLIENT_END)
			break;
		if ((msg->seq == seq || msg->seq == 0) && msg->kind == ALB_MSG_FAILURE)
			return refused(client, msg);
		if (msg->seq != seq || msg->kind != ALB_MSG_DATA ||
		    msg->data.kind != ALB_DATA_CHUNK)
			return unexpected(client, msg, seq, "a data chunk");
		if (expected != UINT64_MAX && msg->data.chunk_len > expected - done)
			return alb_error(
			    client->ctx, EBADMSG,
			    "the stream is longer than the %" PRIu64 " bytes announced", expected);
		r = sink(msg->data.chunk, msg->data.chunk_len, sink_userdata);
		if (r < 0)
			return r;
		done += msg->data.chunk_len;
		if (progress)
			progress(done, expected != UINT64_MAX ? expected : 0, userdata);
	}
	if (expected != UINT64_MAX && done != expected)
		return alb_error(client->ctx, EBADMSG,
				 "the stream ended after %" PRIu64 " of the %" PRIu64
				 " bytes announced",
				 done, expected);
	if (ret_size)
		*ret_size = done;
	return 0;
}

struct fd_sink {
	alb_ctx *ctx;
	int fd;
};

static int write_to_fd(const uint8_t *buf, size_t len, void *userdata)
{
	struct fd_sink *s = userdata;
	int r = alb_write_full(s->fd, buf, len);

	if (r < 0)
		return alb_error(s->ctx, -r, "Failed to write the data: %s", strerror(-r));
	return 0;
}

ALB_EXPORT int alb_client_download_fd(alb_client *client, uint64_t seq, uint64_t expected, int fd,
				      alb_client_progress_fn progress, void *userdata,
				      uint64_t *ret_size)
{
	if (!client || fd < 0)
		return -EINVAL;
	struct fd_sink s = {client->ctx, fd};
	return alb_client_download(client, seq, expected, write_to_fd, &s, progress, userdata,
				   ret_size);
}

/* ---- the public surface (client.h) ------------------------------------------------------ */

ALB_EXPORT int alb_client_connect(alb_ctx *ctx, const char *socket_path, alb_client **ret_client)
{
	if (!ctx || !ret_client)
		return -EINVAL;
	return alb_client_connect_unix(ctx, socket_path ? socket_path : ALB_CLIENT_SOCKET_DEFAULT,
				       ret_client);
}

/* The SHA-256 of the rest of fd. */
static int digest_fd(alb_ctx *ctx, int fd, uint8_t digest[32])
{
	_cleanup_free_ uint8_t *buf = malloc(READ_SIZE);
	alb_sha256_ctx h;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	alb_sha256_init(&h);
	while ((n = alb_read_full(fd, buf, READ_SIZE)) > 0) {
		alb_sha256_update(&h, buf, (size_t)n);
		if ((size_t)n < READ_SIZE)
			break;
	}
	alb_sha256_final(&h, digest);
	if (n < 0)
		return alb_error(ctx, (int)-n, "Failed to read the image: %s", strerror((int)-n));
	return 0;
}

static alb_msg *command_new(int command, const alb_name *name)
{
	alb_msg *msg = NULL;

	if (alb_msg_new(&msg, ALB_MSG_COMMAND, 0, name) < 0)
		return NULL;
	msg->cmd.kind = command;
	return msg;
}

ALB_EXPORT int alb_client_info(alb_client *client, const alb_name *name, alb_msg **ret_reply)
{
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL, *reply = NULL;
	int r;

	if (!client || !name || !ret_reply)
		return -EINVAL;
	if (!(msg = command_new(ALB_CMD_UNIKERNEL_INFO, name)))
		return -ENOMEM;
	if ((r = alb_client_request(client, msg, &reply)) < 0)
		return r;
	if (reply->reply.kind != ALB_REPLY_UNIKERNELS)
		return alb_error(client->ctx, EBADMSG, "expected a reply of kind unikernels");
	*ret_reply = TAKE_PTR(reply);
	return 0;
}

ALB_EXPORT int alb_client_create(alb_client *client, const alb_name *name,
				 const alb_unikernel_config *config, const char *image_path,
				 int force)
{
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL, *reply = NULL;
	_cleanup_close_ int fd = -1;
	uint8_t digest[32];
	struct stat st;
	int r;

	if (!client || !name || !config || !image_path)
		return -EINVAL;
	if (alb_name_is_path(name))
		return alb_error(client->ctx, EINVAL, "a unikernel needs a name, not a path");
	fd = open(image_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0)
		return alb_error(client->ctx, errno, "Failed to open '%s': %s", image_path,
				 strerror(errno));
	if (!S_ISREG(st.st_mode))
		return alb_error(client->ctx, EINVAL, "'%s' is not a regular file", image_path);
	if ((r = digest_fd(client->ctx, fd, digest)) < 0)
		return r;
	if (lseek(fd, 0, SEEK_SET) != 0)
		return -errno;
	if (!(msg = command_new(force ? ALB_CMD_UNIKERNEL_FORCE_CREATE : ALB_CMD_UNIKERNEL_CREATE,
				name)))
		return -ENOMEM;
	if ((r = alb_unikernel_config_dup(config, &msg->cmd.config)) < 0)
		return r;
	if ((r = alb_unikernel_config_set_image(msg->cmd.config, (uint64_t)st.st_size, 0)) < 0)
		return alb_error(client->ctx, EFBIG, "'%s' is too large", image_path);
	alb_unikernel_config_set_digest(msg->cmd.config, digest);
	if ((r = alb_unikernel_config_validate(client->ctx, msg->cmd.config)) < 0)
		return r;
	return alb_client_request_upload_fd(client, msg, fd, (uint64_t)st.st_size, NULL, NULL,
					    &reply);
}

ALB_EXPORT int alb_client_destroy(alb_client *client, const alb_name *name)
{
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL, *reply = NULL;

	if (!client || !name)
		return -EINVAL;
	if (!(msg = command_new(ALB_CMD_UNIKERNEL_DESTROY, name)))
		return -ENOMEM;
	return alb_client_request(client, msg, &reply);
}

static const struct alb_unikernel_info *info_at(const alb_msg *reply, uint32_t index)
{
	if (!reply || reply->kind != ALB_MSG_SUCCESS || reply->reply.kind != ALB_REPLY_UNIKERNELS ||
	    index >= reply->reply.n_unikernels)
		return NULL;
	return &reply->reply.unikernels[index];
}

ALB_EXPORT uint32_t alb_msg_get_unikernel_count(const alb_msg *reply)
{
	if (!reply || reply->kind != ALB_MSG_SUCCESS || reply->reply.kind != ALB_REPLY_UNIKERNELS)
		return 0;
	return reply->reply.n_unikernels;
}

ALB_EXPORT const alb_name *alb_msg_get_unikernel_name(const alb_msg *reply, uint32_t index)
{
	const struct alb_unikernel_info *u = info_at(reply, index);
	return u ? u->name : NULL;
}

ALB_EXPORT const char *alb_msg_get_unikernel_state(const alb_msg *reply, uint32_t index)
{
	const struct alb_unikernel_info *u = info_at(reply, index);
	return u ? alb_unikernel_state_to_string(u->state) : NULL;
}

ALB_EXPORT uint32_t alb_msg_get_unikernel_pid(const alb_msg *reply, uint32_t index)
{
	const struct alb_unikernel_info *u = info_at(reply, index);
	return u ? u->pid : 0;
}

ALB_EXPORT uint32_t alb_msg_get_unikernel_restarts(const alb_msg *reply, uint32_t index)
{
	const struct alb_unikernel_info *u = info_at(reply, index);
	return u ? u->restarts : 0;
}

ALB_EXPORT const alb_unikernel_config *alb_msg_get_unikernel_config(const alb_msg *reply,
								    uint32_t index)
{
	const struct alb_unikernel_info *u = info_at(reply, index);
	return u ? u->config : NULL;
}
