/* SPDX-License-Identifier: ISC */
/*
 * The console relay (console-relay-private.h). Segments sit in one list in the
 * order they came, and in a list per unikernel (a stream). Every segment sent
 * comes before every one not sent yet in the global list (they are sent in
 * that order, acknowledged in it, and all become unsent together when the
 * receiver goes away), so `unsent` points at the first one to send.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>

#include <albatross/loop.h>

#include "console-relay-private.h"
#include "ctx-private.h"
#include "name-private.h"

struct stream;

struct segment {
	struct segment *prev, *next;   /* all of them, in order */
	struct segment *sprev, *snext; /* of the stream, in order */
	struct stream *stream;
	int kind;
	uint64_t time_us, dropped, id;
	bool sent;
	uint32_t len, cap; /* data: cap bytes allocated, len used */
	uint8_t data[];
};

struct stream {
	struct stream *next;
	alb_name name;
	struct segment *head, *tail;
	uint64_t kept;	   /* bytes counted (see cost()) */
	uint64_t waiting;  /* of those, not sent: what the bounds apply to */
	uint64_t dropped;  /* dropped with no later segment to carry it yet */
	bool open;	   /* a run began and did not end */
	bool warned;	   /* said that its output is being dropped */
	uint64_t lost_run; /* dropped since the warning */
};

struct alb_console_relay {
	alb_ctx *ctx;
	uint64_t stream_max, total_max;
	alb_console_relay_send_fn send;
	void *userdata;
	struct stream *streams;
	struct segment *head, *tail, *unsent;
	uint64_t kept, waiting, dropped;
	uint32_t in_flight;
	uint64_t in_flight_bytes;
	bool connected;
};

/* Data segments are made with room for this much, so that output read in small
 * pieces while it waits shares segments (less bookkeeping, fewer messages). */
#define SEGMENT_ROOM 4096u

/* What a segment counts for the bounds: the memory it holds. */
static uint64_t cost(const struct segment *s)
{
	return s->cap + ALB_CONSOLE_RELAY_SEGMENT_COST;
}

static struct stream *stream_find(struct alb_console_relay *r, const alb_name *name)
{
	for (struct stream *st = r->streams; st; st = st->next)
		if (alb_name_equal(&st->name, name) == 1)
			return st;
	return NULL;
}

static struct stream *stream_get(struct alb_console_relay *r, const alb_name *name)
{
	struct stream *st = stream_find(r, name);
	if (st)
		return st;
	st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->name = *name;
	st->next = r->streams;
	r->streams = st;
	return st;
}

/* Frees a stream that has nothing left to do. */
static void stream_gc(struct alb_console_relay *r, struct stream *st)
{
	if (st->open || st->head)
		return;
	for (struct stream **p = &r->streams; *p; p = &(*p)->next)
		if (*p == st) {
			*p = st->next;
			break;
		}
	free(st);
}

/* Takes s out of both lists and frees it (not the stream). */
static void segment_unlink(struct alb_console_relay *r, struct segment *s)
{
	struct stream *st = s->stream;
	if (r->unsent == s)
		r->unsent = s->next;
	if (s->prev)
		s->prev->next = s->next;
	else
		r->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		r->tail = s->prev;
	if (s->sprev)
		s->sprev->snext = s->snext;
	else
		st->head = s->snext;
	if (s->snext)
		s->snext->sprev = s->sprev;
	else
		st->tail = s->sprev;
	st->kept -= cost(s);
	r->kept -= cost(s);
	if (s->sent) {
		r->in_flight--;
		r->in_flight_bytes -= s->len;
	} else {
		st->waiting -= cost(s);
		r->waiting -= cost(s);
	}
	free(s);
}

static struct segment *segment_new(struct alb_console_relay *r, struct stream *st, int kind,
				   uint64_t time_us, const void *data, uint32_t len)
{
	/* Data gets room to take what comes after it while it waits (see add()). */
	uint32_t cap = kind == ALB_CONSOLE_RELAY_DATA && len < SEGMENT_ROOM ? SEGMENT_ROOM : len;
	struct segment *s = calloc(1, sizeof(*s) + cap);
	if (!s)
		return NULL;
	s->stream = st;
	s->kind = kind;
	s->time_us = time_us ? time_us : alb_now_realtime();
	s->len = len;
	s->cap = cap;
	if (len)
		memcpy(s->data, data, len);
	r->kept += cost(s);
	st->kept += cost(s);
	r->waiting += cost(s);
	st->waiting += cost(s);
	return s;
}

/* Appends s at the end of both lists; it carries what its stream dropped before it. */
static void segment_append(struct alb_console_relay *r, struct segment *s)
{
	struct stream *st = s->stream;
	s->dropped = st->dropped;
	st->dropped = 0;
	s->prev = r->tail;
	if (r->tail)
		r->tail->next = s;
	else
		r->head = s;
	r->tail = s;
	if (!r->unsent)
		r->unsent = s;
	s->sprev = st->tail;
	if (st->tail)
		st->tail->snext = s;
	else
		st->head = s;
	st->tail = s;
}

/* Bytes of st's output lost now (counted), and the bytes to report where its next
 * segment (or its next one to come) is: those plus what a dropped segment carried. */
static void stream_lost(struct alb_console_relay *r, struct stream *st, struct segment *next,
			uint64_t lost, uint64_t carried)
{
	if (!lost && !carried)
		return;
	r->dropped += lost;
	if (next)
		next->dropped += lost + carried;
	else
		st->dropped += lost + carried;
	st->lost_run += lost;
	if (!st->warned && lost) {
		_cleanup_free_ char *n = alb_name_to_string(&st->name);
		alb_log_warn(r->ctx,
			     "Dropping console output of '%s': albatross-console is away or "
			     "behind, and more than %" PRIu64 " bytes of it are waiting",
			     n ? n : "?", r->stream_max);
		st->warned = true;
	}
}

/* Drops the oldest segment of st that is not sent, data first (a run's beginning and end
 * go only when nothing else is left). false if nothing could go. */
static bool stream_drop_oldest(struct alb_console_relay *r, struct stream *st)
{
	struct segment *victim = NULL;
	for (struct segment *s = st->head; s && !victim; s = s->snext)
		if (!s->sent && s->kind == ALB_CONSOLE_RELAY_DATA)
			victim = s;
	/* The end of the last run stays: it carries what was lost before it. */
	for (struct segment *s = st->head; s && !victim; s = s->snext)
		if (!s->sent && !(s == st->tail && s->kind == ALB_CONSOLE_RELAY_END))
			victim = s;
	if (!victim)
		return false;
	struct segment *next = victim->snext;
	uint64_t lost = victim->len, carried = victim->dropped;
	segment_unlink(r, victim);
	stream_lost(r, st, next, lost, carried);
	return true;
}

/* The bounds apply to what waits to be sent: what is in flight is bounded by the
 * window, and dropping it would not help (it is sent). */
static void apply_bounds(struct alb_console_relay *r, struct stream *st)
{
	while (st->waiting > r->stream_max && stream_drop_oldest(r, st))
		;
	while (r->waiting > r->total_max) {
		struct stream *big = NULL;
		for (struct stream *o = r->streams; o; o = o->next) {
			bool droppable = false;
			for (struct segment *s = o->head; s && !droppable; s = s->snext)
				droppable = !s->sent;
			if (droppable && (!big || o->waiting > big->waiting))
				big = o;
		}
		if (!big || !stream_drop_oldest(r, big))
			break;
	}
}

/* Segments of st kept again: says so once when its backlog has emptied. */
static void stream_drained(struct alb_console_relay *r, struct stream *st)
{
	if (st->warned && !st->head) {
		_cleanup_free_ char *n = alb_name_to_string(&st->name);
		alb_log_notice(r->ctx,
			       "Console output of '%s' flows again (%" PRIu64 " bytes were lost)",
			       n ? n : "?", st->lost_run);
		st->warned = false;
		st->lost_run = 0;
	}
}

int alb_console_relay_new(alb_ctx *ctx, uint64_t stream_max, uint64_t total_max,
			  alb_console_relay_send_fn send, void *userdata,
			  struct alb_console_relay **ret)
{
	if (!ctx || !send || !ret)
		return -EINVAL;
	struct alb_console_relay *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->ctx = ctx;
	r->stream_max = stream_max ? stream_max : ALB_CONSOLE_RELAY_STREAM_MAX_DEFAULT;
	r->total_max = total_max ? total_max : ALB_CONSOLE_RELAY_TOTAL_MAX_DEFAULT;
	r->send = send;
	r->userdata = userdata;
	*ret = r;
	return 0;
}

int alb_console_relay_set_bounds(struct alb_console_relay *r, uint64_t stream_max,
				 uint64_t total_max)
{
	if (!r)
		return -EINVAL;
	if (stream_max)
		r->stream_max = stream_max;
	if (total_max)
		r->total_max = total_max;
	return 0;
}

struct alb_console_relay *alb_console_relay_free(struct alb_console_relay *r)
{
	if (!r)
		return NULL;
	for (struct segment *s = r->head, *n; s; s = n) {
		n = s->next;
		free(s);
	}
	for (struct stream *st = r->streams, *n; st; st = n) {
		n = st->next;
		free(st);
	}
	free(r);
	return NULL;
}

static int add(struct alb_console_relay *r, const alb_name *name, int kind, uint64_t time_us,
	       const uint8_t *buf, size_t len)
{
	if (!r || !name || !name->has_label || (!buf && len))
		return -EINVAL;
	struct stream *st = stream_get(r, name);
	if (!st)
		return -ENOMEM;
	/* Output that follows output of the same unikernel still waiting, with room,
	 * joins it (it was read a moment later; it is shown with the same time). */
	struct segment *last = st->tail;
	if (kind == ALB_CONSOLE_RELAY_DATA && last && !last->sent &&
	    last->kind == ALB_CONSOLE_RELAY_DATA && !st->dropped && last->len < last->cap) {
		uint32_t n = last->cap - last->len < len ? last->cap - last->len : (uint32_t)len;
		memcpy(last->data + last->len, buf, n);
		last->len += n;
		buf += n;
		len -= n;
		if (len == 0) {
			alb_console_relay_pump(r, false);
			return 0;
		}
	}
	do {
		uint32_t n = len > ALB_CONSOLE_RELAY_SEGMENT_MAX ? ALB_CONSOLE_RELAY_SEGMENT_MAX
								 : (uint32_t)len;
		struct segment *s = segment_new(r, st, kind, time_us, buf, n);
		if (!s) {
			stream_lost(r, st, NULL, len, 0);
			stream_gc(r, st);
			return -ENOMEM;
		}
		segment_append(r, s);
		buf += n;
		len -= n;
		apply_bounds(r, st);
	} while (len > 0);
	if (kind == ALB_CONSOLE_RELAY_BEGIN)
		st->open = true;
	else if (kind == ALB_CONSOLE_RELAY_END)
		st->open = false;
	stream_gc(r, st);
	alb_console_relay_pump(r, false);
	return 0;
}

int alb_console_relay_begin(struct alb_console_relay *r, const alb_name *name, uint64_t time_us)
{
	return add(r, name, ALB_CONSOLE_RELAY_BEGIN, time_us, NULL, 0);
}

int alb_console_relay_lost(struct alb_console_relay *r, const alb_name *name, uint64_t bytes)
{
	if (!r || !name || !name->has_label)
		return -EINVAL;
	if (!bytes)
		return 0;
	struct stream *st = stream_get(r, name);
	if (!st)
		return -ENOMEM;
	/* Carried by its next segment, as the relay's own losses are. */
	r->dropped += bytes;
	st->dropped += bytes;
	return 0;
}

int alb_console_relay_data(struct alb_console_relay *r, const alb_name *name, uint64_t time_us,
			   const void *buf, size_t len)
{
	if (len == 0)
		return r && name ? 0 : -EINVAL;
	return add(r, name, ALB_CONSOLE_RELAY_DATA, time_us, buf, len);
}

int alb_console_relay_end(struct alb_console_relay *r, const alb_name *name, uint64_t time_us)
{
	return add(r, name, ALB_CONSOLE_RELAY_END, time_us, NULL, 0);
}

void alb_console_relay_pump(struct alb_console_relay *r, bool all)
{
	if (!r)
		return;
	while (r->connected && r->unsent &&
	       (all || (r->in_flight < ALB_CONSOLE_RELAY_WINDOW_SEGMENTS &&
			r->in_flight_bytes < ALB_CONSOLE_RELAY_WINDOW_BYTES))) {
		struct segment *s = r->unsent;
		struct alb_console_relay_segment out = {
		    .kind = s->kind,
		    .name = &s->stream->name,
		    .time_us = s->time_us,
		    .data = s->len ? s->data : NULL,
		    .len = s->len,
		    .dropped = s->dropped,
		};
		uint64_t id;
		if (r->send(r->userdata, &out, &id) < 0)
			return;
		s->sent = true;
		s->id = id;
		s->stream->waiting -= cost(s);
		r->waiting -= cost(s);
		r->in_flight++;
		r->in_flight_bytes += s->len;
		r->unsent = s->next;
	}
}

void alb_console_relay_connected(struct alb_console_relay *r)
{
	if (!r)
		return;
	r->connected = true;
	/* A receiver that restarted knows no run: open ones begin again, before
	 * everything else (a begin of a run known already changes nothing). */
	for (struct stream *st = r->streams; st; st = st->next) {
		if (!st->open)
			continue;
		struct segment *s = segment_new(r, st, ALB_CONSOLE_RELAY_BEGIN, 0, NULL, 0);
		if (!s)
			continue;
		assert(!r->head || !r->head->sent);
		s->next = r->head;
		if (r->head)
			r->head->prev = s;
		else
			r->tail = s;
		r->head = s;
		r->unsent = s;
		s->snext = st->head;
		if (st->head)
			st->head->sprev = s;
		else
			st->tail = s;
		st->head = s;
	}
	alb_console_relay_pump(r, false);
}

void alb_console_relay_disconnected(struct alb_console_relay *r)
{
	if (!r)
		return;
	r->connected = false;
	for (struct segment *s = r->head; s && s->sent; s = s->next) {
		s->sent = false;
		s->stream->waiting += cost(s);
		r->waiting += cost(s);
	}
	r->in_flight = 0;
	r->in_flight_bytes = 0;
	r->unsent = r->head;
}

void alb_console_relay_ack(struct alb_console_relay *r, uint64_t id, bool ok)
{
	if (!r)
		return;
	for (struct segment *s = r->head; s && s->sent; s = s->next)
		if (s->id == id) {
			struct stream *st = s->stream;
			segment_unlink(r, s);
			stream_drained(r, st);
			stream_gc(r, st);
			break;
		}
	alb_console_relay_pump(r, false);
}

uint64_t alb_console_relay_kept(const struct alb_console_relay *r)
{
	return r ? r->kept : 0;
}

uint64_t alb_console_relay_dropped(const struct alb_console_relay *r)
{
	return r ? r->dropped : 0;
}

uint32_t alb_console_relay_in_flight(const struct alb_console_relay *r)
{
	return r ? r->in_flight : 0;
}

uint64_t alb_console_relay_kept_of(const struct alb_console_relay *r, const alb_name *name)
{
	const struct stream *st =
	    r && name ? stream_find((struct alb_console_relay *)r, name) : NULL;
	return st ? st->kept : 0;
}
