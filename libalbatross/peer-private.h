/* SPDX-License-Identifier: ISC */
/*
 * A connection from one daemon to another's Unix socket, on the loop: it
 * connects, and reconnects with a back-off whenever the other side is down or
 * goes away, so that no daemon depends on another being up. Messages are
 * encoded into a bounded queue; replies are read and failures logged.
 */
#pragma once

#include <albatross/loop.h>

#include "wire-private.h"

struct alb_peer;

struct alb_peer_ops {
	/* Connected (again): the place to send the state the other side needs. */
	void (*on_connect)(struct alb_peer *peer, void *userdata);
	/* The connection is gone; a reconnect is scheduled. */
	void (*on_disconnect)(struct alb_peer *peer, void *userdata);
	/* The other side refused a message (a failure reply, borrowed). May be NULL. */
	void (*on_failure)(struct alb_peer *peer, const alb_msg *failure, void *userdata);
	/* Any reply, success or failure (after on_failure), borrowed: its seq is that of
	 * the message it answers (alb_peer_send() sets msg->seq). May be NULL. */
	void (*on_reply)(struct alb_peer *peer, const alb_msg *reply, void *userdata);
};

/*
 * name names the other daemon in log messages. With keep_while_down, messages
 * sent while disconnected are queued (up to queue_max bytes, the oldest
 * dropped and counted) and delivered after the reconnect; without, they are
 * dropped (the state is resent by on_connect).
 */
int alb_peer_new(alb_ctx *ctx, alb_loop *loop, const char *name, const char *path,
		 const struct alb_peer_ops *ops, void *userdata, bool keep_while_down,
		 uint64_t queue_max, struct alb_peer **ret);
struct alb_peer *alb_peer_free(struct alb_peer *peer);
bool alb_peer_connected(const struct alb_peer *peer);
/* Queues a message (its seq is set by the peer, in msg->seq). 0, -ENOTCONN (dropped),
 * -ENOMEM. */
int alb_peer_send(struct alb_peer *peer, alb_msg *msg);
/* Messages dropped so far (queue full, or down without keep_while_down). */
uint64_t alb_peer_dropped(const struct alb_peer *peer);
/* Writes what is queued, waiting at most timeout_ms (at exit). */
void alb_peer_flush(struct alb_peer *peer, int timeout_ms);
