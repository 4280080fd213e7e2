/* SPDX-License-Identifier: ISC */
/*
 * The event log service: the protocol side of albatross-log (docs/log.md).
 * log-event from albatrossd appends to the event log (log-private.h) and
 * goes to the subscribers; log-subscribe streams the history asked for, then
 * with follow the new events, through the subscription engine
 * (sub-private.h).
 */
#pragma once

#include <sys/types.h>

#include <albatross/log.h>
#include <albatross/loop.h>

#include "util-private.h"

/* Subscribers at once; over it the oldest is dropped (sub-private.h, ALB_SUB_FULL). */
#define ALB_LOG_SUBSCRIBERS_MAX 64u

struct alb_log_service_options {
	const char *logdir; /* the log: LOGDIR/events.log (and .1); made (0750) if missing */
	uint64_t max_size;  /* rotate at this size; 0: ALB_EVENT_LOG_MAX_SIZE_DEFAULT */
	uid_t uid;	    /* when not -1 and running as root: LOGDIR and its files go to */
	gid_t gid;	    /* uid and gid (the daemon drops to them later) */
};

struct alb_log_service;

/* Opens (recovers) the log. 0 or -errno with the reason in ctx. */
int alb_log_service_new(alb_ctx *ctx, alb_loop *loop, const struct alb_log_service_options *options,
			struct alb_log_service **ret);
/* Closes every connection and the log. Accepts NULL. Returns NULL. */
struct alb_log_service *alb_log_service_free(struct alb_log_service *service);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct alb_log_service *, alb_log_service_free);

/* Listens on path (its directory made, 0755, if missing; mode, group gid unless -1), or
 * serves a listening fd (taken). 0 or -errno with the reason in ctx. */
int alb_log_service_listen_unix(struct alb_log_service *service, const char *path, unsigned mode,
				gid_t gid);
int alb_log_service_listen_fd(struct alb_log_service *service, int fd);

/* The log served; subscribers connected. */
alb_event_log *alb_log_service_get_log(struct alb_log_service *service);
unsigned alb_log_service_subscriber_count(const struct alb_log_service *service);
