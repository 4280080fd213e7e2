/* SPDX-License-Identifier: ISC */
/* How a process ended: declared in the extension tier (sys/vmm.h). */
#pragma once

#include <albatross/sys/vmm.h>
