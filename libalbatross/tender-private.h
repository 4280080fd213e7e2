/* SPDX-License-Identifier: ISC */
/* A tender binary found: declared in the extension tier (sys/vmm.h). */
#pragma once

#include <albatross/sys/vmm.h>
