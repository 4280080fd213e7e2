/* SPDX-License-Identifier: ISC */
/* The blocking client: declared in the extension tier (sys/client.h). */
#pragma once

#include <albatross/sys/client.h>

#include "util-private.h"
