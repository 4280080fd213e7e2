/* SPDX-License-Identifier: ISC */
/*
 * albatross-stats: samples every registered unikernel's tender process and
 * taps each interval (stats.h), and hands the figures to subscribers
 * (stats-subscribe), to InfluxDB (--influx) and to Prometheus (--prometheus,
 * with the policies' usage and limits asked from albatrossd).
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "common.h"
#include "config.h"
#include "client-private.h"
#include "ctx-private.h"
#include "server-private.h"
#include "stats-private.h"
#include "wire-private.h"

#define NAME "albatross-stats"

enum { EXIT_USAGE = 2 };

/* Bounds. */
#define ENTRIES_MAX	   65536u	       /* registered unikernels */
#define SUBS_MAX	   1024u	       /* subscriptions at once */
#define SUB_QUEUE_MAX	   (UINT64_C(4) << 20) /* bytes queued to a subscriber */
#define ALBATROSSD_TIMEOUT 2		       /* seconds per request to albatrossd */

struct entry {
	alb_name *name;
	char *name_str;
	uint32_t pid;
	char **taps;
	uint32_t n_taps;
	struct alb_stats *last; /* the last tick's sample, or NULL */
	bool failing;		/* the last sample failed (logged once) */
};

struct sub {
	struct alb_conn *conn;
	uint64_t seq;
	alb_name *filter; /* a unikernel or a path */
	uint64_t dropped;
	struct sub *prev, *next;
};

struct policy_usage {
	char *path;
	alb_policy *limit;
	uint64_t unikernels, memory_mb, block_mb;
};

struct stats_daemon {
	alb_ctx *ctx;
	alb_loop *loop;
	struct alb_server *server;
	alb_stats_collector *collector;
	struct entry *entries; /* sorted by name_str */
	uint32_t n_entries;
	struct sub *subs;
	uint32_t n_subs;
	alb_source *tick;
	uint64_t interval_us;
	struct alb_influx *influx;
	struct alb_http *http;
	const char *albatrossd_socket;
	bool albatrossd_up, albatrossd_logged;
	struct policy_usage *policies;
	uint32_t n_policies;
	uint64_t ticks, tick_cpu_us, tick_wall_us, sub_dropped;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " NAME " [OPTIONS]\n"
		"\n"
		"Collects statistics of the unikernels albatrossd registers and serves them to\n"
		"subscribers, InfluxDB and Prometheus.\n"
		"\n"
		"Options:\n"
		"  --rundir DIR              runtime directory (default /run/albatross)\n"
		"  --socket PATH             the socket (default RUNDIR/stats.sock)\n"
		"  --interval SEC            seconds between samples (default 10)\n"
		"  --interval-ms MS          milliseconds between samples (10 .. 86400000)\n"
		"  --influx URL              push to InfluxDB: http://HOST:PORT/write?db=NAME\n"
		"                            (1.x HTTP API) or tcp://HOST:PORT (line protocol)\n"
		"  --influx-queue LINES      lines kept while InfluxDB is down (default 100000)\n"
		"  --influx-retry-max SEC    longest wait between attempts (default 60)\n"
		"  --prometheus ADDR:PORT    serve GET /metrics there\n"
		"  --albatrossd-socket PATH  ask albatrossd for policies (default\n"
		"                            RUNDIR/albatrossd.sock)\n"
		"  --user USER, --group GROUP  run as (after binding)\n"
		"  -v, --verbose             log more (repeat for debug)\n"
		"  -h, --help, -V, --version\n");
}

/* ---- registry -------------------------------------------------------------- */

static void entry_clear(struct entry *e)
{
	alb_name_free(e->name);
	free(e->name_str);
	alb_strv_free(e->taps);
	alb_stats_free(e->last);
	*e = (struct entry){0};
}

/* The index of name, or where it would go (*found false). */
static uint32_t entry_find(const struct stats_daemon *d, const char *name, bool *found)
{
	uint32_t lo = 0, hi = d->n_entries;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(d->entries[mid].name_str, name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static int stats_add(struct stats_daemon *d, const alb_name *name, uint32_t pid, char **taps,
		     uint32_t n_taps)
{
	_cleanup_free_ char *s = alb_name_to_string(name);
	bool found;
	if (!s)
		return -ENOMEM;
	uint32_t i = entry_find(d, s, &found);
	struct entry e = {.pid = pid, .n_taps = n_taps};
	if (alb_name_dup(name, &e.name) < 0 || !(e.taps = alb_strv_dup(taps, n_taps))) {
		entry_clear(&e);
		return -ENOMEM;
	}
	e.name_str = TAKE_PTR(s);
	if (found) {
		entry_clear(&d->entries[i]);
		d->entries[i] = e;
		return 0;
	}
	if (d->n_entries >= ENTRIES_MAX) {
		entry_clear(&e);
		return -E2BIG;
	}
	struct entry *n = realloc(d->entries, (d->n_entries + 1) * sizeof(*n));
	if (!n) {
		entry_clear(&e);
		return -ENOMEM;
	}
	d->entries = n;
	memmove(n + i + 1, n + i, (d->n_entries - i) * sizeof(*n));
	n[i] = e;
	d->n_entries++;
	return 0;
}

static int stats_remove(struct stats_daemon *d, const alb_name *name)
{
	_cleanup_free_ char *s = alb_name_to_string(name);
	bool found;
	if (!s)
		return -ENOMEM;
	uint32_t i = entry_find(d, s, &found);
	if (!found)
		return -ENOENT;
	entry_clear(&d->entries[i]);
	memmove(d->entries + i, d->entries + i + 1, (d->n_entries - i - 1) * sizeof(*d->entries));
	d->n_entries--;
	return 0;
}

/* Whether the subscription filter (a unikernel or a path) takes e. */
static bool filter_matches(const alb_name *filter, const struct entry *e)
{
	return alb_name_is_path(filter) ? alb_name_is_prefix(filter, e->name) > 0
					: alb_name_equal(filter, e->name) > 0;
}

/* ---- subscribers ------------------------------------------------------------ */

static void sub_free(struct stats_daemon *d, struct sub *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		d->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	d->n_subs--;
	alb_conn_unref(s->conn);
	alb_name_free(s->filter);
	free(s);
}

static int subscribe(struct stats_daemon *d, struct alb_conn *conn, const alb_msg *msg)
{
	const alb_name *name = msg->name;
	bool any = false;
	for (uint32_t i = 0; i < d->n_entries && !any; i++)
		any = filter_matches(name, &d->entries[i]);
	if (!any) {
		_cleanup_free_ char *s = alb_name_to_string(name);
		return alb_conn_send_failure(conn, msg->seq, name, ENOENT,
					     alb_name_is_path(name)
						 ? "no unikernel below '%s' is registered"
						 : "'%s' is not registered (not running?)",
					     s ? s : "?");
	}
	if (d->n_subs >= SUBS_MAX)
		return alb_conn_send_failure(conn, msg->seq, name, EBUSY,
					     "too many subscriptions (%u)", SUBS_MAX);
	struct sub *s = calloc(1, sizeof(*s));
	if (!s || alb_name_dup(name, &s->filter) < 0) {
		free(s);
		return alb_conn_send_failure(conn, msg->seq, name, ENOMEM, "out of memory");
	}
	s->conn = alb_conn_ref(conn);
	s->seq = msg->seq;
	s->next = d->subs;
	if (d->subs)
		d->subs->prev = s;
	d->subs = s;
	d->n_subs++;
	return alb_conn_send_ok(conn, msg->seq, name, NULL);
}

static void send_to_subs(struct stats_daemon *d, const struct entry *e)
{
	for (struct sub *s = d->subs; s; s = s->next) {
		if (!filter_matches(s->filter, e))
			continue;
		if (alb_conn_queued(s->conn) > SUB_QUEUE_MAX) {
			if (s->dropped++ == 0)
				alb_log_warn(
				    d->ctx,
				    "A subscriber of '%s' is too slow: dropping its samples",
				    e->name_str);
			d->sub_dropped++;
			continue;
		}
		_cleanup_(alb_name_freep) alb_name *rel = NULL;
		_cleanup_(alb_msg_freep) alb_msg *m = NULL;
		if (alb_name_is_path(s->filter) &&
		    alb_name_relative_to(d->ctx, e->name, s->filter, &rel) < 0)
			continue;
		if (alb_msg_new(&m, ALB_MSG_DATA, s->seq, rel ? rel : e->name) < 0)
			continue;
		m->data.kind = ALB_DATA_STATS;
		m->data.stats = e->last;
		int r = alb_conn_send(s->conn, m);
		m->data.stats = NULL;
		if (r < 0 && r != -EPIPE)
			alb_log_warn(d->ctx, "Failed to send the statistics of '%s': %s",
				     e->name_str, strerror(-r));
	}
}

/* ---- albatrossd: policies and usage --------------------------------------- */

static void policies_clear(struct stats_daemon *d)
{
	for (uint32_t i = 0; i < d->n_policies; i++) {
		free(d->policies[i].path);
		alb_policy_free(d->policies[i].limit);
	}
	free(d->policies);
	d->policies = NULL;
	d->n_policies = 0;
}

static int request(alb_client *c, int kind, const alb_name *root, alb_msg **ret)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	int r = alb_msg_new(&m, ALB_MSG_COMMAND, 0, root);
	if (r < 0)
		return r;
	m->cmd.kind = kind;
	return alb_client_request(c, m, ret);
}

/* Asks albatrossd for its policies, unikernels and blocks; blocking, with a timeout. */
static int query_albatrossd(struct stats_daemon *d)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = ALBATROSSD_TIMEOUT};
	_cleanup_(alb_name_freep) alb_name *root = NULL;
	_cleanup_(alb_client_freep) alb_client *c = NULL;
	_cleanup_(alb_msg_freep) alb_msg *pol = NULL, *uks = NULL, *blks = NULL;
	int r;

	if (strlen(d->albatrossd_socket) >= sizeof(sa.sun_path))
		return alb_error(d->ctx, ENAMETOOLONG, "the socket path is too long");
	strcpy(sa.sun_path, d->albatrossd_socket);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = alb_error(d->ctx, errno, "cannot connect to %s: %s", d->albatrossd_socket,
			      strerror(errno));
		close(fd);
		return r;
	}
	if ((r = alb_client_new_fd(d->ctx, fd, &c)) < 0 || (r = alb_name_new_root(&root)) < 0)
		return r;
	if ((r = request(c, ALB_CMD_POLICY_INFO, root, &pol)) < 0 ||
	    (r = request(c, ALB_CMD_UNIKERNEL_INFO, root, &uks)) < 0 ||
	    (r = request(c, ALB_CMD_BLOCK_INFO, root, &blks)) < 0)
		return r;
	if (pol->reply.kind != ALB_REPLY_POLICIES || uks->reply.kind != ALB_REPLY_UNIKERNELS ||
	    blks->reply.kind != ALB_REPLY_BLOCKS)
		return alb_error(d->ctx, EBADMSG, "unexpected reply kinds");

	policies_clear(d);
	const struct alb_reply *p = &pol->reply, *u = &uks->reply, *b = &blks->reply;
	d->policies = calloc(p->n_policies ? p->n_policies : 1, sizeof(*d->policies));
	if (!d->policies)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->n_policies; i++) {
		struct policy_usage *pu = &d->policies[d->n_policies];
		const alb_name *path = p->policies[i].path;
		if (!(pu->path = alb_name_to_string(path)))
			return -ENOMEM;
		pu->limit = p->policies[i].policy;
		p->policies[i].policy = NULL;
		d->n_policies++;
		for (uint32_t k = 0; k < u->n_unikernels; k++)
			if (alb_name_is_prefix(path, u->unikernels[k].name) > 0) {
				pu->unikernels++;
				pu->memory_mb += u->unikernels[k].config->memory_mb;
			}
		for (uint32_t k = 0; k < b->n_blocks; k++)
			if (alb_name_is_prefix(path, b->blocks[k].name) > 0)
				pu->block_mb += b->blocks[k].size_mb;
	}
	return 0;
}

static void update_policies(struct stats_daemon *d)
{
	int r = query_albatrossd(d);
	bool up = r >= 0;
	if (!up)
		policies_clear(d);
	if (up != d->albatrossd_up || !d->albatrossd_logged) {
		if (up)
			alb_log_info(d->ctx, "albatrossd answers: %u policies", d->n_policies);
		else
			alb_log_notice(d->ctx, "Cannot ask albatrossd for policies: %s",
				       alb_ctx_last_error(d->ctx)[0] ? alb_ctx_last_error(d->ctx)
								     : strerror(-r));
	}
	d->albatrossd_up = up;
	d->albatrossd_logged = true;
}

/* ---- the tick -------------------------------------------------------------- */

static uint64_t cpu_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void influx_self(struct stats_daemon *d, uint64_t now)
{
	struct alb_buf b = {0};
	bool first = true;
	alb_influx_begin(&b, "albatross_stats");
	alb_influx_field(&b, &first, "unikernels", d->n_entries);
	alb_influx_field(&b, &first, "influx_dropped", alb_influx_get_dropped(d->influx));
	alb_influx_field(&b, &first, "influx_queued", alb_influx_get_queued(d->influx));
	alb_influx_field(&b, &first, "subscriber_dropped", d->sub_dropped);
	alb_influx_field(&b, &first, "tick_cpu_us", d->tick_cpu_us);
	alb_influx_end(&b, now);
	_cleanup_free_ char *text = alb_buf_steal(&b);
	if (text)
		(void)alb_influx_push(d->influx, text);
}

static int on_tick(alb_source *source, void *userdata)
{
	struct stats_daemon *d = userdata;
	uint64_t c0 = cpu_us(), w0 = alb_now_monotonic();
	int r;

	alb_source_set_timer(d->tick, d->interval_us);
	if ((r = alb_stats_collector_refresh(d->collector)) < 0)
		alb_log_warn(d->ctx, "%s", alb_ctx_last_error(d->ctx));
	uint64_t now = alb_now_realtime();
	for (uint32_t i = 0; i < d->n_entries; i++) {
		struct entry *e = &d->entries[i];
		e->last = alb_stats_sample_free(e->last);
		r = alb_stats_collect(d->collector, e->pid, (const char *const *)e->taps, e->n_taps,
				      &e->last);
		if (r < 0) {
			if (!e->failing)
				alb_log_info(d->ctx, "No statistics for '%s' (pid %" PRIu32 "): %s",
					     e->name_str, e->pid, alb_ctx_last_error(d->ctx));
			e->failing = true;
			continue;
		}
		e->failing = false;
		e->last->time_us = now; /* one time per tick: clients group by it */
		send_to_subs(d, e);
		if (d->influx) {
			_cleanup_free_ char *text = NULL;
			if (alb_stats_sample_to_influx(e->last, e->name_str, &text) >= 0)
				(void)alb_influx_push(d->influx, text);
		}
	}
	if (d->influx) {
		influx_self(d, now);
		alb_influx_flush(d->influx);
	}
	if (d->http)
		update_policies(d);
	d->ticks++;
	d->tick_cpu_us = cpu_us() - c0;
	d->tick_wall_us = alb_now_monotonic() - w0;
	alb_log_debug(d->ctx, "tick %" PRIu64 ": %u unikernels, %" PRIu64 " µs CPU, %" PRIu64 " µs",
		      d->ticks, d->n_entries, d->tick_cpu_us, d->tick_wall_us);
	return 0;
}

/* ---- Prometheus ------------------------------------------------------------ */

static void prom_gauge(struct alb_buf *b, const char *name, const char *help, const char *type,
		       uint64_t v)
{
	char s[32];
	alb_prom_family(b, name, type, help);
	alb_prom_series(b, name, NULL, 0, alb_prom_u64(s, v));
}

static int metrics(void *userdata, char **ret_body, size_t *ret_len)
{
	struct stats_daemon *d = userdata;
	_cleanup_free_ const alb_stats_sample **samples =
	    calloc(d->n_entries ? d->n_entries : 1, sizeof(*samples));
	_cleanup_free_ const char **names = calloc(d->n_entries ? d->n_entries : 1, sizeof(*names));
	_cleanup_free_ char *text = NULL;
	uint32_t n = 0;
	char v[32];

	if (!samples || !names)
		return -ENOMEM;
	for (uint32_t i = 0; i < d->n_entries; i++)
		if (d->entries[i].last) {
			samples[n] = d->entries[i].last;
			names[n++] = d->entries[i].name_str;
		}
	int r = alb_stats_samples_to_prometheus(samples, names, n, &text);
	if (r < 0)
		return r;
	struct alb_buf b = {0};
	alb_buf_puts(&b, text);

	static const struct {
		const char *name, *help;
		size_t off;
		bool mb;
		bool limit;
	} pm[] = {
	    {"albatross_policy_unikernels_limit", "Unikernels the policy at the path allows.",
	     offsetof(alb_policy, unikernels), false, true},
	    {"albatross_policy_unikernels", "Unikernels below the path.",
	     offsetof(struct policy_usage, unikernels), false, false},
	    {"albatross_policy_memory_limit_bytes", "Memory the policy at the path allows.",
	     offsetof(alb_policy, memory_mb), true, true},
	    {"albatross_policy_memory_bytes", "Memory of the unikernels below the path.",
	     offsetof(struct policy_usage, memory_mb), true, false},
	    {"albatross_policy_block_limit_bytes",
	     "Block storage the policy at the path allows (absent: none allowed).",
	     offsetof(alb_policy, block_mb), true, true},
	    {"albatross_policy_block_bytes", "Block devices' size below the path.",
	     offsetof(struct policy_usage, block_mb), true, false},
	};
	for (size_t m = 0; m < ELEMENTSOF(pm); m++) {
		alb_prom_family(&b, pm[m].name, "gauge", pm[m].help);
		for (uint32_t i = 0; i < d->n_policies; i++) {
			const struct policy_usage *pu = &d->policies[i];
			const char *labels[] = {"path", pu->path};
			uint64_t x;
			if (pm[m].limit && m == 0)
				x = pu->limit->unikernels;
			else if (pm[m].limit && m == 2)
				x = pu->limit->memory_mb;
			else if (pm[m].limit) {
				if (!pu->limit->has_block)
					continue;
				x = pu->limit->block_mb;
			} else
				x = *(const uint64_t *)((const char *)pu + pm[m].off);
			if (pm[m].mb)
				x = x > (UINT64_MAX >> 20) ? UINT64_MAX : x << 20;
			alb_prom_series(&b, pm[m].name, labels, 1, alb_prom_u64(v, x));
		}
	}
	prom_gauge(&b, "albatross_stats_albatrossd_up",
		   "Whether albatrossd answered the last policy query.", "gauge", d->albatrossd_up);
	prom_gauge(&b, "albatross_stats_unikernels", "Unikernels registered with albatross-stats.",
		   "gauge", d->n_entries);
	prom_gauge(&b, "albatross_stats_ticks_total", "Sampling rounds done.", "counter", d->ticks);
	alb_prom_family(&b, "albatross_stats_tick_cpu_seconds", "gauge",
			"CPU time the last sampling round took.");
	alb_prom_series(&b, "albatross_stats_tick_cpu_seconds", NULL, 0,
			alb_prom_seconds(v, d->tick_cpu_us));
	prom_gauge(&b, "albatross_stats_subscriber_dropped_total",
		   "Samples not sent to subscribers that were too slow.", "counter",
		   d->sub_dropped);
	if (d->influx) {
		prom_gauge(&b, "albatross_stats_influx_dropped_lines_total",
			   "Lines dropped because the InfluxDB queue was full or refused.",
			   "counter", alb_influx_get_dropped(d->influx));
		prom_gauge(&b, "albatross_stats_influx_sent_lines_total",
			   "Lines InfluxDB accepted.", "counter", alb_influx_get_sent(d->influx));
		prom_gauge(&b, "albatross_stats_influx_queued_lines", "Lines waiting for InfluxDB.",
			   "gauge", alb_influx_get_queued(d->influx));
		prom_gauge(&b, "albatross_stats_influx_up",
			   "Whether the last write to InfluxDB succeeded.", "gauge",
			   (uint64_t)alb_influx_is_up(d->influx));
	}
	*ret_len = b.len;
	*ret_body = alb_buf_steal(&b);
	return *ret_body ? 0 : -ENOMEM;
}

/* ---- the socket ----------------------------------------------------------- */

static int on_message(struct alb_conn *conn, alb_msg *m, void *userdata)
{
	struct stats_daemon *d = userdata;
	_cleanup_(alb_msg_freep) alb_msg *msg = m;
	_cleanup_free_ char *name = NULL;
	int r;

	if (!msg)
		return 0; /* an end-of-stream frame: nothing is being uploaded */
	if (msg->kind != ALB_MSG_COMMAND)
		return alb_conn_send_failure(conn, msg->seq, msg->name, EBADMSG,
					     "expected a command"),
		       -EBADMSG;
	name = alb_name_to_string(msg->name);
	switch (msg->cmd.kind) {
	case ALB_CMD_STATS_ADD:
		if (alb_name_is_path(msg->name))
			return alb_conn_send_failure(
			    conn, msg->seq, msg->name, EINVAL,
			    "stats-add needs a unikernel name, not a path");
		if (msg->cmd.n_taps > ALB_STATS_TAPS_MAX)
			return alb_conn_send_failure(conn, msg->seq, msg->name, E2BIG,
						     "too many taps");
		r = stats_add(d, msg->name, msg->cmd.pid, msg->cmd.taps, msg->cmd.n_taps);
		if (r < 0)
			return alb_conn_send_failure(conn, msg->seq, msg->name, -r,
						     "cannot register '%s': %s", name ? name : "?",
						     strerror(-r));
		alb_log_info(d->ctx, "Registered '%s' (pid %" PRIu32 ", %" PRIu32 " taps)",
			     name ? name : "?", msg->cmd.pid, msg->cmd.n_taps);
		return alb_conn_send_ok(conn, msg->seq, msg->name, NULL);
	case ALB_CMD_STATS_REMOVE:
		r = stats_remove(d, msg->name);
		if (r < 0)
			return alb_conn_send_failure(conn, msg->seq, msg->name, -r,
						     "'%s' is not registered", name ? name : "?");
		alb_log_info(d->ctx, "Unregistered '%s'", name ? name : "?");
		return alb_conn_send_ok(conn, msg->seq, msg->name, NULL);
	case ALB_CMD_STATS_SUBSCRIBE:
		return subscribe(d, conn, msg);
	default:
		return alb_conn_send_failure(conn, msg->seq, msg->name, EINVAL,
					     "albatross-stats does not do %s",
					     alb_command_to_string(msg->cmd.kind));
	}
}

static void on_close(struct alb_conn *conn, void *userdata)
{
	struct stats_daemon *d = userdata;
	for (struct sub *s = d->subs, *next; s; s = next) {
		next = s->next;
		if (s->conn == conn)
			sub_free(d, s);
	}
}

static int parse_u64_opt(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || errno || *end || v < min || v > max) {
		fprintf(stderr, NAME ": %s takes a number from %" PRIu64 " to %" PRIu64 "\n", opt,
			min, max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

int main(int argc, char **argv)
{
	bool made_socket = false; /* removed at the end (a passed one is not ours) */
	enum {
		O_RUNDIR = 0x100,
		O_SOCKET,
		O_INTERVAL,
		O_INTERVAL_MS,
		O_INFLUX,
		O_INFLUX_QUEUE,
		O_INFLUX_RETRY,
		O_PROMETHEUS,
		O_ALBATROSSD,
		O_USER,
		O_GROUP,
	};
	static const struct option options[] = {
	    {"rundir", required_argument, NULL, O_RUNDIR},
	    {"socket", required_argument, NULL, O_SOCKET},
	    {"interval", required_argument, NULL, O_INTERVAL},
	    {"interval-ms", required_argument, NULL, O_INTERVAL_MS},
	    {"influx", required_argument, NULL, O_INFLUX},
	    {"influx-queue", required_argument, NULL, O_INFLUX_QUEUE},
	    {"influx-retry-max", required_argument, NULL, O_INFLUX_RETRY},
	    {"prometheus", required_argument, NULL, O_PROMETHEUS},
	    {"albatrossd-socket", required_argument, NULL, O_ALBATROSSD},
	    {"user", required_argument, NULL, O_USER},
	    {"group", required_argument, NULL, O_GROUP},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	const char *rundir = "/run/albatross", *socket_path = NULL, *influx_url = NULL,
		   *prometheus = NULL, *albatrossd = NULL, *user = NULL, *group = NULL;
	uint64_t interval_ms = 10000, queue = 100000, retry_max = 60, v;
	int verbose = 0, c;

	while ((c = getopt_long(argc, argv, "vhV", options, NULL)) != -1) {
		switch (c) {
		case O_RUNDIR:
			rundir = optarg;
			break;
		case O_SOCKET:
			socket_path = optarg;
			break;
		case O_INTERVAL:
			if (parse_u64_opt("--interval", optarg, 1, 86400, &v) < 0)
				return EXIT_USAGE;
			interval_ms = v * 1000;
			break;
		case O_INTERVAL_MS:
			if (parse_u64_opt("--interval-ms", optarg, 10, 86400000, &interval_ms) < 0)
				return EXIT_USAGE;
			break;
		case O_INFLUX:
			influx_url = optarg;
			break;
		case O_INFLUX_QUEUE:
			if (parse_u64_opt("--influx-queue", optarg, 1, 10000000, &queue) < 0)
				return EXIT_USAGE;
			break;
		case O_INFLUX_RETRY:
			if (parse_u64_opt("--influx-retry-max", optarg, 1, 3600, &retry_max) < 0)
				return EXIT_USAGE;
			break;
		case O_PROMETHEUS:
			prometheus = optarg;
			break;
		case O_ALBATROSSD:
			albatrossd = optarg;
			break;
		case O_USER:
			user = optarg;
			break;
		case O_GROUP:
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
	char sock_buf[PATH_MAX], albd_buf[PATH_MAX], abs_run[PATH_MAX];
	rundir = daemon_absolute(rundir, abs_run, sizeof(abs_run));
	if (!socket_path) {
		snprintf(sock_buf, sizeof(sock_buf), "%s/stats.sock", rundir);
		socket_path = sock_buf;
	}
	if (!albatrossd) {
		snprintf(albd_buf, sizeof(albd_buf), "%s/albatrossd.sock", rundir);
		albatrossd = albd_buf;
	}
	uid_t uid;
	gid_t gid;
	if (daemon_lookup_user(user, group, &uid, &gid) < 0)
		return EXIT_USAGE;

	struct stats_daemon d = {.interval_us = interval_ms * 1000,
				 .albatrossd_socket = albatrossd};
	alb_source *sig[2] = {NULL, NULL};
	static const struct alb_server_ops ops = {.on_message = on_message, .on_close = on_close};
	int status = EXIT_FAILURE, r;

	if ((r = daemon_ctx(NAME, verbose, &d.ctx)) < 0)
		return EXIT_FAILURE;
	umask(0007);
	if ((r = daemon_loop(d.ctx, &d.loop, sig)) < 0 ||
	    (r = alb_stats_collector_new(d.ctx, &d.collector)) < 0 ||
	    (r = alb_server_new(d.ctx, d.loop, &ops, &d, 0, &d.server)) < 0)
		goto out;
	int lfd = daemon_listen_fd();
	if (lfd >= 0)
		r = alb_server_add_listen_fd(d.server, lfd);
	else {
		(void)mkdir(rundir, 0755);
		r = alb_server_listen_unix(d.server, socket_path, 0660, gid);
		made_socket = r >= 0;
	}
	if (r < 0)
		goto out;
	if (influx_url) {
		if ((r = alb_influx_new(d.ctx, d.loop, influx_url, (uint32_t)queue, &d.influx)) <
		    0) {
			status = EXIT_USAGE;
			goto out;
		}
		alb_influx_set_retry(d.influx, d.interval_us < 1000000 ? d.interval_us : 1000000,
				     retry_max * 1000000);
	}
	if (prometheus && (r = alb_http_new(d.ctx, d.loop, prometheus, metrics, &d, &d.http)) < 0)
		goto out;
	if ((r = daemon_drop_privileges(uid, gid)) < 0)
		goto out;
	if ((r = alb_loop_add_timer(d.loop, d.interval_us, on_tick, &d, &d.tick)) < 0)
		goto out;
	if (d.http)
		alb_log_notice(
		    d.ctx, "ready (socket %s, interval %" PRIu64 " ms, prometheus port %u)",
		    lfd >= 0 ? "passed" : socket_path, interval_ms, alb_http_get_port(d.http));
	else
		alb_log_notice(d.ctx, "ready (socket %s, interval %" PRIu64 " ms)",
			       lfd >= 0 ? "passed" : socket_path, interval_ms);
	r = alb_loop_run(d.loop);
	status = r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
out:
	if (made_socket)
		(void)unlink(socket_path); /* ours, not a passed one */
	if (r < 0 && status != EXIT_SUCCESS)
		alb_log_err(d.ctx, "%s",
			    alb_ctx_last_error(d.ctx)[0] ? alb_ctx_last_error(d.ctx)
							 : strerror(-r));
	alb_server_free(d.server); /* on_close frees the subscriptions */
	while (d.subs)
		sub_free(&d, d.subs);
	for (uint32_t i = 0; i < d.n_entries; i++)
		entry_clear(&d.entries[i]);
	free(d.entries);
	policies_clear(&d);
	alb_http_free(d.http);
	alb_influx_free(d.influx);
	alb_source_free(d.tick);
	alb_stats_collector_free(d.collector);
	alb_source_free(sig[0]);
	alb_source_free(sig[1]);
	alb_loop_unref(d.loop);
	alb_ctx_unref(d.ctx);
	return status;
}
