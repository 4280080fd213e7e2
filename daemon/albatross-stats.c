/* SPDX-License-Identifier: ISC */
/*
 * albatross-stats: samples every registered unikernel's tender process and
 * taps each interval, for subscribers, InfluxDB and Prometheus (docs/metrics.md).
 * A thin main() around the stats service (libalbatross/stats-service-private.h).
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

#define NAME "albatross-stats"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " NAME " [OPTIONS]\n"
		"\n"
		"Collects statistics of the unikernels albatrossd registers and serves them to\n"
		"subscribers, InfluxDB and Prometheus.\n"
		"\n"
		"Options:\n"
		"  --rundir DIR              runtime directory (default /run/albatross)\n"
		"  --socket PATH             the socket (default RUNDIR/stats.sock)\n"
		"  --interval SEC            seconds between samples (default 10)\n"
		"  --interval-ms MS          milliseconds between samples (10 .. 86400000)\n"
		"  --influx URL              push to InfluxDB: http://HOST:PORT/write?db=NAME\n"
		"                            (1.x HTTP API) or tcp://HOST:PORT (line protocol)\n"
		"  --influx-queue LINES      lines kept while InfluxDB is down (default 100000)\n"
		"  --influx-retry-max SEC    longest wait between attempts (default 60)\n"
		"  --prometheus ADDR:PORT    serve GET /metrics there\n"
		"  --albatrossd-socket PATH  ask albatrossd for policies (default\n"
		"                            RUNDIR/albatrossd.sock)\n"
		"  --user USER, --group GROUP  run as (after binding)\n"
		"  -v, --verbose             log more (repeat for debug)\n"
		"  -h, --help, -V, --version\n");
}

int main(int argc, char **argv)
{
	enum {
		O_RUNDIR = 0x100,
		O_SOCKET,
		O_INTERVAL,
		O_INTERVAL_MS,
		O_INFLUX,
		O_INFLUX_QUEUE,
		O_INFLUX_RETRY,
		O_PROMETHEUS,
		O_ALBATROSSD,
		O_USER,
		O_GROUP
	};
	static const struct option options[] = {
	    {"rundir", required_argument, NULL, O_RUNDIR},
	    {"socket", required_argument, NULL, O_SOCKET},
	    {"interval", required_argument, NULL, O_INTERVAL},
	    {"interval-ms", required_argument, NULL, O_INTERVAL_MS},
	    {"influx", required_argument, NULL, O_INFLUX},
	    {"influx-queue", required_argument, NULL, O_INFLUX_QUEUE},
	    {"influx-retry-max", required_argument, NULL, O_INFLUX_RETRY},
	    {"prometheus", required_argument, NULL, O_PROMETHEUS},
	    {"albatrossd-socket", required_argument, NULL, O_ALBATROSSD},
	    {"user", required_argument, NULL, O_USER},
	    {"group", required_argument, NULL, O_GROUP},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	const char *rundir = "/run/albatross", *socket_path = NULL, *influx = NULL,
		   *prometheus = NULL, *albatrossd = NULL, *user = NULL, *group = NULL;
	uint64_t interval_ms = 10000, queue = 100000, retry_max = 60, v;
	int verbose = 0, c, r;

	while ((c = getopt_long(argc, argv, "vhV", options, NULL)) != -1) {
		switch (c) {
		case O_RUNDIR:
			rundir = optarg;
			break;
		case O_SOCKET:
			socket_path = optarg;
			break;
		case O_INFLUX:
			influx = optarg;
			break;
		case O_PROMETHEUS:
			prometheus = optarg;
			break;
		case O_ALBATROSSD:
			albatrossd = optarg;
			break;
		case O_USER:
			user = optarg;
			break;
		case O_GROUP:
			group = optarg;
			break;
		case O_INTERVAL:
			if (daemon_parse_number(NAME, "--interval", optarg, 1, 86400, &v) < 0)
				return 2;
			interval_ms = v * 1000;
			break;
		case O_INTERVAL_MS:
			if (daemon_parse_number(NAME, "--interval-ms", optarg, 10, 86400000,
						&interval_ms) < 0)
				return 2;
			break;
		case O_INFLUX_QUEUE:
			if (daemon_parse_number(NAME, "--influx-queue", optarg, 1, 10000000,
						&queue) < 0)
				return 2;
			break;
		case O_INFLUX_RETRY:
			if (daemon_parse_number(NAME, "--influx-retry-max", optarg, 1, 3600,
						&retry_max) < 0)
				return 2;
			break;
		default:
			if ((r = daemon_common_option(c, NAME, usage, &verbose)) >= 0)
				return r;
		}
	}
	if (optind < argc)
		return daemon_unexpected_argument(NAME, argv[optind]);
	char sock_buf[PATH_MAX], albd_buf[PATH_MAX], abs_run[PATH_MAX];
	rundir = daemon_absolute(rundir, abs_run, sizeof(abs_run));
	if (!socket_path) {
		snprintf(sock_buf, sizeof(sock_buf), "%s/stats.sock", rundir);
		socket_path = sock_buf;
	}
	if (!albatrossd) {
		snprintf(albd_buf, sizeof(albd_buf), "%s/albatrossd.sock", rundir);
		albatrossd = albd_buf;
	}
	uid_t uid;
	gid_t gid;
	if (daemon_lookup_user(user, group, &uid, &gid) < 0)
		return 2;

	_cleanup_(alb_ctx_unrefp) alb_ctx *ctx = NULL;
	alb_loop *loop = NULL;
	alb_source *sig[2] = {NULL, NULL};
	struct alb_stats_service *svc = NULL;
	int status = EXIT_FAILURE, fd = -1;
	bool made_socket = false; /* removed at the end (a passed one is not ours) */
	if (daemon_ctx(NAME, verbose, &ctx) < 0)
		return EXIT_FAILURE;
	umask(0007);
	daemon_raise_fd_limit(); /* the /proc files of each process are kept open */
	if ((r = daemon_loop(ctx, &loop, sig)) < 0 ||
	    (r = alb_stats_service_new(ctx, loop, interval_ms * 1000, albatrossd, &svc)) < 0)
		goto out;
	if ((fd = daemon_listen_fd()) >= 0)
		r = alb_stats_service_listen_fd(svc, fd);
	else {
		(void)mkdir(rundir, 0755);
		made_socket = (r = alb_stats_service_listen_unix(svc, socket_path, 0660, gid)) >= 0;
	}
	if (r < 0)
		goto out;
	if (influx && (r = alb_stats_service_set_influx(svc, influx, (uint32_t)queue,
							retry_max * 1000000)) < 0) {
		status = 2;
		goto out;
	}
	if ((prometheus && (r = alb_stats_service_set_prometheus(svc, prometheus)) < 0) ||
	    (r = daemon_drop_privileges(uid, gid)) < 0)
		goto out;
	if (prometheus)
		alb_log_notice(ctx,
			       "ready (socket %s, interval %" PRIu64 " ms, prometheus port %u)",
			       fd >= 0 ? "passed" : socket_path, interval_ms,
			       alb_stats_service_get_prometheus_port(svc));
	else
		alb_log_notice(ctx, "ready (socket %s, interval %" PRIu64 " ms)",
			       fd >= 0 ? "passed" : socket_path, interval_ms);
	r = alb_loop_run(loop);
	status = r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
out:
	if (made_socket)
		(void)unlink(socket_path); /* ours, not a passed one */
	if (r < 0 && status != EXIT_SUCCESS)
		alb_log_err(ctx, "%s",
			    alb_ctx_last_error(ctx)[0] ? alb_ctx_last_error(ctx) : strerror(-r));
	alb_stats_service_free(svc);
	alb_source_free(sig[0]);
	alb_source_free(sig[1]);
	alb_loop_unref(loop);
	return status;
}
