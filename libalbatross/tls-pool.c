/* SPDX-License-Identifier: ISC */
/* The bookkeeping of the TLS endpoint's connections: the rules in tls-pool-private.h. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls-pool-private.h"

void alb_pool_init(struct alb_pool *pool, const struct alb_pool_limits *lim)
{
	*pool = (struct alb_pool){.lim = *lim};
	pool->rate.burst = 1; /* per_second 0: no bound until alb_pool_set_rate() */
}

static void groups_free(struct alb_pool_group *g)
{
	while (g) {
		struct alb_pool_group *next = g->next;
		free(g);
		g = next;
	}
}

void alb_pool_clear(struct alb_pool *pool)
{
	assert(!pool->head);
	groups_free(pool->sources);
	groups_free(pool->tenants);
	pool->sources = pool->tenants = NULL;
}

static struct alb_pool_group *group_get(struct alb_pool_group **list, const char *name)
{
	for (struct alb_pool_group *g = *list; g; g = g->next)
		if (strcmp(g->name, name) == 0)
			return g;
	struct alb_pool_group *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->next = *list;
	*list = g;
	return g;
}

/* Drops a reference; the last one frees the group. */
static void group_put(struct alb_pool_group **list, struct alb_pool_group *g)
{
	if (!g || --g->refs > 0)
		return;
	for (struct alb_pool_group **p = list; *p; p = &(*p)->next)
		if (*p == g) {
			*p = g->next;
			free(g);
			return;
		}
}

static void count(struct alb_pool *pool, struct alb_pool_entry *e, int delta)
{
	pool->n[e->state] += (uint32_t)delta;
	e->source->n[e->state] += (uint32_t)delta;
	if (e->tenant)
		e->tenant->n[e->state] += (uint32_t)delta;
}

int alb_pool_add(struct alb_pool *pool, struct alb_pool_entry *e, const char *source,
		 uint64_t now_us)
{
	e->source = group_get(&pool->sources, source);
	if (!e->source)
		return -ENOMEM;
	e->source->refs++;
	e->tenant = NULL;
	e->state = ALB_POOL_WAITING;
	e->accepted_us = now_us;
	e->marked = false;
	e->next = NULL;
	e->prev = pool->tail;
	if (pool->tail)
		pool->tail->next = e;
	else
		pool->head = e;
	pool->tail = e;
	count(pool, e, 1);
	return 0;
}

void alb_pool_remove(struct alb_pool *pool, struct alb_pool_entry *e)
{
	count(pool, e, -1);
	if (e->prev)
		e->prev->next = e->next;
	else
		pool->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		pool->tail = e->prev;
	e->prev = e->next = NULL;
	group_put(&pool->sources, e->source);
	group_put(&pool->tenants, e->tenant);
	e->source = e->tenant = NULL;
}

void alb_pool_set_state(struct alb_pool *pool, struct alb_pool_entry *e, enum alb_pool_state state)
{
	count(pool, e, -1);
	e->state = state;
	count(pool, e, 1);
}

int alb_pool_authenticated(struct alb_pool *pool, struct alb_pool_entry *e, const char *tenant)
{
	assert(e->state == ALB_POOL_HANDSHAKE && !e->tenant);
	struct alb_pool_group *t = group_get(&pool->tenants, tenant);
	if (!t)
		return -ENOMEM;
	count(pool, e, -1);
	t->refs++;
	e->tenant = t;
	e->state = ALB_POOL_ADMITTING;
	count(pool, e, 1);
	return 0;
}

uint32_t alb_pool_group_handshakes(const struct alb_pool_group *g)
{
	return g->n[ALB_POOL_HANDSHAKE] + g->n[ALB_POOL_ADMITTING];
}

uint32_t alb_pool_group_sessions(const struct alb_pool_group *g)
{
	return g->n[ALB_POOL_RUNNING] + g->n[ALB_POOL_STREAMING];
}

uint32_t alb_pool_handshakes(const struct alb_pool *pool)
{
	return pool->n[ALB_POOL_HANDSHAKE] + pool->n[ALB_POOL_ADMITTING];
}

uint32_t alb_pool_sessions(const struct alb_pool *pool)
{
	return pool->n[ALB_POOL_RUNNING] + pool->n[ALB_POOL_STREAMING];
}

static bool in_handshake_pool(const struct alb_pool_entry *e)
{
	return e->state == ALB_POOL_HANDSHAKE || e->state == ALB_POOL_ADMITTING;
}

/* The oldest handshake of the source holding the most of the pool (ties: the source
 * of the oldest), its unauthenticated ones first. */
static struct alb_pool_entry *handshake_victim(const struct alb_pool *pool,
					       const struct alb_pool_group *newcomer)
{
	struct alb_pool_group *biggest = NULL;
	uint32_t most = 0;

	for (struct alb_pool_entry *e = pool->head; e; e = e->next) {
		if (!in_handshake_pool(e))
			continue;
		uint32_t n = alb_pool_group_handshakes(e->source);
		if (n > most) {
			most = n;
			biggest = e->source;
		}
	}
	/* Only from a source that holds two more than the newcomer's (never its own): each
	 * such eviction narrows the spread, so a flood from many sources at their share
	 * cannot make every arrival cost a kill and a fork. */
	if (!biggest || biggest == newcomer || most < alb_pool_group_handshakes(newcomer) + 2)
		return NULL;
	struct alb_pool_entry *admitting = NULL;
	for (struct alb_pool_entry *e = pool->head; e; e = e->next) {
		if (e->source != biggest)
			continue;
		if (e->state == ALB_POOL_HANDSHAKE)
			return e;
		if (e->state == ALB_POOL_ADMITTING && !admitting)
			admitting = e;
	}
	return admitting;
}

/* The oldest waiting connection of the source with the most waiting (ties: the oldest). */
static struct alb_pool_entry *waiting_victim(const struct alb_pool *pool,
					     const struct alb_pool_entry *except)
{
	struct alb_pool_entry *victim = NULL;
	uint32_t most = 0;

	for (struct alb_pool_entry *e = pool->head; e; e = e->next) {
		if (e->state != ALB_POOL_WAITING || e == except)
			continue;
		uint32_t n = e->source->n[ALB_POOL_WAITING];
		if (n > most) {
			most = n;
			victim = e;
		}
	}
	return victim;
}

struct alb_pool_entry *alb_pool_waiting_victim(const struct alb_pool *pool)
{
	return waiting_victim(pool, NULL);
}

bool alb_pool_arrive(struct alb_pool *pool, struct alb_pool_entry *e,
		     struct alb_pool_entry **ret_victim)
{
	assert(e->state == ALB_POOL_WAITING);
	*ret_victim = NULL;
	if (alb_pool_handshakes(pool) < pool->lim.handshakes)
		return true;
	if (alb_pool_group_handshakes(e->source) < pool->lim.handshakes_per_source) {
		*ret_victim = handshake_victim(pool, e->source);
		if (*ret_victim)
			return true;
	}
	if (pool->n[ALB_POOL_WAITING] > pool->lim.waiting)
		*ret_victim = waiting_victim(pool, e);
	return false;
}

struct alb_pool_entry *alb_pool_next(const struct alb_pool *pool)
{
	struct alb_pool_entry *best = NULL;
	uint32_t fewest = UINT32_MAX;

	if (alb_pool_handshakes(pool) >= pool->lim.handshakes)
		return NULL;
	for (struct alb_pool_entry *e = pool->head; e; e = e->next) {
		if (e->state != ALB_POOL_WAITING)
			continue;
		uint32_t n = alb_pool_group_handshakes(e->source);
		if (n < fewest) {
			fewest = n;
			best = e;
		}
	}
	return best;
}

/* ---- admission ---------------------------------------------------------------------------- */

static uint32_t live_sessions(const struct alb_pool_group *g)
{
	return alb_pool_group_sessions(g) - g->marked;
}

static void mark(struct alb_pool_entry *e, bool on)
{
	int d = on ? 1 : -1;
	e->marked = on;
	e->source->marked += (uint32_t)d;
	e->tenant->marked += (uint32_t)d;
}

/* The oldest stream, not yet chosen, of the tenant (by_tenant) or source g. */
static struct alb_pool_entry *oldest_stream(const struct alb_pool *pool,
					    const struct alb_pool_group *g, bool by_tenant)
{
	for (struct alb_pool_entry *e = pool->head; e; e = e->next)
		if (e->state == ALB_POOL_STREAMING && !e->marked &&
		    (by_tenant ? e->tenant : e->source) == g)
			return e;
	return NULL;
}

/*
 * For the bound of all sessions: the oldest stream of the tenant holding the most,
 * if it holds at least two more than the new session's tenant t (else the two would
 * take turns); else t's own oldest stream.
 */
static struct alb_pool_entry *total_victim(const struct alb_pool *pool,
					   const struct alb_pool_group *t)
{
	struct alb_pool_entry *victim = NULL;
	uint32_t most = live_sessions(t) + 1;

	for (struct alb_pool_entry *e = pool->head; e; e = e->next) {
		if (e->state != ALB_POOL_STREAMING || e->marked || e->tenant == t)
			continue;
		uint32_t n = live_sessions(e->tenant);
		if (n > most) {
			most = n;
			victim = e;
		}
	}
	return victim ? victim : oldest_stream(pool, t, true);
}

int alb_pool_admit(struct alb_pool *pool, struct alb_pool_entry *e, uint64_t now_us,
		   struct alb_pool_victim victims[ALB_POOL_VICTIMS_MAX], uint32_t *ret_n_victims,
		   struct alb_pool_victim *ret_blocking)
{
	struct alb_pool_group *t = e->tenant, *s = e->source;
	uint32_t n = 0;

	assert(e->state == ALB_POOL_ADMITTING && t);
	for (;;) {
		struct alb_pool_victim v = {0};
		uint32_t total = alb_pool_sessions(pool) - n;

		if (live_sessions(t) >= pool->lim.sessions_per_tenant) {
			v = (struct alb_pool_victim){oldest_stream(pool, t, true),
						     ALB_POOL_BOUND_TENANT, live_sessions(t),
						     t->name, 0};
		} else if (live_sessions(s) >= pool->lim.sessions_per_source) {
			v = (struct alb_pool_victim){oldest_stream(pool, s, false),
						     ALB_POOL_BOUND_SOURCE, live_sessions(s),
						     s->name, 0};
		} else if (total >= pool->lim.sessions) {
			v = (struct alb_pool_victim){total_victim(pool, t), ALB_POOL_BOUND_SESSIONS,
						     total, NULL, 0};
			/* The tenant that gives the session up, and what it holds. */
			const struct alb_pool_group *h = v.entry ? v.entry->tenant : t;
			v.holder = h->name;
			v.holder_count = live_sessions(h);
		} else {
			break;
		}
		if (!v.entry || n == ALB_POOL_VICTIMS_MAX) {
			for (uint32_t i = 0; i < n; i++)
				mark(victims[i].entry, false);
			v.entry = NULL;
			*ret_blocking = v;
			return 0;
		}
		mark(v.entry, true);
		victims[n++] = v;
	}
	for (uint32_t i = 0; i < n; i++) {
		mark(victims[i].entry, false);
		alb_pool_set_state(pool, victims[i].entry, ALB_POOL_ENDING);
	}
	alb_pool_set_state(pool, e, ALB_POOL_RUNNING);
	e->admitted_us = now_us;
	*ret_n_victims = n;
	return 1;
}

/* ---- the rate of new sessions per tenant ------------------------------------------------- */

void alb_pool_set_rate(struct alb_pool *pool, uint32_t per_second, uint32_t burst)
{
	struct alb_pool_rate *r = &pool->rate;

	r->per_second = per_second < ALB_POOL_RATE_MAX ? per_second : ALB_POOL_RATE_MAX;
	r->burst = burst < 1 ? 1 : burst < ALB_POOL_BURST_MAX ? burst : ALB_POOL_BURST_MAX;
	memset(r->slots, 0, sizeof(r->slots));
}

bool alb_pool_rate_take(struct alb_pool *pool, const char *tenant, uint64_t now_us,
			uint64_t *ret_wait_us)
{
	struct alb_pool_rate *r = &pool->rate;
	struct alb_pool_rate_slot *slot = NULL, *free_slot = NULL, *nearest = NULL;

	assert(now_us > 0);
	if (ret_wait_us)
		*ret_wait_us = 0;
	if (!r->per_second)
		return true;
	/* A session costs t of the bucket, which holds burst * t and refills in real time. */
	uint64_t t = 1000000u / r->per_second, span = (uint64_t)r->burst * t;
	for (size_t i = 0; i < ALB_POOL_RATE_SLOTS; i++) {
		struct alb_pool_rate_slot *s = &r->slots[i];
		if (s->full_us <= now_us) { /* full again: free */
			if (!free_slot)
				free_slot = s;
		} else if (strcmp(s->name, tenant) == 0) {
			slot = s;
			break;
		} else if (!nearest || s->full_us < nearest->full_us) {
			nearest = s;
		}
	}
	uint64_t base = slot ? slot->full_us : now_us;
	if (base + t - now_us > span) {
		if (ret_wait_us)
			*ret_wait_us = base + t - span - now_us;
		return false;
	}
	if (!slot) {
		slot = free_slot ? free_slot : nearest;
		snprintf(slot->name, sizeof(slot->name), "%s", tenant);
	}
	slot->full_us = base + t;
	return true;
}
