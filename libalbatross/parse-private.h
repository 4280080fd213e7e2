/* SPDX-License-Identifier: ISC */
/* Number parsing: declared in the extension tier (sys/util.h), the programs use it too. */
#pragma once

#include <albatross/sys/util.h>
