/* SPDX-License-Identifier: ISC */
/*
 * The bookkeeping of the TLS endpoint's connections (tls-pool-private.h), without
 * processes or sockets: the handshake pool and its shares per source, the waiting
 * room, and the admission of sessions with their bounds per tenant, per source and
 * in all, and which holder's session ends for a new one; the rate of new sessions
 * per tenant.
 */
#include "test-common.h"

#include "tls-pool-private.h"

#define N_ENTRIES 64

static struct alb_pool pool;
static struct alb_pool_entry entries[N_ENTRIES];
static uint32_t n_entries;
static uint64_t clock_us;

static void setup(uint32_t handshakes, uint32_t hs_share, uint32_t waiting, uint32_t sessions,
		  uint32_t per_tenant, uint32_t per_source)
{
	struct alb_pool_limits lim = {handshakes, hs_share,   waiting,
				      sessions,	  per_tenant, per_source};
	alb_pool_init(&pool, &lim);
	memset(entries, 0, sizeof(entries));
	n_entries = 0;
	clock_us = 1000;
}

static void teardown(void)
{
	while (pool.head)
		alb_pool_remove(&pool, pool.head);
	alb_pool_clear(&pool);
}

/* A new connection from source: the entry, started (HANDSHAKE) if the pool says so; the
 * victim it displaces in *ret_victim (may be NULL). */
static struct alb_pool_entry *arrive(const char *source, bool *ret_started,
				     struct alb_pool_entry **ret_victim)
{
	ck_assert_uint_lt(n_entries, N_ENTRIES);
	struct alb_pool_entry *e = &entries[n_entries++], *victim = NULL;
	ck_assert_int_eq(alb_pool_add(&pool, e, source, clock_us++), 0);
	bool start = alb_pool_arrive(&pool, e, &victim);
	if (victim) {
		ck_assert_ptr_ne(victim, e);
		if (victim->state == ALB_POOL_WAITING)
			alb_pool_remove(&pool, victim);
		else
			alb_pool_set_state(&pool, victim, ALB_POOL_ENDING);
	}
	if (start)
		alb_pool_set_state(&pool, e, ALB_POOL_HANDSHAKE);
	*ret_started = start;
	*ret_victim = victim;
	return e;
}

/* An authenticated session of tenant from source, admitted or not; its reply sent
 * (STREAMING) if admitted and stream. */
static int session(const char *source, const char *tenant, bool stream,
		   struct alb_pool_entry **ret_entry, struct alb_pool_victim *victims,
		   uint32_t *ret_n, struct alb_pool_victim *ret_blocking)
{
	bool started;
	struct alb_pool_entry *victim, *e = arrive(source, &started, &victim);
	ck_assert(started);
	ck_assert_int_eq(alb_pool_authenticated(&pool, e, tenant), 0);
	*ret_n = 0;
	int r = alb_pool_admit(&pool, e, clock_us++, victims, ret_n, ret_blocking);
	if (r == 1 && stream)
		alb_pool_set_state(&pool, e, ALB_POOL_STREAMING);
	*ret_entry = e;
	return r;
}

static uint32_t count(enum alb_pool_state st)
{
	return pool.n[st];
}

START_TEST(test_handshake_pool)
{
	struct alb_pool_entry *v, *a[6], *b, *c;
	bool started;

	/* 4 handshake slots, 1 per source before it may take one, room for 3 waiting. */
	setup(4, 1, 3, 8, 8, 8);
	/* A source alone takes every free slot (nobody else needs them). */
	for (int i = 0; i < 4; i++) {
		a[i] = arrive("10.0.0.1", &started, &v);
		ck_assert(started);
		ck_assert_ptr_null(v);
	}
	/* Over its share, with the pool full: it waits, taking nobody's slot. */
	a[4] = arrive("10.0.0.1", &started, &v);
	ck_assert(!started);
	ck_assert_ptr_null(v);
	ck_assert_uint_eq(count(ALB_POOL_WAITING), 1);
	/* Another source, below its share: it takes the slot of the biggest holder's oldest. */
	b = arrive("10.0.0.2", &started, &v);
	ck_assert(started);
	ck_assert_ptr_eq(v, a[0]);
	ck_assert_uint_eq(alb_pool_handshakes(&pool), 4);
	/* At its share now: it waits too. */
	c = arrive("10.0.0.2", &started, &v);
	ck_assert(!started);
	ck_assert_ptr_null(v);
	/* The waiting room (3): a third waiting is fine, a fourth sends the oldest waiting
	 * connection of the source with the most waiting away. */
	a[5] = arrive("10.0.0.1", &started, &v);
	ck_assert(!started && !v);
	struct alb_pool_entry *d = arrive("10.0.0.3", &started, &v);
	/* 10.0.0.3 holds no handshake: it takes a slot, from 10.0.0.1 (3 of the 4). */
	ck_assert(started);
	ck_assert_ptr_eq(v, a[1]);
	struct alb_pool_entry *a6 = arrive("10.0.0.1", &started, &v);
	ck_assert(!started);
	ck_assert_ptr_eq(v, a[4]); /* 10.0.0.1's own oldest waiting */
	ck_assert_uint_eq(count(ALB_POOL_WAITING), 3);
	/* A slot frees: it goes to the waiting source holding the fewest handshakes
	 * (10.0.0.2 holds 1, 10.0.0.1 holds 2). */
	alb_pool_remove(&pool, a[2]);
	ck_assert_ptr_eq(alb_pool_next(&pool), c);
	alb_pool_set_state(&pool, c, ALB_POOL_HANDSHAKE);
	ck_assert_ptr_null(alb_pool_next(&pool));
	alb_pool_remove(&pool, d);
	ck_assert_ptr_eq(alb_pool_next(&pool), a[5]);
	ck_assert_ptr_eq(alb_pool_waiting_victim(&pool), a[5]);
	(void)a6;
	(void)b;
	teardown();
}
END_TEST

/* A slot is taken only from a source holding two more than the newcomer's: sources near
 * their share do not take each other's in turn (a kill and a fork per arrival). */
START_TEST(test_handshake_margin)
{
	struct alb_pool_entry *v, *a0;
	bool started;

	setup(4, 2, 8, 8, 8, 8);
	a0 = arrive("10.0.0.1", &started, &v);
	arrive("10.0.0.1", &started, &v);
	arrive("10.0.0.2", &started, &v);
	arrive("10.0.0.2", &started, &v);
	ck_assert_uint_eq(alb_pool_handshakes(&pool), 4);
	/* 10.0.0.3 holds none, 10.0.0.1 two: it takes 10.0.0.1's oldest. */
	arrive("10.0.0.3", &started, &v);
	ck_assert(started);
	ck_assert_ptr_eq(v, a0);
	/* Now it holds one, the biggest two: no slot is taken, it waits. */
	arrive("10.0.0.3", &started, &v);
	ck_assert(!started);
	ck_assert_ptr_null(v);
	teardown();
}
END_TEST

/* The biggest holder's unauthenticated handshakes go before its authenticated ones. */
START_TEST(test_handshake_victim_prefers_unauthenticated)
{
	struct alb_pool_entry *v, *x, *y;
	bool started;

	setup(2, 1, 4, 8, 8, 8);
	x = arrive("10.0.0.1", &started, &v);
	y = arrive("10.0.0.1", &started, &v);
	ck_assert_int_eq(alb_pool_authenticated(&pool, x, "alice"), 0);
	arrive("10.0.0.2", &started, &v);
	ck_assert(started);
	ck_assert_ptr_eq(v, y);
	teardown();
}
END_TEST

START_TEST(test_tenant_bound)
{
	struct alb_pool_victim victims[ALB_POOL_VICTIMS_MAX], blocking;
	struct alb_pool_entry *s1, *s2, *s3, *s4, *b1;
	uint32_t n;

	/* 8 sessions, 2 per tenant, 8 per source. */
	setup(8, 2, 8, 8, 2, 8);
	ck_assert_int_eq(session("10.0.0.1", "alice", true, &s1, victims, &n, &blocking), 1);
	ck_assert_int_eq(session("10.0.0.1", "alice", true, &s2, victims, &n, &blocking), 1);
	ck_assert_uint_eq(n, 0);
	/* alice's third: her oldest stream ends for it, and why. */
	ck_assert_int_eq(session("10.0.0.1", "alice", false, &s3, victims, &n, &blocking), 1);
	ck_assert_uint_eq(n, 1);
	ck_assert_ptr_eq(victims[0].entry, s1);
	ck_assert_int_eq(victims[0].bound, ALB_POOL_BOUND_TENANT);
	ck_assert_uint_eq(victims[0].count, 2);
	ck_assert_str_eq(victims[0].holder, "alice");
	ck_assert_int_eq(s1->state, ALB_POOL_ENDING);
	ck_assert_int_eq(s3->state, ALB_POOL_RUNNING);
	/* Another tenant is not touched. */
	ck_assert_int_eq(session("10.0.0.1", "bob", false, &b1, victims, &n, &blocking), 1);
	ck_assert_uint_eq(n, 0);
	/* alice holds s2 (a stream) and s3 (running): the next takes s2's place... */
	ck_assert_int_eq(session("10.0.0.1", "alice", false, &s4, victims, &n, &blocking), 1);
	ck_assert_ptr_eq(victims[0].entry, s2);
	/* ...and then none can end (both run a command): the next waits, nothing changes. */
	struct alb_pool_entry *s5;
	ck_assert_int_eq(session("10.0.0.1", "alice", false, &s5, victims, &n, &blocking), 0);
	ck_assert_int_eq(blocking.bound, ALB_POOL_BOUND_TENANT);
	ck_assert_uint_eq(blocking.count, 2);
	ck_assert_int_eq(s5->state, ALB_POOL_ADMITTING);
	ck_assert_int_eq(s3->state, ALB_POOL_RUNNING);
	/* When one of hers ends, it is admitted. */
	alb_pool_remove(&pool, s3);
	ck_assert_int_eq(alb_pool_admit(&pool, s5, clock_us++, victims, &n, &blocking), 1);
	ck_assert_uint_eq(n, 0);
	teardown();
}
END_TEST

START_TEST(test_source_bound)
{
	struct alb_pool_victim victims[ALB_POOL_VICTIMS_MAX], blocking;
	struct alb_pool_entry *a, *b, *c;
	uint32_t n;

	/* 2 sessions per source, several tenants behind one address (a NAT). */
	setup(8, 2, 8, 8, 8, 2);
	ck_assert_int_eq(session("10.0.0.1", "alice", true, &a, victims, &n, &blocking), 1);
	ck_assert_int_eq(session("10.0.0.1", "bob", true, &b, victims, &n, &blocking), 1);
	ck_assert_int_eq(session("10.0.0.1", "carol", true, &c, victims, &n, &blocking), 1);
	ck_assert_uint_eq(n, 1);
	ck_assert_ptr_eq(victims[0].entry, a);
	ck_assert_int_eq(victims[0].bound, ALB_POOL_BOUND_SOURCE);
	ck_assert_str_eq(victims[0].holder, "10.0.0.1");
	/* Another address is not touched. */
	ck_assert_int_eq(session("10.0.0.2", "alice", true, &a, victims, &n, &blocking), 1);
	ck_assert_uint_eq(n, 0);
	teardown();
}
END_TEST

START_TEST(test_total_bound)
{
	struct alb_pool_victim victims[ALB_POOL_VICTIMS_MAX], blocking;
	struct alb_pool_entry *a[4], *b[4];
	uint32_t n;

	/* 4 sessions in all, no share below that. */
	setup(8, 8, 8, 4, 4, 4);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(session("10.0.0.1", "alice", true, &a[i], victims, &n, &blocking),
				 1);
	/* bob's first: alice, the biggest holder, gives her oldest stream up. */
	ck_assert_int_eq(session("10.0.0.2", "bob", true, &b[0], victims, &n, &blocking), 1);
	ck_assert_uint_eq(n, 1);
	ck_assert_ptr_eq(victims[0].entry, a[0]);
	ck_assert_int_eq(victims[0].bound, ALB_POOL_BOUND_SESSIONS);
	ck_assert_uint_eq(victims[0].count, 4);
	ck_assert_str_eq(victims[0].holder, "alice");
	ck_assert_uint_eq(victims[0].holder_count, 4);
	/* bob's second: alice holds 3, bob 1: hers again (3 >= 1 + 2). */
	ck_assert_int_eq(session("10.0.0.2", "bob", true, &b[1], victims, &n, &blocking), 1);
	ck_assert_ptr_eq(victims[0].entry, a[1]);
	/* bob's third: 2 and 2: they would take turns; bob's own oldest goes instead. */
	ck_assert_int_eq(session("10.0.0.2", "bob", true, &b[2], victims, &n, &blocking), 1);
	ck_assert_ptr_eq(victims[0].entry, b[0]);
	ck_assert_str_eq(victims[0].holder, "bob");
	ck_assert_uint_eq(alb_pool_sessions(&pool), 4);
	/* A new tenant while nobody holds two more than it: a stream of... carol holds 0,
	 * alice and bob 2 each: alice's oldest (2 >= 0 + 2). */
	struct alb_pool_entry *c1;
	ck_assert_int_eq(session("10.0.0.3", "carol", false, &c1, victims, &n, &blocking), 1);
	ck_assert_ptr_eq(victims[0].entry, a[2]);
	/* dave: alice 1, bob 2, carol 1 (running): bob's oldest stream (2 >= 0 + 2). */
	struct alb_pool_entry *d1, *d2;
	ck_assert_int_eq(session("10.0.0.4", "dave", false, &d1, victims, &n, &blocking), 1);
	ck_assert_ptr_eq(victims[0].entry, b[1]);
	/* Everyone holds 1, dave's is running: dave's second waits. */
	ck_assert_int_eq(session("10.0.0.4", "dave", false, &d2, victims, &n, &blocking), 0);
	ck_assert_int_eq(blocking.bound, ALB_POOL_BOUND_SESSIONS);
	ck_assert_str_eq(blocking.holder, "dave");
	teardown();
}
END_TEST

/* Several bounds at once: a victim for each, or none at all. */
START_TEST(test_bounds_together)
{
	struct alb_pool_victim victims[ALB_POOL_VICTIMS_MAX], blocking;
	struct alb_pool_entry *a1, *a2, *b1, *x;
	uint32_t n;

	/* 1 per tenant, 1 per source. */
	setup(8, 8, 8, 8, 1, 1);
	ck_assert_int_eq(session("10.0.0.1", "alice", true, &a1, victims, &n, &blocking), 1);
	ck_assert_int_eq(session("10.0.0.2", "bob", true, &b1, victims, &n, &blocking), 1);
	/* alice from bob's address: her own stream and the address's stream both end. */
	ck_assert_int_eq(session("10.0.0.2", "alice", false, &a2, victims, &n, &blocking), 1);
	ck_assert_uint_eq(n, 2);
	ck_assert_ptr_eq(victims[0].entry, a1);
	ck_assert_int_eq(victims[0].bound, ALB_POOL_BOUND_TENANT);
	ck_assert_ptr_eq(victims[1].entry, b1);
	ck_assert_int_eq(victims[1].bound, ALB_POOL_BOUND_SOURCE);
	/* bob again from there: his tenant is free, the address holds a2 (running): it
	 * waits, and nothing was ended for it. */
	ck_assert_int_eq(session("10.0.0.2", "bob", false, &x, victims, &n, &blocking), 0);
	ck_assert_int_eq(blocking.bound, ALB_POOL_BOUND_SOURCE);
	ck_assert_int_eq(a2->state, ALB_POOL_RUNNING);
	teardown();
}
END_TEST

/* ---- the rate of new sessions per tenant (a fake clock) ---- */

START_TEST(test_rate_burst_then_rate)
{
	uint64_t wait = 1;

	setup(8, 2, 32, 16, 4, 8);
	alb_pool_set_rate(&pool, 10, 4); /* a session every 100 ms, 4 at once */
	for (int i = 0; i < 4; i++)
		ck_assert(alb_pool_rate_take(&pool, "ann", clock_us, &wait));
	ck_assert_uint_eq(wait, 0);
	ck_assert(!alb_pool_rate_take(&pool, "ann", clock_us, &wait));
	ck_assert_uint_eq(wait, 100000);
	/* Refused sessions take nothing: as many as it likes, the wait stays. */
	for (int i = 0; i < 100; i++)
		ck_assert(!alb_pool_rate_take(&pool, "ann", clock_us, NULL));
	clock_us += 99999;
	ck_assert(!alb_pool_rate_take(&pool, "ann", clock_us, &wait));
	ck_assert_uint_eq(wait, 1);
	clock_us += 1;
	ck_assert(alb_pool_rate_take(&pool, "ann", clock_us, &wait));
	ck_assert(!alb_pool_rate_take(&pool, "ann", clock_us, &wait));
	ck_assert_uint_eq(wait, 100000);
	/* Another tenant has a bucket of its own. */
	for (int i = 0; i < 4; i++)
		ck_assert(alb_pool_rate_take(&pool, "ben", clock_us, NULL));
	ck_assert(!alb_pool_rate_take(&pool, "ben", clock_us, NULL));
	/* After burst / rate seconds, ann's bucket is full again: 4 at once, not more. */
	clock_us += 400000;
	for (int i = 0; i < 4; i++)
		ck_assert(alb_pool_rate_take(&pool, "ann", clock_us, NULL));
	ck_assert(!alb_pool_rate_take(&pool, "ann", clock_us, NULL));
	teardown();
}
END_TEST

START_TEST(test_rate_sustained)
{
	setup(8, 2, 32, 16, 4, 8);
	alb_pool_set_rate(&pool, 20, 40);
	/* A tenant trying every millisecond for 10 s gets its burst and 20 a second; an
	 * honest one, a session every 100 ms, is never refused meanwhile. */
	uint32_t flood = 0, honest = 0;
	for (uint32_t ms = 0; ms < 10000; ms++, clock_us += 1000) {
		flood += alb_pool_rate_take(&pool, ":", clock_us, NULL);
		if (ms % 100 == 0) {
			ck_assert(alb_pool_rate_take(&pool, "honest", clock_us, NULL));
			honest++;
		}
	}
	ck_assert_uint_eq(honest, 100);
	ck_assert_uint_ge(flood, 40 + 20 * 10 - 1);
	ck_assert_uint_le(flood, 40 + 20 * 10 + 1);
	teardown();
}
END_TEST

START_TEST(test_rate_unbounded)
{
	setup(8, 2, 32, 16, 4, 8);
	for (int i = 0; i < 100000; i++)
		ck_assert(alb_pool_rate_take(&pool, "ann", clock_us, NULL));
	alb_pool_set_rate(&pool, 1, 1);
	ck_assert(alb_pool_rate_take(&pool, "ann", clock_us, NULL));
	ck_assert(!alb_pool_rate_take(&pool, "ann", clock_us, NULL));
	/* Set again: what the tenants opened is forgotten. */
	alb_pool_set_rate(&pool, 0, 1);
	ck_assert(alb_pool_rate_take(&pool, "ann", clock_us, NULL));
	alb_pool_set_rate(&pool, 1, 1);
	ck_assert(alb_pool_rate_take(&pool, "ann", clock_us, NULL));
	teardown();
}
END_TEST

START_TEST(test_rate_slots)
{
	char name[ALB_POOL_TENANT_MAX];

	setup(8, 2, 32, 16, 4, 8);
	alb_pool_set_rate(&pool, 1, 2);
	/* ALB_POOL_RATE_SLOTS tenants in debt, the first one a little less than the rest. */
	for (uint32_t i = 0; i < ALB_POOL_RATE_SLOTS; i++) {
		snprintf(name, sizeof(name), "t%u", i);
		ck_assert(alb_pool_rate_take(&pool, name, clock_us, NULL));
		if (i > 0)
			ck_assert(alb_pool_rate_take(&pool, name, clock_us, NULL));
		clock_us++;
	}
	ck_assert(!alb_pool_rate_take(&pool, "t5", clock_us, NULL));
	/* One more tenant: the one nearest to full (t0) is forgotten, no other. */
	ck_assert(alb_pool_rate_take(&pool, "new", clock_us, NULL));
	ck_assert(alb_pool_rate_take(&pool, "new", clock_us, NULL));
	ck_assert(!alb_pool_rate_take(&pool, "new", clock_us, NULL));
	ck_assert(alb_pool_rate_take(&pool, "t0", clock_us, NULL));
	ck_assert(!alb_pool_rate_take(&pool, "t5", clock_us, NULL));
	/* A full bucket frees its slot: 2 s later everybody starts afresh. */
	clock_us += 2000000 + ALB_POOL_RATE_SLOTS;
	for (uint32_t i = 0; i < 2 * ALB_POOL_RATE_SLOTS; i++) {
		snprintf(name, sizeof(name), "u%u", i);
		ck_assert(alb_pool_rate_take(&pool, name, clock_us, NULL));
	}
	teardown();
}
END_TEST

static Suite *pool_suite(void)
{
	Suite *s = suite_create("tls-pool");
	TCase *tc = tcase_create("pool");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_handshake_pool);
	tcase_add_test(tc, test_handshake_margin);
	tcase_add_test(tc, test_handshake_victim_prefers_unauthenticated);
	tcase_add_test(tc, test_tenant_bound);
	tcase_add_test(tc, test_source_bound);
	tcase_add_test(tc, test_total_bound);
	tcase_add_test(tc, test_bounds_together);
	tcase_add_test(tc, test_rate_burst_then_rate);
	tcase_add_test(tc, test_rate_sustained);
	tcase_add_test(tc, test_rate_unbounded);
	tcase_add_test(tc, test_rate_slots);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(pool_suite());
}
