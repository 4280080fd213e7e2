/* SPDX-License-Identifier: ISC */
/* The TLS endpoint's service on the loop: accept, a process per session, reaping, reload. */
#include <arpa/inet.h>
#include <assert.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "ctx-private.h"
#include "tls-endpoint-private.h"
#include "tls-pool-private.h"
#include "tls-private.h"

#define LISTEN_BACKLOG 128
/* Connections taken per wakeup of the listening socket: the loop's other work goes on. */
#define ACCEPT_BATCH 64
/* A session past its handshake deadline ends itself (its handshake timeout is what is left
 * of the deadline); the service kills it this much later, µs. */
#define KILL_MARGIN_US 1000000u

/* One accepted connection: the pool's entry (first), and its process. */
struct conn {
	struct alb_pool_entry e;
	struct alb_tls_service *svc;
	int fd;	 /* the connection while it waits (no process yet), else -1 */
	int ctl; /* the service's end of the control socket, or -1 */
	pid_t pid;
	alb_source *child, *ctl_source;
	uint64_t ending_us; /* ENDING, told to end: when (the grace runs from it) */
	bool killed;
	/* What keeps it from being admitted (ADMITTING), for the refusal. */
	enum alb_pool_bound blocked;
	uint32_t blocked_count, blocked_holder_count;
	char blocked_holder[ALB_POOL_SOURCE_MAX];
	char peer[128]; /* ADDR:PORT, for messages */
};

struct alb_tls_service {
	alb_ctx *ctx;
	alb_loop *loop;
	alb_tls_endpoint *ep;
	int listen_fd;
	alb_source *accept; /* NULL while out of descriptors */
	alb_source *hup, *timer;
	struct alb_pool pool;
	bool paused;	    /* out of descriptors: not accepting until a connection ends */
	alb_source *retry;  /* while paused: accepting again a second later all the same */
	uint32_t processes; /* session processes not yet reaped */
	bool handshake_share_set, tenant_share_set, source_share_set;
};

static int on_accept(alb_source *source, int fd, uint32_t events, void *userdata);

static struct conn *conn_of(struct alb_pool_entry *e)
{
	return (struct conn *)e;
}

/* Watches the listening socket unless out of descriptors. */
static void update_accepting(struct alb_tls_service *svc)
{
	bool want = svc->listen_fd >= 0 && !svc->paused;

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
 * The source a connection counts for: its IPv4 address (also when it comes
 * mapped into IPv6), or the /64 prefix of its IPv6 address (a host usually has
 * a whole /64: per address, one host would be any number of sources).
 */
static void source_key(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s", host);
	} else if (ss->ss_family == AF_INET6) {
		struct in6_addr a = ((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&a)) {
			inet_ntop(AF_INET, &a.s6_addr[12], host, sizeof(host));
			snprintf(buf, size, "%s", host);
			return;
		}
		memset(&a.s6_addr[8], 0, 8);
		inet_ntop(AF_INET6, &a, host, sizeof(host));
		snprintf(buf, size, "%s/64", host);
	} else {
		snprintf(buf, size, "local");
	}
}

/*
 * The session's process, started with every signal blocked (mask: the parent's
 * mask before the fork). The parent's loop is not used: its epoll set is the
 * parent's too (removing a watch here would remove it there). The other
 * connections' descriptors are closed: a copy here would keep a connection
 * that the service closes open.
 */
static _Noreturn void session_main(struct alb_tls_service *svc, struct conn *c, int ctl,
				   sigset_t *mask)
{
	close(svc->listen_fd);
	close(alb_loop_get_fd(svc->loop));
	for (struct alb_pool_entry *e = svc->pool.head; e; e = e->next) {
		struct conn *o = conn_of(e);
		if (o == c)
			continue;
		if (o->fd >= 0)
			close(o->fd);
		if (o->ctl >= 0)
			close(o->ctl);
	}
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
	struct alb_tls_supervision sup = {
	    .ctl_fd = ctl,
	    .deadline_us =
		c->e.accepted_us + (uint64_t)alb_tls_endpoint_get_handshake_ms(svc->ep) * 1000u,
	};
	int r = alb_tls_endpoint_serve_supervised(svc->ep, c->fd, c->peer, &sup);
	close(c->fd);
	_exit(r < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
}

/* Forgets a connection whose process (if it had one) is reaped. */
static void conn_free(struct alb_tls_service *svc, struct conn *c)
{
	assert(c->pid == 0);
	alb_pool_remove(&svc->pool, &c->e);
	alb_source_free(c->child);
	alb_source_free(c->ctl_source);
	if (c->ctl >= 0)
		close(c->ctl);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	/* A descriptor is free again. */
	if (svc->paused) {
		svc->paused = false;
		update_accepting(svc);
	}
}

/* Ends a session's process at once; it is forgotten when reaped. */
static void conn_kill(struct alb_tls_service *svc, struct conn *c)
{
	if (c->e.state != ALB_POOL_ENDING)
		alb_pool_set_state(&svc->pool, &c->e, ALB_POOL_ENDING);
	if (!c->killed && c->pid > 0)
		(void)kill(c->pid, SIGKILL);
	c->killed = true;
}

/* Tells an ENDING session why it ends: it tells its client and ends, or it is killed
 * after ALB_TLS_END_GRACE_MS. */
static void conn_tell_end(struct alb_tls_service *svc, struct conn *c, const char *text)
{
	struct alb_tls_ctl m = {.kind = ALB_TLS_CTL_END, .code = EUSERS};

	assert(c->e.state == ALB_POOL_ENDING);
	snprintf(m.text, sizeof(m.text), "%s", text);
	c->ending_us = alb_now_monotonic();
	if (c->ctl < 0 || send(c->ctl, &m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		conn_kill(svc, c);
}

static const char *tenant_of(const struct conn *c)
{
	return c->e.tenant ? c->e.tenant->name : "?";
}

/* The bound a decision is about, in words. */
static void bound_text(const struct alb_tls_service *svc, enum alb_pool_bound bound, uint32_t count,
		       const char *holder, uint32_t holder_count, char *buf, size_t size)
{
	const struct alb_pool_limits *lim = &svc->pool.lim;

	switch (bound) {
	case ALB_POOL_BOUND_TENANT:
		snprintf(buf, size,
			 "tenant '%s' holds %u sessions, the bound (--max-sessions-per-tenant)",
			 holder, count);
		break;
	case ALB_POOL_BOUND_SOURCE:
		snprintf(buf, size, "%s holds %u sessions, the bound (--max-sessions-per-source)",
			 holder, count);
		break;
	case ALB_POOL_BOUND_SESSIONS:
		snprintf(buf, size,
			 "the endpoint holds %u sessions, the bound (--max-sessions), tenant '%s' "
			 "%u of them",
			 count, holder, holder_count);
		break;
	case ALB_POOL_BOUND_HANDSHAKES:
		snprintf(buf, size,
			 "the endpoint holds %u connections not yet admitted, the bound "
			 "(--max-handshakes), %s the most (%u)",
			 lim->handshakes, holder, holder_count);
		break;
	case ALB_POOL_BOUND_RATE:
		snprintf(buf, size,
			 "tenant '%s' opens sessions faster than %u a second, %u at once, the "
			 "bound (--tenant-rate, --tenant-burst)",
			 holder, svc->pool.rate.per_second, svc->pool.rate.burst);
		break;
	default:
		snprintf(buf, size, "a bound");
		break;
	}
}

/* A pre-authentication slot or place taken by the new connection c. */
static void end_for_arrival(struct alb_tls_service *svc, struct conn *v, const struct conn *c)
{
	char why[256];

	switch (v->e.state) {
	case ALB_POOL_WAITING:
		alb_log_info(
		    svc->ctx,
		    "%s: closed before its handshake: the waiting room holds %u connections, "
		    "%s the most (%u)",
		    v->peer, svc->pool.lim.waiting, v->e.source->name,
		    v->e.source->n[ALB_POOL_WAITING]);
		conn_free(svc, v);
		break;
	case ALB_POOL_HANDSHAKE:
		alb_log_info(svc->ctx,
			     "%s: handshake ended for %s: %s holds the most of the %u "
			     "handshake slots (--max-handshakes)",
			     v->peer, c->peer, v->e.source->name, svc->pool.lim.handshakes);
		conn_kill(svc, v);
		break;
	case ALB_POOL_ADMITTING: {
		char text[ALB_TLS_CTL_TEXT_MAX];
		bound_text(svc, ALB_POOL_BOUND_HANDSHAKES, 0, v->e.source->name,
			   alb_pool_group_handshakes(v->e.source), why, sizeof(why));
		snprintf(text, sizeof(text), "busy: %s: its oldest goes first; try again later",
			 why);
		alb_pool_set_state(&svc->pool, &v->e, ALB_POOL_ENDING);
		conn_tell_end(svc, v, text);
		break;
	}
	default:
		assert(false);
	}
}

static int on_session_exit(alb_source *source, int pid, int how, int status, void *userdata);
static int on_ctl(alb_source *source, int fd, uint32_t events, void *userdata);

/*
 * Starts the handshake of a waiting connection in a process of its own. 0, or
 * -errno when no process could be made: the connection stays in the waiting room
 * (until its deadline; the next change tries again).
 */
static int conn_start(struct alb_tls_service *svc, struct conn *c)
{
	int sv[2], r;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		alb_log_err(svc->ctx, "%s: socketpair: %s", c->peer, strerror(-r));
		return r;
	}
	(void)fcntl(sv[0], F_SETFL, O_NONBLOCK);
	/* No signal reaches the child before it has set its own handling. */
	sigset_t all, saved;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &saved);
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		session_main(svc, c, sv[1], &saved);
	}
	int e = errno;
	sigprocmask(SIG_SETMASK, &saved, NULL);
	close(sv[1]);
	if (pid < 0) {
		alb_log_err(svc->ctx, "%s: fork: %s", c->peer, strerror(e));
		close(sv[0]);
		return -e;
	}
	close(c->fd);
	c->fd = -1;
	c->ctl = sv[0];
	r = alb_loop_add_child(svc->loop, pid, -1, on_session_exit, svc, &c->child);
	if (r < 0) {
		/* Not watched, it would never be reaped: end it now. */
		alb_log_err(svc->ctx, "Failed to watch the session process %d: %s", (int)pid,
			    strerror(-r));
		kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		conn_free(svc, c);
		return 0;
	}
	c->pid = pid;
	svc->processes++;
	alb_pool_set_state(&svc->pool, &c->e, ALB_POOL_HANDSHAKE);
	r = alb_loop_add_io(svc->loop, c->ctl, ALB_IO_IN, on_ctl, c, &c->ctl_source);
	if (r < 0) {
		alb_log_err(svc->ctx, "%s: Failed to watch the session: %s", c->peer, strerror(-r));
		conn_kill(svc, c);
	}
	return 0;
}

static int on_deadline(alb_source *source, void *userdata);

/* The timer at the next deadline of a connection, or none. */
static void arm_timer(struct alb_tls_service *svc)
{
	uint64_t hs = (uint64_t)alb_tls_endpoint_get_handshake_ms(svc->ep) * 1000u;
	uint64_t next = UINT64_MAX, now = alb_now_monotonic();

	for (struct alb_pool_entry *e = svc->pool.head; e; e = e->next) {
		struct conn *c = conn_of(e);
		uint64_t d = UINT64_MAX;
		if (e->state == ALB_POOL_WAITING || e->state == ALB_POOL_ADMITTING)
			d = e->accepted_us + hs;
		else if (e->state == ALB_POOL_HANDSHAKE)
			d = e->accepted_us + hs + KILL_MARGIN_US;
		else if (e->state == ALB_POOL_ENDING && !c->killed && c->ending_us)
			d = c->ending_us + (uint64_t)ALB_TLS_END_GRACE_MS * 1000u;
		if (d < next)
			next = d;
	}
	if (next == UINT64_MAX) {
		svc->timer = alb_source_free(svc->timer);
		return;
	}
	uint64_t usec = next > now ? next - now : 1;
	int r = svc->timer ? alb_source_set_timer(svc->timer, usec)
			   : alb_loop_add_timer(svc->loop, usec, on_deadline, svc, &svc->timer);
	if (r < 0)
		alb_log_err(svc->ctx, "Failed to set the timer of the handshake deadlines: %s",
			    strerror(-r));
}

/*
 * After every change: the sessions waiting for admission, in the order of their
 * acceptance, are admitted if a bound allows it (ending the streams it takes);
 * free handshake slots go to the waiting room; the timer follows the deadlines.
 */
static void schedule(struct alb_tls_service *svc)
{
	uint64_t now = alb_now_monotonic();

	for (struct alb_pool_entry *e = svc->pool.head; e; e = e->next) {
		struct alb_pool_victim victims[ALB_POOL_VICTIMS_MAX], blocking;
		struct conn *c = conn_of(e);
		uint32_t n = 0;

		if (e->state != ALB_POOL_ADMITTING)
			continue;
		if (alb_pool_admit(&svc->pool, e, now, victims, &n, &blocking) == 0) {
			c->blocked = blocking.bound;
			c->blocked_count = blocking.count;
			c->blocked_holder_count = blocking.holder_count;
			snprintf(c->blocked_holder, sizeof(c->blocked_holder), "%s",
				 blocking.holder ? blocking.holder : "?");
			continue;
		}
		for (uint32_t i = 0; i < n; i++) {
			struct conn *v = conn_of(victims[i].entry);
			char why[256], text[ALB_TLS_CTL_TEXT_MAX];
			bound_text(svc, victims[i].bound, victims[i].count, victims[i].holder,
				   victims[i].holder_count, why, sizeof(why));
			snprintf(text, sizeof(text),
				 "ended: %s: its oldest stream ends for a new session", why);
			alb_log_info(svc->ctx, "%s (tenant '%s'): ending its stream for %s: %s",
				     v->peer, tenant_of(v), c->peer, why);
			conn_tell_end(svc, v, text);
		}
		struct alb_tls_ctl m = {.kind = ALB_TLS_CTL_ADMITTED};
		/* If it went, its process's end says so; if the word is lost, it would wait
		 * for ever: ended. */
		if (send(c->ctl, &m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof(m))
			conn_kill(svc, c);
	}
	struct alb_pool_entry *w;
	while ((w = alb_pool_next(&svc->pool)))
		if (conn_start(svc, conn_of(w)) < 0)
			break;
	arm_timer(svc);
}

static int on_deadline(alb_source *source, void *userdata)
{
	struct alb_tls_service *svc = userdata;
	uint32_t hs_ms = alb_tls_endpoint_get_handshake_ms(svc->ep);
	uint64_t hs = (uint64_t)hs_ms * 1000u, now = alb_now_monotonic();
	struct alb_pool_entry *next;

	for (struct alb_pool_entry *e = svc->pool.head; e; e = next) {
		struct conn *c = conn_of(e);
		next = e->next;
		switch (e->state) {
		case ALB_POOL_WAITING:
			if (now < e->accepted_us + hs)
				break;
			alb_log_info(svc->ctx,
				     "%s: no handshake slot within the handshake timeout (%u ms): "
				     "closed",
				     c->peer, hs_ms);
			conn_free(svc, c);
			break;
		case ALB_POOL_HANDSHAKE:
			if (now < e->accepted_us + hs + KILL_MARGIN_US)
				break;
			alb_log_info(svc->ctx,
				     "%s: not authenticated within the handshake timeout (%u ms): "
				     "killed",
				     c->peer, hs_ms);
			conn_kill(svc, c);
			break;
		case ALB_POOL_ADMITTING: {
			char why[256], text[ALB_TLS_CTL_TEXT_MAX];
			if (now < e->accepted_us + hs)
				break;
			bound_text(svc, c->blocked, c->blocked_count, c->blocked_holder,
				   c->blocked_holder_count, why, sizeof(why));
			snprintf(text, sizeof(text),
				 "busy: %s, and none of its sessions is a stream that could end "
				 "for this one within the handshake timeout (%u ms); try again "
				 "later",
				 why, hs_ms);
			alb_pool_set_state(&svc->pool, e, ALB_POOL_ENDING);
			conn_tell_end(svc, c, text);
			break;
		}
		case ALB_POOL_ENDING:
			if (!c->killed && c->ending_us &&
			    now >= c->ending_us + (uint64_t)ALB_TLS_END_GRACE_MS * 1000u) {
				alb_log_info(svc->ctx, "%s: did not end within %u ms: killed",
					     c->peer, ALB_TLS_END_GRACE_MS);
				conn_kill(svc, c);
			}
			break;
		default:
			break;
		}
	}
	schedule(svc);
	return 0;
}

/*
 * A session just authenticated (ADMITTING): refused at once if its tenant opens
 * sessions faster than the rate allows, before its policies are installed, its
 * command is run or a stream is ended for it. Never queued: waiting would hold a
 * process and a handshake slot for what the tenant has no right to yet.
 */
static void check_rate(struct alb_tls_service *svc, struct conn *c)
{
	char why[256], text[ALB_TLS_CTL_TEXT_MAX];
	uint64_t wait_us;

	if (alb_pool_rate_take(&svc->pool, c->e.tenant->name, alb_now_monotonic(), &wait_us))
		return;
	bound_text(svc, ALB_POOL_BOUND_RATE, 0, c->e.tenant->name, 0, why, sizeof(why));
	snprintf(text, sizeof(text), "busy: %s; try again in %llu ms", why,
		 (unsigned long long)((wait_us + 999u) / 1000u));
	alb_log_info(svc->ctx, "%s (tenant '%s'): refused: %s", c->peer, tenant_of(c), why);
	alb_pool_set_state(&svc->pool, &c->e, ALB_POOL_ENDING);
	conn_tell_end(svc, c, text);
}

/* A word from a session's process. */
static int on_ctl(alb_source *source, int fd, uint32_t events, void *userdata)
{
	struct conn *c = userdata;
	struct alb_tls_service *svc = c->svc;
	struct alb_tls_ctl m;

	/* A few words at a time: a process that floods its socket does not hold the loop
	 * (it has two words to say in its life). */
	for (int k = 0; k < 4; k++) {
		ssize_t n = recv(fd, &m, sizeof(m), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n != (ssize_t)sizeof(m)) {
			/* Closed, or nonsense: its exit says the rest. */
			c->ctl_source = alb_source_free(c->ctl_source);
			break;
		}
		m.text[sizeof(m.text) - 1] = '\0';
		if (m.kind == ALB_TLS_CTL_AUTHENTICATED && c->e.state == ALB_POOL_HANDSHAKE) {
			char tenant[ALB_POOL_TENANT_MAX];
			snprintf(tenant, sizeof(tenant), "%.*s", (int)sizeof(tenant) - 1, m.text);
			if (alb_pool_authenticated(&svc->pool, &c->e, tenant) < 0)
				conn_kill(svc, c);
			else
				check_rate(svc, c);
		} else if (m.kind == ALB_TLS_CTL_STREAMING && c->e.state == ALB_POOL_RUNNING) {
			alb_pool_set_state(&svc->pool, &c->e, ALB_POOL_STREAMING);
		} else if (c->e.state != ALB_POOL_ENDING) {
			/* Out of turn: a process that does not follow the protocol goes. */
			alb_log_warn(svc->ctx, "%s: its session process said something out of turn",
				     c->peer);
			c->ctl_source = alb_source_free(c->ctl_source);
			conn_kill(svc, c);
			break;
		}
	}
	schedule(svc);
	return 0;
}

static int on_session_exit(alb_source *source, int pid, int how, int status, void *userdata)
{
	struct alb_tls_service *svc = userdata;

	for (struct alb_pool_entry *e = svc->pool.head; e; e = e->next) {
		struct conn *c = conn_of(e);
		if (c->pid != pid)
			continue;
		c->pid = 0;
		svc->processes--;
		conn_free(svc, c);
		break;
	}
	schedule(svc);
	return 0;
}

static int on_retry(alb_source *source, void *userdata)
{
	struct alb_tls_service *svc = userdata;
	svc->retry = alb_source_free(svc->retry);
	if (svc->paused) {
		svc->paused = false;
		update_accepting(svc);
	}
	return 0;
}

/* Out of descriptors: the waiting room gives one up, or nothing is accepted until a
 * connection ends or a second has passed (memory short: a descriptor given up would
 * not help). True if one was given up. */
static bool make_room(struct alb_tls_service *svc, int error)
{
	struct alb_pool_entry *w =
	    (error == EMFILE || error == ENFILE) ? alb_pool_waiting_victim(&svc->pool) : NULL;

	if (w) {
		alb_log_info(svc->ctx, "%s: closed before its handshake: out of descriptors (%s)",
			     conn_of(w)->peer, strerror(error));
		conn_free(svc, conn_of(w));
		return true;
	}
	alb_log_warn(svc->ctx, "accept: %s: accepting again when a connection ends, or in 1 s",
		     strerror(error));
	svc->paused = true;
	update_accepting(svc);
	if (!svc->retry)
		(void)alb_loop_add_timer(svc->loop, 1000000, on_retry, svc, &svc->retry);
	return false;
}

/* Takes every connection there is (up to a batch): each starts a handshake, takes the
 * slot of a bigger holder's, or waits in the waiting room. */
static int on_accept(alb_source *source, int lfd, uint32_t events, void *userdata)
{
	struct alb_tls_service *svc = userdata;

	for (int i = 0; i < ACCEPT_BATCH && !svc->paused; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char key[ALB_POOL_SOURCE_MAX];

		/* Blocking, as a session wants it. */
		int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN)
				break;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				if (make_room(svc, errno))
					continue;
				break;
			}
			alb_log_warn(svc->ctx, "accept: %s", strerror(errno));
			break;
		}
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->svc = svc;
		c->fd = fd;
		c->ctl = -1;
		source_key(&ss, key, sizeof(key));
		alb_tls_peer_name(fd, c->peer, sizeof(c->peer));
		if (alb_pool_add(&svc->pool, &c->e, key, alb_now_monotonic()) < 0) {
			close(fd);
			free(c);
			continue;
		}
		struct alb_pool_entry *victim = NULL;
		bool start = alb_pool_arrive(&svc->pool, &c->e, &victim);
		if (victim && victim != &c->e)
			end_for_arrival(svc, conn_of(victim), c);
		if (start)
			(void)conn_start(svc, c); /* or it waits */
	}
	schedule(svc);
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

/* A part of n, at least 1. */
static uint32_t share(uint32_t n, uint32_t parts)
{
	return n / parts ? n / parts : 1;
}

/* The limits for max handshakes and sessions, with the shares not set given their defaults. */
static void set_limits(struct alb_tls_service *svc, uint32_t handshakes, uint32_t hs_share,
		       uint32_t sessions, uint32_t tenant_share, uint32_t source_share)
{
	struct alb_pool_limits *lim = &svc->pool.lim;

	lim->handshakes = handshakes;
	lim->handshakes_per_source = hs_share ? hs_share : share(handshakes, 4);
	lim->waiting = ALB_TLS_WAITING_PER_HANDSHAKE * handshakes;
	lim->sessions = sessions;
	lim->sessions_per_tenant = tenant_share ? tenant_share : share(sessions, 4);
	lim->sessions_per_source = source_share ? source_share : share(sessions, 2);
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
	struct alb_pool_limits lim = {0};
	alb_pool_init(&svc->pool, &lim);
	set_limits(svc, ALB_TLS_HANDSHAKES_DEFAULT, 0, max_sessions, 0, 0);
	alb_pool_set_rate(&svc->pool, ALB_TLS_TENANT_RATE_DEFAULT, ALB_TLS_TENANT_BURST_DEFAULT);
	int r = alb_loop_add_signal(loop, SIGHUP, on_hup, svc, &svc->hup);
	if (r < 0) {
		alb_tls_service_free(svc);
		return r;
	}
	*ret = svc;
	return 0;
}

ALB_EXPORT int alb_tls_service_set_handshakes(struct alb_tls_service *svc, uint32_t max,
					      uint32_t per_source)
{
	if (!svc || max < 1 || max > ALB_TLS_HANDSHAKES_MAX || per_source > ALB_TLS_HANDSHAKES_MAX)
		return -EINVAL;
	if (svc->listen_fd >= 0)
		return -EBUSY;
	const struct alb_pool_limits *lim = &svc->pool.lim;
	set_limits(svc, max, per_source, lim->sessions,
		   svc->tenant_share_set ? lim->sessions_per_tenant : 0,
		   svc->source_share_set ? lim->sessions_per_source : 0);
	svc->handshake_share_set = per_source != 0;
	return 0;
}

ALB_EXPORT int alb_tls_service_set_session_shares(struct alb_tls_service *svc, uint32_t per_tenant,
						  uint32_t per_source)
{
	if (!svc || per_tenant > ALB_TLS_SESSIONS_MAX || per_source > ALB_TLS_SESSIONS_MAX)
		return -EINVAL;
	if (svc->listen_fd >= 0)
		return -EBUSY;
	const struct alb_pool_limits *lim = &svc->pool.lim;
	set_limits(svc, lim->handshakes, svc->handshake_share_set ? lim->handshakes_per_source : 0,
		   lim->sessions, per_tenant, per_source);
	svc->tenant_share_set = per_tenant != 0;
	svc->source_share_set = per_source != 0;
	return 0;
}

ALB_EXPORT int alb_tls_service_set_tenant_rate(struct alb_tls_service *svc, uint32_t per_second,
					       uint32_t burst)
{
	if (!svc || per_second > ALB_TLS_TENANT_RATE_MAX || burst < 1 ||
	    burst > ALB_TLS_TENANT_BURST_MAX)
		return -EINVAL;
	if (svc->listen_fd >= 0)
		return -EBUSY;
	alb_pool_set_rate(&svc->pool, per_second, burst);
	return 0;
}

ALB_EXPORT struct alb_tls_service *alb_tls_service_free(struct alb_tls_service *svc)
{
	if (!svc)
		return NULL;
	svc->accept = alb_source_free(svc->accept);
	svc->timer = alb_source_free(svc->timer);
	if (svc->listen_fd >= 0)
		close(svc->listen_fd);
	svc->listen_fd = -1;
	/* Sessions in flight end with the endpoint; waiting connections are closed. */
	for (struct alb_pool_entry *e = svc->pool.head; e; e = e->next)
		if (conn_of(e)->pid > 0)
			kill(conn_of(e)->pid, SIGTERM);
	while (svc->pool.head) {
		struct conn *c = conn_of(svc->pool.head);
		if (c->pid > 0) {
			while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
				;
			c->pid = 0;
		}
		svc->paused = false; /* nothing to resume */
		conn_free(svc, c);
	}
	alb_pool_clear(&svc->pool);
	alb_source_free(svc->hup);
	alb_source_free(svc->retry);
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
	return svc ? svc->processes : 0;
}

void alb_tls_service_get_counts(const struct alb_tls_service *svc, uint32_t *ret_waiting,
				uint32_t *ret_handshakes, uint32_t *ret_sessions)
{
	*ret_waiting = svc->pool.n[ALB_POOL_WAITING];
	*ret_handshakes = alb_pool_handshakes(&svc->pool);
	*ret_sessions = alb_pool_sessions(&svc->pool);
}
