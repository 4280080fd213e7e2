/* SPDX-License-Identifier: ISC */
/*
 * Console history (console.h): a ring of lines per unikernel name, kept in a
 * hash table of buffers; inactive buffers in a list in the order they became
 * inactive, so that the oldest of a path is found first. An engine: no
 * sockets here (the service is console-service.c).
 */
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include <albatross/console.h>

#include "console-private.h"
#include "ctx-private.h"
#include "name-private.h"

struct line {
	uint64_t time_us;
	uint8_t *data; /* cap bytes allocated, len used */
	uint32_t len, cap;
	uint32_t flags; /* enum alb_console_line_flags */
};

struct buffer {
	struct buffer *hnext;	      /* hash chain */
	struct buffer *iprev, *inext; /* inactive list, when inactive */
	alb_name name;
	uint64_t hash;
	bool active;
	struct line *lines; /* ring: n of cap slots used, oldest at head */
	uint32_t cap, head, n;
	uint64_t last_us;
	uint8_t *pending; /* a line begun: pending_len bytes of at most line_max */
	uint32_t pending_len, pending_cap;
	bool discarding; /* the rest of a truncated line, up to its '\n' */
};

struct alb_console {
	alb_ctx *ctx;
	uint32_t lines, line_max, inactive_max;
	struct buffer **buckets;
	uint32_t n_buckets, n_buffers;
	struct buffer *inactive_head, *inactive_tail;
	alb_console_line_fn fn;
	void *userdata;
};

/* ---- names ------------------------------------------------------------------------------ */

static uint64_t fnv(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * UINT64_C(0x100000001b3);
	return (h ^ 0xff) * UINT64_C(0x100000001b3); /* a label separator */
}

static uint64_t name_hash(const alb_name *name)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (uint32_t i = 0; i < name->depth; i++)
		h = fnv(h, name->path[i]);
	return fnv(h, name->has_label ? name->label : ":");
}

static bool same_path(const alb_name *a, const alb_name *b)
{
	if (a->depth != b->depth)
		return false;
	for (uint32_t i = 0; i < a->depth; i++)
		if (!streq(a->path[i], b->path[i]))
			return false;
	return true;
}

static int check_name(alb_ctx *ctx, const alb_name *name)
{
	if (!name || !name->has_label)
		return alb_error(ctx, EINVAL,
				 "a console buffer belongs to a unikernel, not a path");
	return 0;
}

/* ---- buffers ---------------------------------------------------------------------------- */

static struct buffer *lookup(const alb_console *c, const alb_name *name)
{
	uint64_t h = name_hash(name);
	for (struct buffer *b = c->buckets[h & (c->n_buckets - 1)]; b; b = b->hnext)
		if (b->hash == h && alb_name_equal(&b->name, name))
			return b;
	return NULL;
}

static void inactive_unlink(alb_console *c, struct buffer *b)
{
	if (b->iprev)
		b->iprev->inext = b->inext;
	else
		c->inactive_head = b->inext;
	if (b->inext)
		b->inext->iprev = b->iprev;
	else
		c->inactive_tail = b->iprev;
	b->iprev = b->inext = NULL;
}

static void inactive_append(alb_console *c, struct buffer *b)
{
	b->iprev = c->inactive_tail;
	b->inext = NULL;
	if (c->inactive_tail)
		c->inactive_tail->inext = b;
	else
		c->inactive_head = b;
	c->inactive_tail = b;
}

static void buffer_free(struct buffer *b)
{
	for (uint32_t i = 0; i < b->cap; i++)
		free(b->lines[i].data);
	free(b->lines);
	free(b->pending);
	free(b);
}

static void buffer_drop(alb_console *c, struct buffer *b)
{
	struct buffer **p = &c->buckets[b->hash & (c->n_buckets - 1)];
	while (*p != b)
		p = &(*p)->hnext;
	*p = b->hnext;
	if (!b->active)
		inactive_unlink(c, b);
	c->n_buffers--;
	buffer_free(b);
}

static int grow_buckets(alb_console *c)
{
	uint32_t n = c->n_buckets * 2;
	struct buffer **nb = calloc(n, sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->n_buckets; i++)
		for (struct buffer *b = c->buckets[i], *next; b; b = next) {
			next = b->hnext;
			b->hnext = nb[b->hash & (n - 1)];
			nb[b->hash & (n - 1)] = b;
		}
	free(c->buckets);
	c->buckets = nb;
	c->n_buckets = n;
	return 0;
}

/* Drops the oldest inactive buffers of path while it has more than max. */
static void apply_inactive_bound(alb_console *c, const alb_name *path, uint32_t max)
{
	uint32_t n = 0;
	for (struct buffer *b = c->inactive_head; b; b = b->inext)
		n += same_path(&b->name, path);
	for (struct buffer *b = c->inactive_head, *next; b && n > max; b = next) {
		next = b->inext;
		if (!same_path(&b->name, path))
			continue;
		_cleanup_free_ char *s = alb_name_to_string(&b->name);
		alb_log_info(c->ctx,
			     "Dropping the inactive console buffer of '%s' (%u kept per path)",
			     s ? s : "?", max);
		buffer_drop(c, b);
		n--;
	}
}

/* Stores one line (len <= line_max) and announces it. */
static int store_line(alb_console *c, struct buffer *b, const uint8_t *data, uint32_t len,
		      uint32_t flags, uint64_t now_us)
{
	if (b->n == b->cap && b->cap < c->lines) {
		/* Grow the ring while it is not full; it is contiguous from head then. */
		assert(b->head == 0);
		uint32_t cap = b->cap ? b->cap * 2 : 16;
		if (cap > c->lines)
			cap = c->lines;
		struct line *nl = realloc(b->lines, cap * sizeof(*nl));
		if (!nl)
			return -ENOMEM;
		memset(nl + b->cap, 0, (cap - b->cap) * sizeof(*nl));
		b->lines = nl;
		b->cap = cap;
	}
	struct line *l;
	if (b->n == b->cap) { /* full: overwrite the oldest */
		l = &b->lines[b->head];
		b->head = (b->head + 1) % b->cap;
	} else {
		l = &b->lines[(b->head + b->n) % b->cap];
		b->n++;
	}
	if (len > l->cap) {
		uint8_t *d = realloc(l->data, len);
		if (!d) {
			/* Keep the slot consistent: an empty line marked truncated. */
			len = 0;
			flags |= ALB_CONSOLE_LINE_TRUNCATED;
		} else {
			l->data = d;
			l->cap = len;
		}
	}
	if (len)
		memcpy(l->data, data, len);
	l->len = len;
	l->flags = flags;
	l->time_us = now_us > b->last_us ? now_us : b->last_us + 1;
	b->last_us = l->time_us;
	if (c->fn)
		(void)c->fn(&b->name, l->time_us, l->data, l->len, l->flags, c->userdata);
	return 0;
}

static int pending_add(alb_console *c, struct buffer *b, const uint8_t *data, size_t len)
{
	assert(b->pending_len + len <= c->line_max);
	if (b->pending_len + len > b->pending_cap) {
		uint32_t cap = b->pending_cap ? b->pending_cap : 128;
		while (cap < b->pending_len + len)
			cap *= 2;
		if (cap > c->line_max)
			cap = c->line_max;
		uint8_t *p = realloc(b->pending, cap);
		if (!p)
			return -ENOMEM;
		b->pending = p;
		b->pending_cap = cap;
	}
	memcpy(b->pending + b->pending_len, data, len);
	b->pending_len += (uint32_t)len;
	return 0;
}

/* ---- public ----------------------------------------------------------------------------- */

ALB_EXPORT int alb_console_new(alb_ctx *ctx, alb_console **ret_console)
{
	if (!ctx || !ret_console)
		return -EINVAL;
	alb_console *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->n_buckets = 64;
	c->buckets = calloc(c->n_buckets, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return -ENOMEM;
	}
	c->ctx = ctx;
	c->lines = ALB_CONSOLE_LINES_DEFAULT;
	c->line_max = ALB_CONSOLE_LINE_MAX_DEFAULT;
	c->inactive_max = ALB_CONSOLE_INACTIVE_DEFAULT;
	*ret_console = c;
	return 0;
}

ALB_EXPORT alb_console *alb_console_free(alb_console *console)
{
	if (!console)
		return NULL;
	for (uint32_t i = 0; i < console->n_buckets; i++)
		for (struct buffer *b = console->buckets[i], *next; b; b = next) {
			next = b->hnext;
			buffer_free(b);
		}
	free(console->buckets);
	free(console);
	return NULL;
}

ALB_EXPORT int alb_console_set_lines(alb_console *console, uint32_t lines)
{
	if (!console)
		return -EINVAL;
	if (lines < 1 || lines > ALB_CONSOLE_LINES_LIMIT)
		return alb_error(console->ctx, EINVAL, "lines: %u is out of range 1..%u", lines,
				 ALB_CONSOLE_LINES_LIMIT);
	if (console->n_buffers > 0)
		return alb_error(console->ctx, EBUSY, "lines: buffers exist already");
	console->lines = lines;
	return 0;
}

ALB_EXPORT int alb_console_set_line_max(alb_console *console, uint32_t bytes)
{
	if (!console)
		return -EINVAL;
	if (bytes < 1 || bytes > ALB_CONSOLE_LINE_MAX_LIMIT)
		return alb_error(console->ctx, EINVAL, "line length: %u is out of range 1..%u",
				 bytes, ALB_CONSOLE_LINE_MAX_LIMIT);
	/* Lines begun keep what they have: cut them to the new bound. */
	for (uint32_t i = 0; i < console->n_buckets; i++)
		for (struct buffer *b = console->buckets[i]; b; b = b->hnext)
			if (b->pending_len > bytes)
				b->pending_len = bytes;
	console->line_max = bytes;
	return 0;
}

ALB_EXPORT int alb_console_set_inactive_max(alb_console *console, uint32_t count)
{
	if (!console)
		return -EINVAL;
	if (count > ALB_CONSOLE_BUFFERS_MAX)
		return alb_error(console->ctx, EINVAL, "inactive buffers: %u is out of range 0..%u",
				 count, ALB_CONSOLE_BUFFERS_MAX);
	console->inactive_max = count;
	/* Each path of an inactive buffer, once: the bound drops the excess. */
	bool again = true;
	while (again) {
		again = false;
		for (struct buffer *b = console->inactive_head; b; b = b->inext) {
			uint32_t n = 0;
			for (struct buffer *o = console->inactive_head; o; o = o->inext)
				n += same_path(&o->name, &b->name);
			if (n > count) {
				alb_name path = b->name;
				apply_inactive_bound(console, &path, count);
				again = true;
				break;
			}
		}
	}
	return 0;
}

ALB_EXPORT void alb_console_set_line_fn(alb_console *console, alb_console_line_fn fn,
					void *userdata)
{
	if (!console)
		return;
	console->fn = fn;
	console->userdata = userdata;
}

ALB_EXPORT int alb_console_activate(alb_console *console, const alb_name *name)
{
	if (!console)
		return -EINVAL;
	int r = check_name(console->ctx, name);
	if (r < 0)
		return r;
	struct buffer *b = lookup(console, name);
	if (b) {
		if (!b->active) {
			inactive_unlink(console, b);
			b->active = true;
		}
		return 0;
	}
	if (console->n_buffers >= ALB_CONSOLE_BUFFERS_MAX) {
		if (!console->inactive_head)
			return alb_error(console->ctx, E2BIG, "%u console buffers are in use",
					 console->n_buffers);
		buffer_drop(console, console->inactive_head);
	}
	if (console->n_buffers >= console->n_buckets && (r = grow_buckets(console)) < 0)
		return r;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->name = *name;
	b->hash = name_hash(name);
	b->active = true;
	struct buffer **head = &console->buckets[b->hash & (console->n_buckets - 1)];
	b->hnext = *head;
	*head = b;
	console->n_buffers++;
	return 1;
}

/* Stores the line begun, if any, as it is. */
static void complete_pending(alb_console *c, struct buffer *b, uint64_t now_us)
{
	if (b->pending_len > 0 && !b->discarding)
		(void)store_line(c, b, b->pending, b->pending_len, 0, now_us);
	b->pending_len = 0;
	b->discarding = false;
}

int alb_console_end_run(alb_console *console, const alb_name *name, uint64_t now_us)
{
	if (!console)
		return -EINVAL;
	int r = check_name(console->ctx, name);
	if (r < 0)
		return r;
	struct buffer *b = lookup(console, name);
	if (!b)
		return -ENOENT;
	if (!b->active)
		return 0;
	complete_pending(console, b, now_us ? now_us : alb_now_realtime());
	b->active = false;
	inactive_append(console, b);
	apply_inactive_bound(console, name, console->inactive_max);
	return 0;
}

/* The active buffer of name, or -ENOENT (-EINVAL for a bad name) with the reason. */
static int active_buffer(alb_console *console, const alb_name *name, struct buffer **ret)
{
	int r = check_name(console->ctx, name);
	if (r < 0)
		return r;
	struct buffer *b = lookup(console, name);
	if (!b || !b->active)
		return alb_error(console->ctx, ENOENT, "no active console buffer for '%s'",
				 name->label);
	*ret = b;
	return 0;
}

int alb_console_mark_dropped(alb_console *console, const alb_name *name, uint64_t bytes,
			     uint64_t now_us)
{
	if (!console || bytes == 0)
		return -EINVAL;
	struct buffer *b;
	int r = active_buffer(console, name, &b);
	if (r < 0)
		return r;
	if (!now_us)
		now_us = alb_now_realtime();
	complete_pending(console, b, now_us);
	char text[128];
	int n = snprintf(text, sizeof(text), "%" PRIu64 " byte%s of console output lost here",
			 bytes, bytes == 1 ? "" : "s");
	uint32_t len = (uint32_t)n < console->line_max ? (uint32_t)n : console->line_max;
	return store_line(console, b, (const uint8_t *)text, len, ALB_CONSOLE_LINE_DROPPED, now_us);
}

ALB_EXPORT int alb_console_deactivate(alb_console *console, const alb_name *name)
{
	return alb_console_end_run(console, name, 0);
}

ALB_EXPORT int alb_console_feed(alb_console *console, const alb_name *name, const void *buf,
				size_t len, uint64_t now_us)
{
	if (!console || (!buf && len))
		return -EINVAL;
	struct buffer *b;
	int r = active_buffer(console, name, &b);
	if (r < 0)
		return r;
	if (!now_us)
		now_us = alb_now_realtime();
	const uint8_t *p = buf, *end = p + len;
	int lines = 0;
	while (p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		const uint8_t *stop = nl ? nl : end;
		size_t n = (size_t)(stop - p);
		if (b->discarding) {
			/* The cut line's rest: nothing to keep. */
		} else if (b->pending_len == 0 && nl && n <= console->line_max) {
			/* A whole line in buf: stored without copying it twice. */
			if ((r = store_line(console, b, p, (uint32_t)n, 0, now_us)) < 0)
				return r;
			lines++;
		} else if (b->pending_len + n <= console->line_max) {
			if ((r = pending_add(console, b, p, n)) < 0)
				return r;
			if (nl) {
				r = store_line(console, b, b->pending, b->pending_len, 0, now_us);
				b->pending_len = 0;
				if (r < 0)
					return r;
				lines++;
			}
		} else {
			/* Over the bound: cut it here, the rest up to '\n' is dropped. */
			size_t keep = console->line_max - b->pending_len;
			if ((r = pending_add(console, b, p, keep)) < 0)
				return r;
			r = store_line(console, b, b->pending, b->pending_len,
				       ALB_CONSOLE_LINE_TRUNCATED, now_us);
			b->pending_len = 0;
			if (r < 0)
				return r;
			lines++;
			b->discarding = true;
		}
		if (nl)
			b->discarding = false;
		p = nl ? nl + 1 : end;
	}
	return lines;
}

ALB_EXPORT int alb_console_remove(alb_console *console, const alb_name *name)
{
	if (!console)
		return -EINVAL;
	int r = check_name(console->ctx, name);
	if (r < 0)
		return r;
	struct buffer *b = lookup(console, name);
	if (!b)
		return -ENOENT;
	buffer_drop(console, b);
	return 0;
}

ALB_EXPORT int alb_console_is_active(const alb_console *console, const alb_name *name)
{
	if (!console || !name || !name->has_label)
		return -EINVAL;
	struct buffer *b = lookup(console, name);
	return b ? b->active : -ENOENT;
}

ALB_EXPORT uint32_t alb_console_get_line_count(const alb_console *console, const alb_name *name)
{
	if (!console || !name || !name->has_label)
		return 0;
	struct buffer *b = lookup(console, name);
	return b ? b->n : 0;
}

static inline const struct line *line_at(const struct buffer *b, uint32_t i)
{
	return &b->lines[(b->head + i) % b->cap];
}

/* Passes lines [from, n) of b to fn. */
static int emit(const struct buffer *b, uint32_t from, alb_console_line_fn fn, void *userdata)
{
	int count = 0;
	for (uint32_t i = from; i < b->n; i++) {
		const struct line *l = line_at(b, i);
		int r = fn(&b->name, l->time_us, l->data, l->len, l->flags, userdata);
		if (r < 0)
			return r;
		count++;
	}
	return count;
}

ALB_EXPORT int alb_console_query_last(const alb_console *console, const alb_name *name,
				      uint32_t count, alb_console_line_fn fn, void *userdata)
{
	if (!console || !fn)
		return -EINVAL;
	int r = check_name(console->ctx, name);
	if (r < 0)
		return r;
	if (count < 1 || count > ALB_CONSOLE_LINES_LIMIT)
		return alb_error(console->ctx, EINVAL, "count: %u is out of range 1..%u", count,
				 ALB_CONSOLE_LINES_LIMIT);
	const struct buffer *b = lookup(console, name);
	if (!b)
		return -ENOENT;
	return emit(b, b->n > count ? b->n - count : 0, fn, userdata);
}

uint32_t alb_console_first_after(const alb_console *console, const alb_name *name,
				 uint64_t since_us)
{
	const struct buffer *b = lookup(console, name);
	if (!b)
		return 0;
	/* Times increase strictly: the first line after since_us, by bisection. */
	uint32_t lo = 0, hi = b->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (line_at(b, mid)->time_us <= since_us)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

ALB_EXPORT int alb_console_query_since(const alb_console *console, const alb_name *name,
				       uint64_t since_us, alb_console_line_fn fn, void *userdata)
{
	if (!console || !fn)
		return -EINVAL;
	int r = check_name(console->ctx, name);
	if (r < 0)
		return r;
	const struct buffer *b = lookup(console, name);
	if (!b)
		return -ENOENT;
	return emit(b, alb_console_first_after(console, name, since_us), fn, userdata);
}

int alb_console_query_range(const alb_console *console, const alb_name *name, uint64_t after_us,
			    uint64_t until_us, uint32_t max, alb_console_line_fn fn, void *userdata)
{
	const struct buffer *b = lookup(console, name);
	if (!b)
		return 0;
	int count = 0;
	for (uint32_t i = alb_console_first_after(console, name, after_us);
	     i < b->n && (uint32_t)count < max; i++) {
		const struct line *l = line_at(b, i);
		if (l->time_us > until_us)
			break;
		int r = fn(&b->name, l->time_us, l->data, l->len, l->flags, userdata);
		if (r < 0)
			return r;
		count++;
	}
	return count;
}

uint64_t alb_console_last_time(const alb_console *console, const alb_name *name)
{
	const struct buffer *b = lookup(console, name);
	return b && b->n ? line_at(b, b->n - 1)->time_us : 0;
}

uint64_t alb_console_time_of_last(const alb_console *console, const alb_name *name, uint32_t count)
{
	const struct buffer *b = lookup(console, name);
	if (!b || b->n == 0)
		return 0;
	uint32_t i = b->n > count ? b->n - count : 0;
	uint64_t t = line_at(b, i)->time_us;
	return t ? t - 1 : 0;
}

static int name_cmp(const void *a, const void *b)
{
	_cleanup_free_ char *sa = alb_name_to_string(*(alb_name *const *)a);
	_cleanup_free_ char *sb = alb_name_to_string(*(alb_name *const *)b);
	return strcmp(sa ? sa : "", sb ? sb : "");
}

static void names_free(alb_name **v, uint32_t n)
{
	for (uint32_t i = 0; v && i < n; i++)
		alb_name_free(v[i]);
	free(v);
}

ALB_EXPORT int alb_console_list_inactive(const alb_console *console, const alb_name *path,
					 alb_name ***ret_names, uint32_t *ret_count)
{
	if (!console || !path || !ret_names)
		return -EINVAL;
	uint32_t n = 0, i = 0;
	if (path->has_label) {
		const struct buffer *b = lookup(console, path);
		if (!b || b->active) {
			_cleanup_free_ char *s = alb_name_to_string(path);
			return alb_error(console->ctx, ENOENT,
					 "'%s' has no inactive console buffer", s ? s : "?");
		}
		n = 1;
	} else {
		for (const struct buffer *b = console->inactive_head; b; b = b->inext)
			n += alb_name_is_prefix(path, &b->name) == 1;
	}
	alb_name **v = calloc(n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (path->has_label) {
		if (alb_name_dup(path, &v[i++]) < 0)
			goto oom;
	} else {
		for (const struct buffer *b = console->inactive_head; b; b = b->inext)
			if (alb_name_is_prefix(path, &b->name) == 1 &&
			    alb_name_dup(&b->name, &v[i++]) < 0)
				goto oom;
	}
	qsort(v, n, sizeof(*v), name_cmp);
	*ret_names = v;
	if (ret_count)
		*ret_count = n;
	return 0;
oom:
	names_free(v, i);
	return -ENOMEM;
}
