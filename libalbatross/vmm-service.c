/* SPDX-License-Identifier: ISC */
/* The supervisor's socket: the commands of docs/protocol.md, uploads and downloads. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <zlib.h>

#include <albatross/manifest.h>

#include "ctx-private.h"
#include "fileio-private.h"
#include "image-private.h"
#include "net-private.h"
#include "vmm-private.h"

/* Per connection. */
struct session {
	alb_vmm *vmm;
	struct alb_conn *conn;
	/* an upload: the command that waits for its data */
	alb_msg *upload; /* the command */
	int upload_fd;
	char upload_path[PATH_MAX];
	uint64_t expected, received;
	/* a download: what remains to be sent */
	int download_fd;
	uint64_t download_seq;
	alb_name *download_name;
	/* an upload refused before its data: its chunks are dropped up to its end frame */
	bool discarding;
	uint64_t discard_seq;
};

/* Bytes queued before a download waits for the socket to drain. */
#define DOWNLOAD_QUEUE (UINT64_C(4) << 20)

static char *name_s(const alb_name *n)
{
	char *s = alb_name_to_string(n);
	return s ? s : strdup("?");
}

/* A path selects everything below it, a name just itself. */
static bool selects(const alb_name *selector, const alb_name *name)
{
	return alb_name_is_path(selector) ? alb_name_is_prefix(selector, name)
					  : alb_name_equal(selector, name);
}

/* The unikernel called name, or -ENOENT with the reason. */
static int lookup(alb_vmm *vmm, const alb_name *name, struct uk **ret)
{
	*ret = vmm_find(vmm, name);
	if (*ret)
		return 0;
	_cleanup_free_ char *s = name_s(name);
	return alb_error(vmm->ctx, ENOENT, "no unikernel '%s'", s);
}

/* A success reply of kind to cmd. */
static int reply_new(const alb_msg *cmd, int kind, alb_msg **ret)
{
	int r = alb_msg_new(ret, ALB_MSG_SUCCESS, cmd->seq, cmd->name);
	if (r >= 0)
		(*ret)->reply.kind = kind;
	return r;
}

static int reply_error(struct alb_conn *conn, const alb_msg *cmd, int r, alb_ctx *ctx)
{
	const char *why = alb_ctx_last_error(ctx);
	return alb_conn_send_failure(conn, cmd->seq, cmd->name, r < 0 ? -r : r, "%s",
				     why[0] ? why : strerror(r < 0 ? -r : r));
}

void vmm_reply_waiter(alb_vmm *vmm, struct uk *u, struct waiter *w, int r, const char *text)
{
	if (!alb_conn_is_closed(w->conn)) {
		if (r < 0)
			alb_conn_send_failure(w->conn, w->seq, u->name, -r, "%s",
					      alb_ctx_last_error(vmm->ctx));
		else
			alb_conn_send_ok(w->conn, w->seq, u->name, text);
		alb_conn_pause(w->conn, false);
	}
	alb_conn_unref(w->conn);
	free(w);
}

static struct waiter *waiter_new(struct alb_conn *conn, const alb_msg *cmd)
{
	struct waiter *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->conn = alb_conn_ref(conn);
	w->seq = cmd->seq;
	w->command = cmd->cmd.kind;
	alb_conn_pause(conn, true);
	return w;
}

/* ---- info ------------------------------------------------------------------------------- */

static int fill_info(struct alb_unikernel_info *i, const struct uk *u)
{
	int r;
	if ((r = alb_name_dup(u->name, &i->name)) < 0 ||
	    (r = alb_unikernel_config_dup(u->config, &i->config)) < 0)
		return r;
	i->state = u->state;
	i->pid = u->pid > 0 ? (uint32_t)u->pid : 0;
	i->started_us = u->pid > 0 ? u->started_us : 0;
	i->restarts = u->restarts;
	i->last_exit = u->last_exit;
	if (u->pid > 0) {
		if (!(i->taps = alb_strv_dup(u->taps, u->n_taps)) ||
		    !(i->block_files = alb_strv_dup(u->block_files, u->n_block_files)))
			return -ENOMEM;
		i->n_taps = u->n_taps;
		i->n_block_files = u->n_block_files;
	}
	return 0;
}

static int by_name(const void *a, const void *b)
{
	const struct alb_unikernel_info *x = a, *y = b;
	_cleanup_free_ char *sx = alb_name_to_string(x->name), *sy = alb_name_to_string(y->name);
	return strcmp(sx ? sx : "", sy ? sy : "");
}

static int cmd_info(alb_vmm *vmm, struct alb_conn *conn, const alb_msg *cmd)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	int r = reply_new(cmd, ALB_REPLY_UNIKERNELS, &m);
	if (r < 0)
		return r;
	uint32_t n = 0;
	for (struct uk *u = vmm->uks; u; u = u->next)
		n += selects(cmd->name, u->name);
	struct uk *one;
	if (n == 0 && !alb_name_is_path(cmd->name))
		return lookup(vmm, cmd->name, &one);
	if (n > ALB_WIRE_LIST_MAX)
		n = ALB_WIRE_LIST_MAX;
	m->reply.unikernels = calloc(n ? n : 1, sizeof(*m->reply.unikernels));
	if (!m->reply.unikernels)
		return -ENOMEM;
	for (struct uk *u = vmm->uks; u && m->reply.n_unikernels < n; u = u->next)
		if (selects(cmd->name, u->name) &&
		    (r = fill_info(&m->reply.unikernels[m->reply.n_unikernels++], u)) < 0)
			return r;
	/* In name order, whatever the order they were made or restored in. */
	if (m->reply.n_unikernels > 1)
		qsort(m->reply.unikernels, m->reply.n_unikernels, sizeof(*m->reply.unikernels),
		      by_name);
	return alb_conn_send(conn, m);
}

struct policies {
	alb_vmm *vmm;
	alb_msg *m;
	int r;
};

static int collect_policy(const alb_name *name, const alb_name *relative, int kind, void *ud)
{
	struct policies *p = ud;
	struct alb_reply *rep = &p->m->reply;
	if (rep->n_policies >= ALB_WIRE_LIST_MAX)
		return 1;
	struct alb_policy_info *v = realloc(rep->policies, (rep->n_policies + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	rep->policies = v;
	struct alb_policy_info *i = &v[rep->n_policies];
	memset(i, 0, sizeof(*i));
	rep->n_policies++;
	int r = alb_name_dup(name, &i->path);
	if (r < 0)
		return r;
	return alb_policy_dup(alb_tree_get_policy(p->vmm->tree, name), &i->policy);
}

static int cmd_policy_info(alb_vmm *vmm, struct alb_conn *conn, const alb_msg *cmd)
{
	if (!alb_name_is_path(cmd->name))
		return alb_error(vmm->ctx, EINVAL,
				 "policies belong to paths (end the name with ':')");
	int r = vmm_refresh_root_policy(vmm);
	if (r < 0)
		return r;
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	if ((r = reply_new(cmd, ALB_REPLY_POLICIES, &m)) < 0)
		return r;
	struct policies p = {vmm, m, 0};
	r = alb_tree_foreach(vmm->tree, cmd->name, ALB_TREE_POLICY, collect_policy, &p);
	if (r < 0)
		return r;
	return alb_conn_send(conn, m);
}

static int cmd_policy_add(alb_vmm *vmm, struct alb_conn *conn, const alb_msg *cmd)
{
	if (!alb_name_is_path(cmd->name))
		return alb_error(vmm->ctx, EINVAL,
				 "a policy belongs to a path (end the name with ':')");
	if (alb_name_is_root(cmd->name))
		return alb_error(vmm->ctx, EPERM,
				 "the root policy is the host's resources: it "
				 "cannot be set");
	int r = vmm_refresh_root_policy(vmm);
	if (r < 0)
		return r;
	_cleanup_(alb_policy_freep) alb_policy *previous = NULL;
	const alb_policy *old = alb_tree_get_policy(vmm->tree, cmd->name);
	/* The TLS endpoint installs a chain's policies before every command: the same
	 * policy again changes nothing and writes nothing. */
	if (old && alb_policy_equal(old, cmd->cmd.policy) == 1)
		return alb_conn_send_ok(conn, cmd->seq, cmd->name, "policy unchanged");
	if (old && (r = alb_policy_dup(old, &previous)) < 0)
		return r;
	if ((r = alb_tree_insert_policy(vmm->tree, cmd->name, cmd->cmd.policy)) < 0)
		return r;
	if ((r = vmm_save(vmm)) < 0) {
		/* Not persisted: not done. */
		if (previous)
			alb_tree_insert_policy(vmm->tree, cmd->name, previous);
		else
			alb_tree_remove_policy(vmm->tree, cmd->name);
		return alb_error(vmm->ctx, -r, "the state file could not be written");
	}
	vmm_event_send(vmm, vmm_event_new(vmm, ALB_EVENT_POLICY_ADDED, cmd->name));
	return alb_conn_send_ok(conn, cmd->seq, cmd->name, "policy added");
}

static int cmd_policy_remove(alb_vmm *vmm, struct alb_conn *conn, const alb_msg *cmd)
{
	_cleanup_(alb_policy_freep) alb_policy *previous = NULL;
	const alb_policy *old = alb_tree_get_policy(vmm->tree, cmd->name);
	int r = old ? alb_policy_dup(old, &previous) : 0;
	if (r < 0 || (r = alb_tree_remove_policy(vmm->tree, cmd->name)) < 0)
		return r;
	if ((r = vmm_save(vmm)) < 0) {
		alb_tree_insert_policy(vmm->tree, cmd->name, previous);
		return alb_error(vmm->ctx, -r, "the state file could not be written");
	}
	vmm_event_send(vmm, vmm_event_new(vmm, ALB_EVENT_POLICY_REMOVED, cmd->name));
	return alb_conn_send_ok(conn, cmd->seq, cmd->name, "policy removed");
}

/* ---- unikernels ------------------------------------------------------------------------- */

static int cmd_destroy(alb_vmm *vmm, struct alb_conn *conn, const alb_msg *cmd)
{
	struct uk *u;
	int r = lookup(vmm, cmd->name, &u);
	if (r < 0)
		return r;
	struct waiter *w = waiter_new(conn, cmd);
	if (!w)
		return -ENOMEM;
	vmm_destroy(vmm, u, w);
	return 0;
}

static int cmd_restart(alb_vmm *vmm, struct alb_conn *conn, const alb_msg *cmd)
{
	struct uk *u;
	int r = lookup(vmm, cmd->name, &u);
	if (r < 0)
		return r;
	_cleanup_(alb_unikernel_config_freep) alb_unikernel_config *c = NULL;
	if (cmd->cmd.has_argv) {
		if ((r = alb_unikernel_config_dup(u->config, &c)) < 0)
			return r;
		alb_unikernel_config_clear_arguments(c);
		for (uint32_t i = 0; i < cmd->cmd.argc; i++)
			if ((r = alb_unikernel_config_add_argument(c, cmd->cmd.argv[i])) < 0)
				return r;
		/* Checked against the policies with the new arguments. */
		if ((r = vmm_check(vmm, cmd->name, c, true)) < 0)
			return r;
	}
	struct waiter *w = waiter_new(conn, cmd);
	if (!w)
		return -ENOMEM;
	if ((r = vmm_restart(vmm, u, c, w)) < 0) {
		/* w was not taken */
		alb_conn_pause(conn, false);
		alb_conn_unref(w->conn);
		free(w);
		return r;
	}
	return 0;
}

/* Starts an upload of expected bytes for cmd into a temporary file in dir. */
static int upload_begin(struct session *s, alb_msg **cmd, const char *dir, uint64_t expected)
{
	if (snprintf(s->upload_path, sizeof(s->upload_path), "%s/.upload-XXXXXX", dir) >=
	    (int)sizeof(s->upload_path))
		return -ENAMETOOLONG;
	s->upload_fd = mkostemp(s->upload_path, O_CLOEXEC);
	if (s->upload_fd < 0)
		return alb_error(s->vmm->ctx, errno, "Failed to create '%s': %s", s->upload_path,
				 strerror(errno));
	s->upload = TAKE_PTR(*cmd);
	s->expected = expected;
	s->received = 0;
	return 0;
}

static void upload_abort(struct session *s)
{
	if (s->upload_fd >= 0) {
		close(s->upload_fd);
		unlink(s->upload_path);
	}
	s->upload_fd = -1;
	s->upload = alb_msg_free(s->upload);
}

static int precheck_create(alb_vmm *vmm, const alb_msg *cmd)
{
	const alb_unikernel_config *c = cmd->cmd.config;
	int r;
	if (alb_name_is_path(cmd->name))
		return alb_error(vmm->ctx, EINVAL,
				 "a unikernel needs a name, not a path "
				 "(no ':' at the end)");
	if ((r = alb_unikernel_config_validate(vmm->ctx, c)) < 0)
		return r;
	if (c->image_size == 0)
		return alb_error(vmm->ctx, EINVAL, "the image is empty");
	struct uk *u = vmm_find(vmm, cmd->name);
	if (u && cmd->cmd.kind == ALB_CMD_UNIKERNEL_CREATE) {
		_cleanup_free_ char *s = name_s(cmd->name);
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
	return alb_tree_check_unikernel(vmm->tree, cmd->name, c);
}

static int finish_create(struct session *s, const alb_msg *cmd)
{
	alb_vmm *vmm = s->vmm;
	alb_unikernel_config *c = cmd->cmd.config;
	uint8_t digest[32];
	int r = alb_image_store(vmm->ctx, vmm->images_dir, s->upload_path, c->compressed, digest);
	if (r < 0)
		return r;
	/* A digest in the command (a remote create's certificate binds its image by it)
	 * must be the image's. */
	if (c->has_digest && memcmp(c->digest, digest, sizeof(digest)) != 0) {
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
	struct uk *u = vmm_find(vmm, cmd->name);
	if ((r = vmm_check(vmm, cmd->name, c, u != NULL)) < 0) {
		vmm_image_unref(vmm, digest);
		return r;
	}
	if (u) {
		struct waiter *w = waiter_new(s->conn, cmd);
		if (!w)
			return -ENOMEM;
		if ((r = vmm_restart(vmm, u, c, w)) < 0) {
			alb_conn_pause(s->conn, false);
			alb_conn_unref(w->conn);
			free(w);
			vmm_image_unref(vmm, digest);
		}
		return r;
	}
	if ((r = vmm_add(vmm, cmd->name, c, NULL)) < 0) {
		vmm_image_unref(vmm, digest);
		return r;
	}
	return alb_conn_send_ok(s->conn, cmd->seq, cmd->name, "created");
}

/* ---- blocks ----------------------------------------------------------------------------- */

static int check_block_name(alb_vmm *vmm, const alb_name *name)
{
	if (alb_name_is_path(name))
		return alb_error(vmm->ctx, EINVAL, "a block device needs a name, not a path");
	return 0;
}

static int cmd_block_info(alb_vmm *vmm, struct alb_conn *conn, const alb_msg *cmd)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	int r = reply_new(cmd, ALB_REPLY_BLOCKS, &m);
	if (r < 0)
		return r;
	for (struct vmm_block *b = vmm->blocks; b; b = b->next) {
		if (!selects(cmd->name, b->name))
			continue;
		if (m->reply.n_blocks >= ALB_WIRE_LIST_MAX)
			break;
		struct alb_block_info *v =
		    realloc(m->reply.blocks, (m->reply.n_blocks + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		m->reply.blocks = v;
		struct alb_block_info *i = &v[m->reply.n_blocks++];
		memset(i, 0, sizeof(*i));
		if ((r = alb_name_dup(b->name, &i->name)) < 0 ||
		    (r = alb_tree_get_block(vmm->tree, b->name, &i->size_mb)) < 0)
			return r;
		i->sector_size = b->sector_size;
		struct uk *u = vmm_block_user(vmm, b->name);
		if (u && (r = alb_name_dup(u->name, &i->used_by)) < 0)
			return r;
	}
	if (m->reply.n_blocks == 0 && !alb_name_is_path(cmd->name)) {
		_cleanup_free_ char *s = name_s(cmd->name);
		return alb_error(vmm->ctx, ENOENT, "no block device '%s'", s);
	}
	return alb_conn_send(conn, m);
}

/* Writes the upload (inflating it if compressed) into the block file, bounded by its size,
 * streaming: a block device may be far larger than memory. */
static int block_fill(alb_vmm *vmm, const char *upload, bool compressed, const char *file,
		      uint64_t size_mb)
{
	_cleanup_close_ int in = open(upload, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return alb_error(vmm->ctx, errno, "Failed to open '%s': %s", upload,
				 strerror(errno));
	_cleanup_close_ int out = open(file, O_WRONLY | O_CLOEXEC);
	if (out < 0)
		return alb_error(vmm->ctx, errno, "Failed to open '%s': %s", file, strerror(errno));
	uint64_t written;
	int r = alb_copy_inflate(vmm->ctx, in, out, compressed, size_mb << 20, NULL, &written);
	if (r == -EFBIG)
		return alb_error(vmm->ctx, EFBIG,
				 "the data is larger than the block device (%" PRIu64 " MB)",
				 size_mb);
	if (r < 0)
		return r;
	if (fsync(out) < 0)
		return alb_error(vmm->ctx, errno, "Failed to write '%s': %s", file,
				 strerror(errno));
	return 0;
}

static int block_create_file(alb_vmm *vmm, const char *file, uint64_t size_mb)
{
	_cleanup_close_ int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return alb_error(vmm->ctx, errno, "Failed to create '%s': %s", file,
				 strerror(errno));
	if (ftruncate(fd, (off_t)(size_mb << 20)) < 0) {
		int r =
		    alb_error(vmm->ctx, errno, "Failed to size '%s': %s", file, strerror(errno));
		unlink(file);
		return r;
	}
	return 0;
}

/* The block device name, which must exist and be used by no unikernel (to be
 * removed or rewritten). */
static int block_unused(alb_vmm *vmm, const alb_name *name, struct vmm_block **ret)
{
	int r = check_block_name(vmm, name);
	if (r < 0)
		return r;
	_cleanup_free_ char *n = name_s(name);
	if (!(*ret = vmm_block_find(vmm, name)))
		return alb_error(vmm->ctx, ENOENT, "no block device '%s'", n);
	struct uk *u = vmm_block_user(vmm, name);
	if (u)
		return alb_error(vmm->ctx, EBUSY, "block device '%s' is used by '%s'", n,
				 u->name_s);
	return 0;
}

/*
 * The block device of a block-add: registered, its file made (filled from upload,
 * zlib-compressed if the command says so; NULL: zeros), the state written, the event
 * sent, the reply queued. On failure nothing of it stays.
 */
static int block_create(struct session *s, const alb_msg *cmd, const char *upload)
{
	alb_vmm *vmm = s->vmm;
	uint64_t mb = cmd->cmd.block_size_mb;
	char file[PATH_MAX];
	int r;

	if ((r = vmm_block_path(vmm, cmd->name, file)) < 0 ||
	    (r = vmm_block_add(vmm, cmd->name, mb, cmd->cmd.sector_size)) < 0)
		return r;
	if ((r = block_create_file(vmm, file, mb)) < 0 ||
	    (upload && (r = block_fill(vmm, upload, cmd->cmd.compressed, file, mb)) < 0))
		goto undo;
	if ((r = vmm_save(vmm)) < 0) {
		r = alb_error(vmm->ctx, -r, "the state file could not be written");
		goto undo;
	}
	vmm_event_send(vmm, vmm_event_new(vmm, ALB_EVENT_BLOCK_ADDED, cmd->name));
	return alb_conn_send_ok(s->conn, cmd->seq, cmd->name, "block device created");
undo:
	unlink(file);
	vmm_block_forget(vmm, cmd->name);
	return r;
}

static int finish_block(struct session *s, const alb_msg *cmd)
{
	alb_vmm *vmm = s->vmm;
	char file[PATH_MAX];
	int r = vmm_block_path(vmm, cmd->name, file);
	if (r < 0)
		return r;
	if (cmd->cmd.kind == ALB_CMD_BLOCK_SET) {
		/* Checked again: the upload took time. */
		struct vmm_block *b;
		uint64_t size;
		if ((r = block_unused(vmm, cmd->name, &b)) < 0 ||
		    (r = alb_tree_get_block(vmm->tree, cmd->name, &size)) < 0)
			return r;
		r = block_fill(vmm, s->upload_path, cmd->cmd.compressed, file, size);
		return r < 0
			   ? r
			   : alb_conn_send_ok(s->conn, cmd->seq, cmd->name, "block device written");
	}
	return block_create(s, cmd, s->upload_path);
}

static int cmd_block_add(struct session *s, alb_msg **cmdp)
{
	alb_vmm *vmm = s->vmm;
	const alb_msg *cmd = *cmdp;
	int r = check_block_name(vmm, cmd->name);
	if (r < 0)
		return r;
	if (vmm_block_find(vmm, cmd->name)) {
		_cleanup_free_ char *n = name_s(cmd->name);
		return alb_error(vmm->ctx, EEXIST, "block device '%s' exists", n);
	}
	if ((r = vmm_refresh_root_policy(vmm)) < 0)
		return r;
	char file[PATH_MAX];
	if ((r = vmm_block_path(vmm, cmd->name, file)) < 0)
		return r;
	if (cmd->cmd.data_size > 0) {
		/* Check the policies now, insert when the data is there. */
		if ((r = alb_tree_insert_block(vmm->tree, cmd->name, cmd->cmd.block_size_mb)) < 0)
			return r;
		alb_tree_remove_block(vmm->tree, cmd->name);
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s/block", vmm->dbdir);
		return upload_begin(s, cmdp, dir, cmd->cmd.data_size);
	}
	return block_create(s, cmd, NULL);
}

static int cmd_block_remove(alb_vmm *vmm, struct alb_conn *conn, const alb_msg *cmd)
{
	struct vmm_block *b;
	int r = block_unused(vmm, cmd->name, &b);
	if (r < 0)
		return r;
	char file[PATH_MAX];
	if ((r = vmm_block_path(vmm, cmd->name, file)) < 0)
		return r;
	/* Out of the state first: a file without a state entry is harmless, the
	 * reverse is not. */
	uint64_t size = 0;
	uint32_t sector = b->sector_size;
	alb_tree_get_block(vmm->tree, cmd->name, &size);
	vmm_block_forget(vmm, cmd->name);
	if ((r = vmm_save(vmm)) < 0) {
		vmm_block_add(vmm, cmd->name, size, sector);
		return alb_error(vmm->ctx, -r, "the state file could not be written");
	}
	if (unlink(file) < 0 && errno != ENOENT)
		alb_log_err(vmm->ctx, "Failed to remove '%s': %s", file, strerror(errno));
	vmm_event_send(vmm, vmm_event_new(vmm, ALB_EVENT_BLOCK_REMOVED, cmd->name));
	return alb_conn_send_ok(conn, cmd->seq, cmd->name, "block device removed");
}

static int cmd_block_set(struct session *s, alb_msg **cmdp)
{
	alb_vmm *vmm = s->vmm;
	const alb_msg *cmd = *cmdp;
	struct vmm_block *b;
	int r = block_unused(vmm, cmd->name, &b);
	if (r < 0)
		return r;
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/block", vmm->dbdir);
	return upload_begin(s, cmdp, dir, cmd->cmd.data_size);
}

/* ---- downloads -------------------------------------------------------------------------- */

/* Sends chunks while the queue is short; the end frame after the last one. */
static void download_pump(struct session *s)
{
	if (s->download_fd < 0)
		return;
	_cleanup_free_ uint8_t *buf = malloc(ALB_CHUNK_MAX);
	while (buf && alb_conn_queued(s->conn) < DOWNLOAD_QUEUE) {
		ssize_t n = alb_read_full(s->download_fd, buf, ALB_CHUNK_MAX);
		if (n < 0) {
			/* Never an end frame after a failed read: the client would keep a
			 * truncated copy. */
			alb_conn_send_failure(s->conn, s->download_seq, s->download_name, (int)-n,
					      "Failed to read the data: %s", strerror((int)-n));
			close(s->download_fd);
			s->download_fd = -1;
			alb_conn_close(s->conn);
			return;
		}
		if (n == 0) {
			close(s->download_fd);
			s->download_fd = -1;
			s->download_name = alb_name_free(s->download_name);
			alb_conn_send_end(s->conn);
			alb_conn_pause(s->conn, false);
			return;
		}
		_cleanup_(alb_msg_freep) alb_msg *m = NULL;
		if (alb_msg_new(&m, ALB_MSG_DATA, s->download_seq, s->download_name) < 0)
			break;
		m->data.kind = ALB_DATA_CHUNK;
		m->data.chunk = malloc((size_t)n);
		if (!m->data.chunk)
			break;
		memcpy(m->data.chunk, buf, (size_t)n);
		m->data.chunk_len = (uint32_t)n;
		if (alb_conn_send(s->conn, m) < 0)
			break;
	}
	if (!buf || alb_conn_queued(s->conn) < DOWNLOAD_QUEUE) {
		/* Could not queue: give up on this connection. */
		close(s->download_fd);
		s->download_fd = -1;
		alb_conn_close(s->conn);
	}
}

/* An fd to stream: the file, or (compress) its zlib-compressed copy in an unnamed temp file. */
static int download_open(alb_vmm *vmm, const char *path, bool compress, uint64_t *ret_size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return alb_error(vmm->ctx, errno, "Failed to open '%s': %s", path, strerror(errno));
	if (!compress) {
		*ret_size = (uint64_t)st.st_size;
		return TAKE_FD(fd);
	}
	_cleanup_close_ int tmp = open(vmm->dbdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (tmp < 0)
		return alb_error(vmm->ctx, errno, "Failed to make a temporary file: %s",
				 strerror(errno));
	z_stream zs = {0};
	if (deflateInit(&zs, Z_BEST_COMPRESSION) != Z_OK)
		return -ENOMEM;
	_cleanup_free_ uint8_t *in = malloc(65536), *out = malloc(65536);
	int r = in && out ? 0 : -ENOMEM, flush = Z_NO_FLUSH;
	while (r == 0 && flush != Z_FINISH) {
		ssize_t n = alb_read_full(fd, in, 65536);
		if (n < 0) {
			r = (int)n;
			break;
		}
		flush = n < 65536 ? Z_FINISH : Z_NO_FLUSH;
		zs.next_in = in;
		zs.avail_in = (uInt)n;
		do {
			zs.next_out = out;
			zs.avail_out = 65536;
			deflate(&zs, flush);
			r = alb_write_full(tmp, out, 65536 - zs.avail_out);
		} while (r == 0 && zs.avail_out == 0);
	}
	deflateEnd(&zs);
	if (r < 0)
		return alb_error(vmm->ctx, -r, "Failed to compress '%s': %s", path, strerror(-r));
	off_t size = lseek(tmp, 0, SEEK_CUR);
	if (size < 0 || lseek(tmp, 0, SEEK_SET) < 0)
		return -errno;
	*ret_size = (uint64_t)size;
	return TAKE_FD(tmp);
}

static int cmd_get(struct session *s, const alb_msg *cmd)
{
	alb_vmm *vmm = s->vmm;
	struct uk *u;
	int r = lookup(vmm, cmd->name, &u);
	if (r < 0)
		return r;
	char path[PATH_MAX];
	uint64_t size;
	r = alb_image_path(vmm->images_dir, u->config->digest, path);
	if (r < 0)
		return r;
	int fd = download_open(vmm, path, cmd->cmd.compress, &size);
	if (fd < 0)
		return fd;
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	if ((r = reply_new(cmd, ALB_REPLY_IMAGE, &m)) < 0) {
		close(fd);
		return r;
	}
	m->reply.image_size = size;
	m->reply.compressed = cmd->cmd.compress;
	m->reply.tender = u->config->tender;
	memcpy(m->reply.digest, u->config->digest, 32);
	if ((r = alb_conn_send(s->conn, m)) < 0 ||
	    (r = alb_name_dup(cmd->name, &s->download_name)) < 0) {
		close(fd);
		return r;
	}
	s->download_fd = fd;
	s->download_seq = cmd->seq;
	alb_conn_pause(s->conn, true);
	download_pump(s);
	return 0;
}

static int cmd_block_dump(struct session *s, const alb_msg *cmd)
{
	alb_vmm *vmm = s->vmm;
	int r = check_block_name(vmm, cmd->name);
	if (r < 0)
		return r;
	struct vmm_block *b = vmm_block_find(vmm, cmd->name);
	if (!b) {
		_cleanup_free_ char *n = name_s(cmd->name);
		return alb_error(vmm->ctx, ENOENT, "no block device '%s'", n);
	}
	char path[PATH_MAX];
	uint64_t size;
	if ((r = vmm_block_path(vmm, cmd->name, path)) < 0)
		return r;
	int fd = download_open(vmm, path, cmd->cmd.compress, &size);
	if (fd < 0)
		return fd;
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	if ((r = reply_new(cmd, ALB_REPLY_BLOCKS, &m)) < 0 ||
	    !(m->reply.blocks = calloc(1, sizeof(*m->reply.blocks)))) {
		close(fd);
		return r < 0 ? r : -ENOMEM;
	}
	m->reply.n_blocks = 1;
	struct alb_block_info *i = &m->reply.blocks[0];
	i->sector_size = b->sector_size;
	if ((r = alb_name_dup(cmd->name, &i->name)) < 0 ||
	    (r = alb_tree_get_block(vmm->tree, cmd->name, &i->size_mb)) < 0 ||
	    (r = alb_conn_send(s->conn, m)) < 0 ||
	    (r = alb_name_dup(cmd->name, &s->download_name)) < 0) {
		close(fd);
		return r;
	}
	s->download_fd = fd;
	s->download_seq = cmd->seq;
	alb_conn_pause(s->conn, true);
	download_pump(s);
	return 0;
}

/* ---- tenders ------------------------------------------------------------------------------ */

static int cmd_tenders(alb_vmm *vmm, struct alb_conn *conn, const alb_msg *cmd)
{
	_cleanup_free_ struct alb_tender_info_local *v = NULL;
	uint32_t n = 0;
	int r = alb_tender_list(vmm->ctx, &vmm->tenders, vmm->tender_dir, &v, &n);
	if (r < 0)
		return r;
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	if ((r = reply_new(cmd, ALB_REPLY_TENDERS, &m)) < 0)
		return r;
	if (n > ALB_TENDERS_MAX)
		n = ALB_TENDERS_MAX;
	if (n && !(m->reply.tenders = calloc(n, sizeof(*m->reply.tenders))))
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct alb_tender_info *t = &m->reply.tenders[m->reply.n_tenders++];
		t->target = v[i].tender;
		t->abi = v[i].abi;
		if (!(t->name = strdup(v[i].name)) || !(t->path = strdup(v[i].path)) ||
		    !(t->version = strdup(v[i].version)))
			return -ENOMEM;
		if (alb_tender_host_check(vmm->ctx, t->target, vmm->has_tender_user,
					  vmm->tender_uid, vmm->tender_gid) < 0 &&
		    !(t->unusable = strdup(alb_ctx_last_error(vmm->ctx))))
			return -ENOMEM;
	}
	return alb_conn_send(conn, m);
}

/* ---- dispatch --------------------------------------------------------------------------- */

static int upload_data(struct session *s, alb_msg *msg)
{
	_cleanup_(alb_msg_freep) alb_msg *m = msg;
	alb_vmm *vmm = s->vmm;
	if (m) {
		if (m->kind != ALB_MSG_DATA || m->data.kind != ALB_DATA_CHUNK) {
			alb_conn_send_failure(s->conn, s->upload->seq, s->upload->name, EPROTO,
					      "expected data chunks of the upload");
			upload_abort(s);
			return -EPROTO; /* closes the connection */
		}
		if (s->received + m->data.chunk_len > s->expected) {
			alb_conn_send_failure(s->conn, s->upload->seq, s->upload->name, EBADMSG,
					      "more data than the %" PRIu64 " bytes announced",
					      s->expected);
			upload_abort(s);
			return -EBADMSG;
		}
		int r = alb_write_full(s->upload_fd, m->data.chunk, m->data.chunk_len);
		if (r < 0) {
			alb_conn_send_failure(s->conn, s->upload->seq, s->upload->name, -r,
					      "Failed to store the upload: %s", strerror(-r));
			upload_abort(s);
			return r;
		}
		s->received += m->data.chunk_len;
		return 0;
	}
	/* The end of the stream. */
	_cleanup_(alb_msg_freep) alb_msg *cmd = TAKE_PTR(s->upload);
	close(s->upload_fd);
	s->upload_fd = -1;
	int r;
	if (s->received != s->expected)
		r = alb_error(vmm->ctx, EBADMSG, "%" PRIu64 " bytes arrived, %" PRIu64 " announced",
			      s->received, s->expected);
	else if (cmd->cmd.kind == ALB_CMD_UNIKERNEL_CREATE ||
		 cmd->cmd.kind == ALB_CMD_UNIKERNEL_FORCE_CREATE)
		r = finish_create(s, cmd);
	else
		r = finish_block(s, cmd);
	(void)unlink(s->upload_path); /* unless alb_image_store took it */
	if (r < 0)
		reply_error(s->conn, cmd, r, vmm->ctx);
	return 0;
}

static int on_message(struct alb_conn *conn, alb_msg *msg, void *userdata)
{
	alb_vmm *vmm = userdata;
	struct session *s = alb_conn_get_data(conn);
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s) {
			alb_msg_free(msg);
			return -ENOMEM;
		}
		s->vmm = vmm;
		s->conn = conn;
		s->upload_fd = -1;
		s->download_fd = -1;
		alb_conn_set_data(conn, s);
	}
	if (s->discarding) {
		if (!msg) {
			s->discarding = false;
			return 0;
		}
		if (msg->kind == ALB_MSG_DATA && msg->seq == s->discard_seq) {
			alb_msg_free(msg);
			return 0;
		}
		s->discarding = false; /* a client that stopped without an end frame */
	}
	if (s->upload) {
		const char *who = s->upload->cmd.on_behalf_of;
		snprintf(vmm->identity, sizeof(vmm->identity), "uid %u%s%s",
			 (unsigned)alb_conn_peer_uid(conn), who ? " for " : "", who ? who : "");
		int r = upload_data(s, msg);
		vmm->identity[0] = '\0';
		return r;
	}
	_cleanup_(alb_msg_freep) alb_msg *cmd = msg;
	if (!cmd)
		return 0; /* a stray end-of-stream frame */
	if (cmd->kind != ALB_MSG_COMMAND) {
		alb_conn_send_failure(conn, cmd->seq, cmd->name, EPROTO, "expected a command");
		return -EPROTO;
	}
	alb_ctx_clear_error(vmm->ctx);
	if (cmd->cmd.on_behalf_of)
		snprintf(vmm->identity, sizeof(vmm->identity), "uid %u for %s",
			 (unsigned)alb_conn_peer_uid(conn), cmd->cmd.on_behalf_of);
	else
		snprintf(vmm->identity, sizeof(vmm->identity), "uid %u",
			 (unsigned)alb_conn_peer_uid(conn));
	int r;
	switch (cmd->cmd.kind) {
	case ALB_CMD_UNIKERNEL_INFO:
		r = cmd_info(vmm, conn, cmd);
		break;
	case ALB_CMD_UNIKERNEL_CREATE:
	case ALB_CMD_UNIKERNEL_FORCE_CREATE:
		r = precheck_create(vmm, cmd);
		if (r >= 0)
			r = upload_begin(s, &cmd, vmm->images_dir, cmd->cmd.config->image_size);
		break;
	case ALB_CMD_UNIKERNEL_DESTROY:
		r = cmd_destroy(vmm, conn, cmd);
		break;
	case ALB_CMD_UNIKERNEL_RESTART:
		r = cmd_restart(vmm, conn, cmd);
		break;
	case ALB_CMD_UNIKERNEL_GET:
		r = cmd_get(s, cmd);
		break;
	case ALB_CMD_POLICY_INFO:
		r = cmd_policy_info(vmm, conn, cmd);
		break;
	case ALB_CMD_POLICY_ADD:
		r = cmd_policy_add(vmm, conn, cmd);
		break;
	case ALB_CMD_POLICY_REMOVE:
		r = cmd_policy_remove(vmm, conn, cmd);
		break;
	case ALB_CMD_BLOCK_INFO:
		r = cmd_block_info(vmm, conn, cmd);
		break;
	case ALB_CMD_BLOCK_ADD:
		r = cmd_block_add(s, &cmd);
		break;
	case ALB_CMD_BLOCK_REMOVE:
		r = cmd_block_remove(vmm, conn, cmd);
		break;
	case ALB_CMD_BLOCK_SET:
		r = cmd_block_set(s, &cmd);
		break;
	case ALB_CMD_BLOCK_DUMP:
		r = cmd_block_dump(s, cmd);
		break;
	case ALB_CMD_TENDERS_INFO:
		r = cmd_tenders(vmm, conn, cmd);
		break;
	default:
		r = alb_error(vmm->ctx, EOPNOTSUPP, "albatrossd does not handle '%s'",
			      alb_command_to_string(cmd->cmd.kind));
		break;
	}
	vmm->identity[0] = '\0';
	if (r < 0) {
		/* cmd may have moved into the session (an upload that failed to begin). */
		const alb_msg *c = cmd ? cmd : s->upload;
		if (c)
			reply_error(conn, c, r, vmm->ctx);
		/* Its data may follow all the same: dropped, the connection stays usable. */
		if (c && c->kind == ALB_MSG_COMMAND &&
		    (c->cmd.kind == ALB_CMD_UNIKERNEL_CREATE ||
		     c->cmd.kind == ALB_CMD_UNIKERNEL_FORCE_CREATE ||
		     c->cmd.kind == ALB_CMD_BLOCK_SET ||
		     (c->cmd.kind == ALB_CMD_BLOCK_ADD && c->cmd.data_size > 0))) {
			s->discarding = true;
			s->discard_seq = c->seq;
		}
		if (!cmd)
			upload_abort(s);
	}
	return 0;
}

static void on_close(struct alb_conn *conn, void *userdata)
{
	struct session *s = alb_conn_get_data(conn);
	if (!s)
		return;
	upload_abort(s);
	if (s->download_fd >= 0)
		close(s->download_fd);
	alb_name_free(s->download_name);
	alb_conn_set_data(conn, NULL);
	free(s);
}

static void on_drain(struct alb_conn *conn, void *userdata)
{
	struct session *s = alb_conn_get_data(conn);
	if (s)
		download_pump(s);
}

const struct alb_server_ops vmm_server_ops = {
    .on_message = on_message,
    .on_close = on_close,
    .on_drain = on_drain,
};

ALB_EXPORT int alb_vmm_create(alb_vmm *vmm, const alb_name *name,
			      const alb_unikernel_config *config, const char *image_path)
{
	if (!vmm || !name || !config || !image_path)
		return -EINVAL;
	alb_ctx *ctx = vmm->ctx;
	char upload[PATH_MAX];
	if (snprintf(upload, sizeof(upload), "%s/.upload-XXXXXX", vmm->images_dir) >=
	    (int)sizeof(upload))
		return -ENAMETOOLONG;
	_cleanup_close_ int out = mkostemp(upload, O_CLOEXEC);
	if (out < 0)
		return alb_error(ctx, errno, "Failed to create '%s': %s", upload, strerror(errno));
	/* The embedder's file is copied as it is (compressed or not), streaming. */
	_cleanup_close_ int in = open(image_path, O_RDONLY | O_CLOEXEC);
	int r = in < 0
		    ? alb_error(ctx, errno, "Failed to open '%s': %s", image_path, strerror(errno))
		    : alb_copy_inflate(ctx, in, out, false, ALB_IMAGE_SIZE_MAX, NULL, NULL);
	if (r < 0) {
		unlink(upload);
		return r;
	}
	_cleanup_(alb_unikernel_config_freep) alb_unikernel_config *c = NULL;
	uint8_t digest[32];
	if ((r = alb_unikernel_config_dup(config, &c)) < 0 ||
	    (r = alb_image_store(ctx, vmm->images_dir, upload, config->compressed, digest)) < 0)
		return r;
	alb_unikernel_config_set_digest(c, digest);
	if ((r = vmm_check(vmm, name, c, false)) < 0 || (r = vmm_add(vmm, name, c, NULL)) < 0) {
		vmm_image_unref(vmm, digest);
		return r;
	}
	return 0;
}
