/* SPDX-License-Identifier: ISC */
/*
 * What every albatross daemon's main() shares: logging to stderr (journald
 * priorities), the loop with SIGTERM/SIGINT handling, the listening socket
 * (or the one systemd passed), and dropping privileges after binding.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include <albatross/albatross.h>

#include <stdio.h>

/* Numbers in options and the environment: alb_parse_u64() and its variants. */
#include <albatross/albatross.h>
#include <albatross/sys/services.h>
#include <albatross/sys/util.h>

/*
 * The options every daemon has, for the default case of its getopt switch:
 * -v (counted in *verbose), -h (usage to stdout, exit 0), -V (the version,
 * exit 0), and anything unknown (usage to stderr, exit 2). Returns the exit
 * code to return at once, or -1 to go on.
 */
int daemon_common_option(int c, const char *name, void (*usage)(FILE *f), int *verbose);

/* A stray argument: says so, returns the usage exit code (2). */
int daemon_unexpected_argument(const char *name, const char *argument);

/* The number s of option opt, min..max (alb_parse_u64's grammar): 0, or -EINVAL after
 * "NAME: OPT takes a number from MIN to MAX" on stderr. */
int daemon_parse_number(const char *name, const char *opt, const char *s, uint64_t min,
			uint64_t max, uint64_t *ret);

/* Logs "<N>NAME: level: message" to stderr; userdata is the daemon's name. */
void daemon_log(alb_ctx *ctx, int priority, const char *message, void *userdata);

/* Logs through the context's handler (daemon_log) if priority is enabled. */
void daemon_logf(alb_ctx *ctx, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A context logging as name at the priority for verbose (0 notice, 1 info, 2+ debug). */
int daemon_ctx(const char *name, int verbose, alb_ctx **ret);

/*
 * A loop that stops (alb_loop_run returns 0) on SIGTERM or SIGINT; SIGPIPE is
 * ignored. *ret_sources (2) are freed by the caller with alb_source_free().
 */
int daemon_loop(alb_ctx *ctx, alb_loop **ret_loop, alb_source *ret_sources[2]);
/* The same loop, where SIGTERM and SIGINT call on_stop(source, signo, userdata) instead. */
int daemon_loop_with(alb_ctx *ctx, alb_signal_fn on_stop, void *userdata, alb_loop **ret_loop,
		     alb_source *ret_sources[2]);

/* The listening socket systemd passed (LISTEN_FDS, LISTEN_PID), or -1. */
int daemon_listen_fd(void);

/* Makes path absolute against the working directory into buf. */
const char *daemon_absolute(const char *path, char *buf, size_t size);
/*
 * The same, for paths that must not depend on the working directory: NULL
 * after "NAME: cannot find the working directory: ..." on stderr when it
 * cannot be found, or the result does not fit in buf.
 */
const char *daemon_absolute_strict(const char *name, const char *path, char *buf, size_t size);

/* Raises the soft limit of open files to the hard one (a daemon holds many). */
void daemon_raise_fd_limit(void);

/*
 * Looks up user and group (either may be NULL). Returns 0, or -ENOENT with a
 * message on stderr.
 */
int daemon_lookup_user(const char *user, const char *group, uid_t *ret_uid, gid_t *ret_gid);
/* The same lookups, one at a time and silent: 0 or -ENOENT. */
int daemon_find_user(const char *user, uid_t *ret_uid, gid_t *ret_gid);
int daemon_find_group(const char *group, gid_t *ret_gid);

/*
 * Drops to uid/gid (if not -1): supplementary groups cleared, then gid, then
 * uid, and checks that root cannot be regained. Call after binding sockets
 * and opening what needs privileges. 0 or -errno with a message on stderr.
 */
int daemon_drop_privileges(uid_t uid, gid_t gid);
