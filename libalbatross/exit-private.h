/* SPDX-License-Identifier: ISC */
/* How a process ended: a value shared by the supervisor, the event log and the wire. */
#pragma once

#include <stdint.h>

#define ALB_EXIT_SIGNAL_MAX 64u

enum alb_exit_kind { ALB_EXIT_CODE = 1, ALB_EXIT_SIGNAL = 2 };

struct alb_exit {
	int kind;	/* enum alb_exit_kind; 0: none */
	uint32_t value; /* exit code 0..255, or signal 1..ALB_EXIT_SIGNAL_MAX */
};
