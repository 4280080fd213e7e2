/* SPDX-License-Identifier: ISC */
/*
 * The albatrossd side of the per-unikernel monitor (daemon/albatross-monitor.c,
 * whose header comment is the protocol): reading its frames, connecting to it,
 * and ending a monitor that nobody should keep.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <albatross/ctx.h>
#include <albatross/name.h>

#define ALB_MONITOR_VERSION  1
#define ALB_MONITOR_DATA_MAX 65536u /* bytes of console output in one frame */

enum alb_monitor_kind {
	ALB_MONITOR_HELLO = 'H',
	ALB_MONITOR_DATA = 'D',
	ALB_MONITOR_LOST = 'L',
	ALB_MONITOR_EXIT = 'X',
};

/* A frame as the reader hands it over (borrowed for the call). */
struct alb_monitor_frame {
	int kind; /* enum alb_monitor_kind */
	/* HELLO */
	uint32_t pid;	     /* the tender */
	uint64_t started_us; /* when it started, us since the epoch */
	bool exited;	     /* HELLO: it has exited already (an EXIT frame follows) */
	/* HELLO (if exited) and EXIT: the tender's wait status, when it exited (us since the
	 * epoch), and whether the monitor stopped it on SIGTERM (the host shut down) */
	int status;
	uint64_t exited_us;
	bool host_stop;
	/* DATA: a piece of console output (a frame may come in several pieces) */
	const uint8_t *data;
	size_t len;
	/* LOST: bytes of console output the monitor dropped */
	uint64_t lost;
};

/* The state of reading a stream of frames; zero it to begin. */
struct alb_monitor_reader {
	uint8_t head[5];
	uint32_t head_len;
	uint32_t left;	   /* payload bytes of the current frame still to come */
	uint8_t small[32]; /* the largest small frame: 27 bytes */
	uint32_t small_len;
};

/* Called for each frame; non-zero stops the reading and is returned by alb_monitor_feed(). */
typedef int (*alb_monitor_frame_fn)(void *userdata, const struct alb_monitor_frame *frame);

/*
 * Feeds len bytes read from a monitor. 0 when all were read, fn's non-zero
 * return value, or -EPROTO (with the context's error) on a frame that is not
 * one: an unknown type, a wrong length, another protocol version.
 */
int alb_monitor_feed(alb_ctx *ctx, struct alb_monitor_reader *reader, const uint8_t *buf,
		     size_t len, alb_monitor_frame_fn fn, void *userdata);

/* Acknowledges total bytes of console output taken on this connection ('C'), and sends a
 * one-byte command ('T', 'K', 'A'); never blocks, never raises SIGPIPE. 0, -errno. */
int alb_monitor_ack(int fd, uint64_t total);
int alb_monitor_send(int fd, char command);

/* Connects to the monitor listening on path: a blocking, close-on-exec fd.
 * -ENOENT or -ECONNREFUSED when none listens there (it is gone). */
int alb_monitor_connect(alb_ctx *ctx, const char *path, int *ret_fd);

/*
 * Reads the hello of a monitor just connected (fd blocking), waiting at most
 * timeout_us, and nothing after it. 0, -ETIMEDOUT, -ECONNRESET (it went
 * away), -EPROTO.
 */
int alb_monitor_hello(alb_ctx *ctx, int fd, uint64_t timeout_us, struct alb_monitor_frame *ret);

/*
 * Ends the run of the monitor listening on path: SIGKILL to its tender, its
 * exit taken, the socket removed. When the monitor does not answer within
 * timeout_us, the monitor itself is killed (its tender dies with it: waited
 * for, at most timeout_us). 0 with *ret_pid the tender's pid (0 if none was
 * running); -ENOENT when no monitor listened there (the stale socket file is
 * removed); -EBUSY when something listens there that can be neither ended nor
 * killed (the socket stays: its tender may run).
 */
int alb_monitor_end(alb_ctx *ctx, const char *path, uint64_t timeout_us, uint32_t *ret_pid);

/*
 * Kills the monitor connected on fd, listening on path (its tender dies with
 * it), if the socket's peer is still that monitor (its command line names
 * path) and not this process. true if it was killed.
 */
bool alb_monitor_kill(int fd, const char *path);

/*
 * The run file <rundir>/u/<key>/run: what an albatrossd started later needs to
 * adopt a run (a text file, one "key value..." per line):
 *   albatross-run 1
 *   name NAME            the unikernel
 *   run N                the monitor's socket is N.sock
 *   config HEX           SHA-256 of its configuration (as the state stores it)
 *   taps TAP...          its taps
 *   tally R B N T...     restarts, next back-off (us), N recent exits (CLOCK_MONOTONIC us)
 *   destroy | restart    (if present) a destroy or restart is under way: the next
 *                        albatrossd carries it out
 *   wait T               (if present) its tender has exited and albatrossd restarts
 *                        it at CLOCK_MONOTONIC time T (us): the back-off under way,
 *                        which an albatrossd started meanwhile waits out
 *   failed REASON        (if present) its tender has exited and it failed for good
 *                        (a crash loop): an albatrossd started meanwhile keeps it
 *                        failed until a restart command
 *   exit code N | exit signal N
 *                        (if present, with wait or failed) how its tender ended
 */
#define ALB_RUN_TAPS_MAX   256u	 /* taps of one unikernel */
#define ALB_RUN_EXITS_MAX  1001u /* recent exits (one more than the largest crash burst) */
#define ALB_RUN_REASON_MAX 1024u /* the failed line's reason */

struct alb_run_file {
	char name[ALB_NAME_STRING_MAX + 1];
	uint64_t run; /* >= 1 */
	char config[65];
	char **taps; /* n_taps names of at most 15 characters; NULL if none */
	uint32_t n_taps;
	uint32_t restarts;
	uint64_t backoff_us;
	uint64_t *exits; /* n_exits; NULL if none */
	uint32_t n_exits;
	bool destroy, restart;
	uint64_t wait_us; /* wait T; 0 if absent */
	char *failed;	  /* failed REASON (at most ALB_RUN_REASON_MAX bytes); NULL if absent */
	int exit_kind;	  /* exit: ALB_EXIT_CODE or ALB_EXIT_SIGNAL; 0 if absent */
	uint32_t exit_value;
};

/* Its text (NUL-terminated, *ret_len bytes without the NUL). 0, -EINVAL, -ENOMEM. */
int alb_run_file_format(const struct alb_run_file *rf, char **ret, size_t *ret_len);
/* Parses len bytes of a run file. 0, -EBADMSG (not one: nothing is kept), -ENOMEM. */
int alb_run_file_parse(const char *text, size_t len, struct alb_run_file *ret);
/* Frees what a parsed run file holds (its taps and exits). */
void alb_run_file_clear(struct alb_run_file *rf);
