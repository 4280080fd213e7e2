/* SPDX-License-Identifier: ISC */
/*
 * Supervision policy: what happens when a unikernel that should keep running
 * exits. A pure value type (the s6-supervise death tally and s6-permafailon
 * verdict): no I/O, no clock, no allocation; every time is a CLOCK_MONOTONIC
 * reading in microseconds handed in by the caller. See docs/albatrossd.md,
 * "Exits and restarts".
 *
 * The rules, in order, for an exit:
 * - alb_unikernel_config_should_restart() says no (a signal, code 1 or 60 to
 *   64, ALB_FAIL_QUIT, a code not listed for ALB_FAIL_RESTART_ON): ALB_VERDICT_STOP,
 *   and the tally is left as it was;
 * - a run longer than the crash window (uptime > crash_window_us)
 *   starts afresh: the recent exits are forgotten and the back-off is
 *   backoff_initial_us again (the restart count is kept);
 * - the exits older than the window (now - exit > crash_window_us) are
 *   forgotten, this one is counted; crash_burst of them is a crash loop:
 *   ALB_VERDICT_CRASH_LOOP (the back-off stays as it was);
 * - otherwise ALB_VERDICT_RESTART after the current back-off, which doubles
 *   for the next restart, up to backoff_max_us.
 */
#pragma once

#include <stdint.h>

#include <albatross/unikernel.h>

/* The largest crash burst, as alb_vmm_set_crash_loop() accepts. */
#define ALB_SUPERVISE_BURST_MAX 1000u

/* The defaults: 1 s doubling to 60 s; 5 exits within 60 s are a crash loop. */
#define ALB_SUPERVISE_BACKOFF_INITIAL_US_DEFAULT UINT64_C(1000000)
#define ALB_SUPERVISE_BACKOFF_MAX_US_DEFAULT	 UINT64_C(60000000)
#define ALB_SUPERVISE_CRASH_BURST_DEFAULT	 5u
#define ALB_SUPERVISE_CRASH_WINDOW_US_DEFAULT	 UINT64_C(60000000)

/* Room for the crash-loop reason with any count and window, NUL included. */
#define ALB_SUPERVISE_REASON_MAX 80u

struct alb_supervise_params {
	uint64_t backoff_initial_us; /* the first delay; >= 1 */
	uint64_t backoff_max_us;     /* the doubling stops here; >= backoff_initial_us */
	uint64_t crash_window_us;    /* >= 1 */
	uint32_t crash_burst;	     /* 1 .. ALB_SUPERVISE_BURST_MAX exits within the window */
};

/* Sets the defaults. */
void alb_supervise_params_init(struct alb_supervise_params *p);

/*
 * Sets the back-off, as alb_vmm_set_restart_backoff() validates it.
 * Returns 0, or -EINVAL (initial 0, or max below initial) leaving p unchanged.
 */
int alb_supervise_params_set_backoff(struct alb_supervise_params *p, uint64_t initial_us,
				     uint64_t max_us);

/*
 * Sets the crash loop, as alb_vmm_set_crash_loop() validates it.
 * Returns 0, or -EINVAL (burst 0 or above ALB_SUPERVISE_BURST_MAX, window 0)
 * leaving p unchanged.
 */
int alb_supervise_params_set_crash_loop(struct alb_supervise_params *p, uint32_t burst,
					uint64_t window_us);

/* One unikernel's tally; a plain value (about 8 KiB), copied and compared freely. */
struct alb_tally {
	uint32_t restarts;   /* restarts begun (alb_tally_restarted), for the unikernel info */
	uint32_t n_exits;    /* entries of exits[] in use */
	uint64_t backoff_us; /* the delay of the next restart */
	/* CLOCK_MONOTONIC times of the recent restarting exits, oldest first: cap
	 * entries, one more than the burst (a tally kept counting after a crash loop
	 * forgets its oldest exit rather than overflow). Owned; alb_tally_clear(). */
	uint32_t cap;
	uint64_t *exits;
};

enum alb_verdict {
	ALB_VERDICT_STOP = 0,	    /* not to be restarted: the unikernel is done */
	ALB_VERDICT_RESTART = 1,    /* restart after *ret_delay_us */
	ALB_VERDICT_CRASH_LOOP = 2, /* failed: see alb_tally_crash_loop_reason() */
};

/* Starts a tally afresh: a new unikernel, or a restart command. */
int alb_tally_init(struct alb_tally *t, const struct alb_supervise_params *p);
/* Frees what t holds; t may be initialised again. */
void alb_tally_clear(struct alb_tally *t);

/*
 * Decides what follows an exit of a unikernel run with config: killed by
 * signal (non-zero), or exited with code. uptime_us is how long this run
 * lasted, now_us is the time of the exit (CLOCK_MONOTONIC; vmm.c may read the
 * clock once for both, or as before once for the uptime when the tender is
 * reaped and again for now). The RESTART verdict advances the back-off and
 * writes the delay to wait and the attempt number (restarts + 1) that the
 * RESTARTING event carries; the other verdicts write 0 to both. ret_delay_us
 * and ret_attempt may be NULL. No overflow: the doubling and the attempt
 * saturate.
 */
enum alb_verdict alb_tally_exit(struct alb_tally *t, const struct alb_supervise_params *p,
				const alb_unikernel_config *config, int signal, int code,
				uint64_t uptime_us, uint64_t now_us, uint64_t *ret_delay_us,
				uint32_t *ret_attempt);

/* Counts a restart that begins (the back-off has elapsed). Saturates at UINT32_MAX. */
void alb_tally_restarted(struct alb_tally *t);

/*
 * Writes the reason of a crash-loop verdict, e.g. "crash loop: it exited 5
 * times within 60 s", to buf (ALB_SUPERVISE_REASON_MAX bytes) and returns buf.
 */
const char *alb_tally_crash_loop_reason(const struct alb_tally *t,
					const struct alb_supervise_params *p,
					char buf[ALB_SUPERVISE_REASON_MAX]);
