/* SPDX-License-Identifier: ISC */
/* Bounds of values that engines and the wire share (the wire's decoder enforces them). */
#pragma once

#include <stdint.h>

#define ALB_PID_MAX 4194304u /* PID_MAX_LIMIT */
/* Times are microseconds since the Unix epoch; later than this is invalid (year 2200). */
#define ALB_TIME_MAX UINT64_C(7258118400000000)
