/* SPDX-License-Identifier: ISC */
/*
 * albatrossd: the privileged supervisor daemon. A thin main() around
 * alb_vmm (include/albatross/vmm.h): parse options, set up, run the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <albatross/albatross.h>

#include "common.h"
#include "config.h"

enum { EXIT_USAGE = 2, EXIT_STATE = 3 };

#define NAME "albatrossd"

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
	    "  --stop-unikernels    SIGTERM and SIGINT stop every unikernel too\n"
	    "  --monitor PATH       the per-unikernel monitor (default " ALB_MONITOR_PATH ")\n"
	    "  --restart-backoff MS first restart delay, doubled up to 60 s (default 1000)\n"
	    "  --crash-loop N/SEC   N restarts within SEC seconds is a crash loop (default 5/60)\n"
	    "  --console-backlog KIB\n"
	    "                       console output kept per unikernel while albatross-console\n"
	    "                       is away or behind (default 1024; 64 MiB in all at least)\n"
	    "  --start-parallel N   at most N tenders being started at once when the state\n"
	    "                       is restored (default 4 per CPU)\n"
	    "  --max-uploads-per-peer N\n"
	    "                       at most N uploads in progress per uid and tenant, 4 N per\n"
	    "                       uid (default 16)\n"
	    "  -v, --verbose        log more (repeat for debug)\n"
	    "  -h, --help           show this help\n"
	    "  -V, --version        show the version\n"
	    "\n"
	    "Socket activation: a listening socket passed by systemd (LISTEN_FDS) is served\n"
	    "instead of --socket.\n"
	    "\n"
	    "Each tender runs under a monitor that outlives albatrossd. SIGTERM or SIGINT\n"
	    "makes albatrossd exit and leaves the unikernels running: the next albatrossd\n"
	    "adopts them (same pids, taps and console). With --stop-unikernels, and always\n"
	    "on SIGUSR2 (the host shuts down), albatrossd stops every unikernel first\n"
	    "(SIGTERM, then SIGKILL after the stop timeout); the state keeps them, so they\n"
	    "come back at the next start.\n"
	    "\n"
	    "Exit codes: 0 stopped cleanly, 1 failure, 2 usage error, 3 the state file\n"
	    "cannot be used (it is left untouched).\n");
}

struct daemon {
	alb_ctx *ctx;
	alb_loop *loop;
	alb_vmm *vmm;
	bool stopping, stop_unikernels;
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
	if (d->stop_unikernels || signo == SIGUSR2) {
		daemon_logf(d->ctx, ALB_LOG_NOTICE,
			    "stopping every unikernel, then albatrossd (signal %d)", signo);
		alb_vmm_shutdown(d->vmm, stopped, d);
	} else {
		daemon_logf(d->ctx, ALB_LOG_NOTICE,
			    "stopping on signal %d: the unikernels keep running, watched by their "
			    "monitors",
			    signo);
		alb_vmm_detach(d->vmm, stopped, d);
	}
	return 0;
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
	    {"stop-unikernels", no_argument, NULL, 'S'},
	    {"monitor", required_argument, NULL, 'M'},
	    {"restart-backoff", required_argument, NULL, 'B'},
	    {"crash-loop", required_argument, NULL, 'C'},
	    {"console-backlog", required_argument, NULL, 'K'},
	    {"start-parallel", required_argument, NULL, 'P'},
	    {"max-uploads-per-peer", required_argument, NULL, 'U'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	const char *rundir = "/run/albatross", *dbdir = "/var/lib/albatross", *socket_path = NULL,
		   *tender_dir = NULL, *tender_user = NULL, *group = NULL, *monitor = NULL;
#ifdef __GLIBC__
	/* An upload's frames (up to 2 MB, a chunk each) come from the heap and are used
	 * again, not mapped and faulted in page by page for each one; the heap is given
	 * back when an upload ends (malloc_trim() in alb_ingest_free()). */
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 16 << 20);
#endif
	bool stop_unikernels = false;
	uint64_t stop_timeout_us = 5000000, backoff_ms = 1000, burst = 5, window = 60,
		 backlog_kib = 0, start_parallel = 0;
	int verbose = 0, c;
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
		case 'S':
			stop_unikernels = true;
			break;
		case 'M':
			monitor = optarg;
			break;
		case 'g':
			group = optarg;
			break;
		case 'T':
			if (alb_parse_seconds(optarg, 1, 3600, &stop_timeout_us) < 0) {
				fprintf(stderr, NAME ": --stop-timeout takes 1 to 3600 seconds\n");
				return EXIT_USAGE;
			}
			break;
		case 'B':
			if (alb_parse_u64(optarg, 1, 60000, &backoff_ms) < 0) {
				fprintf(stderr, NAME ": --restart-backoff takes 1 to 60000 ms\n");
				return EXIT_USAGE;
			}
			break;
		case 'C': {
			const char *slash = strchr(optarg, '/');
			if (!slash ||
			    alb_parse_u64_span(optarg, (size_t)(slash - optarg), 1, 1000, &burst) <
				0 ||
			    alb_parse_u64(slash + 1, 1, 86400, &window) < 0) {
				fprintf(stderr, NAME ": --crash-loop takes N/SECONDS, e.g. 5/60\n");
				return EXIT_USAGE;
			}
			break;
		}
		case 'K':
			if (alb_parse_u64(optarg, 4, 1024 * 1024, &backlog_kib) < 0) {
				fprintf(stderr,
					NAME ": --console-backlog takes 4 to 1048576 KiB\n");
				return EXIT_USAGE;
			}
			break;
		case 'P':
			if (alb_parse_u64(optarg, 1, ALB_VMM_START_PARALLEL_MAX, &start_parallel) <
			    0) {
				fprintf(stderr, NAME ": --start-parallel takes 1 to %d\n",
					ALB_VMM_START_PARALLEL_MAX);
				return EXIT_USAGE;
			}
			break;
		case 'U': {
			/* The library reads it from the environment, as the socket's other bounds
			 * (docs/albatrossd.md, "Uploads"). */
			uint64_t n;
			char v[16];
			if (alb_parse_u64(optarg, 1, 256, &n) < 0) {
				fprintf(stderr, NAME ": --max-uploads-per-peer takes 1 to 256\n");
				return EXIT_USAGE;
			}
			snprintf(v, sizeof(v), "%" PRIu64, n);
			if (setenv("ALBATROSS_MAX_UPLOADS_PER_PEER", v, 1) < 0) {
				fprintf(stderr, NAME ": %s\n", strerror(errno));
				return EXIT_FAILURE;
			}
			break;
		}
		default: {
			int r = daemon_common_option(c, NAME, usage, &verbose);
			if (r >= 0)
				return r;
			break;
		}
		}
	}
	if (optind < argc)
		return daemon_unexpected_argument(NAME, argv[optind]);
	/* Tenders get paths below these: they must not depend on a working directory. */
	char abs_db[8192], abs_run[8192];
	if (!(dbdir = daemon_absolute_strict(NAME, dbdir, abs_db, sizeof(abs_db))) ||
	    !(rundir = daemon_absolute_strict(NAME, rundir, abs_run, sizeof(abs_run))))
		return EXIT_FAILURE;

	/* Tenders get fds 0-2 by dup2: none of ours may be one of them. */
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd) {
			fprintf(stderr, NAME ": cannot open /dev/null\n");
			return EXIT_FAILURE;
		}
	umask(0022);
	/* Each unikernel holds a few fds (console pipe, pidfd): use all we may. */
	daemon_raise_fd_limit();
	struct daemon d = {.stop_unikernels = stop_unikernels};
	alb_source *sources[2] = {NULL, NULL}, *usr2 = NULL;
	int r = daemon_ctx(NAME, verbose, &d.ctx);
	if (r < 0)
		return EXIT_FAILURE;
	int status = EXIT_FAILURE;
	if ((r = daemon_loop_with(d.ctx, on_signal, &d, &d.loop, sources)) < 0 ||
	    (r = alb_loop_add_signal(d.loop, SIGUSR2, on_signal, &d, &usr2)) < 0 ||
	    (r = alb_vmm_new(d.ctx, d.loop, dbdir, rundir, &d.vmm)) < 0)
		goto out;
	char abs_monitor[8192];
	if (monitor && alb_vmm_set_monitor(
			   d.vmm, daemon_absolute(monitor, abs_monitor, sizeof(abs_monitor))) < 0) {
		fprintf(stderr, NAME ": --monitor takes a path\n");
		status = EXIT_USAGE;
		goto out;
	}
	alb_vmm_set_tender_dir(d.vmm, tender_dir);
	alb_vmm_set_stop_timeout(d.vmm, stop_timeout_us);
	alb_vmm_set_restart_backoff(d.vmm, backoff_ms * 1000,
				    60000000 > backoff_ms * 1000 ? 60000000 : backoff_ms * 1000);
	alb_vmm_set_crash_loop(d.vmm, (uint32_t)burst, window * 1000000);
	alb_vmm_set_start_parallel(d.vmm, (uint32_t)start_parallel);
	if (backlog_kib) {
		/* The total stays 64 MiB, or the one bound if that is more. */
		uint64_t one = backlog_kib << 10, all = UINT64_C(64) << 20;
		alb_vmm_set_console_backlog(d.vmm, one, one > all ? one : all);
	}
	if (tender_user) {
		uid_t uid;
		gid_t gid;
		if (daemon_find_user(tender_user, &uid, &gid) < 0) {
			fprintf(stderr, NAME ": there is no user '%s'\n", tender_user);
			status = EXIT_USAGE;
			goto out;
		}
		alb_vmm_set_tender_user(d.vmm, uid, gid);
	}
	if (group) {
		gid_t gid;
		if (daemon_find_group(group, &gid) < 0) {
			fprintf(stderr, NAME ": there is no group '%s'\n", group);
			status = EXIT_USAGE;
			goto out;
		}
		alb_vmm_set_group(d.vmm, gid);
	}
	if ((r = alb_vmm_connect_helpers(d.vmm)) < 0)
		goto out;
	if ((r = alb_vmm_start(d.vmm)) < 0) {
		if (r == -EBADMSG || r == -EPROTO)
			status = EXIT_STATE;
		goto out;
	}
	int fd = daemon_listen_fd();
	if ((r = fd >= 0 ? alb_vmm_listen_fd(d.vmm, fd) : alb_vmm_listen(d.vmm, socket_path)) < 0)
		goto out;
	daemon_logf(d.ctx, ALB_LOG_NOTICE, "ready (dbdir %s, rundir %s)", dbdir, rundir);
	r = alb_loop_run(d.loop);
	status = r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
out:
	if (r < 0 && status != EXIT_SUCCESS)
		daemon_logf(d.ctx, ALB_LOG_ERR, "%s",
			    alb_ctx_last_error(d.ctx)[0] ? alb_ctx_last_error(d.ctx)
							 : strerror(-r));
	alb_vmm_free(d.vmm);
	alb_source_free(sources[0]);
	alb_source_free(sources[1]);
	alb_source_free(usr2);
	alb_loop_unref(d.loop);
	alb_ctx_unref(d.ctx);
	return status;
}
