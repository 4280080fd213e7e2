/* SPDX-License-Identifier: ISC */
/*
 * The stats service: the protocol side of albatross-stats (docs/metrics.md).
 * stats-add and stats-remove from albatrossd keep the registry of tenders;
 * every interval the collector (stats-private.h) samples each, and the
 * samples go to the subscribers (stats-subscribe, through the subscription
 * engine, sub-private.h), to InfluxDB and to GET /metrics. With /metrics, the
 * policies' usage and limits are asked from albatrossd on the loop (a
 * connection that reconnects, requests with a timeout): the loop never
 * blocks.
 */
#pragma once

#include <sys/types.h>

#include <albatross/loop.h>

#include "util-private.h"

/* Bounds and defaults. */
#define ALB_STATS_ENTRIES_MAX	      65536u /* registered unikernels */
#define ALB_STATS_SUBSCRIBERS_MAX     1024u  /* over it the oldest is dropped (ALB_SUB_FULL) */
#define ALB_STATS_INTERVAL_DEFAULT_US (UINT64_C(10) * 1000000)
/* albatrossd's answers to the policy queries are awaited this long. */
#define ALB_STATS_ALBATROSSD_TIMEOUT_US (UINT64_C(2) * 1000000)

struct alb_stats_service;

/* Samples every interval_us (0: the default); asks albatrossd at albatrossd_socket
 * (with /metrics only, from the first round on). 0, -errno with the reason in ctx. */
int alb_stats_service_new(alb_ctx *ctx, alb_loop *loop, uint64_t interval_us,
			  const char *albatrossd_socket, struct alb_stats_service **ret);
/* Closes every connection. Accepts NULL. Returns NULL. */
struct alb_stats_service *alb_stats_service_free(struct alb_stats_service *service);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct alb_stats_service *, alb_stats_service_free);

/* Listens on path (mode, group gid unless -1), or serves a listening fd (taken). */
int alb_stats_service_listen_unix(struct alb_stats_service *service, const char *path,
				  unsigned mode, gid_t gid);
int alb_stats_service_listen_fd(struct alb_stats_service *service, int fd);

/* Pushes to InfluxDB at url (stats-private.h, alb_influx_new()), keeping queue lines while
 * it is down, retrying at most every retry_max_us. -EINVAL for a bad url. */
int alb_stats_service_set_influx(struct alb_stats_service *service, const char *url, uint32_t queue,
				 uint64_t retry_max_us);
/* Serves GET /metrics at addr ("HOST:PORT", port 0 picks one). */
int alb_stats_service_set_prometheus(struct alb_stats_service *service, const char *addr);
/* The /metrics port, 0 without. */
uint16_t alb_stats_service_get_prometheus_port(const struct alb_stats_service *service);

/* Subscribers connected; unikernels registered. */
unsigned alb_stats_service_subscriber_count(const struct alb_stats_service *service);
uint32_t alb_stats_service_entry_count(const struct alb_stats_service *service);
