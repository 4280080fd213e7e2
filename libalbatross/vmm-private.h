/* SPDX-License-Identifier: ISC */
/*
 * The supervisor (engine layer) as the layers above it see it: the values it
 * reports (a unikernel's info and state, policies, block devices, tenders) and
 * every operation albatrossd's service performs, each long one with a
 * completion. No sockets here: the service (vmm-service.c) decodes a command,
 * calls one of these and replies in the completion; the link to the helper
 * daemons (vmm-link.c) plugs in through struct vmm_hooks. The public face is
 * include/albatross/vmm.h; its internals are in vmm-internal.h.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <albatross/sys/vmm.h>
#include <albatross/vmm.h>

#include "name-private.h"
#include "policy-private.h"
#include "unikernel-private.h"

struct alb_log_event;
struct alb_console_relay;
struct alb_console_relay_segment;

/*
 * What the supervisor hands to the layer above, besides the public event
 * callback: all may be NULL. log_event takes the event. running and stopped
 * say when a tender runs (with its pid and taps) and when it is gone. flush:
 * albatrossd stops, what is queued for the helpers should go out now.
 */
struct vmm_hooks {
	void (*log_event)(alb_vmm *vmm, struct alb_log_event *event, void *userdata);
	void (*running)(alb_vmm *vmm, const alb_name *name, uint32_t pid, char *const *taps,
			uint32_t n_taps, void *userdata);
	void (*stopped)(alb_vmm *vmm, const alb_name *name, void *userdata);
	void (*flush)(alb_vmm *vmm, void *userdata);
};
void vmm_set_hooks(alb_vmm *vmm, const struct vmm_hooks *hooks, void *userdata);

/*
 * What the services (svc-private.h) watch: every unikernel's console output as it
 * comes from its tender, and the events of the public callback (enum alb_vmm_event).
 * Either may be NULL.
 */
struct vmm_watch {
	void (*console)(alb_vmm *vmm, const alb_name *name, const uint8_t *data, size_t len,
			void *userdata);
	void (*event)(alb_vmm *vmm, const alb_name *name, int event, int signal, int code,
		      void *userdata);
};
void vmm_set_watch(alb_vmm *vmm, const struct vmm_watch *watch, void *userdata);
/* The dbdir (where the services keep their file). */
const char *vmm_dbdir(alb_vmm *vmm);

/*
 * The console relay that every tender's output goes into (console-relay-private.h),
 * made on the first call with send and userdata; later calls return the same one.
 * Unikernels already running begin their output in it.
 */
int vmm_console_relay(alb_vmm *vmm,
		      int (*send)(void *userdata, const struct alb_console_relay_segment *seg,
				  uint64_t *ret_id),
		      void *userdata, struct alb_console_relay **ret);

alb_ctx *vmm_ctx(alb_vmm *vmm);
alb_loop *vmm_loop(alb_vmm *vmm);
const char *vmm_rundir(alb_vmm *vmm);
bool vmm_stopping(alb_vmm *vmm);
/* The service (albatrossd's socket) and the link to the helper daemons that the
 * supervisor keeps for the layers above and frees (with free_fn) before itself. */
void *vmm_service(alb_vmm *vmm);
void vmm_set_service(alb_vmm *vmm, void *service, void (*free_fn)(void *service));
/* What sends the replies queued on the service's connections when albatrossd stops. */
void vmm_set_service_flush(alb_vmm *vmm, void (*flush_fn)(void *service));
void *vmm_link(alb_vmm *vmm);
void vmm_set_link(alb_vmm *vmm, void *link, void (*free_fn)(void *link));
/* The group that albatrossd's socket belongs to (--group), -1 if none. */
int vmm_socket_group(alb_vmm *vmm);

/*
 * Who asks for what follows ("uid 0", "uid 998 for CN=..."), for the event log;
 * NULL or "" for albatrossd itself. Kept by long operations until they end.
 */
void vmm_set_identity(alb_vmm *vmm, const char *identity);

/* Where a temporary file for an image (block false) or a block device (block true) is
 * made: the same file system as where it ends up. */
const char *vmm_spool_dir(alb_vmm *vmm, bool block);

/* ---- uploads ---- */

/*
 * An upload under way. A thread of its own (ingest-private.h) writes the data
 * into its file as the chunks arrive, off the loop: inflated if compressed,
 * within its bound (checked as it goes), an image's first bytes checked (an
 * ELF header) and its SHA-256 computed. done is called on the loop when all of
 * it is written (0, after vmm_upload_end()) or at its first failure (-errno,
 * the reason in the context, as soon as it happens: maybe before the end);
 * drained when vmm_upload_push() said to wait and the thread caught up.
 * Freeing an upload that was not taken (vmm_create_uploaded(),
 * vmm_block_create_uploaded()) stops its thread and leaves nothing behind: no
 * file, no mark on a block device.
 */
struct vmm_upload;
struct vmm_upload_ops {
	void (*done)(struct vmm_upload *up, int r, void *userdata);
	void (*drained)(struct vmm_upload *up, void *userdata);
};
/*
 * Whose an upload is: the connection's uid and the name its command names, whose first
 * label is the tenant. Each peer (uid, tenant) has at most the bound of uploads in
 * progress (ALBATROSS_MAX_UPLOADS_PER_PEER, default VMM_UPLOADS_PER_PEER), a uid four
 * times that in all (docs/albatrossd.md, "Uploads", share-private.h): over the bound, the
 * upload is refused (-EUSERS, the reason naming the bound) before anything is made, or,
 * the uid's being full, the idlest upload of its tenant that holds the most fails with
 * -EUSERS (its done, which must free it) to make room when that makes the shares more
 * even. NULL: not counted.
 */
#define VMM_UPLOADS_PER_PEER	 16u
#define VMM_UPLOADS_PER_PEER_MAX 256u
struct vmm_peer {
	uint32_t uid;
	const alb_name *name;
};
/*
 * The image of a create with config (vmm_create_check() passed), into a
 * temporary file of the image store; it may inflate to the unikernel's memory
 * at most (and to ALB_IMAGE_UNCOMPRESSED_MAX).
 */
int vmm_upload_image(alb_vmm *vmm, const struct vmm_peer *peer, const alb_unikernel_config *config,
		     const struct vmm_upload_ops *ops, void *userdata, struct vmm_upload **ret);
/* The data of a new block device of size_mb (vmm_block_add_check() passed), into a
 * temporary file of that size; at most size_mb. */
int vmm_upload_block_new(alb_vmm *vmm, const struct vmm_peer *peer, uint64_t size_mb,
			 bool compressed, const struct vmm_upload_ops *ops, void *userdata,
			 struct vmm_upload **ret);
/* The data of the existing, unused block device name, written into it; the device is
 * marked as being written until the upload is freed (no create, set, dump or removal
 * meanwhile). At most its size. */
int vmm_upload_block_set(alb_vmm *vmm, const struct vmm_peer *peer, const alb_name *name,
			 bool compressed, const struct vmm_upload_ops *ops, void *userdata,
			 struct vmm_upload **ret);
/* Queues a chunk (buf taken, malloc'd). 0; 1: queued, push more only after drained
 * (or done); -errno. */
int vmm_upload_push(struct vmm_upload *up, uint8_t *buf, size_t len);
/* The data is complete. */
void vmm_upload_end(struct vmm_upload *up);
struct vmm_upload *vmm_upload_free(struct vmm_upload *up);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct vmm_upload *, vmm_upload_free);

/* ---- unikernels ---- */

/*
 * Whether name may be created with config (force: replacing one of that name)
 * before its image arrives: the name, the config, the tender on this host, the
 * bridges and the policies. 0 or -errno with the reason.
 */
int vmm_create_check(alb_vmm *vmm, const alb_name *name, const alb_unikernel_config *config,
		     bool force);
/*
 * Creates name from the image in spool (in vmm_spool_dir(vmm, false); taken or
 * left for the caller to unlink): stored by its digest (which must match the
 * config's if it has one), checked, started. 0: a new unikernel runs (done is not
 * called); 1: one is being replaced (force), done is called when the old one
 * stopped and the new one started. -errno: nothing happened.
 */
int vmm_create_stored(alb_vmm *vmm, const alb_name *name, const alb_unikernel_config *config,
		      const char *spool, bool force, alb_vmm_done_fn done, void *userdata);
/*
 * As vmm_create_stored(), from an image upload that is done with 0: its file is
 * taken into the store (whatever the outcome; up is still to be freed).
 */
int vmm_create_uploaded(alb_vmm *vmm, const alb_name *name, const alb_unikernel_config *config,
			struct vmm_upload *up, bool force, alb_vmm_done_fn done, void *userdata);
/* Destroys name; done when it is gone. -ENOENT: no such unikernel (done not called). */
int vmm_destroy_name(alb_vmm *vmm, const alb_name *name, alb_vmm_done_fn done, void *userdata);
/* Restarts name, with new arguments if has_argv (argc of argv); done when it runs again. */
int vmm_restart_name(alb_vmm *vmm, const alb_name *name, bool has_argv, char *const *argv,
		     uint32_t argc, alb_vmm_done_fn done, void *userdata);
/*
 * The unikernels that selector selects (a path: everything below it; a name: that
 * one, -ENOENT if it does not exist), at most max, in name order.
 */
int vmm_unikernel_infos(alb_vmm *vmm, const alb_name *selector, uint32_t max,
			struct alb_unikernel_info **ret, uint32_t *ret_n);
/* The stored image of name: its path, tender and digest. */
int vmm_image_of(alb_vmm *vmm, const alb_name *name, char path[PATH_MAX], int *ret_tender,
		 uint8_t digest[32]);

/* ---- policies ---- */

int vmm_policy_infos(alb_vmm *vmm, const alb_name *path, uint32_t max, struct alb_policy_info **ret,
		     uint32_t *ret_n);
/* Adds or replaces the policy of path, persisted. 1: the same policy was there already. */
int vmm_policy_add(alb_vmm *vmm, const alb_name *path, const alb_policy *policy);
int vmm_policy_remove(alb_vmm *vmm, const alb_name *path);
/* The policy of exactly path (borrowed), NULL if it has none. */
const alb_policy *vmm_policy_of(alb_vmm *vmm, const alb_name *path);

/* ---- block devices ---- */

int vmm_block_infos(alb_vmm *vmm, const alb_name *selector, uint32_t max,
		    struct alb_block_info **ret, uint32_t *ret_n);
/* Whether a block device name of size_mb may be added (before its data arrives). */
int vmm_block_add_check(alb_vmm *vmm, const alb_name *name, uint64_t size_mb);
/*
 * Adds a block device of size_mb (sector_size 0: the tender's default), filled
 * from data (zlib-compressed if compressed; NULL: zeros), persisted. Nothing of
 * it stays on failure.
 */
int vmm_block_create(alb_vmm *vmm, const alb_name *name, uint64_t size_mb, uint32_t sector_size,
		     const char *data, bool compressed);
/*
 * As vmm_block_create(), with the data of an upload of vmm_upload_block_new() that
 * is done with 0: its file becomes the device's (whatever the outcome; up is still
 * to be freed).
 */
int vmm_block_create_uploaded(alb_vmm *vmm, const alb_name *name, uint64_t size_mb,
			      uint32_t sector_size, struct vmm_upload *up);
/* A block-set's upload, all written: its copy replaces the device's file. 0 or -errno. */
int vmm_block_set_uploaded(alb_vmm *vmm, struct vmm_upload *up);
/* Whether the block device name exists, no unikernel uses it and no upload writes it. */
int vmm_block_unused_check(alb_vmm *vmm, const alb_name *name);
/* Overwrites the unused block device name with data (zlib-compressed if compressed). */
int vmm_block_write(alb_vmm *vmm, const alb_name *name, const char *data, bool compressed);
int vmm_block_remove(alb_vmm *vmm, const alb_name *name);
/* The file of the block device name and its info (for a dump). */
int vmm_block_file(alb_vmm *vmm, const alb_name *name, char path[PATH_MAX],
		   struct alb_block_info *ret_info);

/* ---- tenders ---- */

/* Every tender binary found, with why it cannot run here where it cannot, at most max. */
int vmm_tender_infos(alb_vmm *vmm, uint32_t max, struct alb_tender_info **ret, uint32_t *ret_n);

/* ---- durability of the state (group commit, docs/state.md) ---- */

/*
 * Calls done(vmm, name, r, text, userdata) once every change recorded so far is durable
 * (at once if it is). If their commit fails, done gets -EIO and the reason instead.
 */
void vmm_when_durable(alb_vmm *vmm, const alb_name *name, int r, const char *text,
		      alb_vmm_done_fn done, void *userdata);
/* Waits until every change recorded is durable. 0 or -errno. */
int vmm_sync(alb_vmm *vmm);
