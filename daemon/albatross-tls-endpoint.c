/* SPDX-License-Identifier: ISC */
/*
 * albatross-tls-endpoint: remote management over mutually authenticated TLS
 * 1.3 (docs/tls.md). A thin main() around the endpoint's service on the loop
 * (libalbatross/tls-endpoint-private.h): it listens on TCP (--listen), takes a
 * socket from systemd, or serves one session on stdin/stdout (--inetd).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#define NAME "albatross-tls-endpoint"
enum { EXIT_USAGE = 2 };

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: " NAME " [OPTIONS] --ca FILE --cert FILE --key FILE\n"
	    "\n"
	    "Accepts mutually authenticated TLS 1.3 connections and runs the command in the\n"
	    "client's certificate on the albatross daemons, within the policies of its chain.\n"
	    "\n"
	    "Options:\n"
	    "  --ca FILE                the CA that issues client chains (PEM)\n"
	    "  --cert FILE              the server's certificate, optionally with its chain\n"
	    "  --key FILE               the server's private key\n"
	    "  --crl FILE               a CRL to check every chain against (repeatable); read\n"
	    "                           again on SIGHUP, with the CA, certificate and key\n"
	    "  --listen ADDR:PORT       listen on TCP, e.g. 0.0.0.0:1025 or [::]:1025\n"
	    "                           (default [::]:1025, IPv4 and IPv6)\n"
	    "  --inetd                  serve one session on stdin/stdout, then exit\n"
	    "  --rundir DIR             the daemons' sockets are in DIR (default /run/albatross)\n"
	    "\n"
	    "Bounds (docs/tls.md; a bound that is hit ends the oldest of its holder first):\n"
	    "  --max-handshakes N       connections not yet admitted as sessions, each in a\n"
	    "                           process, 1..4096 (default 32); 4 times as many more\n"
	    "                           wait without a process\n"
	    "  --max-handshakes-per-source N\n"
	    "                           a source address below N of them takes a slot from\n"
	    "                           the biggest holder when all are taken (default: a\n"
	    "                           quarter of --max-handshakes)\n"
	    "  --handshake-timeout SEC  from its accept, a connection must be authenticated\n"
	    "                           and admitted within SEC (default 5)\n"
	    "  --max-sessions N         sessions at once, 1..4096 (default 64)\n"
	    "  --max-sessions-per-tenant N\n"
	    "                           sessions of one tenant, the first CA below --ca\n"
	    "                           (default: a quarter of --max-sessions)\n"
	    "  --max-sessions-per-source N\n"
	    "                           sessions from one source address (default: half\n"
	    "                           of --max-sessions)\n"
	    "  --tenant-rate N          new sessions of one tenant per second, 0..10000\n"
	    "                           (default 20; 0: no bound); a session over it is\n"
	    "                           refused at once\n"
	    "  --tenant-burst N         new sessions of one tenant at once, 1..100000\n"
	    "                           (default 100): its bucket for --tenant-rate\n"
	    "  --idle-timeout SEC       an upload or a reply may pause SEC (default 60)\n"
	    "  --min-rate BYTES         an upload must bring BYTES per second over each rate\n"
	    "                           window (default 1024; 0: no minimum)\n"
	    "  --rate-window SEC        the window of --min-rate (default 10)\n"
	    "\n"
	    "Other options:\n"
	    "  --user USER              run as USER after binding and reading the files\n"
	    "  --group GROUP            run as GROUP\n"
	    "  -v, --verbose            log more (repeat for debug)\n"
	    "  -h, --help               show this help\n"
	    "  -V, --version            show the version\n"
	    "\n"
	    "Socket activation: a listening socket passed by systemd (LISTEN_FDS) is served\n"
	    "instead of --listen.\n"
	    "\n"
	    "Exit status: 0 (stopped by SIGTERM or SIGINT; --inetd: the command ran), 1 (a\n"
	    "failure; --inetd: the session was refused or failed), 2 (a usage error).\n");
}

/* 1 .. max (a count, or seconds given in unit " seconds"): 0, or -EINVAL after a message. */
static int parse_count(const char *opt, const char *s, uint32_t max, const char *unit,
		       uint32_t *ret)
{
	uint32_t v;
	if (alb_parse_u32(s, 1, max, &v) < 0) {
		fprintf(stderr, NAME ": --%s takes 1 to %u%s, not '%s'\n", opt, max, unit, s);
		return -EINVAL;
	}
	*ret = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"ca", required_argument, NULL, 'a'},
	    {"cert", required_argument, NULL, 'c'},
	    {"key", required_argument, NULL, 'k'},
	    {"crl", required_argument, NULL, 'C'},
	    {"listen", required_argument, NULL, 'l'},
	    {"inetd", no_argument, NULL, 'i'},
	    {"rundir", required_argument, NULL, 'r'},
	    {"max-sessions", required_argument, NULL, 'm'},
	    {"max-sessions-per-tenant", required_argument, NULL, 'T'},
	    {"max-sessions-per-source", required_argument, NULL, 'S'},
	    {"max-handshakes", required_argument, NULL, 'M'},
	    {"max-handshakes-per-source", required_argument, NULL, 'P'},
	    {"tenant-rate", required_argument, NULL, 't'},
	    {"tenant-burst", required_argument, NULL, 'B'},
	    {"min-rate", required_argument, NULL, 'R'},
	    {"rate-window", required_argument, NULL, 'W'},
	    {"handshake-timeout", required_argument, NULL, 'H'},
	    {"idle-timeout", required_argument, NULL, 'I'},
	    {"user", required_argument, NULL, 'u'},
	    {"group", required_argument, NULL, 'g'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	const char *ca = NULL, *cert = NULL, *key = NULL, *listen_spec = NULL,
		   *rundir = "/run/albatross", *user = NULL, *group = NULL;
	const char *crls[ALB_TLS_CRLS_MAX];
	uint32_t n_crls = 0, max_sessions = ALB_TLS_SESSIONS_DEFAULT, hs_s = 0, idle_s = 0;
	uint32_t per_tenant = 0, per_source = 0, max_handshakes = ALB_TLS_HANDSHAKES_DEFAULT,
		 hs_per_source = 0, min_rate = ALB_TLS_MIN_RATE_DEFAULT, window_s = 0;
	uint32_t tenant_rate = ALB_TLS_TENANT_RATE_DEFAULT,
		 tenant_burst = ALB_TLS_TENANT_BURST_DEFAULT;
	bool inetd = false;
	int verbose = 0, c, r;

	while ((c = getopt_long(argc, argv, "vhV", options, NULL)) != -1) {
		switch (c) {
		case 'a':
			ca = optarg;
			break;
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'C':
			if (n_crls >= ALB_TLS_CRLS_MAX) {
				fprintf(stderr, NAME ": at most %u --crl\n", ALB_TLS_CRLS_MAX);
				return EXIT_USAGE;
			}
			crls[n_crls++] = optarg;
			break;
		case 'l':
			listen_spec = optarg;
			break;
		case 'i':
			inetd = true;
			break;
		case 'r':
			rundir = optarg;
			break;
		case 'm':
			if (parse_count("max-sessions", optarg, ALB_TLS_SESSIONS_MAX, "",
					&max_sessions) < 0)
				return EXIT_USAGE;
			break;
		case 'T':
		case 'S':
			if (parse_count(c == 'T' ? "max-sessions-per-tenant"
						 : "max-sessions-per-source",
					optarg, ALB_TLS_SESSIONS_MAX, "",
					c == 'T' ? &per_tenant : &per_source) < 0)
				return EXIT_USAGE;
			break;
		case 'M':
		case 'P':
			if (parse_count(c == 'M' ? "max-handshakes" : "max-handshakes-per-source",
					optarg, ALB_TLS_HANDSHAKES_MAX, "",
					c == 'M' ? &max_handshakes : &hs_per_source) < 0)
				return EXIT_USAGE;
			break;
		case 't':
			if (alb_parse_u32(optarg, 0, ALB_TLS_TENANT_RATE_MAX, &tenant_rate) < 0) {
				fprintf(stderr,
					NAME
					": --tenant-rate takes 0 to %u sessions per second, not "
					"'%s'\n",
					ALB_TLS_TENANT_RATE_MAX, optarg);
				return EXIT_USAGE;
			}
			break;
		case 'B':
			if (parse_count("tenant-burst", optarg, ALB_TLS_TENANT_BURST_MAX, "",
					&tenant_burst) < 0)
				return EXIT_USAGE;
			break;
		case 'R':
			if (alb_parse_u32(optarg, 0, UINT32_MAX, &min_rate) < 0) {
				fprintf(stderr,
					NAME ": --min-rate takes bytes per second, not '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'W':
			if (parse_count("rate-window", optarg, 86400, " seconds", &window_s) < 0)
				return EXIT_USAGE;
			break;
		case 'H':
		case 'I':
			if (parse_count(c == 'H' ? "handshake-timeout" : "idle-timeout", optarg,
					86400, " seconds", c == 'H' ? &hs_s : &idle_s) < 0)
				return EXIT_USAGE;
			break;
		case 'u':
			user = optarg;
			break;
		case 'g':
			group = optarg;
			break;
		default:
			if ((r = daemon_common_option(c, NAME, usage, &verbose)) >= 0)
				return r;
			break;
		}
	}
	if (optind < argc)
		return daemon_unexpected_argument(NAME, argv[optind]);
	if (!ca || !cert || !key) {
		fprintf(stderr, NAME ": --ca, --cert and --key are needed\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (inetd && listen_spec) {
		fprintf(stderr, NAME ": --inetd and --listen cannot be used together\n");
		return EXIT_USAGE;
	}
	uid_t uid;
	gid_t gid;
	if (daemon_lookup_user(user, group, &uid, &gid) < 0)
		return EXIT_USAGE;

	_cleanup_(alb_ctx_unrefp) alb_ctx *ctx = NULL;
	_cleanup_(alb_tls_endpoint_freep) alb_tls_endpoint *ep = NULL;
	char abs_run[4096 + 256];
	rundir = daemon_absolute(rundir, abs_run, sizeof(abs_run));
	if (daemon_ctx(NAME, verbose, &ctx) < 0)
		return EXIT_FAILURE;
	r = alb_tls_endpoint_new(ctx, ca, cert, key, &ep);
	for (uint32_t i = 0; r >= 0 && i < n_crls; i++)
		r = alb_tls_endpoint_add_crl(ep, crls[i]);
	if (r < 0) {
		alb_log_err(ctx, "%s", alb_ctx_last_error(ctx));
		return EXIT_FAILURE;
	}
	if (alb_tls_endpoint_set_rundir(ep, rundir) < 0) {
		alb_log_err(ctx, "--rundir '%s' is too long for a socket path", rundir);
		return EXIT_USAGE;
	}
	alb_tls_endpoint_set_timeouts(ep, hs_s * 1000u, idle_s * 1000u);
	alb_tls_endpoint_set_min_rate(ep, min_rate, window_s * 1000u);
	signal(SIGPIPE, SIG_IGN);

	if (inetd) {
		char peer[128];
		if (daemon_drop_privileges(uid, gid) < 0)
			return EXIT_FAILURE;
		alb_tls_peer_name(STDIN_FILENO, peer, sizeof(peer));
		r = alb_tls_endpoint_serve(ep, STDIN_FILENO, STDOUT_FILENO, peer);
		return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
	}

	alb_loop *loop = NULL;
	alb_source *sources[2] = {NULL, NULL};
	struct alb_tls_service *svc = NULL;
	int status = EXIT_FAILURE, lfd = daemon_listen_fd();
	const char *where = listen_spec ? listen_spec : "[::]:1025";
	daemon_raise_fd_limit(); /* a descriptor per waiting connection, two per process */
	if ((r = daemon_loop(ctx, &loop, sources)) < 0 ||
	    (r = alb_tls_service_new(ctx, loop, ep, max_sessions, &svc)) < 0 ||
	    (r = alb_tls_service_set_handshakes(svc, max_handshakes, hs_per_source)) < 0 ||
	    (r = alb_tls_service_set_session_shares(svc, per_tenant, per_source)) < 0 ||
	    (r = alb_tls_service_set_tenant_rate(svc, tenant_rate, tenant_burst)) < 0 ||
	    (r = lfd >= 0 ? alb_tls_service_listen_fd(svc, lfd)
			  : alb_tls_service_listen_tcp(svc, "--listen", where)) < 0) {
		alb_log_err(ctx, "%s",
			    alb_ctx_last_error(ctx)[0] ? alb_ctx_last_error(ctx) : strerror(-r));
		goto out;
	}
	if (daemon_drop_privileges(uid, gid) < 0)
		goto out;
	alb_log_notice(ctx, "ready (%s, at most %u sessions, %u handshakes at once, daemons in %s)",
		       listen_spec ? listen_spec
		       : lfd >= 0  ? "socket activation"
				   : where,
		       max_sessions, max_handshakes, rundir);
	status = alb_loop_run(loop) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
	svc = alb_tls_service_free(svc); /* sessions in flight end with the endpoint */
	alb_log_notice(ctx, "stopped");
out:
	alb_tls_service_free(svc);
	alb_source_free(sources[0]);
	alb_source_free(sources[1]);
	alb_loop_unref(loop);
	return status;
}
