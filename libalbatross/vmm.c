/* SPDX-License-Identifier: ISC */
/* The supervisor engine: the lifecycle of unikernels (include/albatross/vmm.h, docs/albatrossd.md).
 * No sockets: the layers above plug in through vmm-private.h. */
#include <fcntl.h>
#include <grp.h>
#include <hwloc.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <sys/socket.h>
#include <sys/un.h>

#include <albatross/manifest.h>
#include <albatross/tree.h>
#include <albatross/vmm.h>

#include "config.h"
#include "console-relay-private.h"
#include "ctx-private.h"
#include "fileio-private.h"
#include "image-private.h"
#include "journal-private.h"
#include "log-private.h"
#include "net-private.h"
#include "sha256-private.h"
#include "state-private.h"
#include "vmm-internal.h"

/* ---- small helpers ---------------------------------------------------------------------- */

char *vmm_name_str(const alb_name *n)
{
	char *s = alb_name_to_string(n);
	return s ? s : strdup("?");
}

#define name_str vmm_name_str

/*
 * A test's hook: with ALBATROSS_CRASH_AT=POINT in its environment albatrossd
 * kills itself (SIGKILL) at that point of an operation, so that a test may
 * show what a crash at each point leaves (tests/integration/test-albatrossd.py,
 * test_crash_points). The points are the strings passed here.
 */
static void crash_point(alb_vmm *vmm, const char *point)
{
	if (vmm->crash_at && streq(vmm->crash_at, point))
		raise(SIGKILL);
}

static int mkdir_p(alb_ctx *ctx, const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return alb_error(ctx, ENAMETOOLONG, "path '%s' is too long", path);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(buf, mode) < 0 && errno != EEXIST)
				return alb_error(ctx, errno, "Failed to create '%s': %s", buf,
						 strerror(errno));
			*p = '/';
		}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return alb_error(ctx, errno, "Failed to create '%s': %s", buf, strerror(errno));
	return 0;
}

struct uk *vmm_find(alb_vmm *vmm, const alb_name *name)
{
	for (struct uk *u = vmm->uks; u; u = u->next)
		if (alb_name_equal(u->name, name))
			return u;
	return NULL;
}

static void emit(alb_vmm *vmm, struct uk *u, int event, int signal, int code)
{
	if (vmm->event_fn)
		vmm->event_fn(vmm, u->name, event, signal, code, vmm->event_userdata);
	if (vmm->watch.event)
		vmm->watch.event(vmm, u->name, event, signal, code, vmm->watch_userdata);
}

void vmm_set_watch(alb_vmm *vmm, const struct vmm_watch *watch, void *userdata)
{
	vmm->watch = watch ? *watch : (struct vmm_watch){0};
	vmm->watch_userdata = userdata;
}

const char *vmm_dbdir(alb_vmm *vmm)
{
	return vmm->dbdir;
}

int vmm_block_path(alb_vmm *vmm, const alb_name *block, char buf[PATH_MAX])
{
	_cleanup_free_ char *s = name_str(block);
	return snprintf(buf, PATH_MAX, "%s/block/%s", vmm->dbdir, s) >= PATH_MAX ? -ENAMETOOLONG
										 : 0;
}

/* The block device a unikernel's block device k refers to: its path + host label. */
int vmm_block_name(alb_vmm *vmm, const alb_name *uk, const alb_unikernel_config *c, uint32_t k,
		   alb_name **ret)
{
	_cleanup_(alb_name_freep) alb_name *path = NULL;
	int r = alb_name_parent(uk, &path);
	if (r < 0)
		return r;
	return alb_name_append(vmm->ctx, path, c->blocks[k].host, 0, ret);
}

/* Whether config (of the unikernel named uk) uses the block device. */
static bool config_uses(alb_vmm *vmm, const alb_name *uk, const alb_unikernel_config *c,
			const alb_name *block)
{
	for (uint32_t k = 0; c && k < c->n_blocks; k++) {
		_cleanup_(alb_name_freep) alb_name *b = NULL;
		if (vmm_block_name(vmm, uk, c, k, &b) >= 0 && alb_name_equal(b, block))
			return true;
	}
	return false;
}

/* The unikernel using the block device, or NULL: by its configuration, or by the one it
 * starts again with when its tender has stopped (a force-create, a restart under way). */
struct uk *vmm_block_user(alb_vmm *vmm, const alb_name *block)
{
	for (struct uk *u = vmm->uks; u; u = u->next)
		if (config_uses(vmm, u->name, u->config, block) ||
		    config_uses(vmm, u->name, u->restart_with, block))
			return u;
	return NULL;
}

/* ---- root policy ------------------------------------------------------------------------ */

int vmm_refresh_root_policy(alb_vmm *vmm)
{
	alb_ctx *ctx = vmm->ctx;
	_cleanup_(alb_policy_freep) alb_policy *p = NULL;
	int r = alb_policy_new(&p);
	if (r < 0)
		return r;
	hwloc_obj_t o = NULL;
	while ((o = hwloc_get_next_obj_by_type(vmm->topology, HWLOC_OBJ_PU, o)))
		if (o->os_index < ALB_CPUID_LIMIT && (r = alb_policy_add_cpuid(p, o->os_index)) < 0)
			return r;
	uint64_t mem = hwloc_get_root_obj(vmm->topology)->total_memory >> 20;
	alb_policy_set_memory(p, mem > ALB_POLICY_MB_MAX ? ALB_POLICY_MB_MAX : mem);
	alb_policy_set_unikernels(p, ALB_POLICY_UNIKERNELS_MAX);
	struct statvfs sv;
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/block", vmm->dbdir);
	if (statvfs(dir, &sv) == 0) {
		/* What is free plus what our block devices already use. */
		_cleanup_(alb_name_freep) alb_name *root = NULL;
		_cleanup_(alb_policy_freep) alb_policy *usage = NULL;
		uint64_t free_mb = (uint64_t)sv.f_bavail * sv.f_frsize >> 20;
		if (alb_name_new_root(&root) == 0 &&
		    alb_tree_get_usage(vmm->tree, root, &usage) == 0)
			free_mb += alb_policy_get_block(usage);
		alb_policy_set_block(p, free_mb > ALB_POLICY_MB_MAX ? ALB_POLICY_MB_MAX : free_mb);
	}
	char **bridges = NULL;
	uint32_t n = 0;
	if ((r = alb_net_list_bridges(vmm->net, &bridges, &n)) < 0)
		return r;
	for (uint32_t i = 0; i < n && i < ALB_BRIDGES_MAX; i++)
		alb_policy_add_bridge(p, bridges[i]);
	/* The host publishes any port and allows any address on its bridges (the two
	 * halves of the address space: a prefix is at least /1), for as many bridges as
	 * a policy holds prefixes. */
	alb_policy_set_ports(p, 1, 65535);
	for (uint32_t i = 0; i < n && i < ALB_BRIDGES_MAX && i < ALB_POLICY_PREFIXES_MAX / 2; i++) {
		(void)alb_policy_add_prefix(p, bridges[i], "0.0.0.0/1");
		(void)alb_policy_add_prefix(p, bridges[i], "128.0.0.0/1");
	}
	alb_strv_free(bridges);

	_cleanup_(alb_name_freep) alb_name *root = NULL;
	if ((r = alb_name_new_root(&root)) < 0)
		return r;
	r = alb_tree_insert_policy(vmm->tree, root, p);
	if (r < 0)
		return alb_error_prefix(ctx, r, "the host's resources (the root policy)");
	return 0;
}

/* ---- persistence ------------------------------------------------------------------------ */

struct collect {
	alb_vmm *vmm;
	struct alb_state *state;
};

static int collect_entry(const alb_name *name, const alb_name *relative, int kind, void *ud)
{
	struct collect *c = ud;
	alb_vmm *vmm = c->vmm;
	if (kind == ALB_TREE_POLICY) {
		if (alb_name_is_root(name))
			return 0; /* discovered at each start, never stored */
		return alb_state_add_policy(vmm->ctx, c->state, name,
					    alb_tree_get_policy(vmm->tree, name));
	}
	if (kind == ALB_TREE_UNIKERNEL) {
		struct uk *u = vmm_find(vmm, name);
		/* A restart under way: what it starts (a restart of albatrossd carries it out). */
		return u ? alb_state_add_unikernel(vmm->ctx, c->state, name,
						   u->restart_with ? u->restart_with : u->config)
			 : 0;
	}
	uint64_t size;
	int r = alb_tree_get_block(vmm->tree, name, &size);
	if (r < 0)
		return r;
	struct vmm_block *b = vmm_block_find(vmm, name);
	return alb_state_add_block(vmm->ctx, c->state, name, size, b ? b->sector_size : 0);
}

/* The whole state in memory: what a snapshot holds. */
static int vmm_collect(alb_vmm *vmm, struct alb_state **ret)
{
	_cleanup_(alb_state_freep) struct alb_state *s = NULL;
	_cleanup_(alb_name_freep) alb_name *root = NULL;
	int r;
	if ((r = alb_state_new(&s)) < 0 || (r = alb_name_new_root(&root)) < 0)
		return r;
	struct collect c = {vmm, s};
	r = alb_tree_foreach(vmm->tree, root, ALB_TREE_POLICY | ALB_TREE_UNIKERNEL | ALB_TREE_BLOCK,
			     collect_entry, &c);
	/* Entries that could not be restored are kept, never dropped. */
	if (r >= 0 && vmm->unrestored) {
		struct alb_state *u = vmm->unrestored;
		for (uint32_t i = 0; i < u->n_policies && r >= 0; i++)
			if (!alb_tree_get_policy(vmm->tree, u->policies[i].path))
				r = alb_state_add_policy(vmm->ctx, s, u->policies[i].path,
							 u->policies[i].policy);
		for (uint32_t i = 0; i < u->n_unikernels && r >= 0; i++)
			if (!vmm_find(vmm, u->unikernels[i].name))
				r = alb_state_add_unikernel(vmm->ctx, s, u->unikernels[i].name,
							    u->unikernels[i].config);
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(s);
	return 0;
}

/* A reply held until the changes recorded before it are durable. */
struct vmm_held {
	uint64_t seq;
	alb_name *name;
	int r;
	char *text;
	alb_vmm_done_fn done;
	void *userdata;
	struct vmm_held *next;
};

/* Queues a snapshot of the whole state (the next commit writes it). */
static int vmm_snapshot_queue(alb_vmm *vmm)
{
	_cleanup_(alb_state_freep) struct alb_state *s = NULL;
	uint8_t *buf;
	size_t len;
	int r = vmm_collect(vmm, &s);
	if (r < 0 || (r = alb_state_encode(vmm->ctx, s, &buf, &len)) < 0)
		return r;
	alb_journal_snapshot(vmm->journal, buf, len);
	vmm->snapshot_size = len;
	return 0;
}

static void vmm_commit(alb_vmm *vmm);

static int commit_timer_fired(alb_source *source, void *userdata)
{
	alb_vmm *vmm = userdata;
	vmm->commit_timer = alb_source_free(vmm->commit_timer);
	if (vmm->journal)
		vmm_commit(vmm);
	return 0;
}

/* A commit from the loop: on its next turn, or when the backoff of failed snapshots ends. */
static void vmm_commit_later(alb_vmm *vmm)
{
	if (vmm->commit_timer || !vmm->journal)
		return;
	uint64_t now = alb_now_monotonic();
	uint64_t delay = vmm->commit_retry_us > now ? vmm->commit_retry_us - now : 0;
	/* Should that fail, the next change commits. */
	(void)alb_loop_add_timer(vmm->loop, delay, commit_timer_fired, vmm, &vmm->commit_timer);
}

/* Starts a commit: of the records appended, and a snapshot when the journal is past its
 * bound (compaction) or after a failure (not before the backoff of failed ones ends). */
static void vmm_commit(alb_vmm *vmm)
{
	alb_journal *j = vmm->journal;
	uint64_t bound = vmm->journal_max
			     ? vmm->journal_max
			     : (vmm->snapshot_size > (UINT64_C(64) << 10) ? vmm->snapshot_size
									  : (UINT64_C(64) << 10));
	if (!alb_journal_busy(j) && (vmm->snapshot_due || alb_journal_size(j) > bound)) {
		if (vmm->commit_retry_us > alb_now_monotonic())
			vmm_commit_later(vmm);
		else if (vmm_snapshot_queue(vmm) < 0)
			alb_log_err(vmm->ctx, "Failed to make a snapshot of the state: %s",
				    alb_ctx_last_error(vmm->ctx));
		else
			vmm->snapshot_due = false;
	}
	alb_journal_kick(j);
}

/* After a commit ended (r: its result): the backoff of failed snapshots. */
static void commit_outcome(alb_vmm *vmm, int r, const char *why)
{
	if (r < 0) {
		vmm->snapshot_due = true;
		if (!vmm->commit_backoff_ms)
			alb_log_err(vmm->ctx,
				    "%s: a snapshot of the state follows (tried again at growing "
				    "intervals, up to 30 s, while it fails)",
				    why);
		vmm->commit_backoff_ms = vmm->commit_backoff_ms ? vmm->commit_backoff_ms * 2 : 100;
		if (vmm->commit_backoff_ms > 30000)
			vmm->commit_backoff_ms = 30000;
		vmm->commit_retry_us = alb_now_monotonic() + vmm->commit_backoff_ms * 1000;
		vmm->commit_timer = alb_source_free(vmm->commit_timer);
		vmm_commit_later(vmm);
	} else if (vmm->commit_backoff_ms && !vmm->snapshot_due &&
		   alb_journal_durable(vmm->journal) >= alb_journal_last_seq(vmm->journal)) {
		alb_log_notice(vmm->ctx, "The state is durable again: a snapshot was written");
		vmm->commit_backoff_ms = vmm->commit_retry_us = 0;
	}
}

static void held_free(struct vmm_held *h)
{
	alb_name_free(h->name);
	free(h->text);
	free(h);
}

/* Gives the held replies up to durable; those up to failed fail with why. */
static void held_reply(alb_vmm *vmm, uint64_t durable, uint64_t failed, const char *why)
{
	while (vmm->held && (vmm->held->seq <= durable || vmm->held->seq <= failed)) {
		struct vmm_held *h = vmm->held;
		vmm->held = h->next;
		if (!vmm->held)
			vmm->held_tail = &vmm->held;
		if (h->seq <= durable)
			h->done(vmm, h->name, h->r, h->text, h->userdata);
		else {
			char msg[768];
			snprintf(msg, sizeof(msg),
				 "the change could not be made durable (%s): it is in effect, but "
				 "may not survive a restart of albatrossd",
				 why);
			h->done(vmm, h->name, -EIO, msg, h->userdata);
		}
		held_free(h);
	}
}

static int journal_event(alb_source *source, int fd, uint32_t events, void *userdata)
{
	alb_vmm *vmm = userdata;
	uint64_t durable, failed;
	char why[512];
	int r = alb_journal_done(vmm->journal, &durable, &failed, why, sizeof(why));
	commit_outcome(vmm, r, why);
	held_reply(vmm, durable, r < 0 ? failed : 0, why);
	if (vmm->journal)
		vmm_commit(vmm);
	return 0;
}

void vmm_when_durable(alb_vmm *vmm, const alb_name *name, int r, const char *text,
		      alb_vmm_done_fn done, void *userdata)
{
	if (!done)
		return;
	uint64_t seq = vmm->journal ? alb_journal_last_seq(vmm->journal) : 0;
	struct vmm_held *h = NULL;
	if (seq > (vmm->journal ? alb_journal_durable(vmm->journal) : 0) || vmm->held)
		h = calloc(1, sizeof(*h));
	if (h && (!name || alb_name_dup(name, &h->name) >= 0) &&
	    (!text || (h->text = strdup(text)))) {
		h->seq = seq;
		h->r = r;
		h->done = done;
		h->userdata = userdata;
		*vmm->held_tail = h;
		vmm->held_tail = &h->next;
		return;
	}
	if (h) {
		/* Short of memory: wait here rather than reply before it is durable. */
		held_free(h);
		int s = vmm_sync(vmm);
		if (s < 0 && r >= 0) {
			done(vmm, name, s, alb_ctx_last_error(vmm->ctx), userdata);
			return;
		}
	}
	done(vmm, name, r, text, userdata);
}

int vmm_sync(alb_vmm *vmm)
{
	if (!vmm->journal)
		return 0;
	/* A snapshot due (a change not recorded) is written now, backoff or not. */
	if (vmm->snapshot_due && vmm_snapshot_queue(vmm) == 0)
		vmm->snapshot_due = false;
	int r = alb_journal_sync(vmm->ctx, vmm->journal);
	_cleanup_free_ char *err = r < 0 ? strdup(alb_ctx_last_error(vmm->ctx)) : NULL;
	/* The replies held for what is now durable go (or fail) now, before the caller's. */
	uint64_t durable, failed;
	char why[512];
	int d = alb_journal_done(vmm->journal, &durable, &failed, why, sizeof(why));
	commit_outcome(vmm, d < 0 ? d : r, d < 0 ? why : err ? err : "?");
	held_reply(vmm, durable, d < 0 ? failed : 0, why);
	if (r < 0)
		return alb_error(vmm->ctx, -r, "%s", err ? err : "the state could not be synced");
	return 0;
}

/* albatrossd stops: everything durable, every held reply given (their completions may
 * hold more), and the service's connections flushed. */
static void vmm_settle(alb_vmm *vmm)
{
	for (unsigned round = 0; vmm->journal && vmm->held && round < 16; round++) {
		int r = vmm_sync(vmm);
		if (r < 0)
			held_reply(vmm, alb_journal_durable(vmm->journal), UINT64_MAX,
				   alb_ctx_last_error(vmm->ctx));
	}
	if (vmm->journal && vmm->held)
		held_reply(vmm, alb_journal_durable(vmm->journal), UINT64_MAX, "albatrossd stops");
	if (vmm->service_flush && vmm->service)
		vmm->service_flush(vmm->service);
}

/* Before the journal is open (or without one): the whole state, as a snapshot. */
static int vmm_save_whole(alb_vmm *vmm)
{
	_cleanup_(alb_state_freep) struct alb_state *s = NULL;
	int r = vmm_collect(vmm, &s);
	if (r < 0 || (r = alb_state_save(vmm->ctx, vmm->state_path, s)) < 0) {
		alb_log_err(vmm->ctx, "Failed to write the state file '%s': %s", vmm->state_path,
			    alb_ctx_last_error(vmm->ctx));
		return r;
	}
	return 0;
}

int vmm_save(alb_vmm *vmm)
{
	if (!vmm->journal)
		return vmm_save_whole(vmm);
	int r = vmm_snapshot_queue(vmm);
	if (r < 0 || (r = vmm_sync(vmm)) < 0) {
		alb_log_err(vmm->ctx, "Failed to write the state file '%s': %s", vmm->state_path,
			    alb_ctx_last_error(vmm->ctx));
		return r;
	}
	return 0;
}

static int vmm_persist(alb_vmm *vmm, struct alb_journal_record *rec)
{
	if (!vmm->journal)
		return vmm_save_whole(vmm);
	int r = alb_journal_append(vmm->ctx, vmm->journal, rec);
	if (r < 0) {
		/* The change may stay in effect (a caller that cannot refuse it): only a
		 * snapshot makes it durable, and the replies held from now on wait for one. The
		 * snapshot is taken from the loop, once a caller that refuses has undone it. */
		alb_log_err(vmm->ctx, "%s", alb_ctx_last_error(vmm->ctx));
		alb_journal_unrecorded(vmm->journal);
		vmm->snapshot_due = true;
		vmm_commit_later(vmm);
		return r;
	}
	vmm_commit(vmm);
	return 0;
}

int vmm_persist_unikernel(alb_vmm *vmm, const alb_name *name)
{
	struct uk *u = vmm_find(vmm, name);
	struct alb_journal_record rec = {.op = ALB_JOURNAL_REMOVE_UNIKERNEL, .name = name};
	if (u) {
		rec.op = ALB_JOURNAL_PUT_UNIKERNEL;
		rec.config = u->restart_with ? u->restart_with : u->config;
	} else if (vmm->unrestored)
		for (uint32_t i = 0; i < vmm->unrestored->n_unikernels; i++)
			if (alb_name_equal(vmm->unrestored->unikernels[i].name, name)) {
				rec.op = ALB_JOURNAL_PUT_UNIKERNEL;
				rec.config = vmm->unrestored->unikernels[i].config;
			}
	return vmm_persist(vmm, &rec);
}

int vmm_persist_policy(alb_vmm *vmm, const alb_name *path)
{
	struct alb_journal_record rec = {.op = ALB_JOURNAL_PUT_POLICY,
					 .name = path,
					 .policy = alb_tree_get_policy(vmm->tree, path)};
	if (!rec.policy && vmm->unrestored)
		for (uint32_t i = 0; i < vmm->unrestored->n_policies; i++)
			if (alb_name_equal(vmm->unrestored->policies[i].path, path))
				rec.policy = vmm->unrestored->policies[i].policy;
	if (!rec.policy)
		rec.op = ALB_JOURNAL_REMOVE_POLICY;
	return vmm_persist(vmm, &rec);
}

int vmm_persist_block(alb_vmm *vmm, const alb_name *name)
{
	struct alb_journal_record rec = {.op = ALB_JOURNAL_REMOVE_BLOCK, .name = name};
	if (alb_tree_get_block(vmm->tree, name, &rec.size_mb) == 0) {
		struct vmm_block *b = vmm_block_find(vmm, name);
		rec.op = ALB_JOURNAL_PUT_BLOCK;
		rec.sector_size = b ? b->sector_size : 0;
	}
	return vmm_persist(vmm, &rec);
}

/* Opens the journal (at start, after the state and journal were read). */
static int vmm_journal_open(alb_vmm *vmm, const char *path, size_t valid, uint64_t last_seq)
{
	const char *max = secure_getenv("ALBATROSS_JOURNAL_MAX");
	uint64_t m;
	if (max && alb_parse_u64(max, 1, UINT64_MAX, &m) == 0)
		vmm->journal_max = m;
	struct stat st;
	vmm->snapshot_size = stat(vmm->state_path, &st) == 0 ? (uint64_t)st.st_size : 0;
	int r = alb_journal_open(vmm->ctx, path, vmm->state_path, valid, last_seq + 1,
				 vmm->crash_at, &vmm->journal);
	if (r < 0 || (r = alb_loop_add_io(vmm->loop, alb_journal_event_fd(vmm->journal), ALB_IO_IN,
					  journal_event, vmm, &vmm->journal_source)) < 0) {
		vmm->journal = alb_journal_free(vmm->journal);
		return r;
	}
	return 0;
}

/* Commits what is left and gives every held reply (the supervisor goes). */
static void vmm_journal_close(alb_vmm *vmm)
{
	if (!vmm->journal)
		return;
	int r = vmm_sync(vmm);
	uint64_t durable = alb_journal_durable(vmm->journal);
	held_reply(vmm, durable, r < 0 ? UINT64_MAX : 0, alb_ctx_last_error(vmm->ctx));
	vmm->commit_timer = alb_source_free(vmm->commit_timer);
	vmm->journal_source = alb_source_free(vmm->journal_source);
	vmm->journal = alb_journal_free(vmm->journal);
}

/* ---- blocks ----------------------------------------------------------------------------- */

struct vmm_block *vmm_block_find(alb_vmm *vmm, const alb_name *name)
{
	for (struct vmm_block *b = vmm->blocks; b; b = b->next)
		if (alb_name_equal(b->name, name))
			return b;
	return NULL;
}

int vmm_block_add(alb_vmm *vmm, const alb_name *name, uint64_t size_mb, uint32_t sector_size)
{
	struct vmm_block *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	int r = alb_name_dup(name, &b->name);
	if (r < 0 || (r = alb_tree_insert_block(vmm->tree, name, size_mb)) < 0) {
		alb_name_free(b->name);
		free(b);
		return r;
	}
	b->sector_size = sector_size;
	b->next = vmm->blocks;
	vmm->blocks = b;
	return 0;
}

void vmm_block_forget(alb_vmm *vmm, const alb_name *name)
{
	for (struct vmm_block **p = &vmm->blocks; *p; p = &(*p)->next)
		if (alb_name_equal((*p)->name, name)) {
			struct vmm_block *b = *p;
			*p = b->next;
			alb_name_free(b->name);
			free(b);
			break;
		}
	alb_tree_remove_block(vmm->tree, name);
}

/* ---- images ----------------------------------------------------------------------------- */

void vmm_image_unref(alb_vmm *vmm, const uint8_t digest[32])
{
	for (struct uk *u = vmm->uks; u; u = u->next)
		if (memcmp(u->config->digest, digest, 32) == 0 ||
		    (u->restart_with && memcmp(u->restart_with->digest, digest, 32) == 0))
			return;
	if (vmm->unrestored)
		for (uint32_t i = 0; i < vmm->unrestored->n_unikernels; i++)
			if (memcmp(vmm->unrestored->unikernels[i].config->digest, digest, 32) == 0)
				return;
	char path[PATH_MAX];
	if (alb_image_path(vmm->images_dir, digest, path) == 0)
		(void)unlink(path);
}

/* Reads the manifest of a stored image. */
static int image_manifest(alb_vmm *vmm, const uint8_t digest[32], alb_manifest **ret)
{
	char path[PATH_MAX];
	int r = alb_image_path(vmm->images_dir, digest, path);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return alb_error(vmm->ctx, errno, "the image '%s' cannot be read: %s", path,
				 strerror(errno));
	if (st.st_size == 0)
		return alb_error(vmm->ctx, EBADMSG, "the image is empty");
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		return alb_error(vmm->ctx, errno, "Failed to map '%s': %s", path, strerror(errno));
	r = alb_manifest_read(vmm->ctx, m, (uint64_t)st.st_size, ret);
	munmap(m, (size_t)st.st_size);
	return r;
}

/* ---- checks ----------------------------------------------------------------------------- */

int vmm_check(alb_vmm *vmm, const alb_name *name, const alb_unikernel_config *config,
	      bool replacing)
{
	alb_ctx *ctx = vmm->ctx;
	int r;
	if (alb_name_is_path(name))
		return alb_error(ctx, EINVAL, "a unikernel needs a name, not a path");
	if ((r = alb_unikernel_config_validate(ctx, config)) < 0)
		return r;
	if (!replacing && vmm_find(vmm, name)) {
		_cleanup_free_ char *s = name_str(name);
		return alb_error(ctx, EEXIST,
				 "unikernel '%s' exists (use force-create to replace it)", s);
	}
	_cleanup_(alb_manifest_freep) alb_manifest *m = NULL;
	if ((r = image_manifest(vmm, config->digest, &m)) < 0)
		return r;
	if ((r = alb_manifest_check_config(ctx, m, config)) < 0)
		return r;
	struct alb_tender_info_local t;
	if ((r = alb_tender_find(ctx, &vmm->tenders, vmm->tender_dir, config->tender,
				 alb_manifest_get_abi_version(m), &t)) < 0 ||
	    (r = alb_tender_host_check(ctx, config->tender, vmm->has_tender_user, vmm->tender_uid,
				       vmm->tender_gid)) < 0 ||
	    (config->n_nets && (r = alb_tender_net_check(ctx, vmm->has_tender_user, vmm->tender_uid,
							 vmm->tender_gid)) < 0))
		return r;
	for (uint32_t k = 0; k < config->n_nets; k++)
		if ((r = alb_net_bridge_exists(vmm->net, config->nets[k].bridge)) <= 0)
			return r < 0 ? r
				     : alb_error_prefix(ctx, -ENOENT, "network device '%s'",
							config->nets[k].name);
	for (uint32_t k = 0; k < config->n_blocks; k++) {
		_cleanup_(alb_name_freep) alb_name *b = NULL;
		if ((r = vmm_block_name(vmm, name, config, k, &b)) < 0)
			return r;
		_cleanup_free_ char *bs = name_str(b);
		struct vmm_block *dev = vmm_block_find(vmm, b);
		if (!dev)
			return alb_error(ctx, ENOENT,
					 "there is no block device '%s' (create it first)", bs);
		if (dev->writing)
			return alb_error(ctx, EBUSY, "block device '%s' is being written", bs);
		/* The device's sector size is the one the unikernel gets: asking for another
		 * would make it read the device wrong. */
		uint32_t want = config->blocks[k].sector_size, have = dev->sector_size;
		if (want && want != (have ? have : 512))
			return alb_error(ctx, EINVAL,
					 "block device '%s' has sectors of %u bytes, not %u (leave "
					 "the sector size out, or give %u)",
					 bs, have ? have : 512, want, have ? have : 512);
		struct uk *user = vmm_block_user(vmm, b);
		if (user && !alb_name_equal(user->name, name))
			return alb_error(ctx, EBUSY, "block device '%s' is used by '%s'", bs,
					 user->name_s);
	}
	if ((r = vmm_refresh_root_policy(vmm)) < 0)
		return r;
	return alb_tree_check_unikernel(vmm->tree, name, config);
}

/* ---- the layer above ---------------------------------------------------------------------- */

void vmm_set_hooks(alb_vmm *vmm, const struct vmm_hooks *hooks, void *userdata)
{
	vmm->hooks = hooks ? *hooks : (struct vmm_hooks){0};
	vmm->hooks_userdata = userdata;
}

alb_ctx *vmm_ctx(alb_vmm *vmm)
{
	return vmm->ctx;
}

alb_loop *vmm_loop(alb_vmm *vmm)
{
	return vmm->loop;
}

const char *vmm_rundir(alb_vmm *vmm)
{
	return vmm->rundir;
}

void *vmm_service(alb_vmm *vmm)
{
	return vmm->service;
}

void vmm_set_service(alb_vmm *vmm, void *service, void (*free_fn)(void *service))
{
	vmm->service = service;
	vmm->service_free = free_fn;
}

void vmm_set_service_flush(alb_vmm *vmm, void (*flush_fn)(void *service))
{
	vmm->service_flush = flush_fn;
}

void *vmm_link(alb_vmm *vmm)
{
	return vmm->link;
}

void vmm_set_link(alb_vmm *vmm, void *link, void (*free_fn)(void *link))
{
	vmm->link = link;
	vmm->link_free = free_fn;
}

bool vmm_stopping(alb_vmm *vmm)
{
	return vmm->shutdown_done != NULL;
}

void vmm_set_identity(alb_vmm *vmm, const char *identity)
{
	snprintf(vmm->identity, sizeof(vmm->identity), "%s", identity ? identity : "");
}

struct alb_log_event *vmm_event_new(alb_vmm *vmm, int kind, const alb_name *name)
{
	if (!vmm->hooks.log_event)
		return NULL;
	struct alb_log_event *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->kind = kind;
	e->time_us = alb_now_realtime();
	if ((name && alb_name_dup(name, &e->name) < 0) ||
	    (vmm->identity[0] && !(e->identity = strdup(vmm->identity)))) {
		alb_log_event_free(e);
		return NULL;
	}
	return e;
}

void vmm_event_send(alb_vmm *vmm, struct alb_log_event *event)
{
	if (!event)
		return;
	if (vmm->hooks.log_event)
		vmm->hooks.log_event(vmm, event, vmm->hooks_userdata);
	else
		alb_log_event_free(event);
}

/* An event about a unikernel, with a free-text message (may be NULL). */
static void uk_event(struct uk *u, int kind, const char *message)
{
	struct alb_log_event *e = vmm_event_new(u->vmm, kind, u->name);
	if (e && message && !(e->message = strndup(message, VMM_MESSAGE_MAX))) {
		alb_log_event_free(e);
		return;
	}
	vmm_event_send(u->vmm, e);
}

/* A running unikernel for albatross-stats (the console relay knows it already). */
static void uk_register(struct uk *u)
{
	if (u->pid > 0 && u->vmm->hooks.running)
		u->vmm->hooks.running(u->vmm, u->name, (uint32_t)u->pid, u->taps, u->n_taps,
				      u->vmm->hooks_userdata);
}

/* ---- console output --------------------------------------------------------------------- */

/*
 * Each tender's stdout and stderr go to a pipe its monitor reads; the monitor
 * passes the bytes on through its socket, and albatrossd hands them to the
 * console relay (docs/console.md), which the link to albatross-console drains:
 * nothing is lost to a tender that lives a millisecond, to a restart, to
 * albatross-console being away (up to the relay's bounds) or to albatrossd
 * being away (up to the monitor's bound); past a bound the loss is counted and
 * shown.
 */
int vmm_console_relay(alb_vmm *vmm,
		      int (*send)(void *userdata, const struct alb_console_relay_segment *seg,
				  uint64_t *ret_id),
		      void *userdata, struct alb_console_relay **ret)
{
	int r;
	if (!vmm->relay &&
	    (r = alb_console_relay_new(vmm->ctx, vmm->console_backlog, vmm->console_backlog_total,
				       send, userdata, &vmm->relay)) < 0)
		return r;
	/* Every running unikernel's output from now on goes to the relay. */
	for (struct uk *u = vmm->uks; u; u = u->next)
		if (u->mon_fd >= 0 && !u->out_open) {
			(void)alb_console_relay_begin(vmm->relay, u->name, 0);
			u->out_open = true;
		}
	*ret = vmm->relay;
	return 0;
}

/* ---- the monitors ----------------------------------------------------------------------- */

/* How a run ended, beyond its tender's exit status. */
enum uk_end {
	END_EXIT,	  /* the tender exited (or was killed): its fail behaviour decides */
	END_HOST_STOP,	  /* its monitor stopped it on SIGTERM: the host shuts down */
	END_MONITOR_LOST, /* its monitor is gone: the tender died with it */
};

static void uk_exit(struct uk *u, int how, int status, uint64_t exited_us, enum uk_end end);

/* A monitor started here: reaped when it ends (its tender's exit comes through its socket). */
struct vmm_child {
	struct vmm_child *next;
	alb_vmm *vmm;
	alb_source *source;
};

static int child_reaped(alb_source *source, int pid, int how, int status, void *userdata)
{
	struct vmm_child *c = userdata;
	for (struct vmm_child **p = &c->vmm->children; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	alb_source_free(c->source);
	free(c);
	return 0;
}

/*
 * fd moved to FD_SETSIZE or above when the limit allows (fd itself otherwise), close-on-exec.
 * Each unikernel holds fds (its monitor's connection, the pidfd of a monitor started here)
 * for its whole life: with a thousand of them, the fds below FD_SETSIZE stay free for the
 * libraries that select() on what they open (libnftables aborts on an fd past it).
 */
static int fd_high(int fd)
{
	if (fd < 0 || fd >= FD_SETSIZE)
		return fd;
	int h = fcntl(fd, F_DUPFD_CLOEXEC, FD_SETSIZE);
	if (h < 0)
		return fd;
	close(fd);
	return h;
}

static void child_watch(alb_vmm *vmm, pid_t pid)
{
	struct vmm_child *c = calloc(1, sizeof(*c));
	int pidfd = c ? fd_high((int)syscall(SYS_pidfd_open, pid, 0)) : -1;
	if (!c || pidfd < 0 ||
	    alb_loop_add_child(vmm->loop, pid, pidfd, child_reaped, c, &c->source) < 0) {
		alb_log_warn(vmm->ctx,
			     "Failed to watch the monitor %d: it stays a zombie when it ends",
			     (int)pid);
		free(c);
		return;
	}
	c->vmm = vmm;
	c->next = vmm->children;
	vmm->children = c;
}

/* <rundir>/u/<key>, made if absent. */
static int uk_dir(struct uk *u, char buf[PATH_MAX], bool make)
{
	alb_vmm *vmm = u->vmm;
	if (snprintf(buf, PATH_MAX, "%s/u", vmm->rundir) >= PATH_MAX)
		return alb_error(vmm->ctx, ENAMETOOLONG, "the rundir '%s' is too long",
				 vmm->rundir);
	if (make && mkdir(buf, 0700) < 0 && errno != EEXIST)
		return alb_error(vmm->ctx, errno, "Failed to create '%s': %s", buf,
				 strerror(errno));
	snprintf(buf + strlen(buf), PATH_MAX - strlen(buf), "/%s", u->key);
	if (make && mkdir(buf, 0700) < 0 && errno != EEXIST)
		return alb_error(vmm->ctx, errno, "Failed to create '%s': %s", buf,
				 strerror(errno));
	return 0;
}

/* The socket of the monitor of u's current run. */
static void uk_sock_path(struct uk *u, char buf[PATH_MAX])
{
	char dir[PATH_MAX];
	(void)uk_dir(u, dir, false);
	if (snprintf(buf, PATH_MAX, "%s/%" PRIu64 ".sock", dir, u->run) >= PATH_MAX)
		buf[0] = '\0'; /* cannot be: uk_spawn checked it */
}

/* The SHA-256 of u's configuration as the state stores it, in hex: what its monitor runs. */
static int uk_config_hash(struct uk *u, char hex[65])
{
	_cleanup_(alb_state_freep) struct alb_state *s = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	uint8_t digest[32];
	int r;
	if ((r = alb_state_new(&s)) < 0 ||
	    (r = alb_state_add_unikernel(u->vmm->ctx, s, u->name, u->config)) < 0 ||
	    (r = alb_state_encode(u->vmm->ctx, s, &buf, &len)) < 0)
		return r;
	if (alb_sha256(buf, len, digest) < 0)
		return alb_error(u->vmm->ctx, EIO, "Failed to hash the configuration of '%s'",
				 u->name_s);
	alb_digest_hex(digest, hex);
	return 0;
}

/* Writes <rundir>/u/<key>/run (monitor-private.h): what an albatrossd started later needs
 * to adopt u's run. intent: NULL, "destroy" or "restart" (under way). After its tender
 * exited: wait_us, the restart due (CLOCK_MONOTONIC), or failed, why it failed for good. */
static int uk_run_write_ended(struct uk *u, const char *intent, uint64_t wait_us,
			      const char *failed)
{
	alb_vmm *vmm = u->vmm;
	char dir[PATH_MAX], path[PATH_MAX + 8];
	_cleanup_free_ char *buf = NULL;
	size_t size = 0;
	struct alb_run_file rf = {
	    .run = u->run,
	    .taps = u->taps,
	    .n_taps = u->n_taps,
	    .restarts = u->tally.restarts,
	    .backoff_us = u->tally.backoff_us,
	    .exits = u->tally.exits,
	    .n_exits = u->tally.n_exits,
	    .destroy = intent && streq(intent, "destroy"),
	    .restart = intent && streq(intent, "restart"),
	    .wait_us = wait_us,
	    .failed = (char *)failed,
	    .exit_kind = wait_us || failed ? u->last_exit.kind : 0,
	    .exit_value = wait_us || failed ? u->last_exit.value : 0,
	};
	snprintf(rf.name, sizeof(rf.name), "%s", u->name_s);
	int r;
	if ((r = uk_dir(u, dir, true)) < 0 || (r = uk_config_hash(u, rf.config)) < 0)
		return r;
	if ((r = alb_run_file_format(&rf, &buf, &size)) < 0)
		return alb_error(vmm->ctx, -r, "Failed to write the run file of '%s'", u->name_s);
	snprintf(path, sizeof(path), "%s/run", dir);
	return alb_atomic_replace(vmm->ctx, path, buf, size, 0600);
}

static int uk_run_write(struct uk *u, const char *intent)
{
	return uk_run_write_ended(u, intent, 0, NULL);
}

/* Reads dir/run; false if it is absent or not one. */
static bool run_file_read(alb_vmm *vmm, const char *dir, struct alb_run_file *rf)
{
	char path[PATH_MAX + 8];
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	*rf = (struct alb_run_file){0};
	if (snprintf(path, sizeof(path), "%s/run", dir) >= (int)sizeof(path) ||
	    alb_read_file(vmm->ctx, path, 1 << 16, &buf, &len) < 0)
		return false;
	if (alb_run_file_parse((const char *)buf, len, rf) < 0) {
		alb_log_warn(vmm->ctx, "'%s' is not a run file: what it names is not adopted",
			     path);
		return false;
	}
	return true;
}

/* The run of u is over for good (destroyed): its directory goes. */
static void uk_dir_remove(struct uk *u)
{
	char dir[PATH_MAX], path[PATH_MAX + 8];
	if (uk_dir(u, dir, false) < 0)
		return;
	snprintf(path, sizeof(path), "%s/run", dir);
	(void)unlink(path);
	(void)rmdir(dir);
}

/* A monitor's wait status as the loop reports a child's end. */
static void wait_status(int st, int *how, int *status)
{
	if (WIFEXITED(st)) {
		*how = ALB_CHILD_EXITED;
		*status = WEXITSTATUS(st);
	} else {
		*how = WCOREDUMP(st) ? ALB_CHILD_DUMPED : ALB_CHILD_KILLED;
		*status = WIFSIGNALED(st) ? WTERMSIG(st) : SIGKILL;
	}
}

/* The connection to u's monitor is over. */
static void uk_mon_close(struct uk *u)
{
	u->mon_source = alb_source_free(u->mon_source);
	u->ack_timer = alb_source_free(u->ack_timer);
	if (u->mon_fd >= 0)
		close(u->mon_fd);
	u->mon_fd = -1;
	u->mon_reader = (struct alb_monitor_reader){0};
}

static int uk_mon_attach(struct uk *u, int fd);
static void uk_taps_keep(struct uk *u);
static void uk_reply_all(struct uk *u, int r, const char *text);
static void shutdown_check(alb_vmm *vmm);
static void uk_set_failed(struct uk *u, const char *fmt, ...) _printf_(2, 3);

/*
 * The connection to u's monitor ended before the tender's exit (!alive), or the
 * monitor spoke nonsense (alive). A connection that ended is made again: a
 * newer connection replaces an older one, and that alone does not mean the
 * monitor is gone. A monitor that is gone took its tender with it; one that
 * speaks nonsense is ended. Either way u is failed, not forgotten: it stays in
 * the state, and a restart runs it again.
 */
/* u's monitor may run on, and its tender with it, out of reach: nothing of u's is released
 * or started again; u is failed until someone stops them and restarts it. */
static void uk_mon_unreachable(struct uk *u, const char *sock, const char *why)
{
	alb_vmm *vmm = u->vmm;
	alb_log_err(vmm->ctx,
		    "The monitor of '%s' (tender pid %d, socket %s) %s and cannot be stopped: "
		    "stop it by hand, then restart '%s'",
		    u->name_s, u->pid, sock, why, u->name_s);
	uk_mon_close(u);
	if (u->out_open && vmm->relay)
		(void)alb_console_relay_end(vmm->relay, u->name, 0);
	u->out_open = false;
	uk_taps_keep(u);
	alb_strv_free(u->block_files);
	u->block_files = NULL;
	u->n_block_files = 0;
	u->pid = 0;
	u->timer = alb_source_free(u->timer);
	u->destroying = false;
	if (vmm->hooks.stopped)
		vmm->hooks.stopped(vmm, u->name, vmm->hooks_userdata);
	uk_set_failed(u, "its monitor (socket %s) %s and cannot be stopped", sock, why);
	uk_reply_all(u, -EBUSY, "its monitor cannot be stopped (see albatrossd's log)");
	shutdown_check(vmm);
}

static void uk_mon_lost(struct uk *u, const char *why, bool alive)
{
	alb_vmm *vmm = u->vmm;
	char sock[PATH_MAX];
	uk_sock_path(u, sock);
	if (!alive) {
		int fd, r = alb_monitor_connect(vmm->ctx, sock, &fd);
		if (r == 0 && u->mon_reconnects++ < 100) {
			/* What was taken and not acknowledged comes again: not passed on twice. */
			uint64_t skip = u->mon_data - u->mon_acked;
			uk_mon_close(u);
			if (uk_mon_attach(u, fd) < 0)
				return uk_mon_unreachable(u, sock, "cannot be read");
			u->mon_skip = skip;
			alb_log_info(vmm->ctx,
				     "Connected again to the monitor of '%s' (%s: another "
				     "connection replaced ours)",
				     u->name_s, why);
			return;
		}
		if (r == 0)
			close(fd); /* there, but it keeps dropping us: ended as a rogue */
		else if (r != -ECONNREFUSED && r != -ENOENT)
			return uk_mon_unreachable(u, sock, alb_ctx_last_error(vmm->ctx));
		alive = r == 0;
	}
	if (alive) {
		(void)alb_monitor_send(u->mon_fd, 'K');
		if (!alb_monitor_kill(u->mon_fd, sock))
			return uk_mon_unreachable(u, sock, why);
	}
	alb_log_err(vmm->ctx,
		    "The monitor of '%s' (tender pid %d) is gone (%s): its tender dies "
		    "with it",
		    u->name_s, u->pid, why);
	(void)unlink(sock);
	uk_exit(u, ALB_CHILD_KILLED, SIGKILL, 0, END_MONITOR_LOST);
}

static int uk_mon_frame(void *userdata, const struct alb_monitor_frame *f)
{
	struct uk *u = userdata;
	alb_vmm *vmm = u->vmm;
	switch (f->kind) {
	case ALB_MONITOR_DATA: {
		u->mon_reconnects = 0;
		u->mon_data += f->len;
		size_t skip = u->mon_skip < f->len ? (size_t)u->mon_skip : f->len;
		u->mon_skip -= skip;
		if (skip == f->len)
			return 0;
		if (vmm->watch.console)
			vmm->watch.console(vmm, u->name, f->data + skip, f->len - skip,
					   vmm->watch_userdata);
		if (vmm->relay)
			(void)alb_console_relay_data(vmm->relay, u->name, 0, f->data + skip,
						     f->len - skip);
		else
			alb_log_debug(vmm->ctx, "%s: console: %.*s", u->name_s,
				      (int)(f->len - skip), (const char *)f->data + skip);
		return 0;
	}
	case ALB_MONITOR_LOST:
		if (!u->warned_lost)
			alb_log_warn(vmm->ctx,
				     "%" PRIu64 " bytes of the console output of '%s' were lost "
				     "in its monitor, which keeps 1 MiB while albatrossd does not "
				     "read (later losses of this run are counted in its console)",
				     f->lost, u->name_s);
		u->warned_lost = true;
		if (vmm->relay)
			(void)alb_console_relay_lost(vmm->relay, u->name, f->lost);
		return 0;
	case ALB_MONITOR_EXIT: {
		char sock[PATH_MAX];
		int how, status;
		uk_sock_path(u, sock);
		/* The exit is handled (and what must last, saved) before the monitor is told
		 * that it is taken: a kill in between leaves the exit to the next albatrossd. */
		int fd = TAKE_FD(u->mon_fd);
		u->mon_source = alb_source_free(u->mon_source);
		wait_status(f->status, &how, &status);
		char dir[PATH_MAX];
		(void)uk_dir(u, dir, false);
		uk_exit(u, how, status, f->exited_us, f->host_stop ? END_HOST_STOP : END_EXIT);
		crash_point(vmm, "exit-handled");
		/* Taken: the monitor ends; its socket (stale from now on, whoever removes it:
		 * a start removes what nobody listens on) and, if u is gone, its directory. */
		(void)alb_monitor_send(fd, 'A');
		close(fd);
		crash_point(vmm, "exit-acknowledged");
		(void)unlink(sock);
		(void)rmdir(dir);
		return 1; /* u may be gone */
	}
	default:
		return 0;
	}
}

static int uk_ack_timer(alb_source *source, void *userdata);

/* What was taken is the monitor's to forget (its exit waits for that): told now, or
 * again shortly when its socket is full. */
static void uk_mon_ack(struct uk *u)
{
	if (u->mon_fd < 0 || u->mon_data == u->mon_acked || u->ack_timer)
		return;
	if (alb_monitor_ack(u->mon_fd, u->mon_data) == 0)
		u->mon_acked = u->mon_data;
	else if (alb_loop_add_timer(u->vmm->loop, 10000, uk_ack_timer, u, &u->ack_timer) < 0)
		alb_log_warn(u->vmm->ctx, "Failed to acknowledge the console output of '%s'",
			     u->name_s);
}

static int uk_ack_timer(alb_source *source, void *userdata)
{
	struct uk *u = userdata;
	u->ack_timer = alb_source_free(u->ack_timer);
	uk_mon_ack(u);
	return 0;
}

static int uk_mon_io(alb_source *source, int fd, uint32_t events, void *userdata)
{
	struct uk *u = userdata;
	uint8_t buf[65536];
	int r = 0;
	/* A budget, so that busy unikernels take turns. */
	for (int i = 0; i < 4 && r == 0; i++) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			uk_mon_lost(u, n == 0 ? "its connection ended" : strerror(errno), false);
			return 0;
		}
		r = alb_monitor_feed(u->vmm->ctx, &u->mon_reader, buf, (size_t)n, uk_mon_frame, u);
		if (r > 0)
			return 0; /* the exit: u may be gone */
		if (r < 0) {
			uk_mon_lost(u, alb_ctx_last_error(u->vmm->ctx), true);
			return 0;
		}
	}
	uk_mon_ack(u);
	return 0;
}

/* Reads the monitor of u's run from fd (connected), from now on in the loop. */
static int uk_mon_attach(struct uk *u, int fd)
{
	alb_vmm *vmm = u->vmm;
	fd = fd_high(fd);
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0 ||
	    alb_loop_add_io(vmm->loop, fd, ALB_IO_IN, uk_mon_io, u, &u->mon_source) < 0) {
		close(fd);
		return alb_error(vmm->ctx, errno ? errno : ENOMEM,
				 "Failed to watch the monitor of '%s'", u->name_s);
	}
	u->mon_fd = fd;
	u->mon_reader = (struct alb_monitor_reader){0};
	u->mon_data = u->mon_acked = u->mon_skip = 0; /* counted per connection */
	if (vmm->relay && !u->out_open) {
		(void)alb_console_relay_begin(vmm->relay, u->name, 0);
		u->out_open = true;
	}
	return 0;
}

/* Asks u's tender to stop: SIGTERM, or SIGKILL (through its monitor, which alone knows that
 * the pid is still the tender's). */
static void uk_signal(struct uk *u, int sig)
{
	if (u->mon_fd >= 0 && alb_monitor_send(u->mon_fd, sig == SIGKILL ? 'K' : 'T') < 0)
		alb_log_warn(u->vmm->ctx, "Failed to ask the monitor of '%s' to stop it: %s",
			     u->name_s, strerror(errno));
}

/* ---- running a tender ------------------------------------------------------------------- */

/*
 * <rundir>/taps lists the taps in use, so that a start after a crash of
 * albatrossd removes the ones it left (taps are persistent: they outlive their
 * tender). Written atomically whenever the set changes.
 */
static int taps_record(alb_vmm *vmm)
{
	char path[PATH_MAX];
	_cleanup_free_ char *buf = NULL;
	size_t size = 0;
	snprintf(path, sizeof(path), "%s/taps", vmm->rundir);
	FILE *f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	for (struct uk *u = vmm->uks; u; u = u->next)
		for (uint32_t i = 0; i < u->n_taps; i++)
			fprintf(f, "%s\n", u->taps[i]);
	for (uint32_t i = 0; i < vmm->n_stale_taps; i++)
		fprintf(f, "%s\n", vmm->stale_taps[i]);
	if (vmm->tap_pending[0])
		fprintf(f, "%s\n", vmm->tap_pending);
	if (fclose(f) != 0)
		return -ENOMEM;
	int r = alb_atomic_replace(vmm->ctx, path, buf, size, 0600);
	if (r < 0)
		alb_log_err(vmm->ctx, "%s", alb_ctx_last_error(vmm->ctx));
	return r;
}

/* A tap is about to persist: it is recorded first, so that a crash cannot leak it. */
static int tap_reserve(void *userdata, const char *name)
{
	alb_vmm *vmm = userdata;
	snprintf(vmm->tap_pending, sizeof(vmm->tap_pending), "%s", name);
	int r = taps_record(vmm);
	if (r < 0)
		vmm->tap_pending[0] = '\0';
	else
		crash_point(vmm, "tap-reserved");
	return r;
}

static bool tap_in_use(alb_vmm *vmm, const char *tap)
{
	for (struct uk *u = vmm->uks; u; u = u->next)
		for (uint32_t i = 0; i < u->n_taps; i++)
			if (streq(u->taps[i], tap))
				return true;
	return false;
}

/* Removes the taps and FIFOs that a previous albatrossd left behind (not those of the
 * unikernels adopted). */
static int stale_tap_add(alb_vmm *vmm, const char *tap);

static void leftovers_remove(alb_vmm *vmm)
{
	char path[PATH_MAX];
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	snprintf(path, sizeof(path), "%s/taps", vmm->rundir);
	if (alb_read_file(vmm->ctx, path, 1 << 20, &buf, &len) == 0) {
		char *save = NULL;
		buf[len] = '\0';
		for (char *t = strtok_r((char *)buf, "\n", &save); t;
		     t = strtok_r(NULL, "\n", &save)) {
			if (tap_in_use(vmm, t))
				continue;
			int r = alb_net_tap_remove(vmm->net, t);
			if (r == 0)
				alb_log_notice(vmm->ctx, "Removed tap '%s' left by a previous run",
					       t);
			else if (r != -ENOENT)
				(void)stale_tap_add(vmm, t); /* still held: later */
		}
		/* Not removed: alb_vmm_start() replaces it with the taps in use. */
	}
	/* A write of the taps file that a crash interrupted. */
	_cleanup_(closedirp) DIR *rd = opendir(vmm->rundir);
	for (struct dirent *e; rd && (e = readdir(rd));)
		if (!strncmp(e->d_name, "taps.tmp.", 9))
			(void)unlinkat(dirfd(rd), e->d_name, 0);
	/* Console FIFOs of versions before the pipes. */
	snprintf(path, sizeof(path), "%s/fifo", vmm->rundir);
	_cleanup_(closedirp) DIR *d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d));)
		if (e->d_name[0] != '.')
			(void)unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		(void)rmdir(path);
	/* Temporary files of writes and uploads that a crash interrupted. */
	static const char *const dirs[] = {"", "/images", "/block"};
	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		snprintf(path, sizeof(path), "%s%s", vmm->dbdir, dirs[i]);
		_cleanup_(closedirp) DIR *t = opendir(path);
		for (struct dirent *e; t && (e = readdir(t));)
			if (!strncmp(e->d_name, "state.tmp.", 10) ||
			    streq(e->d_name, "state.bak.tmp") ||
			    !strncmp(e->d_name, ".upload-", 8) || !strncmp(e->d_name, ".image-", 7))
				(void)unlinkat(dirfd(t), e->d_name, 0);
	}
}

/* Removes the taps kept for later; again while some are still held. */
static int stale_taps_timer(alb_source *source, void *userdata)
{
	alb_vmm *vmm = userdata;
	uint32_t k = 0;
	for (uint32_t i = 0; i < vmm->n_stale_taps; i++) {
		int r = alb_net_tap_remove(vmm->net, vmm->stale_taps[i]);
		if (r == 0 || r == -ENOENT) {
			alb_log_info(vmm->ctx, "Removed tap '%s', released by its tender",
				     vmm->stale_taps[i]);
			free(vmm->stale_taps[i]);
		} else
			vmm->stale_taps[k++] = vmm->stale_taps[i];
	}
	bool changed = k != vmm->n_stale_taps;
	vmm->n_stale_taps = k;
	if (vmm->stale_taps)
		vmm->stale_taps[k] = NULL;
	if (changed)
		(void)taps_record(vmm);
	vmm->stale_tries = changed ? 0 : vmm->stale_tries + 1;
	if (k && vmm->stale_tries >= 600) {
		/* Ten minutes: no dying tender takes that long. They stay recorded for the
		 * next start. */
		for (uint32_t i = 0; i < k; i++)
			alb_log_err(vmm->ctx,
				    "Tap '%s' is still held: it is left, and recorded in "
				    "<rundir>/taps",
				    vmm->stale_taps[i]);
		k = 0;
	}
	if (k == 0 || alb_source_set_timer(source, 1000000) < 0)
		vmm->stale_timer = alb_source_free(vmm->stale_timer);
	return 0;
}

/* A tap that could not be removed yet: recorded, and tried again every second. */
static int stale_tap_add(alb_vmm *vmm, const char *tap)
{
	if (alb_strv_push(&vmm->stale_taps, &vmm->n_stale_taps, tap) < 0)
		return -ENOMEM;
	vmm->stale_tries = 0;
	if (!vmm->stale_timer &&
	    alb_loop_add_timer(vmm->loop, 1000000, stale_taps_timer, vmm, &vmm->stale_timer) < 0)
		alb_log_warn(vmm->ctx, "Failed to schedule the removal of tap '%s'", tap);
	return 0;
}

/* u's taps, which a tender may still hold, are kept for a later removal (u lets go). */
static void uk_taps_keep(struct uk *u)
{
	for (uint32_t i = 0; i < u->n_taps; i++)
		(void)stale_tap_add(u->vmm, u->taps[i]);
	alb_strv_free(u->taps);
	u->taps = NULL;
	u->n_taps = 0;
	(void)taps_record(u->vmm);
}

static void uk_release_runtime(struct uk *u)
{
	alb_vmm *vmm = u->vmm;
	uk_mon_close(u);
	if (u->out_open && vmm->relay)
		(void)alb_console_relay_end(vmm->relay, u->name, 0);
	u->out_open = false;
	/* Going away and leaving u to its monitor: its taps stay, and stay recorded. A tap
	 * still held (a tender that dies with its monitor dies a moment later) is kept
	 * and removed later. */
	for (uint32_t i = 0; i < u->n_taps && !vmm->detaching; i++) {
		int r = alb_net_tap_remove(vmm->net, u->taps[i]);
		if (r < 0 && r != -ENOENT && stale_tap_add(vmm, u->taps[i]) < 0)
			alb_log_err(vmm->ctx, "Failed to remove tap '%s' of '%s': %s", u->taps[i],
				    u->name_s, alb_ctx_last_error(vmm->ctx));
	}
	bool had_taps = u->n_taps > 0;
	alb_strv_free(u->taps);
	u->taps = NULL;
	u->n_taps = 0;
	if (had_taps && !vmm->detaching)
		(void)taps_record(vmm);
	alb_strv_free(u->block_files);
	u->block_files = NULL;
	u->n_block_files = 0;
	u->pid = 0;
}

/* A listening Unix socket at path, close-on-exec (the monitor's child clears that). */
static int monitor_listen(alb_ctx *ctx, const char *path, int *ret_fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path) >= (int)sizeof(sa.sun_path))
		return alb_error(ctx, ENAMETOOLONG, "the monitor's socket path '%s' is too long",
				 path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return alb_error(ctx, errno, "Failed to create a socket: %s", strerror(errno));
	(void)unlink(path); /* a stale one: no monitor listens there (monitors_adopt ended it) */
	mode_t old = umask(0077);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(fd, 4) < 0) {
		r = alb_error(ctx, errno, "Failed to listen on the monitor's socket '%s': %s", path,
			      strerror(errno));
		(void)unlink(path);
		return r;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static void cpu_freep(cpu_set_t **p)
{
	if (*p)
		CPU_FREE(*p);
}

/* Writes "-ERRNO STAGE\n" to fd 3 (async-signal-safe: between fork and exec). */
static void report_failure(int err, int stage)
{
	char buf[32], *p = buf + sizeof(buf);
	*--p = '\n';
	*--p = (char)('0' + stage % 10);
	if (stage >= 10)
		*--p = (char)('0' + stage / 10 % 10);
	*--p = ' ';
	do
		*--p = (char)('0' + err % 10);
	while ((err /= 10) > 0);
	*--p = '-';
	(void)!write(3, p, (size_t)(buf + sizeof(buf) - p));
}

/* A start between the fork of its monitor and the monitor's report (uk_spawn_begin(),
 * uk_spawn_end()): several are under way at once when the state is restored. */
struct uk_spawn {
	pid_t pid;  /* the monitor */
	int report; /* its report: the tender's pid, or why it failed */
	char sock[PATH_MAX];
	struct alb_tender_info_local tender;
};

/*
 * Starts the monitor of a new run of u, which starts the tender argv and tells
 * its pid (uk_spawn_end() waits for that, then connects to the monitor). The
 * monitor runs in a session of its own, pinned to u's CPUs (the tender inherits
 * both), and outlives albatrossd.
 */

static int uk_spawn_begin(struct uk *u, char **argv, struct uk_spawn *sp)
{
	alb_vmm *vmm = u->vmm;
	alb_ctx *ctx = vmm->ctx;
	char dir[PATH_MAX];
	char *sock = sp->sock;
	int r;
	if ((r = uk_dir(u, dir, true)) < 0)
		return r;
	u->warned_lost = false;
	/* A run's number is its own for the life of the rundir: the start time in us, or
	 * one more than the last. */
	uint64_t now = alb_now_realtime();
	u->run = now > u->run ? now : u->run + 1;
	if (snprintf(sock, sizeof(sp->sock), "%s/%" PRIu64 ".sock", dir, u->run) >=
	    (int)sizeof(((struct sockaddr_un *)0)->sun_path))
		return alb_error(ctx, ENAMETOOLONG,
				 "the rundir '%s' is too long: the socket of a monitor below it "
				 "would be longer than %zu bytes",
				 vmm->rundir, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	/* First: whatever happens next, the next albatrossd knows this run. */
	if ((r = uk_run_write(u, NULL)) < 0)
		return r;
	crash_point(vmm, "spawn-run-file");
	size_t n = 0;
	while (argv[n])
		n++;
	_cleanup_free_ char **margv = calloc(n + 8, sizeof(char *));
	char uid[16], gid[16];
	if (!margv)
		return -ENOMEM;
	size_t k = 0;
	margv[k++] = vmm->monitor_path;
	margv[k++] = sock;
	if (vmm->has_tender_user) {
		snprintf(uid, sizeof(uid), "%" PRIu32, vmm->tender_uid);
		snprintf(gid, sizeof(gid), "%" PRIu32, vmm->tender_gid);
		margv[k++] = (char *)"--uid";
		margv[k++] = uid;
		margv[k++] = (char *)"--gid";
		margv[k++] = gid;
	}
	margv[k++] = (char *)"--";
	for (size_t i = 0; i < n; i++)
		margv[k++] = argv[i];
	/* The CPU set, made before the fork: the child only calls sched_setaffinity(). */
	uint32_t max_cpu = 0;
	for (uint32_t i = 0; i < u->config->n_cpuids; i++)
		if (u->config->cpuids[i] > max_cpu)
			max_cpu = u->config->cpuids[i];
	size_t cpus_size = CPU_ALLOC_SIZE(max_cpu + 1);
	_cleanup_(cpu_freep) cpu_set_t *cpus = CPU_ALLOC(max_cpu + 1);
	if (!cpus)
		return -ENOMEM;
	CPU_ZERO_S(cpus_size, cpus);
	for (uint32_t i = 0; i < u->config->n_cpuids; i++)
		CPU_SET_S(u->config->cpuids[i], cpus_size, cpus);
	/* The monitor's socket exists before the monitor does, and as long as it lives (it
	 * inherits it): a start after a kill of albatrossd at any moment finds it. */
	_cleanup_close_ int listener = -1;
	if ((r = monitor_listen(ctx, sock, &listener)) < 0) {
		return r;
	}
	int report[2];
	if (pipe2(report, O_CLOEXEC) < 0) {
		(void)unlink(sock);
		return alb_error(ctx, errno, "Failed to create a pipe: %s", strerror(errno));
	}
	/* vfork: the child shares our memory until its exec (it writes nothing of ours: its
	 * signal dispositions and mask are its own), and no page of albatrossd's is copied or
	 * made copy-on-write, which with a thousand unikernels was most of a start's cost. */
	pid_t pid = vfork();
	if (pid < 0) {
		r = alb_error(ctx, errno, "Failed to fork: %s", strerror(errno));
		close(report[0]);
		close(report[1]);
		(void)unlink(sock);
		return r;
	}
	if (pid == 0) {
		/* The child: only async-signal-safe work until exec. */
		sigset_t none;
		sigemptyset(&none);
		for (int s = 1; s < NSIG; s++)
			if (s != SIGKILL && s != SIGSTOP)
				signal(s, SIG_DFL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setsid();
		/* fd 3: the report to albatrossd, fd 4: the listening socket (and nothing
		 * else of ours). Neither may be overwritten by the other's dup2. */
		int rep_fd = report[1], lis_fd = listener;
		if (rep_fd == 4 && (rep_fd = fcntl(rep_fd, F_DUPFD_CLOEXEC, 5)) < 0)
			_exit(127);
		if (lis_fd == 3 && (lis_fd = fcntl(lis_fd, F_DUPFD_CLOEXEC, 5)) < 0)
			_exit(127);
		if ((rep_fd == 3 ? fcntl(3, F_SETFD, 0) : dup2(rep_fd, 3)) < 0 ||
		    (lis_fd == 4 ? fcntl(4, F_SETFD, 0) : dup2(lis_fd, 4)) < 0)
			_exit(127);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0) {
			report_failure(errno, 11);
			_exit(127);
		}
		if (sched_setaffinity(0, cpus_size, cpus) < 0) {
			report_failure(errno, 12);
			_exit(127);
		}
		execv(margv[0], margv);
		report_failure(errno, 13);
		_exit(127);
	}
	close(report[1]);
	close(TAKE_FD(listener)); /* the monitor's now */
	sp->pid = pid;
	sp->report = report[0];
	return 0;
}

/* Waits for the report of the monitor uk_spawn_begin() started; then u runs (u->pid). */
static int uk_spawn_end(struct uk *u, struct uk_spawn *sp)
{
	alb_vmm *vmm = u->vmm;
	alb_ctx *ctx = vmm->ctx;
	const char *sock = sp->sock;
	pid_t pid = sp->pid;
	int r;
	char rep[64];
	size_t got = 0;
	for (;;) {
		ssize_t m = read(sp->report, rep + got, sizeof(rep) - 1 - got);
		if (m < 0 && errno == EINTR)
			continue;
		if (m <= 0)
			break;
		got += (size_t)m;
	}
	close(sp->report);
	sp->report = -1;
	rep[got] = '\0';
	uint64_t tender = 0;
	char *nl = strchr(rep, '\n');
	if (nl)
		*nl = '\0';
	if (!nl || rep[0] == '-' || alb_parse_u64(rep, 1, ALB_PID_MAX, &tender) < 0) {
		int err = 0, stage = 0;
		if (nl && sscanf(rep, "-%d %d", &err, &stage) != 2)
			err = stage = 0;
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		(void)unlink(sock);
		if (err <= 0)
			return alb_error(ctx, EIO,
					 "the monitor '%s' ended without starting the tender of "
					 "'%s'",
					 vmm->monitor_path, u->name_s);
		switch (stage) {
		case 3:
			return alb_error(ctx, err,
					 "Failed to switch to the tender user for '%s': %s",
					 u->name_s, strerror(err));
		case 4:
			return alb_error(ctx, err, "Failed to execute '%s' for '%s': %s",
					 sp->tender.path, u->name_s, strerror(err));
		case 6:
			return alb_error(ctx, err,
					 "Failed to create the monitor's socket '%s' for '%s': %s",
					 sock, u->name_s, strerror(err));
		case 12:
			return alb_error(ctx, err, "Failed to pin '%s' to its CPUs: %s", u->name_s,
					 strerror(err));
		case 13:
			return alb_error(
			    ctx, err,
			    "Failed to execute the monitor '%s' for '%s': %s (albatrossd "
			    "--monitor names it)",
			    vmm->monitor_path, u->name_s, strerror(err));
		default:
			return alb_error(ctx, err,
					 "Failed to start the monitor of '%s' (stage %d): %s",
					 u->name_s, stage, strerror(err));
		}
	}
	child_watch(vmm, pid);
	crash_point(vmm, "spawn-forked");
	int fd;
	if ((r = alb_monitor_connect(ctx, sock, &fd)) < 0 || (r = uk_mon_attach(u, fd)) < 0) {
		/* Our child: its pid is its own. Its tender dies with it. */
		kill(pid, SIGKILL);
		(void)unlink(sock);
		return r;
	}
	u->pid = (int)tender;
	return 0;
}

/* u->block_files: the files of u's block devices; sectors (if not NULL): their sector sizes. */
static int uk_block_files(struct uk *u, uint32_t *sectors)
{
	alb_vmm *vmm = u->vmm;
	const alb_unikernel_config *c = u->config;
	int r;
	if (!(u->block_files = calloc((size_t)c->n_blocks + 1, sizeof(char *))))
		return -ENOMEM;
	for (uint32_t k = 0; k < c->n_blocks; k++) {
		_cleanup_(alb_name_freep) alb_name *b = NULL;
		char path[PATH_MAX];
		if ((r = vmm_block_name(vmm, u->name, c, k, &b)) < 0 ||
		    (r = vmm_block_path(vmm, b, path)) < 0)
			return r;
		if (!(u->block_files[k] = strdup(path)))
			return -ENOMEM;
		u->n_block_files++;
		struct vmm_block *dev = vmm_block_find(vmm, b);
		if (sectors)
			sectors[k] =
			    dev && dev->sector_size ? dev->sector_size : c->blocks[k].sector_size;
	}
	return 0;
}

/* Everything of a start up to the fork of its monitor; uk_start_end() waits for its report.
 * On failure nothing is left (u->pid stays 0). */
static int uk_start_begin(struct uk *u, struct uk_spawn *sp)
{
	alb_vmm *vmm = u->vmm;
	alb_ctx *ctx = vmm->ctx;
	const alb_unikernel_config *c = u->config;
	char image[PATH_MAX];
	int r;
	_cleanup_(alb_manifest_freep) alb_manifest *m = NULL;
	_cleanup_strv_free_ char **argv = NULL;
	_cleanup_free_ uint32_t *sectors = NULL; /* of each block device, as the tender gets it */
	struct alb_tender_info_local *t = &sp->tender;
	sp->report = -1;
	sp->pid = 0;
	if ((r = alb_image_path(vmm->images_dir, c->digest, image)) < 0 ||
	    (r = image_manifest(vmm, c->digest, &m)) < 0 ||
	    (r = alb_manifest_check_config(ctx, m, c)) < 0 ||
	    (r = alb_tender_find(ctx, &vmm->tenders, vmm->tender_dir, c->tender,
				 alb_manifest_get_abi_version(m), t)) < 0 ||
	    (r = alb_tender_host_check(ctx, c->tender, vmm->has_tender_user, vmm->tender_uid,
				       vmm->tender_gid)) < 0 ||
	    (c->n_nets && (r = alb_tender_net_check(ctx, vmm->has_tender_user, vmm->tender_uid,
						    vmm->tender_gid)) < 0))
		return r;

	u->taps = calloc((size_t)c->n_nets + 1, sizeof(char *));
	sectors = calloc((size_t)c->n_blocks + 1, sizeof(uint32_t));
	if (!u->taps || !sectors) {
		r = -ENOMEM;
		goto fail;
	}
	for (uint32_t k = 0; k < c->n_nets; k++) {
		char tap[16];
		r = alb_net_tap_create(vmm->net, "alb", c->nets[k].bridge,
				       vmm->has_tender_user ? vmm->tender_uid : (uid_t)-1,
				       vmm->has_tender_user ? vmm->tender_gid : (gid_t)-1,
				       tap_reserve, vmm, tap);
		if (r < 0) {
			if (vmm->tap_pending[0]) {
				vmm->tap_pending[0] = '\0';
				(void)taps_record(vmm);
			}
			alb_error_prefix(ctx, r, "network device '%s' of '%s'", c->nets[k].name,
					 u->name_s);
			goto fail;
		}
		vmm->tap_pending[0] = '\0';
		if (!(u->taps[u->n_taps] = strdup(tap))) {
			alb_net_tap_remove(vmm->net, tap);
			(void)taps_record(vmm);
			r = -ENOMEM;
			goto fail;
		}
		u->n_taps++; /* recorded already, as the pending one */
	}
	if (u->n_taps)
		crash_point(vmm, "tap-created");
	if ((r = uk_block_files(u, sectors)) < 0)
		goto fail;
	/* The tender opens them read-write as the tender user. */
	for (uint32_t k = 0; k < u->n_block_files && vmm->has_tender_user; k++)
		if (chown(u->block_files[k], vmm->tender_uid, vmm->tender_gid) < 0) {
			r = alb_error(ctx, errno,
				      "Failed to hand block device '%s' to the tender "
				      "user: %s",
				      u->block_files[k], strerror(errno));
			goto fail;
		}
	if ((r = alb_tender_argv(c, u->name_s, t->path, image, u->taps, u->block_files, sectors,
				 &argv)) < 0 ||
	    (r = uk_spawn_begin(u, argv, sp)) < 0)
		goto fail;
	return 0;
fail:
	uk_release_runtime(u);
	return r;
}

/* The rest of a start uk_start_begin() began: u runs once its monitor reported its tender. */
static int uk_start_end(struct uk *u, struct uk_spawn *sp)
{
	alb_vmm *vmm = u->vmm;
	alb_ctx *ctx = vmm->ctx;
	const alb_unikernel_config *c = u->config;
	int r;
	if ((r = uk_spawn_end(u, sp)) < 0) {
		uk_release_runtime(u);
		return r;
	}
	u->state = ALB_STATE_RUNNING;
	u->started_us = alb_now_realtime();
	u->started_mono = alb_now_monotonic();
	free(u->message);
	u->message = NULL;
	alb_log_info(ctx, "Started '%s' (pid %d, %s)", u->name_s, u->pid, sp->tender.name);
	emit(vmm, u, ALB_VMM_STARTED, 0, 0);
	uk_register(u);
	vmm_event_send(vmm, TAKE_PTR(u->created_event));
	struct alb_log_event *e = vmm_event_new(vmm, ALB_EVENT_UNIKERNEL_STARTED, u->name);
	if (e) {
		e->pid = (uint32_t)u->pid;
		e->has_digest = true;
		memcpy(e->digest, c->digest, 32);
		if (u->n_taps && (e->taps = alb_strv_dup(u->taps, u->n_taps)))
			e->n_taps = u->n_taps;
		if (u->n_block_files &&
		    (e->blocks = alb_strv_dup(u->block_files, u->n_block_files)))
			e->n_blocks = u->n_block_files;
		vmm_event_send(vmm, e);
	}
	return 0;
}

static int uk_start(struct uk *u)
{
	struct uk_spawn sp;
	/* A start (a restart command, a back-off's end) ends what the run file said of the
	 * run before: whatever happens now, a later albatrossd does not take it again. */
	if (u->run_ended) {
		if (uk_run_write(u, NULL) < 0)
			alb_log_warn(u->vmm->ctx, "%s", alb_ctx_last_error(u->vmm->ctx));
		u->run_ended = false;
	}
	int r = uk_start_begin(u, &sp);
	return r < 0 ? r : uk_start_end(u, &sp);
}

static void uk_free(struct uk *u)
{
	if (!u)
		return;
	uk_release_runtime(u);
	u->timer = alb_source_free(u->timer);
	alb_name_free(u->name);
	free(u->name_s);
	alb_unikernel_config_free(u->config);
	alb_unikernel_config_free(u->restart_with);
	alb_log_event_free(u->created_event);
	free(u->message);
	alb_tally_clear(&u->tally);
	/* Nobody will be told otherwise: albatrossd is going away. */
	for (struct waiter *w = u->waiters, *n; w; w = n) {
		n = w->next;
		w->done(u->vmm, u->name, -ECANCELED, "albatrossd is stopping", w->userdata);
		free(w);
	}
	free(u);
}

struct waiter *vmm_waiter_new(alb_vmm_done_fn done, void *userdata)
{
	if (!done)
		return NULL;
	struct waiter *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->done = done;
	w->userdata = userdata;
	return w;
}

/* Tells everyone waiting for u: r, and text (a failure's reason: text, or the context's). */
static void uk_reply_all(struct uk *u, int r, const char *text)
{
	struct waiter *w = u->waiters;
	u->waiters = NULL;
	_cleanup_free_ char *why =
	    r < 0 ? strdup(text ? text : alb_ctx_last_error(u->vmm->ctx)) : NULL;
	while (w) {
		struct waiter *n = w->next;
		/* Told once what was done is durable (group commit, docs/state.md). */
		const char *t = text;
		if (r >= 0 && w->replace && t && streq(t, "restarted"))
			t = "replaced";
		else if (r >= 0 && w->replace && t &&
			 streq(t, "restarts at the next start of albatrossd"))
			t = "replaced: it starts at the next start of albatrossd";
		vmm_when_durable(u->vmm, u->name, r, r < 0 ? (why ? why : strerror(-r)) : t,
				 w->done, w->userdata);
		free(w);
		w = n;
	}
}

static void uk_set_failed(struct uk *u, const char *fmt, ...) _printf_(2, 3);
static void uk_set_failed(struct uk *u, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(u->message);
	if (vasprintf(&u->message, fmt, ap) < 0)
		u->message = NULL;
	va_end(ap);
	u->state = ALB_STATE_FAILED;
	alb_log_err(u->vmm->ctx, "'%s' failed: %s", u->name_s, u->message ? u->message : "?");
	emit(u->vmm, u, ALB_VMM_FAILED, 0, 0);
	uk_event(u, ALB_EVENT_UNIKERNEL_FAILED, u->message);
}

/* Takes u out of everything and frees it. */
static void uk_finish_destroy(struct uk *u)
{
	alb_vmm *vmm = u->vmm;
	uint8_t digest[32];
	memcpy(digest, u->config->digest, 32);
	for (struct uk **p = &vmm->uks; *p; p = &(*p)->next)
		if (*p == u) {
			*p = u->next;
			break;
		}
	alb_tree_remove_unikernel(vmm->tree, u->name);
	uk_release_runtime(u);
	uk_dir_remove(u);
	vmm_persist_unikernel(vmm, u->name);
	vmm_image_unref(vmm, digest);
	alb_log_info(vmm->ctx, "Destroyed '%s'", u->name_s);
	emit(vmm, u, ALB_VMM_DESTROYED, 0, 0);
	char identity[sizeof(vmm->identity)];
	snprintf(identity, sizeof(identity), "%s", vmm->identity);
	snprintf(vmm->identity, sizeof(vmm->identity), "%s", u->destroyed_by);
	uk_event(u, ALB_EVENT_UNIKERNEL_DESTROYED, NULL);
	snprintf(vmm->identity, sizeof(vmm->identity), "%s", identity);
	uk_reply_all(u, 0, "destroyed");
	uk_free(u);
}

static int uk_restart_timer(alb_source *source, void *userdata)
{
	struct uk *u = userdata;
	u->timer = alb_source_free(u->timer);
	alb_tally_restarted(&u->tally);
	int r = uk_start(u);
	if (r < 0)
		uk_set_failed(u, "restart failed: %s", alb_ctx_last_error(u->vmm->ctx));
	return 0;
}

static int uk_kill_timer(alb_source *source, void *userdata)
{
	struct uk *u = userdata;
	u->timer = alb_source_free(u->timer);
	if (u->pid > 0) {
		alb_log_warn(u->vmm->ctx, "'%s' did not stop after SIGTERM: sending SIGKILL",
			     u->name_s);
		uk_signal(u, SIGKILL);
	}
	return 0;
}

/* Asks a running tender to stop: SIGTERM, SIGKILL after the timeout. */
static void uk_stop(struct uk *u)
{
	if (u->pid <= 0 || u->timer)
		return;
	uk_signal(u, SIGTERM);
	if (alb_loop_add_timer(u->vmm->loop, u->vmm->stop_timeout_us, uk_kill_timer, u, &u->timer) <
	    0)
		uk_signal(u, SIGKILL);
}

static void shutdown_check(alb_vmm *vmm)
{
	if (!vmm->shutdown_done)
		return;
	uint32_t running = 0;
	for (struct uk *u = vmm->uks; u; u = u->next)
		if (u->pid > 0 && !vmm->detaching)
			return;
		else if (u->pid > 0)
			running++;
	void (*done)(alb_vmm *, void *) = vmm->shutdown_done;
	vmm->shutdown_done = NULL;
	struct alb_log_event *e = vmm_event_new(vmm, ALB_EVENT_DAEMON_STOP, NULL);
	if (e && running &&
	    asprintf(&e->message, "%" PRIu32 " unikernel%s keep%s running", running,
		     running == 1 ? "" : "s", running == 1 ? "s" : "") < 0)
		e->message = NULL;
	vmm_event_send(vmm, e);
	vmm_settle(vmm);
	if (vmm->hooks.flush)
		vmm->hooks.flush(vmm, vmm->hooks_userdata);
	done(vmm, vmm->shutdown_userdata);
}

static void uk_start_again(struct uk *u)
{
	alb_unikernel_config *c = u->restart_with;
	uint8_t old[32];
	memcpy(old, u->config->digest, 32);
	u->restart_with = NULL;
	alb_unikernel_config_free(u->config);
	u->config = c;
	vmm_image_unref(u->vmm, old); /* a force-create may bring another image */
	(void)alb_tally_init(&u->tally, &u->vmm->supervise); /* same size: cannot fail */
	/* Its start is the restart command's doing, whenever the old run ended. */
	char identity[sizeof(u->vmm->identity)];
	snprintf(identity, sizeof(identity), "%s", u->vmm->identity);
	snprintf(u->vmm->identity, sizeof(u->vmm->identity), "%s", u->restarted_by);
	int r = uk_start(u);
	snprintf(u->vmm->identity, sizeof(u->vmm->identity), "%s", identity);
	u->restarted_by[0] = '\0';
	_cleanup_free_ char *why = r < 0 ? strdup(alb_ctx_last_error(u->vmm->ctx)) : NULL;
	if (r < 0)
		uk_set_failed(u, "%s", why ? why : "?");
	vmm_persist_unikernel(u->vmm, u->name);
	/* The last touch of u: a completion may destroy it. */
	uk_reply_all(u, r < 0 ? r : 0, r < 0 ? why : "restarted");
}

/*
 * The run of u is over: its tender ended (how: ALB_CHILD_*, status: its code or
 * signal) at exited_us (us since the epoch; 0: now), and end says how.
 */
static void uk_exit(struct uk *u, int how, int status, uint64_t exited_us, enum uk_end end)
{
	alb_vmm *vmm = u->vmm;
	int pid = u->pid;
	u->timer = alb_source_free(u->timer); /* a pending SIGKILL */
	u->last_exit.kind = how == ALB_CHILD_EXITED ? ALB_EXIT_CODE : ALB_EXIT_SIGNAL;
	u->last_exit.value = (uint32_t)status;
	int sig = how == ALB_CHILD_EXITED ? 0 : status, code = how == ALB_CHILD_EXITED ? status : 0;
	/* An exit while albatrossd was away counts when it happened (the crash window). */
	uint64_t now = alb_now_monotonic(), real = alb_now_realtime();
	uint64_t ago = exited_us && real > exited_us ? real - exited_us : 0;
	uint64_t at = now > ago ? now - ago : 0;
	uint64_t uptime = at > u->started_mono ? at - u->started_mono : 0;
	uk_release_runtime(u);
	u->state = ALB_STATE_STOPPED;
	if (vmm->hooks.stopped)
		vmm->hooks.stopped(vmm, u->name, vmm->hooks_userdata);
	struct alb_log_event *e = vmm_event_new(vmm, ALB_EVENT_UNIKERNEL_EXITED, u->name);
	if (e) {
		e->pid = (uint32_t)pid;
		e->exit = u->last_exit;
		vmm_event_send(vmm, e);
	}
	if (sig)
		alb_log_info(vmm->ctx, "'%s' (pid %d) was killed by signal %d", u->name_s, pid,
			     sig);
	else
		alb_log_info(vmm->ctx, "'%s' (pid %d) exited with code %d", u->name_s, pid, code);
	emit(vmm, u, ALB_VMM_EXITED, sig, code);

	if (u->destroying) {
		uk_finish_destroy(u);
		shutdown_check(vmm);
		return;
	}
	if (u->stopping || vmm->shutdown_done || end == END_HOST_STOP) {
		/* Stopping for good: a pending restart takes effect at the next start. */
		if (u->restart_with) {
			uint8_t old[32];
			memcpy(old, u->config->digest, 32);
			alb_unikernel_config_free(u->config);
			u->config = TAKE_PTR(u->restart_with);
			vmm_persist_unikernel(vmm, u->name);
			vmm_image_unref(vmm, old);
			uk_reply_all(u, 0, "restarts at the next start of albatrossd");
		}
		shutdown_check(vmm);
		return;
	}
	if (u->restart_with) {
		uk_start_again(u);
		return;
	}
	if (end == END_MONITOR_LOST) {
		/* Not the unikernel's doing: kept, failed, until a restart runs it again. */
		uk_set_failed(u, "its monitor ended unexpectedly, and its tender with it");
		return;
	}
	uint64_t delay;
	uint32_t attempt;
	char reason[ALB_SUPERVISE_REASON_MAX];
	switch (alb_tally_exit(&u->tally, &vmm->supervise, u->config, sig, code, uptime, at, &delay,
			       &attempt)) {
	case ALB_VERDICT_STOP:
		/* Done: nothing will run it again. */
		uk_finish_destroy(u);
		return;
	case ALB_VERDICT_CRASH_LOOP:
		uk_set_failed(u, "%s",
			      alb_tally_crash_loop_reason(&u->tally, &vmm->supervise, reason));
		/* An albatrossd started later keeps it failed (its tally with it). */
		if (uk_run_write_ended(u, NULL, 0, reason) < 0)
			alb_log_warn(vmm->ctx, "%s", alb_ctx_last_error(vmm->ctx));
		else
			u->run_ended = true;
		return;
	case ALB_VERDICT_RESTART:
		break;
	}
	u->state = ALB_STATE_RESTARTING;
	if (alb_loop_add_timer(vmm->loop, delay, uk_restart_timer, u, &u->timer) < 0) {
		uk_set_failed(u, "Failed to schedule its restart");
		return;
	}
	/* An albatrossd started before the restart waits the rest of the back-off out, and
	 * goes on with the tally (a crash loop is not forgotten by a restart of albatrossd). */
	if (uk_run_write_ended(u, NULL, now + delay > now ? now + delay : UINT64_MAX, NULL) < 0)
		alb_log_warn(vmm->ctx, "%s", alb_ctx_last_error(vmm->ctx));
	else
		u->run_ended = true;
	alb_log_info(vmm->ctx, "Restarting '%s' in %" PRIu64 " ms", u->name_s, delay / 1000);
	emit(vmm, u, ALB_VMM_RESTARTING, 0, 0);
	e = vmm_event_new(vmm, ALB_EVENT_UNIKERNEL_RESTARTING, u->name);
	if (e) {
		e->attempt = attempt;
		e->delay_us = delay;
		vmm_event_send(vmm, e);
	}
}

/* ---- the operations --------------------------------------------------------------------- */

static int uk_new(alb_vmm *vmm, const alb_name *name, const alb_unikernel_config *config,
		  struct uk **ret)
{
	struct uk *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->vmm = vmm;
	u->mon_fd = -1;
	int r = alb_tally_init(&u->tally, &vmm->supervise);
	if (r >= 0)
		r = alb_name_dup(name, &u->name);
	if (r < 0 || (r = alb_unikernel_config_dup(config, &u->config)) < 0 ||
	    !(u->name_s = name_str(name))) {
		uk_free(u);
		return r < 0 ? r : -ENOMEM;
	}
	/* Its directory below <rundir>/u: short, whatever the name's length. */
	uint8_t digest[32];
	char hex[65];
	if (alb_sha256(u->name_s, strlen(u->name_s), digest) < 0) {
		uk_free(u);
		return -ENOMEM;
	}
	alb_digest_hex(digest, hex);
	memcpy(u->key, hex, 16);
	*ret = u;
	return 0;
}

int vmm_add(alb_vmm *vmm, const alb_name *name, const alb_unikernel_config *config, struct uk **ret)
{
	if (vmm->shutdown_done)
		return alb_error(vmm->ctx, ESHUTDOWN, "albatrossd is stopping");
	struct uk *u;
	int r = uk_new(vmm, name, config, &u);
	if (r < 0)
		return r;
	if ((r = alb_tree_insert_unikernel(vmm->tree, name, config)) < 0) {
		uk_free(u);
		return r;
	}
	/* In the list before it starts, so that its taps are recorded. */
	u->next = vmm->uks;
	vmm->uks = u;
	/* "created" goes to the log just before "started" (uk_start); a start that
	 * fails leaves no trace but its reply. */
	u->created_event = vmm_event_new(vmm, ALB_EVENT_UNIKERNEL_CREATED, u->name);
	if ((r = uk_start(u)) < 0) {
		vmm->uks = u->next;
		alb_tree_remove_unikernel(vmm->tree, name);
		uk_dir_remove(u);
		uk_free(u);
		return r;
	}
	crash_point(vmm, "create-started");
	if ((r = vmm_persist_unikernel(vmm, name)) < 0) {
		/* It would not come back after a restart: do not keep it at all. */
		char why[512], n[ALB_NAME_STRING_MAX + 1];
		snprintf(why, sizeof(why), "%s", alb_ctx_last_error(vmm->ctx));
		snprintf(n, sizeof(n), "%s", u->name_s);
		vmm_destroy(vmm, u, NULL);
		return alb_error(vmm->ctx, -r,
				 "the state file could not be written (%s): '%s' is stopped again",
				 why, n);
	}
	crash_point(vmm, "create-saved");
	if (ret)
		*ret = u;
	return 0;
}

void vmm_destroy(alb_vmm *vmm, struct uk *u, struct waiter *w)
{
	/* The event comes when the tender is gone: remember who asked. */
	if (!u->destroying && vmm->identity[0])
		snprintf(u->destroyed_by, sizeof(u->destroyed_by), "%s", vmm->identity);
	if (w) {
		w->next = u->waiters;
		u->waiters = w;
	}
	if (u->destroying)
		return;
	u->destroying = true;
	if (u->pid > 0) {
		/* Should albatrossd go before the tender has: the next one ends it. */
		if (uk_run_write(u, "destroy") < 0)
			alb_log_warn(vmm->ctx, "%s", alb_ctx_last_error(vmm->ctx));
		crash_point(vmm, "destroy-intent");
		uk_stop(u);
		return;
	}
	u->timer = alb_source_free(u->timer); /* a pending restart */
	uk_finish_destroy(u);
}

int vmm_restart(alb_vmm *vmm, struct uk *u, const alb_unikernel_config *config, struct waiter *w)
{
	if (u->destroying)
		return alb_error(vmm->ctx, EBUSY, "'%s' is being destroyed", u->name_s);
	if (vmm->shutdown_done)
		return alb_error(vmm->ctx, ESHUTDOWN, "albatrossd is stopping");
	alb_unikernel_config *c;
	int r = alb_unikernel_config_dup(config ? config : u->config, &c);
	if (r < 0)
		return r;
	if (config && (r = alb_tree_replace_unikernel(vmm->tree, u->name, config)) < 0) {
		alb_unikernel_config_free(c);
		return r;
	}
	alb_unikernel_config *previous = u->restart_with;
	u->restart_with = c;
	snprintf(u->restarted_by, sizeof(u->restarted_by), "%s", vmm->identity);
	if (previous) {
		/* A restart replaced before it happened: its image may be unused now. */
		uint8_t old[32];
		memcpy(old, previous->digest, 32);
		alb_unikernel_config_free(previous);
		vmm_image_unref(vmm, old);
	}
	if (w) {
		w->next = u->waiters;
		u->waiters = w;
	}
	if (u->pid > 0) {
		/* Should albatrossd go before the tender has: the state has the new
		 * configuration, and the next albatrossd restarts it. */
		if (vmm_persist_unikernel(vmm, u->name) < 0)
			alb_log_warn(vmm->ctx, "%s", alb_ctx_last_error(vmm->ctx));
		crash_point(vmm, "restart-saved");
		if (uk_run_write(u, "restart") < 0)
			alb_log_warn(vmm->ctx, "%s", alb_ctx_last_error(vmm->ctx));
		crash_point(vmm, "restart-intent");
		uk_stop(u);
	} else {
		u->timer = alb_source_free(u->timer);
		uk_start_again(u);
	}
	return 0;
}

/*
 * Locks DIR/albatrossd.lock for this process (a POSIX record lock: the kernel
 * releases it when the process ends, however it ends) and writes our pid in it.
 * Another holder is named: -EBUSY "another albatrossd (pid N) uses DIR".
 */
static int dir_lock(alb_ctx *ctx, const char *dir, int *ret_fd)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/albatrossd.lock", dir) >= (int)sizeof(path))
		return alb_error(ctx, ENAMETOOLONG, "path '%s' is too long", dir);
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return alb_error(ctx, errno, "Failed to open '%s': %s", path, strerror(errno));
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	if (fcntl(fd, F_SETLK, &fl) < 0) {
		int e = errno;
		if (e != EACCES && e != EAGAIN)
			return alb_error(ctx, e, "Failed to lock '%s': %s", path, strerror(e));
		struct flock who = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
		if (fcntl(fd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK)
			return alb_error(ctx, EBUSY,
					 "another albatrossd (pid %d) uses %s: one at a time (its "
					 "lock is %s)",
					 (int)who.l_pid, dir, path);
		return alb_error(ctx, EBUSY, "another albatrossd uses %s (its lock is %s)", dir,
				 path);
	}
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		alb_log_warn(ctx, "Failed to write the pid into '%s': %s", path, strerror(errno));
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* ---- the public API --------------------------------------------------------------------- */

ALB_EXPORT int alb_vmm_new(alb_ctx *ctx, alb_loop *loop, const char *dbdir, const char *rundir,
			   alb_vmm **ret_vmm)
{
	if (!loop || !dbdir || !rundir || !ret_vmm)
		return alb_error(ctx, EINVAL, "the supervisor needs a loop, a dbdir and a rundir");
	alb_vmm *vmm = calloc(1, sizeof(*vmm));
	if (!vmm)
		return -ENOMEM;
	vmm->db_lock = vmm->run_lock = -1;
	vmm->ctx = alb_ctx_ref(ctx);
	vmm->loop = alb_loop_ref(loop);
	vmm->stop_timeout_us = 5000000;
	vmm->crash_at = secure_getenv("ALBATROSS_CRASH_AT");
	vmm->held_tail = &vmm->held;
	const char *monitor = secure_getenv("ALBATROSS_MONITOR");
	if (!(vmm->monitor_path = strdup(monitor && monitor[0] ? monitor : ALB_MONITOR_PATH))) {
		alb_vmm_free(vmm);
		return -ENOMEM;
	}
	alb_supervise_params_init(&vmm->supervise);
	int r = -ENOMEM;
	vmm->dbdir = strdup(dbdir);
	vmm->rundir = strdup(rundir);
	if (!vmm->dbdir || !vmm->rundir)
		goto fail;
	snprintf(vmm->state_path, sizeof(vmm->state_path), "%s/state", dbdir);
	snprintf(vmm->images_dir, sizeof(vmm->images_dir), "%s/images", dbdir);
	char dir[PATH_MAX];
	/* Traversable, not listable: a tender run as --tender-user reaches its image
	 * and block files by path, and nothing else. */
	if ((r = mkdir_p(ctx, dbdir, 0711)) < 0 || (r = mkdir_p(ctx, vmm->images_dir, 0711)) < 0)
		goto fail;
	snprintf(vmm->block_dir, sizeof(vmm->block_dir), "%s/block", dbdir);
	snprintf(dir, sizeof(dir), "%s", vmm->block_dir);
	if ((r = mkdir_p(ctx, dir, 0711)) < 0 || (r = mkdir_p(ctx, rundir, 0755)) < 0)
		goto fail;
	/* Before anything in them is touched: one supervisor per dbdir and rundir. */
	if ((r = dir_lock(ctx, dbdir, &vmm->db_lock)) < 0 ||
	    (r = dir_lock(ctx, rundir, &vmm->run_lock)) < 0)
		goto fail;
	if ((r = alb_tree_new(ctx, &vmm->tree)) < 0 || (r = alb_net_new(ctx, &vmm->net)) < 0)
		goto fail;
	if (hwloc_topology_init(&vmm->topology) < 0 || hwloc_topology_load(vmm->topology) < 0) {
		r = alb_error(ctx, EIO, "Failed to discover the CPUs with hwloc");
		goto fail;
	}
	*ret_vmm = vmm;
	return 0;
fail:
	alb_vmm_free(vmm);
	return r;
}

ALB_EXPORT int alb_vmm_set_tender_dir(alb_vmm *vmm, const char *dir)
{
	if (!vmm)
		return -EINVAL;
	char *d = dir ? strdup(dir) : NULL;
	if (dir && !d)
		return -ENOMEM;
	free(vmm->tender_dir);
	vmm->tender_dir = d;
	return 0;
}

ALB_EXPORT int alb_vmm_set_monitor(alb_vmm *vmm, const char *path)
{
	if (!vmm || !path || path[0] != '/')
		return -EINVAL;
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	free(vmm->monitor_path);
	vmm->monitor_path = p;
	return 0;
}

ALB_EXPORT int alb_vmm_set_tender_user(alb_vmm *vmm, uint32_t uid, uint32_t gid)
{
	if (!vmm)
		return -EINVAL;
	vmm->tender_uid = uid;
	vmm->tender_gid = gid;
	vmm->has_tender_user = true;
	return 0;
}

ALB_EXPORT int alb_vmm_set_group(alb_vmm *vmm, uint32_t gid)
{
	if (!vmm)
		return -EINVAL;
	vmm->group_gid = gid;
	vmm->has_group = true;
	return 0;
}

ALB_EXPORT int alb_vmm_set_stop_timeout(alb_vmm *vmm, uint64_t usec)
{
	if (!vmm || usec == 0)
		return -EINVAL;
	vmm->stop_timeout_us = usec;
	return 0;
}

ALB_EXPORT int alb_vmm_set_restart_backoff(alb_vmm *vmm, uint64_t initial_usec, uint64_t max_usec)
{
	if (!vmm)
		return -EINVAL;
	return alb_supervise_params_set_backoff(&vmm->supervise, initial_usec, max_usec);
}

ALB_EXPORT int alb_vmm_set_crash_loop(alb_vmm *vmm, uint32_t burst, uint64_t window_usec)
{
	if (!vmm || vmm->uks)
		return -EINVAL;
	return alb_supervise_params_set_crash_loop(&vmm->supervise, burst, window_usec);
}

ALB_EXPORT int alb_vmm_set_console_backlog(alb_vmm *vmm, uint64_t unikernel_bytes,
					   uint64_t total_bytes)
{
	if (!vmm)
		return -EINVAL;
	uint64_t one = unikernel_bytes ? unikernel_bytes : ALB_CONSOLE_RELAY_STREAM_MAX_DEFAULT;
	uint64_t all = total_bytes ? total_bytes : ALB_CONSOLE_RELAY_TOTAL_MAX_DEFAULT;
	if (one < 4096 || one > (UINT64_C(1) << 30) || all > (UINT64_C(64) << 30) || all < one)
		return alb_error(vmm->ctx, EINVAL,
				 "console backlog: %" PRIu64 " bytes per unikernel (4 KiB to 1 "
				 "GiB) and %" PRIu64 " in all (at least that, at most 64 GiB)",
				 one, all);
	vmm->console_backlog = one;
	vmm->console_backlog_total = all;
	return vmm->relay ? alb_console_relay_set_bounds(vmm->relay, one, all) : 0;
}

ALB_EXPORT void alb_vmm_set_event_fn(alb_vmm *vmm, alb_vmm_event_fn fn, void *userdata)
{
	if (!vmm)
		return;
	vmm->event_fn = fn;
	vmm->event_userdata = userdata;
}

/* ---- adoption --------------------------------------------------------------------------- */

/* How long a monitor may take to answer at start (it answers at once unless the host is
 * on its knees). */
#define MONITOR_ANSWER_US (UINT64_C(10) * 1000000)

/* Takes u's run back from the monitor listening on sock, as rf describes it. */
static int uk_adopt(struct uk *u, const struct alb_run_file *rf, const char *sock)
{
	alb_vmm *vmm = u->vmm;
	struct alb_monitor_frame hello;
	int fd, r;
	if ((r = alb_monitor_connect(vmm->ctx, sock, &fd)) < 0)
		return r;
	if ((r = alb_monitor_hello(vmm->ctx, fd, MONITOR_ANSWER_US, &hello)) < 0) {
		close(fd);
		return r;
	}
	if ((r = uk_block_files(u, NULL)) < 0 ||
	    (rf->n_taps && !(u->taps = alb_strv_dup(rf->taps, rf->n_taps)))) {
		close(fd);
		alb_strv_free(u->block_files);
		u->block_files = NULL;
		u->n_block_files = 0;
		return r < 0 ? r : -ENOMEM;
	}
	u->n_taps = rf->n_taps;
	u->run = rf->run;
	u->pid = (int)hello.pid;
	u->started_us = hello.started_us;
	uint64_t now = alb_now_realtime(), mono = alb_now_monotonic();
	uint64_t age = now > hello.started_us ? now - hello.started_us : 0;
	u->started_mono = mono > age ? mono - age : 0;
	/* Its restarts and back-off go on where they were. */
	u->tally.restarts = rf->restarts;
	if (rf->backoff_us)
		u->tally.backoff_us = rf->backoff_us;
	for (uint32_t i = 0; i < rf->n_exits && u->tally.n_exits < u->tally.cap; i++)
		if (rf->exits[i] <= mono)
			u->tally.exits[u->tally.n_exits++] = rf->exits[i];
	if ((r = uk_mon_attach(u, fd)) < 0) {
		/* Not adopted: it is ended with the others (its taps are not ours to remove
		 * while its tender may hold them: the leftovers' removal does it). */
		alb_strv_free(u->taps);
		u->taps = NULL;
		u->n_taps = 0;
		alb_strv_free(u->block_files);
		u->block_files = NULL;
		u->n_block_files = 0;
		u->pid = 0;
		return r;
	}
	u->state = ALB_STATE_RUNNING;
	alb_log_info(vmm->ctx, "Adopted '%s' (pid %d%s), started by an earlier albatrossd",
		     u->name_s, u->pid, hello.exited ? ", which has exited since" : "");
	uk_register(u);
	return 0;
}

/* u's tender had exited when an earlier albatrossd went (rf says so: wait or failed): its
 * tally is taken back, and it stays failed, or waits the rest of its back-off out. */
static void uk_take_ended(struct uk *u, const struct alb_run_file *rf)
{
	alb_vmm *vmm = u->vmm;
	uint64_t mono = alb_now_monotonic();
	u->run = rf->run;
	u->run_ended = true;
	u->last_exit = (struct alb_exit){rf->exit_kind, rf->exit_value};
	u->tally.restarts = rf->restarts;
	/* Within this albatrossd's bounds (it may have been started with others). */
	if (rf->backoff_us)
		u->tally.backoff_us = rf->backoff_us < vmm->supervise.backoff_max_us
					  ? rf->backoff_us
					  : vmm->supervise.backoff_max_us;
	u->tally.n_exits = 0;
	for (uint32_t i = 0; i < rf->n_exits && u->tally.n_exits < u->tally.cap; i++)
		if (rf->exits[i] <= mono)
			u->tally.exits[u->tally.n_exits++] = rf->exits[i];
	if (rf->failed) {
		free(u->message);
		u->message = strdup(rf->failed);
		u->state = ALB_STATE_FAILED;
		alb_log_notice(vmm->ctx, "'%s' stays failed, as it was before albatrossd went: %s",
			       u->name_s, rf->failed);
		return;
	}
	/* At most a whole back-off: a monotonic time from before a reboot means nothing. */
	uint64_t delay = rf->wait_us > mono ? rf->wait_us - mono : 0;
	if (delay > u->tally.backoff_us)
		delay = u->tally.backoff_us;
	if (alb_loop_add_timer(vmm->loop, delay, uk_restart_timer, u, &u->timer) < 0)
		return; /* started with the others */
	u->state = ALB_STATE_RESTARTING;
	alb_log_notice(vmm->ctx,
		       "'%s' restarts in %" PRIu64 " ms, its back-off from before albatrossd went "
		       "(restarts so far: %" PRIu32 ")",
		       u->name_s, delay / 1000, u->tally.restarts);
}

/* Ends every monitor in dir but the one listening on keep (may be NULL), and removes what
 * an interrupted write of the run file left. false if one could not be ended (its tender
 * may run: nothing of that unikernel may start). */
static bool monitors_end(alb_vmm *vmm, const char *dir, const char *keep, const char *name,
			 const char *why)
{
	bool all = true;
	_cleanup_(closedirp) DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));) {
		size_t len = strlen(e->d_name);
		char path[PATH_MAX + 300];
		/* A write of the run file that a kill cut short. */
		if (!strncmp(e->d_name, "run.tmp.", 8)) {
			(void)unlinkat(dirfd(d), e->d_name, 0);
			continue;
		}
		if (len < 6 || strcmp(e->d_name + len - 5, ".sock"))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		if (keep && streq(path, keep))
			continue;
		uint32_t pid;
		int r = alb_monitor_end(vmm->ctx, path, MONITOR_ANSWER_US, &pid);
		if (r == 0 && pid)
			alb_log_notice(vmm->ctx,
				       "Stopped the tender of '%s' (pid %" PRIu32 ") that an "
				       "earlier albatrossd left: %s",
				       name, pid, why);
		else if (r < 0 && r != -ENOENT) {
			alb_log_err(vmm->ctx, "'%s': %s", name, alb_ctx_last_error(vmm->ctx));
			all = false;
		}
	}
	return all;
}

/*
 * At start, before anything else runs: every unikernel of the state whose
 * monitor still runs its configuration is adopted; every other monitor is
 * ended (a create, restart or destroy cut short, a unikernel no longer in the
 * state or whose configuration changed), so that no unikernel ever has two
 * tenders. A destroy under way is finished.
 */
static void monitors_adopt(alb_vmm *vmm)
{
	char top[PATH_MAX];
	snprintf(top, sizeof(top), "%s/u", vmm->rundir);
	_cleanup_(closedirp) DIR *d = opendir(top);
	for (struct dirent *e; d && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		char dir[PATH_MAX + 300], sock[PATH_MAX + 330], hash[65];
		snprintf(dir, sizeof(dir), "%s/%s", top, e->d_name);
		struct alb_run_file rf;
		struct uk *u = NULL, *known = NULL; /* adopted; of the state */
		bool same = true;		    /* known runs the configuration of rf */
		const char *why = "it is not among the unikernels restored from the state";
		if (run_file_read(vmm, dir, &rf)) {
			_cleanup_(alb_name_freep) alb_name *n = NULL;
			if (alb_name_parse(vmm->ctx, rf.name, &n) == 0)
				known = vmm_find(vmm, n);
			if (known && (!streq(known->key, e->d_name) || known->pid > 0))
				known = NULL;
			u = known;
			if (u && (uk_config_hash(u, hash) < 0 || !streq(hash, rf.config))) {
				why = "its configuration in the state is another";
				u = NULL;
				same = false;
			}
		}
		snprintf(sock, sizeof(sock), "%s/%" PRIu64 ".sock", dir, rf.run);
		if (u && (rf.wait_us || rf.failed)) {
			/* Its exit was handled (and counted) already: a monitor that still
			 * holds it (albatrossd went before acknowledging it) is ended, and
			 * the exit is not counted again. */
			why = "its exit was handled before albatrossd went";
			u = NULL;
		}
		if (u) {
			int r = uk_adopt(u, &rf, sock);
			if (r < 0 && r != -ENOENT && r != -ECONNREFUSED)
				alb_log_warn(vmm->ctx, "Failed to adopt '%s': %s", u->name_s,
					     alb_ctx_last_error(vmm->ctx));
			if (r < 0)
				u = NULL;
		}
		bool ended =
		    monitors_end(vmm, dir, u ? sock : NULL, rf.name[0] ? rf.name : e->d_name,
				 u ? "an older run" : why);
		if (!ended && known && !u) {
			/* A tender of it may run on: it is not started. */
			uk_set_failed(known,
				      "a tender started by an earlier albatrossd could not be "
				      "stopped (see the log): stop it, then restart '%s'",
				      known->name_s);
			alb_run_file_clear(&rf);
			continue;
		}
		if (known && rf.destroy) {
			/* Finished, whether its tender still ran or not. */
			alb_log_notice(vmm->ctx, "Destroying '%s', as asked before albatrossd went",
				       known->name_s);
			vmm_destroy(vmm, known, NULL);
		} else if (u && rf.restart) {
			alb_log_notice(vmm->ctx, "Restarting '%s', as asked before albatrossd went",
				       u->name_s);
			if (vmm_restart(vmm, u, NULL, NULL) < 0)
				alb_log_err(vmm->ctx, "%s", alb_ctx_last_error(vmm->ctx));
		} else if (!u && known && same && (rf.wait_us || rf.failed) && !rf.restart) {
			/* Its tender had exited: the back-off or the failure goes on. */
			uk_take_ended(known, &rf);
		} else if (!u) {
			char path[PATH_MAX + 310];
			snprintf(path, sizeof(path), "%s/run", dir);
			(void)unlink(path);
			(void)rmdir(dir);
		}
		alb_run_file_clear(&rf);
	}
}

/* Removes stored images that no unikernel refers to (a create that a crash cut short). */
static void images_collect(alb_vmm *vmm)
{
	_cleanup_(closedirp) DIR *d = opendir(vmm->images_dir);
	for (struct dirent *e; d && (e = readdir(d));) {
		if (strlen(e->d_name) != 64 || strspn(e->d_name, "0123456789abcdef") != 64)
			continue;
		bool used = false;
		char hex[65];
		for (struct uk *u = vmm->uks; u && !used; u = u->next) {
			alb_digest_hex(u->config->digest, hex);
			used = streq(hex, e->d_name);
			if (!used && u->restart_with) {
				alb_digest_hex(u->restart_with->digest, hex);
				used = streq(hex, e->d_name);
			}
		}
		for (uint32_t i = 0; vmm->unrestored && i < vmm->unrestored->n_unikernels && !used;
		     i++) {
			alb_digest_hex(vmm->unrestored->unikernels[i].config->digest, hex);
			used = streq(hex, e->d_name);
		}
		if (!used) {
			alb_log_notice(vmm->ctx, "Removing the unused image %s", e->d_name);
			(void)unlinkat(dirfd(d), e->d_name, 0);
		}
	}
}

/* Orders unikernels to restore by startup priority, then by name. */
static int by_startup(const void *a, const void *b)
{
	const struct alb_state_unikernel *x = a, *y = b;
	if (x->config->startup != y->config->startup)
		return x->config->startup < y->config->startup ? -1 : 1;
	_cleanup_free_ char *sx = alb_name_to_string(x->name), *sy = alb_name_to_string(y->name);
	return strcmp(sx ? sx : "", sy ? sy : "");
}

/* ---- the restore: the unikernels of the state started, bounded, from the loop ------------ */

static bool restore_startable(struct uk *u)
{
	return u && u->pid == 0 && !u->destroying && !u->stopping && !u->restart_with &&
	       !u->timer && u->state != ALB_STATE_FAILED && !u->vmm->detaching &&
	       !u->vmm->shutdown_done;
}

static uint32_t restore_parallel(alb_vmm *vmm)
{
	if (vmm->start_parallel)
		return vmm->start_parallel;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t n = (uint64_t)(cpus > 0 ? cpus : 1) * ALB_VMM_START_PARALLEL_PER_CPU;
	return n > ALB_VMM_START_PARALLEL_MAX ? ALB_VMM_START_PARALLEL_MAX : (uint32_t)n;
}

static void restore_done(alb_vmm *vmm)
{
	for (uint32_t i = 0; i < vmm->n_restore; i++)
		alb_name_free(vmm->restore_queue[i]);
	free(vmm->restore_queue);
	vmm->restore_queue = NULL;
	vmm->n_restore = vmm->restore_next = 0;
	vmm->restore_timer = alb_source_free(vmm->restore_timer);
}

/*
 * One slice of the restore, from the loop: the next unikernels of one startup priority, at
 * most restore_parallel(): every monitor forked first, then each report taken (a unikernel
 * is started once its monitor reported its tender started). A priority starts only once
 * every unikernel of the one before has; between slices the loop serves clients.
 */
static int restore_slice(alb_source *source, void *userdata)
{
	alb_vmm *vmm = userdata;
	alb_ctx *ctx = vmm->ctx;
	uint32_t max = restore_parallel(vmm), n = 0;
	_cleanup_free_ struct uk_spawn *sp = calloc(max, sizeof(*sp));
	_cleanup_free_ struct uk **batch = calloc(max, sizeof(*batch));
	if (!sp || !batch) {
		/* Tried again shortly. */
		(void)alb_source_set_timer(vmm->restore_timer, 10000);
		return 0;
	}
	uint32_t priority = 0;
	while (vmm->restore_next < vmm->n_restore && n < max) {
		struct uk *u = vmm_find(vmm, vmm->restore_queue[vmm->restore_next]);
		if (!restore_startable(u)) {
			vmm->restore_next++;
			continue;
		}
		if (n > 0 && u->config->startup != priority)
			break;
		priority = u->config->startup;
		vmm->restore_next++;
		if (uk_start_begin(u, &sp[n]) < 0) {
			uk_set_failed(u, "%s", alb_ctx_last_error(ctx));
			continue;
		}
		batch[n++] = u;
	}
	if (n)
		alb_log_info(ctx,
			     "Restoring: %" PRIu32 " unikernel%s of startup priority %" PRIu32
			     " being started",
			     n, n == 1 ? "" : "s", priority);
	for (uint32_t i = 0; i < n; i++) {
		if (uk_start_end(batch[i], &sp[i]) < 0)
			uk_set_failed(batch[i], "%s", alb_ctx_last_error(ctx));
		else
			vmm->restore_started++;
	}
	if (vmm->restore_next < vmm->n_restore && !vmm->detaching && !vmm->shutdown_done &&
	    alb_source_set_timer(vmm->restore_timer, 0) >= 0)
		return 0;
	alb_log_notice(ctx, "Restored: %" PRIu32 " unikernel%s started in %" PRIu64 " ms",
		       vmm->restore_started, vmm->restore_started == 1 ? "" : "s",
		       (alb_now_monotonic() - vmm->restore_began) / 1000);
	restore_done(vmm);
	return 0;
}

/* Queues the unikernels of s (sorted by startup priority) that did not come back with their
 * monitors, for restore_slice(). */
static int restore_queue(alb_vmm *vmm, const struct alb_state *s)
{
	uint32_t n = 0;
	int r;
	if (!(vmm->restore_queue = calloc((size_t)s->n_unikernels + 1, sizeof(alb_name *))))
		return -ENOMEM;
	for (uint32_t i = 0; i < s->n_unikernels; i++) {
		struct uk *u = vmm_find(vmm, s->unikernels[i].name);
		if (!restore_startable(u))
			continue;
		if ((r = alb_name_dup(u->name, &vmm->restore_queue[n])) < 0)
			goto fail;
		/* Waits to start (info shows it so until it runs). */
		u->state = ALB_STATE_RESTARTING;
		vmm->n_restore = ++n;
	}
	vmm->restore_began = alb_now_monotonic();
	vmm->restore_started = 0;
	if (n == 0 ||
	    (r = alb_loop_add_timer(vmm->loop, 0, restore_slice, vmm, &vmm->restore_timer)) < 0)
		goto fail;
	alb_log_info(vmm->ctx,
		     "Restoring %" PRIu32 " unikernel%s, at most %" PRIu32 " started at once", n,
		     n == 1 ? "" : "s", restore_parallel(vmm));
	return 0;
fail:
	restore_done(vmm);
	return n == 0 ? 0 : r;
}

static int keep_unrestored(alb_vmm *vmm)
{
	if (!vmm->unrestored)
		return alb_state_new(&vmm->unrestored);
	return 0;
}

ALB_EXPORT int alb_vmm_start(alb_vmm *vmm)
{
	if (!vmm || vmm->started)
		return -EINVAL;
	alb_ctx *ctx = vmm->ctx;
	_cleanup_(alb_state_freep) struct alb_state *s = NULL;
	int r = alb_state_load(ctx, vmm->state_path, &s);
	bool had_state = r != -ENOENT;
	if (r == -ENOENT)
		r = alb_state_new(&s);
	else if (r < 0)
		return r; /* never overwrite a state we cannot read */
	else {
		char started[PATH_MAX + 16];
		snprintf(started, sizeof(started), "%s.started", vmm->state_path);
		if (alb_copy_file(ctx, vmm->state_path, started, ALB_STATE_SIZE_MAX) < 0)
			alb_log_warn(ctx, "%s", alb_ctx_last_error(ctx));
	}
	if (r < 0)
		return r;
	/* Then the changes since (docs/state.md, "The journal"). */
	char journal[PATH_MAX + 16];
	snprintf(journal, sizeof(journal), "%s.journal", vmm->state_path);
	size_t valid = 0;
	uint64_t last_seq = 0;
	bool torn = false;
	r = alb_journal_load(ctx, journal, s, &valid, &last_seq, &torn);
	if (r == -ENOENT)
		r = 0;
	else if (r < 0)
		return r; /* never overwrite nor cut a journal we cannot read */
	else {
		char started[PATH_MAX + 32];
		snprintf(started, sizeof(started), "%s.started", journal);
		if (alb_copy_file(ctx, journal, started, ALB_JOURNAL_SIZE_MAX) < 0)
			alb_log_warn(ctx, "%s", alb_ctx_last_error(ctx));
	}
	if (torn)
		alb_log_notice(ctx,
			       "state journal '%s': the record at offset %zu was cut by a crash "
			       "(never acknowledged): it is dropped",
			       journal, valid);
	if ((r = vmm_journal_open(vmm, journal, valid, last_seq)) < 0)
		return r;
	/* What was read becomes the snapshot, the journal empty: a start replays a journal
	 * once. Should that fail, the journal goes on as it is. */
	if (valid > 0 || !had_state) {
		uint8_t *buf;
		size_t len;
		if ((r = alb_state_encode(ctx, s, &buf, &len)) < 0)
			return r;
		alb_journal_snapshot(vmm->journal, buf, len);
		vmm->snapshot_size = len;
		if (vmm_sync(vmm) < 0)
			alb_log_warn(ctx, "%s", alb_ctx_last_error(ctx));
	}
	if ((r = vmm_refresh_root_policy(vmm)) < 0)
		return r;
	if (vmm->has_tender_user) {
		/* Directories made by an older version, or by hand, may be closed. */
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s/block", vmm->dbdir);
		if (chmod(vmm->dbdir, 0711) < 0 || chmod(vmm->images_dir, 0711) < 0 ||
		    chmod(dir, 0711) < 0)
			return alb_error(ctx, errno, "Failed to open '%s' to the tender user: %s",
					 vmm->dbdir, strerror(errno));
	}
	if (access(vmm->monitor_path, X_OK) < 0)
		return alb_error(
		    ctx, errno,
		    "the monitor '%s' cannot be run (%s): albatrossd runs every tender "
		    "under one (install it, or name it with --monitor)",
		    vmm->monitor_path, strerror(errno));
	vmm->started = true;
	vmm_event_send(vmm, vmm_event_new(vmm, ALB_EVENT_DAEMON_START, NULL));

	for (uint32_t i = 0; i < s->n_blocks; i++) {
		struct alb_state_block *b = &s->blocks[i];
		if (vmm_block_add(vmm, b->name, b->size_mb, b->sector_size) < 0) {
			_cleanup_free_ char *n = name_str(b->name);
			alb_log_err(ctx, "Block device '%s' of the state is not restored: %s", n,
				    alb_ctx_last_error(ctx));
		}
	}
	for (uint32_t i = 0; i < s->n_policies; i++) {
		struct alb_state_policy *p = &s->policies[i];
		if (alb_tree_insert_policy(vmm->tree, p->path, p->policy) < 0) {
			_cleanup_free_ char *n = name_str(p->path);
			alb_log_err(ctx,
				    "Policy '%s' of the state is not restored (it is kept in the "
				    "state file): %s",
				    n, alb_ctx_last_error(ctx));
			if ((r = keep_unrestored(vmm)) < 0 ||
			    (r = alb_state_add_policy(ctx, vmm->unrestored, p->path, p->policy)) <
				0)
				return r;
		}
	}
	if (s->n_unikernels > 1)
		qsort(s->unikernels, s->n_unikernels, sizeof(*s->unikernels), by_startup);
	for (uint32_t i = 0; i < s->n_unikernels; i++) {
		struct alb_state_unikernel *su = &s->unikernels[i];
		_cleanup_free_ char *n = name_str(su->name);
		struct uk *u;
		if ((r = uk_new(vmm, su->name, su->config, &u)) < 0)
			return r;
		if (alb_tree_insert_unikernel(vmm->tree, su->name, su->config) < 0) {
			alb_log_err(ctx,
				    "Unikernel '%s' of the state is not restored (it is kept in "
				    "the state file): %s",
				    n, alb_ctx_last_error(ctx));
			uk_free(u);
			if ((r = keep_unrestored(vmm)) < 0 ||
			    (r = alb_state_add_unikernel(ctx, vmm->unrestored, su->name,
							 su->config)) < 0)
				return r;
			continue;
		}
		u->next = vmm->uks;
		vmm->uks = u;
	}
	/* What still runs is taken back; what an interrupted operation left is ended. */
	monitors_adopt(vmm);
	leftovers_remove(vmm);
	(void)taps_record(vmm);
	/* The rest starts, by startup priority, from the loop (restore_slice()). */
	if ((r = restore_queue(vmm, s)) < 0)
		return r;
	images_collect(vmm);
	return 0;
}

ALB_EXPORT int alb_vmm_set_start_parallel(alb_vmm *vmm, uint32_t n)
{
	if (!vmm || n > ALB_VMM_START_PARALLEL_MAX)
		return -EINVAL;
	vmm->start_parallel = n;
	return 0;
}

ALB_EXPORT int alb_vmm_shutdown(alb_vmm *vmm, void (*done)(alb_vmm *vmm, void *userdata),
				void *userdata)
{
	if (!vmm)
		return -EINVAL;
	vmm->shutdown_done = done;
	vmm->shutdown_userdata = userdata;
	for (struct uk *u = vmm->uks; u; u = u->next) {
		u->stopping = true;
		if (u->pid > 0)
			uk_stop(u);
		else
			u->timer = alb_source_free(u->timer);
	}
	shutdown_check(vmm);
	return 0;
}

ALB_EXPORT int alb_vmm_detach(alb_vmm *vmm, void (*done)(alb_vmm *vmm, void *userdata),
			      void *userdata)
{
	if (!vmm)
		return -EINVAL;
	vmm->shutdown_done = done;
	vmm->shutdown_userdata = userdata;
	vmm->detaching = true;
	for (struct uk *u = vmm->uks; u; u = u->next) {
		/* Nothing more is taken from the monitors: an exit from now on is the next
		 * albatrossd's to handle. A pending restart happens at the next start. */
		uk_mon_close(u);
		if (u->pid <= 0)
			u->timer = alb_source_free(u->timer);
	}
	shutdown_check(vmm);
	return 0;
}

ALB_EXPORT alb_vmm *alb_vmm_free(alb_vmm *vmm)
{
	if (!vmm)
		return NULL;
	vmm_laters_flush(vmm);
	vmm_journal_close(vmm); /* the replies held for it, before the layers that take them */
	/* The layers above first: they hold no unikernel, only references to the engine. */
	if (vmm->service_free)
		vmm->service_free(vmm->service);
	/* The relay's sink is the link: neither outlives the other. */
	vmm->relay = alb_console_relay_free(vmm->relay);
	if (vmm->link_free)
		vmm->link_free(vmm->link);
	vmm->hooks = (struct vmm_hooks){0};
	/* Running unikernels stay with their monitors: the next start adopts them. */
	vmm->detaching = true;
	while (vmm->uks) {
		struct uk *u = vmm->uks;
		vmm->uks = u->next;
		uk_free(u);
	}
	/* Taps still held stay recorded in <rundir>/taps: the next start removes them. */
	vmm->stale_timer = alb_source_free(vmm->stale_timer);
	alb_strv_free(vmm->stale_taps);
	while (vmm->children) {
		struct vmm_child *c = vmm->children;
		vmm->children = c->next;
		alb_source_free(c->source);
		free(c);
	}
	while (vmm->blocks) {
		struct vmm_block *b = vmm->blocks;
		vmm->blocks = b->next;
		alb_name_free(b->name);
		free(b);
	}
	vmm->relay = alb_console_relay_free(vmm->relay);
	restore_done(vmm);
	alb_state_free(vmm->unrestored);
	alb_tree_free(vmm->tree);
	alb_net_free(vmm->net);
	alb_tender_cache_free(vmm->tenders);
	if (vmm->topology)
		hwloc_topology_destroy(vmm->topology);
	free(vmm->dbdir);
	free(vmm->rundir);
	free(vmm->tender_dir);
	free(vmm->monitor_path);
	/* Last: everything of ours in the directories is done with. */
	if (vmm->db_lock >= 0)
		close(vmm->db_lock);
	if (vmm->run_lock >= 0)
		close(vmm->run_lock);
	alb_loop_unref(vmm->loop);
	alb_ctx_unref(vmm->ctx);
	free(vmm);
	return NULL;
}
