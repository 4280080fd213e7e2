/* SPDX-License-Identifier: ISC */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
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
	struct alb_server_limits limits;
	alb_source *sweep; /* the timeouts, while connections are open */
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
	bool yielding;	   /* its turn is over: the rest of its frames on the loop's next turn */
	bool write_failed; /* the peer stopped reading: what it sent is still handled */
	bool streaming;	   /* a subscription: waiting for data is not idleness */
	bool receiving;	   /* the service waits for more frames (an upload) */
	bool feed;	   /* albatrossd's own: never closed by the bounds */
	unsigned burst;	   /* frames handled since the loop last turned */
	uid_t uid;
	uint64_t active_us;		  /* the last byte in or out, or the last command's end */
	uint64_t wrote_us;		  /* the last byte out, or when output began to wait */
	uint64_t window_us, window_bytes; /* the progress window: its start, bytes read */
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
	if (c->out_off == c->out_len)
		c->wrote_us = alb_now_monotonic(); /* the stall is counted from now */
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
	if (!c->paused && !c->closing && !c->eof && !c->yielding)
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
	c->yielding = false;
	c->burst = 0;
	if (!c->server || c->paused)
		return 0;
	conn_update_events(c);
	conn_pump(c);
	/* The peer is gone and everything is answered. */
	if (c->server && c->eof && !c->paused && !c->yielding && alb_conn_queued(c) == 0)
		conn_destroy(c);
	return 0;
}

/* Looks at the connection again from the loop's next turn: whether it will. */
static bool conn_schedule_kick(struct alb_conn *c)
{
	if (c->kick)
		return true;
	if (!c->server || alb_loop_add_timer(c->server->loop, 0, conn_kick, c, &c->kick) < 0)
		return false;
	alb_conn_ref(c);
	return true;
}

void alb_conn_pause(struct alb_conn *conn, bool pause)
{
	conn->paused = pause;
	if (!pause) { /* its command ended: idleness and progress are counted from now */
		conn->active_us = conn->window_us = alb_now_monotonic();
		conn->window_bytes = 0;
	}
	conn_update_events(conn);
	/* Frames may wait in the reader, or the peer may be gone: look again from the
	 * loop (not from here: the caller may be in the middle of a reply). */
	if (!pause)
		conn_schedule_kick(conn);
}

void alb_conn_set_streaming(struct alb_conn *conn, bool streaming)
{
	conn->streaming = streaming;
	if (!streaming)
		conn->active_us = alb_now_monotonic();
}

void alb_conn_set_feed(struct alb_conn *conn)
{
	conn->feed = true;
}

int alb_conn_take_feed(struct alb_conn *conn, const alb_msg *msg)
{
	if (conn->uid != 0 && conn->uid != geteuid())
		return alb_conn_send_failure(conn, msg->seq, msg->name, EPERM,
					     "feed: only albatrossd may feed this daemon (uid %u)",
					     (unsigned)conn->uid);
	conn->feed = true;
	return alb_conn_send_ok(conn, msg->seq, msg->name, NULL);
}

void alb_conn_set_receiving(struct alb_conn *conn, bool receiving)
{
	if (receiving && !conn->receiving) {
		conn->window_us = alb_now_monotonic();
		conn->window_bytes = 0;
	}
	conn->receiving = receiving;
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
	if (!s->n_conns)
		s->sweep = alb_source_free(s->sweep);
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
		if (c->burst >= ALB_SERVER_BURST && conn_schedule_kick(c)) {
			/* Enough for one turn: the other connections are served first. */
			c->yielding = true;
			conn_update_events(c);
			return;
		}
		_cleanup_free_ uint8_t *buf = NULL;
		uint64_t len;
		int r = alb_frame_reader_next(s->ctx, c->reader, &buf, &len);
		if (r == 0)
			break;
		c->burst++;
		if (r < 0) {
			alb_conn_send_failure(c, 0, NULL, EBADMSG, "%s",
					      alb_ctx_last_error(s->ctx));
			alb_conn_close(c);
			return;
		}
		alb_msg *msg = NULL;
		if (buf) {
			/* A chunk may take buf (no copy of an upload's bytes). */
			r = alb_msg_decode_frame(s->ctx, &buf, len, &msg);
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

	if (!c->yielding)
		c->burst = 0; /* a new turn */
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
			c->wrote_us = c->active_us = alb_now_monotonic();
		}
		if (alb_conn_queued(c) == 0) {
			c->out_off = c->out_len = 0;
			if (c->closing || (c->eof && !c->paused && !c->yielding)) {
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
	    !c->eof && !c->yielding) {
		bool was_empty = alb_frame_reader_is_empty(c->reader) && !c->receiving;
		ssize_t n = alb_frame_reader_read(s->ctx, c->reader, fd);
		if (n > 0) {
			uint64_t now = alb_now_monotonic();
			if (was_empty) { /* a message begins: its progress is counted from now */
				c->window_us = now;
				c->window_bytes = 0;
			}
			c->window_bytes += (uint64_t)n;
			c->active_us = now;
		}
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
			if (c->server && alb_conn_queued(c) == 0 && !c->paused && !c->yielding)
				conn_destroy(c);
			else
				conn_update_events(c);
			return 0;
		}
		conn_pump(c);
	} else if ((events & (ALB_IO_HUP | ALB_IO_ERR)) && c->server && !c->yielding) {
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

/* Connections of uid now. */
static unsigned uid_conns(const struct alb_server *s, uid_t uid)
{
	unsigned n = 0;
	for (const struct alb_conn *c = s->conns; c; c = c->next)
		n += c->uid == uid;
	return n;
}

/* How readily a connection goes to make room: idle ones first (0), then those streaming
 * or waiting for their reader or for more input (1); one whose command runs never (-1),
 * unless the command is a download waiting for its reader. */
static int evict_rank(const struct alb_conn *c)
{
	if (c->closing || c->feed || (c->paused && alb_conn_queued(c) == 0))
		return -1;
	if (c->streaming || c->receiving || alb_conn_queued(c) > 0 ||
	    !alb_frame_reader_is_empty(c->reader))
		return 1;
	return 0;
}

/*
 * Every slot is taken and a peer of uid comes: the connection that goes is one of the
 * peer that holds the most (the newcomer's own when it holds as many), the idlest of
 * them, least recently active first. NULL if every connection of theirs runs a command.
 */
static struct alb_conn *evict_choose(struct alb_server *s, uid_t newcomer, unsigned *ret_held)
{
	struct alb_conn *best = NULL;
	unsigned best_held = 0;
	int best_rank = 0;
	for (struct alb_conn *c = s->conns; c; c = c->next) {
		int rank = evict_rank(c);
		if (rank < 0)
			continue;
		unsigned held = uid_conns(s, c->uid);
		bool better;
		if (!best || held != best_held)
			better = !best || held > best_held;
		else if (c->uid != best->uid)
			better = c->uid == newcomer;
		else if (rank != best_rank)
			better = rank < best_rank;
		else
			better = c->active_us < best->active_us;
		if (better) {
			best = c;
			best_held = held;
			best_rank = rank;
		}
	}
	*ret_held = best_held;
	return best;
}

/* Ends c at once, with a failure that says why after what was queued for it (what the
 * socket takes now of the two is written; the rest is lost with the connection). */
static void conn_end_now(struct alb_conn *c, int error, const char *why)
{
	if (!c->write_failed) {
		(void)alb_conn_send_failure(c, 0, NULL, error, "%s", why);
		while (alb_conn_queued(c) > 0) {
			ssize_t n = send(c->fd, c->out + c->out_off, alb_conn_queued(c),
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n <= 0)
				break;
			c->out_off += (size_t)n;
		}
	}
	conn_destroy(c);
}

/* Refuses a connection that could not be served: a failure frame, then close. */
static void refuse(struct alb_server *s, int fd, const char *why)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	_cleanup_(alb_name_freep) alb_name *root = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	uint64_t len;
	if (alb_name_new_root(&root) >= 0 && alb_msg_new(&m, ALB_MSG_FAILURE, 0, root) >= 0 &&
	    (m->failure.message = strdup(why))) {
		m->failure.code = EUSERS;
		if (alb_msg_encode_unchecked(s->ctx, m, &buf, &len) == 0 && len <= UINT32_MAX) {
			uint8_t h[ALB_FRAME_HEADER_SIZE];
			alb_frame_header_put(h, (uint32_t)len);
			struct iovec iov[2] = {{h, sizeof(h)}, {buf, (size_t)len}};
			struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
			(void)sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		}
	}
	close(fd);
}

static int sweep(alb_source *source, void *userdata);

/* The timeouts are looked at while connections are open. */
static void sweep_update(struct alb_server *s)
{
	if (!s->n_conns) {
		s->sweep = alb_source_free(s->sweep);
		return;
	}
	if (s->sweep)
		return;
	uint64_t period = s->limits.idle_ms * 1000 / 4;
	if (period > 1000000)
		period = 1000000;
	if (period < 50000)
		period = 50000;
	(void)alb_loop_add_timer(s->loop, period, sweep, s, &s->sweep);
}

static int accept_one(alb_source *source, int fd, uint32_t events, void *userdata)
{
	struct listener *l = userdata;
	struct alb_server *s = l->server;
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return 0;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	uid_t uid =
	    getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0 ? cred.uid : (uid_t)-1;
	if (s->n_conns >= s->limits.conns_max) {
		unsigned held = 0;
		struct alb_conn *victim = evict_choose(s, uid, &held);
		char why[200];
		if (!victim) {
			snprintf(why, sizeof(why),
				 "refused: %u connections are open (the bound) and each runs a "
				 "command; try again",
				 s->n_conns);
			alb_log_warn(s->ctx,
				     "Refusing a connection of uid %u: %u are open, all busy",
				     (unsigned)uid, s->n_conns);
			refuse(s, cfd, why);
			return 0;
		}
		snprintf(why, sizeof(why),
			 "closed to make room: %u connections are open (the bound), uid %u holds "
			 "%u of them, and this one was its idlest",
			 s->n_conns, (unsigned)victim->uid, held);
		alb_log_info(s->ctx,
			     "Closing a connection of uid %u for one of uid %u: %u are open, "
			     "%u of them uid %u's",
			     (unsigned)victim->uid, (unsigned)uid, s->n_conns, held,
			     (unsigned)victim->uid);
		conn_end_now(victim, EUSERS, why);
	}
	struct alb_conn *c = calloc(1, sizeof(*c));
	if (!c || alb_frame_reader_new(s->frame_max, &c->reader) < 0) {
		free(c);
		close(cfd);
		return 0;
	}
	/* Room for a whole reply of a listing (info of many) or a stream's frames in the
	 * kernel at once (capped by net.core.wmem_max): fewer turns of the loop. A hint. */
	int sndbuf = ALB_SERVER_SNDBUF;
	(void)setsockopt(cfd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	c->refcount = 1;
	c->fd = cfd;
	c->server = s;
	c->uid = uid;
	c->active_us = c->wrote_us = c->window_us = alb_now_monotonic();
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
	sweep_update(s);
	return 0;
}

/*
 * The slow bound: how long an upload may go without a further frame, and a reader without
 * reading anything of what waits for it. Frames are written whole by clients (and by the
 * TLS endpoint, which passes a remote client's frames on as they are complete), so one
 * chunk (ALB_CHUNK_MAX) may take its time at the minimum rate; never less than the idle
 * timeout.
 */
static uint64_t slow_us(const struct alb_server_limits *lim)
{
	uint64_t idle_us = lim->idle_ms * 1000;
	if (!lim->min_rate)
		return idle_us;
	uint64_t chunk_us = (uint64_t)ALB_CHUNK_MAX * 1000000 / lim->min_rate;
	return chunk_us > idle_us ? chunk_us : idle_us;
}

/*
 * The timeouts: a connection whose reader has read nothing of what waits for it, one
 * with nothing under way, one whose message trickles in below the minimum rate, and one
 * whose upload brings no further frame for the slow bound are closed. One whose command
 * runs (paused) is left alone, unless it is a download that its reader does not read.
 */
static int sweep(alb_source *source, void *userdata)
{
	struct alb_server *s = userdata;
	const struct alb_server_limits *lim = &s->limits;
	uint64_t now = alb_now_monotonic(), idle_us = lim->idle_ms * 1000, slow = slow_us(lim);
	uint64_t window_us = idle_us < 10000000 ? idle_us : 10000000;
	s->sweep = alb_source_free(s->sweep);
	for (struct alb_conn *c = s->conns, *next; c; c = next) {
		next = c->next;
		if (c->feed)
			continue;
		char why[200];
		if (alb_conn_queued(c) > 0) {
			if (now - c->wrote_us < slow)
				continue;
			alb_log_info(
			    s->ctx,
			    "Closing a connection of uid %u: it read nothing of its %" PRIu64
			    " bytes for %" PRIu64 " ms",
			    (unsigned)c->uid, alb_conn_queued(c), (now - c->wrote_us) / 1000);
			conn_destroy(c); /* it does not read: no failure would reach it */
		} else if (c->paused) {
			continue;
		} else if (!alb_frame_reader_is_empty(c->reader) && lim->min_rate) {
			/* A message under way: at the minimum rate over each window. */
			if (now - c->window_us < window_us)
				continue;
			uint64_t need = lim->min_rate * (window_us / 1000) / 1000;
			if (c->window_bytes >= need) {
				c->window_us = now;
				c->window_bytes = 0;
				continue;
			}
			snprintf(why, sizeof(why),
				 "closed: %" PRIu64 " bytes came in the last %" PRIu64
				 " ms of a message, %" PRIu64 " at least are expected (%" PRIu64
				 " bytes/s)",
				 c->window_bytes, (now - c->window_us) / 1000, need, lim->min_rate);
			alb_log_info(s->ctx, "Closing a connection of uid %u: it trickles (%s)",
				     (unsigned)c->uid, why);
			conn_end_now(c, ETIMEDOUT, why);
		} else if (c->receiving) {
			/* Between the frames of an upload: the next one within the slow bound. */
			if (now - c->active_us < slow)
				continue;
			snprintf(
			    why, sizeof(why),
			    "closed: no data of the upload for %" PRIu64
			    " ms (a chunk of %u bytes is expected at %" PRIu64 " bytes/s at least)",
			    (now - c->active_us) / 1000, (unsigned)ALB_CHUNK_MAX, lim->min_rate);
			alb_log_info(s->ctx, "Closing a connection of uid %u: it trickles (%s)",
				     (unsigned)c->uid, why);
			conn_end_now(c, ETIMEDOUT, why);
		} else if (!c->streaming && now - c->active_us >= idle_us) {
			/* Nothing under way (or a message with no minimum rate to keep). */
			snprintf(why, sizeof(why), "closed: idle for %" PRIu64 " ms", lim->idle_ms);
			alb_log_debug(s->ctx, "Closing a connection of uid %u: %s",
				      (unsigned)c->uid, why);
			conn_end_now(c, ETIMEDOUT, why);
		}
	}
	sweep_update(s);
	return 0;
}

/* The bounds, and those the environment sets (docs/protocol.md, "Fair share"). */
static void limits_from_env(alb_ctx *ctx, struct alb_server_limits *l)
{
	static const struct {
		const char *var;
		uint64_t min, max, scale;
		size_t off;
	} vars[] = {
	    {"ALBATROSS_IDLE_TIMEOUT", 1, 86400, 1000, offsetof(struct alb_server_limits, idle_ms)},
	    {"ALBATROSS_MIN_RATE", 0, UINT32_MAX, 1, offsetof(struct alb_server_limits, min_rate)},
	};
	*l = (struct alb_server_limits){.conns_max = ALB_SERVER_CONNS_MAX,
					.idle_ms = ALB_SERVER_IDLE_MS_DEFAULT,
					.min_rate = ALB_SERVER_MIN_RATE_DEFAULT};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i].var);
		uint64_t n;
		if (!v || !*v)
			continue;
		if (alb_parse_u64(v, vars[i].min, vars[i].max, &n) < 0) {
			alb_log_warn(ctx,
				     "%s: '%s' is not a number from %" PRIu64 " to %" PRIu64
				     "; ignored",
				     vars[i].var, v, vars[i].min, vars[i].max);
			continue;
		}
		*(uint64_t *)((char *)l + vars[i].off) = n * vars[i].scale;
	}
}

void alb_server_set_limits(struct alb_server *server, const struct alb_server_limits *limits)
{
	server->limits = *limits;
	if (!server->limits.conns_max)
		server->limits.conns_max = 1;
	if (!server->limits.idle_ms)
		server->limits.idle_ms = ALB_SERVER_IDLE_MS_DEFAULT;
	server->sweep = alb_source_free(server->sweep);
	sweep_update(server);
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
	limits_from_env(ctx, &s->limits);
	*ret = s;
	return 0;
}

struct alb_server *alb_server_free(struct alb_server *server)
{
	if (!server)
		return NULL;
	while (server->conns)
		conn_destroy(server->conns);
	server->sweep = alb_source_free(server->sweep);
	for (unsigned i = 0; i < server->n_listeners; i++) {
		alb_source_free(server->listeners[i].source);
		close(server->listeners[i].fd);
	}
	free(server->listeners);
	free(server);
	return NULL;
}

void alb_server_flush(struct alb_server *server, int timeout_ms)
{
	uint64_t end = alb_now_monotonic() + (uint64_t)timeout_ms * 1000;
	for (struct alb_conn *c = server->conns; c; c = c->next)
		while (c->fd >= 0 && !c->write_failed && alb_conn_queued(c) > 0) {
			ssize_t n = send(c->fd, c->out + c->out_off, alb_conn_queued(c),
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0) {
				c->out_off += (size_t)n;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0 || errno != EAGAIN) {
				c->write_failed = true;
				c->out_off = c->out_len = 0;
				break;
			}
			uint64_t now = alb_now_monotonic();
			if (now >= end)
				return;
			struct pollfd p = {.fd = c->fd, .events = POLLOUT};
			(void)poll(&p, 1, (int)((end - now + 999) / 1000));
		}
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
