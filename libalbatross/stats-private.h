/* SPDX-License-Identifier: ISC */
/*
 * The stats module's internals: /proc parsing (testable on crafted files),
 * an append buffer, InfluxDB line protocol and Prometheus text writers, a
 * bounded line queue, and the two network ends of albatross-stats that run
 * on the event loop: an InfluxDB sender (HTTP write API or a plain TCP
 * line-protocol socket) and a minimal HTTP/1.1 server for GET /metrics.
 * The sample type is the collector's own; the wire only encodes it. No
 * protocol here: the service (stats-service-private.h) is albatross-stats'
 * protocol side.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <albatross/loop.h>
#include <albatross/stats.h>
#include <albatross/sys/stats.h>

#include "bounds-private.h"
#include "util-private.h"

/* ---- an append buffer ----------------------------------------------------- */

/* Grows up to max bytes (0: 256 MiB); after a failure (ENOMEM or over max)
 * every further append is ignored and failed is set. */
struct alb_buf {
	char *data; /* NUL-terminated while not failed */
	size_t len, cap, max;
	bool failed;
};

void alb_buf_put(struct alb_buf *b, const char *s, size_t len);
void alb_buf_puts(struct alb_buf *b, const char *s);
void alb_buf_printf(struct alb_buf *b, const char *fmt, ...) _printf_(2, 3);
/* Takes the text (NULL after a failure) and resets the buffer. */
char *alb_buf_steal(struct alb_buf *b);
void alb_buf_free(struct alb_buf *b);

/* ---- /proc ---------------------------------------------------------------- */

/* Host facts for converting /proc figures. */
struct alb_stats_host {
	uint64_t hz;		   /* clock ticks per second */
	uint64_t page_size;	   /* bytes */
	uint64_t boot_realtime_us; /* the realtime clock at boot (realtime - boottime) */
};

/* Bounds of the files read. */
#define ALB_STATS_STAT_MAX   4096u /* /proc/PID/stat: comm is at most 64 bytes */
#define ALB_STATS_STATM_MAX  512u
#define ALB_STATS_STATUS_MAX 65536u

/* Parse the text of /proc/PID/stat, statm, status into s (time_us, pid and
 * ifs untouched). The text need not be NUL-terminated. 0 or -EBADMSG with the
 * reason in ctx. */
int alb_stats_parse_stat(alb_ctx *ctx, const char *buf, size_t len,
			 const struct alb_stats_host *host, struct alb_stats *s);
int alb_stats_parse_statm(alb_ctx *ctx, const char *buf, size_t len,
			  const struct alb_stats_host *host, struct alb_stats *s);
int alb_stats_parse_status(alb_ctx *ctx, const char *buf, size_t len, struct alb_stats *s);

/* Reads stat, statm and status below the directory dirfd (a /proc/PID or a
 * crafted one). 0, -ESRCH (gone), -EBADMSG, -errno. */
int alb_stats_read_proc_dir(alb_ctx *ctx, int dirfd, const struct alb_stats_host *host,
			    struct alb_stats *s);

/* Reads the KVM debugfs counters in the directory dirfd into s (bounded). */
int alb_stats_read_kvm_dir(alb_ctx *ctx, int dirfd, struct alb_stats *s);

/* ---- InfluxDB line protocol ----------------------------------------------- */

enum alb_influx_escape { ALB_INFLUX_MEASUREMENT = 1, ALB_INFLUX_KEY };

/* Appends s escaped: a measurement escapes ',' and ' ', a tag key, tag value
 * or field key also '='; backslashes before those are doubled, and control
 * characters (never valid) become '_'. */
void alb_influx_escape(struct alb_buf *b, const char *s, int what);
/* A line: measurement[,tag=value...] field=Ni[,field=Ni...] timestamp_ns\n.
 * Integers above INT64_MAX are written as INT64_MAX. */
void alb_influx_begin(struct alb_buf *b, const char *measurement);
void alb_influx_tag(struct alb_buf *b, const char *key, const char *value);
void alb_influx_field(struct alb_buf *b, bool *first, const char *key, uint64_t value);
void alb_influx_end(struct alb_buf *b, uint64_t time_us);

/* ---- Prometheus text ------------------------------------------------------ */

/* "# HELP name help\n# TYPE name type\n" (help escaped). */
void alb_prom_family(struct alb_buf *b, const char *name, const char *type, const char *help);
/* "name{k="v",...} value\n": labels are n pairs (key, value), values escaped
 * (backslash, double quote, newline). value is written as given. */
void alb_prom_series(struct alb_buf *b, const char *name, const char *const *labels, uint32_t n,
		     const char *value);
/* Formats µs as seconds ("12.000345") or an integer, into buf (32 bytes). */
const char *alb_prom_seconds(char buf[32], uint64_t us);
const char *alb_prom_u64(char buf[32], uint64_t v);

/* ---- a bounded queue of lines --------------------------------------------- */

struct alb_line_queue {
	char **lines; /* a ring of cap entries */
	uint32_t cap, head, count;
	uint32_t inflight; /* the first inflight lines are being sent */
	uint64_t dropped;  /* lines dropped because the queue was full */
};

/* cap: 1 .. 10000000 lines. 0, -EINVAL, -ENOMEM. */
int alb_line_queue_init(struct alb_line_queue *q, uint32_t cap);
void alb_line_queue_done(struct alb_line_queue *q);
/* Appends a copy of len bytes (a line without its newline); when full, the
 * oldest line is dropped first (counted in dropped; an in-flight one too).
 * 1 if a line was dropped, 0 if not, -ENOMEM. */
int alb_line_queue_push(struct alb_line_queue *q, const char *line, size_t len);
/* The line at index (0 oldest), borrowed; NULL out of range. */
const char *alb_line_queue_peek(const struct alb_line_queue *q, uint32_t index);
/* Removes the n oldest lines. */
void alb_line_queue_pop(struct alb_line_queue *q, uint32_t n);

/* ---- URLs and addresses --------------------------------------------------- */

enum alb_influx_kind { ALB_INFLUX_HTTP = 1, ALB_INFLUX_TCP };

/* "http://HOST:PORT/PATH?QUERY" or "tcp://HOST:PORT". target is the path and
 * query (HTTP; "/write" when absent), at most 2048 bytes. */
int alb_influx_parse_url(alb_ctx *ctx, const char *url, int *ret_kind, char host[256],
			 uint16_t *ret_port, char target[2049]);

/* ---- the InfluxDB sender -------------------------------------------------- */

struct alb_influx;

/* Parses url (see above); nothing is connected until alb_influx_flush().
 * queue_max: lines kept while the server is unreachable (1 .. 10000000). */
int alb_influx_new(alb_ctx *ctx, alb_loop *loop, const char *url, uint32_t queue_max,
		   struct alb_influx **ret);
struct alb_influx *alb_influx_free(struct alb_influx *influx);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct alb_influx *, alb_influx_free);
/* Retry delays after a failure: min doubling up to max (µs). */
void alb_influx_set_retry(struct alb_influx *influx, uint64_t min_us, uint64_t max_us);
/* Queues the lines of text (newline-separated). 0, -ENOMEM. */
int alb_influx_push(struct alb_influx *influx, const char *text);
/* Starts sending what is queued if nothing is in flight and no retry waits. */
void alb_influx_flush(struct alb_influx *influx);
uint64_t alb_influx_get_dropped(const struct alb_influx *influx);
uint64_t alb_influx_get_sent(const struct alb_influx *influx);
uint32_t alb_influx_get_queued(const struct alb_influx *influx);
/* 1 if the last attempt succeeded. */
int alb_influx_is_up(const struct alb_influx *influx);

/* ---- the /metrics HTTP server --------------------------------------------- */

struct alb_http;

/* Produces the body of GET /metrics: *ret_body freed with free(). 0 or -errno (500). */
typedef int (*alb_http_metrics_fn)(void *userdata, char **ret_body, size_t *ret_len);

#define ALB_HTTP_REQUEST_MAX 8192u /* bytes of a request's head */
#define ALB_HTTP_CONNS_MAX   32u
#define ALB_HTTP_TIMEOUT_US  (UINT64_C(10) * 1000000)

/* Listens on addr ("HOST:PORT", "[V6]:PORT"; port 0 picks one). 0, -errno. */
int alb_http_new(alb_ctx *ctx, alb_loop *loop, const char *addr, alb_http_metrics_fn fn,
		 void *userdata, struct alb_http **ret);
struct alb_http *alb_http_free(struct alb_http *http);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct alb_http *, alb_http_free);
/* The port it listens on. */
uint16_t alb_http_get_port(const struct alb_http *http);
