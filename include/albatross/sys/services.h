/* SPDX-License-Identifier: ISC */
/**
 * @file sys/services.h
 * The services of the helper daemons, each on an event loop (loop.h): what
 * albatross-console, albatross-log, albatross-stats and albatross-tls-endpoint
 * are around their options. albatrossd's service is the supervisor's own
 * (vmm.h: alb_vmm_listen(), alb_vmm_connect_helpers()).
 * Extension tier (docs/abi.md): stable within a minor release only.
 */
#ifndef ALBATROSS_SYS_SERVICES_H
#define ALBATROSS_SYS_SERVICES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <albatross/console.h>
#include <albatross/ctx.h>
#include <albatross/log.h>
#include <albatross/loop.h>
#include <albatross/tls.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- albatross-console (docs/console.md) ---- */

/* Subscribers per unikernel, default and bound. */
#define ALB_CONSOLE_SUBSCRIBERS_DEFAULT 5u
#define ALB_CONSOLE_SUBSCRIBERS_MAX	256u
/* A live subscriber with this many bytes queued and unread is dropped (the engine's
 * default, ALB_SUB_QUEUE_MAX_DEFAULT). */
#define ALB_CONSOLE_SUBSCRIBER_QUEUE_MAX (UINT64_C(4) << 20)
/* History is queued in steps while less than this is queued (then on drain). */
#define ALB_CONSOLE_HISTORY_STEP (UINT64_C(256) << 10)

struct alb_console_service_options {
	uint32_t lines;	       /* 0: ALB_CONSOLE_LINES_DEFAULT */
	uint32_t line_max;     /* 0: ALB_CONSOLE_LINE_MAX_DEFAULT */
	uint32_t inactive_max; /* per path; UINT32_MAX: ALB_CONSOLE_INACTIVE_DEFAULT */
	uint32_t subscribers;  /* per unikernel; 0: ALB_CONSOLE_SUBSCRIBERS_DEFAULT */
	uint64_t queue_max;    /* per subscriber; 0: ALB_CONSOLE_SUBSCRIBER_QUEUE_MAX */
};

struct alb_console_service;

int alb_console_service_new(alb_ctx *ctx, alb_loop *loop,
			    const struct alb_console_service_options *options,
			    struct alb_console_service **ret);
/* Closes every connection. Accepts NULL. Returns NULL. */
struct alb_console_service *alb_console_service_free(struct alb_console_service *service);

/* Listens on path (mode, group gid unless -1), or serves a listening fd (taken). */
int alb_console_service_listen_unix(struct alb_console_service *service, const char *path,
				    unsigned mode, gid_t gid);
int alb_console_service_listen_fd(struct alb_console_service *service, int fd);

/* ---- albatross-log (docs/log.md) ---- */

/* Subscribers at once; over it the oldest is dropped (sub-private.h, ALB_SUB_FULL). */
#define ALB_LOG_SUBSCRIBERS_MAX 64u

struct alb_log_service_options {
	const char *logdir; /* the log: LOGDIR/events.log (and .1); made (0750) if missing */
	uint64_t max_size;  /* rotate at this size; 0: ALB_EVENT_LOG_MAX_SIZE_DEFAULT */
	uid_t uid;	    /* when not -1 and running as root: LOGDIR and its files go to */
	gid_t gid;	    /* uid and gid (the daemon drops to them later) */
};

struct alb_log_service;

/* Opens (recovers) the log. 0 or -errno with the reason in ctx. */
int alb_log_service_new(alb_ctx *ctx, alb_loop *loop, const struct alb_log_service_options *options,
			struct alb_log_service **ret);
/* Closes every connection and the log. Accepts NULL. Returns NULL. */
struct alb_log_service *alb_log_service_free(struct alb_log_service *service);

/* Listens on path (its directory made, 0755, if missing; mode, group gid unless -1), or
 * serves a listening fd (taken). 0 or -errno with the reason in ctx. */
int alb_log_service_listen_unix(struct alb_log_service *service, const char *path, unsigned mode,
				gid_t gid);
int alb_log_service_listen_fd(struct alb_log_service *service, int fd);

/* ---- albatross-stats (docs/metrics.md) ---- */

/* Bounds and defaults. */
#define ALB_STATS_ENTRIES_MAX	      65536u /* registered unikernels */
#define ALB_STATS_SUBSCRIBERS_MAX     1024u  /* over it the oldest is dropped (ALB_SUB_FULL) */
#define ALB_STATS_INTERVAL_DEFAULT_US (UINT64_C(10) * 1000000)
/* albatrossd's answers to the policy queries are awaited this long. */
#define ALB_STATS_ALBATROSSD_TIMEOUT_US (UINT64_C(2) * 1000000)

struct alb_stats_service;

/* Samples every interval_us (0: the default); asks albatrossd at albatrossd_socket
 * (with /metrics only, from the first round on). 0, -errno with the reason in ctx. */
int alb_stats_service_new(alb_ctx *ctx, alb_loop *loop, uint64_t interval_us,
			  const char *albatrossd_socket, struct alb_stats_service **ret);
/* Closes every connection. Accepts NULL. Returns NULL. */
struct alb_stats_service *alb_stats_service_free(struct alb_stats_service *service);

/* Listens on path (mode, group gid unless -1), or serves a listening fd (taken). */
int alb_stats_service_listen_unix(struct alb_stats_service *service, const char *path,
				  unsigned mode, gid_t gid);
int alb_stats_service_listen_fd(struct alb_stats_service *service, int fd);

/* Pushes to InfluxDB at url (stats-private.h, alb_influx_new()), keeping queue lines while
 * it is down, retrying at most every retry_max_us. -EINVAL for a bad url. */
int alb_stats_service_set_influx(struct alb_stats_service *service, const char *url, uint32_t queue,
				 uint64_t retry_max_us);
/* Serves GET /metrics at addr ("HOST:PORT", port 0 picks one). */
int alb_stats_service_set_prometheus(struct alb_stats_service *service, const char *addr);
/* The /metrics port, 0 without. */
uint16_t alb_stats_service_get_prometheus_port(const struct alb_stats_service *service);

/* ---- albatross-tls-endpoint (docs/tls.md) ---- */

#define ALB_TLS_SESSIONS_DEFAULT 64u
#define ALB_TLS_SESSIONS_MAX	 4096u
/* Connections in the handshake pool (a process each, not yet admitted as a session). */
#define ALB_TLS_HANDSHAKES_DEFAULT 32u
#define ALB_TLS_HANDSHAKES_MAX	   4096u
/* The waiting room (accepted connections without a process): this many per handshake slot. */
#define ALB_TLS_WAITING_PER_HANDSHAKE 4u
/* New sessions per tenant: a bucket of BURST refilled at RATE a second (0: no bound). */
#define ALB_TLS_TENANT_RATE_DEFAULT  20u
#define ALB_TLS_TENANT_RATE_MAX	     10000u
#define ALB_TLS_TENANT_BURST_DEFAULT 100u
#define ALB_TLS_TENANT_BURST_MAX     100000u
/* A session told to end (a bound) that has not ended after this long is killed, ms. */
#define ALB_TLS_END_GRACE_MS 5000u

struct alb_tls_service;

/*
 * A service of ep (borrowed: it must outlive the service) on loop, with at
 * most max_sessions (1 .. ALB_TLS_SESSIONS_MAX) sessions at once. It takes
 * SIGHUP on the loop. 0, -EINVAL, -ENOMEM, -errno of the signal source.
 *
 * It accepts every connection it can (docs/tls.md §2.3): a handshake pool of
 * ALB_TLS_HANDSHAKES_DEFAULT processes, each with the endpoint's handshake
 * timeout counted from the accept (past it, it is killed), a waiting room
 * without processes for the connections beyond, and the sessions admitted
 * after authentication, bounded per tenant (the chain's first CA below the
 * anchor) and per source address; a new session of a holder at its bound ends
 * the holder's oldest stream, which is told why. New sessions per tenant are
 * bounded in rate (alb_tls_service_set_tenant_rate()).
 */
int alb_tls_service_new(alb_ctx *ctx, alb_loop *loop, alb_tls_endpoint *ep, uint32_t max_sessions,
			struct alb_tls_service **ret);

/*
 * The handshake pool: at most max (1 .. ALB_TLS_HANDSHAKES_MAX) connections
 * between their acceptance and their admission as a session; a source holding
 * fewer than per_source of them (0: a quarter of max, at least 1) takes the
 * slot of the oldest handshake of the source holding the most when the pool
 * is full. The waiting room holds ALB_TLS_WAITING_PER_HANDSHAKE * max.
 * Before listening only. 0, -EINVAL, -EBUSY (listening already).
 */
int alb_tls_service_set_handshakes(struct alb_tls_service *svc, uint32_t max, uint32_t per_source);

/*
 * The shares of the sessions: at most per_tenant (0: a quarter of
 * max_sessions, at least 1) per tenant, and per_source (0: half of
 * max_sessions, at least 1) per source address. Before listening only. 0,
 * -EINVAL, -EBUSY (listening already).
 */
int alb_tls_service_set_session_shares(struct alb_tls_service *svc, uint32_t per_tenant,
				       uint32_t per_source);

/*
 * The rate of new sessions per tenant: a tenant's bucket holds burst (1 ..
 * ALB_TLS_TENANT_BURST_MAX) sessions and refills at per_second (0 ..
 * ALB_TLS_TENANT_RATE_MAX, 0: no bound); an authenticated session that finds
 * it empty is refused at once ("busy: ...", EUSERS). The defaults are
 * ALB_TLS_TENANT_RATE_DEFAULT and ALB_TLS_TENANT_BURST_DEFAULT. Before
 * listening only. 0, -EINVAL, -EBUSY (listening already).
 */
int alb_tls_service_set_tenant_rate(struct alb_tls_service *svc, uint32_t per_second,
				    uint32_t burst);

/*
 * Stops listening (closes the socket), ends the sessions in flight (SIGTERM
 * to each) and waits for their processes. Accepts NULL. Returns NULL.
 */
struct alb_tls_service *alb_tls_service_free(struct alb_tls_service *svc);

/*
 * Binds and listens (backlog 128) on spec, numeric "ADDR:PORT" or "[V6]:PORT"
 * ("[::]:PORT" takes IPv4 too); what names spec in messages ("--listen").
 * 0, -EINVAL (a bad spec), -EEXIST (already listening), -errno; the reason
 * in ctx.
 */
int alb_tls_service_listen_tcp(struct alb_tls_service *svc, const char *what, const char *spec);

/* Serves an already listening socket (socket activation); takes it over, also on failure.
 * 0, -EEXIST (already listening), -errno. */
int alb_tls_service_listen_fd(struct alb_tls_service *svc, int fd);

/* Names the peer of the socket fd for log messages: "ADDR:PORT", "[V6]:PORT", or
 * "inetd client" if it has no IP peer. */
void alb_tls_peer_name(int fd, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif
