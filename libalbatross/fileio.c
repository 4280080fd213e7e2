/* SPDX-License-Identifier: ISC */
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "ctx-private.h"
#include "fileio-private.h"

static int fsync_dir_of(alb_ctx *ctx, const char *path)
{
	char copy[PATH_MAX];
	if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy))
		return alb_error(ctx, ENAMETOOLONG, "path '%s' is too long", path);
	const char *dir = dirname(copy);
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		return alb_error(ctx, errno, "Failed to sync directory '%s': %s", dir,
				 strerror(errno));
	return 0;
}

/* Keeps the current path as bak: a hard link renamed over the old bak. */
static int keep_previous(alb_ctx *ctx, const char *path, const char *bak, const char *baktmp)
{
	(void)unlink(baktmp);
	if (link(path, baktmp) < 0)
		return errno == ENOENT ? 0
				       : alb_error(ctx, errno, "Failed to keep '%s' as '%s': %s",
						   path, bak, strerror(errno));
	if (rename(baktmp, bak) < 0) {
		int r = alb_error(ctx, errno, "Failed to keep '%s' as '%s': %s", path, bak,
				  strerror(errno));
		(void)unlink(baktmp);
		return r;
	}
	/* When bak already was a link to path (a kill came after this, the last time,
	 * before path was replaced), the rename did nothing and baktmp is still there. */
	(void)unlink(baktmp);
	return 0;
}

static int atomic_write(alb_ctx *ctx, const char *path, const void *buf, size_t len, unsigned mode,
			bool keep_backup, bool durable)
{
	char tmp[PATH_MAX], bak[PATH_MAX], baktmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp) ||
	    snprintf(bak, sizeof(bak), "%s.bak", path) >= (int)sizeof(bak) ||
	    snprintf(baktmp, sizeof(baktmp), "%s.bak.tmp", path) >= (int)sizeof(baktmp))
		return alb_error(ctx, ENAMETOOLONG, "path '%s' is too long", path);

	_cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return alb_error(ctx, errno, "Failed to create a temporary file for '%s': %s", path,
				 strerror(errno));
	int r = alb_write_full(fd, buf, len);
	if (r < 0) {
		alb_error(ctx, -r, "Failed to write '%s': %s", tmp, strerror(-r));
		goto fail;
	}
	if (fchmod(fd, mode) < 0 || (durable && fsync(fd) < 0)) {
		r = alb_error(ctx, errno, "Failed to sync '%s': %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(TAKE_FD(fd)) < 0) {
		r = alb_error(ctx, errno, "Failed to close '%s': %s", tmp, strerror(errno));
		goto fail;
	}

	if (keep_backup && (r = keep_previous(ctx, path, bak, baktmp)) < 0)
		goto fail;

	if (rename(tmp, path) < 0) {
		r = alb_error(ctx, errno, "Failed to rename '%s' to '%s': %s", tmp, path,
			      strerror(errno));
		goto fail;
	}
	return durable ? fsync_dir_of(ctx, path) : 0;

fail:
	(void)unlink(tmp);
	return r;
}

int alb_atomic_write(alb_ctx *ctx, const char *path, const void *buf, size_t len, unsigned mode,
		     bool keep_backup)
{
	return atomic_write(ctx, path, buf, len, mode, keep_backup, true);
}

int alb_atomic_replace(alb_ctx *ctx, const char *path, const void *buf, size_t len, unsigned mode)
{
	return atomic_write(ctx, path, buf, len, mode, false, false);
}

ALB_EXPORT int alb_read_file(alb_ctx *ctx, const char *path, size_t max, uint8_t **ret_buf,
			     size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return alb_error(ctx, errno, "Failed to open '%s': %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0)
		return alb_error(ctx, errno, "Failed to stat '%s': %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return alb_error(ctx, EINVAL, "'%s' is not a regular file", path);
	if ((uint64_t)st.st_size > max)
		return alb_error(ctx, EFBIG, "'%s' is larger than %zu bytes", path, max);
	size_t size = (size_t)st.st_size;
	_cleanup_free_ uint8_t *buf = malloc(size + 1);
	if (!buf)
		return -ENOMEM;
	ssize_t n = alb_read_full(fd, buf, size + 1);
	if (n < 0)
		return alb_error(ctx, (int)-n, "Failed to read '%s': %s", path, strerror((int)-n));
	if ((size_t)n > size)
		return alb_error(ctx, EBUSY, "'%s' grew while it was read", path);
	*ret_len = (size_t)n;
	*ret_buf = TAKE_PTR(buf);
	return 0;
}

int alb_copy_file(alb_ctx *ctx, const char *src, const char *dst, size_t max)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r = alb_read_file(ctx, src, max, &buf, &len);
	if (r < 0)
		return r;
	return alb_atomic_write(ctx, dst, buf, len, 0600, false);
}
