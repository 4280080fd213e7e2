/* SPDX-License-Identifier: ISC */
/*
 * albatross-tls-endpoint: remote management over mutually authenticated TLS
 * 1.3 (docs/tls.md). Listens on TCP (--listen), takes a socket from systemd,
 * or serves one session on stdin/stdout (--inetd). Each session runs in a
 * process of its own (alb_tls_endpoint_serve()), at most --max-sessions at
 * once: a slow or hostile client holds its own process and nothing else.
 * SIGHUP reads the CA, certificate, key and CRLs again for new sessions.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "config.h"
#include "ctx-private.h"
#include "tls-private.h"

#define NAME "albatross-tls-endpoint"
enum { EXIT_USAGE = 2 };

DEFINE_TRIVIAL_CLEANUP_FUNC(alb_tls_endpoint *, alb_tls_endpoint_free);
#define tls_endpoint_freep alb_tls_endpoint_freep

#define SESSIONS_DEFAULT 64u
#define SESSIONS_MAX	 4096u

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
	    "  --max-sessions N         sessions at once, 1..4096 (default 64); more wait\n"
	    "  --handshake-timeout SEC  the TLS handshake must end within SEC (default 10)\n"
	    "  --idle-timeout SEC       an upload or a reply may pause SEC (default 60)\n"
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

static int parse_seconds(const char *what, const char *s, uint32_t *ret_ms)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || errno || *end || v < 1 || v > 86400) {
		fprintf(stderr, NAME ": --%s takes 1 to 86400 seconds, not '%s'\n", what, s);
		return -EINVAL;
	}
	*ret_ms = (uint32_t)v * 1000u;
	return 0;
}

/* Binds and listens on ADDR:PORT ([V6]:PORT). The fd, or -1 after a message. */
static int listen_tcp(alb_ctx *ctx, const char *spec)
{
	char host[ALB_HOST_MAX + 1], port[6];

	if (alb_host_port_split(ctx, "--listen", spec, host, port) < 0) {
		alb_log_err(ctx, "%s", alb_ctx_last_error(ctx));
		return -1;
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV},
			*ai = NULL;
	int g = getaddrinfo(host, port, &hints, &ai);
	if (g != 0) {
		alb_log_err(ctx, "--listen %s: %s", spec, gai_strerror(g));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, zero = 0;
	if (fd < 0) {
		alb_log_err(ctx, "--listen %s: socket: %s", spec, strerror(errno));
		freeaddrinfo(ai);
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6) /* [::] takes IPv4 too */
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		alb_log_err(ctx, "Failed to listen on %s: %s", spec, strerror(errno));
		close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static void peer_name(int fd, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	snprintf(buf, size, "inetd client");
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		port = ntohs(a->sin_port);
		snprintf(buf, size, "%s:%u", host, port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		port = ntohs(a->sin6_port);
		snprintf(buf, size, "[%s]:%u", host, port);
	}
}

int main(int argc, char **argv)
{
	enum {
		O_CA = 0x100,
		O_CERT,
		O_KEY,
		O_CRL,
		O_LISTEN,
		O_INETD,
		O_RUNDIR,
		O_MAX,
		O_HANDSHAKE,
		O_IDLE,
		O_USER,
		O_GROUP,
	};
	static const struct option options[] = {
	    {"ca", required_argument, NULL, O_CA},
	    {"cert", required_argument, NULL, O_CERT},
	    {"key", required_argument, NULL, O_KEY},
	    {"crl", required_argument, NULL, O_CRL},
	    {"listen", required_argument, NULL, O_LISTEN},
	    {"inetd", no_argument, NULL, O_INETD},
	    {"rundir", required_argument, NULL, O_RUNDIR},
	    {"max-sessions", required_argument, NULL, O_MAX},
	    {"handshake-timeout", required_argument, NULL, O_HANDSHAKE},
	    {"idle-timeout", required_argument, NULL, O_IDLE},
	    {"user", required_argument, NULL, O_USER},
	    {"group", required_argument, NULL, O_GROUP},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	const char *ca = NULL, *cert = NULL, *key = NULL, *listen_spec = NULL,
		   *rundir = "/run/albatross", *user = NULL, *group = NULL;
	const char *crls[ALB_TLS_CRLS_MAX];
	uint32_t n_crls = 0, max_sessions = SESSIONS_DEFAULT, handshake_ms = 0, idle_ms = 0;
	bool inetd = false;
	int verbose = 0, c;

	while ((c = getopt_long(argc, argv, "vhV", options, NULL)) != -1) {
		switch (c) {
		case O_CA:
			ca = optarg;
			break;
		case O_CERT:
			cert = optarg;
			break;
		case O_KEY:
			key = optarg;
			break;
		case O_CRL:
			if (n_crls >= ALB_TLS_CRLS_MAX) {
				fprintf(stderr, NAME ": at most %u --crl\n", ALB_TLS_CRLS_MAX);
				return EXIT_USAGE;
			}
			crls[n_crls++] = optarg;
			break;
		case O_LISTEN:
			listen_spec = optarg;
			break;
		case O_INETD:
			inetd = true;
			break;
		case O_RUNDIR:
			rundir = optarg;
			break;
		case O_MAX: {
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (optarg[0] < '0' || optarg[0] > '9' || errno || *end || v < 1 ||
			    v > SESSIONS_MAX) {
				fprintf(stderr, NAME ": --max-sessions takes 1 to %u, not '%s'\n",
					SESSIONS_MAX, optarg);
				return EXIT_USAGE;
			}
			max_sessions = (uint32_t)v;
			break;
		}
		case O_HANDSHAKE:
			if (parse_seconds("handshake-timeout", optarg, &handshake_ms) < 0)
				return EXIT_USAGE;
			break;
		case O_IDLE:
			if (parse_seconds("idle-timeout", optarg, &idle_ms) < 0)
				return EXIT_USAGE;
			break;
		case O_USER:
			user = optarg;
			break;
		case O_GROUP:
			group = optarg;
			break;
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
	_cleanup_(tls_endpoint_freep) alb_tls_endpoint *ep = NULL;
	char abs_run[4096 + 256];
	int r;

	rundir = daemon_absolute(rundir, abs_run, sizeof(abs_run));
	if (daemon_ctx(NAME, verbose, &ctx) < 0)
		return EXIT_FAILURE;
	if ((r = alb_tls_endpoint_new(ctx, ca, cert, key, &ep)) < 0) {
		alb_log_err(ctx, "%s", alb_ctx_last_error(ctx));
		return EXIT_FAILURE;
	}
	for (uint32_t i = 0; i < n_crls; i++)
		if ((r = alb_tls_endpoint_add_crl(ep, crls[i])) < 0) {
			alb_log_err(ctx, "%s", alb_ctx_last_error(ctx));
			return EXIT_FAILURE;
		}
	if (alb_tls_endpoint_set_rundir(ep, rundir) < 0) {
		alb_log_err(ctx, "--rundir '%s' is too long for a socket path", rundir);
		return EXIT_USAGE;
	}
	alb_tls_endpoint_set_timeouts(ep, handshake_ms, idle_ms);
	signal(SIGPIPE, SIG_IGN);

	if (inetd) {
		char peer[128];
		if (daemon_drop_privileges(uid, gid) < 0)
			return EXIT_FAILURE;
		peer_name(STDIN_FILENO, peer, sizeof(peer));
		r = alb_tls_endpoint_serve(ep, STDIN_FILENO, STDOUT_FILENO, peer);
		return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
	}

	int lfd = daemon_listen_fd();
	if (lfd < 0 && (lfd = listen_tcp(ctx, listen_spec ? listen_spec : "[::]:1025")) < 0)
		return EXIT_FAILURE;
	if (daemon_drop_privileges(uid, gid) < 0) {
		close(lfd);
		return EXIT_FAILURE;
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		alb_log_err(ctx, "signalfd: %s", strerror(errno));
		close(lfd);
		return EXIT_FAILURE;
	}
	alb_log_notice(ctx, "ready (%s, at most %u sessions, daemons in %s)",
		       listen_spec ? listen_spec
		       : lfd == 3  ? "socket activation"
				   : "[::]:1025",
		       max_sessions, rundir);

	_cleanup_free_ pid_t *pids = calloc(max_sessions, sizeof(pid_t));
	uint32_t sessions = 0;
	bool stop = false;
	if (!pids) {
		close(lfd);
		close(sfd);
		return EXIT_FAILURE;
	}
	while (!stop) {
		struct pollfd p[2] = {
		    {.fd = sfd, .events = POLLIN},
		    {.fd = sessions < max_sessions ? lfd : -1, .events = POLLIN},
		};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			alb_log_err(ctx, "poll: %s", strerror(errno));
			break;
		}
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
					stop = true;
				} else if (si.ssi_signo == SIGHUP) {
					if (alb_tls_endpoint_reload(ep) < 0)
						alb_log_err(ctx,
							    "Reload failed, keeping the old "
							    "files: %s",
							    alb_ctx_last_error(ctx));
					else
						alb_log_notice(ctx,
							       "Reloaded the CA, certificate, "
							       "key and %u CRL file(s)",
							       n_crls);
				}
			}
			pid_t pid;
			int status;
			while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
				for (uint32_t i = 0; i < sessions; i++)
					if (pids[i] == pid) {
						pids[i] = pids[--sessions];
						break;
					}
		}
		if (stop || !(p[1].revents & POLLIN))
			continue;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				alb_log_warn(ctx, "accept: %s", strerror(errno));
			continue;
		}
		pid_t pid = fork();
		if (pid < 0) {
			alb_log_err(ctx, "fork: %s", strerror(errno));
			close(fd);
			continue;
		}
		if (pid == 0) {
			char peer[128];
			close(lfd);
			close(sfd);
			/* A session does not reload: SIGHUP to every process of this name (pkill)
			 * must not end the sessions in flight. SIGTERM ends them. */
			signal(SIGHUP, SIG_IGN);
			signal(SIGTERM, SIG_DFL);
			sigprocmask(SIG_UNBLOCK, &mask, NULL);
			peer_name(fd, peer, sizeof(peer));
			r = alb_tls_endpoint_serve(ep, fd, fd, peer);
			close(fd);
			_exit(r < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
		}
		close(fd);
		pids[sessions++] = pid;
	}
	close(lfd);
	/* Sessions in flight end with the endpoint. */
	for (uint32_t i = 0; i < sessions; i++)
		kill(pids[i], SIGTERM);
	while (sessions > 0 && wait(NULL) > 0)
		sessions--;
	close(sfd);
	alb_log_notice(ctx, "stopped");
	return EXIT_SUCCESS;
}
