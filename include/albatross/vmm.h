/* SPDX-License-Identifier: ISC */
/**
 * @file vmm.h
 * @brief The supervisor: creates, supervises, restarts and destroys unikernels.
 *
 * albatrossd is a thin main() around this. The supervisor runs on an
 * alb_loop (see loop.h): an embedder can run it inside its own event loop.
 * It keeps its persistent state in a database directory (the state file, the
 * image store, the block devices) and its runtime files (sockets) in a run
 * directory. See docs/albatrossd.md.
 */
#ifndef ALBATROSS_VMM_H
#define ALBATROSS_VMM_H

#include <stdint.h>

#include <albatross/ctx.h>
#include <albatross/loop.h>
#include <albatross/name.h>
#include <albatross/policy.h>
#include <albatross/unikernel.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque supervisor. */
typedef struct alb_vmm alb_vmm;

/** Events reported to an alb_vmm_event_fn. */
enum alb_vmm_event {
	ALB_VMM_STARTED = 1,	/**< the tender runs */
	ALB_VMM_EXITED = 2,	/**< the tender ended; a restart may follow */
	ALB_VMM_RESTARTING = 3, /**< a restart is scheduled after a back-off */
	ALB_VMM_FAILED = 4,	/**< it cannot run: a crash loop, or it failed to start */
	ALB_VMM_DESTROYED = 5,	/**< it is gone with all its resources */
};

/**
 * Called for each event of a unikernel: @p name is borrowed for the call;
 * for ALB_VMM_EXITED @p signal is the signal that ended it (0 if none) and
 * @p code its exit code.
 */
typedef void (*alb_vmm_event_fn)(alb_vmm *vmm, const alb_name *name, int event, int signal,
				 int code, void *userdata);

/**
 * Makes a supervisor keeping its state in @p dbdir and its runtime files in
 * @p rundir (both are created if missing).
 * @return 0, -EINVAL, -ENOMEM, -errno.
 */
int alb_vmm_new(alb_ctx *ctx, alb_loop *loop, const char *dbdir, const char *rundir,
		alb_vmm **ret_vmm);

/** Looks for tenders in @p dir before $PATH. @return 0, -ENOMEM. */
int alb_vmm_set_tender_dir(alb_vmm *vmm, const char *dir);
/**
 * Runs every tender under the monitor @p path (an absolute path) instead of
 * the installed albatross-monitor (or $ALBATROSS_MONITOR when set). A monitor
 * watches one tender, holds its console output and exit status, and outlives
 * the supervisor. @return 0, -EINVAL, -ENOMEM.
 */
int alb_vmm_set_monitor(alb_vmm *vmm, const char *path);
/** Runs tenders as this user and group, and makes taps owned by them. @return 0. */
int alb_vmm_set_tender_user(alb_vmm *vmm, uint32_t uid, uint32_t gid);
/**
 * The group of the helper daemons: the command socket is made group @p gid,
 * mode 0660. @return 0.
 */
int alb_vmm_set_group(alb_vmm *vmm, uint32_t gid);
/** SIGKILL follows SIGTERM after @p usec (default 5 s). @return 0, -EINVAL. */
int alb_vmm_set_stop_timeout(alb_vmm *vmm, uint64_t usec);
/** Restart back-off: first delay and cap (default 1 s and 60 s). @return 0, -EINVAL. */
int alb_vmm_set_restart_backoff(alb_vmm *vmm, uint64_t initial_usec, uint64_t max_usec);
/** A crash loop: @p burst restarts within @p window_usec (default 5 in 60 s). @return 0, -EINVAL.
 */
int alb_vmm_set_crash_loop(alb_vmm *vmm, uint32_t burst, uint64_t window_usec);
/**
 * Bounds the console output that waits for albatross-console (while it is down
 * or behind): at most @p unikernel_bytes of one unikernel's output (default 1
 * MiB) and @p total_bytes in all (default 64 MiB); past them the oldest waiting
 * output is dropped and the loss is marked in the console history. 0 keeps a
 * default.
 * @return 0, -EINVAL (a bound under 4 KiB or over 1 GiB per unikernel, 64 GiB
 * in all, or a total under the per-unikernel bound).
 */
int alb_vmm_set_console_backlog(alb_vmm *vmm, uint64_t unikernel_bytes, uint64_t total_bytes);

/** Restore starts under way at once by default, per online CPU. */
#define ALB_VMM_START_PARALLEL_PER_CPU 4
/** Most restore starts under way at once. */
#define ALB_VMM_START_PARALLEL_MAX 1024
/**
 * At most @p n tenders being started at once when alb_vmm_start() restores the
 * unikernels of the state (0: ALB_VMM_START_PARALLEL_PER_CPU per online CPU).
 * The restore runs from the loop, by startup priority (a priority starts once
 * every unikernel of the one before has), and clients are served meanwhile.
 * @return 0, -EINVAL (@p n over ALB_VMM_START_PARALLEL_MAX).
 */
int alb_vmm_set_start_parallel(alb_vmm *vmm, uint32_t n);
/** Sets the event callback (NULL: none). */
void alb_vmm_set_event_fn(alb_vmm *vmm, alb_vmm_event_fn fn, void *userdata);

/**
 * Discovers the root policy (CPUs and memory with hwloc, the bridges, the
 * block directory's free space), reads the state file, adopts the unikernels
 * of the state that still run (started by an earlier supervisor on the same
 * directories: same pid, taps and console; an exit while no supervisor was
 * there is handled now by its fail behaviour), ends every other tender that
 * an earlier supervisor left, and starts the unikernels that do not run,
 * lowest startup priority first. A state file that cannot be read fails with
 * -EBADMSG or -EPROTO and is left untouched.
 * @return 0 or -errno with the reason in the context.
 */
int alb_vmm_start(alb_vmm *vmm);

/**
 * Serves the wire protocol on a Unix socket at @p path (NULL:
 * <rundir>/albatrossd.sock), mode 0660.
 * @return 0 or -errno.
 */
int alb_vmm_listen(alb_vmm *vmm, const char *path);

/** Serves the wire protocol on an already listening socket (socket activation). */
int alb_vmm_listen_fd(alb_vmm *vmm, int fd);

/**
 * Connects to the helper daemons in the rundir (console.sock, log.sock,
 * stats.sock), now and again whenever one restarts: every tender's console
 * output goes to albatross-console (kept, bounded, while it is down, and sent
 * again after it restarted), running unikernels are registered with
 * albatross-stats, and every event goes to albatross-log (queued, bounded,
 * while it is down). None of them needs to be up. Without this call, console
 * output goes to the context's debug log. Call before alb_vmm_start().
 * @return 0, -ENOMEM.
 */
int alb_vmm_connect_helpers(alb_vmm *vmm);

/**
 * Creates and starts a unikernel from an image file (zlib-compressed if the
 * config says so), with every check of the socket command.
 * @return 0, -EEXIST, -EDQUOT, -EINVAL, -ENOENT, -errno.
 */
int alb_vmm_create(alb_vmm *vmm, const alb_name *name, const alb_unikernel_config *config,
		   const char *image_path);

/**
 * Destroys a unikernel: stops it (SIGTERM, then SIGKILL) and releases every
 * resource; ALB_VMM_DESTROYED is reported when it is gone.
 * @return 0 (in progress or done), -ENOENT.
 */
int alb_vmm_destroy(alb_vmm *vmm, const alb_name *name);

/**
 * How a long operation ended: @p result is 0 or a negative errno, @p message
 * what albatrossd would reply ("destroyed", "restarted", or why it failed;
 * borrowed for the call). @p name is the unikernel (borrowed).
 *
 * A completion is called once. It may come before the call that started the
 * operation returns, when nothing has to wait (a restart or a destroy of a
 * unikernel that is not running); it may start other operations. Operations
 * still in progress when the supervisor is freed complete with -ECANCELED
 * from alb_vmm_free(): such a completion must not call the supervisor.
 */
typedef void (*alb_vmm_done_fn)(alb_vmm *vmm, const alb_name *name, int result, const char *message,
				void *userdata);

/** alb_vmm_create_async() flag: replace a unikernel of that name (force-create). */
#define ALB_VMM_FORCE 1u

/**
 * Creates a unikernel like alb_vmm_create(), with a completion. With
 * ALB_VMM_FORCE a unikernel of that name is replaced: it is stopped, and the
 * new one started in its place with its restart counters reset.
 * @p done (may be NULL) is called once the unikernel runs (a new one: after this
 * returns, from the loop; one replaced: when the old one stopped and the new one
 * started), with the reply albatrossd would give; it is not called when this
 * returns an error.
 * @return 0 (done will be called), -EEXIST, -EDQUOT, -EINVAL, -ENOENT...: nothing
 * was created.
 */
int alb_vmm_create_async(alb_vmm *vmm, const alb_name *name, const alb_unikernel_config *config,
			 const char *image_path, uint32_t flags, alb_vmm_done_fn done,
			 void *userdata);

/**
 * Destroys a unikernel like alb_vmm_destroy(); @p done (may be NULL) is called
 * when it is gone with all its resources.
 * @return 0 (done will be called), -ENOENT (it is not).
 */
int alb_vmm_destroy_async(alb_vmm *vmm, const alb_name *name, alb_vmm_done_fn done, void *userdata);

/**
 * Restarts a unikernel: stops it and starts it again with its configuration,
 * its arguments replaced by the NULL-terminated @p argv if it is not NULL
 * (checked against the policies first). @p done (may be NULL) is called when it
 * runs again, or with the reason it could not start.
 * @return 0 (done will be called), -ENOENT, -EBUSY (being destroyed), -EDQUOT...
 */
int alb_vmm_restart(alb_vmm *vmm, const alb_name *name, const char *const *argv,
		    alb_vmm_done_fn done, void *userdata);

/**
 * Adds or replaces the policy of a path (a name ending in ':', not the root),
 * checked against its parent and the unikernels below it, and persisted.
 * @return 0, 1 (that policy was there already), -EINVAL, -EPERM, -EDQUOT.
 */
int alb_vmm_add_policy(alb_vmm *vmm, const alb_name *path, const alb_policy *policy);

/** Removes the policy of a path, persisted. @return 0, -ENOENT, -EBUSY. */
int alb_vmm_remove_policy(alb_vmm *vmm, const alb_name *path);

/** alb_vmm_add_block() and alb_vmm_set_block() flag: the data file is zlib-compressed. */
#define ALB_VMM_COMPRESSED 1u

/**
 * Adds a block device of @p size_mb MB (@p sector_size 0: the tender's
 * default, else 512 to 65536, a power of two), zeros or the contents of the
 * file @p data_path (NULL: zeros), checked against the policies and persisted.
 * Nothing of it stays on failure.
 * @return 0, -EEXIST, -EDQUOT, -EFBIG (the data is larger), -EINVAL.
 */
int alb_vmm_add_block(alb_vmm *vmm, const alb_name *name, uint64_t size_mb, uint32_t sector_size,
		      const char *data_path, uint32_t flags);

/** Overwrites an unused block device with the file @p data_path. @return 0, -ENOENT, -EBUSY,
 * -EFBIG. */
int alb_vmm_set_block(alb_vmm *vmm, const alb_name *name, const char *data_path, uint32_t flags);

/** Removes an unused block device and its file. @return 0, -ENOENT, -EBUSY. */
int alb_vmm_remove_block(alb_vmm *vmm, const alb_name *name);

/**
 * Opens a block device's file for reading (a dump). The fd is the caller's.
 * @return 0, -ENOENT.
 */
int alb_vmm_open_block(alb_vmm *vmm, const alb_name *name, int *ret_fd, uint64_t *ret_size);

/** A unikernel as alb_vmm_foreach_unikernel() shows it; valid during the callback only. */
typedef struct alb_vmm_unikernel alb_vmm_unikernel;

/** Its state. */
enum alb_vmm_unikernel_state {
	ALB_VMM_STATE_RUNNING = 1,    /**< the tender runs */
	ALB_VMM_STATE_RESTARTING = 2, /**< it waits for a restart after a back-off */
	ALB_VMM_STATE_FAILED = 3,     /**< it cannot run (a crash loop, a failed start) */
	ALB_VMM_STATE_STOPPED = 4,    /**< it is stopped */
};

/**
 * Calls @p fn for every unikernel that @p selector selects (a path: every
 * unikernel below it; a name: that one; NULL: all), in name order, until @p fn
 * returns non-zero. @return the last return of @p fn, or -ENOENT (a name that is
 * not a unikernel).
 */
int alb_vmm_foreach_unikernel(alb_vmm *vmm, const alb_name *selector,
			      int (*fn)(alb_vmm *vmm, const alb_vmm_unikernel *unikernel,
					void *userdata),
			      void *userdata);

/** Its name (borrowed). */
const alb_name *alb_vmm_unikernel_get_name(const alb_vmm_unikernel *unikernel);
/** Its configuration, with the stored image's digest (borrowed). */
const alb_unikernel_config *alb_vmm_unikernel_get_config(const alb_vmm_unikernel *unikernel);
/** enum alb_vmm_unikernel_state. */
int alb_vmm_unikernel_get_state(const alb_vmm_unikernel *unikernel);
/** The tender's pid, 0 when it does not run. */
uint32_t alb_vmm_unikernel_get_pid(const alb_vmm_unikernel *unikernel);
/** How many times it was restarted after an exit since it was created or restarted. */
uint32_t alb_vmm_unikernel_get_restarts(const alb_vmm_unikernel *unikernel);
/** Why it failed (ALB_VMM_STATE_FAILED), else NULL (borrowed). */
const char *alb_vmm_unikernel_get_failure(const alb_vmm_unikernel *unikernel);

/**
 * Stops every unikernel (SIGTERM, then SIGKILL after the stop timeout) and
 * keeps them in the state, so that they come back at the next start. When all
 * are stopped, @p done is called.
 * @return 0.
 */
int alb_vmm_shutdown(alb_vmm *vmm, void (*done)(alb_vmm *vmm, void *userdata), void *userdata);

/**
 * Lets go of every unikernel: they keep running, each watched by its monitor,
 * which keeps its console output (up to 1 MiB) and its exit status until a
 * supervisor started later on the same directories adopts it
 * (alb_vmm_start()). No operation is accepted any more; @p done is called at
 * once, and then the supervisor may be freed.
 * @return 0.
 */
int alb_vmm_detach(alb_vmm *vmm, void (*done)(alb_vmm *vmm, void *userdata), void *userdata);

/**
 * Frees the supervisor. Unikernels still running stay with their monitors (as
 * alb_vmm_detach()); alb_vmm_shutdown() first stops them. Accepts NULL.
 */
alb_vmm *alb_vmm_free(alb_vmm *vmm);

#ifdef __cplusplus
}
#endif

#endif
