/* SPDX-License-Identifier: ISC */
/*
 * The stats service (stats-service-private.h): the registry of tenders,
 * the tick that samples them, subscribers, InfluxDB, /metrics, and the
 * policy queries to albatrossd (through a peer connection: requests and a
 * timeout on the loop).
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "ctx-private.h"
#include "name-private.h"
#include "peer-private.h"
#include "server-private.h"
#include "stats-private.h"
#include "stats-service-private.h"
#include "sub-private.h"
#include "wire-private.h"

struct entry {
	alb_name *name;
	char *name_str;
	uint32_t pid;
	char **taps;
	uint32_t n_taps;
	struct alb_stats *last; /* the last tick's sample, or NULL */
	bool failing;		/* the last sample failed (logged once) */
};

struct policy_usage {
	alb_name *path_name;
	char *path;
	alb_policy *limit;
	uint64_t unikernels, memory_mb, block_mb;
};

/* What albatrossd answered: a unikernel's memory, or a block's size. */
struct named_mb {
	alb_name *name;
	uint64_t mb;
};

/* A round of questions to albatrossd: policies, unikernels, blocks. */
enum { Q_POLICIES, Q_UNIKERNELS, Q_BLOCKS, Q_N };

struct round {
	bool pending;
	uint64_t seq[Q_N];
	bool got[Q_N];
	struct policy_usage *policies;
	uint32_t n_policies;
	struct named_mb *items[2]; /* unikernels, blocks */
	uint32_t n_items[2];
	alb_source *timeout;
};

struct alb_stats_service {
	alb_ctx *ctx;
	alb_loop *loop;
	struct alb_server *server;
	struct alb_subs *subs;
	alb_stats_collector *collector;
	struct entry *entries; /* sorted by name_str */
	uint32_t n_entries;
	alb_source *tick;
	uint64_t interval_us;
	struct alb_influx *influx;
	struct alb_http *http;
	char *albatrossd_socket;
	struct alb_peer *albatrossd;
	struct round round;
	bool albatrossd_up, albatrossd_logged;
	struct policy_usage *policies;
	uint32_t n_policies;
	uint64_t ticks, tick_cpu_us, tick_wall_us;
};

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
static const char *entry_name(const void *elt)
{
	return ((const struct entry *)elt)->name_str;
}

static uint32_t entry_find(const struct alb_stats_service *svc, const char *name, bool *found)
{
	return alb_sorted_find(svc->entries, svc->n_entries, sizeof(*svc->entries), entry_name,
			       name, found);
}

static int stats_add(struct alb_stats_service *svc, const alb_name *name, uint32_t pid, char **taps,
		     uint32_t n_taps)
{
	_cleanup_free_ char *s = alb_name_to_string(name);
	bool found;
	if (!s)
		return -ENOMEM;
	uint32_t i = entry_find(svc, s, &found);
	struct entry e = {.pid = pid, .n_taps = n_taps};
	if (alb_name_dup(name, &e.name) < 0 || !(e.taps = alb_strv_dup(taps, n_taps))) {
		entry_clear(&e);
		return -ENOMEM;
	}
	e.name_str = TAKE_PTR(s);
	if (found) {
		entry_clear(&svc->entries[i]);
		svc->entries[i] = e;
		return 0;
	}
	if (svc->n_entries >= ALB_STATS_ENTRIES_MAX) {
		entry_clear(&e);
		return -E2BIG;
	}
	struct entry *n = realloc(svc->entries, (svc->n_entries + 1) * sizeof(*n));
	if (!n) {
		entry_clear(&e);
		return -ENOMEM;
	}
	svc->entries = n;
	memmove(n + i + 1, n + i, (svc->n_entries - i) * sizeof(*n));
	n[i] = e;
	svc->n_entries++;
	return 0;
}

static int stats_remove(struct alb_stats_service *svc, const alb_name *name)
{
	_cleanup_free_ char *s = alb_name_to_string(name);
	bool found;
	if (!s)
		return -ENOMEM;
	uint32_t i = entry_find(svc, s, &found);
	if (!found)
		return -ENOENT;
	entry_clear(&svc->entries[i]);
	memmove(svc->entries + i, svc->entries + i + 1,
		(svc->n_entries - i - 1) * sizeof(*svc->entries));
	svc->n_entries--;
	return 0;
}

/* Whether the subscription filter (a unikernel or a path) takes e. */
static bool filter_matches(const alb_name *filter, const struct entry *e)
{
	return alb_name_is_path(filter) ? alb_name_is_prefix(filter, e->name) > 0
					: alb_name_equal(filter, e->name) > 0;
}

/* ---- subscribers ------------------------------------------------------------ */

static int subscribe(struct alb_stats_service *svc, struct alb_conn *conn, const alb_msg *msg)
{
	const alb_name *name = msg->name;
	bool any = false;
	for (uint32_t i = 0; i < svc->n_entries && !any; i++)
		any = filter_matches(name, &svc->entries[i]);
	if (!any) {
		_cleanup_free_ char *s = alb_name_to_string(name);
		return alb_conn_send_failure(conn, msg->seq, name, ENOENT,
					     alb_name_is_path(name)
						 ? "no unikernel below '%s' is registered"
						 : "'%s' is not registered (not running?)",
					     s ? s : "?");
	}
	int r = alb_subs_add(svc->subs, conn, msg->seq, name, false, true, NULL, NULL);
	if (r < 0)
		return alb_conn_send_failure(conn, msg->seq, name, -r, "stats-subscribe: %s",
					     strerror(-r));
	return 0;
}

static int build_sample(struct alb_sub *sub, void *userdata, alb_msg **ret)
{
	const struct entry *e = userdata;
	const alb_name *filter = alb_sub_get_name(sub);
	if (!filter_matches(filter, e))
		return 0;
	/* On the wire, names are relative to a subscribed path. */
	_cleanup_(alb_name_freep) alb_name *rel = NULL;
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	int r;
	if (alb_name_is_path(filter) && alb_name_relative_to(NULL, e->name, filter, &rel) < 0)
		return 0; /* not below it after all: skipped */
	if ((r = alb_msg_new(&m, ALB_MSG_DATA, alb_sub_get_seq(sub), rel ? rel : e->name)) < 0)
		return r;
	m->data.kind = ALB_DATA_STATS;
	if ((r = alb_stats_dup(e->last, &m->data.stats)) < 0)
		return r;
	*ret = TAKE_PTR(m);
	return 0;
}

/* About a sample's size on the wire. */
static uint64_t sample_size(const struct alb_stats *s)
{
	return 256 + (uint64_t)s->n_ifs * 192 + (uint64_t)s->n_kvm * (ALB_STATS_KEY_MAX + 16);
}

/* ---- albatrossd: policies and usage --------------------------------------- */

static void policies_free(struct policy_usage *v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		alb_name_free(v[i].path_name);
		free(v[i].path);
		alb_policy_free(v[i].limit);
	}
	free(v);
}

static void policies_clear(struct alb_stats_service *svc)
{
	policies_free(svc->policies, svc->n_policies);
	svc->policies = NULL;
	svc->n_policies = 0;
}

static void round_clear(struct round *q)
{
	policies_free(q->policies, q->n_policies);
	for (int k = 0; k < 2; k++) {
		for (uint32_t i = 0; i < q->n_items[k]; i++)
			alb_name_free(q->items[k][i].name);
		free(q->items[k]);
	}
	alb_source_free(q->timeout);
	*q = (struct round){0};
}

/* The end of a round: r < 0 and why, or the policies taken from it. */
static void round_done(struct alb_stats_service *svc, int r, const char *why)
{
	struct round *q = &svc->round;
	bool up = r >= 0;
	if (up) {
		struct policy_usage *p = q->policies;
		for (uint32_t i = 0; i < q->n_policies; i++) {
			for (uint32_t k = 0; k < q->n_items[0]; k++)
				if (alb_name_is_prefix(p[i].path_name, q->items[0][k].name) > 0) {
					p[i].unikernels++;
					p[i].memory_mb += q->items[0][k].mb;
				}
			for (uint32_t k = 0; k < q->n_items[1]; k++)
				if (alb_name_is_prefix(p[i].path_name, q->items[1][k].name) > 0)
					p[i].block_mb += q->items[1][k].mb;
		}
		policies_clear(svc);
		svc->policies = TAKE_PTR(q->policies);
		svc->n_policies = q->n_policies;
		q->n_policies = 0;
	} else {
		policies_clear(svc);
	}
	round_clear(q);
	if (up != svc->albatrossd_up || !svc->albatrossd_logged) {
		if (up)
			alb_log_info(svc->ctx, "albatrossd answers: %u policies", svc->n_policies);
		else
			alb_log_notice(svc->ctx, "Cannot ask albatrossd for policies: %s", why);
	}
	svc->albatrossd_up = up;
	svc->albatrossd_logged = true;
}

/* Copies what a reply says into the round: 0, -EBADMSG, -ENOMEM. */
static int round_take(struct round *q, int which, const struct alb_reply *reply)
{
	static const int kinds[Q_N] = {ALB_REPLY_POLICIES, ALB_REPLY_UNIKERNELS, ALB_REPLY_BLOCKS};
	if (reply->kind != kinds[which])
		return -EBADMSG;
	if (which == Q_POLICIES) {
		q->policies =
		    calloc(reply->n_policies ? reply->n_policies : 1, sizeof(*q->policies));
		if (!q->policies)
			return -ENOMEM;
		for (uint32_t i = 0; i < reply->n_policies; i++) {
			struct policy_usage *pu = &q->policies[q->n_policies++];
			if (alb_name_dup(reply->policies[i].path, &pu->path_name) < 0 ||
			    !(pu->path = alb_name_to_string(reply->policies[i].path)) ||
			    alb_policy_dup(reply->policies[i].policy, &pu->limit) < 0)
				return -ENOMEM;
		}
		return 0;
	}
	int k = which == Q_UNIKERNELS ? 0 : 1;
	uint32_t n = k == 0 ? reply->n_unikernels : reply->n_blocks;
	if (!(q->items[k] = calloc(n ? n : 1, sizeof(*q->items[k]))))
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct named_mb *it = &q->items[k][q->n_items[k]++];
		const alb_name *name = k == 0 ? reply->unikernels[i].name : reply->blocks[i].name;
		it->mb = k == 0 ? reply->unikernels[i].config->memory_mb : reply->blocks[i].size_mb;
		if (alb_name_dup(name, &it->name) < 0)
			return -ENOMEM;
	}
	return 0;
}

static void on_albatrossd_reply(struct alb_peer *peer, const alb_msg *reply, void *userdata)
{
	struct alb_stats_service *svc = userdata;
	struct round *q = &svc->round;
	if (!q->pending)
		return; /* a round that timed out */
	for (int i = 0; i < Q_N; i++) {
		if (reply->seq != q->seq[i] || q->got[i])
			continue;
		if (reply->kind == ALB_MSG_FAILURE) {
			char why[512];
			snprintf(why, sizeof(why), "albatrossd refused: %s",
				 reply->failure.message ? reply->failure.message : "?");
			round_done(svc, -(int)reply->failure.code, why);
			return;
		}
		int r = round_take(q, i, &reply->reply);
		if (r < 0) {
			round_done(svc, r, r == -EBADMSG ? "unexpected reply kinds" : strerror(-r));
			return;
		}
		q->got[i] = true;
	}
	if (q->got[Q_POLICIES] && q->got[Q_UNIKERNELS] && q->got[Q_BLOCKS])
		round_done(svc, 0, NULL);
}

static void on_albatrossd_disconnect(struct alb_peer *peer, void *userdata)
{
	struct alb_stats_service *svc = userdata;
	if (svc->round.pending)
		round_done(svc, -ECONNRESET, "the connection to albatrossd was lost");
}

static int on_round_timeout(alb_source *source, void *userdata)
{
	struct alb_stats_service *svc = userdata;
	char why[128];
	snprintf(why, sizeof(why), "albatrossd did not answer within %" PRIu64 " s",
		 ALB_STATS_ALBATROSSD_TIMEOUT_US / 1000000);
	round_done(svc, -ETIMEDOUT, why);
	return 0;
}

static const struct alb_peer_ops albatrossd_ops = {
    .on_disconnect = on_albatrossd_disconnect,
    .on_reply = on_albatrossd_reply,
};

/* Asks albatrossd for its policies, unikernels and blocks; the answers come on the loop. */
static void query_albatrossd(struct alb_stats_service *svc)
{
	struct round *q = &svc->round;
	_cleanup_(alb_name_freep) alb_name *root = NULL;
	char why[4200];
	int r;

	if (q->pending)
		return; /* the last one is still awaited (its timeout ends it) */
	/* Connected here, after the daemon dropped its privileges: albatrossd sees its user. */
	if (!svc->albatrossd &&
	    (r = alb_peer_new(svc->ctx, svc->loop, "albatrossd", svc->albatrossd_socket,
			      &albatrossd_ops, svc, false, UINT64_C(1) << 20, &svc->albatrossd)) <
		0) {
		round_done(svc, r, strerror(-r));
		return;
	}
	if (!alb_peer_connected(svc->albatrossd)) {
		snprintf(why, sizeof(why), "cannot connect to %s", svc->albatrossd_socket);
		round_done(svc, -ENOTCONN, why);
		return;
	}
	if ((r = alb_name_new_root(&root)) < 0)
		goto fail;
	static const int cmds[Q_N] = {ALB_CMD_POLICY_INFO, ALB_CMD_UNIKERNEL_INFO,
				      ALB_CMD_BLOCK_INFO};
	q->pending = true;
	for (int i = 0; i < Q_N; i++) {
		_cleanup_(alb_msg_freep) alb_msg *m = NULL;
		if ((r = alb_msg_new(&m, ALB_MSG_COMMAND, 0, root)) < 0)
			goto fail;
		m->cmd.kind = cmds[i];
		if ((r = alb_peer_send(svc->albatrossd, m)) < 0)
			goto fail;
		q->seq[i] = m->seq;
	}
	if ((r = alb_loop_add_timer(svc->loop, ALB_STATS_ALBATROSSD_TIMEOUT_US, on_round_timeout,
				    svc, &q->timeout)) < 0)
		goto fail;
	return;
fail:
	round_done(svc, r, strerror(-r));
}

/* ---- the tick -------------------------------------------------------------- */

static uint64_t cpu_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void influx_self(struct alb_stats_service *svc, uint64_t now)
{
	struct alb_buf b = {0};
	bool first = true;
	alb_influx_begin(&b, "albatross_stats");
	alb_influx_field(&b, &first, "unikernels", svc->n_entries);
	alb_influx_field(&b, &first, "influx_dropped", alb_influx_get_dropped(svc->influx));
	alb_influx_field(&b, &first, "influx_queued", alb_influx_get_queued(svc->influx));
	alb_influx_field(&b, &first, "subscriber_dropped", alb_subs_dropped_slow(svc->subs));
	alb_influx_field(&b, &first, "tick_cpu_us", svc->tick_cpu_us);
	alb_influx_end(&b, now);
	_cleanup_free_ char *text = alb_buf_steal(&b);
	if (text)
		(void)alb_influx_push(svc->influx, text);
}

static int on_tick(alb_source *source, void *userdata)
{
	struct alb_stats_service *svc = userdata;
	uint64_t c0 = cpu_us(), w0 = alb_now_monotonic();
	int r;

	alb_source_set_timer(svc->tick, svc->interval_us);
	if ((r = alb_stats_collector_refresh(svc->collector)) < 0)
		alb_log_warn(svc->ctx, "%s", alb_ctx_last_error(svc->ctx));
	uint64_t now = alb_now_realtime();
	for (uint32_t i = 0; i < svc->n_entries; i++) {
		struct entry *e = &svc->entries[i];
		e->last = alb_stats_sample_free(e->last);
		r = alb_stats_collect(svc->collector, e->pid, (const char *const *)e->taps,
				      e->n_taps, &e->last);
		if (r < 0) {
			if (!e->failing)
				alb_log_info(svc->ctx,
					     "No statistics for '%s' (pid %" PRIu32 "): %s",
					     e->name_str, e->pid, alb_ctx_last_error(svc->ctx));
			e->failing = true;
			continue;
		}
		e->failing = false;
		e->last->time_us = now; /* one time per tick: clients group by it */
		alb_subs_publish(svc->subs, sample_size(e->last), build_sample, e);
		if (svc->influx) {
			_cleanup_free_ char *text = NULL;
			if (alb_stats_sample_to_influx(e->last, e->name_str, &text) >= 0)
				(void)alb_influx_push(svc->influx, text);
		}
	}
	if (svc->influx) {
		influx_self(svc, now);
		alb_influx_flush(svc->influx);
	}
	if (svc->http)
		query_albatrossd(svc);
	svc->ticks++;
	svc->tick_cpu_us = cpu_us() - c0;
	svc->tick_wall_us = alb_now_monotonic() - w0;
	alb_log_debug(svc->ctx,
		      "tick %" PRIu64 ": %u unikernels, %" PRIu64 " µs CPU, %" PRIu64 " µs",
		      svc->ticks, svc->n_entries, svc->tick_cpu_us, svc->tick_wall_us);
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
	struct alb_stats_service *svc = userdata;
	_cleanup_free_ const alb_stats_sample **samples =
	    calloc(svc->n_entries ? svc->n_entries : 1, sizeof(*samples));
	_cleanup_free_ const char **names =
	    calloc(svc->n_entries ? svc->n_entries : 1, sizeof(*names));
	_cleanup_free_ char *text = NULL;
	uint32_t n = 0;
	char v[32];

	if (!samples || !names)
		return -ENOMEM;
	for (uint32_t i = 0; i < svc->n_entries; i++)
		if (svc->entries[i].last) {
			samples[n] = svc->entries[i].last;
			names[n++] = svc->entries[i].name_str;
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
		for (uint32_t i = 0; i < svc->n_policies; i++) {
			const struct policy_usage *pu = &svc->policies[i];
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
		   "Whether albatrossd answered the last policy query.", "gauge",
		   svc->albatrossd_up);
	prom_gauge(&b, "albatross_stats_unikernels", "Unikernels registered with albatross-stats.",
		   "gauge", svc->n_entries);
	prom_gauge(&b, "albatross_stats_ticks_total", "Sampling rounds done.", "counter",
		   svc->ticks);
	alb_prom_family(&b, "albatross_stats_tick_cpu_seconds", "gauge",
			"CPU time the last sampling round took.");
	alb_prom_series(&b, "albatross_stats_tick_cpu_seconds", NULL, 0,
			alb_prom_seconds(v, svc->tick_cpu_us));
	prom_gauge(&b, "albatross_stats_subscriber_dropped_total",
		   "Subscribers dropped because they did not keep up.", "counter",
		   alb_subs_dropped_slow(svc->subs));
	if (svc->influx) {
		prom_gauge(&b, "albatross_stats_influx_dropped_lines_total",
			   "Lines dropped because the InfluxDB queue was full or refused.",
			   "counter", alb_influx_get_dropped(svc->influx));
		prom_gauge(&b, "albatross_stats_influx_sent_lines_total",
			   "Lines InfluxDB accepted.", "counter", alb_influx_get_sent(svc->influx));
		prom_gauge(&b, "albatross_stats_influx_queued_lines", "Lines waiting for InfluxDB.",
			   "gauge", alb_influx_get_queued(svc->influx));
		prom_gauge(&b, "albatross_stats_influx_up",
			   "Whether the last write to InfluxDB succeeded.", "gauge",
			   (uint64_t)alb_influx_is_up(svc->influx));
	}
	*ret_len = b.len;
	*ret_body = alb_buf_steal(&b);
	return *ret_body ? 0 : -ENOMEM;
}

/* ---- the socket ----------------------------------------------------------- */

static int on_message(struct alb_conn *conn, alb_msg *m, void *userdata)
{
	struct alb_stats_service *svc = userdata;
	_cleanup_(alb_msg_freep) alb_msg *msg = m;
	_cleanup_free_ char *name = NULL;
	int r;

	if (!msg)
		return 0; /* an end-of-stream frame: nothing is being uploaded */
	if ((r = alb_subs_refuse_busy(svc->subs, conn, msg)) < 0)
		return r;
	if (msg->kind != ALB_MSG_COMMAND)
		return alb_conn_send_failure(conn, msg->seq, msg->name, EBADMSG,
					     "expected a command"),
		       -EBADMSG;
	name = alb_name_to_string(msg->name);
	if (msg->cmd.kind == ALB_CMD_STATS_ADD || msg->cmd.kind == ALB_CMD_STATS_REMOVE) {
		/* Only albatrossd (root, or whoever runs this daemon) registers unikernels. */
		uid_t uid = alb_conn_peer_uid(conn);
		if (uid != 0 && uid != geteuid())
			return alb_conn_send_failure(conn, msg->seq, msg->name, EPERM,
						     "%s is for albatrossd (root) only",
						     alb_command_to_string(msg->cmd.kind));
		alb_conn_set_feed(conn);
	}
	switch (msg->cmd.kind) {
	case ALB_CMD_STATS_ADD:
		if (alb_name_is_path(msg->name))
			return alb_conn_send_failure(
			    conn, msg->seq, msg->name, EINVAL,
			    "stats-add needs a unikernel name, not a path");
		if (msg->cmd.n_taps > ALB_STATS_TAPS_MAX)
			return alb_conn_send_failure(conn, msg->seq, msg->name, E2BIG,
						     "too many taps");
		r = stats_add(svc, msg->name, msg->cmd.pid, msg->cmd.taps, msg->cmd.n_taps);
		if (r < 0)
			return alb_conn_send_failure(conn, msg->seq, msg->name, -r,
						     "cannot register '%s': %s", name ? name : "?",
						     strerror(-r));
		alb_log_info(svc->ctx, "Registered '%s' (pid %" PRIu32 ", %" PRIu32 " taps)",
			     name ? name : "?", msg->cmd.pid, msg->cmd.n_taps);
		return alb_conn_send_ok(conn, msg->seq, msg->name, NULL);
	case ALB_CMD_STATS_REMOVE:
		r = stats_remove(svc, msg->name);
		if (r < 0)
			return alb_conn_send_failure(conn, msg->seq, msg->name, -r,
						     "'%s' is not registered", name ? name : "?");
		alb_log_info(svc->ctx, "Unregistered '%s'", name ? name : "?");
		return alb_conn_send_ok(conn, msg->seq, msg->name, NULL);
	case ALB_CMD_STATS_SUBSCRIBE:
		return subscribe(svc, conn, msg);
	case ALB_CMD_FEED:
		return alb_conn_take_feed(conn, msg);
	default:
		return alb_conn_send_failure(conn, msg->seq, msg->name, EINVAL,
					     "albatross-stats does not do %s",
					     alb_command_to_string(msg->cmd.kind));
	}
}

static void on_close(struct alb_conn *conn, void *userdata)
{
	struct alb_stats_service *svc = userdata;
	alb_subs_conn_closed(svc->subs, conn);
}

static void on_drain(struct alb_conn *conn, void *userdata)
{
	struct alb_stats_service *svc = userdata;
	alb_subs_conn_drained(svc->subs, conn);
}

static const struct alb_server_ops service_ops = {
    .on_message = on_message,
    .on_close = on_close,
    .on_drain = on_drain,
};

/* ---- the service ----------------------------------------------------------- */

ALB_EXPORT int alb_stats_service_new(alb_ctx *ctx, alb_loop *loop, uint64_t interval_us,
				     const char *albatrossd_socket, struct alb_stats_service **ret)
{
	_cleanup_(alb_stats_service_freep) struct alb_stats_service *svc = NULL;
	int r;

	if (!ctx || !loop || !albatrossd_socket || !ret)
		return -EINVAL;
	if (!(svc = calloc(1, sizeof(*svc))))
		return -ENOMEM;
	svc->ctx = ctx;
	svc->loop = alb_loop_ref(loop);
	svc->interval_us = interval_us ? interval_us : ALB_STATS_INTERVAL_DEFAULT_US;
	if (!(svc->albatrossd_socket = strdup(albatrossd_socket)))
		return -ENOMEM;
	const struct alb_subs_options so = {
	    .what = "samples",
	    .service = "stats",
	    .max = ALB_STATS_SUBSCRIBERS_MAX,
	};
	if ((r = alb_subs_new(ctx, &so, &svc->subs)) < 0 ||
	    (r = alb_stats_collector_new(ctx, &svc->collector)) < 0 ||
	    (r = alb_server_new(ctx, loop, &service_ops, svc, 0, &svc->server)) < 0 ||
	    (r = alb_loop_add_timer(loop, svc->interval_us, on_tick, svc, &svc->tick)) < 0)
		return r;
	*ret = TAKE_PTR(svc);
	return 0;
}

ALB_EXPORT struct alb_stats_service *alb_stats_service_free(struct alb_stats_service *svc)
{
	if (!svc)
		return NULL;
	alb_server_free(svc->server); /* on_close frees the subscribers */
	alb_subs_free(svc->subs);
	for (uint32_t i = 0; i < svc->n_entries; i++)
		entry_clear(&svc->entries[i]);
	free(svc->entries);
	round_clear(&svc->round);
	policies_clear(svc);
	alb_peer_free(svc->albatrossd);
	free(svc->albatrossd_socket);
	alb_http_free(svc->http);
	alb_influx_free(svc->influx);
	alb_source_free(svc->tick);
	alb_stats_collector_free(svc->collector);
	alb_loop_unref(svc->loop);
	free(svc);
	return NULL;
}

ALB_EXPORT int alb_stats_service_listen_unix(struct alb_stats_service *svc, const char *path,
					     unsigned mode, gid_t gid)
{
	return alb_server_listen_unix(svc->server, path, mode, gid);
}

ALB_EXPORT int alb_stats_service_listen_fd(struct alb_stats_service *svc, int fd)
{
	return alb_server_add_listen_fd(svc->server, fd);
}

ALB_EXPORT int alb_stats_service_set_influx(struct alb_stats_service *svc, const char *url,
					    uint32_t queue, uint64_t retry_max_us)
{
	int r = alb_influx_new(svc->ctx, svc->loop, url, queue, &svc->influx);
	if (r < 0)
		return r;
	alb_influx_set_retry(svc->influx, svc->interval_us < 1000000 ? svc->interval_us : 1000000,
			     retry_max_us);
	return 0;
}

ALB_EXPORT int alb_stats_service_set_prometheus(struct alb_stats_service *svc, const char *addr)
{
	return alb_http_new(svc->ctx, svc->loop, addr, metrics, svc, &svc->http);
}

ALB_EXPORT uint16_t alb_stats_service_get_prometheus_port(const struct alb_stats_service *svc)
{
	return svc->http ? alb_http_get_port(svc->http) : 0;
}

unsigned alb_stats_service_subscriber_count(const struct alb_stats_service *svc)
{
	return alb_subs_count(svc->subs);
}

uint32_t alb_stats_service_entry_count(const struct alb_stats_service *svc)
{
	return svc->n_entries;
}
