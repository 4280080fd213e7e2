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
#include <albatross/sys/services.h>
#include <albatross/tls.h>

#include "util-private.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct alb_tls_service *, alb_tls_service_free)

/* Sessions whose processes run now. */
uint32_t alb_tls_service_session_count(const struct alb_tls_service *svc);
