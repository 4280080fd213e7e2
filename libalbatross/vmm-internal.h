/* SPDX-License-Identifier: ISC */
/* Internals of the supervisor engine, shared by vmm.c (lifecycle) and vmm-ops.c (the operations on
 * unikernels, policies and block devices). Nothing above the engine includes this. */
#pragma once

#include <hwloc.h>
#include <limits.h>

#include <albatross/manifest.h>
#include <albatross/tree.h>
#include <albatross/vmm.h>

#include "monitor-private.h"
#include "state-private.h"
#include "supervise-private.h"
#include "vmm-private.h"

/* Bytes of a message in a log event. */
#define VMM_MESSAGE_MAX 4096u

/* Bytes of an identity: "uid N for " and a command's on-behalf-of. */
#define VMM_IDENTITY_MAX (64 + 256)

/* Someone waiting for an operation on a unikernel to finish. */
struct waiter {
	alb_vmm_done_fn done;
	void *userdata;
	bool replace; /* a forced create: told "replaced" where a restart is told "restarted" */
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
	int pid; /* of the tender */
	uint64_t started_us, started_mono;
	char **taps;
	uint32_t n_taps;
	char **block_files;
	uint32_t n_block_files;
	bool out_open; /* a run of its console output began (the relay was told) */
	/* its monitor (daemon/albatross-monitor.c), which watches the tender and
	 * outlives albatrossd: <rundir>/u/<key>/ holds its socket <run>.sock and
	 * the file "run" (vmm.c) that an albatrossd started later adopts it by */
	char key[17];
	uint64_t run; /* runs begun */
	int mon_fd;   /* connected to the monitor of the current run, or -1 */
	alb_source *mon_source;
	struct alb_monitor_reader mon_reader;
	uint64_t mon_data, mon_acked; /* console bytes taken and acknowledged, this connection */
	uint64_t mon_skip;	      /* bytes the monitor sends again that were passed on */
	alb_source *ack_timer;	      /* an acknowledgement to try again */
	uint32_t mon_reconnects;      /* connections made again since the last frame */
	bool warned_lost;	      /* said that its monitor lost output (this run) */
	bool run_ended;		      /* its run file says wait or failed (its tender exited) */
	/* supervision */
	struct alb_tally tally; /* restarts, back-off, recent exits (supervise-private.h) */
	struct alb_exit last_exit;
	alb_source *timer; /* the restart back-off, or SIGKILL after SIGTERM */
	/* what happens when the tender is gone */
	bool destroying;		    /* then release everything */
	bool stopping;			    /* shutdown: keep it in the state */
	alb_unikernel_config *restart_with; /* restart command: start again with this */
	struct waiter *waiters;
	struct alb_log_event *created_event; /* sent when the first start succeeds */
	char destroyed_by[VMM_IDENTITY_MAX]; /* the identity of the destroy command */
	char restarted_by[VMM_IDENTITY_MAX]; /* the identity of the restart (or force-create) */
};

struct vmm_block {
	struct vmm_block *next;
	alb_name *name;
	uint32_t sector_size;
	bool writing; /* an upload writes its data (vmm_upload_block_set()): not to be used */
};

struct alb_vmm {
	alb_ctx *ctx;
	alb_loop *loop;
	char *dbdir, *rundir, *tender_dir;
	char state_path[PATH_MAX];
	char images_dir[PATH_MAX];
	char block_dir[PATH_MAX];
	int db_lock, run_lock; /* albatrossd.lock of dbdir and rundir, held (-1: not yet) */
	uint32_t tender_uid, tender_gid;
	bool has_tender_user;
	bool has_group;
	uint32_t group_gid;
	uint64_t stop_timeout_us;
	struct alb_supervise_params supervise; /* back-off and crash loop */
	alb_vmm_event_fn event_fn;
	void *event_userdata;
	hwloc_topology_t topology;
	struct alb_net *net;
	struct alb_tender_cache *tenders;
	char *monitor_path;	    /* albatross-monitor */
	struct vmm_child *children; /* monitors started here, reaped when they end */
	bool detaching;		    /* going away, leaving unikernels to their monitors */
	const char *crash_at;	    /* a test's crash point (ALBATROSS_CRASH_AT), or NULL */
	char **stale_taps;	    /* taps still held by a dying tender: removed later */
	uint32_t n_stale_taps;
	alb_source *stale_timer;
	uint32_t stale_tries; /* removals of them tried without success */
	char tap_pending[16]; /* a tap being made: in <rundir>/taps before it persists */
	alb_tree *tree;
	struct uk *uks;
	struct vmm_block *blocks;
	struct alb_state *unrestored;
	/* the state's journal (docs/state.md), open once started; replies held until the
	 * changes before them are durable (vmm.c, persistence) */
	struct alb_journal *journal;
	alb_source *journal_source;
	struct vmm_held *held, **held_tail;
	bool snapshot_due;	/* after a failure: a whole snapshot at the next commit */
	uint64_t snapshot_size; /* bytes of the last snapshot */
	uint64_t journal_max;	/* compaction bound (0: the snapshot's size, at least 64 KiB) */
	/* snapshots that fail are tried again with a backoff (0: no failure streak) */
	uint64_t commit_backoff_ms, commit_retry_us; /* no snapshot before commit_retry_us */
	alb_source *commit_timer;		     /* the next try */
	struct vmm_hooks hooks;			     /* to the layer above */
	struct vmm_watch watch;			     /* to the services */
	void *watch_userdata;
	void *hooks_userdata;
	void *service; /* albatrossd's socket (vmm-service.c), freed with the supervisor */
	void (*service_free)(void *service);
	void (*service_flush)(void *service); /* albatrossd stops: the replies go out */
	void *link;		  /* the connections to the helper daemons (vmm-link.c) */
	struct vmm_later *laters; /* completions of creates, due from the loop (vmm-ops.c) */
	void (*link_free)(void *link);
	struct alb_console_relay *relay;		 /* console output to albatross-console */
	uint64_t console_backlog, console_backlog_total; /* its bounds, 0: defaults */
	/* who asked for what is being done now ("uid 0", "uid 998 for certificate ..."); ""
	 * for albatrossd itself */
	char identity[VMM_IDENTITY_MAX];
	bool started;
	/* The restore of the state (alb_vmm_start()): the unikernels still to start, in
	 * startup order, started from the loop, at most start_parallel at once. */
	uint32_t start_parallel; /* 0: the default, ALB_VMM_START_PARALLEL_PER_CPU per CPU */
	alb_name **restore_queue;
	uint32_t n_restore, restore_next, restore_started;
	alb_source *restore_timer;
	uint64_t restore_began;
	void (*shutdown_done)(alb_vmm *vmm, void *userdata);
	void *shutdown_userdata;
	/* the uploads in progress (vmm-ops.c), and their bound per peer (0: not yet read) */
	struct vmm_upload *uploads;
	uint32_t uploads_per_peer;
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
/* Writes the whole state now (a snapshot; waits for it). */
int vmm_save(alb_vmm *vmm);
/*
 * Records the change of one entry (what it is now in memory: put, or remove if gone) in
 * the state's journal and starts a commit. 0, or -errno when it could not be written: the
 * change is then to be undone, as before.
 */
int vmm_persist_unikernel(alb_vmm *vmm, const alb_name *name);
int vmm_persist_policy(alb_vmm *vmm, const alb_name *path);
int vmm_persist_block(alb_vmm *vmm, const alb_name *name);

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
/* A waiter for done (NULL if done is NULL or memory is short: nobody waits). */
struct waiter *vmm_waiter_new(alb_vmm_done_fn done, void *userdata);
/* Starts destroying u; waiters are told when it is gone. */
void vmm_destroy(alb_vmm *vmm, struct uk *u, struct waiter *w);
/* Stops u and starts it again with config (or its own if NULL). w is taken on success only. */
int vmm_restart(alb_vmm *vmm, struct uk *u, const alb_unikernel_config *config, struct waiter *w);
/* Removes the image file if no unikernel uses it any more. */
void vmm_image_unref(alb_vmm *vmm, const uint8_t digest[32]);

/* Log events: a new event of kind about name (may be NULL), time and identity
 * filled (NULL when nobody takes events); then vmm_event_send() (which takes it). */
struct alb_log_event *vmm_event_new(alb_vmm *vmm, int kind, const alb_name *name);
void vmm_event_send(alb_vmm *vmm, struct alb_log_event *event);

/* Gives every completion still due (alb_vmm_create_async) now: the supervisor goes. */
void vmm_laters_flush(alb_vmm *vmm);

/* The unikernel name, or -ENOENT with the reason. */
int vmm_lookup(alb_vmm *vmm, const alb_name *name, struct uk **ret);
char *vmm_name_str(const alb_name *n);
