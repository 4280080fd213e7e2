/* SPDX-License-Identifier: ISC */
/*
 * The console service (console-private.h, docs/console.md): the protocol side
 * of albatross-console over the console buffers (console.c). console-add,
 * console-data and console-end from albatrossd feed the buffers;
 * console-subscribe streams a buffer's history and live lines through the
 * subscription engine (sub-private.h); console-list-inactive lists buffers.
 */
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include <albatross/console.h>
#include <albatross/loop.h>

#include "console-private.h"
#include "console-service-private.h"
#include "ctx-private.h"
#include "name-private.h"
#include "server-private.h"
#include "sub-private.h"
#include "wire-private.h"

struct alb_console_service {
	alb_ctx *ctx;
	alb_loop *loop;
	alb_console *console;
	struct alb_server *server;
	struct alb_subs *subs;
	uint32_t subscribers;
};

/* ---- subscribers ---- */

/* A subscriber's history: the last line queued, and the newest line when it subscribed (later
 * lines come live). */
struct cursor {
	uint64_t cursor_us;
	uint64_t until_us;
};

static int line_msg(struct alb_sub *sub, uint64_t time_us, const uint8_t *line, uint32_t len,
		    uint32_t flags, alb_msg **ret)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	int r = alb_msg_new(&m, ALB_MSG_DATA, alb_sub_get_seq(sub), alb_sub_get_name(sub));
	if (r < 0)
		return r;
	m->data.kind = ALB_DATA_CONSOLE;
	m->data.console.time_us = time_us;
	if (len) {
		if (!(m->data.console.line = malloc(len)))
			return -ENOMEM;
		memcpy(m->data.console.line, line, len);
	}
	m->data.console.len = len;
	m->data.console.truncated = flags & ALB_CONSOLE_LINE_TRUNCATED;
	m->data.console.dropped = flags & ALB_CONSOLE_LINE_DROPPED;
	*ret = TAKE_PTR(m);
	return 0;
}

static int history_line(const alb_name *name, uint64_t time_us, const uint8_t *line, uint32_t len,
			uint32_t flags, void *userdata)
{
	struct alb_sub *sub = userdata;
	struct cursor *c = alb_sub_get_data(sub);
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	int r = line_msg(sub, time_us, line, len, flags, &m);
	if (r < 0 || (r = alb_sub_send(sub, m)) < 0)
		return r;
	c->cursor_us = time_us;
	return alb_sub_wants_more(sub) ? 0 : -EAGAIN;
}

static int history(struct alb_sub *sub, void *userdata)
{
	struct alb_console_service *svc = userdata;
	struct cursor *c = alb_sub_get_data(sub);
	int r = alb_console_query_range(svc->console, alb_sub_get_name(sub), c->cursor_us,
					c->until_us, 1024, history_line, sub);
	if (r == -EAGAIN)
		return 1; /* the rest when the connection drains */
	if (r < 0)
		return r;
	return r > 0;
}

struct live_line {
	const alb_name *name;
	uint64_t time_us;
	const uint8_t *line;
	uint32_t len, flags;
};

static int build_line(struct alb_sub *sub, void *userdata, alb_msg **ret)
{
	const struct live_line *l = userdata;
	if (alb_name_equal(alb_sub_get_name(sub), l->name) != 1)
		return 0;
	return line_msg(sub, l->time_us, l->line, l->len, l->flags, ret);
}

static int on_line(const alb_name *name, uint64_t time_us, const uint8_t *line, uint32_t len,
		   uint32_t flags, void *userdata)
{
	struct alb_console_service *svc = userdata;
	struct live_line l = {name, time_us, line, len, flags};
	/* About its size on the wire. */
	alb_subs_publish(svc->subs, (uint64_t)len + 64, build_line, &l);
	return 0;
}

/* ---- commands ---- */

/*
 * Console output from albatrossd (docs/console.md): console-add when a run of a
 * unikernel begins, console-data with what it printed, console-end when it
 * ended. Each may say that bytes were lost just before it (albatrossd's
 * backlog overflowed): a line flagged ALB_CONSOLE_LINE_DROPPED notes it.
 * Output of a run whose console-add was missed (albatross-console restarted)
 * activates the buffer; console-end of a name without a buffer is a no-op.
 */
static int cmd_output(struct alb_console_service *svc, struct alb_conn *conn, const alb_msg *m)
{
	alb_ctx *ctx = svc->ctx;
	const struct alb_cmd *c = &m->cmd;
	uid_t uid = alb_conn_peer_uid(conn);
	int r;
	if (uid != 0 && uid != geteuid())
		return alb_error(ctx, EPERM, "%s is for albatrossd (root) only",
				 alb_command_to_string(c->kind));
	alb_conn_set_feed(conn);
	if (!m->name->has_label)
		return alb_error(ctx, EINVAL, "%s needs a unikernel name, not a path",
				 alb_command_to_string(c->kind));
	bool exists = alb_console_is_active(svc->console, m->name) >= 0;
	if (c->kind != ALB_CMD_CONSOLE_END || (exists && c->dropped)) {
		if ((r = alb_console_activate(svc->console, m->name)) < 0)
			return r;
		if (r > 0 || c->kind == ALB_CMD_CONSOLE_ADD) {
			_cleanup_free_ char *n = alb_name_to_string(m->name);
			alb_log_debug(ctx, "Console of '%s' %s", n ? n : "?",
				      c->kind == ALB_CMD_CONSOLE_ADD ? "begins" : "continues");
		}
	}
	if (c->dropped && alb_console_is_active(svc->console, m->name) == 1 &&
	    (r = alb_console_mark_dropped(svc->console, m->name, c->dropped, c->time_us)) < 0)
		return r;
	if (c->kind == ALB_CMD_CONSOLE_DATA &&
	    (r = alb_console_feed(svc->console, m->name, c->output, c->output_len, c->time_us)) < 0)
		return r;
	if (c->kind == ALB_CMD_CONSOLE_END && exists &&
	    (r = alb_console_end_run(svc->console, m->name, c->time_us)) < 0)
		return r;
	return alb_conn_send_ok(conn, m->seq, m->name, NULL);
}

static int cmd_subscribe(struct alb_console_service *svc, struct alb_conn *conn, const alb_msg *m)
{
	alb_ctx *ctx = svc->ctx;
	const struct alb_history *h = &m->cmd.history;
	if (!m->name->has_label)
		return alb_error(ctx, EINVAL,
				 "console-subscribe needs a unikernel name, not a path");
	uint64_t now = alb_now_realtime();
	if (h->has_since && h->since_us > now)
		return alb_error(ctx, EINVAL,
				 "since: %" PRIu64 " is in the future (now %" PRIu64 ")",
				 h->since_us, now);
	if (h->has_count && (h->count < 1 || h->count > ALB_HISTORY_MAX))
		return alb_error(ctx, EINVAL, "count: %u is out of range 1..%u", h->count,
				 ALB_HISTORY_MAX);
	/* Without --follow, a name never seen (no unikernel of that name ran since this
	 * daemon started, or its buffer was dropped) is an error, not an empty history.
	 * With it, the subscriber may wait for a unikernel about to start. */
	if (!h->follow && alb_console_is_active(svc->console, m->name) == -ENOENT) {
		_cleanup_free_ char *n = alb_name_to_string(m->name);
		return alb_error(ctx, ENOENT,
				 "no console output of '%s' is kept: no unikernel of that name ran "
				 "since albatross-console started",
				 n ? n : "?");
	}
	struct cursor *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->until_us = alb_console_last_time(svc->console, m->name);
	if (h->has_since)
		c->cursor_us = h->since_us;
	else if (h->has_count)
		c->cursor_us = alb_console_time_of_last(svc->console, m->name, h->count);
	else
		c->cursor_us = c->until_us; /* live only */
	return alb_subs_add(svc->subs, conn, m->seq, m->name, true, h->follow, c, free);
}

static int cmd_list_inactive(struct alb_console_service *svc, struct alb_conn *conn,
			     const alb_msg *m)
{
	_cleanup_(alb_msg_freep) alb_msg *reply = NULL;
	int r = alb_msg_new(&reply, ALB_MSG_SUCCESS, m->seq, m->name);
	if (r < 0)
		return r;
	reply->reply.kind = ALB_REPLY_NAMES;
	r = alb_console_list_inactive(svc->console, m->name, &reply->reply.names,
				      &reply->reply.n_names);
	if (r < 0)
		return r;
	return alb_conn_send(conn, reply);
}

static int on_message(struct alb_conn *conn, alb_msg *msg, void *userdata)
{
	struct alb_console_service *svc = userdata;
	_cleanup_(alb_msg_freep) alb_msg *m = msg;
	if (!m)
		return 0; /* a stray end-of-stream frame */
	if (m->kind != ALB_MSG_COMMAND) {
		alb_conn_send_failure(conn, m->seq, m->name, EPROTO, "expected a command");
		return -EPROTO;
	}
	int r = alb_subs_refuse_busy(svc->subs, conn, m);
	if (r < 0)
		return r;
	alb_ctx_clear_error(svc->ctx);
	switch (m->cmd.kind) {
	case ALB_CMD_CONSOLE_ADD:
	case ALB_CMD_CONSOLE_DATA:
	case ALB_CMD_CONSOLE_END:
		r = cmd_output(svc, conn, m);
		break;
	case ALB_CMD_CONSOLE_SUBSCRIBE:
		r = cmd_subscribe(svc, conn, m);
		break;
	case ALB_CMD_CONSOLE_LIST_INACTIVE:
		r = cmd_list_inactive(svc, conn, m);
		break;
	case ALB_CMD_FEED:
		return alb_conn_take_feed(conn, m) < 0 ? -EPIPE : 0;
	default:
		r = alb_error(svc->ctx, EOPNOTSUPP, "albatross-console does not handle '%s'",
			      alb_command_to_string(m->cmd.kind));
		break;
	}
	if (r < 0) {
		const char *why = alb_ctx_last_error(svc->ctx);
		_cleanup_free_ char *n = alb_name_to_string(m->name);
		alb_log_info(svc->ctx, "%s of '%s' refused: %s", alb_command_to_string(m->cmd.kind),
			     n ? n : "?", why[0] ? why : strerror(-r));
		alb_conn_send_failure(conn, m->seq, m->name, -r, "%s", why[0] ? why : strerror(-r));
	}
	return 0;
}

static void on_close(struct alb_conn *conn, void *userdata)
{
	struct alb_console_service *svc = userdata;
	alb_subs_conn_closed(svc->subs, conn);
}

static void on_drain(struct alb_conn *conn, void *userdata)
{
	struct alb_console_service *svc = userdata;
	alb_subs_conn_drained(svc->subs, conn);
}

static const struct alb_server_ops service_ops = {
    .on_message = on_message,
    .on_close = on_close,
    .on_drain = on_drain,
};

ALB_EXPORT int alb_console_service_new(alb_ctx *ctx, alb_loop *loop,
				       const struct alb_console_service_options *o,
				       struct alb_console_service **ret)
{
	_cleanup_(alb_console_service_freep) struct alb_console_service *svc = NULL;
	int r;
	svc = calloc(1, sizeof(*svc));
	if (!svc)
		return -ENOMEM;
	svc->ctx = ctx;
	svc->loop = alb_loop_ref(loop);
	svc->subscribers = o->subscribers ? o->subscribers : ALB_CONSOLE_SUBSCRIBERS_DEFAULT;
	if (svc->subscribers > ALB_CONSOLE_SUBSCRIBERS_MAX)
		return alb_error(ctx, EINVAL, "subscribers: %u is out of range 1..%u",
				 svc->subscribers, ALB_CONSOLE_SUBSCRIBERS_MAX);
	const struct alb_subs_options so = {
	    .what = "console output",
	    .service = "console",
	    .max_per_name = svc->subscribers,
	    .per_name = "unikernel",
	    .queue_max = o->queue_max ? o->queue_max : ALB_CONSOLE_SUBSCRIBER_QUEUE_MAX,
	    .history_step = ALB_CONSOLE_HISTORY_STEP,
	    .history = history,
	    .userdata = svc,
	};
	if ((r = alb_subs_new(ctx, &so, &svc->subs)) < 0)
		return r;
	if ((r = alb_console_new(ctx, &svc->console)) < 0 ||
	    (o->lines && (r = alb_console_set_lines(svc->console, o->lines)) < 0) ||
	    (o->line_max && (r = alb_console_set_line_max(svc->console, o->line_max)) < 0) ||
	    (o->inactive_max != UINT32_MAX &&
	     (r = alb_console_set_inactive_max(svc->console, o->inactive_max)) < 0))
		return r;
	alb_console_set_line_fn(svc->console, on_line, svc);
	/* Commands are small: a frame bound far below the default. */
	if ((r = alb_server_new(ctx, loop, &service_ops, svc, UINT64_C(1) << 20, &svc->server)) < 0)
		return r;
	*ret = TAKE_PTR(svc);
	return 0;
}

ALB_EXPORT struct alb_console_service *alb_console_service_free(struct alb_console_service *svc)
{
	if (!svc)
		return NULL;
	alb_server_free(svc->server); /* on_close frees the subscribers */
	alb_subs_free(svc->subs);
	alb_console_free(svc->console);
	alb_loop_unref(svc->loop);
	free(svc);
	return NULL;
}

ALB_EXPORT int alb_console_service_listen_unix(struct alb_console_service *svc, const char *path,
					       unsigned mode, gid_t gid)
{
	return alb_server_listen_unix(svc->server, path, mode, gid);
}

ALB_EXPORT int alb_console_service_listen_fd(struct alb_console_service *svc, int fd)
{
	return alb_server_add_listen_fd(svc->server, fd);
}

alb_console *alb_console_service_get_console(struct alb_console_service *svc)
{
	return svc->console;
}

unsigned alb_console_service_subscriber_count(const struct alb_console_service *svc)
{
	return alb_subs_count(svc->subs);
}
