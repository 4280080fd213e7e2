/* SPDX-License-Identifier: ISC */
/* Fair shares of a resource held by peers (share-private.h). */
#include <string.h>

#include "share-private.h"

static uint32_t held_by(const struct alb_share_holder *h, size_t n, uint32_t uid,
			const char *tenant)
{
	uint32_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += h[i].uid == uid && (!tenant || strcmp(h[i].tenant, tenant) == 0);
	return k;
}

int alb_share_admit(const struct alb_share_holder *h, size_t n, uint32_t uid, const char *tenant,
		    uint32_t per_peer, uint32_t per_uid, size_t *ret_victim, uint32_t *ret_held)
{
	if (!tenant)
		tenant = "";
	uint32_t peer = held_by(h, n, uid, tenant);
	if (peer >= per_peer) {
		if (ret_held)
			*ret_held = peer;
		return ALB_SHARE_REFUSE_PEER;
	}
	uint32_t all = held_by(h, n, uid, NULL);
	if (all < per_uid)
		return ALB_SHARE_ADMIT;
	/* The uid's tenant that holds the most, its idlest holder (the first of equals). */
	size_t victim = n;
	uint32_t most = 0;
	for (size_t i = 0; i < n; i++) {
		if (h[i].uid != uid)
			continue;
		uint32_t k = held_by(h, n, uid, h[i].tenant);
		if (victim == n || k > most ||
		    (k == most && h[i].active_us < h[victim].active_us)) {
			victim = i;
			most = k;
		}
	}
	/* Only a place that makes the shares more even: taking one from a tenant that holds
	 * one more than the newcomer's would just move the refusal to it. */
	if (victim == n || most <= peer + 1) {
		if (ret_held)
			*ret_held = all;
		return ALB_SHARE_REFUSE_UID;
	}
	if (ret_victim)
		*ret_victim = victim;
	if (ret_held)
		*ret_held = most;
	return ALB_SHARE_EVICT;
}
