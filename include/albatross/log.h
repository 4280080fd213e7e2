/* SPDX-License-Identifier: ISC */
/**
 * @file log.h
 * @brief The persistent event log of albatross-log: records, recovery, rotation, queries.
 *
 * An event log is one file (for example /var/lib/albatross/log/events.log)
 * of records appended one after the other, and at most one older file beside
 * it ("PATH.1") that rotation left. docs/log.md describes the format: an
 * 8-byte file header, then per record a 4-byte big-endian length, a CRC-32
 * (zlib) of the length and the payload, and the payload: one log event as
 * the CBOR map of docs/protocol.md.
 *
 * Durability: alb_event_log_append() returns after the record reached the
 * disk (fdatasync). After a crash, alb_event_log_open() finds a torn or
 * corrupt last record, reports it and cuts it off, never touching the
 * records before it. Damage in the middle of a file (a record that fails its
 * check with good records after it) is skipped by every reader and reported;
 * the bytes stay where they are.
 *
 * Ownership: a log is an owned value (alb_event_log_free()). Events passed to
 * an alb_log_event_fn are borrowed for the duration of the call.
 */
#ifndef ALBATROSS_LOG_H
#define ALBATROSS_LOG_H

#include <stdint.h>

#include <albatross/ctx.h>
#include <albatross/name.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque open event log; an owned value. */
typedef struct alb_event_log alb_event_log;
/** Opaque log event (docs/protocol.md, log event); only ever borrowed. */
typedef struct alb_log_event alb_log_event;

/** The default bound of the log file's size before it is rotated. */
#define ALB_EVENT_LOG_MAX_SIZE_DEFAULT (UINT64_C(16) << 20)
/** The smallest and largest rotation bounds accepted. */
#define ALB_EVENT_LOG_MAX_SIZE_MIN (UINT64_C(4) << 10)
#define ALB_EVENT_LOG_MAX_SIZE_MAX (UINT64_C(1) << 40)

/**
 * Opens the event log at @p path, creating it (mode 0640) if it does not
 * exist, and checks every record. A torn or corrupt last record is reported
 * through the context's log handler and truncated away; damage in the middle
 * is reported and skipped (see alb_event_log_get_dropped()).
 * @param max_size rotate when a record would make the file larger than this:
 * ALB_EVENT_LOG_MAX_SIZE_MIN .. ALB_EVENT_LOG_MAX_SIZE_MAX, or 0 for the default.
 * @return 0, -EINVAL, -EBADMSG when the file is not an event log (it is left
 * untouched), -ENOMEM, another -errno of open(2), read(2) or ftruncate(2).
 */
int alb_event_log_open(alb_ctx *ctx, const char *path, uint64_t max_size, alb_event_log **ret_log);

/** Closes the log. Accepts NULL. @return NULL. */
alb_event_log *alb_event_log_free(alb_event_log *log);

/**
 * Appends one event, given as its CBOR map (docs/protocol.md, log event,
 * checked as strictly as the wire decoder does), and waits until it is on
 * disk. Rotates first if the record would make the file larger than the
 * bound: the file becomes "PATH.1" (replacing an older one) and a new file
 * is started.
 * @return 0, -EINVAL, -EBADMSG for a malformed event, -EMSGSIZE for an
 * event over 1 MiB, -errno of write(2), fdatasync(2), rename(2).
 */
int alb_event_log_append(alb_event_log *log, const uint8_t *event, uint64_t len);

/**
 * Bytes cut off the end of the file when it was opened (a torn last record),
 * and bytes of damaged regions in the middle that readers skip.
 */
uint64_t alb_event_log_get_dropped(const alb_event_log *log);
uint64_t alb_event_log_get_skipped(const alb_event_log *log);

/** Receives one event of a query; return < 0 to stop the query with that value. */
typedef int (*alb_log_event_fn)(const alb_log_event *event, void *userdata);

/**
 * Calls @p fn for the selected events, oldest first (the rotated file's,
 * then the current file's, in the order they were appended).
 * @param filter NULL or the root for every event; a path for the events
 * whose name is at or below it; a name for the events of exactly that name.
 * Events without a name (the daemon's own) match only the root.
 * @param since_us only events of this time or later (µs since the epoch; 0: all).
 * @param count only the last @p count of the events selected so far
 * (0: all of them); at most 1048576.
 * @return 0, the negative value @p fn returned, -EINVAL, -ENOMEM, -errno.
 */
int alb_event_log_query(alb_event_log *log, const alb_name *filter, uint64_t since_us,
			uint32_t count, alb_log_event_fn fn, void *userdata);

/** @return the event's kind as docs/protocol.md names it ("unikernel-started"), borrowed. */
const char *alb_log_event_get_kind(const alb_log_event *event);
/** @return the event's time in µs since the epoch. */
uint64_t alb_log_event_get_time(const alb_log_event *event);
/** @return the unikernel, path or block the event is about, borrowed; NULL for none. */
const alb_name *alb_log_event_get_name(const alb_log_event *event);

/**
 * Encodes the event as its CBOR map (what alb_event_log_append() takes).
 * @param ret_buf the bytes, freed with alb_free().
 * @return 0, -EINVAL, -ENOMEM.
 */
int alb_log_event_encode(alb_ctx *ctx, const alb_log_event *event, uint8_t **ret_buf,
			 uint64_t *ret_len);

#ifdef __cplusplus
}
#endif

#endif
