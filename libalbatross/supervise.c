/* SPDX-License-Identifier: ISC */
/* Supervision policy: see supervise-private.h. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>

#include "supervise-private.h"
#include "util-private.h"

void alb_supervise_params_init(struct alb_supervise_params *p)
{
	assert(p);
	*p = (struct alb_supervise_params){
	    .backoff_initial_us = ALB_SUPERVISE_BACKOFF_INITIAL_US_DEFAULT,
	    .backoff_max_us = ALB_SUPERVISE_BACKOFF_MAX_US_DEFAULT,
	    .crash_window_us = ALB_SUPERVISE_CRASH_WINDOW_US_DEFAULT,
	    .crash_burst = ALB_SUPERVISE_CRASH_BURST_DEFAULT,
	};
}

int alb_supervise_params_set_backoff(struct alb_supervise_params *p, uint64_t initial_us,
				     uint64_t max_us)
{
	if (!p || initial_us == 0 || max_us < initial_us)
		return -EINVAL;
	p->backoff_initial_us = initial_us;
	p->backoff_max_us = max_us;
	return 0;
}

int alb_supervise_params_set_crash_loop(struct alb_supervise_params *p, uint32_t burst,
					uint64_t window_us)
{
	if (!p || burst == 0 || burst > ALB_SUPERVISE_BURST_MAX || window_us == 0)
		return -EINVAL;
	p->crash_burst = burst;
	p->crash_window_us = window_us;
	return 0;
}

int alb_tally_init(struct alb_tally *t, const struct alb_supervise_params *p)
{
	assert(t && p);
	uint32_t cap = p->crash_burst + 1;
	if (t->cap != cap) {
		uint64_t *v = realloc(t->exits, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->exits = v;
		t->cap = cap;
	}
	t->restarts = 0;
	t->n_exits = 0;
	t->backoff_us = p->backoff_initial_us;
	return 0;
}

void alb_tally_clear(struct alb_tally *t)
{
	if (!t)
		return;
	free(t->exits);
	t->exits = NULL;
	t->cap = 0;
	t->n_exits = 0;
}

/* Counts an exit at now_us; returns the verdict short of the fail behaviour. */
static enum alb_verdict tally_count(struct alb_tally *t, const struct alb_supervise_params *p,
				    uint64_t uptime_us, uint64_t now_us, uint64_t *ret_delay_us)
{
	/* A run longer than the crash window starts the counting afresh. */
	if (uptime_us > p->crash_window_us) {
		t->n_exits = 0;
		t->backoff_us = p->backoff_initial_us;
	}
	uint32_t kept = 0;
	/* (unsigned differences: an exit after now counts as long ago) */
	for (uint32_t i = 0; i < t->n_exits; i++)
		if (now_us - t->exits[i] <= p->crash_window_us)
			t->exits[kept++] = t->exits[i];
	if (kept == t->cap) {
		/* Only when counting on after a crash loop: forget the oldest. */
		memmove(t->exits, t->exits + 1, (kept - 1) * sizeof(t->exits[0]));
		kept--;
	}
	t->exits[kept++] = now_us;
	t->n_exits = kept;
	if (t->n_exits >= p->crash_burst)
		return ALB_VERDICT_CRASH_LOOP;
	*ret_delay_us = t->backoff_us;
	/* backoff * 2 > max, without computing backoff * 2 */
	t->backoff_us =
	    t->backoff_us > p->backoff_max_us / 2 ? p->backoff_max_us : t->backoff_us * 2;
	return ALB_VERDICT_RESTART;
}

enum alb_verdict alb_tally_exit(struct alb_tally *t, const struct alb_supervise_params *p,
				const alb_unikernel_config *config, int signal, int code,
				uint64_t uptime_us, uint64_t now_us, uint64_t *ret_delay_us,
				uint32_t *ret_attempt)
{
	assert(t && p);
	assert(t->n_exits <= t->cap);
	uint64_t delay = 0;
	uint32_t attempt = 0;
	enum alb_verdict v = ALB_VERDICT_STOP;
	if (alb_unikernel_config_should_restart(config, signal, code))
		v = tally_count(t, p, uptime_us, now_us, &delay);
	if (v == ALB_VERDICT_RESTART)
		attempt = t->restarts == UINT32_MAX ? UINT32_MAX : t->restarts + 1;
	if (ret_delay_us)
		*ret_delay_us = delay;
	if (ret_attempt)
		*ret_attempt = attempt;
	return v;
}

void alb_tally_restarted(struct alb_tally *t)
{
	assert(t);
	if (t->restarts < UINT32_MAX)
		t->restarts++;
}

const char *alb_tally_crash_loop_reason(const struct alb_tally *t,
					const struct alb_supervise_params *p,
					char buf[ALB_SUPERVISE_REASON_MAX])
{
	assert(t && p && buf);
	snprintf(buf, ALB_SUPERVISE_REASON_MAX,
		 "crash loop: it exited %" PRIu32 " times within %" PRIu64 " s", t->n_exits,
		 p->crash_window_us / 1000000);
	return buf;
}
