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
