/* SPDX-License-Identifier: ISC */
/* The console service (sys/services.h), and what the tests see of it besides. */
#pragma once

#include <albatross/console.h>
#include <albatross/sys/services.h>

#include "util-private.h"

/* The buffers served. */
alb_console *alb_console_service_get_console(struct alb_console_service *service);
/* Subscribers connected. */
unsigned alb_console_service_subscriber_count(const struct alb_console_service *service);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct alb_console_service *, alb_console_service_free);
