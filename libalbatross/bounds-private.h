/* SPDX-License-Identifier: ISC */
/* Bounds of values that engines and the wire share: in the extension tier (sys/util.h). */
#pragma once

#include <albatross/sys/util.h>
