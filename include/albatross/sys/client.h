/* SPDX-License-Identifier: ISC */
/**
 * @file sys/client.h
 * A small blocking client of the wire protocol (docs/protocol.md): one
 * connection, commands with increasing sequence numbers, replies, and the
 * chunk streams of images and block data.
 *
 * The bytes travel through a transport of two functions (read, write), so
 * that a TLS session can stand in for the Unix socket later. Every call
 * returns 0 (or a documented positive value) or a negative errno value with
 * the reason in the context's last error. Protocol errors (a malformed or
 * oversized frame, an unexpected message, the peer closing) are -EBADMSG,
 * -EPROTO or -EPIPE; a failure reply of the peer is -code, and then
 * alb_client_get_refused() returns that code.
 * Extension tier (docs/abi.md): stable within a minor release only.
 */
#ifndef ALBATROSS_SYS_CLIENT_H
#define ALBATROSS_SYS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <albatross/client.h>
#include <albatross/ctx.h>
#include <albatross/name.h>
#include <albatross/wire.h>

#ifdef __cplusplus
extern "C" {
#endif

struct alb_client_transport {
	/* Reads at most len bytes: the count, 0 at end of file, -errno. */
	ssize_t (*read)(void *userdata, void *buf, size_t len);
	/* Writes all len bytes: 0 or -errno (-EPIPE when the peer is gone). */
	int (*write)(void *userdata, const void *buf, size_t len);
	/* Releases userdata; may be NULL. */
	void (*close)(void *userdata);
	/* 1 if bytes can be read now without blocking, else 0; may be NULL. */
	int (*pending)(void *userdata);
	/* Reads wait at most ms (-1: forever), then fail with -ETIMEDOUT; may be NULL. */
	void (*set_read_timeout)(void *userdata, int ms);
	void *userdata;
};

/* Returned by alb_client_receive() for an end-of-stream frame. */
#define ALB_CLIENT_END 1

/* Progress of a transfer: done bytes of total (0 when unknown). */
typedef void (*alb_client_progress_fn)(uint64_t done, uint64_t total, void *userdata);

/* Takes one received chunk: 0 or -errno (which ends the download). */
typedef int (*alb_client_sink_fn)(const uint8_t *buf, size_t len, void *userdata);

/*
 * Connects to the Unix stream socket at path, where the daemon service
 * listens; the error names it: "Failed to connect to albatrossd at
 * /run/albatross/albatrossd.sock: No such file or directory (is albatrossd
 * running?)". alb_client_connect_unix() is this with service "albatrossd".
 * 0, -ENAMETOOLONG, -errno of socket(2) or connect(2), -ENOMEM.
 */
int alb_client_connect_unix_service(alb_ctx *ctx, const char *service, const char *path,
				    alb_client **ret);
int alb_client_connect_unix(alb_ctx *ctx, const char *path, alb_client **ret);

/* A client over a connected stream socket fd, which it takes (also on failure). */
int alb_client_new_fd(alb_ctx *ctx, int fd, alb_client **ret);

/* A client over a transport, which it takes (closed by alb_client_free(), also on failure). */
int alb_client_new(alb_ctx *ctx, const struct alb_client_transport *transport, alb_client **ret);

/*
 * Connects to the TLS endpoint at destination ("HOST:PORT", "[IPV6]:PORT"),
 * presenting the certificate chain of cert_path with the key of key_path, and
 * verifies the server's certificate against server_ca_path and HOST. The
 * client is then remote: its first request does not send the command (the
 * endpoint runs the one in the certificate) but receives the command's reply
 * (sequence number ALB_TLS_COMMAND_SEQ); an upload sends its stream. Returns
 * 0, -EKEYREJECTED for a TLS failure (handshake, the server's certificate;
 * also a certificate or key file that cannot be used), -EINVAL for a bad
 * destination, or the -errno of resolving or connecting; the reason in ctx.
 * timeout_ms bounds the connect and the handshake (0: 10 s).
 */
int alb_client_connect_tls(alb_ctx *ctx, const char *destination, const char *cert_path,
			   const char *key_path, const char *server_ca_path, uint32_t timeout_ms,
			   alb_client **ret);

/* Reads wait at most ms (-1: forever): -ETIMEDOUT from receiving. -EOPNOTSUPP if the
 * transport cannot. */
int alb_client_set_read_timeout(alb_client *client, int ms);

/* Makes the client remote (above). */
void alb_client_set_remote(alb_client *client);
bool alb_client_is_remote(const alb_client *client);
/* Whether the last call ended with the TLS endpoint refusing the session (its
 * failure of sequence number 0: the certificate chain or its policies). */
bool alb_client_endpoint_refused(const alb_client *client);

/* The largest frame accepted from the peer (0: ALB_FRAME_MAX_DEFAULT). */
void alb_client_set_frame_max(alb_client *client, uint64_t max);

/* Takes the next sequence number: 1, 2, 3, ... */
uint64_t alb_client_next_seq(alb_client *client);

/* The error code of the failure reply that ended the last call, or 0 if none did. */
uint32_t alb_client_get_refused(const alb_client *client);

/* Sends a message as one frame. 0, -EINVAL (a message that would not decode), -errno. */
int alb_client_send(alb_client *client, const alb_msg *msg);

/* Sends len (1 .. ALB_CHUNK_MAX) bytes as a chunk data message of seq about name. */
int alb_client_send_chunk(alb_client *client, uint64_t seq, const alb_name *name,
			  const uint8_t *buf, size_t len);

/* Sends an end-of-stream frame. */
int alb_client_send_end(alb_client *client);

/*
 * Receives one message: 0 and *ret (freed with alb_msg_free()), or
 * ALB_CLIENT_END and *ret NULL for an end-of-stream frame; -EPIPE when the
 * peer closed between frames, -EBADMSG for a frame over the bound, cut short
 * or not decodable, -EPROTO for another protocol version, -errno.
 */
int alb_client_receive(alb_client *client, alb_msg **ret);

/*
 * Sends the command msg (its seq set to alb_client_next_seq()) and receives
 * its reply: 0 and the success reply in *ret. A failure reply gives -code
 * with the peer's message in the context; anything but a reply with the
 * command's seq is -EBADMSG.
 */
int alb_client_request(alb_client *client, alb_msg *msg, alb_msg **ret);

/*
 * As alb_client_request(), with a stream after the command: size bytes from
 * buf, or read from fd, as chunks of at most ALB_CHUNK_MAX bytes, then an
 * end-of-stream frame, then the reply. If the peer closes the connection
 * while the stream is sent, a failure reply that it sent first is reported.
 * A file shorter than size is -EIO. progress (may be NULL) is called after
 * each chunk.
 */
int alb_client_request_upload(alb_client *client, alb_msg *msg, const uint8_t *buf, uint64_t size,
			      alb_client_progress_fn progress, void *userdata, alb_msg **ret);
int alb_client_request_upload_fd(alb_client *client, alb_msg *msg, int fd, uint64_t size,
				 alb_client_progress_fn progress, void *userdata, alb_msg **ret);

/*
 * Receives the chunk stream of the command seq up to its end-of-stream frame,
 * passing each chunk to sink. With expected other than UINT64_MAX, a stream
 * of another length is -EBADMSG (also as soon as it is longer); it is the
 * total given to progress (0 otherwise). Returns 0 and the byte count in
 * *ret_size (may be NULL). A failure message ends it with -code.
 */
int alb_client_download(alb_client *client, uint64_t seq, uint64_t expected,
			alb_client_sink_fn sink, void *sink_userdata,
			alb_client_progress_fn progress, void *userdata, uint64_t *ret_size);
/* The same, writing the chunks to fd. */
int alb_client_download_fd(alb_client *client, uint64_t seq, uint64_t expected, int fd,
			   alb_client_progress_fn progress, void *userdata, uint64_t *ret_size);

#ifdef __cplusplus
}
#endif

#endif
