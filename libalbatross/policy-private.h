/* SPDX-License-Identifier: ISC */
#pragma once

#include <albatross/policy.h>

#include "util-private.h"

struct alb_policy {
	uint32_t unikernels;
	uint64_t memory_mb;
	bool has_block;
	uint64_t block_mb;
	uint32_t *cpuids; /* sorted, unique */
	uint32_t n_cpuids;
	char **bridges; /* sorted, unique */
	uint32_t n_bridges;
};
