/* SPDX-License-Identifier: ISC */
/*
 * Internals of the console module: cursor queries that the service streams
 * history with, and the service (console-service.c, the protocol side of the
 * albatross-console daemon, docs/console.md): console-add, console-data and
 * console-end from albatrossd, console-subscribe (through the subscription
 * engine, sub-private.h) and console-list-inactive from clients. This header
 * includes no protocol header: the service's handle is opaque here.
 */
#pragma once

#include <sys/types.h>

#include <albatross/console.h>
#include <albatross/loop.h>

#include "util-private.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(alb_console *, alb_console_free);

/* The index of the first line of name stamped after since_us (the line count if none). */
uint32_t alb_console_first_after(const alb_console *console, const alb_name *name,
				 uint64_t since_us);
/* Passes at most max lines of name stamped in (after_us, until_us] to fn. The
 * count passed, or what fn returned to stop. 0 when there is no buffer. */
int alb_console_query_range(const alb_console *console, const alb_name *name, uint64_t after_us,
			    uint64_t until_us, uint32_t max, alb_console_line_fn fn,
			    void *userdata);
/* The time of the newest line of name, 0 if none. */
uint64_t alb_console_last_time(const alb_console *console, const alb_name *name);
/* A time T such that "since T" gives the last count lines of name (0 if none). */
uint64_t alb_console_time_of_last(const alb_console *console, const alb_name *name, uint32_t count);
/* alb_console_deactivate(), completing a line begun at now_us (0: now): a run ended. */
int alb_console_end_run(alb_console *console, const alb_name *name, uint64_t now_us);
/* Stores a line flagged ALB_CONSOLE_LINE_DROPPED saying that bytes (> 0) of output were
 * lost here, after completing a line begun. 0, -ENOENT (no active buffer), -EINVAL, -ENOMEM. */
int alb_console_mark_dropped(alb_console *console, const alb_name *name, uint64_t bytes,
			     uint64_t now_us);

/* ---- the service ------------------------------------------------------------------------ */

/* Subscribers per unikernel, default and bound. */
#define ALB_CONSOLE_SUBSCRIBERS_DEFAULT 5u
#define ALB_CONSOLE_SUBSCRIBERS_MAX	256u
/* A live subscriber with this many bytes queued and unread is dropped (the engine's
 * default, ALB_SUB_QUEUE_MAX_DEFAULT). */
#define ALB_CONSOLE_SUBSCRIBER_QUEUE_MAX (UINT64_C(4) << 20)
/* History is queued in steps while less than this is queued (then on drain). */
#define ALB_CONSOLE_HISTORY_STEP (UINT64_C(256) << 10)

struct alb_console_service_options {
	uint32_t lines;	       /* 0: ALB_CONSOLE_LINES_DEFAULT */
	uint32_t line_max;     /* 0: ALB_CONSOLE_LINE_MAX_DEFAULT */
	uint32_t inactive_max; /* per path; UINT32_MAX: ALB_CONSOLE_INACTIVE_DEFAULT */
	uint32_t subscribers;  /* per unikernel; 0: ALB_CONSOLE_SUBSCRIBERS_DEFAULT */
	uint64_t queue_max;    /* per subscriber; 0: ALB_CONSOLE_SUBSCRIBER_QUEUE_MAX */
};

struct alb_console_service;

int alb_console_service_new(alb_ctx *ctx, alb_loop *loop,
			    const struct alb_console_service_options *options,
			    struct alb_console_service **ret);
/* Closes every connection. Accepts NULL. Returns NULL. */
struct alb_console_service *alb_console_service_free(struct alb_console_service *service);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct alb_console_service *, alb_console_service_free);

/* Listens on path (mode, group gid unless -1), or serves a listening fd (taken). */
int alb_console_service_listen_unix(struct alb_console_service *service, const char *path,
				    unsigned mode, gid_t gid);
int alb_console_service_listen_fd(struct alb_console_service *service, int fd);

/* The buffers served. */
alb_console *alb_console_service_get_console(struct alb_console_service *service);
/* Subscribers connected. */
unsigned alb_console_service_subscriber_count(const struct alb_console_service *service);
