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
#include <albatross/sys/services.h>

#include "util-private.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct alb_stats_service *, alb_stats_service_free)

/* Subscribers connected; unikernels registered. */
unsigned alb_stats_service_subscriber_count(const struct alb_stats_service *service);
uint32_t alb_stats_service_entry_count(const struct alb_stats_service *service);
