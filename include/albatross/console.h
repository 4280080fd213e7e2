/* SPDX-License-Identifier: ISC */
/* Being written (issue 4). */
#ifndef ALBATROSS_CONSOLE_H
#define ALBATROSS_CONSOLE_H
#endif
