/* SPDX-License-Identifier: ISC */
/* Internals of the TLS module shared with the endpoint daemon. */
#pragma once

#include <albatross/ctx.h>

/* Longest host part of HOST:PORT. */
#define ALB_HOST_MAX 255u

/*
 * Splits "HOST:PORT" or "[IPV6]:PORT" (PORT 1..65535) into host and port. 0, or
 * -EINVAL with "invalid WHAT 'SPEC': ..." in ctx.
 */
int alb_host_port_split(alb_ctx *ctx, const char *what, const char *spec,
			char host[static ALB_HOST_MAX + 1], char port[static 6]);
