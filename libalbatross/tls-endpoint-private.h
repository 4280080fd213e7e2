/* SPDX-License-Identifier: ISC */
/*
 * The TLS endpoint's service on the event loop (docs/tls.md §2.1, §2.3), the
 * whole of albatross-tls-endpoint but its options: a listening socket (TCP, or
 * the one systemd passed) from which it takes every connection it can, a
 * process per connection that runs the session on it (a slow or hostile
 * client holds its own process and nothing else), the pools of tls-pool.c
 * (a waiting room without processes, the handshake pool, the admitted
 * sessions, fair per source and per tenant), a control socket per process
 * (the session says when it is authenticated and for which tenant, and when
 * it only holds a stream; the service admits it, or tells it to end and
 * why), one timer for the deadlines, each process reaped through a child
 * source of the loop, and SIGHUP (a signal source) reading the endpoint's
 * files again for the sessions that begin after it.
 *
 * The session processes do not use the loop: a session is blocking, with the
 * endpoint's handshake and idle timeouts, and ends with _exit(). They ignore
 * SIGHUP and end on SIGTERM.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <albatross/loop.h>
#include <albatross/sys/services.h>
#include <albatross/tls.h>

#include "util-private.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct alb_tls_service *, alb_tls_service_free)

/* Session processes not yet reaped. */
uint32_t alb_tls_service_session_count(const struct alb_tls_service *svc);

/* Connections in the waiting room, in the handshake pool, and admitted sessions. */
void alb_tls_service_get_counts(const struct alb_tls_service *svc, uint32_t *ret_waiting,
				uint32_t *ret_handshakes, uint32_t *ret_sessions);
