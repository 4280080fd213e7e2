/* SPDX-License-Identifier: ISC */
/* Internals of the TLS module shared with the endpoint's service (tls-endpoint.c). */
#pragma once

#include <stdint.h>

#include <albatross/ctx.h>
#include <albatross/tls.h>

#include "hostport-private.h"

/*
 * Splits "HOST:PORT" or "[IPV6]:PORT" (PORT 1..65535; the grammar of
 * hostport-private.h) into host and port. 0, or -EINVAL with "invalid WHAT
 * 'SPEC': ..." in ctx.
 */
int alb_host_port_split(alb_ctx *ctx, const char *what, const char *spec,
			char host[static ALB_HOST_MAX + 1], char port[static 6]);

/* The number of CRL files the endpoint reads (alb_tls_endpoint_add_crl()). */
uint32_t alb_tls_endpoint_get_crl_count(const alb_tls_endpoint *ep);

/* The endpoint's handshake timeout, ms (alb_tls_endpoint_set_timeouts()). */
uint32_t alb_tls_endpoint_get_handshake_ms(const alb_tls_endpoint *ep);

/*
 * The control socket between a session's process and the service that forked
 * it (a SOCK_SEQPACKET pair; one struct alb_tls_ctl per message):
 *
 *   session -> service  AUTHENTICATED  the chain is accepted; text: the tenant
 *                                      (the first label of its path, ":" for the root)
 *   session -> service  STREAMING      the reply went, a stream follows
 *   service -> session  ADMITTED       go on: install the policies, run the command
 *   service -> session  END            end now: send the failure code, text and close
 */
enum alb_tls_ctl_kind {
	ALB_TLS_CTL_AUTHENTICATED = 'A',
	ALB_TLS_CTL_STREAMING = 'S',
	ALB_TLS_CTL_ADMITTED = 'G',
	ALB_TLS_CTL_END = 'E',
};

#define ALB_TLS_CTL_TEXT_MAX 512

struct alb_tls_ctl {
	uint8_t kind;
	uint32_t code; /* END: the failure's errno value */
	char text[ALB_TLS_CTL_TEXT_MAX];
};

/* What a session under a service gets: its control socket, and when (CLOCK_MONOTONIC,
 * µs) its handshake must have ended: the service's deadline, counted from the accept. */
struct alb_tls_supervision {
	int ctl_fd;
	uint64_t deadline_us;
};

/* alb_tls_endpoint_serve() on one socket, under a service. */
int alb_tls_endpoint_serve_supervised(alb_tls_endpoint *ep, int fd, const char *peer,
				      const struct alb_tls_supervision *sup);
