/* SPDX-License-Identifier: ISC */
/*
 * The supervisor's operations (vmm-private.h, include/albatross/vmm.h):
 * creating, destroying and restarting unikernels, policies, block devices,
 * what info and tenders show. Every check and every undo is here; albatrossd's
 * socket (vmm-service.c) and an embedder call the same functions.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include <albatross/manifest.h>

#include "ctx-private.h"
#include "fileio-private.h"
#include "image-private.h"
#include "ingest-private.h"
#include "log-private.h"
#include "manifest-private.h"
#include "net-private.h"
#include "share-private.h"
#include "vmm-internal.h"

/* A path selects everything below it, a name just itself. */
static bool selects(const alb_name *selector, const alb_name *name)
{
	return alb_name_is_path(selector) ? alb_name_is_prefix(selector, name)
					  : alb_name_equal(selector, name);
}

int vmm_lookup(alb_vmm *vmm, const alb_name *name, struct uk **ret)
{
	*ret = vmm_find(vmm, name);
	if (*ret)
		return 0;
	_cleanup_free_ char *s = vmm_name_str(name);
	return alb_error(vmm->ctx, ENOENT, "no unikernel '%s'", s);
}

const char *vmm_spool_dir(alb_vmm *vmm, bool block)
{
	return block ? vmm->block_dir : vmm->images_dir;
}

int vmm_socket_group(alb_vmm *vmm)
{
	return vmm->has_group ? (int)vmm->group_gid : -1;
}

/* ---- uploads ------------------------------------------------------------------------------ */

enum { UPLOAD_IMAGE, UPLOAD_BLOCK_NEW, UPLOAD_BLOCK_SET };

struct vmm_upload {
	alb_vmm *vmm;
	struct vmm_upload *next; /* in vmm->uploads, when counted */
	bool counted;
	uint32_t uid;			/* whose it is (vmm_peer) */
	char tenant[ALB_LABEL_MAX + 1]; /* "" for a name at the root */
	uint64_t active_us;		/* when its last chunk came: the idlest goes first */
	int kind;
	alb_ingest *ingest;
	char path[PATH_MAX]; /* the temporary file written: removed unless taken ("": none) */
	uint64_t max;	     /* the most bytes it may write */
	uint64_t memory_mb;  /* an image: the memory of its unikernel */
	bool compressed;
	alb_name *block; /* a block set: the device marked as being written */
	const struct vmm_upload_ops *ops;
	void *userdata;
};

/*
 * The most an image may be, uncompressed: the memory it will run in (a Solo5
 * tender loads the whole image into the unikernel's memory: a bigger one cannot
 * run), and the store's bound.
 */
static uint64_t image_bound(uint64_t memory_mb)
{
	return memory_mb < (ALB_IMAGE_UNCOMPRESSED_MAX >> 20) ? memory_mb << 20
							      : ALB_IMAGE_UNCOMPRESSED_MAX;
}

/* The refusal of an image over image_bound(), naming the bound. */
static int image_too_big(alb_vmm *vmm, uint64_t memory_mb, bool compressed)
{
	const char *how = compressed ? "inflates past" : "is larger than";
	if (memory_mb <= (ALB_IMAGE_UNCOMPRESSED_MAX >> 20))
		return alb_error(vmm->ctx, EFBIG,
				 "the image %s %" PRIu64 " MB, the unikernel's memory", how,
				 memory_mb);
	return alb_error(vmm->ctx, EFBIG,
			 "the image %s %" PRIu64 " MB, the largest image albatrossd stores", how,
			 ALB_IMAGE_UNCOMPRESSED_MAX >> 20);
}

/* A new temporary file dir/<prefix>XXXXXX (its path in path, "" on failure). */
static int temp_file(alb_vmm *vmm, const char *dir, const char *prefix, char path[PATH_MAX])
{
	if (snprintf(path, PATH_MAX, "%s/%sXXXXXX", dir, prefix) >= PATH_MAX) {
		path[0] = '\0';
		return -ENAMETOOLONG;
	}
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		int r =
		    alb_error(vmm->ctx, errno, "Failed to create '%s': %s", path, strerror(errno));
		path[0] = '\0';
		return r;
	}
	return fd;
}

/* The ingest is done: the reason of a failure in the supervisor's context, naming the
 * bound that the data went past. */
static void upload_done(alb_ingest *ingest, int r, void *userdata)
{
	struct vmm_upload *up = userdata;
	alb_vmm *vmm = up->vmm;
	if (r < 0 && alb_ingest_fault(ingest) == ALB_ZSTREAM_FAULT_TOO_BIG)
		r = up->kind == UPLOAD_IMAGE
			? image_too_big(vmm, up->memory_mb, up->compressed)
			: alb_error(vmm->ctx, EFBIG,
				    "the data is larger than the block device (%" PRIu64 " MB)",
				    up->max >> 20);
	else if (r < 0)
		r = alb_error(vmm->ctx, -r, "%s", alb_ingest_error(ingest));
	up->ops->done(up, r, up->userdata);
}

static void upload_drained(alb_ingest *ingest, void *userdata)
{
	struct vmm_upload *up = userdata;
	if (up->ops->drained)
		up->ops->drained(up, up->userdata);
}

/* The bound of uploads in progress per peer (vmm-private.h), read once. */
static uint32_t uploads_per_peer(alb_vmm *vmm)
{
	if (!vmm->uploads_per_peer) {
		uint64_t n = VMM_UPLOADS_PER_PEER;
		const char *v = getenv("ALBATROSS_MAX_UPLOADS_PER_PEER");
		if (v && *v && alb_parse_u64(v, 1, VMM_UPLOADS_PER_PEER_MAX, &n) < 0) {
			alb_log_warn(
			    vmm->ctx,
			    "ALBATROSS_MAX_UPLOADS_PER_PEER: '%s' is not a number from 1 to "
			    "%u; %u",
			    v, VMM_UPLOADS_PER_PEER_MAX, VMM_UPLOADS_PER_PEER);
			n = VMM_UPLOADS_PER_PEER;
		}
		vmm->uploads_per_peer = (uint32_t)n;
	}
	return vmm->uploads_per_peer;
}

/* "uid U" or "uid U for 'TENANT'", as the subscribers' bounds name a peer. */
static void peer_string(char *buf, size_t size, uint32_t uid, const char *tenant)
{
	if (*tenant)
		snprintf(buf, size, "uid %u for '%s'", (unsigned)uid, tenant);
	else
		snprintf(buf, size, "uid %u", (unsigned)uid);
}

/*
 * A new upload of up's peer (share-private.h): 0 when it may go on, the uid's idlest
 * upload of its biggest tenant failed first if need be; -EUSERS over the bound, the
 * reason naming it. Nothing was made yet: a refusal leaves nothing behind.
 */
static int upload_admit(alb_vmm *vmm, struct vmm_upload *up)
{
	uint32_t per_peer = uploads_per_peer(vmm), per_uid = 4 * per_peer;
	size_t n = 0;
	for (struct vmm_upload *u = vmm->uploads; u; u = u->next)
		n++;
	_cleanup_free_ struct alb_share_holder *h = calloc(n ? n : 1, sizeof(*h));
	_cleanup_free_ struct vmm_upload **by = calloc(n ? n : 1, sizeof(*by));
	if (!h || !by)
		return -ENOMEM;
	n = 0;
	for (struct vmm_upload *u = vmm->uploads; u; u = u->next, n++) {
		h[n] = (struct alb_share_holder){u->uid, u->tenant, u->active_us};
		by[n] = u;
	}
	size_t v = 0;
	uint32_t held = 0;
	char peer[96];
	peer_string(peer, sizeof(peer), up->uid, up->tenant);
	switch (alb_share_admit(h, n, up->uid, up->tenant, per_peer, per_uid, &v, &held)) {
	case ALB_SHARE_ADMIT:
		return 0;
	case ALB_SHARE_REFUSE_PEER:
		alb_log_info(vmm->ctx, "Refusing an upload of %s: %u in progress (the bound)", peer,
			     held);
		return alb_error(vmm->ctx, EUSERS,
				 "refused: %s has %u uploads in progress, the bound "
				 "(--max-uploads-per-peer); try again when one of them ended",
				 peer, held);
	case ALB_SHARE_REFUSE_UID:
		alb_log_info(vmm->ctx, "Refusing an upload of %s: %u in progress for the uid", peer,
			     held);
		return alb_error(
		    vmm->ctx, EUSERS,
		    "refused: uid %u has %u uploads in progress, the bound (4 times "
		    "--max-uploads-per-peer), and none of its tenants holds two more than "
		    "%s; try again when one of them ended",
		    (unsigned)up->uid, held, peer);
	default: { /* ALB_SHARE_EVICT */
		struct vmm_upload *victim = by[v];
		char vpeer[96];
		peer_string(vpeer, sizeof(vpeer), victim->uid, victim->tenant);
		alb_log_info(vmm->ctx,
			     "Cutting off an upload of %s for one of %s: uid %u has %u in "
			     "progress (the bound)",
			     vpeer, peer, (unsigned)up->uid, per_uid);
		int r = alb_error(vmm->ctx, EUSERS,
				  "closed to make room: uid %u has %u uploads in progress, the "
				  "bound (4 times --max-uploads-per-peer), %s %u of them, and this "
				  "one was its idlest",
				  (unsigned)victim->uid, per_uid, vpeer, held);
		/* Its end names its own command's identity: the newcomer's is kept. */
		char identity[sizeof(vmm->identity)];
		snprintf(identity, sizeof(identity), "%s", vmm->identity);
		victim->ops->done(victim, r, victim->userdata); /* frees it */
		snprintf(vmm->identity, sizeof(vmm->identity), "%s", identity);
		alb_ctx_clear_error(vmm->ctx);
		return 0;
	}
	}
}

static int upload_new(alb_vmm *vmm, const struct vmm_peer *peer, int kind, bool compressed,
		      uint64_t max, const struct vmm_upload_ops *ops, void *userdata,
		      struct vmm_upload **ret)
{
	_cleanup_(vmm_upload_freep) struct vmm_upload *up = calloc(1, sizeof(*up));
	if (!up)
		return -ENOMEM;
	*up = (struct vmm_upload){.vmm = vmm,
				  .kind = kind,
				  .compressed = compressed,
				  .max = max,
				  .ops = ops,
				  .userdata = userdata,
				  .active_us = alb_now_monotonic()};
	if (peer) {
		const char *tenant = peer->name ? alb_name_path_label(peer->name, 0) : NULL;
		up->uid = peer->uid;
		snprintf(up->tenant, sizeof(up->tenant), "%s", tenant ? tenant : "");
		int r = upload_admit(vmm, up);
		if (r < 0)
			return r;
		up->next = vmm->uploads;
		vmm->uploads = up;
		up->counted = true;
	}
	*ret = TAKE_PTR(up);
	return 0;
}

/* Starts the thread that writes into fd (taken), over a copy of seed_fd (taken) if >= 0. */
static int upload_start(struct vmm_upload *up, int fd, int seed_fd, const char *what, bool hash,
			size_t head_len, int (*head_check)(alb_ctx *, const uint8_t *, size_t))
{
	struct alb_ingest_options o = {
	    .fd = fd,
	    .seed = seed_fd >= 0,
	    .seed_fd = seed_fd,
	    .what = what,
	    .compressed = up->compressed,
	    .max = up->max,
	    .hash = hash,
	    .sync = true,
	    .head_len = head_len,
	    .head_check = head_check,
	    .on_done = upload_done,
	    .on_drained = upload_drained,
	    .userdata = up,
	};
	return alb_ingest_new(up->vmm->loop, &o, &up->ingest);
}

int vmm_upload_image(alb_vmm *vmm, const struct vmm_peer *peer, const alb_unikernel_config *config,
		     const struct vmm_upload_ops *ops, void *userdata, struct vmm_upload **ret)
{
	_cleanup_(vmm_upload_freep) struct vmm_upload *up = NULL;
	int r = upload_new(vmm, peer, UPLOAD_IMAGE, config->compressed,
			   image_bound(config->memory_mb), ops, userdata, &up);
	if (r < 0)
		return r;
	up->memory_mb = config->memory_mb;
	int fd = temp_file(vmm, vmm->images_dir, ".image-", up->path);
	if (fd < 0)
		return fd;
	if (fchmod(fd, 0644) < 0) {
		r = alb_error(vmm->ctx, errno, "Failed to create '%s': %s", up->path,
			      strerror(errno));
		close(fd);
		return r;
	}
	/* The first bytes are an ELF header, or the image is refused right there. */
	r = upload_start(up, fd, -1, "image", true, ALB_MANIFEST_HEADER_SIZE,
			 alb_manifest_check_header);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(up);
	return 0;
}

int vmm_upload_block_new(alb_vmm *vmm, const struct vmm_peer *peer, uint64_t size_mb,
			 bool compressed, const struct vmm_upload_ops *ops, void *userdata,
			 struct vmm_upload **ret)
{
	_cleanup_(vmm_upload_freep) struct vmm_upload *up = NULL;
	int r =
	    upload_new(vmm, peer, UPLOAD_BLOCK_NEW, compressed, size_mb << 20, ops, userdata, &up);
	if (r < 0)
		return r;
	int fd = temp_file(vmm, vmm->block_dir, ".upload-", up->path);
	if (fd < 0)
		return fd;
	if (ftruncate(fd, (off_t)(size_mb << 20)) < 0) {
		r = alb_error(vmm->ctx, errno, "Failed to size '%s': %s", up->path,
			      strerror(errno));
		close(fd);
		return r;
	}
	if ((r = upload_start(up, fd, -1, "data", false, 0, NULL)) < 0)
		return r;
	*ret = TAKE_PTR(up);
	return 0;
}

/*
 * block-set: the data goes into a copy of the device (block/.upload-*, a reflink where
 * the file system can), which replaces the device only when all of it is written
 * (vmm_block_set_uploaded()): an upload refused, cut short or killed leaves the device as
 * it was.
 */
int vmm_upload_block_set(alb_vmm *vmm, const struct vmm_peer *peer, const alb_name *name,
			 bool compressed, const struct vmm_upload_ops *ops, void *userdata,
			 struct vmm_upload **ret)
{
	char file[PATH_MAX];
	uint64_t size;
	int r;
	if ((r = vmm_block_unused_check(vmm, name)) < 0 ||
	    (r = vmm_block_path(vmm, name, file)) < 0 ||
	    (r = alb_tree_get_block(vmm->tree, name, &size)) < 0)
		return r;
	_cleanup_(vmm_upload_freep) struct vmm_upload *up = NULL;
	if ((r = upload_new(vmm, peer, UPLOAD_BLOCK_SET, compressed, size << 20, ops, userdata,
			    &up)) < 0)
		return r;
	if ((r = alb_name_dup(name, &up->block)) < 0)
		return -ENOMEM;
	int seed = open(file, O_RDONLY | O_CLOEXEC);
	if (seed < 0)
		return alb_error(vmm->ctx, errno, "Failed to open '%s': %s", file, strerror(errno));
	int fd = temp_file(vmm, vmm->block_dir, ".upload-", up->path);
	if (fd < 0) {
		close(seed);
		return fd;
	}
	vmm_block_find(vmm, name)->writing = true;
	if ((r = upload_start(up, fd, seed, "data", false, 0, NULL)) < 0)
		return r;
	*ret = TAKE_PTR(up);
	return 0;
}

int vmm_upload_push(struct vmm_upload *up, uint8_t *buf, size_t len)
{
	up->active_us = alb_now_monotonic();
	return alb_ingest_push(up->ingest, buf, len);
}

void vmm_upload_end(struct vmm_upload *up)
{
	/* All of it came: what is left is albatrossd's work, not the peer's idling. It is
	 * cut off to make room only when every other one of its tenant's has ended too. */
	up->active_us = UINT64_MAX;
	alb_ingest_end(up->ingest);
}

struct vmm_upload *vmm_upload_free(struct vmm_upload *up)
{
	if (!up)
		return NULL;
	alb_ingest_free(up->ingest); /* stops and waits for the thread */
	if (up->counted)
		for (struct vmm_upload **p = &up->vmm->uploads; *p; p = &(*p)->next)
			if (*p == up) {
				*p = up->next;
				break;
			}
	if (up->path[0])
		(void)unlink(up->path);
	if (up->block) {
		struct vmm_block *b = vmm_block_find(up->vmm, up->block);
		if (b)
			b->writing = false;
		alb_name_free(up->block);
	}
	free(up);
	return NULL;
}

/* ---- values ------------------------------------------------------------------------------- */

ALB_EXPORT void alb_unikernel_info_clear(struct alb_unikernel_info *info)
{
	alb_name_free(info->name);
	alb_unikernel_config_free(info->config);
	alb_strv_free(info->taps);
	alb_strv_free(info->block_files);
	free(info->failure);
}

ALB_EXPORT void alb_policy_info_clear(struct alb_policy_info *info)
{
	alb_name_free(info->path);
	alb_policy_free(info->policy);
}

ALB_EXPORT void alb_block_info_clear(struct alb_block_info *info)
{
	alb_name_free(info->name);
	alb_name_free(info->used_by);
}

ALB_EXPORT void alb_tender_info_clear(struct alb_tender_info *info)
{
	free(info->name);
	free(info->path);
	free(info->version);
	free(info->unusable);
}

/* ---- unikernels --------------------------------------------------------------------------- */

int vmm_create_check(alb_vmm *vmm, const alb_name *name, const alb_unikernel_config *c, bool force)
{
	int r;
	if (alb_name_is_path(name))
		return alb_error(vmm->ctx, EINVAL,
				 "a unikernel needs a name, not a path "
				 "(no ':' at the end)");
	if ((r = alb_unikernel_config_validate(vmm->ctx, c)) < 0)
		return r;
	if (c->image_size == 0)
		return alb_error(vmm->ctx, EINVAL, "the image is empty");
	if (!c->compressed && c->image_size > image_bound(c->memory_mb))
		return image_too_big(vmm, c->memory_mb, false);
	if (!force && vmm_find(vmm, name)) {
		_cleanup_free_ char *s = vmm_name_str(name);
		return alb_error(vmm->ctx, EEXIST,
				 "unikernel '%s' exists (use --force to replace it)", s);
	}
	/* A tender that cannot run here (hvt without KVM) is refused before the image. */
	if ((r = alb_tender_host_check(vmm->ctx, c->tender, vmm->has_tender_user, vmm->tender_uid,
				       vmm->tender_gid)) < 0 ||
	    (c->n_nets && (r = alb_tender_net_check(vmm->ctx, vmm->has_tender_user, vmm->tender_uid,
						    vmm->tender_gid)) < 0))
		return r;
	for (uint32_t k = 0; k < c->n_nets; k++)
		if ((r = alb_net_bridge_exists(vmm->net, c->nets[k].bridge)) <= 0)
			return r < 0 ? r
				     : alb_error_prefix(vmm->ctx, -ENOENT, "network device '%s'",
							c->nets[k].name);
	/* The policies first, before a byte of the image is taken. */
	if ((r = vmm_refresh_root_policy(vmm)) < 0)
		return r;
	return alb_tree_check_unikernel(vmm->tree, name, c);
}

/* Creates name from the image of digest in the store (taken: unreferenced on failure). */
static int create_stored_digest(alb_vmm *vmm, const alb_name *name,
				const alb_unikernel_config *config, const uint8_t digest[32],
				bool force, alb_vmm_done_fn done, void *userdata)
{
	_cleanup_(alb_unikernel_config_freep) alb_unikernel_config *c = NULL;
	int r = alb_unikernel_config_dup(config, &c);
	if (r < 0) {
		vmm_image_unref(vmm, digest);
		return r;
	}
	/* A digest in the command (a remote create's certificate binds its image by it)
	 * must be the image's. */
	if (c->has_digest && memcmp(c->digest, digest, 32) != 0) {
		char want[65], got[65];
		alb_digest_hex(c->digest, want);
		alb_digest_hex(digest, got);
		vmm_image_unref(vmm, digest);
		return alb_error(vmm->ctx, EBADMSG,
				 "the image's SHA-256 digest %s is not the %s of the command", got,
				 want);
	}
	alb_unikernel_config_set_digest(c, digest);
	/* The image is stored uncompressed: the config describes what is stored. */
	struct stat st;
	char path[PATH_MAX];
	alb_image_path(vmm->images_dir, digest, path);
	if (stat(path, &st) == 0)
		alb_unikernel_config_set_image(c, (uint64_t)st.st_size, 0);
	struct uk *u = force ? vmm_find(vmm, name) : NULL;
	if ((r = vmm_check(vmm, name, c, u != NULL)) < 0) {
		vmm_image_unref(vmm, digest);
		return r;
	}
	if (u) {
		struct waiter *w = vmm_waiter_new(done, userdata);
		if (done && !w) {
			vmm_image_unref(vmm, digest);
			return -ENOMEM;
		}
		if (w)
			w->replace = true;
		if ((r = vmm_restart(vmm, u, c, w)) < 0) {
			free(w);
			vmm_image_unref(vmm, digest);
			return r;
		}
		return 1;
	}
	if ((r = vmm_add(vmm, name, c, NULL)) < 0) {
		vmm_image_unref(vmm, digest);
		return r;
	}
	return 0;
}

int vmm_create_stored(alb_vmm *vmm, const alb_name *name, const alb_unikernel_config *config,
		      const char *spool, bool force, alb_vmm_done_fn done, void *userdata)
{
	uint8_t digest[32];
	int r = alb_image_store(vmm->ctx, vmm->images_dir, spool, config->compressed,
				image_bound(config->memory_mb), digest);
	if (r == -EFBIG)
		return image_too_big(vmm, config->memory_mb, config->compressed);
	if (r < 0)
		return r;
	return create_stored_digest(vmm, name, config, digest, force, done, userdata);
}

int vmm_create_uploaded(alb_vmm *vmm, const alb_name *name, const alb_unikernel_config *config,
			struct vmm_upload *up, bool force, alb_vmm_done_fn done, void *userdata)
{
	uint8_t digest[32];
	int r;
	if (up->kind != UPLOAD_IMAGE || (r = alb_ingest_digest(up->ingest, digest)) < 0)
		return -EINVAL;
	r = alb_image_commit(vmm->ctx, vmm->images_dir, up->path, digest);
	up->path[0] = '\0'; /* in the store, or gone */
	if (r < 0)
		return r;
	return create_stored_digest(vmm, name, config, digest, force, done, userdata);
}

int vmm_destroy_name(alb_vmm *vmm, const alb_name *name, alb_vmm_done_fn done, void *userdata)
{
	struct uk *u;
	int r = vmm_lookup(vmm, name, &u);
	if (r < 0)
		return r;
	struct waiter *w = vmm_waiter_new(done, userdata);
	if (done && !w)
		return -ENOMEM;
	vmm_destroy(vmm, u, w);
	return 0;
}

int vmm_restart_name(alb_vmm *vmm, const alb_name *name, bool has_argv, char *const *argv,
		     uint32_t argc, alb_vmm_done_fn done, void *userdata)
{
	struct uk *u;
	int r = vmm_lookup(vmm, name, &u);
	if (r < 0)
		return r;
	_cleanup_(alb_unikernel_config_freep) alb_unikernel_config *c = NULL;
	if (has_argv) {
		if ((r = alb_unikernel_config_dup(u->config, &c)) < 0)
			return r;
		alb_unikernel_config_clear_arguments(c);
		for (uint32_t i = 0; i < argc; i++)
			if ((r = alb_unikernel_config_add_argument(c, argv[i])) < 0)
				return r;
		/* Checked against the policies with the new arguments. */
		if ((r = vmm_check(vmm, name, c, true)) < 0)
			return r;
	}
	struct waiter *w = vmm_waiter_new(done, userdata);
	if (done && !w)
		return -ENOMEM;
	if ((r = vmm_restart(vmm, u, c, w)) < 0)
		free(w);
	return r;
}

/* The bound of a failure's reason in a unikernel info: the wire's for a string
 * (ALB_WIRE_STRING_MAX, docs/protocol.md), which this layer does not include. */
#define VMM_FAILURE_MAX 4096u

static int fill_info(struct alb_unikernel_info *i, const struct uk *u)
{
	int r;
	if ((r = alb_name_dup(u->name, &i->name)) < 0 ||
	    (r = alb_unikernel_config_dup(u->config, &i->config)) < 0)
		return r;
	i->state = u->state;
	i->pid = u->pid > 0 ? (uint32_t)u->pid : 0;
	i->started_us = u->pid > 0 ? u->started_us : 0;
	i->restarts = u->tally.restarts;
	i->last_exit = u->last_exit;
	if (u->state == ALB_STATE_FAILED && u->message) {
		/* Within the wire's bound for a string, cut at a character's start. */
		size_t len = strnlen(u->message, VMM_FAILURE_MAX);
		if (len == VMM_FAILURE_MAX)
			while (len > 0 && (u->message[len] & 0xc0) == 0x80)
				len--;
		if (!(i->failure = strndup(u->message, len)))
			return -ENOMEM;
	}
	if (u->pid > 0) {
		if (!(i->taps = alb_strv_dup(u->taps, u->n_taps)) ||
		    !(i->block_files = alb_strv_dup(u->block_files, u->n_block_files)))
			return -ENOMEM;
		i->n_taps = u->n_taps;
		i->n_block_files = u->n_block_files;
	}
	return 0;
}

static int uk_by_name(const void *a, const void *b)
{
	const struct uk *const *x = a, *const *y = b;
	return strcmp((*x)->name_s, (*y)->name_s);
}

/* The unikernels selected, at most max, in name order (an array to free). */
static int select_unikernels(alb_vmm *vmm, const alb_name *selector, uint32_t max, struct uk ***ret,
			     uint32_t *ret_n)
{
	uint32_t n = 0;
	for (struct uk *u = vmm->uks; u; u = u->next)
		n += !selector || selects(selector, u->name);
	struct uk *one;
	if (n == 0 && selector && !alb_name_is_path(selector))
		return vmm_lookup(vmm, selector, &one);
	struct uk **v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	n = 0;
	for (struct uk *u = vmm->uks; u; u = u->next)
		if (!selector || selects(selector, u->name))
			v[n++] = u;
	/* In name order, whatever the order they were made or restored in. */
	qsort(v, n, sizeof(*v), uk_by_name);
	*ret = v;
	*ret_n = n < max ? n : max;
	return 0;
}

int vmm_unikernel_infos(alb_vmm *vmm, const alb_name *selector, uint32_t max,
			struct alb_unikernel_info **ret, uint32_t *ret_n)
{
	_cleanup_free_ struct uk **v = NULL;
	uint32_t n;
	int r = select_unikernels(vmm, selector, max, &v, &n);
	if (r < 0)
		return r;
	struct alb_unikernel_info *infos = calloc(n ? n : 1, sizeof(*infos));
	if (!infos)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		if ((r = fill_info(&infos[i], v[i])) < 0) {
			for (uint32_t k = 0; k <= i; k++)
				alb_unikernel_info_clear(&infos[k]);
			free(infos);
			return r;
		}
	*ret = infos;
	*ret_n = n;
	return 0;
}

int vmm_image_of(alb_vmm *vmm, const alb_name *name, char path[PATH_MAX], int *ret_tender,
		 uint8_t digest[32])
{
	struct uk *u;
	int r = vmm_lookup(vmm, name, &u);
	if (r < 0 || (r = alb_image_path(vmm->images_dir, u->config->digest, path)) < 0)
		return r;
	*ret_tender = u->config->tender;
	memcpy(digest, u->config->digest, 32);
	return 0;
}

/* ---- policies ----------------------------------------------------------------------------- */

struct policies {
	alb_vmm *vmm;
	struct alb_policy_info *v;
	uint32_t n, max;
};

static int collect_policy(const alb_name *name, const alb_name *relative, int kind, void *ud)
{
	struct policies *p = ud;
	if (p->n >= p->max)
		return 1;
	struct alb_policy_info *v = realloc(p->v, (p->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	p->v = v;
	struct alb_policy_info *i = &v[p->n++];
	memset(i, 0, sizeof(*i));
	int r = alb_name_dup(name, &i->path);
	if (r < 0)
		return r;
	return alb_policy_dup(alb_tree_get_policy(p->vmm->tree, name), &i->policy);
}

int vmm_policy_infos(alb_vmm *vmm, const alb_name *path, uint32_t max, struct alb_policy_info **ret,
		     uint32_t *ret_n)
{
	if (!alb_name_is_path(path))
		return alb_error(vmm->ctx, EINVAL,
				 "policies belong to paths (end the name with ':')");
	int r = vmm_refresh_root_policy(vmm);
	if (r < 0)
		return r;
	struct policies p = {vmm, NULL, 0, max};
	r = alb_tree_foreach(vmm->tree, path, ALB_TREE_POLICY, collect_policy, &p);
	if (r < 0) {
		for (uint32_t i = 0; i < p.n; i++)
			alb_policy_info_clear(&p.v[i]);
		free(p.v);
		return r;
	}
	*ret = p.v;
	*ret_n = p.n;
	return 0;
}

int vmm_policy_add(alb_vmm *vmm, const alb_name *path, const alb_policy *policy)
{
	if (!alb_name_is_path(path))
		return alb_error(vmm->ctx, EINVAL,
				 "a policy belongs to a path (end the name with ':')");
	if (alb_name_is_root(path))
		return alb_error(vmm->ctx, EPERM,
				 "the root policy is the host's resources: it "
				 "cannot be set");
	int r = vmm_refresh_root_policy(vmm);
	if (r < 0)
		return r;
	_cleanup_(alb_policy_freep) alb_policy *previous = NULL;
	const alb_policy *old = alb_tree_get_policy(vmm->tree, path);
	/* The TLS endpoint installs a chain's policies before every command: the same
	 * policy again changes nothing and writes nothing. */
	if (old && alb_policy_equal(old, policy) == 1)
		return 1;
	if (old && (r = alb_policy_dup(old, &previous)) < 0)
		return r;
	if ((r = alb_tree_insert_policy(vmm->tree, path, policy)) < 0)
		return r;
	if ((r = vmm_persist_policy(vmm, path)) < 0) {
		/* Not persisted: not done. */
		if (previous)
			alb_tree_insert_policy(vmm->tree, path, previous);
		else
			alb_tree_remove_policy(vmm->tree, path);
		return alb_error(vmm->ctx, -r, "the state file could not be written");
	}
	vmm_event_send(vmm, vmm_event_new(vmm, ALB_EVENT_POLICY_ADDED, path));
	return 0;
}

const alb_policy *vmm_policy_of(alb_vmm *vmm, const alb_name *path)
{
	return alb_tree_get_policy(vmm->tree, path);
}

int vmm_policy_remove(alb_vmm *vmm, const alb_name *path)
{
	_cleanup_(alb_policy_freep) alb_policy *previous = NULL;
	const alb_policy *old = alb_tree_get_policy(vmm->tree, path);
	int r = old ? alb_policy_dup(old, &previous) : 0;
	if (r < 0 || (r = alb_tree_remove_policy(vmm->tree, path)) < 0)
		return r;
	if ((r = vmm_persist_policy(vmm, path)) < 0) {
		alb_tree_insert_policy(vmm->tree, path, previous);
		return alb_error(vmm->ctx, -r, "the state file could not be written");
	}
	vmm_event_send(vmm, vmm_event_new(vmm, ALB_EVENT_POLICY_REMOVED, path));
	return 0;
}

/* ---- block devices ------------------------------------------------------------------------ */

static int check_block_name(alb_vmm *vmm, const alb_name *name)
{
	if (alb_name_is_path(name))
		return alb_error(vmm->ctx, EINVAL, "a block device needs a name, not a path");
	return 0;
}

static int block_info(alb_vmm *vmm, struct vmm_block *b, struct alb_block_info *i)
{
	int r;
	memset(i, 0, sizeof(*i));
	if ((r = alb_name_dup(b->name, &i->name)) < 0 ||
	    (r = alb_tree_get_block(vmm->tree, b->name, &i->size_mb)) < 0)
		return r;
	i->sector_size = b->sector_size;
	struct uk *u = vmm_block_user(vmm, b->name);
	if (u && (r = alb_name_dup(u->name, &i->used_by)) < 0)
		return r;
	return 0;
}

struct block_named {
	struct vmm_block *b;
	char *name; /* its string, the sort key */
};

static int block_by_name(const void *a, const void *b)
{
	const struct block_named *x = a, *y = b;
	return strcmp(x->name, y->name);
}

int vmm_block_infos(alb_vmm *vmm, const alb_name *selector, uint32_t max,
		    struct alb_block_info **ret, uint32_t *ret_n)
{
	struct alb_block_info *infos = NULL;
	struct block_named *sel = NULL;
	uint32_t n = 0, n_sel = 0, cap = 0;
	int r = 0;
	/* Those selected, in name order (as unikernels are), whatever the order they were made
	 * or restored in; then the first max of them. */
	for (struct vmm_block *b = vmm->blocks; b; b = b->next) {
		if (!selects(selector, b->name))
			continue;
		if (n_sel == cap) {
			uint32_t c = cap ? 2 * cap : 16;
			struct block_named *v = realloc(sel, c * sizeof(*v));
			if (!v) {
				r = -ENOMEM;
				goto out;
			}
			sel = v;
			cap = c;
		}
		sel[n_sel].b = b;
		if (!(sel[n_sel].name = vmm_name_str(b->name))) {
			r = -ENOMEM;
			goto out;
		}
		n_sel++;
	}
	if (n_sel)
		qsort(sel, n_sel, sizeof(*sel), block_by_name);
	if (n_sel > 0 && !(infos = calloc(n_sel < max && n_sel ? n_sel
					  : max		       ? max
							       : 1,
					  sizeof(*infos)))) {
		r = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n_sel && n < max; i++)
		if ((r = block_info(vmm, sel[i].b, &infos[n++])) < 0)
			break;
	if (r >= 0 && n == 0 && !alb_name_is_path(selector)) {
		_cleanup_free_ char *s = vmm_name_str(selector);
		r = alb_error(vmm->ctx, ENOENT, "no block device '%s'", s);
	}
out:
	for (uint32_t i = 0; i < n_sel; i++)
		free(sel[i].name);
	free(sel);
	if (r < 0) {
		for (uint32_t i = 0; i < n; i++)
			alb_block_info_clear(&infos[i]);
		free(infos);
		return r;
	}
	*ret = infos;
	*ret_n = n;
	return 0;
}

/* Writes data (inflating it if compressed) into the block file open as out, bounded by its
 * size, streaming: a block device may be far larger than memory. */
static int block_fill(alb_vmm *vmm, const char *data, bool compressed, int out, uint64_t size_mb)
{
	_cleanup_close_ int in = open(data, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return alb_error(vmm->ctx, errno, "Failed to open '%s': %s", data, strerror(errno));
	uint64_t written;
	int r = alb_copy_inflate(vmm->ctx, in, out, compressed, size_mb << 20, NULL, &written);
	if (r == -EFBIG)
		return alb_error(vmm->ctx, EFBIG,
				 "the data is larger than the block device (%" PRIu64 " MB)",
				 size_mb);
	if (r < 0)
		return r;
	if (fsync(out) < 0)
		return alb_error(vmm->ctx, errno, "Failed to write the block device: %s",
				 strerror(errno));
	return 0;
}

/* Adds the block device name with tmp (its complete file, in the block directory) as its
 * file, persisted. tmp is gone afterwards; nothing of the device stays on failure. */
static int block_commit(alb_vmm *vmm, const alb_name *name, uint64_t mb, uint32_t sector_size,
			const char *tmp)
{
	char file[PATH_MAX];
	int r;
	if ((r = vmm_block_path(vmm, name, file)) < 0) {
		unlink(tmp);
		return r;
	}
	/* A removal of the same name not yet durable keeps its file until it is: made durable
	 * now (its file goes with it), before the device is added. */
	if (!vmm_block_find(vmm, name) && access(file, F_OK) == 0)
		(void)vmm_sync(vmm);
	if ((r = vmm_block_add(vmm, name, mb, sector_size)) < 0) {
		unlink(tmp);
		return r;
	}
	/* Never over a file that is there (the tree has no such device: a stray one). */
	r = renameat2(AT_FDCWD, tmp, AT_FDCWD, file, RENAME_NOREPLACE);
	if (r < 0 && errno == EINVAL) /* a file system that cannot: as it can */
		r = link(tmp, file) < 0 ? -1 : unlink(tmp);
	if (r < 0) {
		r = alb_error(vmm->ctx, errno, "Failed to create '%s': %s", file, strerror(errno));
		unlink(tmp);
		vmm_block_forget(vmm, name);
		return r;
	}
	if ((r = vmm_persist_block(vmm, name)) < 0) {
		r = alb_error(vmm->ctx, -r, "the state file could not be written");
		unlink(file);
		vmm_block_forget(vmm, name);
		return r;
	}
	vmm_event_send(vmm, vmm_event_new(vmm, ALB_EVENT_BLOCK_ADDED, name));
	return 0;
}

int vmm_block_unused_check(alb_vmm *vmm, const alb_name *name)
{
	int r = check_block_name(vmm, name);
	if (r < 0)
		return r;
	_cleanup_free_ char *n = vmm_name_str(name);
	struct vmm_block *b = vmm_block_find(vmm, name);
	if (!b)
		return alb_error(vmm->ctx, ENOENT, "no block device '%s'", n);
	struct uk *u = vmm_block_user(vmm, name);
	if (u)
		return alb_error(vmm->ctx, EBUSY, "block device '%s' is used by '%s'", n,
				 u->name_s);
	if (b->writing)
		return alb_error(vmm->ctx, EBUSY, "block device '%s' is being written", n);
	return 0;
}

int vmm_block_add_check(alb_vmm *vmm, const alb_name *name, uint64_t size_mb)
{
	int r = check_block_name(vmm, name);
	if (r < 0)
		return r;
	if (vmm_block_find(vmm, name)) {
		_cleanup_free_ char *n = vmm_name_str(name);
		return alb_error(vmm->ctx, EEXIST, "block device '%s' exists", n);
	}
	if ((r = vmm_refresh_root_policy(vmm)) < 0)
		return r;
	char file[PATH_MAX];
	if ((r = vmm_block_path(vmm, name, file)) < 0)
		return r;
	/* The policies now; inserted for good when the data is there. */
	if ((r = alb_tree_insert_block(vmm->tree, name, size_mb)) < 0)
		return r;
	alb_tree_remove_block(vmm->tree, name);
	return 0;
}

int vmm_block_create(alb_vmm *vmm, const alb_name *name, uint64_t mb, uint32_t sector_size,
		     const char *data, bool compressed)
{
	char tmp[PATH_MAX];
	_cleanup_close_ int fd = temp_file(vmm, vmm->block_dir, ".upload-", tmp);
	if (fd < 0)
		return fd;
	int r = 0;
	if (ftruncate(fd, (off_t)(mb << 20)) < 0)
		r = alb_error(vmm->ctx, errno, "Failed to size '%s': %s", tmp, strerror(errno));
	else if (data)
		r = block_fill(vmm, data, compressed, fd, mb);
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return block_commit(vmm, name, mb, sector_size, tmp);
}

int vmm_block_set_uploaded(alb_vmm *vmm, struct vmm_upload *up)
{
	char file[PATH_MAX];
	int r;
	if (up->kind != UPLOAD_BLOCK_SET || !up->path[0])
		return -EINVAL;
	if ((r = vmm_block_path(vmm, up->block, file)) < 0)
		return r;
	if (rename(up->path, file) < 0)
		return alb_error(vmm->ctx, errno, "Failed to replace '%s': %s", file,
				 strerror(errno));
	up->path[0] = '\0'; /* the device's file now */
	return 0;
}

int vmm_block_create_uploaded(alb_vmm *vmm, const alb_name *name, uint64_t size_mb,
			      uint32_t sector_size, struct vmm_upload *up)
{
	if (up->kind != UPLOAD_BLOCK_NEW || size_mb << 20 != up->max)
		return -EINVAL;
	int r = block_commit(vmm, name, size_mb, sector_size, up->path);
	up->path[0] = '\0'; /* the device's file, or gone */
	return r;
}

int vmm_block_write(alb_vmm *vmm, const alb_name *name, const char *data, bool compressed)
{
	char file[PATH_MAX];
	uint64_t size;
	int r;
	if ((r = vmm_block_path(vmm, name, file)) < 0 ||
	    (r = vmm_block_unused_check(vmm, name)) < 0 ||
	    (r = alb_tree_get_block(vmm->tree, name, &size)) < 0)
		return r;
	_cleanup_close_ int out = open(file, O_WRONLY | O_CLOEXEC);
	if (out < 0)
		return alb_error(vmm->ctx, errno, "Failed to open '%s': %s", file, strerror(errno));
	return block_fill(vmm, data, compressed, out, size);
}

/* The file of a removed block device (userdata, taken), once the removal is durable. */
static void block_file_remove(alb_vmm *vmm, const alb_name *name, int r, const char *text,
			      void *userdata)
{
	char *file = userdata;
	if (r < 0)
		alb_log_warn(vmm->ctx, "'%s' is kept: %s", file, text);
	else if (unlink(file) < 0 && errno != ENOENT)
		alb_log_err(vmm->ctx, "Failed to remove '%s': %s", file, strerror(errno));
	free(file);
}

int vmm_block_remove(alb_vmm *vmm, const alb_name *name)
{
	int r = vmm_block_unused_check(vmm, name);
	if (r < 0)
		return r;
	struct vmm_block *b = vmm_block_find(vmm, name);
	char file[PATH_MAX];
	if ((r = vmm_block_path(vmm, name, file)) < 0)
		return r;
	/* Out of the state first: a file without a state entry is harmless, the
	 * reverse is not. */
	uint64_t size = 0;
	uint32_t sector = b->sector_size;
	alb_tree_get_block(vmm->tree, name, &size);
	vmm_block_forget(vmm, name);
	if ((r = vmm_persist_block(vmm, name)) < 0) {
		vmm_block_add(vmm, name, size, sector);
		return alb_error(vmm->ctx, -r, "the state file could not be written");
	}
	/* The file goes once the removal is durable: a file without a state entry is
	 * harmless, the reverse is not. */
	char *f = strdup(file);
	if (f)
		vmm_when_durable(vmm, name, 0, NULL, block_file_remove, f);
	else if (vmm_sync(vmm) >= 0 && unlink(file) < 0 && errno != ENOENT)
		alb_log_err(vmm->ctx, "Failed to remove '%s': %s", file, strerror(errno));
	vmm_event_send(vmm, vmm_event_new(vmm, ALB_EVENT_BLOCK_REMOVED, name));
	return 0;
}

int vmm_block_file(alb_vmm *vmm, const alb_name *name, char path[PATH_MAX],
		   struct alb_block_info *ret_info)
{
	int r = check_block_name(vmm, name);
	if (r < 0)
		return r;
	struct vmm_block *b = vmm_block_find(vmm, name);
	if (!b || b->writing) {
		_cleanup_free_ char *n = vmm_name_str(name);
		return b ? alb_error(vmm->ctx, EBUSY, "block device '%s' is being written", n)
			 : alb_error(vmm->ctx, ENOENT, "no block device '%s'", n);
	}
	if ((r = vmm_block_path(vmm, name, path)) < 0)
		return r;
	if (ret_info && (r = block_info(vmm, b, ret_info)) < 0) {
		alb_block_info_clear(ret_info);
		return r;
	}
	return 0;
}

/* ---- tenders ------------------------------------------------------------------------------ */

int vmm_tender_infos(alb_vmm *vmm, uint32_t max, struct alb_tender_info **ret, uint32_t *ret_n)
{
	_cleanup_free_ struct alb_tender_info_local *v = NULL;
	uint32_t n = 0;
	int r = alb_tender_list(vmm->ctx, &vmm->tenders, vmm->tender_dir, &v, &n);
	if (r < 0)
		return r;
	/* In name order; the tenders of one name stay in the order they are looked for in. */
	for (uint32_t i = 1; i < n; i++)
		for (uint32_t k = i; k > 0 && strcmp(v[k - 1].name, v[k].name) > 0; k--) {
			struct alb_tender_info_local tmp = v[k];
			v[k] = v[k - 1];
			v[k - 1] = tmp;
		}
	if (n > max)
		n = max;
	struct alb_tender_info *t = calloc(n ? n : 1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		t[i].target = v[i].tender;
		t[i].abi = v[i].abi;
		if (!(t[i].name = strdup(v[i].name)) || !(t[i].path = strdup(v[i].path)) ||
		    !(t[i].version = strdup(v[i].version)) ||
		    (alb_tender_host_check(vmm->ctx, t[i].target, vmm->has_tender_user,
					   vmm->tender_uid, vmm->tender_gid) < 0 &&
		     !(t[i].unusable = strdup(alb_ctx_last_error(vmm->ctx))))) {
			for (uint32_t k = 0; k <= i; k++)
				alb_tender_info_clear(&t[k]);
			free(t);
			return -ENOMEM;
		}
	}
	*ret = t;
	*ret_n = n;
	return 0;
}

/* ---- the public API ----------------------------------------------------------------------- */

/* A done of the public API that happens at once: after the call returns, from the loop. */
struct vmm_later {
	alb_vmm *vmm;
	alb_name *name;
	alb_vmm_done_fn done;
	void *userdata;
	alb_source *source;
	struct vmm_later *next;
};

static void later_free(struct vmm_later *l)
{
	alb_source_free(l->source);
	alb_name_free(l->name);
	free(l);
}

/* Tells, takes l out of the list and frees it. */
static void later_done(struct vmm_later *l)
{
	for (struct vmm_later **p = &l->vmm->laters; *p; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			break;
		}
	/* Told once the create is durable (group commit, docs/state.md). */
	vmm_when_durable(l->vmm, l->name, 0, "created", l->done, l->userdata);
	later_free(l);
}

static int later_run(alb_source *source, void *userdata)
{
	later_done(userdata);
	return 0;
}

void vmm_laters_flush(alb_vmm *vmm)
{
	while (vmm->laters)
		later_done(vmm->laters);
}

/* Copies the embedder's image (as it is, compressed or not) into the spool: streaming. */
static int spool_image(alb_vmm *vmm, const char *image_path, char spool[PATH_MAX])
{
	alb_ctx *ctx = vmm->ctx;
	_cleanup_close_ int out = temp_file(vmm, vmm->images_dir, ".upload-", spool);
	if (out < 0)
		return out;
	_cleanup_close_ int in = open(image_path, O_RDONLY | O_CLOEXEC);
	int r = in < 0
		    ? alb_error(ctx, errno, "Failed to open '%s': %s", image_path, strerror(errno))
		    : alb_copy_inflate(ctx, in, out, false, ALB_IMAGE_SIZE_MAX, NULL, NULL);
	if (r < 0)
		unlink(spool);
	return r;
}

ALB_EXPORT int alb_vmm_create_async(alb_vmm *vmm, const alb_name *name,
				    const alb_unikernel_config *config, const char *image_path,
				    uint32_t flags, alb_vmm_done_fn done, void *userdata)
{
	if (!vmm || !name || !config || !image_path || (flags & ~ALB_VMM_FORCE))
		return -EINVAL;
	bool force = flags & ALB_VMM_FORCE;
	bool replacing = force && vmm_find(vmm, name);
	struct vmm_later *l = NULL;
	if (done && !replacing) {
		if (!(l = calloc(1, sizeof(*l))))
			return -ENOMEM;
		l->vmm = vmm;
		l->done = done;
		l->userdata = userdata;
		int r = alb_name_dup(name, &l->name);
		/* Armed only once the create is done. */
		if (r < 0 || (r = alb_loop_add_timer(vmm->loop, UINT64_C(1) << 40, later_run, l,
						     &l->source)) < 0) {
			alb_name_free(l->name);
			free(l);
			return r;
		}
	}
	char spool[PATH_MAX];
	int r = spool_image(vmm, image_path, spool);
	if (r >= 0) {
		r = vmm_create_stored(vmm, name, config, spool, force, replacing ? done : NULL,
				      userdata);
		if (r == 1)
			r = 0;
		(void)unlink(spool); /* unless the store took it */
	}
	if (l) {
		if (r < 0)
			later_free(l);
		else {
			l->next = vmm->laters;
			vmm->laters = l;
			(void)alb_source_set_timer(l->source, 1);
		}
	}
	return r;
}

ALB_EXPORT int alb_vmm_create(alb_vmm *vmm, const alb_name *name,
			      const alb_unikernel_config *config, const char *image_path)
{
	int r = alb_vmm_create_async(vmm, name, config, image_path, 0, NULL, NULL);
	return r < 0 ? r : vmm_sync(vmm) < 0 ? -EIO : r; /* durable on return */
}

ALB_EXPORT int alb_vmm_destroy_async(alb_vmm *vmm, const alb_name *name, alb_vmm_done_fn done,
				     void *userdata)
{
	if (!vmm || !name)
		return -EINVAL;
	return vmm_destroy_name(vmm, name, done, userdata);
}

ALB_EXPORT int alb_vmm_destroy(alb_vmm *vmm, const alb_name *name)
{
	return alb_vmm_destroy_async(vmm, name, NULL, NULL);
}

ALB_EXPORT int alb_vmm_restart(alb_vmm *vmm, const alb_name *name, const char *const *argv,
			       alb_vmm_done_fn done, void *userdata)
{
	if (!vmm || !name)
		return -EINVAL;
	uint32_t argc = 0;
	while (argv && argv[argc])
		if (++argc > ALB_ARGS_MAX)
			return alb_error(vmm->ctx, E2BIG, "more than %u arguments", ALB_ARGS_MAX);
	return vmm_restart_name(vmm, name, argv != NULL, (char *const *)argv, argc, done, userdata);
}

ALB_EXPORT int alb_vmm_add_policy(alb_vmm *vmm, const alb_name *path, const alb_policy *policy)
{
	if (!vmm || !path || !policy)
		return -EINVAL;
	int r = vmm_policy_add(vmm, path, policy);
	return r < 0 ? r : vmm_sync(vmm) < 0 ? -EIO : r; /* durable on return */
}

ALB_EXPORT int alb_vmm_remove_policy(alb_vmm *vmm, const alb_name *path)
{
	if (!vmm || !path)
		return -EINVAL;
	int r = vmm_policy_remove(vmm, path);
	return r < 0 ? r : vmm_sync(vmm) < 0 ? -EIO : r; /* durable on return */
}

ALB_EXPORT int alb_vmm_add_block(alb_vmm *vmm, const alb_name *name, uint64_t size_mb,
				 uint32_t sector_size, const char *data_path, uint32_t flags)
{
	if (!vmm || !name || (flags & ~ALB_VMM_COMPRESSED))
		return -EINVAL;
	if (size_mb == 0 || size_mb > ALB_POLICY_MB_MAX)
		return alb_error(vmm->ctx, EINVAL, "a block device of %" PRIu64 " MB", size_mb);
	if (sector_size &&
	    (sector_size < 512 || sector_size > 65536 || (sector_size & (sector_size - 1))))
		return alb_error(vmm->ctx, EINVAL,
				 "a sector size of %u bytes (512 to 65536, a power of two)",
				 sector_size);
	int r = vmm_block_add_check(vmm, name, size_mb);
	if (r >= 0)
		r = vmm_block_create(vmm, name, size_mb, sector_size, data_path,
				     flags & ALB_VMM_COMPRESSED);
	return r < 0 ? r : vmm_sync(vmm) < 0 ? -EIO : r; /* durable on return */
}

ALB_EXPORT int alb_vmm_set_block(alb_vmm *vmm, const alb_name *name, const char *data_path,
				 uint32_t flags)
{
	if (!vmm || !name || !data_path || (flags & ~ALB_VMM_COMPRESSED))
		return -EINVAL;
	return vmm_block_write(vmm, name, data_path, flags & ALB_VMM_COMPRESSED);
}

ALB_EXPORT int alb_vmm_remove_block(alb_vmm *vmm, const alb_name *name)
{
	if (!vmm || !name)
		return -EINVAL;
	int r = vmm_block_remove(vmm, name);
	return r < 0 ? r : vmm_sync(vmm) < 0 ? -EIO : r; /* durable on return */
}

ALB_EXPORT int alb_vmm_open_block(alb_vmm *vmm, const alb_name *name, int *ret_fd,
				  uint64_t *ret_size)
{
	if (!vmm || !name || !ret_fd || !ret_size)
		return -EINVAL;
	char path[PATH_MAX];
	int r = vmm_block_file(vmm, name, path, NULL);
	if (r < 0)
		return r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = alb_error(vmm->ctx, errno, "Failed to open '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	*ret_fd = fd;
	*ret_size = (uint64_t)st.st_size;
	return 0;
}

ALB_EXPORT int alb_vmm_foreach_unikernel(alb_vmm *vmm, const alb_name *selector,
					 int (*fn)(alb_vmm *vmm, const alb_vmm_unikernel *unikernel,
						   void *userdata),
					 void *userdata)
{
	if (!vmm || !fn)
		return -EINVAL;
	_cleanup_free_ struct uk **v = NULL;
	uint32_t n;
	int r = select_unikernels(vmm, selector, UINT32_MAX, &v, &n);
	for (uint32_t i = 0; r >= 0 && i < n; i++)
		if ((r = fn(vmm, (const alb_vmm_unikernel *)v[i], userdata)) != 0)
			return r;
	return r < 0 ? r : 0;
}

#define UK(x) ((const struct uk *)(const void *)(x))

ALB_EXPORT const alb_name *alb_vmm_unikernel_get_name(const alb_vmm_unikernel *unikernel)
{
	return unikernel ? UK(unikernel)->name : NULL;
}

ALB_EXPORT const alb_unikernel_config *
alb_vmm_unikernel_get_config(const alb_vmm_unikernel *unikernel)
{
	return unikernel ? UK(unikernel)->config : NULL;
}

ALB_EXPORT int alb_vmm_unikernel_get_state(const alb_vmm_unikernel *unikernel)
{
	return unikernel ? UK(unikernel)->state : -EINVAL;
}

ALB_EXPORT uint32_t alb_vmm_unikernel_get_pid(const alb_vmm_unikernel *unikernel)
{
	return unikernel && UK(unikernel)->pid > 0 ? (uint32_t)UK(unikernel)->pid : 0;
}

ALB_EXPORT uint32_t alb_vmm_unikernel_get_restarts(const alb_vmm_unikernel *unikernel)
{
	return unikernel ? UK(unikernel)->tally.restarts : 0;
}

ALB_EXPORT const char *alb_vmm_unikernel_get_failure(const alb_vmm_unikernel *unikernel)
{
	return unikernel && UK(unikernel)->state == ALB_STATE_FAILED ? UK(unikernel)->message
								     : NULL;
}
