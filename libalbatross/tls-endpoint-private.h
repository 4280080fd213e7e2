/* SPDX-License-Identifier: ISC */
/*
 * The TLS endpoint's service on the event loop (docs/tls.md §2.1), the whole
 * of albatross-tls-endpoint but its options: a listening socket (TCP, or the
 * one systemd passed), a process per session that runs
 * alb_tls_endpoint_serve() on the connection (a slow or hostile client holds
 * its own process and nothing else), at most max_sessions at once (the
 * listening socket is not watched while they run: more connections wait in
 * its backlog), each session reaped through a child source of the loop, and
 * SIGHUP (a signal source) reading the endpoint's files again for the
 * sessions that begin after it.
 *
 * The session processes do not use the loop: a session is blocking, with the
 * endpoint's handshake and idle timeouts, and ends with _exit(). They ignore
 * SIGHUP and end on SIGTERM.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <albatross/loop.h>
#include <albatross/tls.h>

#include "util-private.h"

#define ALB_TLS_SESSIONS_DEFAULT 64u
#define ALB_TLS_SESSIONS_MAX	 4096u

struct alb_tls_service;

/*
 * A service of ep (borrowed: it must outlive the service) on loop, with at
 * most max_sessions (1 .. ALB_TLS_SESSIONS_MAX) sessions at once. It takes
 * SIGHUP on the loop. 0, -EINVAL, -ENOMEM, -errno of the signal source.
 */
int alb_tls_service_new(alb_ctx *ctx, alb_loop *loop, alb_tls_endpoint *ep, uint32_t max_sessions,
			struct alb_tls_service **ret);

/*
 * Stops listening (closes the socket), ends the sessions in flight (SIGTERM
 * to each) and waits for their processes. Accepts NULL. Returns NULL.
 */
struct alb_tls_service *alb_tls_service_free(struct alb_tls_service *svc);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct alb_tls_service *, alb_tls_service_free);

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

/* Sessions whose processes run now. */
uint32_t alb_tls_service_session_count(const struct alb_tls_service *svc);

/* Names the peer of the socket fd for log messages: "ADDR:PORT", "[V6]:PORT", or
 * "inetd client" if it has no IP peer. */
void alb_tls_peer_name(int fd, char *buf, size_t size);
