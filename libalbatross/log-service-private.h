/* SPDX-License-Identifier: ISC */
/*
 * The event log service: the protocol side of albatross-log (docs/log.md).
 * log-event from albatrossd appends to the event log (log-private.h) and
 * goes to the subscribers; log-subscribe streams the history asked for, then
 * with follow the new events, through the subscription engine
 * (sub-private.h).
 */
#pragma once

#include <sys/types.h>

#include <albatross/log.h>
#include <albatross/loop.h>
#include <albatross/sys/services.h>

#include "util-private.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct alb_log_service *, alb_log_service_free)

/* The log served; subscribers connected. */
alb_event_log *alb_log_service_get_log(struct alb_log_service *service);
unsigned alb_log_service_subscriber_count(const struct alb_log_service *service);
