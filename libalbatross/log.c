/* SPDX-License-Identifier: ISC */
/* The persistent event log: records, recovery, rotation, queries (log.h, docs/log.md). */
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <zlib.h>

#include <albatross/loop.h>

#include "ctx-private.h"
#include "log-private.h"

struct alb_event_log {
	alb_ctx *ctx;
	char *path;	/* the current file */
	char *old_path; /* path.1, the rotated one */
	char *dir;	/* the directory holding both */
	int fd;
	uint64_t size; /* the end of the last good record */
	uint64_t max_size;
	uint64_t dropped, skipped;
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* The checksum covers the length too, so that a damaged length is caught as well. */
static uint32_t record_crc(const uint8_t *len_bytes, const uint8_t *payload, size_t len)
{
	uLong crc = crc32(0L, Z_NULL, 0);

	crc = crc32(crc, len_bytes, 4);
	crc = crc32(crc, payload, (uInt)len);
	return (uint32_t)crc;
}

/*
 * The record at offset o of the mapped file: 1 and the event if it is good,
 * 0 if not. quick: only consider it if the payload starts like a log event
 * map (2 .. 12 keys), which makes resynchronizing cheap.
 */
static int record_at(const uint8_t *base, uint64_t size, uint64_t o, bool quick, uint32_t *ret_len,
		     struct alb_log_event **ret_event)
{
	if (size - o < ALB_EVENT_LOG_RECORD_HEADER)
		return 0;
	const uint8_t *h = base + o;
	uint32_t len = be32(h);
	if (len == 0 || len > ALB_EVENT_LOG_RECORD_MAX ||
	    size - o - ALB_EVENT_LOG_RECORD_HEADER < len)
		return 0;
	const uint8_t *payload = h + ALB_EVENT_LOG_RECORD_HEADER;
	if (quick && (payload[0] < 0xa2 || payload[0] > 0xac))
		return 0;
	if (record_crc(h, payload, len) != be32(h + 4))
		return 0;
	/* No context: a failed attempt must not replace the caller's last error. */
	if (alb_log_event_from_cbor(NULL, payload, len, ret_event) < 0)
		return 0;
	*ret_len = len;
	return 1;
}

static inline void log_event_freep(struct alb_log_event **event)
{
	alb_log_event_free(*event);
}

int alb_event_log_scan_fd(alb_ctx *ctx, int fd, uint64_t size, alb_event_log_record_fn fn,
			  void *userdata, struct alb_event_log_scan *ret_scan)
{
	struct alb_event_log_scan scan = {0};
	int r = 0;

	if (fd < 0 || !ret_scan)
		return -EINVAL;
	if (size == UINT64_MAX) {
		struct stat st;
		if (fstat(fd, &st) < 0)
			return alb_error(ctx, errno, "Failed to inspect the event log: %s",
					 strerror(errno));
		if (!S_ISREG(st.st_mode))
			return alb_error(ctx, EBADMSG, "the event log is not a regular file");
		size = (uint64_t)st.st_size;
	}
	scan.size = size;
	if (size == 0) {
		*ret_scan = scan;
		return 0;
	}
	if ((size_t)size != size || size > (UINT64_C(1) << 48))
		return alb_error(ctx, EFBIG, "the event log is too large to read");

	uint8_t *base = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (base == MAP_FAILED)
		return alb_error(ctx, errno, "Failed to read the event log: %s", strerror(errno));

	if (size < ALB_EVENT_LOG_HEADER_SIZE) {
		/* A header cut short while the file was being made: no record yet. */
		if (memcmp(base, ALB_EVENT_LOG_MAGIC, (size_t)size) != 0)
			r = alb_error(ctx, EBADMSG, "not an albatross event log (bad header)");
		else
			scan.tail_bytes = size;
		goto out;
	}
	if (memcmp(base, ALB_EVENT_LOG_MAGIC, ALB_EVENT_LOG_HEADER_SIZE) != 0) {
		r = alb_error(ctx, EBADMSG, "not an albatross event log (bad header)");
		goto out;
	}

	uint64_t o = ALB_EVENT_LOG_HEADER_SIZE;
	scan.end = o;
	while (o < size) {
		_cleanup_(log_event_freep) struct alb_log_event *ev = NULL;
		uint32_t len = 0;
		if (record_at(base, size, o, false, &len, &ev)) {
			if (fn) {
				r = fn(base + o + ALB_EVENT_LOG_RECORD_HEADER, len, ev, userdata);
				if (r < 0)
					goto out;
				r = 0;
			}
			o += ALB_EVENT_LOG_RECORD_HEADER + len;
			scan.end = o;
			scan.records++;
			continue;
		}
		/* Damage at o: is there a good record after it? */
		uint64_t p = o + 1;
		for (; p < size; p++) {
			_cleanup_(log_event_freep) struct alb_log_event *probe = NULL;
			uint32_t plen;
			if (record_at(base, size, p, true, &plen, &probe))
				break;
		}
		if (p >= size) {
			scan.tail_bytes = size - o;
			break;
		}
		scan.damaged++;
		scan.damaged_bytes += p - o;
		o = p;
	}
out:
	munmap(base, (size_t)size);
	if (r < 0)
		return r;
	*ret_scan = scan;
	return 0;
}

static int fsync_dir(const char *dir)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0)
		return -errno;
	return 0;
}

/* Makes fd hold just the file header. */
static int write_header(int fd)
{
	if (ftruncate(fd, 0) < 0)
		return -errno;
	ssize_t n = pwrite(fd, ALB_EVENT_LOG_MAGIC, ALB_EVENT_LOG_HEADER_SIZE, 0);
	if (n < 0)
		return -errno;
	if ((size_t)n != ALB_EVENT_LOG_HEADER_SIZE)
		return -EIO;
	if (fdatasync(fd) < 0)
		return -errno;
	return 0;
}

ALB_EXPORT alb_event_log *alb_event_log_free(alb_event_log *log)
{
	if (!log)
		return NULL;
	if (log->fd >= 0)
		close(log->fd);
	free(log->path);
	free(log->old_path);
	free(log->dir);
	alb_ctx_unref(log->ctx);
	free(log);
	return NULL;
}

ALB_EXPORT int alb_event_log_open(alb_ctx *ctx, const char *path, uint64_t max_size,
				  alb_event_log **ret_log)
{
	_cleanup_(alb_event_log_freep) alb_event_log *log = NULL;
	struct alb_event_log_scan scan;
	int r;

	if (!ctx || !path || !path[0] || !ret_log)
		return -EINVAL;
	if (max_size == 0)
		max_size = ALB_EVENT_LOG_MAX_SIZE_DEFAULT;
	if (max_size < ALB_EVENT_LOG_MAX_SIZE_MIN || max_size > ALB_EVENT_LOG_MAX_SIZE_MAX)
		return alb_error(ctx, EINVAL,
				 "the event log's size bound must be from %" PRIu64 " to %" PRIu64
				 " bytes",
				 ALB_EVENT_LOG_MAX_SIZE_MIN, ALB_EVENT_LOG_MAX_SIZE_MAX);
	if (strlen(path) > 4000)
		return alb_error(ctx, ENAMETOOLONG, "event log path '%s' is too long", path);

	log = calloc(1, sizeof(*log));
	if (!log)
		return -ENOMEM;
	log->fd = -1;
	log->ctx = alb_ctx_ref(ctx);
	log->max_size = max_size;
	_cleanup_free_ char *copy = strdup(path);
	if (!copy || !(log->path = strdup(path)) || asprintf(&log->old_path, "%s.1", path) < 0 ||
	    !(log->dir = strdup(dirname(copy)))) {
		log->old_path = NULL;
		return -ENOMEM;
	}

	log->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (log->fd < 0)
		return alb_error(ctx, errno, "Failed to open the event log '%s': %s", path,
				 strerror(errno));
	r = alb_event_log_scan_fd(ctx, log->fd, UINT64_MAX, NULL, NULL, &scan);
	if (r < 0)
		return alb_error_prefix(ctx, r, "'%s'", path);

	if (scan.end == 0) {
		/* New, or its header was cut short when it was made. */
		if (scan.tail_bytes)
			alb_log_warn(
			    ctx, "Event log '%s': dropping a partial header of %" PRIu64 " bytes",
			    path, scan.tail_bytes);
		log->dropped = scan.tail_bytes;
		r = write_header(log->fd);
		if (r < 0 || (r = fsync_dir(log->dir)) < 0)
			return alb_error(ctx, -r, "Failed to start the event log '%s': %s", path,
					 strerror(-r));
		log->size = ALB_EVENT_LOG_HEADER_SIZE;
	} else {
		if (scan.damaged)
			alb_log_warn(ctx,
				     "Event log '%s': %" PRIu64 " damaged regions (%" PRIu64
				     " bytes) between good records are skipped",
				     path, scan.damaged, scan.damaged_bytes);
		if (scan.tail_bytes) {
			alb_log_warn(ctx,
				     "Event log '%s': dropping a torn or corrupt last record "
				     "(%" PRIu64 " bytes at offset %" PRIu64 ")",
				     path, scan.tail_bytes, scan.end);
			if (ftruncate(log->fd, (off_t)scan.end) < 0 || fdatasync(log->fd) < 0)
				return alb_error(ctx, errno,
						 "Failed to cut the torn record off '%s': %s", path,
						 strerror(errno));
		}
		log->dropped = scan.tail_bytes;
		log->skipped = scan.damaged_bytes;
		log->size = scan.end;
	}

	/* The rotated file is only read; report its damage once here. */
	_cleanup_close_ int old = open(log->old_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (old >= 0) {
		if (alb_event_log_scan_fd(ctx, old, UINT64_MAX, NULL, NULL, &scan) < 0)
			alb_log_warn(ctx, "Event log '%s' is ignored: %s", log->old_path,
				     alb_ctx_last_error(ctx));
		else if (scan.damaged || scan.tail_bytes) {
			alb_log_warn(ctx, "Event log '%s': %" PRIu64 " damaged bytes are skipped",
				     log->old_path, scan.damaged_bytes + scan.tail_bytes);
			log->skipped += scan.damaged_bytes + scan.tail_bytes;
		}
	}
	alb_log_debug(ctx, "Event log '%s': %" PRIu64 " bytes", path, log->size);
	*ret_log = TAKE_PTR(log);
	return 0;
}

ALB_EXPORT uint64_t alb_event_log_get_dropped(const alb_event_log *log)
{
	return log ? log->dropped : 0;
}

ALB_EXPORT uint64_t alb_event_log_get_skipped(const alb_event_log *log)
{
	return log ? log->skipped : 0;
}

uint64_t alb_event_log_get_size(const alb_event_log *log)
{
	return log->size;
}

/*
 * Moves the current file to path.1 and starts a new one. On failure the
 * current file stays in use (the bound is exceeded rather than an event lost).
 */
static int rotate(alb_event_log *log)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (rename(log->path, log->old_path) < 0)
		return alb_error(log->ctx, errno, "Failed to rotate the event log '%s': %s",
				 log->path, strerror(errno));
	fd = open(log->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	r = fd < 0 ? -errno : write_header(fd);
	if (r < 0) {
		(void)rename(log->old_path, log->path);
		return alb_error(log->ctx, -r, "Failed to start a new event log '%s': %s",
				 log->path, strerror(-r));
	}
	(void)fsync_dir(log->dir);
	close(log->fd);
	log->fd = TAKE_FD(fd);
	log->size = ALB_EVENT_LOG_HEADER_SIZE;
	alb_log_info(log->ctx, "Rotated the event log '%s'", log->path);
	return 0;
}

/* Cuts what a failed append left after the last whole record. If even that fails,
 * the torn record is found and cut when the log is opened next. */
static void drop_tail(alb_event_log *log)
{
	if (ftruncate(log->fd, (off_t)log->size) < 0)
		alb_log_warn(log->ctx, "Failed to cut a partial record from '%s': %s", log->path,
			     strerror(errno));
}

static int append_record(alb_event_log *log, const uint8_t *payload, size_t len)
{
	if (len == 0 || len > ALB_EVENT_LOG_RECORD_MAX)
		return alb_error(log->ctx, EMSGSIZE, "a log event of %zu bytes is too large", len);
	uint64_t rec = ALB_EVENT_LOG_RECORD_HEADER + len;
	if (log->size > ALB_EVENT_LOG_HEADER_SIZE && log->size + rec > log->max_size &&
	    rotate(log) < 0)
		alb_log_warn(log->ctx, "%s; writing on", alb_ctx_last_error(log->ctx));

	_cleanup_free_ uint8_t *buf = malloc(rec);
	if (!buf)
		return -ENOMEM;
	put_be32(buf, (uint32_t)len);
	memcpy(buf + ALB_EVENT_LOG_RECORD_HEADER, payload, len);
	put_be32(buf + 4, record_crc(buf, payload, len));

	size_t done = 0;
	while (done < rec) {
		ssize_t n = pwrite(log->fd, buf + done, rec - done, (off_t)(log->size + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			/* Leave no partial record behind for the next append to follow. */
			drop_tail(log);
			return alb_error(log->ctx, e, "Failed to write to the event log '%s': %s",
					 log->path, strerror(e));
		}
		done += (size_t)n;
	}
	if (fdatasync(log->fd) < 0) {
		int e = errno;
		drop_tail(log);
		return alb_error(log->ctx, e, "Failed to sync the event log '%s': %s", log->path,
				 strerror(e));
	}
	log->size += rec;
	return 0;
}

ALB_EXPORT int alb_event_log_append(alb_event_log *log, const uint8_t *event, uint64_t len)
{
	_cleanup_(log_event_freep) struct alb_log_event *ev = NULL;
	int r;

	if (!log || !event || len == 0)
		return -EINVAL;
	if (len > ALB_EVENT_LOG_RECORD_MAX)
		return alb_error(log->ctx, EMSGSIZE,
				 "a log event of %" PRIu64 " bytes is too large", len);
	r = alb_log_event_from_cbor(log->ctx, event, (size_t)len, &ev);
	if (r < 0)
		return r;
	return append_record(log, event, (size_t)len);
}

int alb_event_log_append_event(alb_event_log *log, const struct alb_log_event *event)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r;

	if (!log || !event)
		return -EINVAL;
	r = alb_log_event_to_cbor(log->ctx, event, &buf, &len);
	if (r < 0)
		return r;
	return append_record(log, buf, len);
}

bool alb_event_log_filter_match(const alb_name *filter, const struct alb_log_event *event)
{
	if (!filter || alb_name_is_root(filter))
		return true;
	if (!event->name)
		return false;
	if (alb_name_is_path(filter))
		return alb_name_is_prefix(filter, event->name) == 1;
	return alb_name_equal(filter, event->name) == 1;
}

struct slot {
	uint8_t *buf;
	size_t len;
};

struct query {
	const alb_name *filter;
	uint64_t since_us;
	uint32_t count;
	alb_event_log_record_fn fn;
	void *userdata;
	struct slot *ring; /* count slots when count > 0 */
	uint64_t seen;	   /* records selected */
};

static int query_record(const uint8_t *payload, size_t len, const struct alb_log_event *event,
			void *userdata)
{
	struct query *q = userdata;

	if (event->time_us < q->since_us || !alb_event_log_filter_match(q->filter, event))
		return 0;
	if (!q->count)
		return q->fn(payload, len, event, q->userdata);
	struct slot *s = &q->ring[q->seen % q->count];
	uint8_t *copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, payload, len);
	free(s->buf);
	s->buf = copy;
	s->len = len;
	q->seen++;
	return 0;
}

int alb_event_log_query_records(alb_event_log *log, const alb_name *filter, uint64_t since_us,
				uint32_t count, alb_event_log_record_fn fn, void *userdata)
{
	struct query q = {filter, since_us, count, fn, userdata, NULL, 0};
	struct alb_event_log_scan scan;
	int r = 0;

	if (!log || !fn || count > ALB_EVENT_LOG_QUERY_MAX)
		return -EINVAL;
	if (count && !(q.ring = calloc(count, sizeof(*q.ring))))
		return -ENOMEM;

	_cleanup_close_ int old = open(log->old_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (old >= 0) {
		r = alb_event_log_scan_fd(log->ctx, old, UINT64_MAX, query_record, &q, &scan);
		if (r == -EBADMSG) /* reported at open; not ours to read */
			r = 0;
	} else if (errno != ENOENT) {
		r = alb_error(log->ctx, errno, "Failed to open '%s': %s", log->old_path,
			      strerror(errno));
	}
	if (r >= 0)
		r = alb_event_log_scan_fd(log->ctx, log->fd, log->size, query_record, &q, &scan);

	if (count) {
		uint64_t n = q.seen < count ? q.seen : count;
		for (uint64_t i = q.seen - n; r >= 0 && i < q.seen; i++) {
			_cleanup_(log_event_freep) struct alb_log_event *ev = NULL;
			struct slot *s = &q.ring[i % count];
			r = alb_log_event_from_cbor(log->ctx, s->buf, s->len, &ev);
			if (r >= 0)
				r = fn(s->buf, s->len, ev, userdata);
		}
		for (uint32_t i = 0; i < count; i++)
			free(q.ring[i].buf);
		free(q.ring);
	}
	return r < 0 ? r : 0;
}

struct event_adapter {
	alb_log_event_fn fn;
	void *userdata;
};

static int adapt(const uint8_t *payload, size_t len, const struct alb_log_event *event,
		 void *userdata)
{
	struct event_adapter *a = userdata;
	return a->fn(event, a->userdata);
}

ALB_EXPORT int alb_event_log_query(alb_event_log *log, const alb_name *filter, uint64_t since_us,
				   uint32_t count, alb_log_event_fn fn, void *userdata)
{
	struct event_adapter a = {fn, userdata};

	if (!log || !fn || count > ALB_EVENT_LOG_QUERY_MAX)
		return -EINVAL;
	return alb_event_log_query_records(log, filter, since_us, count, adapt, &a);
}

ALB_EXPORT const char *alb_log_event_get_kind(const alb_log_event *event)
{
	return event ? alb_log_event_kind_to_string(event->kind) : NULL;
}

ALB_EXPORT uint64_t alb_log_event_get_time(const alb_log_event *event)
{
	return event ? event->time_us : 0;
}

ALB_EXPORT const alb_name *alb_log_event_get_name(const alb_log_event *event)
{
	return event ? event->name : NULL;
}

ALB_EXPORT int alb_log_event_encode(alb_ctx *ctx, const alb_log_event *event, uint8_t **ret_buf,
				    uint64_t *ret_len)
{
	size_t len;
	int r;

	if (!event || !ret_buf || !ret_len)
		return -EINVAL;
	r = alb_log_event_to_cbor(ctx, event, ret_buf, &len);
	if (r < 0)
		return r;
	*ret_len = len;
	return 0;
}

/* ---- the builder ------------------------------------------------------------------------ */

ALB_EXPORT void alb_log_event_free(struct alb_log_event *event)
{
	if (!event)
		return;
	alb_name_free(event->name);
	alb_strv_free(event->taps);
	alb_strv_free(event->blocks);
	free(event->identity);
	free(event->message);
	free(event);
}

ALB_EXPORT int alb_log_event_new(int kind, const alb_name *name, uint64_t time_us,
				 struct alb_log_event **ret)
{
	if (kind < ALB_EVENT_DAEMON_START || kind > ALB_EVENT_SERVICE_REMOVED || !ret)
		return -EINVAL;
	_cleanup_(alb_log_event_freep) struct alb_log_event *ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	ev->kind = kind;
	ev->time_us = time_us ? time_us : alb_now_realtime();
	if (name && alb_name_dup(name, &ev->name) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(ev);
	return 0;
}

ALB_EXPORT int alb_log_event_set_started(struct alb_log_event *event, uint32_t pid,
					 const uint8_t digest[32], char *const *taps,
					 uint32_t n_taps, char *const *blocks, uint32_t n_blocks)
{
	if (!event || (n_taps && !taps) || (n_blocks && !blocks))
		return -EINVAL;
	char **t = NULL, **b = NULL;
	if ((n_taps && !(t = alb_strv_dup(taps, n_taps))) ||
	    (n_blocks && !(b = alb_strv_dup(blocks, n_blocks)))) {
		alb_strv_free(t);
		return -ENOMEM;
	}
	alb_strv_free(event->taps);
	alb_strv_free(event->blocks);
	event->pid = pid;
	event->has_digest = digest != NULL;
	if (digest)
		memcpy(event->digest, digest, sizeof(event->digest));
	else
		memset(event->digest, 0, sizeof(event->digest));
	event->taps = t;
	event->n_taps = n_taps;
	event->blocks = b;
	event->n_blocks = n_blocks;
	return 0;
}

ALB_EXPORT int alb_log_event_set_exit(struct alb_log_event *event, int kind, uint32_t value)
{
	if (!event || (kind != ALB_EXIT_CODE && kind != ALB_EXIT_SIGNAL) ||
	    (kind == ALB_EXIT_CODE && value > 255) ||
	    (kind == ALB_EXIT_SIGNAL && (value < 1 || value > ALB_EXIT_SIGNAL_MAX)))
		return -EINVAL;
	event->exit = (struct alb_exit){kind, value};
	return 0;
}

ALB_EXPORT int alb_log_event_set_restart(struct alb_log_event *event, uint32_t attempt,
					 uint64_t delay_us)
{
	if (!event)
		return -EINVAL;
	event->attempt = attempt;
	event->delay_us = delay_us;
	return 0;
}

/* Replaces *field with a copy of s (NULL: none). */
static int set_string(char **field, const char *s)
{
	char *copy = NULL;
	if (s && !(copy = strdup(s)))
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

ALB_EXPORT int alb_log_event_set_identity(struct alb_log_event *event, const char *identity)
{
	return event ? set_string(&event->identity, identity) : -EINVAL;
}

ALB_EXPORT int alb_log_event_set_message(struct alb_log_event *event, const char *message)
{
	return event ? set_string(&event->message, message) : -EINVAL;
}
