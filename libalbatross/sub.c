/* SPDX-License-Identifier: ISC */
/*
 * The subscription engine (sub-private.h): subscribers in the order they
 * came, each on its own connection; history pulled from the service in
 * steps; live messages straight to the connection, or held while the
 * history is still going out.
 */
#include <inttypes.h>
#include <stdio.h>

#include "ctx-private.h"
#include "name-private.h"
#include "sub-private.h"

/* A live message waiting for the end of its subscriber's history. */
struct held {
	struct held *next;
	alb_msg *msg;
	uint64_t size;
};

struct alb_sub {
	struct alb_subs *subs;
	struct alb_sub *prev, *next; /* in the order they subscribed */
	struct alb_conn *conn;	     /* a reference */
	alb_name name;
	uint64_t seq;
	bool history, follow;
	bool in_history; /* the history is not complete yet */
	struct held *held_head, *held_tail;
	uint64_t held_bytes;
	void *data;
	void (*free_data)(void *data);
};

struct alb_subs {
	alb_ctx *ctx;
	struct alb_subs_options o;
	struct alb_sub *head, *tail;
	unsigned n;
	uint64_t dropped_slow, dropped_full;
};

int alb_subs_new(alb_ctx *ctx, const struct alb_subs_options *o, struct alb_subs **ret)
{
	if (!ctx || !o || !ret || !o->what)
		return -EINVAL;
	struct alb_subs *subs = calloc(1, sizeof(*subs));
	if (!subs)
		return -ENOMEM;
	subs->ctx = ctx;
	subs->o = *o;
	if (!subs->o.queue_max)
		subs->o.queue_max = ALB_SUB_QUEUE_MAX_DEFAULT;
	if (!subs->o.history_step)
		subs->o.history_step = ALB_SUB_HISTORY_STEP_DEFAULT;
	if (!subs->o.per_name)
		subs->o.per_name = "name";
	*ret = subs;
	return 0;
}

/* Unlinks and frees a subscriber; its connection stays as it is. */
static void sub_free(struct alb_sub *s)
{
	struct alb_subs *subs = s->subs;
	if (s->prev)
		s->prev->next = s->next;
	else
		subs->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		subs->tail = s->prev;
	subs->n--;
	while (s->held_head) {
		struct held *h = s->held_head;
		s->held_head = h->next;
		alb_msg_free(h->msg);
		free(h);
	}
	if (s->free_data)
		s->free_data(s->data);
	alb_conn_set_streaming(s->conn, false);
	alb_conn_set_data(s->conn, NULL);
	alb_conn_unref(s->conn);
	free(s);
}

struct alb_subs *alb_subs_free(struct alb_subs *subs)
{
	if (!subs)
		return NULL;
	while (subs->head)
		sub_free(subs->head);
	free(subs);
	return NULL;
}

/* Drops a subscriber: a failure message to it, then its connection closes. */
static void sub_drop(struct alb_sub *s, int error, const char *why)
{
	struct alb_subs *subs = s->subs;
	_cleanup_free_ char *n = alb_name_to_string(&s->name);
	_cleanup_(alb_conn_unrefp) struct alb_conn *conn = alb_conn_ref(s->conn);
	alb_name name = s->name;
	uint64_t seq = s->seq;
	if (error == ALB_SUB_SLOW) {
		subs->dropped_slow++;
		alb_log_warn(subs->ctx, "Dropping a subscriber of '%s' (uid %u): %s", n ? n : "?",
			     (unsigned)alb_conn_peer_uid(conn), why);
	} else {
		subs->dropped_full += error == ALB_SUB_FULL;
		alb_log_info(subs->ctx, "Dropping a subscriber of '%s' (uid %u): %s", n ? n : "?",
			     (unsigned)alb_conn_peer_uid(conn), why);
	}
	sub_free(s);
	(void)alb_conn_send_failure(conn, seq, &name, error, "%s", why);
	alb_conn_close(conn);
}

static void drop_slow(struct alb_sub *s)
{
	char why[160];
	snprintf(why, sizeof(why), "dropped: more than %" PRIu64 " bytes of %s unread",
		 s->subs->o.queue_max, s->subs->o.what);
	sub_drop(s, ALB_SUB_SLOW, why);
}

/* Queues history while less than a step is unread; at its end, an end-of-stream frame
 * (without follow) or the live messages held meanwhile (with follow). */
static void sub_pump(struct alb_sub *s)
{
	struct alb_subs *subs = s->subs;
	while (s->in_history && alb_sub_wants_more(s)) {
		int r = s->history && subs->o.history ? subs->o.history(s, subs->o.userdata) : 0;
		if (r < 0) {
			sub_drop(s, -r, "failed to queue the history");
			return;
		}
		if (r > 0)
			continue;
		s->in_history = false;
		if (!s->follow) {
			/* The history is done: the connection takes commands again. */
			_cleanup_(alb_conn_unrefp) struct alb_conn *conn = alb_conn_ref(s->conn);
			sub_free(s);
			if (alb_conn_send_end(conn) < 0)
				alb_conn_close(conn);
			return;
		}
		while (s->held_head) {
			struct held *h = s->held_head;
			s->held_head = h->next;
			if (!s->held_head)
				s->held_tail = NULL;
			s->held_bytes -= h->size;
			r = alb_conn_send(s->conn, h->msg);
			alb_msg_free(h->msg);
			free(h);
			if (r < 0) {
				sub_drop(s, EIO, "failed to queue live data");
				return;
			}
		}
	}
}

/* Whose a subscription is, for fair shares: the peer's uid and the tenant, the first label
 * of the name (remote clients share the TLS endpoint's uid; their names begin with their
 * tenant's). */
static const char *tenant_of(const alb_name *name)
{
	return name->depth ? name->path[0] : "";
}

static bool same_peer(const struct alb_sub *s, uid_t uid, const alb_name *name)
{
	return alb_conn_peer_uid(s->conn) == uid &&
	       strcmp(tenant_of(&s->name), tenant_of(name)) == 0;
}

/* Whether s counts in the bound: of name, or of all if name is NULL. */
static bool in_bound(const struct alb_sub *s, const alb_name *name)
{
	return !name || alb_name_equal(&s->name, name) == 1;
}

/* Subscribers counted in the bound of uid (and of its tenant, when for is not NULL). */
static unsigned held_by(const struct alb_subs *subs, const alb_name *name, uid_t uid,
			const alb_name *for_name)
{
	unsigned n = 0;
	for (const struct alb_sub *t = subs->head; t; t = t->next)
		n += in_bound(t, name) && alb_conn_peer_uid(t->conn) == uid &&
		     (!for_name || strcmp(tenant_of(&t->name), tenant_of(for_name)) == 0);
	return n;
}

/*
 * Applies a bound of max subscribers (of name, or in all if name is NULL) before one more
 * of the peer (uid, for) comes: over it, the oldest subscriber goes of the uid that holds
 * the most, and among its tenants of the one that holds the most (the newcomer's own when
 * it holds as many). Fair between uids first: a local uid gains nothing by spreading its
 * subscriptions over names.
 */
static void apply_bound(struct alb_subs *subs, const alb_name *name, uint32_t max, uid_t uid,
			const alb_name *for_name)
{
	unsigned n = 0;
	for (struct alb_sub *s = subs->head; s; s = s->next)
		n += in_bound(s, name);
	while (n >= max) {
		struct alb_sub *victim = NULL;
		unsigned v_uid = 0, v_peer = 0;
		for (struct alb_sub *s = subs->head; s; s = s->next) { /* oldest first */
			if (!in_bound(s, name))
				continue;
			uid_t su = alb_conn_peer_uid(s->conn);
			unsigned h_uid = held_by(subs, name, su, NULL);
			unsigned h_peer = held_by(subs, name, su, &s->name);
			bool better;
			if (!victim || h_uid != v_uid)
				better = !victim || h_uid > v_uid;
			else if (su != alb_conn_peer_uid(victim->conn))
				better = su == uid; /* as many: the newcomer's own uid */
			else if (h_peer != v_peer)
				better = h_peer > v_peer;
			else
				better = same_peer(s, uid, for_name) &&
					 !same_peer(victim, uid, for_name);
			if (better) {
				victim = s;
				v_uid = h_uid;
				v_peer = h_peer;
			}
		}
		if (!victim)
			return;
		char why[256];
		const char *tenant = tenant_of(&victim->name);
		char peer[96];
		if (*tenant)
			snprintf(peer, sizeof(peer), "uid %u for '%s'",
				 (unsigned)alb_conn_peer_uid(victim->conn), tenant);
		else
			snprintf(peer, sizeof(peer), "uid %u",
				 (unsigned)alb_conn_peer_uid(victim->conn));
		if (name)
			snprintf(why, sizeof(why),
				 "dropped: a newer subscriber came, and %u at most are served per "
				 "%s; %s holds %u of them",
				 max, subs->o.per_name, peer, v_peer);
		else
			snprintf(why, sizeof(why),
				 "dropped: a newer subscriber came, and %u at most are served; "
				 "%s holds %u of them",
				 max, peer, v_peer);
		sub_drop(victim, ALB_SUB_FULL, why);
		n--;
	}
}

int alb_subs_add(struct alb_subs *subs, struct alb_conn *conn, uint64_t seq, const alb_name *name,
		 bool history, bool follow, void *data, void (*free_data)(void *data))
{
	if (!subs || !conn || !name || alb_conn_get_data(conn)) {
		if (free_data)
			free_data(data);
		return -EINVAL;
	}
	uid_t uid = alb_conn_peer_uid(conn);
	if (subs->o.max_per_name)
		apply_bound(subs, name, subs->o.max_per_name, uid, name);
	if (subs->o.max)
		apply_bound(subs, NULL, subs->o.max, uid, name);
	struct alb_sub *s = calloc(1, sizeof(*s));
	if (!s) {
		if (free_data)
			free_data(data);
		return -ENOMEM;
	}
	int r = alb_conn_send_ok(conn, seq, name, NULL);
	if (r < 0) {
		if (free_data)
			free_data(data);
		free(s);
		return r;
	}
	s->subs = subs;
	s->conn = alb_conn_ref(conn);
	s->name = *name;
	s->seq = seq;
	s->history = history;
	s->follow = follow;
	s->in_history = true;
	s->data = data;
	s->free_data = free_data;
	s->prev = subs->tail;
	if (subs->tail)
		subs->tail->next = s;
	else
		subs->head = s;
	subs->tail = s;
	subs->n++;
	alb_conn_set_data(conn, s);
	alb_conn_set_streaming(conn, true);
	sub_pump(s);
	return 0;
}

void alb_subs_publish(struct alb_subs *subs, uint64_t size, alb_sub_build_fn build, void *userdata)
{
	for (struct alb_sub *s = subs->head, *next; s; s = next) {
		next = s->next;
		if (!s->follow)
			continue;
		_cleanup_(alb_msg_freep) alb_msg *m = NULL;
		int r = build(s, userdata, &m);
		if (r < 0) {
			sub_drop(s, -r, "failed to build a message");
			continue;
		}
		if (!m)
			continue;
		if (alb_conn_queued(s->conn) + s->held_bytes + size > subs->o.queue_max) {
			drop_slow(s);
			continue;
		}
		if (s->in_history) {
			struct held *h = malloc(sizeof(*h));
			if (!h) {
				sub_drop(s, ENOMEM, "out of memory");
				continue;
			}
			*h = (struct held){.msg = TAKE_PTR(m), .size = size};
			if (s->held_tail)
				s->held_tail->next = h;
			else
				s->held_head = h;
			s->held_tail = h;
			s->held_bytes += size;
			continue;
		}
		if (alb_conn_send(s->conn, m) < 0)
			sub_drop(s, EIO, "failed to queue live data");
	}
}

int alb_subs_refuse_busy(struct alb_subs *subs, struct alb_conn *conn, const alb_msg *msg)
{
	if (!alb_conn_get_data(conn))
		return 0;
	if (msg)
		(void)alb_conn_send_failure(conn, msg->seq, msg->name, EBUSY,
					    "a %s%ssubscription is in progress on this connection",
					    subs->o.service ? subs->o.service : "",
					    subs->o.service ? " " : "");
	/* The subscriber goes with the connection (on_close). */
	return -EBUSY;
}

void alb_subs_conn_closed(struct alb_subs *subs, struct alb_conn *conn)
{
	struct alb_sub *s = alb_conn_get_data(conn);
	if (s)
		sub_free(s);
}

void alb_subs_conn_drained(struct alb_subs *subs, struct alb_conn *conn)
{
	struct alb_sub *s = alb_conn_get_data(conn);
	if (s)
		sub_pump(s);
}

unsigned alb_subs_count(const struct alb_subs *subs)
{
	return subs ? subs->n : 0;
}

uint64_t alb_subs_dropped_slow(const struct alb_subs *subs)
{
	return subs ? subs->dropped_slow : 0;
}

uint64_t alb_subs_dropped_full(const struct alb_subs *subs)
{
	return subs ? subs->dropped_full : 0;
}

const alb_name *alb_sub_get_name(const struct alb_sub *sub)
{
	return &sub->name;
}

uint64_t alb_sub_get_seq(const struct alb_sub *sub)
{
	return sub->seq;
}

void *alb_sub_get_data(const struct alb_sub *sub)
{
	return sub->data;
}

bool alb_sub_wants_more(const struct alb_sub *sub)
{
	return alb_conn_queued(sub->conn) < sub->subs->o.history_step;
}

int alb_sub_send(struct alb_sub *sub, const alb_msg *msg)
{
	return alb_conn_send(sub->conn, msg);
}
