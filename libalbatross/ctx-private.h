/* SPDX-License-Identifier: ISC */
#pragma once

#include <albatross/ctx.h>

#include <albatross/sys/util.h>

#include "util-private.h"
