/* SPDX-License-Identifier: ISC */
/* Being written (issue 4). */
#ifndef ALBATROSS_LOG_H
#define ALBATROSS_LOG_H
#endif
