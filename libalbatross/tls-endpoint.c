/* SPDX-License-Identifier: ISC */
/* The TLS endpoint's service on the loop: accept, a process per session, reaping, reload. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "ctx-private.h"
#include "tls-endpoint-private.h"
#include "tls-private.h"

#define LISTEN_BACKLOG 128

struct session {
	pid_t pid;
	alb_source *child;
};

struct alb_tls_service {
	alb_ctx *ctx;
	alb_loop *loop;
	alb_tls_endpoint *ep;
	int listen_fd;
	alb_source *accept; /* NULL while max_sessions run */
	alb_source *hup;
	struct session *sessions; /* max_sessions of them */
	uint32_t n_sessions, max_sessions;
};

static int on_accept(alb_source *source, int fd, uint32_t events, void *userdata);

/* Watches the listening socket while a session may start, else leaves the
 * connections in its backlog. */
static void update_accepting(struct alb_tls_service *svc)
{
	bool want = svc->listen_fd >= 0 && svc->n_sessions < svc->max_sessions;

	if (!want)
		svc->accept = alb_source_free(svc->accept);
	else if (!svc->accept) {
		int r = alb_loop_add_io(svc->loop, svc->listen_fd, ALB_IO_IN, on_accept, svc,
					&svc->accept);
		if (r < 0)
			alb_log_err(svc->ctx, "Failed to watch the listening socket: %s",
				    strerror(-r));
	}
}

ALB_EXPORT void alb_tls_peer_name(int fd, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";

	snprintf(buf, size, "inetd client");
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, (unsigned)ntohs(a->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, (unsigned)ntohs(a->sin6_port));
	}
}

/*
 * The session's process, started with every signal blocked (mask: the parent's
 * mask before the fork). The parent's loop is not used: its epoll set is the
 * parent's too (removing a watch here would remove it there).
 */
static _Noreturn void session_main(struct alb_tls_service *svc, int fd, sigset_t *mask)
{
	char peer[128];

	close(svc->listen_fd);
	close(alb_loop_get_fd(svc->loop));
	/* A session does not reload: SIGHUP to every process of this name (pkill) must not
	 * end the sessions in flight. SIGTERM ends them, whatever handler the parent had. */
	signal(SIGHUP, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	sigdelset(mask, SIGTERM);
	sigdelset(mask, SIGINT);
	sigdelset(mask, SIGHUP);
	sigdelset(mask, SIGCHLD);
	sigprocmask(SIG_SETMASK, mask, NULL);
	alb_tls_peer_name(fd, peer, sizeof(peer));
	int r = alb_tls_endpoint_serve(svc->ep, fd, fd, peer);
	close(fd);
	_exit(r < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
}

static int on_session_exit(alb_source *source, int pid, int how, int status, void *userdata)
{
	struct alb_tls_service *svc = userdata;

	for (uint32_t i = 0; i < svc->n_sessions; i++)
		if (svc->sessions[i].pid == pid) {
			alb_source_free(svc->sessions[i].child);
			svc->sessions[i] = svc->sessions[--svc->n_sessions];
			break;
		}
	update_accepting(svc);
	return 0;
}

static int on_accept(alb_source *source, int lfd, uint32_t events, void *userdata)
{
	struct alb_tls_service *svc = userdata;

	if (svc->n_sessions >= svc->max_sessions) {
		update_accepting(svc);
		return 0;
	}
	/* Blocking, as a session wants it. */
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			alb_log_warn(svc->ctx, "accept: %s", strerror(errno));
		return 0;
	}
	/* No signal reaches the child before it has set its own handling. */
	sigset_t all, saved;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &saved);
	pid_t pid = fork();
	if (pid == 0)
		session_main(svc, fd, &saved);
	int e = errno;
	sigprocmask(SIG_SETMASK, &saved, NULL);
	close(fd);
	if (pid < 0) {
		alb_log_err(svc->ctx, "fork: %s", strerror(e));
		return 0;
	}

	struct session *s = &svc->sessions[svc->n_sessions];
	int r = alb_loop_add_child(svc->loop, pid, -1, on_session_exit, svc, &s->child);
	if (r < 0) {
		/* Not watched, it would never be reaped: end it now. */
		alb_log_err(svc->ctx, "Failed to watch the session process %d: %s", (int)pid,
			    strerror(-r));
		kill(pid, SIGTERM);
		(void)waitpid(pid, NULL, 0);
		return 0;
	}
	s->pid = pid;
	svc->n_sessions++;
	update_accepting(svc);
	return 0;
}

static int on_hup(alb_source *source, int signo, void *userdata)
{
	struct alb_tls_service *svc = userdata;

	if (alb_tls_endpoint_reload(svc->ep) < 0)
		alb_log_err(svc->ctx, "Reload failed, keeping the old files: %s",
			    alb_ctx_last_error(svc->ctx));
	else
		alb_log_notice(svc->ctx, "Reloaded the CA, certificate, key and %u CRL file(s)",
			       alb_tls_endpoint_get_crl_count(svc->ep));
	return 0;
}

ALB_EXPORT int alb_tls_service_new(alb_ctx *ctx, alb_loop *loop, alb_tls_endpoint *ep,
				   uint32_t max_sessions, struct alb_tls_service **ret)
{
	if (!ctx || !loop || !ep || max_sessions < 1 || max_sessions > ALB_TLS_SESSIONS_MAX || !ret)
		return -EINVAL;
	struct alb_tls_service *svc = calloc(1, sizeof(*svc));
	if (!svc)
		return -ENOMEM;
	svc->ctx = ctx;
	svc->loop = loop;
	svc->ep = ep;
	svc->listen_fd = -1;
	svc->max_sessions = max_sessions;
	svc->sessions = calloc(max_sessions, sizeof(*svc->sessions));
	if (!svc->sessions) {
		alb_tls_service_free(svc);
		return -ENOMEM;
	}
	int r = alb_loop_add_signal(loop, SIGHUP, on_hup, svc, &svc->hup);
	if (r < 0) {
		alb_tls_service_free(svc);
		return r;
	}
	*ret = svc;
	return 0;
}

ALB_EXPORT struct alb_tls_service *alb_tls_service_free(struct alb_tls_service *svc)
{
	if (!svc)
		return NULL;
	svc->accept = alb_source_free(svc->accept);
	if (svc->listen_fd >= 0)
		close(svc->listen_fd);
	svc->listen_fd = -1;
	/* Sessions in flight end with the endpoint. */
	for (uint32_t i = 0; i < svc->n_sessions; i++)
		kill(svc->sessions[i].pid, SIGTERM);
	for (uint32_t i = 0; i < svc->n_sessions; i++) {
		while (waitpid(svc->sessions[i].pid, NULL, 0) < 0 && errno == EINTR)
			;
		alb_source_free(svc->sessions[i].child);
	}
	alb_source_free(svc->hup);
	free(svc->sessions);
	free(svc);
	return NULL;
}

ALB_EXPORT int alb_tls_service_listen_fd(struct alb_tls_service *svc, int fd)
{
	if (!svc || fd < 0)
		return -EINVAL;
	if (svc->listen_fd >= 0) {
		close(fd);
		return alb_error(svc->ctx, EEXIST, "the endpoint listens already");
	}
	/* accept4() must not block should a connection go before it is taken. */
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		int r = alb_error(svc->ctx, errno, "the listening socket: %s", strerror(errno));
		close(fd);
		return r;
	}
	svc->listen_fd = fd;
	update_accepting(svc);
	if (!svc->accept) {
		svc->listen_fd = -1;
		close(fd);
		return alb_error(svc->ctx, ENOMEM, "Failed to watch the listening socket");
	}
	return 0;
}

ALB_EXPORT int alb_tls_service_listen_tcp(struct alb_tls_service *svc, const char *what,
					  const char *spec)
{
	char host[ALB_HOST_MAX + 1], port[6];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV},
			*ai = NULL;
	int r, one = 1, zero = 0;

	if (!svc || !what || !spec)
		return -EINVAL;
	if (svc->listen_fd >= 0)
		return alb_error(svc->ctx, EEXIST, "the endpoint listens already");
	if ((r = alb_host_port_split(svc->ctx, what, spec, host, port)) < 0)
		return r;
	int g = getaddrinfo(host, port, &hints, &ai);
	if (g != 0)
		return alb_error(svc->ctx, EINVAL, "%s %s: %s", what, spec, gai_strerror(g));
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = alb_error(svc->ctx, errno, "%s %s: socket: %s", what, spec, strerror(errno));
		freeaddrinfo(ai);
		return r;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6) /* [::] takes IPv4 too */
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		r = alb_error(svc->ctx, errno, "Failed to listen on %s: %s", spec, strerror(errno));
		close(fd);
		freeaddrinfo(ai);
		return r;
	}
	freeaddrinfo(ai);
	return alb_tls_service_listen_fd(svc, fd);
}

uint32_t alb_tls_service_session_count(const struct alb_tls_service *svc)
{
	return svc ? svc->n_sessions : 0;
}
