/* SPDX-License-Identifier: ISC */
/*
 * Internals of the event log (log.h): the event itself (the log engine owns
 * the type; the wire only encodes it), the record format, the scanner that
 * both recovery and queries use, and record-level queries for albatross-log,
 * which streams stored records to subscribers without decoding them twice.
 * No sockets here: the service (log-service-private.h) is the protocol side.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <albatross/log.h>
#include <albatross/sys/log.h>

#include "exit-private.h"
#include "name-private.h"
#include "util-private.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct alb_log_event *, alb_log_event_free)

/*
 * The log event map alone (docs/protocol.md, log event): the format of a
 * record's payload. to_cbor: *ret_buf freed with free(); 0, -EINVAL for an
 * event that would not decode, -ENOMEM. from_cbor: exactly one map covering
 * buf; 0, -EBADMSG (reason in ctx), -ENOMEM. (The codec lives with the
 * wire's, wire.c, which encodes the same map inside messages.)
 */
int alb_log_event_to_cbor(alb_ctx *ctx, const struct alb_log_event *event, uint8_t **ret_buf,
			  size_t *ret_len);
int alb_log_event_from_cbor(alb_ctx *ctx, const uint8_t *buf, size_t len,
			    struct alb_log_event **ret);

/* ---- the file --------------------------------------------------------------------------- */

/* The file: ALB_EVENT_LOG_MAGIC, then records. */
#define ALB_EVENT_LOG_MAGIC	  "ALBLOG1\n"
#define ALB_EVENT_LOG_HEADER_SIZE 8u
/* A record: be32 length, be32 crc32(length bytes, payload), payload. */
#define ALB_EVENT_LOG_RECORD_HEADER 8u
#define ALB_EVENT_LOG_RECORD_MAX    (UINT32_C(1) << 20)
/* The largest count of a query. */
#define ALB_EVENT_LOG_QUERY_MAX (UINT32_C(1) << 20)

/* What a scan of one file found. */
struct alb_event_log_scan {
	uint64_t size;		/* bytes of the file scanned */
	uint64_t end;		/* the offset after the last good record (>= the header) */
	uint64_t records;	/* good records */
	uint64_t damaged;	/* damaged regions with good records after them */
	uint64_t damaged_bytes; /* their bytes */
	uint64_t tail_bytes;	/* bytes after the last good record that hold no record */
};

/* One good record: the payload (borrowed) and the event decoded from it (borrowed). */
typedef int (*alb_event_log_record_fn)(const uint8_t *payload, size_t len,
				       const struct alb_log_event *event, void *userdata);

/*
 * Scans the event log file open at fd (from offset 0, size bytes, or the
 * whole file if size is UINT64_MAX), calling fn (may be NULL) for every good
 * record in order. A file too short for the header, or with another header,
 * is -EBADMSG; an empty file is 0 with scan->end 0. Damage is described in
 * *ret_scan, never an error. 0, the value fn returned if < 0, -errno.
 */
int alb_event_log_scan_fd(alb_ctx *ctx, int fd, uint64_t size, alb_event_log_record_fn fn,
			  void *userdata, struct alb_event_log_scan *ret_scan);

/* Appends a decoded event (encoded and checked first). As alb_event_log_append(). */
int alb_event_log_append_event(alb_event_log *log, const struct alb_log_event *event);

/* As alb_event_log_query(), passing records. */
int alb_event_log_query_records(alb_event_log *log, const alb_name *filter, uint64_t since_us,
				uint32_t count, alb_event_log_record_fn fn, void *userdata);

/* Whether an event passes a filter as alb_event_log_query() describes it. */
bool alb_event_log_filter_match(const alb_name *filter, const struct alb_log_event *event);

/* The current file's size in bytes. */
uint64_t alb_event_log_get_size(const alb_event_log *log);

DEFINE_TRIVIAL_CLEANUP_FUNC(alb_event_log *, alb_event_log_free);
