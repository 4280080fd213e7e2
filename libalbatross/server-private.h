/* SPDX-License-Identifier: ISC */
/*
 * A framed-message server on the event loop, shared by the daemons: listening
 * Unix sockets (or inherited ones), connections with an incremental frame
 * reader, a bounded output queue and flow control for streams.
 */
#pragma once

#include <sys/types.h>

#include <albatross/loop.h>

#include "wire-private.h"

struct alb_server;
struct alb_conn;

struct alb_server_ops {
	/* A frame arrived: msg (NULL for an end-of-stream frame) is the callee's.
	 * Undecodable frames never get here: the server answers them itself with a
	 * failure and closes the connection. Return < 0 to close the connection. */
	int (*on_message)(struct alb_conn *conn, alb_msg *msg, void *userdata);
	/* The connection is gone (called once; the conn may still be referenced). */
	void (*on_close)(struct alb_conn *conn, void *userdata);
	/* Everything queued was written (for streaming out). May be NULL. */
	void (*on_drain)(struct alb_conn *conn, void *userdata);
};

/* Bounds: connections at once, bytes queued for output per connection. */
#define ALB_SERVER_CONNS_MAX 256u
#define ALB_SERVER_QUEUE_MAX (UINT64_C(128) << 20)
/* SO_SNDBUF asked for on each connection (the kernel caps it at net.core.wmem_max). */
#define ALB_SERVER_SNDBUF (1 << 20)
/* Frames of one connection handled in one turn of the loop, before the others'. */
#define ALB_SERVER_BURST 32u

/*
 * Fair share (docs/protocol.md): when every slot is taken, a newcomer takes the slot
 * of the idlest connection of the uid that holds the most (its own when it holds as
 * many); a connection closes when it has nothing under way for idle_ms, when its
 * reader has read nothing of its output for idle_ms, and when a message or an upload
 * in progress brings less than min_rate bytes/s over a window of min(idle_ms, 10 s).
 * A connection whose command runs is never closed by these. The environment sets the
 * defaults: ALBATROSS_IDLE_TIMEOUT (seconds), ALBATROSS_MIN_RATE (bytes/s).
 */
#define ALB_SERVER_IDLE_MS_DEFAULT  60000u
#define ALB_SERVER_MIN_RATE_DEFAULT 1024u
struct alb_server_limits {
	uint64_t conns_max;
	uint64_t idle_ms;
	uint64_t min_rate;
};

int alb_server_new(alb_ctx *ctx, alb_loop *loop, const struct alb_server_ops *ops, void *userdata,
		   uint64_t frame_max, struct alb_server **ret);
/* Closes every connection (on_close called) and the listening sockets. */
struct alb_server *alb_server_free(struct alb_server *server);

/* Binds path (a stale socket there is replaced), mode, group gid unless -1. */
int alb_server_listen_unix(struct alb_server *server, const char *path, unsigned mode, gid_t gid);
/* Serves an already listening socket (socket activation); takes it over. */
int alb_server_add_listen_fd(struct alb_server *server, int fd);
/* The loop is about to stop: writes out what is queued on every connection, waiting for
 * the peers up to timeout_ms in all (what does not go by then is dropped with them). */
void alb_server_flush(struct alb_server *server, int timeout_ms);
/* Number of open connections. */
unsigned alb_server_conn_count(const struct alb_server *server);
/* Replaces the bounds (conns_max 0 is taken as 1, idle_ms 0 as the default). */
void alb_server_set_limits(struct alb_server *server, const struct alb_server_limits *limits);

struct alb_conn *alb_conn_ref(struct alb_conn *conn);
struct alb_conn *alb_conn_unref(struct alb_conn *conn);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct alb_conn *, alb_conn_unref);

/* Queues a message / an end-of-stream frame. -EPIPE if closed, -ENOBUFS over the bound. */
int alb_conn_send(struct alb_conn *conn, const alb_msg *msg);
int alb_conn_send_end(struct alb_conn *conn);
/* Queues a failure reply to (seq, name) with a printf message. */
int alb_conn_send_failure(struct alb_conn *conn, uint64_t seq, const alb_name *name, int error,
			  const char *fmt, ...) _printf_(5, 6);
/* Queues a success reply of kind ALB_REPLY_EMPTY, or ALB_REPLY_STRING if text. */
int alb_conn_send_ok(struct alb_conn *conn, uint64_t seq, const alb_name *name, const char *text);
/* Bytes queued and not yet written. */
uint64_t alb_conn_queued(const struct alb_conn *conn);
/* Stops (true) or resumes reading frames: a command is in progress. */
void alb_conn_pause(struct alb_conn *conn, bool pause);
/* Closes after everything queued is written. */
void alb_conn_close(struct alb_conn *conn);
bool alb_conn_is_closed(const struct alb_conn *conn);
void alb_conn_set_data(struct alb_conn *conn, void *data);
void *alb_conn_get_data(const struct alb_conn *conn);
/* A subscription holds the connection (true): waiting for data is not idleness. */
void alb_conn_set_streaming(struct alb_conn *conn, bool streaming);
/* The service waits for more frames of a command (an upload): they must keep coming at
 * the minimum rate. */
void alb_conn_set_receiving(struct alb_conn *conn, bool receiving);
/* albatrossd's connection that feeds a helper daemon (console output, events, stats
 * registrations): lasting by design, it is never closed by the bounds. For a privileged
 * peer only. */
void alb_conn_set_feed(struct alb_conn *conn);
/* The command feed (docs/protocol.md): from root or this process's uid, the connection is
 * a feed and a success is queued; from anyone else, a failure (EPERM). The queueing's
 * result. */
int alb_conn_take_feed(struct alb_conn *conn, const alb_msg *msg);
/* The peer's credentials (SO_PEERCRED). */
uid_t alb_conn_peer_uid(const struct alb_conn *conn);
