/* SPDX-License-Identifier: ISC */
/*
 * albatrossd: the privileged supervisor daemon. A thin main() around
 * alb_vmm (include/albatross/vmm.h): parse options, set up, run the loop.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <albatross/albatross.h>

#include "common.h"
#include "config.h"

enum { EXIT_USAGE = 2, EXIT_STATE = 3 };

static const char *priority_names[] = {[ALB_LOG_ERR] = "error",
				       [ALB_LOG_WARNING] = "warning",
				       [ALB_LOG_NOTICE] = "notice",
				       [ALB_LOG_INFO] = "info",
				       [ALB_LOG_DEBUG] = "debug"};

static void log_stderr(alb_ctx *ctx, int priority, const char *message, void *userdata)
{
	(void)ctx;
	(void)userdata;
	/* <N> prefixes are understood by journald when stderr goes there. */
	fprintf(stderr, "<%d>albatrossd: %s: %s\n", priority, priority_names[priority], message);
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: albatrossd [OPTIONS]\n"
	    "\n"
	    "Supervises Solo5 unikernels and serves albatross-client on a Unix socket.\n"
	    "\n"
	    "Options:\n"
	    "  --rundir DIR         runtime directory: the daemons' sockets (default "
	    "/run/albatross)\n"
	    "  --dbdir DIR          state, images and block devices (default /var/lib/albatross)\n"
	    "  --socket PATH        the command socket (default RUNDIR/albatrossd.sock)\n"
	    "  --tender-dir DIR     look for solo5-hvt / solo5-spt here before $PATH\n"
	    "  --tender-user USER   run tenders as USER (taps are made owned by USER)\n"
	    "  --group GROUP        the helper daemons' group: owns the socket\n"
	    "  --stop-timeout SEC   SIGKILL a tender this long after SIGTERM (default 5)\n"
	    "  --restart-backoff MS first restart delay, doubled up to 60 s (default 1000)\n"
	    "  --crash-loop N/SEC   N restarts within SEC seconds is a crash loop (default 5/60)\n"
	    "  --console-backlog KIB\n"
	    "                       console output kept per unikernel while albatross-console\n"
	    "                       is away or behind (default 1024; 64 MiB in all at least)\n"
	    "  -v, --verbose        log more (repeat for debug)\n"
	    "  -h, --help           show this help\n"
	    "  -V, --version        show the version\n"
	    "\n"
	    "Socket activation: a listening socket passed by systemd (LISTEN_FDS) is served\n"
	    "instead of --socket.\n"
	    "\n"
	    "SIGTERM or SIGINT stops every unikernel (SIGTERM, then SIGKILL after the stop\n"
	    "timeout) and exits; the state keeps them, so they come back at the next start.\n"
	    "\n"
	    "Exit codes: 0 stopped cleanly, 1 failure, 2 usage error, 3 the state file\n"
	    "cannot be used (it is left untouched).\n");
}

struct daemon {
	alb_loop *loop;
	alb_vmm *vmm;
	bool stopping;
};

static void stopped(alb_vmm *vmm, void *userdata)
{
	struct daemon *d = userdata;
	alb_loop_exit(d->loop, 0);
}

static int on_signal(alb_source *source, int signo, void *userdata)
{
	struct daemon *d = userdata;
	if (d->stopping)
		return 0;
	d->stopping = true;
	fprintf(stderr, "<5>albatrossd: notice: stopping on signal %d\n", signo);
	alb_vmm_shutdown(d->vmm, stopped, d);
	return 0;
}

/* sd_listen_fds(3) without libsystemd: the first passed fd, or -1. */
static int listen_fd(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	if (!pid || !fds || strtol(pid, NULL, 10) != getpid() || strtol(fds, NULL, 10) < 1)
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return 3;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"rundir", required_argument, NULL, 'r'},
	    {"dbdir", required_argument, NULL, 'd'},
	    {"socket", required_argument, NULL, 's'},
	    {"tender-dir", required_argument, NULL, 't'},
	    {"tender-user", required_argument, NULL, 'u'},
	    {"group", required_argument, NULL, 'g'},
	    {"stop-timeout", required_argument, NULL, 'T'},
	    {"restart-backoff", required_argument, NULL, 'B'},
	    {"crash-loop", required_argument, NULL, 'C'},
	    {"console-backlog", required_argument, NULL, 'K'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	const char *rundir = "/run/albatross", *dbdir = "/var/lib/albatross", *socket_path = NULL,
		   *tender_dir = NULL, *tender_user = NULL, *group = NULL;
	unsigned long stop_timeout = 5, backoff_ms = 1000, burst = 5, window = 60, backlog_kib = 0;
	int verbose = 0, c;
	char *end;
	while ((c = getopt_long(argc, argv, "vhV", options, NULL)) != -1) {
		switch (c) {
		case 'r':
			rundir = optarg;
			break;
		case 'd':
			dbdir = optarg;
			break;
		case 's':
			socket_path = optarg;
			break;
		case 't':
			tender_dir = optarg;
			break;
		case 'u':
			tender_user = optarg;
			break;
		case 'g':
			group = optarg;
			break;
		case 'T':
			stop_timeout = strtoul(optarg, &end, 10);
			if (*end || stop_timeout == 0 || stop_timeout > 3600) {
				fprintf(stderr,
					"albatrossd: --stop-timeout takes 1 to 3600 seconds\n");
				return EXIT_USAGE;
			}
			break;
		case 'B':
			backoff_ms = strtoul(optarg, &end, 10);
			if (*end || backoff_ms == 0 || backoff_ms > 60000) {
				fprintf(stderr,
					"albatrossd: --restart-backoff takes 1 to 60000 ms\n");
				return EXIT_USAGE;
			}
			break;
		case 'C':
			if (sscanf(optarg, "%lu/%lu", &burst, &window) != 2 || burst < 1 ||
			    burst > 1000 || window < 1 || window > 86400) {
				fprintf(stderr,
					"albatrossd: --crash-loop takes N/SECONDS, e.g. 5/60\n");
				return EXIT_USAGE;
			}
			break;
		case 'K':
			backlog_kib = strtoul(optarg, &end, 10);
			if (*end || backlog_kib < 4 || backlog_kib > 1024 * 1024) {
				fprintf(stderr,
					"albatrossd: --console-backlog takes 4 to 1048576 KiB\n");
				return EXIT_USAGE;
			}
			break;
		default: {
			int r = daemon_common_option(c, "albatrossd", usage, &verbose);
			if (r >= 0)
				return r;
			break;
		}
		}
	}
	if (optind < argc)
		return daemon_unexpected_argument("albatrossd", argv[optind]);
	/* Tenders get paths below these: they must not depend on a working directory. */
	char cwd[4096], abs_db[8192], abs_run[8192];
	if ((dbdir[0] != '/' || rundir[0] != '/') && !getcwd(cwd, sizeof(cwd))) {
		fprintf(stderr, "albatrossd: cannot find the working directory: %s\n",
			strerror(errno));
		return EXIT_FAILURE;
	}
	if (dbdir[0] != '/') {
		snprintf(abs_db, sizeof(abs_db), "%s/%s", cwd, dbdir);
		dbdir = abs_db;
	}
	if (rundir[0] != '/') {
		snprintf(abs_run, sizeof(abs_run), "%s/%s", cwd, rundir);
		rundir = abs_run;
	}

	/* Tenders get fds 0-2 by dup2: none of ours may be one of them. */
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd) {
			fprintf(stderr, "albatrossd: cannot open /dev/null\n");
			return EXIT_FAILURE;
		}
	signal(SIGPIPE, SIG_IGN);
	umask(0022);
	/* Each unikernel holds a few fds (console pipe, pidfd): use all we may. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	alb_ctx *ctx = NULL;
	struct daemon d = {0};
	alb_source *sigterm = NULL, *sigint = NULL;
	int r = alb_ctx_new(&ctx);
	if (r < 0)
		return EXIT_FAILURE;
	alb_ctx_set_log_fn(ctx, log_stderr, NULL);
	alb_ctx_set_log_priority(ctx, verbose >= 2 ? ALB_LOG_DEBUG
				      : verbose	   ? ALB_LOG_INFO
						   : ALB_LOG_NOTICE);
	int status = EXIT_FAILURE;
	if ((r = alb_loop_new(ctx, &d.loop)) < 0 ||
	    (r = alb_loop_add_signal(d.loop, SIGTERM, on_signal, &d, &sigterm)) < 0 ||
	    (r = alb_loop_add_signal(d.loop, SIGINT, on_signal, &d, &sigint)) < 0 ||
	    (r = alb_vmm_new(ctx, d.loop, dbdir, rundir, &d.vmm)) < 0)
		goto out;
	alb_vmm_set_tender_dir(d.vmm, tender_dir);
	alb_vmm_set_stop_timeout(d.vmm, (uint64_t)stop_timeout * 1000000);
	alb_vmm_set_restart_backoff(d.vmm, (uint64_t)backoff_ms * 1000,
				    60000000 > backoff_ms * 1000 ? 60000000 : backoff_ms * 1000);
	alb_vmm_set_crash_loop(d.vmm, (uint32_t)burst, (uint64_t)window * 1000000);
	if (backlog_kib) {
		/* The total stays 64 MiB, or the one bound if that is more. */
		uint64_t one = (uint64_t)backlog_kib << 10, all = UINT64_C(64) << 20;
		alb_vmm_set_console_backlog(d.vmm, one, one > all ? one : all);
	}
	if (tender_user) {
		struct passwd *pw = getpwnam(tender_user);
		if (!pw) {
			fprintf(stderr, "albatrossd: there is no user '%s'\n", tender_user);
			status = EXIT_USAGE;
			goto out;
		}
		alb_vmm_set_tender_user(d.vmm, pw->pw_uid, pw->pw_gid);
	}
	if (group) {
		struct group *gr = getgrnam(group);
		if (!gr) {
			fprintf(stderr, "albatrossd: there is no group '%s'\n", group);
			status = EXIT_USAGE;
			goto out;
		}
		alb_vmm_set_group(d.vmm, gr->gr_gid);
	}
	if ((r = alb_vmm_connect_helpers(d.vmm)) < 0)
		goto out;
	if ((r = alb_vmm_start(d.vmm)) < 0) {
		if (r == -EBADMSG || r == -EPROTO)
			status = EXIT_STATE;
		goto out;
	}
	int fd = listen_fd();
	if ((r = fd >= 0 ? alb_vmm_listen_fd(d.vmm, fd) : alb_vmm_listen(d.vmm, socket_path)) < 0)
		goto out;
	fprintf(stderr, "<5>albatrossd: notice: ready (dbdir %s, rundir %s)\n", dbdir, rundir);
	r = alb_loop_run(d.loop);
	status = r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
out:
	if (r < 0 && status != EXIT_SUCCESS)
		fprintf(stderr, "<3>albatrossd: error: %s\n",
			alb_ctx_last_error(ctx)[0] ? alb_ctx_last_error(ctx) : strerror(-r));
	alb_vmm_free(d.vmm);
	alb_source_free(sigterm);
	alb_source_free(sigint);
	alb_loop_unref(d.loop);
	alb_ctx_unref(ctx);
	return status;
}
