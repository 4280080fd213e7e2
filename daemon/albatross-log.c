/* SPDX-License-Identifier: ISC */
/*
 * albatross-log: the persistent event log (docs/log.md). A thin main() around
 * the log service (libalbatross/log-service-private.h).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

#define NAME "albatross-log"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " NAME " [OPTIONS]\n"
		"\n"
		"Keeps the persistent event log of albatrossd and serves it to subscribers.\n"
		"\n"
		"Options:\n"
		"  --rundir DIR      listen on DIR/log.sock (default /run/albatross)\n"
		"  --logdir DIR      the log: DIR/events.log and DIR/events.log.1\n"
		"                    (default /var/lib/albatross-log)\n"
		"  --max-size BYTES  rotate the log at this size (default 16 MiB; a K, M or G\n"
		"                    suffix multiplies by 1024, 1024^2, 1024^3)\n"
		"  --user USER       run as USER after opening the socket and the log\n"
		"  --group GROUP     run as GROUP; the socket (mode 0660) belongs to it\n"
		"  -v, --verbose     log more (repeat for debug)\n"
		"  -h, --help        show this help\n"
		"  -V, --version     show the version\n"
		"\n"
		"Socket activation: a listening socket passed by systemd (LISTEN_FDS) is served\n"
		"instead of DIR/log.sock.\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"rundir", required_argument, NULL, 'r'},
	    {"logdir", required_argument, NULL, 'l'},
	    {"max-size", required_argument, NULL, 'm'},
	    {"user", required_argument, NULL, 'u'},
	    {"group", required_argument, NULL, 'g'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	const char *rundir = "/run/albatross", *user = NULL, *group = NULL;
	struct alb_log_service_options o = {.logdir = "/var/lib/albatross-log",
					    .max_size = ALB_EVENT_LOG_MAX_SIZE_DEFAULT};
	int verbose = 0, c, r;

	while ((c = getopt_long(argc, argv, "vhV", options, NULL)) != -1) {
		if (c == 'r')
			rundir = optarg;
		else if (c == 'l')
			o.logdir = optarg;
		else if (c == 'u')
			user = optarg;
		else if (c == 'g')
			group = optarg;
		else if (c == 'm' && alb_parse_size(optarg, ALB_EVENT_LOG_MAX_SIZE_MIN,
						    ALB_EVENT_LOG_MAX_SIZE_MAX, &o.max_size) < 0) {
			fprintf(stderr,
				NAME ": --max-size takes %" PRIu64 " bytes to 1T, not '%s'\n",
				ALB_EVENT_LOG_MAX_SIZE_MIN, optarg);
			return 2;
		} else if (c != 'm' && (r = daemon_common_option(c, NAME, usage, &verbose)) >= 0)
			return r;
	}
	if (optind < argc)
		return daemon_unexpected_argument(NAME, argv[optind]);
	char abs_run[4096 + 256], abs_log[4096 + 256], sock[8192];
	rundir = daemon_absolute(rundir, abs_run, sizeof(abs_run));
	o.logdir = daemon_absolute(o.logdir, abs_log, sizeof(abs_log));
	if ((size_t)snprintf(sock, sizeof(sock), "%s/log.sock", rundir) >= sizeof(sock) ||
	    strlen(o.logdir) > 4096) {
		fprintf(stderr, NAME ": --rundir or --logdir is too long\n");
		return 2;
	}
	if (daemon_lookup_user(user, group, &o.uid, &o.gid) < 0)
		return 2;

	_cleanup_(alb_ctx_unrefp) alb_ctx *ctx = NULL;
	alb_loop *loop = NULL;
	alb_source *signals[2] = {NULL, NULL};
	struct alb_log_service *svc = NULL;
	int status = EXIT_FAILURE, fd = -1;
	bool made_socket = false; /* removed at the end (a passed one is not ours) */
	umask(0022);
	if (daemon_ctx(NAME, verbose, &ctx) < 0)
		return EXIT_FAILURE;
	if ((r = daemon_loop(ctx, &loop, signals)) >= 0 &&
	    (r = alb_log_service_new(ctx, loop, &o, &svc)) >= 0) {
		fd = daemon_listen_fd();
		r = fd >= 0 ? alb_log_service_listen_fd(svc, fd)
			    : alb_log_service_listen_unix(svc, sock, 0660, o.gid);
		made_socket = fd < 0 && r >= 0;
	}
	if (r < 0) {
		alb_log_err(ctx, "%s",
			    alb_ctx_last_error(ctx)[0] ? alb_ctx_last_error(ctx) : strerror(-r));
		goto out;
	}
	if (daemon_drop_privileges(o.uid, o.gid) < 0)
		goto out;
	if (access(o.logdir, W_OK | X_OK) < 0)
		alb_log_warn(ctx, "'%s' is not writable: the log cannot be rotated", o.logdir);
	alb_log_notice(ctx, "ready (logdir %s, rundir %s)", o.logdir, rundir);
	status = alb_loop_run(loop) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
out:
	if (made_socket)
		(void)unlink(sock); /* ours, not a passed one */
	alb_log_service_free(svc);
	alb_source_free(signals[0]);
	alb_source_free(signals[1]);
	alb_loop_unref(loop);
	return status;
}
