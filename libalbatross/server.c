/* SPDX-License-Identifier: ISC */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "ctx-private.h"
#include "frame-private.h"
#include "server-private.h"

struct listener {
	int fd;
	alb_source *source;
	struct alb_server *server;
};

struct alb_server {
	alb_ctx *ctx;
	alb_loop *loop;
	struct alb_server_ops ops;
	void *userdata;
	uint64_t frame_max;
	struct listener *listeners;
	unsigned n_listeners;
	struct alb_conn *conns; /* list */
	unsigned n_conns;
};

struct alb_conn {
	unsigned refcount;
	struct alb_server *server; /* NULL once closed */
	struct alb_conn *prev, *next;
	int fd;
	alb_source *source;
	alb_source *kick; /* resumes the frames buffered while paused, from the loop */
	alb_frame_reader *reader;
	uint8_t *out;
	size_t out_len, out_off, out_cap;
	bool paused, closing, eof;
	bool write_failed; /* the peer stopped reading: what it sent is still handled */
	uid_t uid;
	void *data;
};

static void conn_update_events(struct alb_conn *c);
static void conn_destroy(struct alb_conn *c);

struct alb_conn *alb_conn_ref(struct alb_conn *conn)
{
	if (conn)
		conn->refcount++;
	return conn;
}

struct alb_conn *alb_conn_unref(struct alb_conn *conn)
{
	if (!conn || --conn->refcount > 0)
		return NULL;
	free(conn->out);
	alb_frame_reader_free(conn->reader);
	free(conn);
	return NULL;
}

bool alb_conn_is_closed(const struct alb_conn *conn)
{
	return !conn->server;
}

void alb_conn_set_data(struct alb_conn *conn, void *data)
{
	conn->data = data;
}

void *alb_conn_get_data(const struct alb_conn *conn)
{
	return conn->data;
}

uid_t alb_conn_peer_uid(const struct alb_conn *conn)
{
	return conn->uid;
}

uint64_t alb_conn_queued(const struct alb_conn *conn)
{
	return conn->out_len - conn->out_off;
}

/* Queues one frame of len bytes of buf (NULL, 0: an end-of-stream frame). */
static int queue_frame(struct alb_conn *c, const uint8_t *buf, size_t len)
{
	const size_t size = ALB_FRAME_HEADER_SIZE + len;

	if (!c->server || c->closing || c->write_failed)
		return -EPIPE;
	if (alb_conn_queued(c) + size > ALB_SERVER_QUEUE_MAX)
		return -ENOBUFS;
	if (c->out_off > 0 && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + size > c->out_cap) {
		/* Compact, then grow. */
		if (c->out_off > 0) {
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		size_t cap = c->out_cap ? c->out_cap : 65536;
		while (cap < c->out_len + size)
			cap *= 2;
		uint8_t *n = realloc(c->out, cap);
		if (!n)
			return -ENOMEM;
		c->out = n;
		c->out_cap = cap;
	}
	alb_frame_header_put(c->out + c->out_len, (uint32_t)len);
	if (len)
		memcpy(c->out + c->out_len + ALB_FRAME_HEADER_SIZE, buf, len);
	c->out_len += size;
	conn_update_events(c);
	return 0;
}

int alb_conn_send(struct alb_conn *conn, const alb_msg *msg)
{
	if (!conn->server)
		return -EPIPE;
	_cleanup_free_ uint8_t *buf = NULL;
	uint64_t len;
	int r = alb_msg_encode_unchecked(conn->server->ctx, msg, &buf, &len);
	if (r < 0)
		return r;
	return queue_frame(conn, buf, len);
}

int alb_conn_send_end(struct alb_conn *conn)
{
	return queue_frame(conn, NULL, 0);
}

int alb_conn_send_failure(struct alb_conn *conn, uint64_t seq, const alb_name *name, int error,
			  const char *fmt, ...)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	_cleanup_(alb_name_freep) alb_name *root = NULL;
	if (!name && alb_name_new_root(&root) < 0)
		return -ENOMEM;
	int r = alb_msg_new(&m, ALB_MSG_FAILURE, seq, name ? name : root);
	if (r < 0)
		return r;
	if (error <= 0 || error > (int)ALB_ERROR_CODE_MAX)
		error = EIO;
	m->failure.code = (uint32_t)error;
	va_list ap;
	va_start(ap, fmt);
	r = vasprintf(&m->failure.message, fmt, ap);
	va_end(ap);
	if (r < 0) {
		m->failure.message = NULL;
		return -ENOMEM;
	}
	if (strlen(m->failure.message) > ALB_WIRE_STRING_MAX)
		m->failure.message[ALB_WIRE_STRING_MAX] = '\0';
	return alb_conn_send(conn, m);
}

int alb_conn_send_ok(struct alb_conn *conn, uint64_t seq, const alb_name *name, const char *text)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	int r = alb_msg_new(&m, ALB_MSG_SUCCESS, seq, name);
	if (r < 0)
		return r;
	m->reply.kind = text ? ALB_REPLY_STRING : ALB_REPLY_EMPTY;
	if (text && !(m->reply.string = strndup(text, ALB_WIRE_STRING_MAX)))
		return -ENOMEM;
	return alb_conn_send(conn, m);
}

static void conn_update_events(struct alb_conn *c)
{
	if (!c->server || !c->source)
		return;
	uint32_t ev = 0;
	if (!c->paused && !c->closing && !c->eof)
		ev |= ALB_IO_IN;
	if (alb_conn_queued(c) > 0)
		ev |= ALB_IO_OUT;
	alb_source_set_io_events(c->source, ev);
}

static void conn_pump(struct alb_conn *c);

static int conn_kick(alb_source *source, void *userdata)
{
	struct alb_conn *c = userdata;
	_cleanup_(alb_conn_unrefp) _unused_ struct alb_conn *hold = c; /* the kick's reference */
	c->kick = alb_source_free(c->kick);
	if (!c->server || c->paused)
		return 0;
	conn_pump(c);
	/* The peer is gone and everything is answered. */
	if (c->server && c->eof && !c->paused && alb_conn_queued(c) == 0)
		conn_destroy(c);
	return 0;
}

void alb_conn_pause(struct alb_conn *conn, bool pause)
{
	conn->paused = pause;
	conn_update_events(conn);
	/* Frames may wait in the reader, or the peer may be gone: look again from the
	 * loop (not from here: the caller may be in the middle of a reply). */
	if (!pause && conn->server && !conn->kick &&
	    alb_loop_add_timer(conn->server->loop, 0, conn_kick, conn, &conn->kick) >= 0)
		alb_conn_ref(conn);
}

static void conn_destroy(struct alb_conn *c)
{
	struct alb_server *s = c->server;
	if (!s)
		return;
	c->source = alb_source_free(c->source);
	if (c->kick) {
		c->kick = alb_source_free(c->kick);
		alb_conn_unref(c); /* the kick's reference */
	}
	close(c->fd);
	c->fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_conns--;
	c->server = NULL;
	if (s->ops.on_close)
		s->ops.on_close(c, s->userdata);
	alb_conn_unref(c);
}

void alb_conn_close(struct alb_conn *conn)
{
	if (!conn->server)
		return;
	conn->closing = true;
	if (alb_conn_queued(conn) == 0)
		conn_destroy(conn);
	else
		conn_update_events(conn);
}

/* Decodes and delivers the frames buffered, while not paused. */
static void conn_pump(struct alb_conn *c)
{
	struct alb_server *s = c->server;
	while (c->server && !c->paused && !c->closing) {
		_cleanup_free_ uint8_t *buf = NULL;
		uint64_t len;
		int r = alb_frame_reader_next(s->ctx, c->reader, &buf, &len);
		if (r == 0)
			break;
		if (r < 0) {
			alb_conn_send_failure(c, 0, NULL, EBADMSG, "%s",
					      alb_ctx_last_error(s->ctx));
			alb_conn_close(c);
			return;
		}
		alb_msg *msg = NULL;
		if (buf) {
			r = alb_msg_decode(s->ctx, buf, len, &msg);
			if (r < 0) {
				alb_conn_send_failure(c, 0, NULL, -r, "malformed message: %s",
						      alb_ctx_last_error(s->ctx));
				alb_conn_close(c);
				return;
			}
		}
		if (s->ops.on_message(c, msg, s->userdata) < 0) {
			alb_conn_close(c);
			return;
		}
	}
}

static int conn_io(alb_source *source, int fd, uint32_t events, void *userdata)
{
	struct alb_conn *c = userdata;
	/* Keeps c alive through callbacks that may drop the last other reference. */
	_cleanup_(alb_conn_unrefp) _unused_ struct alb_conn *hold = alb_conn_ref(c);
	struct alb_server *s = c->server;

	if (events & ALB_IO_OUT) {
		while (alb_conn_queued(c) > 0) {
			ssize_t n = send(fd, c->out + c->out_off, alb_conn_queued(c),
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				/* The peer may have sent its last frames and closed: read them
				 * before the connection goes (the replies go nowhere). */
				c->write_failed = true;
				c->out_off = c->out_len = 0;
				break;
			}
			c->out_off += (size_t)n;
		}
		if (alb_conn_queued(c) == 0) {
			c->out_off = c->out_len = 0;
			if (c->closing || (c->eof && !c->paused)) {
				conn_destroy(c);
				return 0;
			}
			if (s->ops.on_drain)
				s->ops.on_drain(c, s->userdata);
			if (!c->server)
				return 0;
		}
		conn_update_events(c);
	}
	if ((events & (ALB_IO_IN | ALB_IO_HUP | ALB_IO_ERR)) && !c->paused && !c->closing &&
	    !c->eof) {
		ssize_t n = alb_frame_reader_read(s->ctx, c->reader, fd);
		if (n == -EAGAIN)
			return 0;
		if (n == -EBADMSG) {
			alb_conn_send_failure(c, 0, NULL, EMSGSIZE, "%s",
					      alb_ctx_last_error(s->ctx));
			alb_conn_close(c);
			return 0;
		}
		if (n < 0) {
			conn_destroy(c);
			return 0;
		}
		if (n == 0) {
			c->eof = true;
			/* Frames already buffered are still handled. */
			conn_pump(c);
			if (c->server && alb_conn_queued(c) == 0 && !c->paused)
				conn_destroy(c);
			else
				conn_update_events(c);
			return 0;
		}
		conn_pump(c);
	} else if ((events & (ALB_IO_HUP | ALB_IO_ERR)) && c->server) {
		if (!c->paused && alb_conn_queued(c) == 0)
			conn_destroy(c);
		else if (c->paused) {
			/* Gone while a command of its runs: stop watching (epoll reports a
			 * hang-up whatever the mask), answer nobody, close when resumed. */
			c->eof = true;
			c->write_failed = true;
			c->out_off = c->out_len = 0;
			c->source = alb_source_free(c->source);
		}
	}
	return 0;
}

static int accept_one(alb_source *source, int fd, uint32_t events, void *userdata)
{
	struct listener *l = userdata;
	struct alb_server *s = l->server;
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return 0;
	if (s->n_conns >= ALB_SERVER_CONNS_MAX) {
		alb_log_warn(s->ctx, "Refusing a connection: %u connections are open", s->n_conns);
		close(cfd);
		return 0;
	}
	struct alb_conn *c = calloc(1, sizeof(*c));
	if (!c || alb_frame_reader_new(s->frame_max, &c->reader) < 0) {
		free(c);
		close(cfd);
		return 0;
	}
	c->refcount = 1;
	c->fd = cfd;
	c->server = s;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	c->uid = getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0 ? cred.uid : (uid_t)-1;
	if (alb_loop_add_io(s->loop, cfd, ALB_IO_IN, conn_io, c, &c->source) < 0) {
		alb_frame_reader_free(c->reader);
		free(c);
		close(cfd);
		return 0;
	}
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	return 0;
}

int alb_server_new(alb_ctx *ctx, alb_loop *loop, const struct alb_server_ops *ops, void *userdata,
		   uint64_t frame_max, struct alb_server **ret)
{
	struct alb_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ctx = ctx;
	s->loop = loop;
	s->ops = *ops;
	s->userdata = userdata;
	s->frame_max = frame_max ? frame_max : ALB_FRAME_MAX_DEFAULT;
	*ret = s;
	return 0;
}

struct alb_server *alb_server_free(struct alb_server *server)
{
	if (!server)
		return NULL;
	while (server->conns)
		conn_destroy(server->conns);
	for (unsigned i = 0; i < server->n_listeners; i++) {
		alb_source_free(server->listeners[i].source);
		close(server->listeners[i].fd);
	}
	free(server->listeners);
	free(server);
	return NULL;
}

unsigned alb_server_conn_count(const struct alb_server *server)
{
	return server->n_conns;
}

int alb_server_add_listen_fd(struct alb_server *server, int fd)
{
	/* Listener addresses must stay put: allocate the array once, generously. */
	if (!server->listeners && !(server->listeners = calloc(8, sizeof(struct listener))))
		return -ENOMEM;
	if (server->n_listeners >= 8)
		return -E2BIG;
	struct listener *l = &server->listeners[server->n_listeners];
	l->fd = fd;
	l->server = server;
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	int r = alb_loop_add_io(server->loop, fd, ALB_IO_IN, accept_one, l, &l->source);
	if (r < 0)
		return r;
	server->n_listeners++;
	return 0;
}

int alb_server_listen_unix(struct alb_server *server, const char *path, unsigned mode, gid_t gid)
{
	alb_ctx *ctx = server->ctx;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return alb_error(ctx, ENAMETOOLONG, "socket path '%s' is too long", path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return alb_error(ctx, errno, "Failed to create a socket: %s", strerror(errno));
	(void)unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, mode) < 0 ||
	    (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0) || listen(fd, 64) < 0) {
		int r =
		    alb_error(ctx, errno, "Failed to listen on '%s': %s", path, strerror(errno));
		close(fd);
		return r;
	}
	int r = alb_server_add_listen_fd(server, fd);
	if (r < 0)
		close(fd);
	return r;
}
