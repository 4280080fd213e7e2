/* SPDX-License-Identifier: ISC */
/*
 * The bookkeeping of the TLS endpoint's connections (docs/tls.md §2.3), apart
 * from processes and sockets so that its decisions can be tested alone: who
 * waits for a handshake slot, who is in the handshake pool, who is admitted,
 * and whom a bound ends for whom.
 *
 * An entry is one accepted connection, in the order of acceptance. It
 * belongs to a source (the client's address: IPv4, or the /64 prefix of an
 * IPv6 address) and, once authenticated, to a tenant (the first label of its
 * chain's path, ":" for a leaf of the anchor itself). The rules:
 *
 * - The handshake pool (HANDSHAKE and ADMITTING entries: a process, not yet
 *   admitted) holds at most `handshakes`. A connection that finds it full
 *   takes the slot of the oldest handshake of the source holding the most
 *   (its oldest unauthenticated one first) if its own source holds fewer
 *   than `handshakes_per_source`; otherwise it waits, without a process, in
 *   the waiting room.
 * - The waiting room holds at most `waiting`: beyond, the oldest waiting
 *   connection of the source with the most waiting goes (a source's own
 *   oldest, if it is that source). A slot of the pool goes to the waiting
 *   connection whose source holds the fewest handshakes (the oldest of them).
 * - Admitted sessions (RUNNING, STREAMING) are bounded in all (`sessions`),
 *   per tenant and per source. A session that would exceed a bound takes the
 *   place of the oldest STREAMING session of its tenant (of its source; for
 *   the total, of the tenant holding the most, or its own tenant's when no
 *   other holds at least two more than it). A RUNNING session (its command
 *   has not been answered yet: an upload, a reply awaited) is never ended
 *   for a bound; when no stream can end, the new session waits (ADMITTING).
 *
 * - New sessions per tenant are bounded in rate (struct alb_pool_rate): a
 *   tenant's bucket holds `burst` sessions and refills at `per_second`; an
 *   authenticated session that finds its tenant's bucket empty is refused at
 *   once (never queued, and it takes nothing from the bucket).
 *
 * Deadlines are the caller's (it knows the clock and the processes); ENDING
 * entries count in no bound.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* A source's name: an IPv4 address, or an IPv6 prefix "x:x:x:x::/64". */
#define ALB_POOL_SOURCE_MAX 64
/* A tenant's name: a label, or ":". */
#define ALB_POOL_TENANT_MAX 64

enum alb_pool_state {
	ALB_POOL_WAITING,   /* accepted, no process yet: the waiting room */
	ALB_POOL_HANDSHAKE, /* its process handshakes: not authenticated */
	ALB_POOL_ADMITTING, /* authenticated; waits for a session slot */
	ALB_POOL_RUNNING,   /* admitted; its command runs: never ended for a bound */
	ALB_POOL_STREAMING, /* admitted; answered, a stream follows: a bound may end it */
	ALB_POOL_ENDING,    /* being ended: in no bound */
	ALB_POOL_N_STATES,
};

/* The bound a decision is about, for the messages. */
enum alb_pool_bound {
	ALB_POOL_BOUND_NONE,
	ALB_POOL_BOUND_HANDSHAKES, /* the handshake pool is full */
	ALB_POOL_BOUND_WAITING,	   /* the waiting room is full */
	ALB_POOL_BOUND_TENANT,	   /* sessions per tenant */
	ALB_POOL_BOUND_SOURCE,	   /* sessions per source */
	ALB_POOL_BOUND_SESSIONS,   /* sessions in all */
	ALB_POOL_BOUND_RATE,	   /* new sessions per tenant and second */
};

struct alb_pool_limits {
	uint32_t handshakes;		/* HANDSHAKE + ADMITTING entries, >= 1 */
	uint32_t handshakes_per_source; /* a source's share of them, >= 1 */
	uint32_t waiting;		/* WAITING entries, >= 1 */
	uint32_t sessions, sessions_per_tenant, sessions_per_source; /* each >= 1 */
};

/* A source or a tenant: the counts of its entries, by state. */
struct alb_pool_group {
	struct alb_pool_group *next;
	uint32_t refs; /* entries that belong to it */
	uint32_t n[ALB_POOL_N_STATES];
	uint32_t marked; /* scratch of alb_pool_admit() */
	char name[ALB_POOL_SOURCE_MAX];
};

struct alb_pool_entry {
	struct alb_pool_entry *prev, *next; /* in the order of acceptance */
	enum alb_pool_state state;
	uint64_t accepted_us, admitted_us;
	struct alb_pool_group *source, *tenant; /* tenant: NULL until authenticated */
	bool marked;				/* scratch of alb_pool_admit() */
};

/*
 * The rate of new sessions per tenant: a token bucket of `burst` sessions refilled
 * at `per_second` (0: no bound), kept as one time per tenant (GCRA): when its
 * bucket is full again. A tenant whose bucket is full has no slot (a full bucket is
 * the same as none), so the slots are the tenants that opened sessions within the
 * last burst / per_second seconds; when all ALB_POOL_RATE_SLOTS are such tenants,
 * the one nearest to full is forgotten (it gets at most its burst back).
 */
#define ALB_POOL_RATE_SLOTS 256
#define ALB_POOL_RATE_MAX   10000u  /* per_second */
#define ALB_POOL_BURST_MAX  100000u /* burst */

struct alb_pool_rate_slot {
	uint64_t full_us; /* when the tenant's bucket is full again; 0: a free slot */
	char name[ALB_POOL_TENANT_MAX];
};

struct alb_pool_rate {
	uint32_t per_second, burst; /* per_second 0: no bound; burst >= 1 */
	struct alb_pool_rate_slot slots[ALB_POOL_RATE_SLOTS];
};

struct alb_pool {
	struct alb_pool_limits lim;
	struct alb_pool_rate rate;
	struct alb_pool_entry *head, *tail;
	struct alb_pool_group *sources, *tenants;
	uint32_t n[ALB_POOL_N_STATES];
};

/* One session that a bound ends, and why: the holder of the bound and its count. */
struct alb_pool_victim {
	struct alb_pool_entry *entry;
	enum alb_pool_bound bound;
	uint32_t count;	       /* the holder's sessions (the endpoint's for SESSIONS) */
	const char *holder;    /* the tenant or source at the bound (SESSIONS: the biggest) */
	uint32_t holder_count; /* SESSIONS: what the biggest holder holds */
};

#define ALB_POOL_VICTIMS_MAX 3

void alb_pool_init(struct alb_pool *pool, const struct alb_pool_limits *lim);
/* Frees the groups; the entries are the caller's (none may be left). */
void alb_pool_clear(struct alb_pool *pool);

/* Adds e (zeroed by the caller) as WAITING, of source, accepted at now_us. 0 or -ENOMEM. */
int alb_pool_add(struct alb_pool *pool, struct alb_pool_entry *e, const char *source,
		 uint64_t now_us);
void alb_pool_remove(struct alb_pool *pool, struct alb_pool_entry *e);
void alb_pool_set_state(struct alb_pool *pool, struct alb_pool_entry *e, enum alb_pool_state state);
/* A HANDSHAKE entry is authenticated for tenant: ADMITTING. 0 or -ENOMEM. */
int alb_pool_authenticated(struct alb_pool *pool, struct alb_pool_entry *e, const char *tenant);

/* The entries of a group in the handshake pool, and its admitted sessions. */
uint32_t alb_pool_group_handshakes(const struct alb_pool_group *g);
uint32_t alb_pool_group_sessions(const struct alb_pool_group *g);
uint32_t alb_pool_handshakes(const struct alb_pool *pool);
uint32_t alb_pool_sessions(const struct alb_pool *pool);

/*
 * A new connection e (WAITING, just added): true if it may start a handshake
 * now, after *ret_victim (if not NULL: a HANDSHAKE or ADMITTING entry whose
 * slot it takes) is ended; false if it waits, after *ret_victim (if not NULL:
 * a WAITING entry, never e) is closed. The caller sets the states.
 */
bool alb_pool_arrive(struct alb_pool *pool, struct alb_pool_entry *e,
		     struct alb_pool_entry **ret_victim);

/* The WAITING entry that goes first when the waiting room must give one up, or NULL. */
struct alb_pool_entry *alb_pool_waiting_victim(const struct alb_pool *pool);

/* The WAITING entry to start next if the handshake pool has room, or NULL. */
struct alb_pool_entry *alb_pool_next(const struct alb_pool *pool);

/*
 * Tries to admit the ADMITTING entry e at now_us. 1: admitted (RUNNING), and
 * the n_victims entries of victims (set ENDING here) are to be told why they
 * end. 0: it waits, *ret_blocking (with *ret_count and *ret_holder, as a
 * victim's) says for which bound; nothing changed.
 */
int alb_pool_admit(struct alb_pool *pool, struct alb_pool_entry *e, uint64_t now_us,
		   struct alb_pool_victim victims[ALB_POOL_VICTIMS_MAX], uint32_t *ret_n_victims,
		   struct alb_pool_victim *ret_blocking);

/*
 * The rate of new sessions: per_second (0 .. ALB_POOL_RATE_MAX, 0: no bound) and
 * burst (1 .. ALB_POOL_BURST_MAX). Forgets what the tenants opened so far.
 */
void alb_pool_set_rate(struct alb_pool *pool, uint32_t per_second, uint32_t burst);

/*
 * A new session of tenant, authenticated at now_us (a monotonic clock, > 0): true
 * if its tenant's bucket has a session left (taken); false if it is to be refused,
 * *ret_wait_us (if not NULL) then says how long until the bucket has one.
 */
bool alb_pool_rate_take(struct alb_pool *pool, const char *tenant, uint64_t now_us,
			uint64_t *ret_wait_us);
