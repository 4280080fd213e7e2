/* SPDX-License-Identifier: ISC */
/*
 * The event log service (log-service-private.h): albatrossd's events are
 * appended to the log, synced, and published; subscribers get the stored
 * records they asked for first (copied out of the file when they subscribe,
 * sent in steps), then the new events.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctx-private.h"
#include "log-private.h"
#include "log-service-private.h"
#include "server-private.h"
#include "sub-private.h"
#include "wire-private.h"

struct alb_log_service {
	alb_ctx *ctx;
	alb_loop *loop;
	alb_event_log *log;
	struct alb_server *server;
	struct alb_subs *subs;
};

/* ---- files ------------------------------------------------------------------------------ */

/* mkdir -p with mode for the directories it makes. */
static int mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = c;
		if (!c)
			return 0;
	}
}

/* Gives the log's directory and files to the user the daemon will run as. */
static int chown_logdir(const char *logdir, uid_t uid, gid_t gid)
{
	static const char *const files[] = {"events.log", "events.log.1"};
	_cleanup_close_ int dfd = open(logdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0 || fchown(dfd, uid, gid) < 0)
		return -errno;
	for (size_t i = 0; i < ELEMENTSOF(files); i++)
		if (fchownat(dfd, files[i], uid, gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT)
			return -errno;
	return 0;
}

/* ---- subscribers ------------------------------------------------------------------------ */

struct record {
	uint8_t *buf;
	size_t len;
};

/* The stored records a subscriber asked for, copied when it subscribed; sent from next on. */
struct history {
	struct record *v;
	size_t n, cap, next;
};

static void history_free(void *data)
{
	struct history *h = data;
	if (!h)
		return;
	for (size_t i = h->next; i < h->n; i++)
		free(h->v[i].buf);
	free(h->v);
	free(h);
}

static int on_record(const uint8_t *payload, size_t len, const struct alb_log_event *event,
		     void *userdata)
{
	struct history *h = userdata;
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct record *v = realloc(h->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	uint8_t *copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, payload, len);
	h->v[h->n++] = (struct record){copy, len};
	return 0;
}

/* A data message carrying the event stored as len bytes at buf. */
static int event_msg(struct alb_log_service *svc, struct alb_sub *sub, const uint8_t *buf,
		     size_t len, alb_msg **ret)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	int r = alb_msg_new(&m, ALB_MSG_DATA, alb_sub_get_seq(sub), alb_sub_get_name(sub));
	if (r < 0)
		return r;
	m->data.kind = ALB_DATA_LOG;
	if ((r = alb_log_event_from_cbor(svc->ctx, buf, len, &m->data.event)) < 0)
		return r;
	*ret = TAKE_PTR(m);
	return 0;
}

static int history(struct alb_sub *sub, void *userdata)
{
	struct alb_log_service *svc = userdata;
	struct history *h = alb_sub_get_data(sub);
	while (h && h->next < h->n && alb_sub_wants_more(sub)) {
		struct record rec = h->v[h->next++];
		_cleanup_(alb_msg_freep) alb_msg *m = NULL;
		int r = event_msg(svc, sub, rec.buf, rec.len, &m);
		free(rec.buf);
		if (r < 0 || (r = alb_sub_send(sub, m)) < 0)
			return r;
	}
	return h && h->next < h->n;
}

struct live_event {
	struct alb_log_service *svc;
	const struct alb_log_event *event;
	const uint8_t *buf;
	size_t len;
};

static int build_event(struct alb_sub *sub, void *userdata, alb_msg **ret)
{
	const struct live_event *e = userdata;
	if (!alb_event_log_filter_match(alb_sub_get_name(sub), e->event))
		return 0;
	return event_msg(e->svc, sub, e->buf, e->len, ret);
}

/* ---- commands --------------------------------------------------------------------------- */

static int handle_event(struct alb_log_service *svc, struct alb_conn *conn, alb_msg *msg)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	uid_t uid = alb_conn_peer_uid(conn);
	int r;

	/* Only albatrossd (root, or whoever runs this daemon) writes the log. */
	if (uid != 0 && uid != geteuid())
		return alb_conn_send_failure(conn, msg->seq, msg->name, EPERM,
					     "log-event: only albatrossd may add events (uid %u)",
					     (unsigned)uid);
	alb_conn_set_feed(conn);
	r = alb_log_event_to_cbor(svc->ctx, msg->cmd.event, &buf, &len);
	if (r >= 0)
		r = alb_event_log_append(svc->log, buf, len);
	if (r < 0) {
		alb_log_err(svc->ctx, "Failed to log a %s event: %s",
			    alb_log_event_kind_to_string(msg->cmd.event->kind),
			    alb_ctx_last_error(svc->ctx));
		return alb_conn_send_failure(conn, msg->seq, msg->name, -r, "log-event: %s",
					     alb_ctx_last_error(svc->ctx));
	}
	alb_log_debug(svc->ctx, "Logged %s (%zu bytes)",
		      alb_log_event_kind_to_string(msg->cmd.event->kind), len);
	struct live_event e = {svc, msg->cmd.event, buf, len};
	/* About its size on the wire. */
	alb_subs_publish(svc->subs, (uint64_t)len + 64, build_event, &e);
	return alb_conn_send_ok(conn, msg->seq, msg->name, NULL);
}

static int handle_subscribe(struct alb_log_service *svc, struct alb_conn *conn, alb_msg *msg)
{
	const struct alb_history *h = &msg->cmd.history;
	struct history *hist = NULL;
	int r;

	if (h->has_since && h->since_us > alb_now_realtime())
		return alb_conn_send_failure(conn, msg->seq, msg->name, EINVAL,
					     "log-subscribe: since %" PRIu64 " is in the future",
					     h->since_us);
	/* since T: the last ALB_HISTORY_MAX events from T on; neither: new events only. */
	if (h->has_since || h->has_count) {
		if (!(hist = calloc(1, sizeof(*hist))))
			return alb_conn_send_failure(conn, msg->seq, msg->name, ENOMEM,
						     "log-subscribe: %s", strerror(ENOMEM));
		r = alb_event_log_query_records(svc->log, msg->name, h->has_since ? h->since_us : 0,
						h->has_count ? h->count : ALB_HISTORY_MAX,
						on_record, hist);
		if (r < 0) {
			history_free(hist);
			return alb_conn_send_failure(
			    conn, msg->seq, msg->name, -r, "log-subscribe: %s",
			    r == -ENOMEM ? strerror(ENOMEM) : alb_ctx_last_error(svc->ctx));
		}
	}
	r = alb_subs_add(svc->subs, conn, msg->seq, msg->name, hist != NULL, h->follow, hist,
			 history_free);
	if (r < 0)
		return alb_conn_send_failure(conn, msg->seq, msg->name, -r, "log-subscribe: %s",
					     strerror(-r));
	return 0;
}

static int on_message(struct alb_conn *conn, alb_msg *msg, void *userdata)
{
	_cleanup_(alb_msg_freep) alb_msg *m = msg;
	struct alb_log_service *svc = userdata;

	if (!m) /* an end-of-stream frame: nothing of ours was streaming in */
		return 0;
	/* A subscription is a stream out: anything coming in is refused. */
	int r = alb_subs_refuse_busy(svc->subs, conn, m);
	if (r < 0)
		return r;
	if (m->kind != ALB_MSG_COMMAND) {
		(void)alb_conn_send_failure(conn, m->seq, m->name, EBADMSG, "expected a command");
		return 0;
	}
	alb_ctx_clear_error(svc->ctx);
	switch (m->cmd.kind) {
	case ALB_CMD_LOG_EVENT:
		(void)handle_event(svc, conn, m);
		return 0;
	case ALB_CMD_LOG_SUBSCRIBE:
		(void)handle_subscribe(svc, conn, m);
		return 0;
	case ALB_CMD_FEED:
		(void)alb_conn_take_feed(conn, m);
		return 0;
	default:
		(void)alb_conn_send_failure(conn, m->seq, m->name, EOPNOTSUPP,
					    "%s: not a command of albatross-log",
					    alb_command_to_string(m->cmd.kind));
		return 0;
	}
}

static void on_close(struct alb_conn *conn, void *userdata)
{
	struct alb_log_service *svc = userdata;
	alb_subs_conn_closed(svc->subs, conn);
}

static void on_drain(struct alb_conn *conn, void *userdata)
{
	struct alb_log_service *svc = userdata;
	alb_subs_conn_drained(svc->subs, conn);
}

static const struct alb_server_ops service_ops = {
    .on_message = on_message,
    .on_close = on_close,
    .on_drain = on_drain,
};

/* ---- the service ------------------------------------------------------------------------ */

ALB_EXPORT int alb_log_service_new(alb_ctx *ctx, alb_loop *loop,
				   const struct alb_log_service_options *o,
				   struct alb_log_service **ret)
{
	_cleanup_(alb_log_service_freep) struct alb_log_service *svc = NULL;
	char file[4096 + 16];
	int r;

	if (!ctx || !loop || !o || !o->logdir || !ret)
		return -EINVAL;
	if ((size_t)snprintf(file, sizeof(file), "%s/events.log", o->logdir) >= sizeof(file))
		return alb_error(ctx, ENAMETOOLONG, "the log directory '%s' is too long",
				 o->logdir);
	if (!(svc = calloc(1, sizeof(*svc))))
		return -ENOMEM;
	svc->ctx = ctx;
	svc->loop = alb_loop_ref(loop);
	if ((r = mkdir_p(o->logdir, 0750)) < 0)
		return alb_error(ctx, -r, "Failed to create the log directory '%s': %s", o->logdir,
				 strerror(-r));
	if ((r = alb_event_log_open(ctx, file,
				    o->max_size ? o->max_size : ALB_EVENT_LOG_MAX_SIZE_DEFAULT,
				    &svc->log)) < 0)
		return r;
	if (o->uid != (uid_t)-1 && geteuid() == 0 &&
	    (r = chown_logdir(o->logdir, o->uid, o->gid)) < 0)
		return alb_error(ctx, -r, "Failed to give '%s' to uid %u: %s", o->logdir,
				 (unsigned)o->uid, strerror(-r));
	const struct alb_subs_options so = {
	    .what = "events",
	    .service = "log",
	    .max = ALB_LOG_SUBSCRIBERS_MAX,
	    .history = history,
	    .userdata = svc,
	};
	if ((r = alb_subs_new(ctx, &so, &svc->subs)) < 0 ||
	    (r = alb_server_new(ctx, loop, &service_ops, svc, 0, &svc->server)) < 0)
		return r;
	*ret = TAKE_PTR(svc);
	return 0;
}

ALB_EXPORT struct alb_log_service *alb_log_service_free(struct alb_log_service *svc)
{
	if (!svc)
		return NULL;
	alb_server_free(svc->server); /* on_close frees the subscribers */
	alb_subs_free(svc->subs);
	alb_event_log_free(svc->log);
	alb_loop_unref(svc->loop);
	free(svc);
	return NULL;
}

ALB_EXPORT int alb_log_service_listen_unix(struct alb_log_service *svc, const char *path,
					   unsigned mode, gid_t gid)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	int r;

	if (slash && slash > path) {
		if ((size_t)(slash - path) >= sizeof(dir))
			return alb_error(svc->ctx, ENAMETOOLONG, "'%s' is too long", path);
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		if ((r = mkdir_p(dir, 0755)) < 0)
			return alb_error(svc->ctx, -r, "Failed to create '%s': %s", dir,
					 strerror(-r));
	}
	return alb_server_listen_unix(svc->server, path, mode, gid);
}

ALB_EXPORT int alb_log_service_listen_fd(struct alb_log_service *svc, int fd)
{
	return alb_server_add_listen_fd(svc->server, fd);
}

alb_event_log *alb_log_service_get_log(struct alb_log_service *svc)
{
	return svc->log;
}

unsigned alb_log_service_subscriber_count(const struct alb_log_service *svc)
{
	return alb_subs_count(svc->subs);
}
