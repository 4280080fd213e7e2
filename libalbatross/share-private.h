/* SPDX-License-Identifier: ISC */
/*
 * Fair shares of a resource held by peers (docs/albatrossd.md, "Uploads"): whether one
 * more may be taken, given who holds what. A peer is a uid and a tenant (the first label
 * of the name a command names: remote clients share the TLS endpoint's uid, their names
 * begin with their tenant's; "" for a name at the root). Two bounds:
 *
 * - per peer (per_peer): a peer that holds as many is refused; the newcomer is its own,
 *   and refusing it costs nothing, where taking one of its own holders would throw away
 *   the work done;
 * - per uid (per_uid): when a uid holds as many in all, its tenant that holds the most
 *   gives up its idlest holder for a newcomer of a tenant that holds at least two fewer
 *   (the shares become more even); otherwise the newcomer is refused (taking a place
 *   from a tenant that holds one more would only move the refusal there).
 *
 * Only a decision: the caller does what it says. No allocation, no state.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct alb_share_holder {
	uint32_t uid;
	const char *tenant; /* "" for none */
	uint64_t active_us; /* when it last made progress: the idlest goes first */
};

enum {
	ALB_SHARE_ADMIT,       /* it may take one more */
	ALB_SHARE_EVICT,       /* it may, once the holder *ret_victim gave up its place */
	ALB_SHARE_REFUSE_PEER, /* its peer holds per_peer (*ret_held) */
	ALB_SHARE_REFUSE_UID,  /* its uid holds per_uid (*ret_held), its tenant nearly the most */
};

/*
 * The decision for a newcomer of (uid, tenant) among the n holders h (per_peer, per_uid
 * >= 1). ret_victim (EVICT: the index of the holder that goes) and ret_held (the count
 * that the bound found full: the peer's, or the uid's; for EVICT, what the victim's
 * tenant holds) may be NULL.
 */
int alb_share_admit(const struct alb_share_holder *h, size_t n, uint32_t uid, const char *tenant,
		    uint32_t per_peer, uint32_t per_uid, size_t *ret_victim, uint32_t *ret_held);
