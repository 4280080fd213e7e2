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
