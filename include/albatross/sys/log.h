/* SPDX-License-Identifier: ISC */
/**
 * @file sys/log.h
 * An event of the event log (docs/log.md): the log engine owns the type, the
 * wire (sys/wire.h) encodes it; albatrossd builds events, albatross-client
 * prints them.
 * Extension tier (docs/abi.md): stable within a minor release only.
 */
#ifndef ALBATROSS_SYS_LOG_H
#define ALBATROSS_SYS_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include <albatross/name.h>
#include <albatross/sys/vmm.h>

#ifdef __cplusplus
extern "C" {
#endif

enum alb_log_event_kind {
	ALB_EVENT_DAEMON_START = 1,
	ALB_EVENT_DAEMON_STOP,
	ALB_EVENT_UNIKERNEL_CREATED,
	ALB_EVENT_UNIKERNEL_STARTED,
	ALB_EVENT_UNIKERNEL_EXITED,
	ALB_EVENT_UNIKERNEL_RESTARTING,
	ALB_EVENT_UNIKERNEL_FAILED,
	ALB_EVENT_UNIKERNEL_DESTROYED,
	ALB_EVENT_POLICY_ADDED,
	ALB_EVENT_POLICY_REMOVED,
	ALB_EVENT_BLOCK_ADDED,
	ALB_EVENT_BLOCK_REMOVED,
	/* services (docs/services.md): name is the instance (allocated, switched, retired) or
	 * the service (update-failed, removed); message says the address and the rest */
	ALB_EVENT_SERVICE_ALLOCATED,
	ALB_EVENT_SERVICE_SWITCHED,
	ALB_EVENT_SERVICE_RETIRED,
	ALB_EVENT_SERVICE_UPDATE_FAILED,
	ALB_EVENT_SERVICE_REMOVED,
};

/* An event owns everything it points to; alb_log_event_free() frees it all. */
struct alb_log_event {
	int kind; /* enum alb_log_event_kind */
	uint64_t time_us;
	alb_name *name;	 /* the unikernel, policy path or block; NULL for daemon events */
	uint32_t pid;	 /* started: 0 none */
	bool has_digest; /* started */
	uint8_t digest[32];
	char **taps; /* started; NULL-terminated, may be NULL */
	uint32_t n_taps;
	char **blocks; /* started: host block files; NULL-terminated, may be NULL */
	uint32_t n_blocks;
	struct alb_exit exit; /* exited */
	uint32_t attempt;     /* restarting */
	uint64_t delay_us;    /* restarting */
	char *identity;	      /* who asked: "uid 0" or a certificate chain's name; may be NULL */
	char *message;	      /* free text, e.g. why it failed; may be NULL */
};

/*
 * The builder: a new event of kind (enum alb_log_event_kind) at time_us (0:
 * now) about name (copied; NULL for daemon events). The setters copy what
 * they are given and replace what was set; each returns 0, -EINVAL or -ENOMEM
 * (the event is unchanged then). alb_log_event_free() accepts NULL.
 */
int alb_log_event_new(int kind, const alb_name *name, uint64_t time_us, struct alb_log_event **ret);
void alb_log_event_free(struct alb_log_event *event);
/* started: the tender's pid, the image's SHA-256 (may be NULL), taps and host block files. */
int alb_log_event_set_started(struct alb_log_event *event, uint32_t pid, const uint8_t digest[32],
			      char *const *taps, uint32_t n_taps, char *const *blocks,
			      uint32_t n_blocks);
/* exited: how (enum alb_exit_kind) and the code or signal. */
int alb_log_event_set_exit(struct alb_log_event *event, int kind, uint32_t value);
/* restarting: the attempt and the delay before it. */
int alb_log_event_set_restart(struct alb_log_event *event, uint32_t attempt, uint64_t delay_us);
/* Who asked (NULL: nobody said), and free text (NULL: none). */
int alb_log_event_set_identity(struct alb_log_event *event, const char *identity);
int alb_log_event_set_message(struct alb_log_event *event, const char *message);

/* The kind's name as in docs/protocol.md ("unikernel-started"). */
const char *alb_log_event_kind_to_string(int kind);

#ifdef __cplusplus
}
#endif

#endif
