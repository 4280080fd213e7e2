/* SPDX-License-Identifier: ISC */
/* Being written (issue 4). */
#ifndef ALBATROSS_STATS_H
#define ALBATROSS_STATS_H
#endif
