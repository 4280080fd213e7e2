/* SPDX-License-Identifier: ISC */
/*
 * The persistent state of albatrossd (docs/state.md): policies, unikernel
 * configurations (images referenced by SHA-256 digest, never inline) and
 * block devices, as one CBOR map with a version. docs/state.md describes
 * the format. Decoding is as strict as the wire's and shares its code.
 */
#pragma once

#include "name-private.h"
#include "policy-private.h"
#include "unikernel-private.h"

#define ALB_STATE_VERSION 1u
/* The largest state file read. */
#define ALB_STATE_SIZE_MAX (UINT64_C(64) << 20)
/* The most entries of each kind. */
#define ALB_STATE_ENTRIES_MAX 65536u

struct alb_state_policy {
	alb_name *path;
	alb_policy *policy;
};

struct alb_state_unikernel {
	alb_name *name;
	alb_unikernel_config *config; /* has a digest */
};

struct alb_state_block {
	alb_name *name;
	uint64_t size_mb;
	uint32_t sector_size; /* 0: default */
};

struct alb_state {
	struct alb_state_policy *policies;
	uint32_t n_policies;
	struct alb_state_unikernel *unikernels;
	uint32_t n_unikernels;
	struct alb_state_block *blocks;
	uint32_t n_blocks;
};

int alb_state_new(struct alb_state **ret);
struct alb_state *alb_state_free(struct alb_state *state);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct alb_state *, alb_state_free);

/* Each copies its arguments. -EINVAL for a wrong kind of name, a config without
 * digest, or a name already there; -E2BIG past ALB_STATE_ENTRIES_MAX; -ENOMEM. */
int alb_state_add_policy(alb_ctx *ctx, struct alb_state *state, const alb_name *path,
			 const alb_policy *policy);
int alb_state_add_unikernel(alb_ctx *ctx, struct alb_state *state, const alb_name *name,
			    const alb_unikernel_config *config);
int alb_state_add_block(alb_ctx *ctx, struct alb_state *state, const alb_name *name,
			uint64_t size_mb, uint32_t sector_size);

/* Take the entry of that name out, if there is one (true then). */
bool alb_state_remove_policy(struct alb_state *state, const alb_name *path);
bool alb_state_remove_unikernel(struct alb_state *state, const alb_name *name);
bool alb_state_remove_block(struct alb_state *state, const alb_name *name);

/* *ret is freed with free(). 0, -EINVAL, -ENOMEM. */
int alb_state_encode(alb_ctx *ctx, const struct alb_state *state, uint8_t **ret, size_t *ret_len);
/* 0, -EBADMSG (malformed), -EPROTO (another version), -ENOMEM. */
int alb_state_decode(alb_ctx *ctx, const uint8_t *buf, size_t len, struct alb_state **ret);

/* Writes the state atomically to path, keeping the previous file as path.bak. */
int alb_state_save(alb_ctx *ctx, const char *path, const struct alb_state *state);
/*
 * Reads the state at path. -ENOENT when there is none (a first start);
 * -EBADMSG / -EPROTO when it cannot be used, with a message that names the
 * file: the caller must then stop, and never overwrite it.
 */
int alb_state_load(alb_ctx *ctx, const char *path, struct alb_state **ret);
