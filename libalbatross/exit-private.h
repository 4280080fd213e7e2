/* SPDX-License-Identifier: ISC */
/* How a process ended: declared in the extension tier (sys/util.h). */
#pragma once

#include <albatross/sys/util.h>
