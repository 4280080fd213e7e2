/* SPDX-License-Identifier: ISC */
/* Solo5 images (include/albatross/manifest.h): the check of their first bytes. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <albatross/manifest.h>

/* The bytes of an image that alb_manifest_check_header() looks at: the ELF64 header. */
#define ALB_MANIFEST_HEADER_SIZE 64u

/*
 * Whether the first len bytes of an image (all of it if shorter than
 * ALB_MANIFEST_HEADER_SIZE) can begin a Solo5 image: an ELF64 little-endian
 * header for x86_64 or aarch64; what alb_manifest_read() checks first, with the
 * same reasons. Lets an upload be refused on its first bytes. 0, -EBADMSG.
 */
int alb_manifest_check_header(alb_ctx *ctx, const uint8_t *head, size_t len);
