/* SPDX-License-Identifier: ISC */
/*
 * The TLS module: an endpoint's files (errors, CRLs, reload all or nothing),
 * sessions served in a forked child on loopback TCP or a socketpair, and the
 * client's side (destinations, connect and handshake failures, refusals); the
 * endpoint's service on the loop (a process per connection, the handshake pool,
 * reaping, SIGHUP, the end of the sessions with the service).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "test-common.h"

#include <albatross/tls.h>

#include "client-private.h"
#include "tls-endpoint-private.h"
#include "wire-private.h"
#include "x509-private.h"

#define P test_path

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* A CA "ca" with a server certificate for 127.0.0.1, and a second CA "other". */
static void make_pki(void)
{
	ck_assert_alb_ok(test_ctx, alb_x509_ca_generate(test_ctx, "ca", NULL, 0, 0, P("cacert.pem"),
							P("ca.key")));
	ck_assert_alb_ok(test_ctx, alb_x509_server_generate(test_ctx, P("cacert.pem"), P("ca.key"),
							    "127.0.0.1", 0, 0, NULL,
							    P("server.pem"), P("server.key")));
	ck_assert_alb_ok(test_ctx, alb_x509_ca_generate(test_ctx, "other", NULL, 0, 0,
							P("othercert.pem"), P("other.key")));
}

/* A leaf issued by ca_base ("ca" or "other") carrying unikernel-info on the path. */
static void make_leaf(const char *ca_base, const char *out)
{
	_cleanup_(alb_x509_ext_freep) alb_x509_ext *ext = NULL;
	_cleanup_(alb_name_freep) alb_name *root = NULL;
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL;
	char cert[64], key[64], leaf_key[64];

	ck_assert_int_eq(alb_name_parse(test_ctx, ":", &root), 0);
	ck_assert_int_eq(alb_msg_new(&msg, ALB_MSG_COMMAND, 0, root), 0);
	msg->cmd.kind = ALB_CMD_UNIKERNEL_INFO;
	ck_assert_alb_ok(test_ctx, alb_x509_ext_new_command(test_ctx, msg, &ext));
	snprintf(cert, sizeof(cert), "%scert.pem", ca_base);
	snprintf(key, sizeof(key), "%s.key", ca_base);
	snprintf(leaf_key, sizeof(leaf_key), "%s.key", out);
	ck_assert_alb_ok(test_ctx,
			 alb_x509_csr_generate(test_ctx, ".", ext, 0, P("leaf.req"), P(leaf_key)));
	ck_assert_int_eq(
	    alb_x509_csr_sign(test_ctx, P(cert), P(key), P("leaf.req"), 0, NULL, P(out)),
	    ALB_X509_CERT_CLIENT);
}

static alb_tls_endpoint *endpoint(void)
{
	alb_tls_endpoint *ep = NULL;
	ck_assert_alb_ok(test_ctx, alb_tls_endpoint_new(test_ctx, P("cacert.pem"), P("server.pem"),
							P("server.key"), &ep));
	/* No daemon there: a command that gets that far is refused as unavailable. */
	ck_assert_int_eq(alb_tls_endpoint_set_rundir(ep, test_tmpdir), 0);
	/* Generous: no session that is only slow (a busy machine, a sanitizer build) ends. */
	ck_assert_int_eq(alb_tls_endpoint_set_timeouts(ep, 60000, 60000), 0);
	return ep;
}

START_TEST(test_files)
{
	alb_tls_endpoint *ep = NULL;

	make_pki();
	ck_assert_int_eq(
	    alb_tls_endpoint_new(test_ctx, P("missing.pem"), P("server.pem"), P("server.key"), &ep),
	    -ENOENT);
	ck_assert_ptr_nonnull(strstr(alb_ctx_last_error(test_ctx), "missing.pem"));
	write_file(P("junk.pem"), "not a certificate\n");
	ck_assert_int_eq(
	    alb_tls_endpoint_new(test_ctx, P("junk.pem"), P("server.pem"), P("server.key"), &ep),
	    -EBADMSG);
	/* A key that is not the certificate's. */
	ck_assert_int_eq(
	    alb_tls_endpoint_new(test_ctx, P("cacert.pem"), P("server.pem"), P("other.key"), &ep),
	    -EBADMSG);
	ck_assert_ptr_null(ep);
	ck_assert_int_eq(
	    alb_tls_endpoint_new(test_ctx, NULL, P("server.pem"), P("server.key"), &ep), -EINVAL);

	ep = endpoint();
	ck_assert_int_eq(alb_tls_endpoint_set_rundir(ep, ""), -EINVAL);
	ck_assert_int_eq(alb_tls_endpoint_add_crl(ep, P("missing-crl.pem")), -ENOENT);
	ck_assert_int_eq(alb_tls_endpoint_add_crl(ep, P("junk.pem")), -EBADMSG);
	const char *serial = "0a0b";
	ck_assert_alb_ok(test_ctx, alb_x509_crl_revoke(test_ctx, P("cacert.pem"), P("ca.key"),
						       P("crl.pem"), &serial, 1, 0));
	ck_assert_alb_ok(test_ctx, alb_tls_endpoint_add_crl(ep, P("crl.pem")));
	ck_assert_alb_ok(test_ctx, alb_tls_endpoint_reload(ep));
	/* All or nothing: a CRL gone fails the reload, and the endpoint keeps what it had. */
	ck_assert_int_eq(unlink(P("crl.pem")), 0);
	ck_assert_int_eq(alb_tls_endpoint_reload(ep), -ENOENT);
	ck_assert_ptr_nonnull(strstr(alb_ctx_last_error(test_ctx), "crl.pem"));
	alb_tls_endpoint_free(ep);
	ck_assert_ptr_null(alb_tls_endpoint_free(NULL));
}
END_TEST

/* Serves one session in a child on a loopback listener: returns the port and pid. */
static pid_t serve_once(alb_tls_endpoint *ep, int *ret_port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(l, 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(l, 4), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	*ret_port = ntohs(sa.sin_port);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = accept(l, NULL, NULL);
		if (fd < 0)
			_exit(100);
		int r = alb_tls_endpoint_serve(ep, fd, fd, "test");
		_exit(r == 0 ? 0 : r == -EACCES ? 13 : r == -ETIMEDOUT ? 62 : 1);
	}
	close(l);
	return pid;
}

static int wait_child(pid_t pid)
{
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static int info_over_tls(int port, const char *cert, const char *key, const char *server_ca,
			 alb_client **ret_client)
{
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL, *reply = NULL;
	_cleanup_(alb_name_freep) alb_name *root = NULL;
	char dest[64];
	int r;

	snprintf(dest, sizeof(dest), "127.0.0.1:%d", port);
	r = alb_client_connect_tls(test_ctx, dest, cert, key, server_ca, 60000, ret_client);
	if (r < 0)
		return r;
	ck_assert(alb_client_is_remote(*ret_client));
	ck_assert_int_eq(alb_name_parse(test_ctx, ":", &root), 0);
	ck_assert_int_eq(alb_msg_new(&msg, ALB_MSG_COMMAND, 0, root), 0);
	msg->cmd.kind = ALB_CMD_UNIKERNEL_INFO;
	return alb_client_request(*ret_client, msg, &reply);
}

START_TEST(test_refused_chain)
{
	alb_client *client = NULL;
	int port;

	make_pki();
	make_leaf("other", "stranger.pem");
	alb_tls_endpoint *ep = endpoint();
	pid_t pid = serve_once(ep, &port);
	int r =
	    info_over_tls(port, P("stranger.pem"), P("stranger.pem.key"), P("cacert.pem"), &client);
	ck_assert_int_eq(r, -EPERM);
	ck_assert(alb_client_endpoint_refused(client));
	ck_assert_ptr_nonnull(strstr(alb_ctx_last_error(test_ctx), "not issued by this endpoint"));
	alb_client_free(client);
	ck_assert_int_eq(wait_child(pid), 13); /* -EACCES */
	alb_tls_endpoint_free(ep);
}
END_TEST

START_TEST(test_daemon_unavailable)
{
	alb_client *client = NULL;
	int port;

	make_pki();
	make_leaf("ca", "leaf.pem");
	alb_tls_endpoint *ep = endpoint();
	pid_t pid = serve_once(ep, &port);
	int r = info_over_tls(port, P("leaf.pem"), P("leaf.pem.key"), P("cacert.pem"), &client);
	/* Accepted, but nothing serves the command: a failure of the command, not a refusal. */
	ck_assert_int_eq(r, -EAGAIN);
	ck_assert(!alb_client_endpoint_refused(client));
	ck_assert_msg(strstr(alb_ctx_last_error(test_ctx), "albatrossd is not available"), "%s",
		      alb_ctx_last_error(test_ctx));
	/* A remote client carries one command, its certificate's. */
	_cleanup_(alb_name_freep) alb_name *root = NULL;
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL, *reply = NULL;
	ck_assert_int_eq(alb_name_parse(test_ctx, ":", &root), 0);
	ck_assert_int_eq(alb_msg_new(&msg, ALB_MSG_COMMAND, 0, root), 0);
	msg->cmd.kind = ALB_CMD_UNIKERNEL_INFO;
	ck_assert_int_eq(alb_client_request(client, msg, &reply), -EINVAL);
	alb_client_free(client);
	ck_assert_int_eq(wait_child(pid), 1);
	alb_tls_endpoint_free(ep);
}
END_TEST

START_TEST(test_client_errors)
{
	alb_client *client = NULL;
	int port;

	make_pki();
	make_leaf("ca", "leaf.pem");
	static const char *const bad[] = {"",		"host",	   "host:",  ":1",   "host:0",
					  "host:65536", "host:1x", "[::1]1", "a:b:c"};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		ck_assert_int_eq(alb_client_connect_tls(test_ctx, bad[i], P("leaf.pem"),
							P("leaf.pem.key"), P("cacert.pem"), 0,
							&client),
				 -EINVAL);
	/* Unusable files: refused before connecting. */
	ck_assert_int_eq(alb_client_connect_tls(test_ctx, "127.0.0.1:1", P("leaf.pem"),
						P("missing.key"), P("cacert.pem"), 0, &client),
			 -EKEYREJECTED);
	ck_assert_ptr_nonnull(strstr(alb_ctx_last_error(test_ctx), "missing.key"));

	/* A server whose certificate is not from the CA we trust. */
	alb_tls_endpoint *ep = endpoint();
	pid_t pid = serve_once(ep, &port);
	int r = info_over_tls(port, P("leaf.pem"), P("leaf.pem.key"), P("othercert.pem"), &client);
	ck_assert_int_eq(r, -EKEYREJECTED);
	ck_assert_ptr_nonnull(
	    strstr(alb_ctx_last_error(test_ctx), "server's certificate is not accepted"));
	ck_assert_ptr_null(client);
	ck_assert_int_ne(wait_child(pid), 0);
	/* Nobody listens there now. */
	r = info_over_tls(port, P("leaf.pem"), P("leaf.pem.key"), P("cacert.pem"), &client);
	ck_assert_int_eq(r, -ECONNREFUSED);
	alb_tls_endpoint_free(ep);
}
END_TEST

START_TEST(test_not_tls)
{
	int sv[2];

	make_pki();
	alb_tls_endpoint *ep = endpoint();
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	static const char junk[] = "GET / HTTP/1.0\r\n\r\n";
	ck_assert_int_eq(write(sv[1], junk, sizeof(junk) - 1), (ssize_t)sizeof(junk) - 1);
	ck_assert_int_eq(alb_tls_endpoint_serve(ep, sv[0], sv[0], "junk"), -EPROTO);
	ck_assert_ptr_nonnull(strstr(alb_ctx_last_error(test_ctx), "TLS handshake failed"));
	close(sv[0]);
	close(sv[1]);

	/* A peer that says nothing: the handshake timeout ends the session. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(alb_tls_endpoint_set_timeouts(ep, 200, 0), 0);
	ck_assert_int_eq(alb_tls_endpoint_serve(ep, sv[0], sv[0], "silent"), -ETIMEDOUT);
	close(sv[0]);
	close(sv[1]);
	ck_assert_int_eq(alb_tls_endpoint_serve(ep, -1, 1, NULL), -EINVAL);
	alb_tls_endpoint_free(ep);
}
END_TEST

/* ---- the service on the loop ------------------------------------------------------------ */

static alb_loop *loop;
static char logged[16384];

static void log_fn(alb_ctx *ctx, int priority, const char *message, void *userdata)
{
	size_t n = strlen(logged);
	snprintf(logged + n, sizeof(logged) - n, "%s\n", message);
}

static void service_setup(void)
{
	alb_ctx_set_log_fn(test_ctx, log_fn, NULL);
	alb_ctx_set_log_priority(test_ctx, ALB_LOG_DEBUG);
	logged[0] = '\0';
	ck_assert_alb_ok(test_ctx, alb_loop_new(test_ctx, &loop));
}

static void service_teardown(void)
{
	loop = alb_loop_unref(loop);
}

/* A listening loopback socket on a port of the kernel's choice. */
static int listen_loopback(int *ret_port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(l, 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(l, 16), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	*ret_port = ntohs(sa.sin_port);
	return l;
}

static int connect_loopback(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Runs the loop until cond holds, for at most 30 s. */
#define RUN_UNTIL(cond)                                                                            \
	do {                                                                                       \
		uint64_t _deadline = alb_now_monotonic() + 30000000;                               \
		while (!(cond)) {                                                                  \
			ck_assert_msg(alb_now_monotonic() < _deadline, "timed out: %s", #cond);    \
			ck_assert_int_ge(alb_loop_run_once(loop, 20), 0);                          \
		}                                                                                  \
	} while (0)

/* Whether the endpoint closed fd (end of file or a reset), without blocking. */
static bool closed_by_peer(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;
	if (poll(&p, 1, 0) <= 0)
		return false;
	return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

START_TEST(test_service_bounds)
{
	struct alb_tls_service *svc = NULL;
	int port;

	make_pki();
	alb_tls_endpoint *ep = endpoint();
	ck_assert_int_eq(alb_tls_service_new(test_ctx, loop, ep, 0, &svc), -EINVAL);
	ck_assert_int_eq(alb_tls_service_new(test_ctx, loop, ep, ALB_TLS_SESSIONS_MAX + 1, &svc),
			 -EINVAL);
	ck_assert_ptr_null(svc);
	ck_assert_alb_ok(test_ctx, alb_tls_service_new(test_ctx, loop, ep, 2, &svc));
	ck_assert_int_eq(alb_tls_service_listen_tcp(svc, "--listen", "nope"), -EINVAL);
	ck_assert_last_error_has(test_ctx, "invalid --listen 'nope'");
	int l = listen_loopback(&port);
	close(l);
	char spec[32];
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", port);
	ck_assert_alb_ok(test_ctx, alb_tls_service_listen_tcp(svc, "--listen", spec));
	ck_assert_int_eq(alb_tls_service_listen_tcp(svc, "--listen", spec), -EEXIST);
	/* It listens: a connection becomes a session. */
	int fd = connect_loopback(port);
	RUN_UNTIL(alb_tls_service_session_count(svc) == 1);
	/* The name of the other end of fd: the endpoint's address. */
	char peer[128];
	alb_tls_peer_name(fd, peer, sizeof(peer));
	ck_assert_str_eq(peer, spec);
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	alb_tls_peer_name(sv[0], peer, sizeof(peer));
	ck_assert_str_eq(peer, "inetd client");
	close(sv[0]);
	close(sv[1]);
	/* Freed with a session in flight: the session ends (SIGTERM), its process is reaped,
	 * and nothing listens any more. */
	svc = alb_tls_service_free(svc);
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ck_assert_int_eq(poll(&p, 1, 10000), 1);
	ck_assert(closed_by_peer(fd));
	close(fd);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons((uint16_t)port)};
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), -1);
	ck_assert_int_eq(errno, ECONNREFUSED);
	close(fd);
	alb_tls_endpoint_free(ep);
}
END_TEST

/* A handshake pool of 1: the second connection waits without a process (the waiting
 * room) while the first handshakes; neither authenticates, both are closed by their
 * deadline (counted from the accept), and every process is reaped. */
START_TEST(test_service_handshake_pool)
{
	struct alb_tls_service *svc = NULL;
	uint32_t waiting, handshakes, sessions;
	bool saw_waiting = false;
	int port;

	make_pki();
	alb_tls_endpoint *ep = endpoint();
	ck_assert_int_eq(alb_tls_endpoint_set_timeouts(ep, 600, 0), 0);
	ck_assert_alb_ok(test_ctx, alb_tls_service_new(test_ctx, loop, ep, 1, &svc));
	ck_assert_int_eq(alb_tls_service_set_handshakes(svc, 0, 0), -EINVAL);
	ck_assert_int_eq(alb_tls_service_set_handshakes(svc, ALB_TLS_HANDSHAKES_MAX + 1, 0),
			 -EINVAL);
	ck_assert_int_eq(alb_tls_service_set_handshakes(svc, 1, 0), 0);
	ck_assert_int_eq(alb_tls_service_set_session_shares(svc, 0, 0), 0);
	ck_assert_alb_ok(test_ctx, alb_tls_service_listen_fd(svc, listen_loopback(&port)));
	/* Set before listening only. */
	ck_assert_int_eq(alb_tls_service_set_handshakes(svc, 2, 0), -EBUSY);
	ck_assert_int_eq(alb_tls_service_set_session_shares(svc, 1, 1), -EBUSY);
	int a = connect_loopback(port), b = connect_loopback(port);
	bool a_end = false, b_end = false;
	uint64_t start = alb_now_monotonic();
	while (!a_end || !b_end) {
		ck_assert_msg(alb_now_monotonic() - start < 30000000, "the connections stay");
		ck_assert_int_ge(alb_loop_run_once(loop, 10), 0);
		ck_assert_uint_le(alb_tls_service_session_count(svc), 1);
		alb_tls_service_get_counts(svc, &waiting, &handshakes, &sessions);
		ck_assert_uint_le(handshakes, 1);
		ck_assert_uint_eq(sessions, 0);
		saw_waiting |= waiting == 1;
		a_end = a_end || closed_by_peer(a);
		b_end = b_end || closed_by_peer(b);
	}
	ck_assert(saw_waiting);
	RUN_UNTIL(alb_tls_service_session_count(svc) == 0);
	alb_tls_service_get_counts(svc, &waiting, &handshakes, &sessions);
	ck_assert_uint_eq(waiting + handshakes + sessions, 0);
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
	close(a);
	close(b);
	/* It accepts again. */
	a = connect_loopback(port);
	RUN_UNTIL(alb_tls_service_session_count(svc) == 1);
	RUN_UNTIL(alb_tls_service_session_count(svc) == 0);
	close(a);
	alb_tls_service_free(svc);
	alb_tls_endpoint_free(ep);
}
END_TEST

static int client_status = -1;

static int on_client_exit(alb_source *source, int pid, int how, int status, void *userdata)
{
	client_status = how == ALB_CHILD_EXITED ? status : 1000 + status;
	return 0;
}

/* A whole session through the service: a client in a process of its own gets the
 * endpoint's answer (no daemon: -EAGAIN) while the loop runs. */
START_TEST(test_service_session)
{
	struct alb_tls_service *svc = NULL;
	alb_source *child = NULL;
	int port;

	make_pki();
	make_leaf("ca", "leaf.pem");
	alb_tls_endpoint *ep = endpoint();
	ck_assert_alb_ok(test_ctx, alb_tls_service_new(test_ctx, loop, ep, 4, &svc));
	ck_assert_alb_ok(test_ctx, alb_tls_service_listen_fd(svc, listen_loopback(&port)));
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		alb_client *client = NULL;
		int r =
		    info_over_tls(port, P("leaf.pem"), P("leaf.pem.key"), P("cacert.pem"), &client);
		alb_client_free(client);
		_exit(r < 0 ? -r : 0);
	}
	ck_assert_alb_ok(test_ctx, alb_loop_add_child(loop, pid, -1, on_client_exit, NULL, &child));
	RUN_UNTIL(client_status >= 0);
	ck_assert_int_eq(client_status, EAGAIN);
	RUN_UNTIL(alb_tls_service_session_count(svc) == 0);
	alb_source_free(child);
	alb_tls_service_free(svc);
	alb_tls_endpoint_free(ep);
}
END_TEST

/* SIGHUP reads the files again, or says why not and keeps the old ones. */
START_TEST(test_service_reload)
{
	struct alb_tls_service *svc = NULL;

	make_pki();
	alb_tls_endpoint *ep = endpoint();
	const char *serial = "0a0b";
	ck_assert_alb_ok(test_ctx, alb_x509_crl_revoke(test_ctx, P("cacert.pem"), P("ca.key"),
						       P("crl.pem"), &serial, 1, 0));
	ck_assert_alb_ok(test_ctx, alb_tls_endpoint_add_crl(ep, P("crl.pem")));
	ck_assert_alb_ok(test_ctx, alb_tls_service_new(test_ctx, loop, ep, 1, &svc));
	ck_assert_int_eq(kill(getpid(), SIGHUP), 0);
	RUN_UNTIL(strstr(logged, "Reloaded the CA, certificate, key and 1 CRL file(s)"));
	ck_assert_int_eq(unlink(P("crl.pem")), 0);
	ck_assert_int_eq(kill(getpid(), SIGHUP), 0);
	RUN_UNTIL(strstr(logged, "Reload failed, keeping the old files"));
	ck_assert_ptr_nonnull(strstr(logged, "crl.pem"));
	alb_tls_service_free(svc);
	alb_tls_endpoint_free(ep);
}
END_TEST

static Suite *tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("endpoint");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_add_checked_fixture(tc, tc_tmpdir_setup, tc_tmpdir_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_files);
	tcase_add_test(tc, test_refused_chain);
	tcase_add_test(tc, test_daemon_unavailable);
	tcase_add_test(tc, test_client_errors);
	tcase_add_test(tc, test_not_tls);
	suite_add_tcase(s, tc);

	tc = tcase_create("service");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_add_checked_fixture(tc, tc_tmpdir_setup, tc_tmpdir_teardown);
	tcase_add_checked_fixture(tc, service_setup, service_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_service_bounds);
	tcase_add_test(tc, test_service_handshake_pool);
	tcase_add_test(tc, test_service_session);
	tcase_add_test(tc, test_service_reload);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(tls_suite());
}
