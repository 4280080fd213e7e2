/* SPDX-License-Identifier: ISC */
/**
 * @file loop.h
 * @brief The event loop that drives the supervisor and the daemons.
 *
 * Everything the loop waits for is a file descriptor in one epoll set: I/O,
 * timers (timerfd), signals (signalfd) and child processes (pidfd). The epoll
 * descriptor is handed out by alb_loop_get_fd(): an embedder that has its own
 * loop polls it for readability and then calls alb_loop_run_once() with a
 * zero timeout.
 *
 * Callbacks return 0 to go on; a negative value ends alb_loop_run() with that
 * value. A source may be freed at any time, also from inside a callback.
 */
#ifndef ALBATROSS_LOOP_H
#define ALBATROSS_LOOP_H

#include <stdint.h>

#include <albatross/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque, reference counted event loop. */
typedef struct alb_loop alb_loop;
/** Opaque event source, owned by whoever added it (free with alb_source_free()). */
typedef struct alb_source alb_source;

/** I/O events (the same bits as epoll's). */
enum alb_io_events {
	ALB_IO_IN = 0x001,
	ALB_IO_OUT = 0x004,
	ALB_IO_ERR = 0x008,
	ALB_IO_HUP = 0x010
};

/** How a child ended, for alb_child_fn. */
enum alb_child_how { ALB_CHILD_EXITED = 1, ALB_CHILD_KILLED = 2, ALB_CHILD_DUMPED = 3 };

typedef int (*alb_io_fn)(alb_source *source, int fd, uint32_t events, void *userdata);
typedef int (*alb_timer_fn)(alb_source *source, void *userdata);
typedef int (*alb_signal_fn)(alb_source *source, int signo, void *userdata);
/** @p how is an alb_child_how; @p status the exit code or the signal number. */
typedef int (*alb_child_fn)(alb_source *source, int pid, int how, int status, void *userdata);

/** Makes a loop. @return 0, -ENOMEM, -errno of epoll_create1(2). */
int alb_loop_new(alb_ctx *ctx, alb_loop **ret_loop);
alb_loop *alb_loop_ref(alb_loop *loop);
/** Drops a reference; the last one frees the loop (its sources must be freed first). */
alb_loop *alb_loop_unref(alb_loop *loop);

/** @return the loop's epoll descriptor: readable when alb_loop_run_once() has work. */
int alb_loop_get_fd(const alb_loop *loop);

/**
 * Watches @p fd (not taken over) for @p events.
 * @return 0, -EINVAL, -EEXIST (fd already watched), -ENOMEM.
 */
int alb_loop_add_io(alb_loop *loop, int fd, uint32_t events, alb_io_fn fn, void *userdata,
		    alb_source **ret_source);
/** Changes the events of an I/O source. @return 0 or -errno. */
int alb_source_set_io_events(alb_source *source, uint32_t events);

/** A one-shot timer @p usec microseconds from now (CLOCK_MONOTONIC). @return 0 or -errno. */
int alb_loop_add_timer(alb_loop *loop, uint64_t usec, alb_timer_fn fn, void *userdata,
		       alb_source **ret_source);
/** Re-arms a timer source @p usec microseconds from now. @return 0 or -errno. */
int alb_source_set_timer(alb_source *source, uint64_t usec);

/**
 * Delivers @p signo through the loop. The signal is blocked in the calling
 * thread while the source exists. @return 0, -EEXIST, -errno.
 */
int alb_loop_add_signal(alb_loop *loop, int signo, alb_signal_fn fn, void *userdata,
			alb_source **ret_source);

/**
 * Calls @p fn once when the child @p pid ends, after reaping it. The loop
 * takes over the pidfd @p pidfd if it is >= 0 (from clone3 or pidfd_open),
 * or opens one. @return 0, -ESRCH, -errno.
 */
int alb_loop_add_child(alb_loop *loop, int pid, int pidfd, alb_child_fn fn, void *userdata,
		       alb_source **ret_source);

/** Removes and frees a source. Accepts NULL. @return NULL. */
alb_source *alb_source_free(alb_source *source);

/**
 * Waits up to @p timeout_ms (-1: forever, 0: not at all) and dispatches what is ready.
 * @return the number of sources dispatched, or the negative value a callback returned.
 */
int alb_loop_run_once(alb_loop *loop, int timeout_ms);

/** Runs until alb_loop_exit() or a callback's negative return. @return the exit code. */
int alb_loop_run(alb_loop *loop);

/** Makes alb_loop_run() return @p code after the current dispatch. */
void alb_loop_exit(alb_loop *loop, int code);

/** @return CLOCK_MONOTONIC in microseconds. */
uint64_t alb_now_monotonic(void);
/** @return CLOCK_REALTIME in microseconds since the Unix epoch. */
uint64_t alb_now_realtime(void);

#ifdef __cplusplus
}
#endif

#endif
