/* SPDX-License-Identifier: ISC */
/* zlib streaming with a running SHA-256: declared in the extension tier (sys/util.h). */
#pragma once

#include <albatross/sys/util.h>
