/* SPDX-License-Identifier: ISC */
/*
 * albatross-log: the persistent event log. albatrossd sends each event
 * (log-event); it is appended to LOGDIR/events.log (log.h), synced, and
 * pushed to the subscribers (log-subscribe), who get the history they asked
 * for first. A thin main() around alb_event_log and the framed server.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "config.h"
#include "ctx-private.h"
#include "log-private.h"
#include "server-private.h"

#define NAME "albatross-log"
enum { EXIT_USAGE = 2 };

/* Subscribers at once; more are refused. */
#define SUBS_MAX 64u
/* Bytes queued on a subscriber's connection before the next event waits for it to drain. */
#define SUB_HIGH_WATER (UINT64_C(256) << 10)
/* New events waiting for a subscriber that does not read: over either, it is dropped. */
#define SUB_LIVE_MAX	   4096u
#define SUB_LIVE_BYTES_MAX (UINT64_C(4) << 20)

struct record {
	uint8_t *buf;
	size_t len;
};

struct logd;

struct sub {
	struct sub *prev, *next;
	struct logd *d;
	struct alb_conn *conn; /* a reference */
	alb_name *name;	       /* the subscription's name: the filter */
	uint64_t seq;
	bool follow;
	/* Records waiting to be sent: first the history, then new events. */
	struct record *q;
	size_t q_head, q_len, q_cap;
	size_t history_left; /* of the records at the head */
	uint64_t live_bytes; /* of the others */
};

struct logd {
	alb_ctx *ctx;
	alb_loop *loop;
	struct alb_server *server;
	alb_event_log *log;
	struct sub *subs;
	unsigned n_subs;
	uid_t self;
};

static void sub_free(struct sub *s)
{
	struct logd *d = s->d;

	if (s->prev)
		s->prev->next = s->next;
	else if (d->subs == s)
		d->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	d->n_subs--;
	for (size_t i = 0; i < s->q_len; i++)
		free(s->q[(s->q_head + i) % s->q_cap].buf);
	free(s->q);
	alb_conn_set_data(s->conn, NULL);
	alb_conn_unref(s->conn);
	alb_name_free(s->name);
	free(s);
}

/* Ends a subscription: detaches it, then closes the connection after what is queued. */
static void sub_end(struct sub *s, bool end_frame)
{
	struct alb_conn *conn = alb_conn_ref(s->conn);

	sub_free(s);
	if (end_frame)
		(void)alb_conn_send_end(conn);
	alb_conn_close(conn);
	alb_conn_unref(conn);
}

static int sub_push(struct sub *s, const uint8_t *buf, size_t len)
{
	if (s->q_len == s->q_cap) {
		size_t cap = s->q_cap ? s->q_cap * 2 : 64;
		struct record *q = malloc(cap * sizeof(*q));
		if (!q)
			return -ENOMEM;
		for (size_t i = 0; i < s->q_len; i++)
			q[i] = s->q[(s->q_head + i) % s->q_cap];
		free(s->q);
		s->q = q;
		s->q_cap = cap;
		s->q_head = 0;
	}
	uint8_t *copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, buf, len);
	s->q[(s->q_head + s->q_len) % s->q_cap] = (struct record){copy, len};
	s->q_len++;
	return 0;
}

/* Sends queued records while the connection takes them; ends a finished history. */
static void sub_pump(struct sub *s)
{
	struct logd *d = s->d;

	while (s->q_len > 0 && alb_conn_queued(s->conn) < SUB_HIGH_WATER) {
		struct record rec = s->q[s->q_head];
		s->q_head = (s->q_head + 1) % s->q_cap;
		s->q_len--;
		if (s->history_left)
			s->history_left--;
		else
			s->live_bytes -= rec.len;

		_cleanup_(alb_msg_freep) alb_msg *m = NULL;
		int r = alb_msg_new(&m, ALB_MSG_DATA, s->seq, s->name);
		if (r >= 0) {
			m->data.kind = ALB_DATA_LOG;
			r = alb_log_event_from_cbor(d->ctx, rec.buf, rec.len, &m->data.event);
		}
		free(rec.buf);
		if (r >= 0)
			r = alb_conn_send(s->conn, m);
		if (r < 0) {
			if (r != -EPIPE)
				alb_log_warn(d->ctx, "Dropping a subscriber: %s", strerror(-r));
			sub_end(s, false);
			return;
		}
	}
	if (s->q_len == 0 && !s->follow)
		sub_end(s, true);
}

static int on_history(const uint8_t *payload, size_t len, const struct alb_log_event *event,
		      void *userdata)
{
	struct sub *s = userdata;
	int r = sub_push(s, payload, len);

	if (r >= 0)
		s->history_left++;
	return r;
}

static void publish(struct logd *d, const struct alb_log_event *event, const uint8_t *buf,
		    size_t len)
{
	struct sub *next;

	for (struct sub *s = d->subs; s; s = next) {
		next = s->next;
		if (!s->follow || !alb_event_log_filter_match(s->name, event))
			continue;
		if (s->q_len - s->history_left >= SUB_LIVE_MAX ||
		    s->live_bytes + len > SUB_LIVE_BYTES_MAX) {
			_cleanup_free_ char *n = alb_name_to_string(s->name);
			alb_log_warn(d->ctx,
				     "Dropping a subscriber of '%s' (uid %u): it does not "
				     "keep up",
				     n ? n : "?", (unsigned)alb_conn_peer_uid(s->conn));
			sub_end(s, false);
			continue;
		}
		if (sub_push(s, buf, len) < 0) {
			sub_end(s, false);
			continue;
		}
		s->live_bytes += len;
		sub_pump(s);
	}
}

static int handle_event(struct logd *d, struct alb_conn *conn, alb_msg *msg)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	uid_t uid = alb_conn_peer_uid(conn);
	int r;

	/* Only albatrossd (root, or whoever runs this daemon) writes the log. */
	if (uid != 0 && uid != d->self)
		return alb_conn_send_failure(conn, msg->seq, msg->name, EPERM,
					     "log-event: only albatrossd may add events (uid %u)",
					     (unsigned)uid);
	r = alb_log_event_to_cbor(d->ctx, msg->cmd.event, &buf, &len);
	if (r >= 0)
		r = alb_event_log_append(d->log, buf, len);
	if (r < 0) {
		alb_log_err(d->ctx, "Failed to log a %s event: %s",
			    alb_log_event_kind_to_string(msg->cmd.event->kind),
			    alb_ctx_last_error(d->ctx));
		return alb_conn_send_failure(conn, msg->seq, msg->name, -r, "log-event: %s",
					     alb_ctx_last_error(d->ctx));
	}
	alb_log_debug(d->ctx, "Logged %s (%zu bytes)",
		      alb_log_event_kind_to_string(msg->cmd.event->kind), len);
	publish(d, msg->cmd.event, buf, len);
	return alb_conn_send_ok(conn, msg->seq, msg->name, NULL);
}

static int handle_subscribe(struct logd *d, struct alb_conn *conn, alb_msg *msg)
{
	const struct alb_history *h = &msg->cmd.history;
	struct sub *s;
	int r;

	if (h->has_since && h->since_us > alb_now_realtime())
		return alb_conn_send_failure(conn, msg->seq, msg->name, EINVAL,
					     "log-subscribe: since %" PRIu64 " is in the future",
					     h->since_us);
	if (d->n_subs >= SUBS_MAX)
		return alb_conn_send_failure(conn, msg->seq, msg->name, EAGAIN,
					     "log-subscribe: %u subscribers already", d->n_subs);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->d = d;
	s->conn = alb_conn_ref(conn);
	s->seq = msg->seq;
	s->follow = h->follow;
	s->next = d->subs;
	if (d->subs)
		d->subs->prev = s;
	d->subs = s;
	d->n_subs++;
	alb_conn_set_data(conn, s);
	if (alb_name_dup(msg->name, &s->name) < 0) {
		sub_free(s);
		return -ENOMEM;
	}
	/* since T: the last ALB_HISTORY_MAX events from T on; neither: new events only. */
	if (h->has_since || h->has_count) {
		r = alb_event_log_query_records(d->log, s->name, h->has_since ? h->since_us : 0,
						h->has_count ? h->count : ALB_HISTORY_MAX,
						on_history, s);
		if (r < 0) {
			sub_free(s);
			return alb_conn_send_failure(
			    conn, msg->seq, msg->name, -r, "log-subscribe: %s",
			    r == -ENOMEM ? strerror(ENOMEM) : alb_ctx_last_error(d->ctx));
		}
	}
	r = alb_conn_send_ok(conn, msg->seq, msg->name, NULL);
	if (r < 0) {
		sub_end(s, false);
		return 0;
	}
	sub_pump(s);
	return 0;
}

static int on_message(struct alb_conn *conn, alb_msg *msg, void *userdata)
{
	_cleanup_(alb_msg_freep) alb_msg *m = msg;
	struct logd *d = userdata;

	if (!m) /* an end-of-stream frame: nothing of ours was streaming in */
		return 0;
	/* A subscription is a stream out: anything coming in is a protocol error. */
	if (alb_conn_get_data(conn))
		return -EPROTO;
	if (m->kind != ALB_MSG_COMMAND) {
		(void)alb_conn_send_failure(conn, m->seq, m->name, EBADMSG, "expected a command");
		return 0;
	}
	switch (m->cmd.kind) {
	case ALB_CMD_LOG_EVENT:
		(void)handle_event(d, conn, m);
		return 0;
	case ALB_CMD_LOG_SUBSCRIBE:
		(void)handle_subscribe(d, conn, m);
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
	struct sub *s = alb_conn_get_data(conn);

	if (s)
		sub_free(s);
}

static void on_drain(struct alb_conn *conn, void *userdata)
{
	struct sub *s = alb_conn_get_data(conn);

	if (s)
		sub_pump(s);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " NAME " [OPTIONS]\n"
		"\n"
		"Keeps the persistent event log of albatrossd and serves it to subscribers.\n"
		"\n"
		"Options:\n"
		"  --rundir DIR      listen on DIR/log.sock (default /run/albatross)\n"
		"  --logdir DIR      the log: DIR/events.log and DIR/events.log.1\n"
		"                    (default /var/lib/albatross/log)\n"
		"  --max-size BYTES  rotate the log at this size (default 16 MiB; a K, M or G\n"
		"                    suffix multiplies by 1024, 1024^2, 1024^3)\n"
		"  --user USER       run as USER after opening the socket and the log\n"
		"  --group GROUP     run as GROUP; the socket (mode 0660) belongs to it\n"
		"  -v, --verbose     log more (repeat for debug)\n"
		"  -h, --help        show this help\n"
		"  -V, --version     show the version\n"
		"\n"
		"Socket activation: a listening socket passed by systemd (LISTEN_FDS) is served\n"
		"instead of DIR/log.sock.\n");
}

static int parse_size(const char *s, uint64_t *ret)
{
	char *end;
	errno = 0;
	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	unsigned long long v = strtoull(s, &end, 10);
	unsigned shift = 0;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M')
		shift = 20;
	else if (*end == 'G')
		shift = 30;
	if (shift)
		end++;
	if (errno || *end || v > (ALB_EVENT_LOG_MAX_SIZE_MAX >> shift))
		return -EINVAL;
	v <<= shift;
	if (v < ALB_EVENT_LOG_MAX_SIZE_MIN || v > ALB_EVENT_LOG_MAX_SIZE_MAX)
		return -EINVAL;
	*ret = v;
	return 0;
}

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

int main(int argc, char **argv)
{
	bool made_socket = false; /* removed at the end (a passed one is not ours) */
	static const struct option options[] = {
	    {"rundir", required_argument, NULL, 'r'},
	    {"logdir", required_argument, NULL, 'l'},
	    {"max-size", required_argument, NULL, 'm'},
	    {"user", required_argument, NULL, 'u'},
	    {"group", required_argument, NULL, 'g'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	const char *rundir = "/run/albatross", *logdir = "/var/lib/albatross/log", *user = NULL,
		   *group = NULL;
	uint64_t max_size = ALB_EVENT_LOG_MAX_SIZE_DEFAULT;
	int verbose = 0, c;

	while ((c = getopt_long(argc, argv, "vhV", options, NULL)) != -1) {
		switch (c) {
		case 'r':
			rundir = optarg;
			break;
		case 'l':
			logdir = optarg;
			break;
		case 'm':
			if (parse_size(optarg, &max_size) < 0) {
				fprintf(stderr,
					NAME ": --max-size takes %" PRIu64
					     " bytes to 1T, not '%s'\n",
					ALB_EVENT_LOG_MAX_SIZE_MIN, optarg);
				return EXIT_USAGE;
			}
			break;
		case 'u':
			user = optarg;
			break;
		case 'g':
			group = optarg;
			break;
		default: {
			int r = daemon_common_option(c, NAME, usage, &verbose);
			if (r >= 0)
				return r;
			break;
		}
		}
	}
	if (optind < argc)
		return daemon_unexpected_argument(NAME, argv[optind]);
	char abs_run[4096 + 256], abs_log[4096 + 256], sock[8192], file[8192];
	rundir = daemon_absolute(rundir, abs_run, sizeof(abs_run));
	logdir = daemon_absolute(logdir, abs_log, sizeof(abs_log));
	if ((size_t)snprintf(sock, sizeof(sock), "%s/log.sock", rundir) >= sizeof(sock) ||
	    (size_t)snprintf(file, sizeof(file), "%s/events.log", logdir) >= sizeof(file)) {
		fprintf(stderr, NAME ": --rundir or --logdir is too long\n");
		return EXIT_USAGE;
	}
	uid_t uid;
	gid_t gid;
	if (daemon_lookup_user(user, group, &uid, &gid) < 0)
		return EXIT_USAGE;

	struct logd d = {.self = geteuid()};
	alb_source *signals[2] = {NULL, NULL};
	int status = EXIT_FAILURE, r;

	umask(0022);
	if ((r = daemon_ctx(NAME, verbose, &d.ctx)) < 0)
		return EXIT_FAILURE;
	if ((r = mkdir_p(logdir, 0750)) < 0) {
		alb_log_err(d.ctx, "Failed to create the log directory '%s': %s", logdir,
			    strerror(-r));
		goto out;
	}
	if ((r = alb_event_log_open(d.ctx, file, max_size, &d.log)) < 0) {
		alb_log_err(d.ctx, "%s", alb_ctx_last_error(d.ctx));
		goto out;
	}
	if (uid != (uid_t)-1 && d.self == 0 && (r = chown_logdir(logdir, uid, gid)) < 0) {
		alb_log_err(d.ctx, "Failed to give '%s' to uid %u: %s", logdir, (unsigned)uid,
			    strerror(-r));
		goto out;
	}
	static const struct alb_server_ops ops = {on_message, on_close, on_drain};
	if ((r = daemon_loop(d.ctx, &d.loop, signals)) < 0 ||
	    (r = alb_server_new(d.ctx, d.loop, &ops, &d, 0, &d.server)) < 0) {
		alb_log_err(d.ctx, "Failed to set up: %s", strerror(-r));
		goto out;
	}
	int fd = daemon_listen_fd();
	if (fd >= 0)
		r = alb_server_add_listen_fd(d.server, fd);
	else if ((r = mkdir_p(rundir, 0755)) < 0)
		alb_error(d.ctx, -r, "Failed to create '%s': %s", rundir, strerror(-r));
	else if ((r = alb_server_listen_unix(d.server, sock, 0660, gid)) >= 0)
		made_socket = true;
	if (r < 0) {
		alb_log_err(d.ctx, "%s", alb_ctx_last_error(d.ctx));
		goto out;
	}
	if (daemon_drop_privileges(uid, gid) < 0)
		goto out;
	d.self = geteuid();
	if (access(logdir, W_OK | X_OK) < 0)
		alb_log_warn(d.ctx, "'%s' is not writable: the log cannot be rotated", logdir);
	alb_log_notice(d.ctx, "ready (logdir %s, rundir %s)", logdir, rundir);
	r = alb_loop_run(d.loop);
	status = r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
out:
	if (made_socket)
		(void)unlink(sock); /* ours, not a passed one */
	while (d.subs)
		sub_free(d.subs);
	alb_server_free(d.server);
	alb_source_free(signals[0]);
	alb_source_free(signals[1]);
	alb_loop_unref(d.loop);
	alb_event_log_free(d.log);
	alb_ctx_unref(d.ctx);
	return status;
}
