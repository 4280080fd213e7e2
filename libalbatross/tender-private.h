/* SPDX-License-Identifier: ISC */
/* What the supervisor tells about a tender binary it found (the tenders command). */
#pragma once

#include <stdint.h>

#define ALB_TENDER_FILE_MAX    255u /* NAME_MAX: a tender's file name */
#define ALB_TENDER_VERSION_MAX 256u /* a tender's version string */

/* A tender binary that albatrossd found (in --tender-dir or $PATH). */
struct alb_tender_info {
	char *name;	/* file name, e.g. "solo5-hvt.2": 1 .. ALB_TENDER_FILE_MAX bytes, no '/' */
	char *path;	/* absolute path */
	int target;	/* enum alb_tender */
	char *version;	/* as "TENDER --version" prints it, e.g. "v0.12.1" */
	uint32_t abi;	/* the Solo5 ABI version it reports */
	char *unusable; /* why it cannot run on this host (hvt without KVM), NULL if it can */
};

/* Frees what info points to (not info itself). */
void alb_tender_info_clear(struct alb_tender_info *info);
