/* SPDX-License-Identifier: ISC */
/*
 * The console relay: albatrossd's bounded backlog of console output on its way
 * to albatross-console (docs/console.md). An engine without sockets: output
 * goes in as segments (a run begins, bytes, a run ended), in order per
 * unikernel; a send function passes them on, at most a window of them
 * unacknowledged; each acknowledgement (the receiver's reply) frees one. What
 * was sent but not acknowledged when the receiver went away is sent again
 * after it is back, so that no byte is lost to a restart of albatross-console.
 *
 * Bounds: each unikernel's backlog (stream_max bytes) and all of them
 * together (total_max). Past a bound the oldest unsent output of that
 * unikernel (of the largest backlog, for the total) goes first; the bytes it
 * held are counted and carried by the next segment of the same unikernel
 * (its `dropped`), so that the receiver can say where output was lost and how
 * much. A segment counts the memory it holds plus ALB_CONSOLE_RELAY_SEGMENT_COST
 * bytes, so that runs without output are bounded too. The bounds apply to what
 * waits to be sent (what is sent and not acknowledged is bounded by the window),
 * and output that comes while earlier output of the same unikernel waits joins
 * its segment.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <albatross/ctx.h>
#include <albatross/name.h>

#define ALB_CONSOLE_RELAY_STREAM_MAX_DEFAULT (UINT64_C(1) << 20)
#define ALB_CONSOLE_RELAY_TOTAL_MAX_DEFAULT  (UINT64_C(64) << 20)
/* Sent and not yet acknowledged, at most. */
#define ALB_CONSOLE_RELAY_WINDOW_SEGMENTS 64u
#define ALB_CONSOLE_RELAY_WINDOW_BYTES	  (UINT64_C(1) << 20)
/* The most bytes of one data segment (longer output is split). */
#define ALB_CONSOLE_RELAY_SEGMENT_MAX  65536u
#define ALB_CONSOLE_RELAY_SEGMENT_COST 64u

enum alb_console_relay_kind {
	ALB_CONSOLE_RELAY_BEGIN = 1, /* a run of the unikernel begins */
	ALB_CONSOLE_RELAY_DATA,	     /* output */
	ALB_CONSOLE_RELAY_END,	     /* the run ended: its output is complete */
};

/* A segment as the send function sees it (borrowed for the call). */
struct alb_console_relay_segment {
	int kind; /* enum alb_console_relay_kind */
	const alb_name *name;
	uint64_t time_us;    /* when it was read, or when the run began or ended */
	const uint8_t *data; /* DATA: len bytes, 1 .. ALB_CONSOLE_RELAY_SEGMENT_MAX */
	uint32_t len;
	uint64_t dropped; /* bytes lost just before this segment; 0 none */
};

/*
 * Passes a segment on. 0 with *ret_id the id its acknowledgement will carry;
 * a negative errno value when it cannot be sent now (it stays, and is tried
 * again at the next alb_console_relay_pump()).
 */
typedef int (*alb_console_relay_send_fn)(void *userdata,
					 const struct alb_console_relay_segment *segment,
					 uint64_t *ret_id);

struct alb_console_relay;

/* stream_max, total_max: 0 for the defaults. 0, -EINVAL, -ENOMEM. */
int alb_console_relay_new(alb_ctx *ctx, uint64_t stream_max, uint64_t total_max,
			  alb_console_relay_send_fn send, void *userdata,
			  struct alb_console_relay **ret);
/* Changes the bounds (0: keep); applied at the next output. 0, -EINVAL. */
int alb_console_relay_set_bounds(struct alb_console_relay *relay, uint64_t stream_max,
				 uint64_t total_max);
/* Frees what is kept, sent or not. Accepts NULL. Returns NULL. */
struct alb_console_relay *alb_console_relay_free(struct alb_console_relay *relay);

/* The output of name: a run begins, bytes (any length; split as needed), the run ended.
 * time_us 0: now. 0, -EINVAL, -ENOMEM (then the bytes count as dropped). */
int alb_console_relay_begin(struct alb_console_relay *relay, const alb_name *name,
			    uint64_t time_us);
int alb_console_relay_data(struct alb_console_relay *relay, const alb_name *name, uint64_t time_us,
			   const void *buf, size_t len);
int alb_console_relay_end(struct alb_console_relay *relay, const alb_name *name, uint64_t time_us);
/* Bytes of name's output lost before they reached the relay (its monitor's bound): counted
 * as dropped and reported with its next segment. 0, -EINVAL, -ENOMEM. */
int alb_console_relay_lost(struct alb_console_relay *relay, const alb_name *name, uint64_t bytes);

/*
 * The receiver is there (again): every run still open is begun again first (a
 * restarted receiver knows none), then everything kept is sent as the window
 * allows.
 */
void alb_console_relay_connected(struct alb_console_relay *relay);
/* The receiver went away: nothing is sent until alb_console_relay_connected(), and what
 * was sent but not acknowledged is sent again then. */
void alb_console_relay_disconnected(struct alb_console_relay *relay);
/* The receiver acknowledged the segment sent with id (ok: it took it; !ok: it refused it,
 * which drops it too). Unknown ids are ignored. Then sends more. */
void alb_console_relay_ack(struct alb_console_relay *relay, uint64_t id, bool ok);
/* Sends what the window allows (while connected). all: ignore the window (at exit). */
void alb_console_relay_pump(struct alb_console_relay *relay, bool all);

/* Bytes kept (counted as for the bounds), bytes dropped so far, segments unacknowledged. */
uint64_t alb_console_relay_kept(const struct alb_console_relay *relay);
uint64_t alb_console_relay_dropped(const struct alb_console_relay *relay);
uint32_t alb_console_relay_in_flight(const struct alb_console_relay *relay);
/* Output of name kept and not yet acknowledged, in bytes (0 if none). */
uint64_t alb_console_relay_kept_of(const struct alb_console_relay *relay, const alb_name *name);
