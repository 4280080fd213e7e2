/* SPDX-License-Identifier: ISC */
/* Host networking for albatrossd: taps and bridges, through libnl and /dev/net/tun. */
#pragma once

#include <sys/types.h>

#include <albatross/ctx.h>

#include "util-private.h"

struct alb_net;

/* Opens a route netlink socket. 0, -errno. */
int alb_net_new(alb_ctx *ctx, struct alb_net **ret);
struct alb_net *alb_net_free(struct alb_net *net);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct alb_net *, alb_net_free);

/* 1 if the interface bridge exists and is a bridge, 0 if not (reason in ctx), -errno. */
int alb_net_bridge_exists(struct alb_net *net, const char *bridge);

/* The names of the host's bridges (NULL-terminated, alb_strv_free()). 0, -errno. */
int alb_net_list_bridges(struct alb_net *net, char ***ret, uint32_t *ret_n);

/*
 * Creates a persistent tap named after prefix (prefix plus the smallest free
 * number, e.g. "alb0"), owned by uid/gid (unless (uid_t)-1), brought up and
 * attached to bridge. On failure nothing is left. *ret_name (IFNAMSIZ) is
 * the tap's name. reserve (may be NULL) is told the name before the tap
 * becomes persistent (from then on it would outlive a crash): a negative
 * return value gives up (nothing is left). 0, -errno (reason in ctx).
 */
int alb_net_tap_create(struct alb_net *net, const char *prefix, const char *bridge, uid_t uid,
		       gid_t gid, int (*reserve)(void *userdata, const char *name), void *userdata,
		       char ret_name[16]);

/* Removes a persistent tap. 0, -ENOENT, -errno. */
int alb_net_tap_remove(struct alb_net *net, const char *name);

/* 1 if an interface of this name exists, 0 if not. */
int alb_net_link_exists(const char *name);
