/* SPDX-License-Identifier: ISC */
#pragma once

#include <albatross/policy.h>

#include "util-private.h"

/* A (bridge, IPv4 prefix) pair; addr in host byte order (inet-private.h). */
struct alb_policy_prefix {
	char bridge[ALB_BRIDGE_NAME_MAX + 1];
	uint32_t addr;
	uint32_t len;
	char text[19]; /* "A.B.C.D/N" */
};

struct alb_policy {
	uint32_t unikernels;
	uint64_t memory_mb;
	bool has_block;
	uint64_t block_mb;
	uint32_t *cpuids; /* sorted, unique */
	uint32_t n_cpuids;
	char **bridges; /* sorted, unique */
	uint32_t n_bridges;
	/* New fields go last. */
	bool has_ports;
	uint32_t port_first, port_last;	    /* 1 <= first <= last <= 65535 */
	struct alb_policy_prefix *prefixes; /* sorted by bridge, addr, len; unique */
	uint32_t n_prefixes;
};

/* alb_policy_add_prefix() with the reason of a failure in ctx (may be NULL). */
int alb_policy_add_prefix_ctx(alb_ctx *ctx, alb_policy *policy, const char *bridge,
			      const char *prefix);
