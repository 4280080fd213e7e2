/* SPDX-License-Identifier: ISC */
#pragma once

#include <albatross/unikernel.h>

#include "util-private.h"

struct alb_block_device {
	char *name;	      /* unikernel side */
	char *host;	      /* host block device label; never NULL once added */
	uint32_t sector_size; /* 0: default */
};

struct alb_net_device {
	char *name; /* unikernel side */
	char *bridge;
	bool has_mac;
	uint8_t mac[6];
};

struct alb_unikernel_config {
	alb_ctx *ctx; /* for error reasons; a reference */
	int tender;
	uint64_t memory_mb;
	uint32_t *cpuids; /* sorted, unique */
	uint32_t n_cpuids;
	int fail;
	uint32_t *exit_codes; /* sorted, unique, 0..255 */
	uint32_t n_exit_codes;
	uint32_t startup;
	uint64_t image_size;
	bool compressed;
	bool has_digest;
	uint8_t digest[32];
	struct alb_block_device *blocks;
	uint32_t n_blocks;
	struct alb_net_device *nets;
	uint32_t n_nets;
	char **argv; /* NULL-terminated */
	uint32_t argc;
};

/* Length of the arguments joined by single spaces. */
size_t alb_unikernel_config_args_length(const alb_unikernel_config *config);
