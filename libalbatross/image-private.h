/* SPDX-License-Identifier: ISC */
/* The content-addressed image store <dbdir>/images/<sha256> and tender handling. */
#pragma once

#include <limits.h>
#include <sys/types.h>

#include <albatross/ctx.h>

#include "unikernel-private.h"
#include "zstream-private.h" /* alb_zlib_deflate() */

/* The largest image after decompression. */
#define ALB_IMAGE_UNCOMPRESSED_MAX (UINT64_C(1) << 32)

/* Formats a digest as 64 lowercase hex digits. */
void alb_digest_hex(const uint8_t digest[32], char hex[65]);

/*
 * Moves the uploaded file upload (zlib-compressed if compressed) into the
 * store dir as dir/<sha256 of the uncompressed image>, decompressing it
 * (bounded by max, at most ALB_IMAGE_UNCOMPRESSED_MAX) and computing the digest
 * on the way. An image already there is kept and upload removed. upload is
 * always gone afterwards. 0, -EBADMSG (bad compressed data), -EFBIG, -errno.
 * It runs where it is called: albatrossd's uploads go through an ingest
 * (ingest-private.h) off the loop and alb_image_commit().
 */
int alb_image_store(alb_ctx *ctx, const char *dir, const char *upload, bool compressed,
		    uint64_t max, uint8_t ret_digest[32]);

/*
 * Stores tmp, a complete image in dir (mode 0644, synced) whose SHA-256 is
 * digest, as dir/<sha256>; an identical image already there is kept. tmp is gone
 * afterwards. 0, -errno.
 */
int alb_image_commit(alb_ctx *ctx, const char *dir, const char *tmp, const uint8_t digest[32]);

/* dir/<hex> into buf. */
int alb_image_path(const char *dir, const uint8_t digest[32], char buf[PATH_MAX]);

/*
 * Copies the file in to out in 64 KiB steps, inflating it if compressed,
 * writing at most max bytes (-EFBIG beyond), hashing them with SHA-256 into
 * digest unless NULL, and giving the bytes written. Never holds more than its
 * buffers. 0, -EBADMSG (corrupt or cut compressed data), -EFBIG, -errno.
 */
int alb_copy_inflate(alb_ctx *ctx, int in, int out, bool compressed, uint64_t max,
		     uint8_t digest[32], uint64_t *ret_written);

/* A tender binary and what its --version says. */
struct alb_tender_info_local {
	char path[PATH_MAX];
	char name[64];	  /* file name, e.g. "solo5-hvt.2" */
	int tender;	  /* ALB_TENDER_HVT or ALB_TENDER_SPT */
	char version[64]; /* "v0.12.1" */
	uint32_t abi;
};

/*
 * Runs "path --version" (no shell, 5 s at most) and parses its two lines.
 * 0, -ENOEXEC (unexpected output), -ETIMEDOUT, -errno.
 */
int alb_tender_probe(alb_ctx *ctx, const char *path, struct alb_tender_info_local *ret);

/*
 * Remembers what tender binaries said, keyed by path and file identity
 * (device, inode, size, mtime): a changed binary is probed again.
 */
struct alb_tender_cache;
struct alb_tender_cache *alb_tender_cache_free(struct alb_tender_cache *cache);
/* alb_tender_probe() through the cache (*cache made on first use; NULL: no cache). */
int alb_tender_probe_cached(alb_ctx *ctx, struct alb_tender_cache **cache, const char *path,
			    struct alb_tender_info_local *ret);

/*
 * Finds the tender for an image: solo5-<hvt|spt>.<abi> then solo5-<hvt|spt>,
 * in tender_dir (may be NULL) then in $PATH; the first whose --version reports
 * abi. 0, -ENOENT (with every candidate tried in the reason).
 */
int alb_tender_find(alb_ctx *ctx, struct alb_tender_cache **cache, const char *tender_dir,
		    int tender, uint32_t abi, struct alb_tender_info_local *ret);

/* Every tender binary found in tender_dir and $PATH (probed). */
int alb_tender_list(alb_ctx *ctx, struct alb_tender_cache **cache, const char *tender_dir,
		    struct alb_tender_info_local **ret, uint32_t *ret_n);

/* The KVM device that solo5-hvt needs. */
#define ALB_KVM_DEVICE "/dev/kvm"

/*
 * Whether tenders of kind tender (ALB_TENDER_HVT, _SPT) can run on this host,
 * as the tender user uid:gid if has_user: hvt needs a KVM device that the
 * tender can open (with the API version solo5-hvt needs). 0, or -ENODEV /
 * -EACCES / -errno with the reason and what to do in ctx.
 */
int alb_tender_host_check(alb_ctx *ctx, int tender, bool has_user, uint32_t uid, uint32_t gid);

/* The device through which tenders attach taps. */
#define ALB_TUN_DEVICE "/dev/net/tun"

/*
 * Whether tenders, as the tender user uid:gid if has_user, can attach network
 * devices: the tender opens ALB_TUN_DEVICE read-write. 0, or -ENODEV / -EACCES
 * with the reason and what to do in ctx.
 */
int alb_tender_net_check(alb_ctx *ctx, bool has_user, uint32_t uid, uint32_t gid);

/* The MAC of a network device when none is configured: derived from the names. */
void alb_mac_derive(const char *unikernel, const char *device, uint8_t mac[6]);

/*
 * The tender's command line (docs/albatrossd.md):
 * TENDER --mem=M [--net:N=TAP --net-mac:N=MAC]... [--block:N=PATH
 * [--block-sector-size:N=S]]... -- IMAGE [ARGS...]
 * taps and blocks are in the order of config's nets and blocks; sectors, if not
 * NULL, the sector size of each block device (0: the tender's default), else the
 * configured ones. NULL-terminated; alb_strv_free(). 0, -ENOMEM.
 */
int alb_tender_argv(const alb_unikernel_config *config, const char *name, const char *tender,
		    const char *image, char *const *taps, char *const *blocks,
		    const uint32_t *sectors, char ***ret);
