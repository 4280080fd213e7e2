/* SPDX-License-Identifier: ISC */
/* The supervision policy with a fake clock: every time is made up here. */
#include <inttypes.h>

#include "supervise-private.h"
#include "util-private.h"
#include "test-common.h"

#define S  UINT64_C(1000000)
#define MS UINT64_C(1000)

static struct alb_supervise_params params;
static struct alb_tally tally;
static alb_unikernel_config *restart_all; /* ALB_FAIL_RESTART */
static uint64_t clock_us;		  /* the fake CLOCK_MONOTONIC */

static void setup(void)
{
	tc_ctx_setup();
	alb_supervise_params_init(&params);
	ck_assert_int_eq(alb_tally_init(&tally, &params), 0);
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_new(test_ctx, &restart_all));
	ck_assert_alb_ok(test_ctx,
			 alb_unikernel_config_set_fail_behaviour(restart_all, ALB_FAIL_RESTART));
	clock_us = 1000 * S;
}

static void teardown(void)
{
	alb_tally_clear(&tally);
	alb_unikernel_config_free(restart_all);
	tc_ctx_teardown();
}

/* A run of uptime that exits with code 0; returns the verdict, the delay and the attempt. */
static enum alb_verdict run(uint64_t uptime, uint64_t *delay, uint32_t *attempt)
{
	clock_us += uptime;
	return alb_tally_exit(&tally, &params, restart_all, 0, 0, uptime, clock_us, delay, attempt);
}

/* A run that restarts after the expected delay with the expected attempt; the back-off elapses
 * and the restart begins. */
static void run_restarts(uint64_t uptime, uint64_t want_delay, uint32_t want_attempt)
{
	uint64_t delay = 42;
	uint32_t attempt = 42;
	ck_assert_int_eq(run(uptime, &delay, &attempt), ALB_VERDICT_RESTART);
	ck_assert_uint_eq(delay, want_delay);
	ck_assert_uint_eq(attempt, want_attempt);
	clock_us += delay;
	alb_tally_restarted(&tally);
}

static const char *reason(void)
{
	static char buf[ALB_SUPERVISE_REASON_MAX];
	return alb_tally_crash_loop_reason(&tally, &params, buf);
}

START_TEST(test_params)
{
	struct alb_supervise_params p;
	alb_supervise_params_init(&p);
	ck_assert_uint_eq(p.backoff_initial_us, 1 * S);
	ck_assert_uint_eq(p.backoff_max_us, 60 * S);
	ck_assert_uint_eq(p.crash_burst, 5);
	ck_assert_uint_eq(p.crash_window_us, 60 * S);

	struct alb_supervise_params before = p;
	ck_assert_int_eq(alb_supervise_params_set_backoff(&p, 0, 10), -EINVAL);
	ck_assert_int_eq(alb_supervise_params_set_backoff(&p, 10, 9), -EINVAL);
	ck_assert_int_eq(alb_supervise_params_set_backoff(NULL, 1, 1), -EINVAL);
	ck_assert_int_eq(alb_supervise_params_set_crash_loop(&p, 0, 10), -EINVAL);
	ck_assert_int_eq(alb_supervise_params_set_crash_loop(&p, ALB_SUPERVISE_BURST_MAX + 1, 10),
			 -EINVAL);
	ck_assert_int_eq(alb_supervise_params_set_crash_loop(&p, 3, 0), -EINVAL);
	ck_assert_int_eq(alb_supervise_params_set_crash_loop(NULL, 3, 1), -EINVAL);
	ck_assert_uint_eq(p.backoff_initial_us, before.backoff_initial_us);
	ck_assert_uint_eq(p.backoff_max_us, before.backoff_max_us);
	ck_assert_uint_eq(p.crash_burst, before.crash_burst);
	ck_assert_uint_eq(p.crash_window_us, before.crash_window_us);

	ck_assert_int_eq(alb_supervise_params_set_backoff(&p, 7, 7), 0);
	ck_assert_uint_eq(p.backoff_initial_us, 7);
	ck_assert_uint_eq(p.backoff_max_us, 7);
	ck_assert_int_eq(alb_supervise_params_set_backoff(&p, 1, UINT64_MAX), 0);
	ck_assert_int_eq(alb_supervise_params_set_crash_loop(&p, ALB_SUPERVISE_BURST_MAX, 1), 0);
	ck_assert_uint_eq(p.crash_burst, ALB_SUPERVISE_BURST_MAX);
	ck_assert_uint_eq(p.crash_window_us, 1);
	ck_assert_int_eq(alb_supervise_params_set_crash_loop(&p, 1, UINT64_MAX), 0);
}
END_TEST

/* 1 s doubling to 60 s, the attempt counting the restarts begun. */
START_TEST(test_doubling_and_cap)
{
	ck_assert_int_eq(alb_supervise_params_set_crash_loop(&params, 100, 3600 * S), 0);
	alb_tally_init(&tally, &params);
	const uint64_t want[] = {1, 2, 4, 8, 16, 32, 60, 60, 60};
	for (uint32_t i = 0; i < ELEMENTSOF(want); i++)
		run_restarts(10 * MS, want[i] * S, i + 1);
	ck_assert_uint_eq(tally.restarts, ELEMENTSOF(want));
}
END_TEST

START_TEST(test_cap_odd_and_equal)
{
	ck_assert_int_eq(alb_supervise_params_set_crash_loop(&params, 100, 3600 * S), 0);
	/* max odd: 3, 6, then 12 > 11 is capped */
	ck_assert_int_eq(alb_supervise_params_set_backoff(&params, 3, 11), 0);
	alb_tally_init(&tally, &params);
	run_restarts(1, 3, 1);
	run_restarts(1, 6, 2);
	run_restarts(1, 11, 3);
	run_restarts(1, 11, 4);
	/* max even, reached exactly: 5, 10 (= max), 10 */
	ck_assert_int_eq(alb_supervise_params_set_backoff(&params, 5, 10), 0);
	alb_tally_init(&tally, &params);
	run_restarts(1, 5, 1);
	run_restarts(1, 10, 2);
	run_restarts(1, 10, 3);
	/* initial = max */
	ck_assert_int_eq(alb_supervise_params_set_backoff(&params, 4 * S, 4 * S), 0);
	alb_tally_init(&tally, &params);
	for (uint32_t i = 1; i <= 4; i++)
		run_restarts(1, 4 * S, i);
}
END_TEST

/* A run longer than the window resets the back-off and the count, not the restarts. */
START_TEST(test_long_run_resets)
{
	run_restarts(1 * S, 1 * S, 1);
	run_restarts(1 * S, 2 * S, 2);
	run_restarts(1 * S, 4 * S, 3);
	/* exactly the window is not longer than it: the back-off goes on (the earlier exits are
	 * more than 60 s ago, forgotten) */
	run_restarts(60 * S, 8 * S, 4);
	ck_assert_uint_eq(tally.n_exits, 1);
	run_restarts(60 * S + 1, 1 * S, 5);
	ck_assert_uint_eq(tally.n_exits, 1);
	run_restarts(1 * S, 2 * S, 6);
	ck_assert_uint_eq(tally.restarts, 6);
}
END_TEST

/* Exits farther apart than the window do not accumulate, while the back-off (runs shorter than
 * the window) keeps doubling. */
START_TEST(test_window_forgets)
{
	ck_assert_int_eq(alb_supervise_params_set_crash_loop(&params, 2, 60 * S), 0);
	alb_tally_init(&tally, &params);
	/* first exit at T, 1 s back-off, a 59 s run: the second exit is 60 s after the first,
	 * within the window */
	run_restarts(10 * S, 1 * S, 1);
	uint64_t first = clock_us - 1 * S;
	ck_assert_int_eq(run(59 * S, NULL, NULL), ALB_VERDICT_CRASH_LOOP);
	ck_assert_uint_eq(clock_us - first, 60 * S);
	ck_assert_str_eq(reason(), "crash loop: it exited 2 times within 60 s");

	/* one microsecond later it is not */
	alb_tally_init(&tally, &params);
	run_restarts(10 * S, 1 * S, 1);
	run_restarts(59 * S + 1, 2 * S, 2);
	ck_assert_uint_eq(tally.n_exits, 1);

	/* Runs of exactly the window (not longer: no reset), each exit more than the window
	 * after the one before: never two counted, the back-off doubling to its cap. */
	const uint64_t want[] = {4, 8, 16, 32, 60, 60, 60};
	for (uint32_t i = 0; i < ELEMENTSOF(want); i++) {
		run_restarts(60 * S, want[i] * S, i + 3);
		ck_assert_uint_eq(tally.n_exits, 1);
	}
}
END_TEST

/* The default burst: the 5th exit within 60 s is a crash loop, with today's reason. */
START_TEST(test_burst)
{
	run_restarts(1 * S, 1 * S, 1);
	run_restarts(1 * S, 2 * S, 2);
	run_restarts(1 * S, 4 * S, 3);
	run_restarts(1 * S, 8 * S, 4);
	ck_assert_uint_eq(tally.n_exits, 4);
	uint64_t delay = 42;
	uint32_t attempt = 42;
	ck_assert_int_eq(run(1 * S, &delay, &attempt), ALB_VERDICT_CRASH_LOOP);
	ck_assert_uint_eq(delay, 0);
	ck_assert_uint_eq(attempt, 0);
	ck_assert_str_eq(reason(), "crash loop: it exited 5 times within 60 s");
	/* the back-off did not move */
	ck_assert_uint_eq(tally.backoff_us, 16 * S);
	ck_assert_uint_eq(tally.restarts, 4);

	/* a restart command starts afresh */
	alb_tally_init(&tally, &params);
	ck_assert_uint_eq(tally.n_exits, 0);
	run_restarts(1 * S, 1 * S, 1);
}
END_TEST

/* The window in the reason is in whole seconds, rounded down. */
START_TEST(test_reason_text)
{
	ck_assert_int_eq(alb_supervise_params_set_crash_loop(&params, 3, 90 * S + 999999), 0);
	alb_tally_init(&tally, &params);
	run_restarts(1, 1 * S, 1);
	run_restarts(1, 2 * S, 2);
	ck_assert_int_eq(run(1, NULL, NULL), ALB_VERDICT_CRASH_LOOP);
	ck_assert_str_eq(reason(), "crash loop: it exited 3 times within 90 s");

	ck_assert_int_eq(alb_supervise_params_set_crash_loop(&params, 2, 999999), 0);
	alb_tally_init(&tally, &params);
	ck_assert_int_eq(run(1, NULL, NULL), ALB_VERDICT_RESTART);
	ck_assert_int_eq(run(1, NULL, NULL), ALB_VERDICT_CRASH_LOOP);
	ck_assert_str_eq(reason(), "crash loop: it exited 2 times within 0 s");

	/* the longest text fits */
	struct alb_tally t = {.n_exits = UINT32_MAX};
	struct alb_supervise_params p = params;
	p.crash_window_us = UINT64_MAX;
	char buf[ALB_SUPERVISE_REASON_MAX];
	ck_assert_str_eq(alb_tally_crash_loop_reason(&t, &p, buf),
			 "crash loop: it exited 4294967295 times within 18446744073709 s");
}
END_TEST

static void assert_stops(const alb_unikernel_config *c, int signal, int code)
{
	struct alb_tally before = tally;
	uint64_t exits[ALB_SUPERVISE_BURST_MAX + 1];
	memcpy(exits, tally.exits, tally.n_exits * sizeof(exits[0]));
	uint64_t delay = 42;
	uint32_t attempt = 42;
	ck_assert_int_eq(
	    alb_tally_exit(&tally, &params, c, signal, code, 1, clock_us, &delay, &attempt),
	    ALB_VERDICT_STOP);
	ck_assert_uint_eq(delay, 0);
	ck_assert_uint_eq(attempt, 0);
	/* the tally is as it was */
	ck_assert_mem_eq(&tally, &before, sizeof(tally));
	ck_assert_mem_eq(tally.exits, exits, tally.n_exits * sizeof(exits[0]));
}

static void assert_restarts(const alb_unikernel_config *c, int signal, int code)
{
	alb_tally_init(&tally, &params);
	ck_assert_int_eq(alb_tally_exit(&tally, &params, c, signal, code, 1, clock_us, NULL, NULL),
			 ALB_VERDICT_RESTART);
	alb_tally_init(&tally, &params);
}

/* The fail behaviour: signals and the error codes never restart. */
START_TEST(test_never_restart)
{
	/* some history, to see it is left alone */
	run_restarts(1 * S, 1 * S, 1);
	run_restarts(1 * S, 2 * S, 2);
	struct alb_tally kept = tally;

	/* ALB_FAIL_RESTART: every code but 1 and 60 to 64; no signal */
	for (int sig = 1; sig < 65; sig++)
		assert_stops(restart_all, sig, 0);
	assert_stops(restart_all, -1, 0);
	assert_stops(restart_all, 9, 2);
	assert_stops(restart_all, 0, 1);
	for (int code = 60; code <= 64; code++)
		assert_stops(restart_all, 0, code);
	for (int code = 0; code < 256; code++)
		if (code != 1 && (code < 60 || code > 64))
			assert_restarts(restart_all, 0, code);
	assert_restarts(restart_all, 0, 59);
	assert_restarts(restart_all, 0, 65);

	/* ALB_FAIL_QUIT (the default), and no configuration */
	alb_unikernel_config *quit = NULL;
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_new(test_ctx, &quit));
	tally = kept;
	for (int code = 0; code < 256; code++)
		assert_stops(quit, 0, code);
	assert_stops(NULL, 0, 0);
	assert_stops(NULL, 0, 2);

	/* ALB_FAIL_RESTART_ON 0, 1, 3, 62: the listed codes but 1 and 62 */
	alb_unikernel_config *on = NULL;
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_new(test_ctx, &on));
	ck_assert_alb_ok(test_ctx,
			 alb_unikernel_config_set_fail_behaviour(on, ALB_FAIL_RESTART_ON));
	const uint32_t listed[] = {0, 1, 3, 62};
	for (uint32_t i = 0; i < ELEMENTSOF(listed); i++)
		ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_exit_code(on, listed[i]));
	assert_restarts(on, 0, 0);
	assert_restarts(on, 0, 3);
	tally = kept;
	assert_stops(on, 0, 1);
	assert_stops(on, 0, 62);
	assert_stops(on, 0, 2);
	assert_stops(on, 0, 4);
	assert_stops(on, 0, 255);
	assert_stops(on, 0, -1);
	assert_stops(on, 15, 3);
	assert_stops(on, 15, 0);

	/* stops do not count: the history goes on where it was */
	tally = kept;
	assert_stops(restart_all, 9, 0);
	run_restarts(1 * S, 4 * S, 3);
	ck_assert_uint_eq(tally.n_exits, 3);
	alb_unikernel_config_free(quit);
	alb_unikernel_config_free(on);
}
END_TEST

/* The attempt is restarts + 1: a restart that never began (destroyed while waiting) is not
 * counted; a long run keeps counting. */
START_TEST(test_attempts)
{
	uint32_t attempt = 0;
	uint64_t delay = 0;
	ck_assert_int_eq(run(1 * S, &delay, &attempt), ALB_VERDICT_RESTART);
	ck_assert_uint_eq(attempt, 1);
	ck_assert_uint_eq(delay, 1 * S);
	/* no alb_tally_restarted(): the same attempt number again, the back-off moved on */
	ck_assert_int_eq(run(1 * S, &delay, &attempt), ALB_VERDICT_RESTART);
	ck_assert_uint_eq(attempt, 1);
	ck_assert_uint_eq(delay, 2 * S);
	alb_tally_restarted(&tally);
	ck_assert_int_eq(run(1 * S, &delay, &attempt), ALB_VERDICT_RESTART);
	ck_assert_uint_eq(attempt, 2);
	alb_tally_restarted(&tally);
	run_restarts(3600 * S, 1 * S, 3);
	/* saturates */
	tally.restarts = UINT32_MAX - 1;
	run_restarts(3600 * S, 1 * S, UINT32_MAX);
	ck_assert_uint_eq(tally.restarts, UINT32_MAX);
	run_restarts(3600 * S, 1 * S, UINT32_MAX);
	ck_assert_uint_eq(tally.restarts, UINT32_MAX);
}
END_TEST

START_TEST(test_burst_one)
{
	ck_assert_int_eq(alb_supervise_params_set_crash_loop(&params, 1, 60 * S), 0);
	alb_tally_init(&tally, &params);
	uint64_t delay = 42;
	uint32_t attempt = 42;
	ck_assert_int_eq(run(3600 * S, &delay, &attempt), ALB_VERDICT_CRASH_LOOP);
	ck_assert_uint_eq(delay, 0);
	ck_assert_uint_eq(attempt, 0);
	ck_assert_str_eq(reason(), "crash loop: it exited 1 times within 60 s");
	/* the never-restart rules come first */
	alb_tally_init(&tally, &params);
	assert_stops(restart_all, 0, 1);
	assert_stops(restart_all, 11, 0);
}
END_TEST

/* A zero window (the setters refuse it): every run that lasted at all starts afresh; exits in
 * the same microsecond still count together. */
START_TEST(test_zero_window)
{
	params.crash_window_us = 0;
	params.crash_burst = 3;
	alb_tally_init(&tally, &params);
	for (uint32_t i = 1; i < 10; i++)
		run_restarts(1, 1 * S, i);
	ck_assert_uint_eq(tally.n_exits, 1);
	uint64_t t = clock_us;
	ck_assert_int_eq(alb_tally_exit(&tally, &params, restart_all, 0, 0, 0, t, NULL, NULL),
			 ALB_VERDICT_RESTART);
	ck_assert_int_eq(alb_tally_exit(&tally, &params, restart_all, 0, 0, 0, t, NULL, NULL),
			 ALB_VERDICT_RESTART);
	ck_assert_int_eq(alb_tally_exit(&tally, &params, restart_all, 0, 0, 0, t, NULL, NULL),
			 ALB_VERDICT_CRASH_LOOP);
	ck_assert_str_eq(reason(), "crash loop: it exited 3 times within 0 s");
}
END_TEST

/* Huge times and back-offs: no overflow, the doubling saturates at the cap. */
START_TEST(test_huge)
{
	ck_assert_int_eq(
	    alb_supervise_params_set_backoff(&params, (UINT64_C(1) << 63) + 1, UINT64_MAX), 0);
	ck_assert_int_eq(
	    alb_supervise_params_set_crash_loop(&params, ALB_SUPERVISE_BURST_MAX, UINT64_MAX), 0);
	alb_tally_init(&tally, &params);
	uint64_t delay;
	uint32_t attempt;
	uint64_t now = UINT64_MAX - 10;
	ck_assert_int_eq(
	    alb_tally_exit(&tally, &params, restart_all, 0, 0, now, now, &delay, &attempt),
	    ALB_VERDICT_RESTART);
	ck_assert_uint_eq(delay, (UINT64_C(1) << 63) + 1);
	ck_assert_uint_eq(tally.backoff_us, UINT64_MAX);
	ck_assert_int_eq(alb_tally_exit(&tally, &params, restart_all, 0, 0, UINT64_MAX, UINT64_MAX,
					&delay, &attempt),
			 ALB_VERDICT_RESTART);
	ck_assert_uint_eq(delay, UINT64_MAX);
	ck_assert_uint_eq(tally.backoff_us, UINT64_MAX);
	ck_assert_uint_eq(tally.n_exits, 2);

	/* max just under double the back-off: capped, not wrapped */
	ck_assert_int_eq(
	    alb_supervise_params_set_backoff(&params, UINT64_C(1) << 62, (UINT64_C(1) << 63) + 5),
	    0);
	alb_tally_init(&tally, &params);
	ck_assert_int_eq(alb_tally_exit(&tally, &params, restart_all, 0, 0, 1, 2, &delay, NULL),
			 ALB_VERDICT_RESTART);
	ck_assert_uint_eq(tally.backoff_us, UINT64_C(1) << 63);
	ck_assert_int_eq(alb_tally_exit(&tally, &params, restart_all, 0, 0, 1, 2, &delay, NULL),
			 ALB_VERDICT_RESTART);
	ck_assert_uint_eq(delay, UINT64_C(1) << 63);
	ck_assert_uint_eq(tally.backoff_us, (UINT64_C(1) << 63) + 5);

	/* the largest burst fills the tally exactly; counting on after the crash loop forgets
	 * the oldest exits instead of overflowing */
	alb_tally_init(&tally, &params);
	for (uint32_t i = 1; i < ALB_SUPERVISE_BURST_MAX; i++)
		ck_assert_int_eq(
		    alb_tally_exit(&tally, &params, restart_all, 0, 0, 1, i + 1, NULL, NULL),
		    ALB_VERDICT_RESTART);
	ck_assert_int_eq(alb_tally_exit(&tally, &params, restart_all, 0, 0, 1, 5001, NULL, NULL),
			 ALB_VERDICT_CRASH_LOOP);
	ck_assert_str_eq(reason(), "crash loop: it exited 1000 times within 18446744073709 s");
	for (uint32_t i = 0; i < 5; i++)
		ck_assert_int_eq(
		    alb_tally_exit(&tally, &params, restart_all, 0, 0, 1, 6001 + i, NULL, NULL),
		    ALB_VERDICT_CRASH_LOOP);
	ck_assert_uint_eq(tally.n_exits, ALB_SUPERVISE_BURST_MAX + 1);
	ck_assert_uint_eq(tally.exits[0], 6);
	ck_assert_uint_eq(tally.exits[ALB_SUPERVISE_BURST_MAX], 6005);

	/* a start after now (not on a monotonic clock) makes a huge uptime (vmm.c's unsigned
	 * difference): a long run */
	params.crash_window_us = 60 * S;
	params.backoff_initial_us = 1 * S;
	params.backoff_max_us = 60 * S;
	params.crash_burst = 5;
	alb_tally_init(&tally, &params);
	run_restarts(1, 1 * S, 1);
	run_restarts(1, 2 * S, 2);
	ck_assert_int_eq(alb_tally_exit(&tally, &params, restart_all, 0, 0,
					clock_us - (clock_us + 1), clock_us, &delay, NULL),
			 ALB_VERDICT_RESTART);
	ck_assert_uint_eq(delay, 1 * S);
	ck_assert_uint_eq(tally.n_exits, 1);
}
END_TEST

/* ---- the same decisions as the exit handler of vmm.c did inline ---------------------------- */

/* vmm.c's code before the supervision policy became a module, word for word but for the names
 * (struct uk's restarts, backoff_us, exits, n_exits; alb_vmm's four settings). */
struct old_uk {
	uint32_t restarts;
	uint64_t backoff_us;
	uint64_t *exits;
	uint32_t n_exits;
	char *message;
};

static int old_exited(struct old_uk *u, const struct alb_supervise_params *vmm,
		      const alb_unikernel_config *config, int sig, int code, uint64_t started_mono,
		      uint64_t reaped, uint64_t now_at_exit, uint64_t *ret_delay,
		      uint32_t *ret_attempt)
{
	uint64_t uptime = reaped - started_mono; /* alb_now_monotonic() - u->started_mono */
	if (!alb_unikernel_config_should_restart(config, sig, code))
		return ALB_VERDICT_STOP;
	if (uptime > vmm->crash_window_us) {
		u->n_exits = 0;
		u->backoff_us = vmm->backoff_initial_us;
	}
	uint64_t now = now_at_exit; /* alb_now_monotonic(), a little later */
	uint32_t kept = 0;
	for (uint32_t i = 0; i < u->n_exits; i++)
		if (now - u->exits[i] <= vmm->crash_window_us)
			u->exits[kept++] = u->exits[i];
	u->exits[kept++] = now;
	u->n_exits = kept;
	if (u->n_exits >= vmm->crash_burst) {
		free(u->message);
		ck_assert_int_ge(asprintf(&u->message,
					  "crash loop: it exited %u times within %" PRIu64 " s",
					  u->n_exits, vmm->crash_window_us / 1000000),
				 0);
		return ALB_VERDICT_CRASH_LOOP;
	}
	uint64_t delay = u->backoff_us;
	u->backoff_us =
	    u->backoff_us * 2 > vmm->backoff_max_us ? vmm->backoff_max_us : u->backoff_us * 2;
	*ret_delay = delay;
	*ret_attempt = u->restarts + 1;
	return ALB_VERDICT_RESTART;
}

static void old_reset(struct old_uk *u, const struct alb_supervise_params *vmm)
{
	u->restarts = 0;
	u->n_exits = 0;
	u->backoff_us = vmm->backoff_initial_us;
}

static uint64_t rng_state;
static uint64_t rnd(uint64_t n)
{
	rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
	return (rng_state >> 33) % n;
}

/* Random lives of a unikernel under random settings, decided by both. */
START_TEST(test_same_as_vmm)
{
	alb_unikernel_config *on = NULL;
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_new(test_ctx, &on));
	ck_assert_alb_ok(test_ctx,
			 alb_unikernel_config_set_fail_behaviour(on, ALB_FAIL_RESTART_ON));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_exit_code(on, 2));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_exit_code(on, 7));
	const int codes[] = {0, 0, 0, 2, 7, 1, 60, 64, 65, 3};
	rng_state = (uint64_t)_i + 1;
	uint64_t decisions[3] = {0};

	for (int round = 0; round < 200; round++) {
		struct alb_supervise_params p;
		alb_supervise_params_init(&p);
		const uint64_t scale[] = {1, MS, S};
		uint64_t unit = scale[rnd(3)];
		uint64_t initial = 1 + rnd(5) * unit;
		ck_assert_int_eq(
		    alb_supervise_params_set_backoff(&p, initial, initial + rnd(100) * unit), 0);
		ck_assert_int_eq(alb_supervise_params_set_crash_loop(&p, 1 + (uint32_t)rnd(12),
								     1 + rnd(120) * unit),
				 0);
		struct old_uk old = {.exits = calloc(p.crash_burst + 1, sizeof(uint64_t))};
		old_reset(&old, &p);
		alb_tally_init(&tally, &p);
		const alb_unikernel_config *c = rnd(4) ? restart_all : on;
		uint64_t now = rnd(1000) * unit;

		for (int step = 0; step < 300; step++) {
			uint64_t started = now;
			now += rnd(4) ? rnd(3 * p.crash_window_us / 2 + 2) : rnd(20);
			int sig = rnd(20) ? 0 : 9;
			int code = codes[rnd(ELEMENTSOF(codes))];
			uint64_t d_old = 0, d_new = 0;
			uint32_t a_old = 0, a_new = 0;
			/* reaped at now, the second clock read a little later */
			uint64_t reaped = now;
			now += rnd(3);
			int v_old = old_exited(&old, &p, c, sig, code, started, reaped, now, &d_old,
					       &a_old);
			int v_new = alb_tally_exit(&tally, &p, c, sig, code, reaped - started, now,
						   &d_new, &a_new);
			/* one check call per step: check's assertions are slow in bulk */
			if (v_new != v_old || d_new != d_old || a_new != a_old ||
			    tally.n_exits != old.n_exits || tally.backoff_us != old.backoff_us)
				ck_abort_msg(
				    "round %d step %d: verdict %d/%d delay %" PRIu64 "/%" PRIu64
				    " attempt %" PRIu32 "/%" PRIu32 " exits %" PRIu32 "/%" PRIu32
				    " backoff %" PRIu64 "/%" PRIu64,
				    round, step, v_new, v_old, d_new, d_old, a_new, a_old,
				    tally.n_exits, old.n_exits, tally.backoff_us, old.backoff_us);
			decisions[v_new]++;
			if (v_new == ALB_VERDICT_CRASH_LOOP) {
				char buf[ALB_SUPERVISE_REASON_MAX];
				ck_assert_str_eq(alb_tally_crash_loop_reason(&tally, &p, buf),
						 old.message);
				/* failed until a restart command */
				old_reset(&old, &p);
				alb_tally_init(&tally, &p);
			} else if (v_new == ALB_VERDICT_STOP) {
				/* the unikernel is gone; a new one of the same name */
				old_reset(&old, &p);
				alb_tally_init(&tally, &p);
			} else if (rnd(10)) {
				/* the back-off elapses and the restart begins */
				now += d_new;
				old.restarts++;
				alb_tally_restarted(&tally);
			} else {
				/* a restart command while waiting */
				now += rnd(d_new + 1);
				old_reset(&old, &p);
				alb_tally_init(&tally, &p);
			}
			if (tally.restarts != old.restarts)
				ck_abort_msg("restarts %" PRIu32 "/%" PRIu32, tally.restarts,
					     old.restarts);
		}
		free(old.exits);
		free(old.message);
	}
	/* every verdict was seen plenty */
	for (int v = 0; v < 3; v++)
		ck_assert_uint_gt(decisions[v], 1000);
	alb_unikernel_config_free(on);
}
END_TEST

static Suite *supervise_suite(void)
{
	Suite *s = suite_create("supervise");
	TCase *tc = tcase_create("tally");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_params);
	tcase_add_test(tc, test_doubling_and_cap);
	tcase_add_test(tc, test_cap_odd_and_equal);
	tcase_add_test(tc, test_long_run_resets);
	tcase_add_test(tc, test_window_forgets);
	tcase_add_test(tc, test_burst);
	tcase_add_test(tc, test_reason_text);
	tcase_add_test(tc, test_never_restart);
	tcase_add_test(tc, test_attempts);
	tcase_add_test(tc, test_burst_one);
	tcase_add_test(tc, test_zero_window);
	tcase_add_test(tc, test_huge);
	suite_add_tcase(s, tc);
	tc = tcase_create("same as vmm.c");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_same_as_vmm, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(supervise_suite());
}
