/* SPDX-License-Identifier: ISC */
/*
 * albatross-console: keeps the console output of every unikernel in a ring
 * buffer and serves it to subscribers. A thin main() around the console
 * service (libalbatross/console-private.h, docs/console.md).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "config.h"

#define NAME "albatross-console"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " NAME " [OPTIONS]\n"
		"\n"
		"Keeps the console output of each unikernel that albatrossd starts, and serves\n"
		"it to albatross-client console.\n"
		"\n"
		"Options:\n"
		"  --rundir DIR        runtime directory (default /run/albatross): listens on\n"
		"                      DIR/console.sock\n"
		"  --socket PATH       listen on PATH instead of RUNDIR/console.sock\n"
		"  --user USER         run as USER after binding the socket\n"
		"  --group GROUP       run as GROUP, and the socket's group (mode 0660)\n"
		"  --lines N           lines kept per unikernel, 1..%u (default %u)\n"
		"  --line-max BYTES    longer lines are cut, 1..%u (default %u)\n"
		"  --inactive N        buffers of stopped unikernels kept per path, 0..%u\n"
		"                      (default %u)\n"
		"  --subscribers N     subscribers per unikernel, 1..%u (default %u); over it\n"
		"                      the oldest is dropped\n"
		"  -v, --verbose       log more (repeat for debug)\n"
		"  -h, --help          show this help\n"
		"  -V, --version       show the version\n"
		"\n"
		"Socket activation: a listening socket passed by systemd (LISTEN_FDS) is served\n"
		"instead of the socket above. SIGTERM or SIGINT stops it.\n",
		ALB_CONSOLE_LINES_LIMIT, ALB_CONSOLE_LINES_DEFAULT, ALB_CONSOLE_LINE_MAX_LIMIT,
		ALB_CONSOLE_LINE_MAX_DEFAULT, ALB_CONSOLE_BUFFERS_MAX, ALB_CONSOLE_INACTIVE_DEFAULT,
		ALB_CONSOLE_SUBSCRIBERS_MAX, ALB_CONSOLE_SUBSCRIBERS_DEFAULT);
}

static int parse_u32(const char *opt, const char *s, uint32_t min, uint32_t max, uint32_t *ret)
{
	uint64_t v;
	int r = daemon_parse_number(NAME, opt, s, min, max, &v);
	if (r >= 0)
		*ret = (uint32_t)v;
	return r;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"rundir", required_argument, NULL, 'r'},
	    {"socket", required_argument, NULL, 's'},
	    {"user", required_argument, NULL, 'u'},
	    {"group", required_argument, NULL, 'g'},
	    {"lines", required_argument, NULL, 'l'},
	    {"line-max", required_argument, NULL, 'm'},
	    {"inactive", required_argument, NULL, 'i'},
	    {"subscribers", required_argument, NULL, 'S'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	struct alb_console_service_options o = {
	    .lines = ALB_CONSOLE_LINES_DEFAULT,
	    .line_max = ALB_CONSOLE_LINE_MAX_DEFAULT,
	    .inactive_max = ALB_CONSOLE_INACTIVE_DEFAULT,
	    .subscribers = ALB_CONSOLE_SUBSCRIBERS_DEFAULT,
	};
	const char *rundir = "/run/albatross", *socket_path = NULL, *user = NULL, *group = NULL;
	int verbose = 0, c, r;
	while ((c = getopt_long(argc, argv, "vhV", options, NULL)) != -1) {
		switch (c) {
		case 'r':
			rundir = optarg;
			break;
		case 's':
			socket_path = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'g':
			group = optarg;
			break;
		case 'l':
			if (parse_u32("--lines", optarg, 1, ALB_CONSOLE_LINES_LIMIT, &o.lines) < 0)
				return 2;
			break;
		case 'm':
			if (parse_u32("--line-max", optarg, 1, ALB_CONSOLE_LINE_MAX_LIMIT,
				      &o.line_max) < 0)
				return 2;
			break;
		case 'i':
			if (parse_u32("--inactive", optarg, 0, ALB_CONSOLE_BUFFERS_MAX,
				      &o.inactive_max) < 0)
				return 2;
			break;
		case 'S':
			if (parse_u32("--subscribers", optarg, 1, ALB_CONSOLE_SUBSCRIBERS_MAX,
				      &o.subscribers) < 0)
				return 2;
			break;
		default:
			if ((r = daemon_common_option(c, NAME, usage, &verbose)) >= 0)
				return r;
		}
	}
	if (optind < argc)
		return daemon_unexpected_argument(NAME, argv[optind]);

	char abs_run[PATH_MAX], sock[PATH_MAX + 16];
	rundir = daemon_absolute(rundir, abs_run, sizeof(abs_run));
	if (!socket_path) {
		snprintf(sock, sizeof(sock), "%s/console.sock", rundir);
		socket_path = sock;
	}
	uid_t uid;
	gid_t gid;
	if (daemon_lookup_user(user, group, &uid, &gid) < 0)
		return 2;
	umask(0022);
	/* A socket per subscriber: use all we may. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}

	_cleanup_(alb_ctx_unrefp) alb_ctx *ctx = NULL;
	alb_loop *loop = NULL;
	alb_source *sources[2] = {NULL, NULL};
	struct alb_console_service *svc = NULL;
	int status = EXIT_FAILURE, fd = -1;
	if (daemon_ctx(NAME, verbose, &ctx) < 0)
		return EXIT_FAILURE;
	if ((r = daemon_loop(ctx, &loop, sources)) < 0 ||
	    (r = alb_console_service_new(ctx, loop, &o, &svc)) < 0)
		goto out;
	if ((fd = daemon_listen_fd()) >= 0)
		r = alb_console_service_listen_fd(svc, fd);
	else if (mkdir(rundir, 0755) < 0 && errno != EEXIST)
		r = alb_error(ctx, errno, "Failed to create %s: %s", rundir, strerror(errno));
	else
		r = alb_console_service_listen_unix(svc, socket_path, 0660, gid);
	if (r < 0 || (r = daemon_drop_privileges(uid, gid)) < 0)
		goto out;
	alb_log_notice(ctx, "ready (%s, %u lines of at most %u bytes per unikernel)",
		       fd >= 0 ? "socket activation" : socket_path, o.lines, o.line_max);
	r = alb_loop_run(loop);
	status = r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
	if (fd < 0)
		(void)unlink(socket_path);
out:
	if (r < 0 && status != EXIT_SUCCESS)
		alb_log_err(ctx, "%s",
			    alb_ctx_last_error(ctx)[0] ? alb_ctx_last_error(ctx) : strerror(-r));
	alb_console_service_free(svc);
	alb_source_free(sources[0]);
	alb_source_free(sources[1]);
	alb_loop_unref(loop);
	return status;
}
