/* SPDX-License-Identifier: ISC */
/* Internals of the supervisor, shared by vmm.c (lifecycle) and vmm-commands.c (the socket). */
#pragma once

#include <hwloc.h>
#include <limits.h>

#include <albatross/manifest.h>
#include <albatross/tree.h>
#include <albatross/vmm.h>

#include "server-private.h"
#include "state-private.h"
#include "wire-private.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(alb_manifest *, alb_manifest_free);

/* The largest frame albatrossd accepts: a data chunk and its envelope, or a
 * command; uploads come in chunks, so nothing needs more. */
#define VMM_FRAME_MAX (UINT64_C(2) << 20)

/* Someone waiting for an operation on a unikernel to finish: a reply to send. */
struct waiter {
	struct alb_conn *conn; /* a reference */
	uint64_t seq;
	int command;
	struct waiter *next;
};

struct uk {
	alb_vmm *vmm;
	struct uk *next;
	alb_name *name;
	char *name_s;
	alb_unikernel_config *config; /* has the image digest */
	int state;		      /* enum alb_unikernel_state */
	char *message;		      /* why it failed */
	/* while it runs */
	int pid;
	alb_source *child;
	uint64_t started_us, started_mono;
	char **taps;
	uint32_t n_taps;
	char **block_files;
	uint32_t n_block_files;
	int out_fd; /* the read end of the tender's stdout and stderr */
	alb_source *out_source;
	bool out_open; /* a run of its console output began (the relay was told) */
	/* supervision */
	uint32_t restarts;
	struct alb_exit last_exit;
	alb_source *timer; /* the restart back-off, or SIGKILL after SIGTERM */
	uint64_t backoff_us;
	uint64_t *exits; /* CLOCK_MONOTONIC times of the recent restarting exits */
	uint32_t n_exits;
	/* what happens when the tender is gone */
	bool destroying;		    /* then release everything */
	bool stopping;			    /* shutdown: keep it in the state */
	alb_unikernel_config *restart_with; /* restart command: start again with this */
	struct waiter *waiters;
	struct alb_log_event *created_event;	      /* sent when the first start succeeds */
	char destroyed_by[64 + ALB_ON_BEHALF_OF_MAX]; /* the identity of the destroy command */
};

struct vmm_block {
	struct vmm_block *next;
	alb_name *name;
	uint32_t sector_size;
};

struct alb_vmm {
	alb_ctx *ctx;
	alb_loop *loop;
	char *dbdir, *rundir, *tender_dir;
	char state_path[PATH_MAX];
	char socket_path[PATH_MAX]; /* removed at the end if we made it */
	char images_dir[PATH_MAX];
	uint32_t tender_uid, tender_gid;
	bool has_tender_user;
	bool has_group;
	uint32_t group_gid;
	uint64_t stop_timeout_us, backoff_initial_us, backoff_max_us, crash_window_us;
	uint32_t crash_burst;
	alb_vmm_event_fn event_fn;
	void *event_userdata;
	hwloc_topology_t topology;
	struct alb_net *net;
	struct alb_tender_cache *tenders;
	alb_tree *tree;
	struct uk *uks;
	struct vmm_block *blocks;
	struct alb_state *unrestored;
	struct alb_server *server;
	struct alb_peer *console, *log, *stats;
	struct alb_console_relay *relay;		 /* console output to albatross-console */
	uint64_t console_backlog, console_backlog_total; /* its bounds, 0: defaults */
	/* who asked for what is being done now ("uid 0", "uid 998 for certificate ..."); ""
	 * for albatrossd itself */
	char identity[64 + ALB_ON_BEHALF_OF_MAX];
	bool started;
	void (*shutdown_done)(alb_vmm *vmm, void *userdata);
	void *shutdown_userdata;
};

struct uk *vmm_find(alb_vmm *vmm, const alb_name *name);
struct vmm_block *vmm_block_find(alb_vmm *vmm, const alb_name *name);
struct uk *vmm_block_user(alb_vmm *vmm, const alb_name *block);
int vmm_block_path(alb_vmm *vmm, const alb_name *block, char buf[PATH_MAX]);
int vmm_block_name(alb_vmm *vmm, const alb_name *uk, const alb_unikernel_config *c, uint32_t k,
		   alb_name **ret);
int vmm_block_add(alb_vmm *vmm, const alb_name *name, uint64_t size_mb, uint32_t sector_size);
/* Takes a block device out of the list and the tree (not its file). */
void vmm_block_forget(alb_vmm *vmm, const alb_name *name);
int vmm_refresh_root_policy(alb_vmm *vmm);
int vmm_save(alb_vmm *vmm);

/*
 * Checks a new unikernel (config has its digest and the image is in the
 * store): manifest, tender, bridges, block devices, policies. replacing: a
 * unikernel of that name is being replaced (force-create, restart).
 */
int vmm_check(alb_vmm *vmm, const alb_name *name, const alb_unikernel_config *config,
	      bool replacing);
/* Inserts a checked unikernel and starts it. 0 or -errno (nothing left behind). */
int vmm_add(alb_vmm *vmm, const alb_name *name, const alb_unikernel_config *config,
	    struct uk **ret);
/* Starts destroying u; waiters get their reply when it is gone. */
void vmm_destroy(alb_vmm *vmm, struct uk *u, struct waiter *w);
/* Stops u and starts it again with config (or its own if NULL). */
int vmm_restart(alb_vmm *vmm, struct uk *u, const alb_unikernel_config *config, struct waiter *w);
/* Removes the image file if no unikernel uses it any more. */
void vmm_image_unref(alb_vmm *vmm, const uint8_t digest[32]);

/* Log events: a new event of kind about name (may be NULL), time and identity
 * filled; then vmm_event_send() (which takes it). */
struct alb_log_event *vmm_event_new(alb_vmm *vmm, int kind, const alb_name *name);
void vmm_event_send(alb_vmm *vmm, struct alb_log_event *event);

/* vmm-commands.c */
extern const struct alb_server_ops vmm_server_ops;
void vmm_reply_waiter(alb_vmm *vmm, struct uk *u, struct waiter *w, int r, const char *text);
