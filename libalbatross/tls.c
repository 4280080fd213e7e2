/* SPDX-License-Identifier: ISC */
/*
 * Remote sessions over TLS 1.3 (docs/tls.md): the endpoint's side (one
 * session per call, blocking, with timeouts) and the client's transport.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <albatross/tls.h>

#include "dl-gnutls-private.h" /* before any header that includes GnuTLS's */

#include "client-private.h"
#include "tls-private.h"
#include "ctx-private.h"
#include "fileio-private.h"
#include "hostport-private.h"
#include "frame-private.h"
#include "wire-private.h"
#include "x509-private.h"

/* TLS 1.3 and nothing else, on either side. */
#define PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3"
/* The largest frame a client may send: a chunk of data and its message around it. */
#define CLIENT_FRAME_MAX (ALB_CHUNK_MAX + 4096u)
/* After refusing an upload, how long its remaining chunks are read (and dropped), ms. */
#define DRAIN_MS	2000
#define RECORD_BUF	(64u << 10)
#define SEQ_POLICY_BASE 1000u
/* After a failed handshake, how long the alert is given to arrive: short, so that
 * unauthenticated connections hold a session slot as briefly as possible. */
#define PREAUTH_LINGER_MS 300
/* The largest timeout, ms (poll() takes an int). */
#define TIMEOUT_MAX_MS (86400u * 1000u)

/* A PEM file in memory: the server's certificate or key. */
struct pem {
	uint8_t *data;
	size_t len;
};

struct alb_tls_endpoint {
	alb_ctx *ctx;
	char *ca_path, *cert_path, *key_path;
	char *crls[ALB_TLS_CRLS_MAX];
	uint32_t n_crls;
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
	alb_x509_chain *anchor;
	struct pem cert, key; /* the server's files as last read */
	char *rundir;
	uint32_t handshake_ms, idle_ms;
	uint32_t min_rate, rate_window_ms; /* of an upload: bytes/s over windows of ms; 0: none */
};

/* GnuTLS's text without the whitespace it may end with (its verification status print
 * ends each sentence with a space), into buf. */
static const char *tls_text(char *buf, size_t size, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t'))
		n--;
	snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), s ? s : "");
	return buf;
}

static const char *orempty(const char *s)
{
	return s ? s : "";
}

/* ---- credentials ------------------------------------------------------------------------ */

static void pem_clear(struct pem *p)
{
	if (p->data) {
		explicit_bzero(p->data, p->len);
		free(p->data);
	}
	*p = (struct pem){0};
}

/* GnuTLS takes a key that is not the certificate's: the handshakes would fail. */
static int check_key_matches(alb_tls_endpoint *ep, const struct pem *cert, const struct pem *key)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_x509_privkey_t pk = NULL;
	uint8_t a[64], b[64];
	size_t alen = sizeof(a), blen = sizeof(b);
	gnutls_datum_t cd = {cert->data, (unsigned)cert->len}, kd = {key->data, (unsigned)key->len};
	int g;

	if (gnutls_x509_crt_init(&crt) < 0)
		return -ENOMEM;
	if (gnutls_x509_privkey_init(&pk) < 0) {
		gnutls_x509_crt_deinit(crt);
		return -ENOMEM;
	}
	g = gnutls_x509_crt_import(crt, &cd, GNUTLS_X509_FMT_PEM);
	if (g >= 0)
		g = gnutls_x509_privkey_import(pk, &kd, GNUTLS_X509_FMT_PEM);
	if (g >= 0)
		g = gnutls_x509_privkey_get_key_id(pk, GNUTLS_KEYID_USE_SHA256, a, &alen);
	if (g >= 0)
		g = gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, b, &blen);
	gnutls_x509_privkey_deinit(pk);
	gnutls_x509_crt_deinit(crt);
	if (g < 0)
		return alb_error(ep->ctx, EBADMSG, "the certificate '%s' and key '%s': %s",
				 ep->cert_path, ep->key_path, gnutls_strerror(g));
	if (alen != blen || memcmp(a, b, alen) != 0)
		return alb_error(ep->ctx, EBADMSG, "the key '%s' is not the one of '%s'",
				 ep->key_path, ep->cert_path);
	return 0;
}

/*
 * Reads the server's certificate and key. After dropping privileges the key
 * (mode 0600, root's) may not be readable any more: then a reload keeps what was
 * read at the start, and says so.
 */
static int read_server_files(alb_tls_endpoint *ep, struct pem *cert, struct pem *key)
{
	int r1 = alb_read_file(ep->ctx, ep->cert_path, ALB_X509_FILE_MAX, &cert->data, &cert->len);
	int r2 =
	    r1 < 0 ? r1
		   : alb_read_file(ep->ctx, ep->key_path, ALB_X509_FILE_MAX, &key->data, &key->len);
	if (r1 >= 0 && r2 >= 0)
		return 0;
	pem_clear(cert);
	pem_clear(key);
	int r = r1 < 0 ? r1 : r2;
	if ((r == -EACCES || r == -EPERM) && ep->key.data) {
		alb_log_notice(ep->ctx,
			       "Cannot read '%s' or '%s' now (%s): keeping the certificate and key "
			       "read at the start",
			       ep->cert_path, ep->key_path, strerror(-r));
		cert->data = malloc(ep->cert.len);
		key->data = malloc(ep->key.len);
		if (!cert->data || !key->data) {
			pem_clear(cert);
			pem_clear(key);
			return -ENOMEM;
		}
		memcpy(cert->data, ep->cert.data, cert->len = ep->cert.len);
		memcpy(key->data, ep->key.data, key->len = ep->key.len);
		return 0;
	}
	return r; /* alb_read_file() named the file */
}

/* Everything of the files: new credentials, anchor and server files, or an error. */
static int load(alb_tls_endpoint *ep, gnutls_certificate_credentials_t *ret_cred,
		alb_x509_chain **ret_anchor, struct pem *ret_cert, struct pem *ret_key)
{
	gnutls_certificate_credentials_t cred = NULL;
	_cleanup_(alb_x509_chain_freep) alb_x509_chain *anchor = NULL;
	struct pem cert = {0}, key = {0};
	int g, r;

	if (access(ep->ca_path, R_OK) < 0)
		return alb_error(ep->ctx, errno, "Failed to read the CA '%s': %s", ep->ca_path,
				 strerror(errno));
	if ((r = alb_x509_chain_new(&anchor)) < 0)
		return r;
	if ((r = alb_x509_chain_read_file(ep->ctx, anchor, ep->ca_path)) < 0)
		return alb_error_prefix(ep->ctx, r, "the CA '%s'", ep->ca_path);
	if ((r = read_server_files(ep, &cert, &key)) < 0)
		return r;
	if ((r = check_key_matches(ep, &cert, &key)) < 0)
		goto fail;
	r = -ENOMEM;
	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		goto fail;
	/* The anchor alone is trusted: the first certificate of the file, the one that
	 * chains are evaluated against. */
	g = gnutls_certificate_set_x509_trust(cred, &anchor->crts[0], 1);
	if (g <= 0) {
		r = alb_error(ep->ctx, EBADMSG, "the CA '%s': %s", ep->ca_path,
			      g < 0 ? gnutls_strerror(g) : "no certificate");
		goto fail;
	}
	gnutls_datum_t cd = {cert.data, (unsigned)cert.len}, kd = {key.data, (unsigned)key.len};
	g = gnutls_certificate_set_x509_key_mem2(cred, &cd, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (g < 0) {
		r = alb_error(ep->ctx, EBADMSG, "the certificate '%s' and key '%s': %s",
			      ep->cert_path, ep->key_path, gnutls_strerror(g));
		goto fail;
	}
	for (uint32_t i = 0; i < ep->n_crls; i++) {
		if (access(ep->crls[i], R_OK) < 0) {
			r = alb_error(ep->ctx, errno, "Failed to read the CRL '%s': %s",
				      ep->crls[i], strerror(errno));
			goto fail;
		}
		g = gnutls_certificate_set_x509_crl_file(cred, ep->crls[i], GNUTLS_X509_FMT_PEM);
		if (g <= 0) {
			r = alb_error(ep->ctx, EBADMSG, "the CRL '%s': %s", ep->crls[i],
				      g < 0 ? gnutls_strerror(g) : "no CRL in it");
			goto fail;
		}
	}
	*ret_cred = cred;
	*ret_anchor = TAKE_PTR(anchor);
	*ret_cert = cert;
	*ret_key = key;
	return 0;
fail:
	if (cred)
		gnutls_certificate_free_credentials(cred);
	pem_clear(&cert);
	pem_clear(&key);
	return r;
}

ALB_EXPORT int alb_tls_endpoint_new(alb_ctx *ctx, const char *ca_path, const char *cert_path,
				    const char *key_path, alb_tls_endpoint **ret_endpoint)
{
	alb_tls_endpoint *ep;
	int r;

	if (!ctx || !ca_path || !cert_path || !key_path || !ret_endpoint)
		return -EINVAL;
	if ((r = alb_dl_gnutls_load(ctx)) < 0)
		return r;
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	ep->ctx = alb_ctx_ref(ctx);
	ep->handshake_ms = ALB_TLS_ENDPOINT_HANDSHAKE_TIMEOUT_DEFAULT;
	ep->idle_ms = ALB_TLS_IDLE_TIMEOUT_DEFAULT;
	ep->min_rate = ALB_TLS_MIN_RATE_DEFAULT;
	ep->rate_window_ms = ALB_TLS_RATE_WINDOW_DEFAULT;
	ep->ca_path = strdup(ca_path);
	ep->cert_path = strdup(cert_path);
	ep->key_path = strdup(key_path);
	ep->rundir = strdup("/run/albatross");
	if (!ep->ca_path || !ep->cert_path || !ep->key_path || !ep->rundir) {
		alb_tls_endpoint_free(ep);
		return -ENOMEM;
	}
	if (gnutls_priority_init(&ep->prio, PRIORITY, NULL) < 0) {
		alb_tls_endpoint_free(ep);
		return alb_error(ctx, EINVAL, "GnuTLS does not support TLS 1.3");
	}
	r = load(ep, &ep->cred, &ep->anchor, &ep->cert, &ep->key);
	if (r < 0) {
		alb_tls_endpoint_free(ep);
		return r;
	}
	*ret_endpoint = ep;
	return 0;
}

ALB_EXPORT alb_tls_endpoint *alb_tls_endpoint_free(alb_tls_endpoint *ep)
{
	if (!ep)
		return NULL;
	if (ep->cred)
		gnutls_certificate_free_credentials(ep->cred);
	if (ep->prio)
		gnutls_priority_deinit(ep->prio);
	alb_x509_chain_free(ep->anchor);
	pem_clear(&ep->cert);
	pem_clear(&ep->key);
	for (uint32_t i = 0; i < ep->n_crls; i++)
		free(ep->crls[i]);
	free(ep->ca_path);
	free(ep->cert_path);
	free(ep->key_path);
	free(ep->rundir);
	alb_ctx_unref(ep->ctx);
	free(ep);
	return NULL;
}

ALB_EXPORT int alb_tls_endpoint_add_crl(alb_tls_endpoint *ep, const char *crl_path)
{
	if (!ep || !crl_path || !crl_path[0])
		return -EINVAL;
	if (ep->n_crls >= ALB_TLS_CRLS_MAX)
		return alb_error(ep->ctx, E2BIG, "at most %u CRL files", ALB_TLS_CRLS_MAX);
	ep->crls[ep->n_crls] = strdup(crl_path);
	if (!ep->crls[ep->n_crls])
		return -ENOMEM;
	ep->n_crls++;
	int r = alb_tls_endpoint_reload(ep);
	if (r < 0) {
		ep->n_crls--;
		free(ep->crls[ep->n_crls]);
		ep->crls[ep->n_crls] = NULL;
	}
	return r;
}

uint32_t alb_tls_endpoint_get_crl_count(const alb_tls_endpoint *ep)
{
	return ep ? ep->n_crls : 0;
}

ALB_EXPORT int alb_tls_endpoint_reload(alb_tls_endpoint *ep)
{
	gnutls_certificate_credentials_t cred = NULL;
	alb_x509_chain *anchor = NULL;
	struct pem cert = {0}, key = {0};

	if (!ep)
		return -EINVAL;
	int r = load(ep, &cred, &anchor, &cert, &key);
	if (r < 0)
		return r;
	gnutls_certificate_free_credentials(ep->cred);
	alb_x509_chain_free(ep->anchor);
	pem_clear(&ep->cert);
	pem_clear(&ep->key);
	ep->cred = cred;
	ep->anchor = anchor;
	ep->cert = cert;
	ep->key = key;
	return 0;
}

ALB_EXPORT int alb_tls_endpoint_set_rundir(alb_tls_endpoint *ep, const char *rundir)
{
	if (!ep || !rundir || !rundir[0] || strlen(rundir) > 80)
		return -EINVAL;
	char *copy = strdup(rundir);
	if (!copy)
		return -ENOMEM;
	free(ep->rundir);
	ep->rundir = copy;
	return 0;
}

ALB_EXPORT int alb_tls_endpoint_set_timeouts(alb_tls_endpoint *ep, uint32_t handshake_ms,
					     uint32_t idle_ms)
{
	if (!ep || handshake_ms > TIMEOUT_MAX_MS || idle_ms > TIMEOUT_MAX_MS)
		return -EINVAL;
	if (handshake_ms)
		ep->handshake_ms = handshake_ms;
	if (idle_ms)
		ep->idle_ms = idle_ms;
	return 0;
}

ALB_EXPORT int alb_tls_endpoint_set_min_rate(alb_tls_endpoint *ep, uint32_t bytes_per_s,
					     uint32_t window_ms)
{
	if (!ep || (window_ms && (window_ms < 1000 || window_ms > TIMEOUT_MAX_MS)))
		return -EINVAL;
	ep->min_rate = bytes_per_s;
	ep->rate_window_ms = window_ms ? window_ms : ALB_TLS_RATE_WINDOW_DEFAULT;
	return 0;
}

uint32_t alb_tls_endpoint_get_handshake_ms(const alb_tls_endpoint *ep)
{
	return ep->handshake_ms;
}

/* ---- a session -------------------------------------------------------------------------- */

struct session {
	alb_tls_endpoint *ep;
	alb_ctx *ctx;
	const char *peer;
	gnutls_session_t tls;
	int in_fd;
	alb_frame_reader *from_client;
	/* the daemon */
	int dfd;
	alb_frame_reader *from_daemon;
	uint8_t *out; /* a frame on its way to the daemon */
	size_t out_len, out_off;
	char who[160];			   /* the leaf's name and path, for messages */
	char behalf[ALB_ON_BEHALF_OF_MAX]; /* the commands' on-behalf-of: leaf, serial, peer */
	int ctl_fd;			   /* to the service (tls-private.h), or -1 */
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Writes all of buf to the client. 0 or -ECONNRESET. */
static int client_write(struct session *s, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = gnutls_record_send(s->tls, buf, len);
		if (n == GNUTLS_E_INTERRUPTED)
			continue;
		/* SO_SNDTIMEO ran out: the client has not read for the idle timeout. */
		if (n == GNUTLS_E_AGAIN) {
			alb_log_notice(s->ctx, "%s%s%s: the client read nothing for %u ms: ended",
				       s->peer, s->who[0] ? " " : "", s->who, s->ep->idle_ms);
			return alb_error(s->ctx, ETIMEDOUT,
					 "%s: the client read nothing for %u ms: session ended",
					 s->peer, s->ep->idle_ms);
		}
		if (n < 0)
			return alb_error(s->ctx, ECONNRESET, "%s: Failed to send: %s", s->peer,
					 gnutls_strerror((int)n));
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Sends a frame with payload (NULL, 0: an end-of-stream frame). */
static int client_send_frame(struct session *s, const uint8_t *payload, size_t len)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t size;
	int r = alb_frame_build(s->ctx, payload, len, &buf, &size);

	return r < 0 ? r : client_write(s, buf, size);
}

static int client_send_msg(struct session *s, const alb_msg *msg)
{
	_cleanup_free_ uint8_t *buf = NULL;
	uint64_t len;
	int r = alb_msg_encode_unchecked(s->ctx, msg, &buf, &len);

	if (r < 0)
		return r;
	return client_send_frame(s, buf, len);
}

/* Sends the client a failure message of sequence number seq. */
static void send_failure(struct session *s, uint64_t seq, int error, const char *text)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	_cleanup_(alb_name_freep) alb_name *root = NULL;

	if (alb_name_parse(NULL, ":", &root) >= 0 &&
	    alb_msg_new(&m, ALB_MSG_FAILURE, seq, root) >= 0) {
		m->failure.code =
		    (uint32_t)(error > 0 && error <= (int)ALB_ERROR_CODE_MAX ? error : EPERM);
		m->failure.message = strdup(text);
		if (m->failure.message)
			(void)client_send_msg(s, m);
	}
}

/*
 * Tells the client why the session ends, as a failure message of sequence
 * number seq (0: the endpoint refused the session), and logs it. Returns -error.
 */
static int session_fail(struct session *s, uint64_t seq, int error, const char *fmt, ...)
    _printf_(4, 5);
static int session_fail(struct session *s, uint64_t seq, int error, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	alb_log_notice(s->ctx, "%s%s%s: refused: %s", s->peer, s->who[0] ? " " : "", s->who, text);
	send_failure(s, seq, error, text);
	return alb_error(s->ctx, error, "%s", text);
}

/* The service ends the session (a bound, tls-endpoint.c): the client is told as the
 * service says it. Returns -error. */
static int session_ended(struct session *s, const struct alb_tls_ctl *m)
{
	int error = m->code ? (int)m->code : EUSERS;
	char text[ALB_TLS_CTL_TEXT_MAX];

	snprintf(text, sizeof(text), "%.*s", (int)sizeof(m->text) - 1, m->text);
	alb_log_notice(s->ctx, "%s%s%s: %s", s->peer, s->who[0] ? " " : "", s->who, text);
	send_failure(s, ALB_TLS_COMMAND_SEQ, error, text);
	return alb_error(s->ctx, error, "%s", text);
}

/* To the service: 0, or -errno (it went away). */
static int ctl_send(struct session *s, uint8_t kind, const char *text)
{
	struct alb_tls_ctl m = {.kind = kind};

	if (s->ctl_fd < 0)
		return 0;
	snprintf(m.text, sizeof(m.text), "%s", text ? text : "");
	for (;;) {
		if (send(s->ctl_fd, &m, sizeof(m), MSG_NOSIGNAL) == (ssize_t)sizeof(m))
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

/* From the service: 1 and a message, 0 if it closed, -errno. */
static int ctl_recv(struct session *s, bool wait, struct alb_tls_ctl *ret)
{
	for (;;) {
		ssize_t n = recv(s->ctl_fd, ret, sizeof(*ret), wait ? 0 : MSG_DONTWAIT);
		if (n == (ssize_t)sizeof(*ret))
			return 1;
		if (n == 0)
			return 0;
		if (n > 0)
			return -EBADMSG;
		if (errno != EINTR)
			return -errno;
	}
}

static void set_socket_options(int fd, uint32_t idle_ms)
{
	int one = 1, idle = 60, intvl = 10, cnt = 3;
	struct timeval tv = {.tv_sec = idle_ms / 1000, .tv_usec = (idle_ms % 1000) * 1000};

	/* Not every fd is a TCP socket (inetd may pass anything): errors do not matter. */
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	unsigned user_timeout = idle_ms;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
	/* A client that does not read what it asked for ends its session, not the others'. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* The daemon that runs a command, by its socket's name in the rundir. */
static const char *daemon_socket(int command, const char **ret_service)
{
	switch (command) {
	case ALB_CMD_CONSOLE_SUBSCRIBE:
	case ALB_CMD_CONSOLE_LIST_INACTIVE:
		*ret_service = "albatross-console";
		return "console.sock";
	case ALB_CMD_LOG_SUBSCRIBE:
		*ret_service = "albatross-log";
		return "log.sock";
	case ALB_CMD_STATS_SUBSCRIBE:
		*ret_service = "albatross-stats";
		return "stats.sock";
	default:
		*ret_service = "albatrossd";
		return "albatrossd.sock";
	}
}

static int daemon_connect(struct session *s, int command, const char **ret_service)
{
	const char *name = daemon_socket(command, ret_service);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (s->dfd >= 0) {
		close(s->dfd);
		s->dfd = -1;
		s->from_daemon = alb_frame_reader_free(s->from_daemon);
	}
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", s->ep->rundir, name) >=
	    sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		alb_log_err(s->ctx, "Failed to connect to %s at %s: %s", *ret_service, sa.sun_path,
			    strerror(e));
		return -e;
	}
	s->dfd = fd;
	return alb_frame_reader_new(0, &s->from_daemon);
}

/* Queues msg for the daemon (one frame at a time). */
static int daemon_queue(struct session *s, const alb_msg *msg)
{
	_cleanup_free_ uint8_t *payload = NULL;
	uint64_t len = 0;
	int r = msg ? alb_msg_encode_unchecked(s->ctx, msg, &payload, &len) : 0;

	if (r < 0)
		return r;
	free(s->out);
	s->out = NULL;
	s->out_len = s->out_off = 0;
	return alb_frame_build(s->ctx, payload, len, &s->out, &s->out_len);
}

/* Writes what is queued for the daemon as far as it goes. 0 or -errno. */
static int daemon_flush(struct session *s)
{
	while (s->out_off < s->out_len) {
		ssize_t n =
		    send(s->dfd, s->out + s->out_off, s->out_len - s->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -errno;
		}
		s->out_off += (size_t)n;
	}
	free(s->out);
	s->out = NULL;
	s->out_len = s->out_off = 0;
	return 0;
}

/*
 * Reads the daemon's next frame, waiting at most the idle timeout: 1 and
 * the payload (NULL for an end frame), -EPIPE when it closed, -ETIMEDOUT.
 */
static int daemon_next(struct session *s, uint8_t **ret_buf, uint64_t *ret_len, bool wait)
{
	for (;;) {
		int r = alb_frame_reader_next(s->ctx, s->from_daemon, ret_buf, ret_len);
		if (r != 0 || !wait)
			return r;
		struct pollfd p = {.fd = s->dfd, .events = POLLIN};
		if (s->out_len)
			p.events |= POLLOUT;
		r = poll(&p, 1, (int)s->ep->idle_ms);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		if (p.revents & POLLOUT && (r = daemon_flush(s)) < 0)
			return r;
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = alb_frame_reader_read(s->ctx, s->from_daemon, s->dfd);
			if (n == 0)
				return -EPIPE;
			if (n < 0 && n != -EAGAIN)
				return (int)n;
		}
	}
}

/* Installs the grant's policies into albatrossd; a refusal ends the session. */
static int install_policies(struct session *s, const alb_x509_grant *grant)
{
	uint32_t n = alb_x509_grant_get_policy_count(grant);
	const char *service;
	int r;

	if (n == 0)
		return 0;
	if ((r = daemon_connect(s, ALB_CMD_POLICY_ADD, &service)) < 0)
		return session_fail(s, ALB_TLS_COMMAND_SEQ, EAGAIN,
				    "albatrossd is not available: %s", strerror(-r));
	for (uint32_t i = 0; i < n; i++) {
		const alb_name *path;
		const alb_policy *policy;
		_cleanup_(alb_msg_freep) alb_msg *m = NULL, *reply = NULL;
		_cleanup_free_ uint8_t *buf = NULL;
		_cleanup_free_ char *ps = NULL;
		uint64_t len;

		if ((r = alb_x509_grant_get_policy(grant, i, &path, &policy)) < 0 ||
		    (r = alb_msg_new(&m, ALB_MSG_COMMAND, SEQ_POLICY_BASE + i, path)) < 0 ||
		    (r = alb_policy_dup(policy, &m->cmd.policy)) < 0)
			return r;
		m->cmd.kind = ALB_CMD_POLICY_ADD;
		if (s->behalf[0] && !(m->cmd.on_behalf_of = strdup(s->behalf)))
			return -ENOMEM;
		ps = alb_name_to_string(path);
		if ((r = daemon_queue(s, m)) < 0)
			return r;
		r = daemon_next(s, &buf, &len, true);
		if (r == 1 && buf)
			r = alb_msg_decode(s->ctx, buf, len, &reply);
		if (r < 0 || !reply)
			return session_fail(s, ALB_TLS_COMMAND_SEQ, EAGAIN,
					    "albatrossd did not answer the policy of '%s': %s",
					    orempty(ps), r < 0 ? strerror(-r) : "an end frame");
		if (reply->kind == ALB_MSG_FAILURE)
			return session_fail(s, 0, (int)reply->failure.code,
					    "the policy of '%s' is not allowed: %s", orempty(ps),
					    orempty(reply->failure.message));
		if (reply->kind != ALB_MSG_SUCCESS || reply->seq != SEQ_POLICY_BASE + i)
			return session_fail(s, ALB_TLS_COMMAND_SEQ, EPROTO,
					    "albatrossd answered the policy of '%s' "
					    "with something else",
					    orempty(ps));
		alb_log_debug(s->ctx, "%s: policy of '%s' installed", s->peer, orempty(ps));
	}
	return 0;
}

/* Whether a command has an upload from the client after it / a stream to it after its reply. */
static bool has_upload(const struct alb_cmd *c)
{
	return c->kind == ALB_CMD_UNIKERNEL_CREATE || c->kind == ALB_CMD_UNIKERNEL_FORCE_CREATE ||
	       c->kind == ALB_CMD_SERVICE_DEPLOY || c->kind == ALB_CMD_BLOCK_SET ||
	       (c->kind == ALB_CMD_BLOCK_ADD && c->data_size > 0);
}

static bool has_stream_out(int kind)
{
	return kind == ALB_CMD_UNIKERNEL_GET || kind == ALB_CMD_BLOCK_DUMP ||
	       kind == ALB_CMD_CONSOLE_SUBSCRIBE || kind == ALB_CMD_LOG_SUBSCRIBE ||
	       kind == ALB_CMD_STATS_SUBSCRIBE;
}

/* Reads from the client into its frame reader: the bytes read (>0), 0 at its end, <0 on
 * an error. */
static int client_read(struct session *s)
{
	uint8_t buf[RECORD_BUF];
	for (;;) {
		ssize_t n = gnutls_record_recv(s->tls, buf, sizeof(buf));
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n == GNUTLS_E_PREMATURE_TERMINATION)
			return 0;
		if (n == GNUTLS_E_TIMEDOUT)
			return -ETIMEDOUT;
		if (n < 0)
			return alb_error(s->ctx, ECONNRESET, "%s", gnutls_strerror((int)n));
		if (n == 0)
			return 0;
		int r = alb_frame_reader_feed(s->ctx, s->from_client, buf, (size_t)n);
		return r < 0 ? r : (int)n;
	}
}

/* After a refused upload: reads the client's remaining chunks for a while, so that it
 * sees the failure instead of a reset connection. */
static void drain_client(struct session *s)
{
	uint64_t deadline = now_ms() + DRAIN_MS;

	for (;;) {
		uint8_t *buf = NULL;
		uint64_t len;
		int r;

		while ((r = alb_frame_reader_next(s->ctx, s->from_client, &buf, &len)) == 1) {
			if (!buf)
				return; /* its end frame */
			free(buf);
		}
		if (r < 0)
			return;
		uint64_t now = now_ms();
		if (now >= deadline)
			return;
		if (gnutls_record_check_pending(s->tls) == 0) {
			struct pollfd p = {.fd = s->in_fd, .events = POLLIN};
			if (poll(&p, 1, (int)(deadline - now)) <= 0)
				return;
		}
		if (client_read(s) <= 0)
			return;
	}
}

/* A frame from the client during an upload: a chunk, passed on as the command's;
 * the end frame ends the upload. Nothing else is allowed from the client. */
static int client_frame(struct session *s, const alb_msg *cmd, uint8_t *buf, uint64_t len,
			bool *uploading)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	int r;

	if (!*uploading)
		return session_fail(s, cmd->seq, EPROTO,
				    "the client sent a frame, but %s takes no upload (or its "
				    "upload ended)",
				    alb_command_to_string(cmd->cmd.kind));
	if (!buf) {
		*uploading = false;
		return daemon_queue(s, NULL);
	}
	r = alb_msg_decode(s->ctx, buf, len, &m);
	if (r < 0)
		return session_fail(s, cmd->seq, EBADMSG, "the client sent a malformed frame: %s",
				    alb_ctx_last_error(s->ctx));
	if (m->kind != ALB_MSG_DATA || m->data.kind != ALB_DATA_CHUNK)
		return session_fail(s, cmd->seq, EPROTO,
				    "the client sent something other than data "
				    "chunks in its upload");
	m->seq = cmd->seq;
	alb_name_free(m->name);
	if ((r = alb_name_dup(cmd->name, &m->name)) < 0)
		return r;
	return daemon_queue(s, m);
}

/*
 * The minimum rate of an upload: within each window (the endpoint's rate window)
 * the client must send min_rate bytes per second of it, or the session ends. A
 * window in which the daemon did not take what we had for it (the client was not
 * the slow one) is not judged.
 */
struct rate {
	uint64_t start_ms, bytes;
	bool blocked;
};

/* 0, or the failure of a trickling upload. Sets *timeout_ms to the window's end. */
static int rate_check(struct session *s, const alb_msg *cmd, struct rate *rt, int *timeout_ms)
{
	const alb_tls_endpoint *ep = s->ep;
	uint64_t now = now_ms();

	if (!ep->min_rate)
		return 0;
	if (s->out_len)
		rt->blocked = true;
	if (now - rt->start_ms >= ep->rate_window_ms) {
		uint64_t need = (uint64_t)ep->min_rate * ep->rate_window_ms / 1000u;
		if (!rt->blocked && rt->bytes < need)
			return session_fail(s, cmd->seq, ETIMEDOUT,
					    "the upload trickles: %" PRIu64 " bytes in the last %u "
					    "ms, the minimum is %u bytes/s (--min-rate)",
					    rt->bytes, ep->rate_window_ms, ep->min_rate);
		*rt = (struct rate){.start_ms = now, .blocked = s->out_len != 0};
	}
	uint64_t left = rt->start_ms + ep->rate_window_ms - now;
	if (*timeout_ms < 0 || left < (uint64_t)*timeout_ms)
		*timeout_ms = (int)left;
	return 0;
}

/*
 * The tenders for a remote client: their target, ABI and version, not where
 * they are on the host (a tenant has no business with the host's files).
 */
static int send_tenders(struct session *s, alb_msg *m)
{
	for (uint32_t i = 0; i < m->reply.n_tenders; i++) {
		free(m->reply.tenders[i].path);
		m->reply.tenders[i].path = NULL;
	}
	return client_send_msg(s, m);
}

/*
 * Runs the command on its daemon and relays between it and the client. Whatever
 * the client sent ahead (several frames in one record) is passed on before the
 * next poll; a client that closes its side after sending everything still gets
 * the reply of a command without a stream. Under a service, its control socket
 * is watched too: the service may end the session (a bound), and is told when
 * the session only holds a stream.
 */
static int relay(struct session *s, const alb_msg *cmd)
{
	bool uploading = has_upload(&cmd->cmd), stream_out = has_stream_out(cmd->cmd.kind);
	bool replied = false, client_eof = false;
	struct rate rt = {.start_ms = now_ms()};
	uint64_t active_ms = rt.start_ms; /* the last event, for the idle timeout */
	int r;

	if ((r = daemon_queue(s, cmd)) < 0)
		return r;
	for (;;) {
		uint8_t *buf = NULL;
		uint64_t len = 0;

		/* What the daemon sent. */
		while ((r = daemon_next(s, &buf, &len, false)) == 1) {
			_cleanup_free_ uint8_t *payload = buf;
			if (!replied) {
				_cleanup_(alb_msg_freep) alb_msg *m = NULL;
				if (payload && alb_msg_decode(s->ctx, payload, len, &m) >= 0 &&
				    m->seq == 0 && m->kind == ALB_MSG_FAILURE) {
					/* The daemon closed the connection for a bound: its
					 * reason, as the command's reply. */
					return session_fail(s, cmd->seq, (int)m->failure.code, "%s",
							    orempty(m->failure.message));
				}
				if (!m || m->seq != cmd->seq ||
				    (m->kind != ALB_MSG_SUCCESS && m->kind != ALB_MSG_FAILURE))
					return session_fail(s, cmd->seq, EPROTO,
							    "the daemon answered with something "
							    "other than a reply");
				if (m->kind == ALB_MSG_SUCCESS &&
				    m->reply.kind == ALB_REPLY_TENDERS)
					r = send_tenders(s, m);
				else
					r = client_send_frame(s, payload, len);
				if (r < 0)
					return r;
				replied = true;
				if (m->kind == ALB_MSG_FAILURE) {
					alb_log_info(s->ctx, "%s %s: %s failed: %s", s->peer,
						     s->who, alb_command_to_string(cmd->cmd.kind),
						     orempty(m->failure.message));
					if (uploading && !client_eof)
						drain_client(s);
					return 0;
				}
				if (!stream_out)
					return 0;
				/* From now on it only holds a stream: a bound may end it. */
				if (ctl_send(s, ALB_TLS_CTL_STREAMING, NULL) < 0)
					s->ctl_fd = -1;
				continue;
			}
			if ((r = client_send_frame(s, payload, len)) < 0)
				return r;
			if (!payload)
				return 0; /* the stream ended */
		}
		if (r < 0)
			return session_fail(s, cmd->seq, EPROTO,
					    "a malformed frame from the daemon");

		/* What the client sent ahead: passed on one frame at a time, as far as the
		 * daemon takes them without waiting. */
		bool progressed = false;
		while (!s->out_len) {
			r = alb_frame_reader_next(s->ctx, s->from_client, &buf, &len);
			if (r < 0)
				return session_fail(s, cmd->seq, EBADMSG, "%s",
						    alb_ctx_last_error(s->ctx));
			if (r == 0)
				break;
			_cleanup_free_ uint8_t *payload = buf;
			if ((r = client_frame(s, cmd, payload, len, &uploading)) < 0)
				return r;
			if ((r = daemon_flush(s)) < 0)
				return session_fail(s, cmd->seq, EPIPE,
						    "the daemon closed the connection");
			progressed = true;
		}
		if (progressed)
			continue; /* the daemon may have answered meanwhile */
		if (client_eof && uploading)
			return session_fail(s, cmd->seq, EPIPE,
					    "the client closed the connection during the upload");
		if (client_eof && stream_out && replied)
			return 0; /* a subscriber that left */

		bool want_client = !s->out_len && !client_eof;
		if (want_client && gnutls_record_check_pending(s->tls) > 0) {
			if ((r = client_read(s)) < 0)
				return session_fail(
				    s, cmd->seq, r == -ETIMEDOUT ? ETIMEDOUT : EBADMSG,
				    "reading from the client: %s", alb_ctx_last_error(s->ctx));
			client_eof = r == 0;
			rt.bytes += (uint64_t)r;
			active_ms = now_ms();
			continue;
		}
		/* A reply or an upload is awaited within the idle timeout; a stream is not. */
		bool awaiting = uploading || !replied;
		int timeout = -1;
		if (awaiting) {
			uint64_t now = now_ms(), end = active_ms + s->ep->idle_ms;
			timeout = end > now ? (int)(end - now) : 0;
		}
		if (uploading && (r = rate_check(s, cmd, &rt, &timeout)) < 0)
			return r;
		struct pollfd p[3] = {
		    {.fd = s->dfd, .events = POLLIN | (s->out_len ? POLLOUT : 0)},
		    {.fd = want_client ? s->in_fd : -1, .events = POLLIN},
		    {.fd = s->ctl_fd, .events = POLLIN},
		};
		r = poll(p, 3, timeout);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0) {
			/* The idle timeout, or the end of a rate window (judged above). */
			if (awaiting && now_ms() - active_ms >= s->ep->idle_ms)
				return session_fail(s, cmd->seq, ETIMEDOUT, "idle for %u ms %s",
						    s->ep->idle_ms,
						    uploading ? "during the upload"
							      : "waiting for the daemon's reply");
			continue;
		}
		active_ms = now_ms();
		if (p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
			struct alb_tls_ctl m;
			r = ctl_recv(s, false, &m);
			if (r == 1 && m.kind == ALB_TLS_CTL_END)
				return session_ended(s, &m);
			if (r == 0 || (r < 0 && r != -EAGAIN))
				s->ctl_fd = -1; /* the service went away: nothing more from it */
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = alb_frame_reader_read(s->ctx, s->from_daemon, s->dfd);
			if (n == 0 || (n < 0 && n != -EAGAIN)) {
				if (!replied)
					return session_fail(s, cmd->seq, EPIPE,
							    "the daemon closed the connection");
				/* A stream whose daemon went away ends. */
				(void)client_send_frame(s, NULL, 0);
				return 0;
			}
		}
		if (p[0].revents & POLLOUT && (r = daemon_flush(s)) < 0)
			return session_fail(s, cmd->seq, EPIPE, "the daemon closed the connection");
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			r = client_read(s);
			if (r < 0)
				return session_fail(
				    s, cmd->seq, r == -ETIMEDOUT ? ETIMEDOUT : EBADMSG,
				    "reading from the client: %s", alb_ctx_last_error(s->ctx));
			if (r == 0) {
				alb_log_debug(s->ctx, "%s: the client closed its side", s->peer);
				client_eof = true;
			}
			rt.bytes += (uint64_t)r;
		}
	}
}

/* The verified chain: the peer's certificates, evaluated against the anchor. */
static int evaluate_peer(struct session *s, alb_x509_grant **ret)
{
	_cleanup_(alb_x509_chain_freep) alb_x509_chain *chain = NULL;
	const gnutls_datum_t *certs;
	unsigned n = 0, status = 0;
	int g, r;

	g = gnutls_certificate_verify_peers2(s->tls, &status);
	if (g < 0)
		return session_fail(s, 0, EPERM, "the client certificate could not be verified: %s",
				    gnutls_strerror(g));
	if (status) {
		gnutls_datum_t out = {0};
		char text[512] = "";
		if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out,
								 0) >= 0) {
			tls_text(text, sizeof(text), (const char *)out.data);
			gnutls_free(out.data);
		}
		const char *why = status & GNUTLS_CERT_REVOKED		  ? "revoked: "
				  : status & GNUTLS_CERT_EXPIRED	  ? "expired: "
				  : status & GNUTLS_CERT_NOT_ACTIVATED	  ? "not yet valid: "
				  : status & GNUTLS_CERT_SIGNER_NOT_FOUND ? "not issued by this "
									    "endpoint's CA: "
									  : "";
		return session_fail(s, 0, EPERM, "the client certificate is not accepted: %s%s",
				    why, text);
	}
	certs = gnutls_certificate_get_peers(s->tls, &n);
	if (!certs || n == 0)
		return session_fail(s, 0, EPERM, "the client sent no certificate");
	if ((r = alb_x509_chain_new(&chain)) < 0)
		return r;
	for (unsigned i = 0; i < n; i++)
		if ((r = alb_x509_chain_add_der(s->ctx, chain, certs[i].data, certs[i].size)) < 0)
			return session_fail(s, 0, r == -E2BIG ? EPERM : EBADMSG,
					    "the client's chain: %s", alb_ctx_last_error(s->ctx));
	_cleanup_free_ char *cn = alb_x509_chain_get_common_name(chain, 0);
	snprintf(s->who, sizeof(s->who), "(%s)", cn ? cn : "no common name");
	/* A CA holder chooses the leaf's name: nothing but printable ASCII reaches the log. */
	for (char *c = s->who; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
	/* Who the commands run for, in albatrossd's event log: the leaf by name and serial
	 * (what a CRL names), and where it came from. */
	uint8_t serial[40];
	size_t serial_len = sizeof(serial);
	char hex[2 * sizeof(serial) + 1] = "";
	if (gnutls_x509_crt_get_serial(chain->crts[0], serial, &serial_len) >= 0)
		for (size_t i = 0; i < serial_len; i++)
			snprintf(hex + 2 * i, 3, "%02x", serial[i]);
	char name[80];
	snprintf(name, sizeof(name), "%.*s", (int)strlen(s->who) - 2, s->who + 1);
	snprintf(s->behalf, sizeof(s->behalf), "certificate '%s' serial %s from %s", name,
		 hex[0] ? hex : "?", s->peer);
	r = alb_x509_chain_evaluate(s->ctx, chain, s->ep->anchor, ret);
	if (r < 0)
		return session_fail(s, 0,
				    r == -ENOMEM    ? ENOMEM
				    : r == -EBADMSG ? EBADMSG
						    : EPERM,
				    "%s", alb_ctx_last_error(s->ctx));
	return 0;
}

/*
 * A lingering close: after our last byte, read (and drop) what the client still
 * sends until it closes, for a while. Closing with unread bytes would reset the
 * connection, and a reset can destroy the failure message we just sent.
 */
static void linger(struct session *s, unsigned ms)
{
	uint64_t deadline = now_ms() + ms;
	uint8_t buf[4096];

	(void)shutdown(s->in_fd, SHUT_WR);
	for (;;) {
		uint64_t now = now_ms();
		if (now >= deadline)
			return;
		struct pollfd p = {.fd = s->in_fd, .events = POLLIN};
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			return;
		ssize_t n = read(s->in_fd, buf, sizeof(buf));
		if (n <= 0 && !(n < 0 && errno == EINTR))
			return;
	}
}

/*
 * Under a service: tells it the session is authenticated, for which tenant (the
 * first label of the chain's path: a tenant's own sub-CAs stay within its share),
 * and waits for its word. 0 to go on, or the failure that ends the session.
 */
static int admission(struct session *s, const alb_x509_grant *grant)
{
	const alb_name *path = alb_x509_grant_get_path(grant);
	const char *top = alb_name_depth(path) > 0 ? alb_name_path_label(path, 0) : NULL;
	struct alb_tls_ctl m;
	int r;

	if (s->ctl_fd < 0)
		return 0;
	if ((r = ctl_send(s, ALB_TLS_CTL_AUTHENTICATED, top ? top : ":")) < 0 ||
	    (r = ctl_recv(s, true, &m)) <= 0)
		return alb_error(s->ctx, ECONNRESET, "%s: the endpoint's service went away: %s",
				 s->peer, r < 0 ? strerror(-r) : "closed");
	if (m.kind == ALB_TLS_CTL_END)
		return session_ended(s, &m);
	if (m.kind != ALB_TLS_CTL_ADMITTED)
		return alb_error(s->ctx, EPROTO, "%s: an unexpected word from the service",
				 s->peer);
	return 0;
}

static int serve(alb_tls_endpoint *ep, int in_fd, int out_fd, const char *peer,
		 const struct alb_tls_supervision *sup)
{
	_cleanup_(alb_x509_grant_freep) alb_x509_grant *grant = NULL;
	_cleanup_(alb_msg_freep) alb_msg *cmd = NULL;
	struct session s = {.ep = ep, .dfd = -1, .ctl_fd = sup ? sup->ctl_fd : -1};
	_cleanup_free_ char *name = NULL;
	const char *service;
	uint32_t handshake_ms = ep->handshake_ms;
	int g, r;

	s.ctx = ep->ctx;
	s.peer = peer ? peer : "client";
	s.in_fd = in_fd;
	set_socket_options(in_fd, ep->idle_ms);
	if (out_fd != in_fd)
		set_socket_options(out_fd, ep->idle_ms);
	if ((r = alb_frame_reader_new(CLIENT_FRAME_MAX, &s.from_client)) < 0)
		return r;
	if (gnutls_init(&s.tls, GNUTLS_SERVER | GNUTLS_NO_SIGNAL) < 0) {
		alb_frame_reader_free(s.from_client);
		return -ENOMEM;
	}
	if (gnutls_priority_set(s.tls, ep->prio) < 0 ||
	    gnutls_credentials_set(s.tls, GNUTLS_CRD_CERTIFICATE, ep->cred) < 0) {
		gnutls_deinit(s.tls);
		alb_frame_reader_free(s.from_client);
		return -ENOMEM;
	}
	gnutls_certificate_server_set_request(s.tls, GNUTLS_CERT_REQUIRE);
	/* Clients present their chain whatever CA names we would list. */
	gnutls_certificate_send_x509_rdn_sequence(s.tls, 1);
	/* Under a service, what is left of its deadline (counted from the accept). */
	if (sup) {
		uint64_t now = now_ms() * 1000u;
		handshake_ms =
		    sup->deadline_us > now ? (uint32_t)((sup->deadline_us - now) / 1000u) : 0;
		if (!handshake_ms)
			handshake_ms = 1;
	}
	gnutls_handshake_set_timeout(s.tls, handshake_ms);
	gnutls_transport_set_int2(s.tls, in_fd, out_fd);

	do
		g = gnutls_handshake(s.tls);
	while (g < 0 && !gnutls_error_is_fatal(g));
	if (g < 0) {
		alb_log_info(ep->ctx, "%s: TLS handshake failed: %s", s.peer, gnutls_strerror(g));
		r = alb_error(ep->ctx, g == GNUTLS_E_TIMEDOUT ? ETIMEDOUT : EPROTO,
			      "%s: TLS handshake failed: %s", s.peer, gnutls_strerror(g));
		/* Tell the client why, as TLS says it (e.g. certificate_required). */
		if (g != GNUTLS_E_TIMEDOUT && g != GNUTLS_E_PREMATURE_TERMINATION) {
			(void)gnutls_alert_send_appropriate(s.tls, g);
			linger(&s, PREAUTH_LINGER_MS);
		}
		goto out;
	}
	gnutls_record_set_timeout(s.tls, ep->idle_ms);

	if ((r = evaluate_peer(&s, &grant)) < 0) {
		if (r != -ENOMEM)
			r = -EACCES;
		goto bye;
	}
	if ((r = alb_msg_copy(s.ctx, alb_x509_grant_get_command(grant), &cmd)) < 0)
		goto bye;
	cmd->seq = ALB_TLS_COMMAND_SEQ;
	/* Whatever the certificate says of whom it runs for is replaced by what we know. */
	free(cmd->cmd.on_behalf_of);
	cmd->cmd.on_behalf_of = s.behalf[0] ? strdup(s.behalf) : NULL;
	if ((cmd->cmd.kind == ALB_CMD_UNIKERNEL_CREATE ||
	     cmd->cmd.kind == ALB_CMD_UNIKERNEL_FORCE_CREATE ||
	     cmd->cmd.kind == ALB_CMD_SERVICE_DEPLOY) &&
	    !cmd->cmd.config->has_digest) {
		r = session_fail(&s, 0, EPERM,
				 "a create certificate must bind its image by its SHA-256 digest "
				 "(config.digest)");
		r = -EACCES;
		goto bye;
	}
	name = alb_name_to_string(cmd->name);
	snprintf(s.who, sizeof(s.who), "%s", orempty(name));
	alb_log_info(ep->ctx, "%s: %s %s", s.peer, alb_command_to_string(cmd->cmd.kind),
		     orempty(name));

	if ((r = admission(&s, grant)) < 0) {
		if (r != -ENOMEM)
			r = -EACCES;
		goto bye;
	}
	if ((r = install_policies(&s, grant)) < 0) {
		if (r != -ENOMEM)
			r = -EACCES;
		goto bye;
	}
	if ((r = daemon_connect(&s, cmd->cmd.kind, &service)) < 0) {
		r = session_fail(&s, ALB_TLS_COMMAND_SEQ, EAGAIN, "%s is not available: %s",
				 service, strerror(-r));
		goto bye;
	}
	r = relay(&s, cmd);
	if (r == -EACCES)
		r = -EPROTO;
	if (r > 0)
		r = 0;
bye:
	/* Our side is done: close_notify, without waiting for the client's. */
	(void)gnutls_bye(s.tls, GNUTLS_SHUT_WR);
	linger(&s, DRAIN_MS);
out:
	gnutls_deinit(s.tls);
	alb_frame_reader_free(s.from_client);
	alb_frame_reader_free(s.from_daemon);
	free(s.out);
	if (s.dfd >= 0)
		close(s.dfd);
	return r;
}

ALB_EXPORT int alb_tls_endpoint_serve(alb_tls_endpoint *ep, int in_fd, int out_fd, const char *peer)
{
	if (!ep || in_fd < 0 || out_fd < 0)
		return -EINVAL;
	return serve(ep, in_fd, out_fd, peer, NULL);
}

int alb_tls_endpoint_serve_supervised(alb_tls_endpoint *ep, int fd, const char *peer,
				      const struct alb_tls_supervision *sup)
{
	if (!ep || fd < 0 || !sup || sup->ctl_fd < 0)
		return -EINVAL;
	return serve(ep, fd, fd, peer, sup);
}

/* ---- the client's side ------------------------------------------------------------------ */

struct tls_transport {
	gnutls_session_t tls;
	gnutls_certificate_credentials_t cred;
	int fd;
	int timeout_ms; /* of a read, -1: none */
};

static void tls_set_read_timeout(void *userdata, int ms)
{
	struct tls_transport *t = userdata;
	t->timeout_ms = ms;
}

static ssize_t tls_read(void *userdata, void *buf, size_t len)
{
	struct tls_transport *t = userdata;
	if (t->timeout_ms >= 0 && gnutls_record_check_pending(t->tls) == 0) {
		struct pollfd p = {.fd = t->fd, .events = POLLIN};
		int n;
		do
			n = poll(&p, 1, t->timeout_ms);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
	}
	for (;;) {
		ssize_t n = gnutls_record_recv(t->tls, buf, len);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n == GNUTLS_E_PREMATURE_TERMINATION)
			return 0;
		if (n < 0)
			return -ECONNRESET;
		return n;
	}
}

static int tls_write(void *userdata, const void *buf, size_t len)
{
	struct tls_transport *t = userdata;
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = gnutls_record_send(t->tls, p, len);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n < 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int tls_pending(void *userdata)
{
	struct tls_transport *t = userdata;
	if (gnutls_record_check_pending(t->tls) > 0)
		return 1;
	struct pollfd p = {.fd = t->fd, .events = POLLIN};
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) ? 1 : 0;
}

static void tls_close(void *userdata)
{
	struct tls_transport *t = userdata;
	if (t->tls) {
		(void)gnutls_bye(t->tls, GNUTLS_SHUT_WR);
		gnutls_deinit(t->tls);
	}
	if (t->cred)
		gnutls_certificate_free_credentials(t->cred);
	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

int alb_host_port_split(alb_ctx *ctx, const char *what, const char *spec,
			char host[static ALB_HOST_MAX + 1], char port[static 6])
{
	uint16_t p;
	if (!spec)
		return -EINVAL;
	/* The one grammar (hostport-private.h), with this message. */
	if (alb_host_port_parse(NULL, spec, strlen(spec), 0, host, &p) < 0)
		return alb_error(ctx, EINVAL, "invalid %s '%s': expected HOST:PORT or [IPV6]:PORT",
				 what, spec);
	snprintf(port, 6, "%u", p);
	return 0;
}

static int connect_timeout(int fd, const struct sockaddr *sa, socklen_t len, uint32_t timeout_ms)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	if (connect(fd, sa, len) < 0) {
		if (errno != EINPROGRESS)
			return -errno;
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int n;
		do
			n = poll(&p, 1, (int)timeout_ms);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		int err = 0;
		socklen_t elen = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			return -errno;
		if (err)
			return -err;
	}
	return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

/*
 * The server's certificate must be issued by the server CA itself, and carry no
 * albatross extension: every tenant CA below that CA can issue certificates that
 * chain to it, and one of them must not pass for the endpoint.
 */
static int check_server_issuer(alb_ctx *ctx, gnutls_session_t tls, const char *server_ca_path)
{
	_cleanup_(alb_x509_chain_freep) alb_x509_chain *cas = NULL;
	_cleanup_(alb_x509_ext_freep) alb_x509_ext *ext = NULL;
	const gnutls_datum_t *peers;
	gnutls_x509_crt_t crt = NULL;
	unsigned n = 0, status = 0;
	int r;

	peers = gnutls_certificate_get_peers(tls, &n);
	if (!peers || n == 0)
		return alb_error(ctx, EKEYREJECTED, "the server sent no certificate");
	if ((r = alb_x509_chain_new(&cas)) < 0 ||
	    (r = alb_x509_chain_read_file(ctx, cas, server_ca_path)) < 0)
		return r == -ENOMEM ? r : -EKEYREJECTED;
	if (gnutls_x509_crt_init(&crt) < 0)
		return -ENOMEM;
	if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) < 0) {
		gnutls_x509_crt_deinit(crt);
		return alb_error(ctx, EKEYREJECTED, "the server's certificate is malformed");
	}
	int g = gnutls_x509_crt_verify(crt, cas->crts, cas->n, 0, &status);
	r = alb_x509_crt_get_ext(ctx, crt, &ext);
	gnutls_x509_crt_deinit(crt);
	if (g < 0 || status)
		return alb_error(ctx, EKEYREJECTED,
				 "the server's certificate is not issued by '%s' itself (one "
				 "issued by a CA below it may belong to a tenant)",
				 server_ca_path);
	if (r != -ENOENT)
		return alb_error(ctx, EKEYREJECTED,
				 "the server's certificate carries an albatross policy or "
				 "command: it is not a server certificate");
	return 0;
}

ALB_EXPORT int alb_client_connect_tls(alb_ctx *ctx, const char *destination, const char *cert_path,
				      const char *key_path, const char *server_ca_path,
				      uint32_t timeout_ms, alb_client **ret)
{
	char host[ALB_HOST_MAX + 1], port[6];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	struct tls_transport *t;
	int g, r, fd = -1;

	if (!cert_path || !key_path || !server_ca_path || !ret)
		return -EINVAL;
	if (!timeout_ms)
		timeout_ms = ALB_TLS_HANDSHAKE_TIMEOUT_DEFAULT;
	if ((r = alb_host_port_split(ctx, "destination", destination, host, port)) < 0 ||
	    (r = alb_dl_gnutls_load(ctx)) < 0)
		return r;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->fd = -1;
	t->timeout_ms = -1;
	struct alb_client_transport tr = {.read = tls_read,
					  .write = tls_write,
					  .close = tls_close,
					  .pending = tls_pending,
					  .set_read_timeout = tls_set_read_timeout,
					  .userdata = t};
	/* The credentials first: a file that cannot be used is not worth a connection. */
	if (gnutls_certificate_allocate_credentials(&t->cred) < 0) {
		tls_close(t);
		return -ENOMEM;
	}
	g = gnutls_certificate_set_x509_trust_file(t->cred, server_ca_path, GNUTLS_X509_FMT_PEM);
	if (g <= 0) {
		tls_close(t);
		return alb_error(ctx, EKEYREJECTED, "the server CA '%s': %s", server_ca_path,
				 access(server_ca_path, R_OK) < 0 ? strerror(errno)
				 : g < 0			  ? gnutls_strerror(g)
								  : "no certificate");
	}
	g = gnutls_certificate_set_x509_key_file2(t->cred, cert_path, key_path, GNUTLS_X509_FMT_PEM,
						  NULL, 0);
	if (g < 0) {
		int e = access(cert_path, R_OK) < 0 || access(key_path, R_OK) < 0 ? errno : 0;
		tls_close(t);
		return alb_error(ctx, EKEYREJECTED, "the certificate '%s' and key '%s': %s",
				 cert_path, key_path, e ? strerror(e) : gnutls_strerror(g));
	}

	g = getaddrinfo(host, port, &hints, &ai);
	if (g != 0) {
		tls_close(t);
		return alb_error(ctx, EHOSTUNREACH, "Failed to resolve '%s': %s", host,
				 gai_strerror(g));
	}
	/* One bound for the connection and the handshake together. */
	uint64_t deadline = now_ms() + timeout_ms;
	r = -EHOSTUNREACH;
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		uint64_t now = now_ms();
		if (now >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			r = -errno;
			continue;
		}
		r = connect_timeout(fd, a->ai_addr, a->ai_addrlen, (uint32_t)(deadline - now));
		if (r == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		tls_close(t);
		if (r == -ETIMEDOUT)
			return alb_error(ctx, ETIMEDOUT,
					 "Failed to connect to %s: timed out after %u ms (the "
					 "handshake timeout)",
					 destination, timeout_ms);
		return alb_error(ctx, -r, "Failed to connect to %s: %s", destination, strerror(-r));
	}
	t->fd = fd;
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	if (gnutls_init(&t->tls, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL) < 0 ||
	    gnutls_priority_set_direct(t->tls, PRIORITY, NULL) < 0 ||
	    gnutls_credentials_set(t->tls, GNUTLS_CRD_CERTIFICATE, t->cred) < 0) {
		tls_close(t);
		return -ENOMEM;
	}
	struct in6_addr a6;
	if (inet_pton(AF_INET, host, &a6) != 1 && inet_pton(AF_INET6, host, &a6) != 1)
		(void)gnutls_server_name_set(t->tls, GNUTLS_NAME_DNS, host, strlen(host));
	gnutls_session_set_verify_cert(t->tls, host, 0);
	uint64_t now = now_ms();
	gnutls_handshake_set_timeout(t->tls, now < deadline ? (unsigned)(deadline - now) : 1u);
	gnutls_transport_set_int(t->tls, fd);
	do
		g = gnutls_handshake(t->tls);
	while (g < 0 && !gnutls_error_is_fatal(g));
	if (g < 0) {
		char why[512];
		if (g == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
			gnutls_datum_t out = {0};
			unsigned status = gnutls_session_get_verify_cert_status(t->tls);
			gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out,
								     0);
			char text[400];
			snprintf(why, sizeof(why), "the server's certificate is not accepted: %s",
				 out.data ? tls_text(text, sizeof(text), (const char *)out.data)
					  : "?");
			gnutls_free(out.data);
		} else if (g == GNUTLS_E_TIMEDOUT) {
			snprintf(why, sizeof(why),
				 "timed out: no answer within %u ms (the handshake timeout)",
				 timeout_ms);
		} else if (g == GNUTLS_E_FATAL_ALERT_RECEIVED ||
			   g == GNUTLS_E_WARNING_ALERT_RECEIVED) {
			snprintf(why, sizeof(why), "the server refused: %s",
				 gnutls_alert_get_name(gnutls_alert_get(t->tls)));
		} else {
			snprintf(why, sizeof(why), "%s", gnutls_strerror(g));
		}
		tls_close(t);
		return alb_error(ctx, EKEYREJECTED, "TLS handshake with %s failed: %s", destination,
				 why);
	}
	if ((r = check_server_issuer(ctx, t->tls, server_ca_path)) < 0) {
		tls_close(t);
		return alb_error_prefix(ctx, r, "TLS handshake with %s failed", destination);
	}
	r = alb_client_new(ctx, &tr, ret);
	if (r < 0)
		return r;
	alb_client_set_remote(*ret);
	return 0;
}
