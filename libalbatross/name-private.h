/* SPDX-License-Identifier: ISC */
#pragma once

#include <albatross/name.h>

#include "util-private.h"

struct alb_name {
	uint32_t depth; /* path labels */
	char path[ALB_NAME_LABELS_MAX][ALB_LABEL_MAX + 1];
	bool has_label; /* a final label (a unikernel or block name) */
	char label[ALB_LABEL_MAX + 1];
};
