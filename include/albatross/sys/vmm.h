/* SPDX-License-Identifier: ISC */
/**
 * @file sys/vmm.h
 * The supervisor's values as albatrossd reports them (info, policies, block
 * devices, tenders) and how a process ended: the supervisor engine owns
 * these types, the wire (sys/wire.h) encodes them.
 * Extension tier (docs/abi.md): stable within a minor release only.
 */
#ifndef ALBATROSS_SYS_VMM_H
#define ALBATROSS_SYS_VMM_H

#include <stdint.h>

#include <albatross/name.h>
#include <albatross/policy.h>
#include <albatross/sys/util.h>
#include <albatross/unikernel.h>
#include <albatross/vmm.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The public enum alb_vmm_unikernel_state, by its older names. */
enum alb_unikernel_state {
	ALB_STATE_RUNNING = ALB_VMM_STATE_RUNNING,
	ALB_STATE_RESTARTING = ALB_VMM_STATE_RESTARTING,
	ALB_STATE_FAILED = ALB_VMM_STATE_FAILED,
	ALB_STATE_STOPPED = ALB_VMM_STATE_STOPPED,
};

/* A unikernel as info shows it. */
struct alb_unikernel_info {
	alb_name *name;
	alb_unikernel_config *config;
	int state;	     /* enum alb_unikernel_state */
	uint32_t pid;	     /* 0 when not running */
	uint64_t started_us; /* 0 when not running */
	uint32_t restarts;
	struct alb_exit last_exit;
	char **taps; /* one per config->nets, NULL-terminated; NULL when not running */
	uint32_t n_taps;
	char **block_files; /* one per config->blocks, NULL-terminated; NULL when not running */
	uint32_t n_block_files;
	char *failure; /* why it failed (state failed), e.g. "crash loop: ..."; NULL otherwise */
};

struct alb_policy_info {
	alb_name *path;
	alb_policy *policy;
};

struct alb_block_info {
	alb_name *name;
	uint64_t size_mb;
	uint32_t sector_size; /* 0 default */
	alb_name *used_by;    /* the unikernel using it, or NULL */
};

/* Free what an info points to (not the info itself). */
void alb_unikernel_info_clear(struct alb_unikernel_info *info);
void alb_policy_info_clear(struct alb_policy_info *info);
void alb_block_info_clear(struct alb_block_info *info);

#define ALB_TENDER_FILE_MAX    255u /* NAME_MAX: a tender's file name */
#define ALB_TENDER_VERSION_MAX 256u /* a tender's version string */

/* A tender binary that albatrossd found (in --tender-dir or $PATH). */
struct alb_tender_info {
	char *name;	/* file name, e.g. "solo5-hvt.2": 1 .. ALB_TENDER_FILE_MAX bytes, no '/' */
	char *path;	/* absolute path; NULL in a reply relayed to a remote client */
	int target;	/* enum alb_tender */
	char *version;	/* as "TENDER --version" prints it, e.g. "v0.12.1" */
	uint32_t abi;	/* the Solo5 ABI version it reports */
	char *unusable; /* why it cannot run on this host (hvt without KVM), NULL if it can */
};

/* Frees what info points to (not info itself). */
void alb_tender_info_clear(struct alb_tender_info *info);

/* The state's name as in docs/protocol.md ("running"). */
const char *alb_unikernel_state_to_string(int state);

#ifdef __cplusplus
}
#endif

#endif
