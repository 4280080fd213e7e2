/* SPDX-License-Identifier: ISC */
/**
 * @file console.h
 * @brief Console history: a ring buffer of output lines per unikernel.
 *
 * An alb_console holds one buffer per unikernel name. Output goes in as raw
 * bytes (alb_console_feed()), which are split into lines at '\n'; each line
 * gets a timestamp (microseconds since the Unix epoch, CLOCK_REALTIME) and is
 * kept in the unikernel's ring of at most alb_console_set_lines() lines, the
 * oldest dropped first. A line longer than alb_console_set_line_max() bytes
 * is cut at that length and marked ALB_CONSOLE_LINE_TRUNCATED; the rest of it,
 * up to the next '\n', is dropped. Bytes are kept as they are: invalid UTF-8,
 * control characters and NUL bytes included (printing them is the reader's
 * business); the '\n' itself is not kept.
 *
 * Timestamps are strictly increasing within a buffer: a line gets the current
 * time, or the previous line's time plus one microsecond if that is later (a
 * burst of lines within one microsecond, or the clock set back). So a line's
 * time identifies it, and "every line since T" (strictly after T) resumes
 * exactly after the line stamped T.
 *
 * A buffer is *active* while its unikernel runs (alb_console_activate()) and
 * *inactive* after it stopped (alb_console_deactivate()): it keeps its lines,
 * and the next activation of the same name continues it. Inactive buffers are
 * bounded per path (alb_console_set_inactive_max()): when a path has more,
 * its buffer that became inactive first is dropped. Buffers are bounded in
 * all by ALB_CONSOLE_BUFFERS_MAX.
 *
 * The albatross-console daemon serves these buffers over its socket; the
 * networking is private to it (docs/console.md).
 *
 * Ownership: names passed in are copied; names and line bytes passed to
 * callbacks are borrowed for the duration of the call.
 */
#ifndef ALBATROSS_CONSOLE_H
#define ALBATROSS_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include <albatross/ctx.h>
#include <albatross/name.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The default number of lines kept per unikernel. */
#define ALB_CONSOLE_LINES_DEFAULT 1024u
/** The most lines kept per unikernel (also the longest history query). */
#define ALB_CONSOLE_LINES_LIMIT 65536u
/** The default length in bytes after which a line is cut. */
#define ALB_CONSOLE_LINE_MAX_DEFAULT 512u
/** The largest line length that may be configured. */
#define ALB_CONSOLE_LINE_MAX_LIMIT 65536u
/** The default number of inactive buffers kept per path. */
#define ALB_CONSOLE_INACTIVE_DEFAULT 64u
/** The most buffers, active and inactive, in one alb_console. */
#define ALB_CONSOLE_BUFFERS_MAX 16384u

/** Flags of a line. */
enum alb_console_line_flags {
	ALB_CONSOLE_LINE_TRUNCATED = 1, /**< the line was longer and was cut */
	/**
	 * Not the unikernel's output: a note that output was lost at this place
	 * (the text says how many bytes); the daemon that relays console output
	 * puts it there when its bounded backlog overflowed.
	 */
	ALB_CONSOLE_LINE_DROPPED = 2
};

/** Opaque set of console buffers; an owned value. */
typedef struct alb_console alb_console;

/**
 * A line, passed to a query or to the new-line callback. @p line (borrowed,
 * not NUL-terminated, may be NULL when @p len is 0) holds @p len raw bytes;
 * @p flags are alb_console_line_flags. Return 0 to go on, a negative errno
 * value to stop (the query then returns it).
 */
typedef int (*alb_console_line_fn)(const alb_name *name, uint64_t time_us, const uint8_t *line,
				   uint32_t len, uint32_t flags, void *userdata);

/**
 * Makes an empty set of buffers with the defaults above.
 * @param ret_console freed with alb_console_free().
 * @return 0, -EINVAL, -ENOMEM.
 */
int alb_console_new(alb_ctx *ctx, alb_console **ret_console);

/** Frees every buffer. Accepts NULL. @return NULL. */
alb_console *alb_console_free(alb_console *console);

/**
 * Sets the lines kept per buffer, 1 .. ALB_CONSOLE_LINES_LIMIT. Only before
 * the first buffer exists. @return 0, -EINVAL, -EBUSY.
 */
int alb_console_set_lines(alb_console *console, uint32_t lines);

/**
 * Sets the length after which a line is cut, 1 .. ALB_CONSOLE_LINE_MAX_LIMIT
 * bytes. Applies to lines begun afterwards. @return 0, -EINVAL.
 */
int alb_console_set_line_max(alb_console *console, uint32_t bytes);

/**
 * Sets the inactive buffers kept per path, 0 .. ALB_CONSOLE_BUFFERS_MAX
 * (0: a buffer is dropped as soon as it becomes inactive). Paths over the
 * new bound drop their oldest inactive buffers at once. @return 0, -EINVAL.
 */
int alb_console_set_inactive_max(alb_console *console, uint32_t count);

/**
 * Sets the function called for every line as it is added (may be NULL).
 * Its return value is ignored.
 */
void alb_console_set_line_fn(alb_console *console, alb_console_line_fn fn, void *userdata);

/**
 * Marks the buffer of the unikernel @p name active, making an empty one if
 * there is none (an inactive one continues). A partial line left from
 * before is kept and continues.
 * @return 1 if the buffer was made, 0 if it existed; -EINVAL for a path,
 * -E2BIG when ALB_CONSOLE_BUFFERS_MAX buffers exist and none is inactive,
 * -ENOMEM.
 */
int alb_console_activate(alb_console *console, const alb_name *name);

/**
 * Marks the buffer of @p name inactive: a partial line pending is completed
 * first (as if a '\n' followed), then the path's bound of inactive buffers is
 * applied (which may drop this very buffer, when the bound is 0).
 * @return 0, -ENOENT if there is no buffer, -EINVAL.
 */
int alb_console_deactivate(alb_console *console, const alb_name *name);

/**
 * Adds output of the unikernel @p name at time @p now_us (0: now): splits
 * it into lines, stores them and passes each to the new-line callback. Bytes
 * after the last '\n' wait for the next call (at most the line bound of them).
 * @return the number of complete lines added, -ENOENT if @p name has no
 * active buffer, -EINVAL.
 */
int alb_console_feed(alb_console *console, const alb_name *name, const void *buf, size_t len,
		     uint64_t now_us);

/**
 * Removes the buffer of @p name, active or not.
 * @return 0, -ENOENT, -EINVAL.
 */
int alb_console_remove(alb_console *console, const alb_name *name);

/**
 * The state of the buffer of @p name.
 * @return 1 active, 0 inactive, -ENOENT if there is none, -EINVAL.
 */
int alb_console_is_active(const alb_console *console, const alb_name *name);

/**
 * The number of lines that the buffer of @p name holds (0 when there is none).
 */
uint32_t alb_console_get_line_count(const alb_console *console, const alb_name *name);

/**
 * Calls @p fn for the last @p count lines (1 .. ALB_CONSOLE_LINES_LIMIT) of
 * @p name, oldest first; fewer if the buffer holds fewer.
 * @return the number of lines passed, -ENOENT if there is no buffer,
 * -EINVAL, or what @p fn returned to stop.
 */
int alb_console_query_last(const alb_console *console, const alb_name *name, uint32_t count,
			   alb_console_line_fn fn, void *userdata);

/**
 * Calls @p fn for every line of @p name stamped strictly after @p since_us,
 * oldest first.
 * @return as alb_console_query_last().
 */
int alb_console_query_since(const alb_console *console, const alb_name *name, uint64_t since_us,
			    alb_console_line_fn fn, void *userdata);

/**
 * Lists the inactive buffers below the path @p path (all of them for ":"),
 * or the buffer of the unikernel @p path if it is inactive.
 * @param ret_names a NULL-terminated array of names, sorted; free each with
 * alb_name_free() and the array with alb_free().
 * @param ret_count the number of names (may be NULL).
 * @return 0, -ENOENT for a unikernel name without an inactive buffer,
 * -EINVAL, -ENOMEM.
 */
int alb_console_list_inactive(const alb_console *console, const alb_name *path,
			      alb_name ***ret_names, uint32_t *ret_count);

#ifdef __cplusplus
}
#endif

#endif
