/* SPDX-License-Identifier: ISC */
/*
 * The subscription engine of the helper daemons (albatross-console,
 * albatross-log, albatross-stats; docs/protocol.md, "Subscriptions"): one
 * subscriber per connection of the framed server, which first gets the
 * history it asked for, then, with follow, live data.
 *
 * The rules, the same for every service:
 * - History is queued in steps, while less than history_step bytes are
 *   unread on the connection; the next step when it drains.
 * - The live queue of a subscriber is bounded: the bytes unread on its
 *   connection plus those waiting for its history to end. A subscriber that
 *   would go over queue_max is slow: it is dropped with a failure of
 *   ALB_SUB_SLOW ("dropped: more than N bytes of WHAT unread"), then its
 *   connection closes.
 * - The number of subscribers is bounded (in all, and per name): over a
 *   bound, the newer one is served and the oldest subscriber of the peer
 *   (uid, and first label of the name) holding the most goes, with a failure
 *   of ALB_SUB_FULL ("dropped: a newer subscriber came, ...").
 * - Without follow, the end of the history is an end-of-stream frame, and the
 *   connection takes commands again. While a subscription lasts, anything
 *   that comes in on its connection is refused with EBUSY and closes it.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "server-private.h"

/* The errno of the failure that drops a subscriber because a newer one came over a
 * bound ("full"), and the one that drops a subscriber that does not keep up. */
#define ALB_SUB_FULL EUSERS
#define ALB_SUB_SLOW ENOBUFS

/* Defaults: bytes unread per subscriber before it is dropped; history step. */
#define ALB_SUB_QUEUE_MAX_DEFAULT    (UINT64_C(4) << 20)
#define ALB_SUB_HISTORY_STEP_DEFAULT (UINT64_C(256) << 10)

struct alb_subs;
struct alb_sub;

/*
 * Queues more of sub's history with alb_sub_send() while alb_sub_wants_more()
 * (a step). Returns 1 if more remains (called again when the connection
 * drains), 0 when the history is complete, -errno (the subscriber is dropped).
 */
typedef int (*alb_sub_history_fn)(struct alb_sub *sub, void *userdata);

/* The live message for sub: 0 and *ret (taken), or 0 and NULL when the item is not for it;
 * -errno drops it. */
typedef int (*alb_sub_build_fn)(struct alb_sub *sub, void *userdata, alb_msg **ret);

struct alb_subs_options {
	const char *what;	    /* what subscribers get, in messages: "console output" */
	const char *service;	    /* in "a console subscription is in progress": "console" */
	uint32_t max;		    /* subscribers in all; 0: no bound but the server's */
	uint32_t max_per_name;	    /* subscribers of one name; 0: no such bound */
	const char *per_name;	    /* the name's kind in messages: "unikernel" */
	uint64_t queue_max;	    /* 0: ALB_SUB_QUEUE_MAX_DEFAULT */
	uint64_t history_step;	    /* 0: ALB_SUB_HISTORY_STEP_DEFAULT */
	alb_sub_history_fn history; /* NULL: no history */
	void *userdata;		    /* for history */
};

/* 0, -EINVAL, -ENOMEM. */
int alb_subs_new(alb_ctx *ctx, const struct alb_subs_options *options, struct alb_subs **ret);
/* Frees every subscriber (their connections stay as they are). Accepts NULL; returns NULL. */
struct alb_subs *alb_subs_free(struct alb_subs *subs);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct alb_subs *, alb_subs_free);

/*
 * Subscribes conn (which must have none) to name (copied) for the command seq:
 * applies the bounds, sends the success reply, then the history (when
 * history) and, with follow, live data; without follow the end of the history
 * ends the subscription. data is the service's (freed with free_data, which
 * may be NULL, when the subscriber goes; also on failure). 0 or -errno
 * (nothing was sent then).
 */
int alb_subs_add(struct alb_subs *subs, struct alb_conn *conn, uint64_t seq, const alb_name *name,
		 bool history, bool follow, void *data, void (*free_data)(void *data));

/*
 * Offers a live item of about size bytes (its encoded size) to the following
 * subscribers, oldest first: build gives each its message. A subscriber still
 * in its history keeps it until the history ends. A subscriber over the bound
 * is dropped (ALB_SUB_SLOW).
 */
void alb_subs_publish(struct alb_subs *subs, uint64_t size, alb_sub_build_fn build, void *userdata);

/*
 * For the service's server callbacks. on_message: if conn has a subscription,
 * refuses msg (EBUSY, the connection closes) and returns -EBUSY, the value for
 * on_message to return; else 0. on_close and on_drain: pass them on.
 */
int alb_subs_refuse_busy(struct alb_subs *subs, struct alb_conn *conn, const alb_msg *msg);
void alb_subs_conn_closed(struct alb_subs *subs, struct alb_conn *conn);
void alb_subs_conn_drained(struct alb_subs *subs, struct alb_conn *conn);

/* Subscribers now; subscribers dropped as slow and for newer ones since the start. */
unsigned alb_subs_count(const struct alb_subs *subs);
uint64_t alb_subs_dropped_slow(const struct alb_subs *subs);
uint64_t alb_subs_dropped_full(const struct alb_subs *subs);

/* A subscriber's name (borrowed), its command's seq, the service's data. */
const alb_name *alb_sub_get_name(const struct alb_sub *sub);
uint64_t alb_sub_get_seq(const struct alb_sub *sub);
void *alb_sub_get_data(const struct alb_sub *sub);
/* For the history: whether less than a step is unread; queues a message (borrowed). */
bool alb_sub_wants_more(const struct alb_sub *sub);
int alb_sub_send(struct alb_sub *sub, const alb_msg *msg);
