/* SPDX-License-Identifier: ISC */
#pragma once

#include <albatross/ctx.h>

#include "util-private.h"

/*
 * Replaces the file at path with buf, atomically: the bytes go to a new
 * temporary file in the same directory, which is fsync'ed and renamed over
 * path; the directory is fsync'ed. With keep_backup, the previous content of
 * path, if any, is kept as "path.bak" (replaced atomically too). At every instant path holds
 * either the old or the new content, complete.
 * Returns 0 or -errno with the reason in ctx; on failure nothing is changed
 * and no temporary file is left behind.
 */
int alb_atomic_write(alb_ctx *ctx, const char *path, const void *buf, size_t len, unsigned mode,
		     bool keep_backup);

/*
 * As alb_atomic_write() without a backup and without fsync: atomic against a
 * crash of the process (a reader sees the old content or the new, whole), not
 * against one of the host. For runtime files, which a reboot makes moot.
 */
int alb_atomic_replace(alb_ctx *ctx, const char *path, const void *buf, size_t len, unsigned mode);

/* Copies the file src to dst atomically (as alb_atomic_write, no backup). */
int alb_copy_file(alb_ctx *ctx, const char *src, const char *dst, size_t max);
