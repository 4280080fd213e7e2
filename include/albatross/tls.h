/* SPDX-License-Identifier: ISC */
/**
 * @file tls.h
 * @brief The TLS endpoint: remote sessions authenticated by X.509 client
 * certificates (docs/tls.md).
 *
 * A session is one TLS 1.3 connection. The client's certificate chain must be
 * issued by the endpoint's CA, within its validity times and not revoked by
 * a CRL given to the endpoint. The chain is evaluated (x509.h): its
 * policies are installed into albatrossd, each checked statically, and then
 * the leaf's command runs with the name the chain gives it, on the daemon
 * that serves it (albatrossd, albatross-console, albatross-log or
 * albatross-stats, through their Unix sockets in the run directory). The
 * reply, and the stream after it, are passed back to the client; an upload
 * (image, block data) is read from the client in chunks and passed on.
 *
 * The endpoint's own refusals (a certificate that is not accepted, a policy
 * that does not fit) reach the client as a failure message with sequence
 * number 0 before the connection closes; everything of the command carries
 * sequence number 1 (ALB_TLS_COMMAND_SEQ).
 *
 * An endpoint serves one session per call, blocking: the daemon
 * albatross-tls-endpoint runs each session in a process of its own. It is
 * not thread-safe.
 */
#ifndef ALBATROSS_TLS_H
#define ALBATROSS_TLS_H

#include <stdint.h>

#include <albatross/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The sequence number of the certificate's command and everything about it. */
#define ALB_TLS_COMMAND_SEQ 1u
/** The client's default bound of the connection and handshake, ms (alb_client_connect_tls()). */
#define ALB_TLS_HANDSHAKE_TIMEOUT_DEFAULT 10000u
/**
 * The endpoint's default handshake timeout, ms: shorter than the client's, so
 * that connections that never authenticate hold a handshake slot briefly.
 */
#define ALB_TLS_ENDPOINT_HANDSHAKE_TIMEOUT_DEFAULT 5000u
/** Default idle timeout (no byte from the client while one is expected, or from a daemon), ms. */
#define ALB_TLS_IDLE_TIMEOUT_DEFAULT 60000u
/** Default minimum rate of an upload, bytes per second (alb_tls_endpoint_set_min_rate()). */
#define ALB_TLS_MIN_RATE_DEFAULT 1024u
/** Default window over which the rate of an upload is judged, ms. */
#define ALB_TLS_RATE_WINDOW_DEFAULT 10000u
/** Most CRL files of an endpoint. */
#define ALB_TLS_CRLS_MAX 64u

/** Opaque endpoint; an owned value. */
typedef struct alb_tls_endpoint alb_tls_endpoint;

/**
 * Loads the endpoint's credentials: @p ca_path (PEM, the trust anchor of
 * client chains: its first certificate), @p cert_path (the server's
 * certificate, optionally followed by its chain) and @p key_path.
 * @return 0, -ENOENT, -EBADMSG (not a certificate or key), -EINVAL, -ENOMEM;
 * the reason, naming the file, in @p ctx.
 */
int alb_tls_endpoint_new(alb_ctx *ctx, const char *ca_path, const char *cert_path,
			 const char *key_path, alb_tls_endpoint **ret_endpoint);

/** Frees an endpoint. Accepts NULL. @return NULL. */
alb_tls_endpoint *alb_tls_endpoint_free(alb_tls_endpoint *endpoint);

/**
 * Adds a CRL file (PEM, one or more CRLs), read now and at every
 * alb_tls_endpoint_reload(). Revoked certificates anywhere in a client's
 * chain are refused.
 * @return 0, -E2BIG (over ALB_TLS_CRLS_MAX), -ENOENT, -EBADMSG, -ENOMEM.
 */
int alb_tls_endpoint_add_crl(alb_tls_endpoint *endpoint, const char *crl_path);

/**
 * Reads the CA, certificate, key and CRL files again. All or nothing: on
 * failure the endpoint keeps what it had.
 * @return 0 or the error of alb_tls_endpoint_new().
 */
int alb_tls_endpoint_reload(alb_tls_endpoint *endpoint);

/**
 * The directory of the daemons' sockets (albatrossd.sock, console.sock,
 * log.sock, stats.sock); default /run/albatross.
 * @return 0, -EINVAL (empty or too long), -ENOMEM.
 */
int alb_tls_endpoint_set_rundir(alb_tls_endpoint *endpoint, const char *rundir);

/**
 * Sets the timeouts in milliseconds (0 keeps the current value): the whole
 * handshake (default ALB_TLS_ENDPOINT_HANDSHAKE_TIMEOUT_DEFAULT; under the
 * daemon's service it counts from the connection's acceptance to its
 * admission as a session), and idleness while a byte is awaited from the
 * client (an upload) or a daemon (a reply). A subscription waits for its data
 * without a timeout; a client that went away is found by TCP keepalive, one
 * that reads nothing of what is sent to it ends after the idle timeout.
 * @return 0, -EINVAL (over a day).
 */
int alb_tls_endpoint_set_timeouts(alb_tls_endpoint *endpoint, uint32_t handshake_ms,
				  uint32_t idle_ms);

/**
 * Sets the minimum rate of an upload from the client: within every window of
 * @p window_ms (1000 .. 86400000; 0: ALB_TLS_RATE_WINDOW_DEFAULT) the client
 * must send @p bytes_per_s bytes per second of the window, or the session
 * ends with a failure (ETIMEDOUT, "the upload trickles: ..."), so that a
 * client sending a byte now and then does not hold a session. A window in
 * which the daemon did not take what the endpoint had for it is not judged.
 * @p bytes_per_s 0 turns the check off. Default ALB_TLS_MIN_RATE_DEFAULT.
 * @return 0, -EINVAL.
 */
int alb_tls_endpoint_set_min_rate(alb_tls_endpoint *endpoint, uint32_t bytes_per_s,
				  uint32_t window_ms);

/**
 * Serves one session on a connected stream: reads TLS from @p in_fd and writes
 * to @p out_fd (the same socket, or stdin and stdout under inetd). Blocks
 * until the session ends; does not close the fds. @p peer (may be NULL)
 * names the client in log messages.
 * @return 0 when the command ran (whatever its result), -EACCES when the
 * client was refused, -ETIMEDOUT, -ECONNRESET or -EPROTO when the session
 * failed; the reason in the context and its log.
 */
int alb_tls_endpoint_serve(alb_tls_endpoint *endpoint, int in_fd, int out_fd, const char *peer);

#ifdef __cplusplus
}
#endif

#endif
