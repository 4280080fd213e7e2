/* SPDX-License-Identifier: ISC */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "ctx-private.h"
#include "frame-private.h"
#include "peer-private.h"

#define BACKOFF_MIN_US 200000u
#define BACKOFF_MAX_US 5000000u

/* One encoded frame waiting to be written. */
struct frame {
	struct frame *next;
	size_t len, off;
	uint8_t bytes[]; /* header + payload */
};

struct alb_peer {
	alb_ctx *ctx;
	alb_loop *loop;
	char *name, *path;
	struct alb_peer_ops ops;
	void *userdata;
	bool keep_while_down;
	uint64_t queue_max, queued, dropped, seq;
	struct frame *head, *tail;
	int fd;
	alb_source *io, *timer;
	alb_frame_reader *reader;
	uint64_t backoff_us;
	bool logged_down;
};

static void schedule_connect(struct alb_peer *p);

static void queue_drop_head(struct alb_peer *p)
{
	struct frame *f = p->head;
	p->head = f->next;
	if (!p->head)
		p->tail = NULL;
	p->queued -= f->len;
	free(f);
}

static void update_events(struct alb_peer *p)
{
	if (p->io)
		alb_source_set_io_events(p->io, ALB_IO_IN | (p->head ? ALB_IO_OUT : 0));
}

static void disconnect(struct alb_peer *p, const char *why)
{
	if (p->fd < 0)
		return;
	alb_log_warn(p->ctx, "Lost the connection to %s (%s): %s; reconnecting", p->name, p->path,
		     why);
	p->io = alb_source_free(p->io);
	close(p->fd);
	p->fd = -1;
	p->reader = alb_frame_reader_free(p->reader);
	/* A frame cut in the middle must start again from its beginning. */
	if (p->head)
		p->head->off = 0;
	if (!p->keep_while_down)
		while (p->head)
			queue_drop_head(p);
	if (p->ops.on_disconnect)
		p->ops.on_disconnect(p, p->userdata);
	schedule_connect(p);
}

static int peer_io(alb_source *source, int fd, uint32_t events, void *userdata)
{
	struct alb_peer *p = userdata;
	while ((events & ALB_IO_OUT) && p->head) {
		struct frame *f = p->head;
		ssize_t n =
		    send(fd, f->bytes + f->off, f->len - f->off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			disconnect(p, strerror(errno));
			return 0;
		}
		f->off += (size_t)n;
		if (f->off == f->len)
			queue_drop_head(p);
	}
	if (events & (ALB_IO_IN | ALB_IO_HUP | ALB_IO_ERR)) {
		ssize_t n = alb_frame_reader_read(p->ctx, p->reader, fd);
		if (n == 0 || (n < 0 && n != -EAGAIN)) {
			disconnect(p, n == 0 ? "closed by the peer" : alb_ctx_last_error(p->ctx));
			return 0;
		}
		for (;;) {
			_cleanup_free_ uint8_t *buf = NULL;
			uint64_t len;
			int r = alb_frame_reader_next(p->ctx, p->reader, &buf, &len);
			if (r <= 0) {
				if (r < 0) {
					disconnect(p, alb_ctx_last_error(p->ctx));
					return 0;
				}
				break;
			}
			_cleanup_(alb_msg_freep) alb_msg *m = NULL;
			if (!buf || alb_msg_decode(p->ctx, buf, len, &m) < 0)
				continue;
			if (m->kind == ALB_MSG_FAILURE) {
				_cleanup_free_ char *n2 = alb_name_to_string(m->name);
				alb_log_warn(p->ctx, "%s refused a message about '%s': %s", p->name,
					     n2 ? n2 : "?", m->failure.message);
				if (p->ops.on_failure)
					p->ops.on_failure(p, m, p->userdata);
			}
			if ((m->kind == ALB_MSG_FAILURE || m->kind == ALB_MSG_SUCCESS) &&
			    p->ops.on_reply)
				p->ops.on_reply(p, m, p->userdata);
			if (p->fd < 0)
				return 0; /* a callback disconnected */
		}
	}
	update_events(p);
	return 0;
}

static int try_connect(alb_source *source, void *userdata)
{
	struct alb_peer *p = userdata;
	p->timer = alb_source_free(p->timer);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p->path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (!p->logged_down)
			alb_log_info(p->ctx, "%s is not there (%s): %s; retrying", p->name, p->path,
				     strerror(errno));
		p->logged_down = true;
		if (fd >= 0)
			close(fd);
		schedule_connect(p);
		return 0;
	}
	if (alb_frame_reader_new(0, &p->reader) < 0 ||
	    alb_loop_add_io(p->loop, fd, ALB_IO_IN, peer_io, p, &p->io) < 0) {
		p->reader = alb_frame_reader_free(p->reader);
		close(fd);
		schedule_connect(p);
		return 0;
	}
	p->fd = fd;
	p->backoff_us = BACKOFF_MIN_US;
	p->logged_down = false;
	alb_log_info(p->ctx, "Connected to %s (%s)", p->name, p->path);
	if (p->ops.on_connect)
		p->ops.on_connect(p, p->userdata);
	update_events(p);
	return 0;
}

static void schedule_connect(struct alb_peer *p)
{
	if (p->timer)
		return;
	if (alb_loop_add_timer(p->loop, p->backoff_us, try_connect, p, &p->timer) < 0)
		alb_log_err(p->ctx, "Failed to schedule a reconnect to %s", p->name);
	p->backoff_us = p->backoff_us * 2 > BACKOFF_MAX_US ? BACKOFF_MAX_US : p->backoff_us * 2;
}

int alb_peer_new(alb_ctx *ctx, alb_loop *loop, const char *name, const char *path,
		 const struct alb_peer_ops *ops, void *userdata, bool keep_while_down,
		 uint64_t queue_max, struct alb_peer **ret)
{
	struct alb_peer *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ctx = ctx;
	p->loop = loop;
	p->fd = -1;
	p->ops = *ops;
	p->userdata = userdata;
	p->keep_while_down = keep_while_down;
	p->queue_max = queue_max;
	p->backoff_us = BACKOFF_MIN_US;
	p->name = strdup(name);
	p->path = strdup(path);
	if (!p->name || !p->path) {
		alb_peer_free(p);
		return -ENOMEM;
	}
	*ret = p;
	/* The first attempt at once. */
	try_connect(NULL, p);
	return 0;
}

struct alb_peer *alb_peer_free(struct alb_peer *peer)
{
	if (!peer)
		return NULL;
	peer->io = alb_source_free(peer->io);
	peer->timer = alb_source_free(peer->timer);
	if (peer->fd >= 0)
		close(peer->fd);
	alb_frame_reader_free(peer->reader);
	while (peer->head)
		queue_drop_head(peer);
	free(peer->name);
	free(peer->path);
	free(peer);
	return NULL;
}

bool alb_peer_connected(const struct alb_peer *peer)
{
	return peer && peer->fd >= 0;
}

uint64_t alb_peer_dropped(const struct alb_peer *peer)
{
	return peer ? peer->dropped : 0;
}

int alb_peer_send(struct alb_peer *p, alb_msg *msg)
{
	if (p->fd < 0 && !p->keep_while_down) {
		p->dropped++;
		return -ENOTCONN;
	}
	msg->seq = ++p->seq;
	_cleanup_free_ uint8_t *buf = NULL;
	uint64_t len;
	int r = alb_msg_encode_unchecked(p->ctx, msg, &buf, &len);
	if (r < 0)
		return r;
	struct frame *f = malloc(sizeof(*f) + ALB_FRAME_HEADER_SIZE + len);
	if (!f)
		return -ENOMEM;
	f->next = NULL;
	f->len = ALB_FRAME_HEADER_SIZE + len;
	f->off = 0;
	alb_frame_header_put(f->bytes, (uint32_t)len);
	memcpy(f->bytes + ALB_FRAME_HEADER_SIZE, buf, len);
	/* Bounded: the oldest go first (never the one being written). */
	while (p->queued + f->len > p->queue_max && p->head && !(p->fd >= 0 && p->head->off > 0)) {
		queue_drop_head(p);
		if (p->dropped++ == 0 || p->dropped % 1000 == 0)
			alb_log_warn(p->ctx, "%s is behind: %" PRIu64 " messages dropped", p->name,
				     p->dropped);
	}
	if (p->tail)
		p->tail->next = f;
	else
		p->head = f;
	p->tail = f;
	p->queued += f->len;
	update_events(p);
	return 0;
}

void alb_peer_flush(struct alb_peer *p, int timeout_ms)
{
	uint64_t deadline = alb_now_monotonic() + (uint64_t)timeout_ms * 1000;
	while (p->fd >= 0 && p->head) {
		uint64_t now = alb_now_monotonic();
		if (now >= deadline)
			break;
		struct pollfd pfd = {.fd = p->fd, .events = POLLOUT};
		if (poll(&pfd, 1, (int)((deadline - now) / 1000) + 1) <= 0)
			break;
		peer_io(NULL, p->fd, ALB_IO_OUT, p);
	}
}
