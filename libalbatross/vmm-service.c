/* SPDX-License-Identifier: ISC */
/*
 * albatrossd's service: the supervisor's socket. It decodes the commands of
 * docs/protocol.md, calls the supervisor (vmm-private.h) and replies, at once or
 * in the operation's completion; uploads are handed chunk by chunk to a thread
 * that writes them out (vmm_upload_*: inflated, bounded and checked off the
 * loop), downloads streamed as the socket drains. No decision about unikernels
 * is taken here.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/stat.h>

#include "ctx-private.h"
#include "fileio-private.h"
#include "server-private.h"
#include "svc-private.h"
#include "vmm-private.h"
#include "wire-private.h"
#include "zstream-private.h"

/* The largest frame albatrossd accepts: a data chunk and its envelope, or a
 * command; uploads come in chunks, so nothing needs more. */
#define VMM_FRAME_MAX (UINT64_C(2) << 20)

struct service {
	alb_vmm *vmm;
	struct alb_svcs *svcs; /* the services (svc-private.h) */
	alb_ctx *ctx;
	struct alb_server *server;
	char socket_path[PATH_MAX]; /* removed at the end if we made it */
};

/* Per connection. */
struct session {
	alb_vmm *vmm;
	struct alb_svcs *svcs;
	alb_ctx *ctx;
	struct alb_conn *conn;
	/* an upload: the command that waits for its data, which a thread writes out as it
	 * comes; the connection pauses while the thread's queue is full (full) and from
	 * the end frame until the thread is done (ended) */
	alb_msg *upload; /* the command */
	struct vmm_upload *up;
	uint64_t expected, received;
	bool upload_full, upload_ended;
	/* a download: what remains to be sent */
	int download_fd;
	uint64_t download_seq;
	alb_name *download_name;
	/* a download compressed first, by a thread of its own (the connection is paused) */
	struct deflate_job *deflating;
	/* an upload refused before its data: its chunks are dropped up to its end frame */
	bool discarding;
	uint64_t discard_seq;
};

/* Bytes queued before a download waits for the socket to drain. */
#define DOWNLOAD_QUEUE (UINT64_C(4) << 20)

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

/* A reply that waits for an operation to end (the connection pauses meanwhile). */
struct pending {
	struct alb_conn *conn; /* a reference */
	uint64_t seq;
};

static void pending_done(alb_vmm *vmm, const alb_name *name, int r, const char *text,
			 void *userdata)
{
	struct pending *p = userdata;
	if (!alb_conn_is_closed(p->conn)) {
		if (r < 0)
			alb_conn_send_failure(p->conn, p->seq, name, -r, "%s", text);
		else
			alb_conn_send_ok(p->conn, p->seq, name, text);
		alb_conn_pause(p->conn, false);
	}
	alb_conn_unref(p->conn);
	free(p);
}

static struct pending *pending_new(struct alb_conn *conn, const alb_msg *cmd)
{
	struct pending *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->conn = alb_conn_ref(conn);
	p->seq = cmd->seq;
	alb_conn_pause(conn, true);
	return p;
}

/* An operation that did not start: nobody will call pending_done. */
static void pending_cancel(struct pending *p)
{
	alb_conn_pause(p->conn, false);
	alb_conn_unref(p->conn);
	free(p);
}

/* A success reply to cmd once the changes made so far are durable (group commit,
 * docs/state.md); the connection pauses meanwhile. */
static int reply_ok_durable(alb_vmm *vmm, struct alb_conn *conn, const alb_msg *cmd,
			    const char *text)
{
	struct pending *p = pending_new(conn, cmd);
	if (!p) {
		int r = vmm_sync(vmm);
		return r < 0 ? r : alb_conn_send_ok(conn, cmd->seq, cmd->name, text);
	}
	vmm_when_durable(vmm, cmd->name, 0, text, pending_done, p);
	return 0;
}

/* ---- unikernels ------------------------------------------------------------------------- */

static int cmd_info(alb_vmm *vmm, struct alb_conn *conn, const alb_msg *cmd)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	int r = reply_new(cmd, ALB_REPLY_UNIKERNELS, &m);
	if (r < 0 || (r = vmm_unikernel_infos(vmm, cmd->name, ALB_WIRE_LIST_MAX,
					      &m->reply.unikernels, &m->reply.n_unikernels)) < 0)
		return r;
	return alb_conn_send(conn, m);
}

static int cmd_destroy(alb_vmm *vmm, struct alb_conn *conn, const alb_msg *cmd)
{
	struct pending *p = pending_new(conn, cmd);
	if (!p)
		return -ENOMEM;
	int r = vmm_destroy_name(vmm, cmd->name, pending_done, p);
	if (r < 0)
		pending_cancel(p);
	return r;
}

static int cmd_restart(alb_vmm *vmm, struct alb_conn *conn, const alb_msg *cmd)
{
	struct pending *p = pending_new(conn, cmd);
	if (!p)
		return -ENOMEM;
	int r = vmm_restart_name(vmm, cmd->name, cmd->cmd.has_argv, cmd->cmd.argv, cmd->cmd.argc,
				 pending_done, p);
	if (r < 0)
		pending_cancel(p);
	return r;
}

static void upload_done(struct vmm_upload *up, int r, void *userdata);
static void upload_drained(struct vmm_upload *up, void *userdata);
static const struct vmm_upload_ops upload_ops = {.done = upload_done, .drained = upload_drained};

/* Whose cmd's upload is (its bound, vmm-private.h). */
#define PEER(s, cmd) ((struct vmm_peer){.uid = alb_conn_peer_uid((s)->conn), .name = (cmd)->name})

/* Starts the upload up (taken) of expected bytes for cmd. */
static int upload_begin(struct session *s, alb_msg **cmd, struct vmm_upload *up, uint64_t expected)
{
	s->up = up;
	s->upload = TAKE_PTR(*cmd);
	s->expected = expected;
	s->received = 0;
	s->upload_full = s->upload_ended = false;
	alb_conn_set_receiving(s->conn, true); /* the slow bound (server-private.h) */
	return 0;
}

/* Stops the upload (its thread) and removes what it wrote; the command goes. */
static void upload_abort(struct session *s)
{
	s->up = vmm_upload_free(s->up);
	s->upload = alb_msg_free(s->upload);
	s->upload_full = s->upload_ended = false;
	alb_conn_set_receiving(s->conn, false);
}

static int cmd_create(struct session *s, alb_msg **cmdp)
{
	const alb_msg *cmd = *cmdp;
	struct vmm_upload *up;
	int r = vmm_create_check(s->vmm, cmd->name, cmd->cmd.config,
				 cmd->cmd.kind == ALB_CMD_UNIKERNEL_FORCE_CREATE);
	if (r < 0 ||
	    (r = vmm_upload_image(s->vmm, &PEER(s, cmd), cmd->cmd.config, &upload_ops, s, &up)) < 0)
		return r;
	return upload_begin(s, cmdp, up, cmd->cmd.config->image_size);
}

static int finish_create(struct session *s, const alb_msg *cmd)
{
	struct pending *p = pending_new(s->conn, cmd);
	if (!p)
		return -ENOMEM;
	/*
	 * A new unikernel is done at once. One of that name is replaced (done when the
	 * old one stopped): a force-create's, or one that a create made while this
	 * create's image was on its way (the name was free when the command came).
	 */
	int r =
	    vmm_create_uploaded(s->vmm, cmd->name, cmd->cmd.config, s->up, true, pending_done, p);
	if (r < 0) {
		pending_cancel(p); /* not taken */
		return r;
	}
	/* Done now: the reply once it is durable (group commit, docs/state.md). */
	if (r == 0)
		vmm_when_durable(s->vmm, cmd->name, 0, "created", pending_done, p);
	return 0;
}

/* ---- services ---------------------------------------------------------------------------- */

static int cmd_deploy(struct session *s, alb_msg **cmdp)
{
	const alb_msg *cmd = *cmdp;
	struct vmm_upload *up;
	int r = alb_svcs_deploy_check(s->svcs, cmd->name, cmd->cmd.config, cmd->cmd.service);
	if (r < 0 ||
	    (r = vmm_upload_image(s->vmm, &PEER(s, cmd), cmd->cmd.config, &upload_ops, s, &up)) < 0)
		return r;
	return upload_begin(s, cmdp, up, cmd->cmd.config->image_size);
}

static int finish_deploy(struct session *s, const alb_msg *cmd)
{
	struct pending *p = pending_new(s->conn, cmd);
	if (!p)
		return -ENOMEM;
	int r = alb_svcs_deploy(s->svcs, cmd->name, cmd->cmd.config, cmd->cmd.service, s->up,
				pending_done, p);
	if (r < 0)
		pending_cancel(p);
	return r;
}

static int service_by_name(const void *a, const void *b)
{
	const struct alb_service_info *x = a, *y = b;
	_cleanup_free_ char *sx = alb_name_to_string(x->name), *sy = alb_name_to_string(y->name);
	return strcmp(sx ? sx : "", sy ? sy : "");
}

static int cmd_service_info(struct session *s, const alb_msg *cmd)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	int r = reply_new(cmd, ALB_REPLY_SERVICES, &m);
	if (r < 0 ||
	    (r = alb_svcs_infos(s->svcs, cmd->name, &m->reply.services, &m->reply.n_services)) < 0)
		return r;
	/* In name order, as every listing (they are kept in the order they were deployed). */
	if (m->reply.n_services > 1)
		qsort(m->reply.services, m->reply.n_services, sizeof(*m->reply.services),
		      service_by_name);
	return alb_conn_send(s->conn, m);
}

static int cmd_service_remove(struct session *s, const alb_msg *cmd)
{
	struct pending *p = pending_new(s->conn, cmd);
	if (!p)
		return -ENOMEM;
	int r = alb_svcs_remove(s->svcs, cmd->name, pending_done, p);
	if (r < 0)
		pending_cancel(p);
	return r;
}

/* A collect's reply waits for the unikernels it destroys. */
struct collect {
	struct alb_conn *conn;
	alb_msg *reply;
};

static void collect_done(alb_vmm *vmm, const alb_name *name, int r, const char *text,
			 void *userdata)
{
	struct collect *c = userdata;
	if (!alb_conn_is_closed(c->conn)) {
		(void)alb_conn_send(c->conn, c->reply);
		alb_conn_pause(c->conn, false);
	}
	alb_msg_free(c->reply);
	alb_conn_unref(c->conn);
	free(c);
}

static int cmd_collect(struct session *s, const alb_msg *cmd)
{
	if (!alb_name_is_path(cmd->name))
		return alb_error(s->ctx, EINVAL, "collect takes a path (':' at the end)");
	struct collect *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	int r = reply_new(cmd, ALB_REPLY_COLLECTED, &c->reply);
	if (r < 0) {
		free(c);
		return r;
	}
	c->conn = alb_conn_ref(s->conn);
	alb_conn_pause(s->conn, true);
	r = alb_svcs_collect(s->svcs, cmd->name, &c->reply->reply.collected,
			     &c->reply->reply.n_collected, collect_done, c);
	if (r < 0) {
		alb_conn_pause(s->conn, false);
		alb_conn_unref(c->conn);
		alb_msg_free(c->reply);
		free(c);
	}
	return r;
}

/* ---- policies ---------------------------------------------------------------------------- */

static int cmd_policy_info(alb_vmm *vmm, struct alb_conn *conn, const alb_msg *cmd)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	int r = reply_new(cmd, ALB_REPLY_POLICIES, &m);
	if (r < 0 || (r = vmm_policy_infos(vmm, cmd->name, ALB_WIRE_LIST_MAX, &m->reply.policies,
					   &m->reply.n_policies)) < 0)
		return r;
	return alb_conn_send(conn, m);
}

static int cmd_policy_add(alb_vmm *vmm, struct alb_conn *conn, const alb_msg *cmd)
{
	int r = vmm_policy_add(vmm, cmd->name, cmd->cmd.policy);
	if (r < 0)
		return r;
	return reply_ok_durable(vmm, conn, cmd, r == 1 ? "policy unchanged" : "policy added");
}

static int cmd_policy_remove(alb_vmm *vmm, struct alb_conn *conn, const alb_msg *cmd)
{
	int r = vmm_policy_remove(vmm, cmd->name);
	return r < 0 ? r : reply_ok_durable(vmm, conn, cmd, "policy removed");
}

/* ---- blocks ----------------------------------------------------------------------------- */

static int cmd_block_info(alb_vmm *vmm, struct alb_conn *conn, const alb_msg *cmd)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	int r = reply_new(cmd, ALB_REPLY_BLOCKS, &m);
	if (r < 0 || (r = vmm_block_infos(vmm, cmd->name, ALB_WIRE_LIST_MAX, &m->reply.blocks,
					  &m->reply.n_blocks)) < 0)
		return r;
	return alb_conn_send(conn, m);
}

static int finish_block(struct session *s, const alb_msg *cmd)
{
	if (cmd->cmd.kind == ALB_CMD_BLOCK_SET) { /* written: it replaces the device */
		int r = vmm_block_set_uploaded(s->vmm, s->up);
		return r < 0
			   ? r
			   : alb_conn_send_ok(s->conn, cmd->seq, cmd->name, "block device written");
	}
	int r = vmm_block_create_uploaded(s->vmm, cmd->name, cmd->cmd.block_size_mb,
					  cmd->cmd.sector_size, s->up);
	return r < 0 ? r : reply_ok_durable(s->vmm, s->conn, cmd, "block device created");
}

static int cmd_block_add(struct session *s, alb_msg **cmdp)
{
	const alb_msg *cmd = *cmdp;
	struct vmm_upload *up;
	int r = vmm_block_add_check(s->vmm, cmd->name, cmd->cmd.block_size_mb);
	if (r < 0)
		return r;
	if (cmd->cmd.data_size > 0) {
		if ((r = vmm_upload_block_new(s->vmm, &PEER(s, cmd), cmd->cmd.block_size_mb,
					      cmd->cmd.compressed, &upload_ops, s, &up)) < 0)
			return r;
		return upload_begin(s, cmdp, up, cmd->cmd.data_size);
	}
	r = vmm_block_create(s->vmm, cmd->name, cmd->cmd.block_size_mb, cmd->cmd.sector_size, NULL,
			     false);
	return r < 0 ? r : reply_ok_durable(s->vmm, s->conn, cmd, "block device created");
}

static int cmd_block_remove(alb_vmm *vmm, struct alb_conn *conn, const alb_msg *cmd)
{
	int r = vmm_block_remove(vmm, cmd->name);
	return r < 0 ? r : reply_ok_durable(vmm, conn, cmd, "block device removed");
}

static int cmd_block_set(struct session *s, alb_msg **cmdp)
{
	const alb_msg *cmd = *cmdp;
	struct vmm_upload *up;
	int r = vmm_upload_block_set(s->vmm, &PEER(s, cmd), cmd->name, cmd->cmd.compressed,
				     &upload_ops, s, &up);
	if (r < 0)
		return r;
	return upload_begin(s, cmdp, up, cmd->cmd.data_size);
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

/*
 * A compressed download: the file is compressed into an unnamed temporary file by a
 * thread of its own, off the loop (compressing an image of a gigabyte takes seconds);
 * the reply, which holds the compressed size, and the data follow when it is done. The
 * thread shares nothing with the loop but the stop flag, and its eventfd says it ended.
 */
struct deflate_job {
	struct session *s;
	alb_msg *cmd, *reply; /* the command, and its reply waiting for the size */
	int src, tmp, efd;
	alb_source *done;
	pthread_t thread;
	atomic_bool stop;
	int result; /* the thread's: 0 or -errno (read after the join) */
};

static void *deflate_main(void *userdata)
{
	struct deflate_job *j = userdata;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the loop's */
	_cleanup_(alb_zstream_freep) alb_zstream *z = NULL;
	_cleanup_free_ uint8_t *buf = malloc(ALB_ZSTREAM_BUF);
	int r = buf ? alb_zstream_new(ALB_ZSTREAM_DEFLATE, UINT64_MAX, false, alb_zstream_sink_fd,
				      &j->tmp, &z)
		    : -ENOMEM;
	while (r >= 0) {
		if (atomic_load(&j->stop)) {
			r = -ECANCELED;
			break;
		}
		ssize_t n = read(j->src, buf, ALB_ZSTREAM_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0) {
			r = alb_zstream_finish(z);
			break;
		}
		r = alb_zstream_write(z, buf, (size_t)n);
	}
	j->result = r < 0 ? r : 0;
	uint64_t one = 1;
	(void)!write(j->efd, &one, sizeof(one));
	return NULL;
}

/* Frees what the job holds; its thread has ended (joined). */
static void deflate_job_release(struct deflate_job *j)
{
	alb_source_free(j->done);
	if (j->efd >= 0)
		close(j->efd);
	if (j->src >= 0)
		close(j->src);
	if (j->tmp >= 0)
		close(j->tmp);
	alb_msg_free(j->cmd);
	alb_msg_free(j->reply);
	free(j);
}

/* Stops the thread (at its next 64 KiB), waits for it, and frees the job. */
static struct deflate_job *deflate_job_free(struct deflate_job *j)
{
	if (!j)
		return NULL;
	atomic_store(&j->stop, true);
	pthread_join(j->thread, NULL);
	deflate_job_release(j);
	return NULL;
}

static int download_start(struct session *s, const alb_msg *cmd, const alb_msg *m, int fd);

/* On the loop: the thread is done; the reply and the data, or the failure. */
static int deflate_done(alb_source *source, int fd, uint32_t events, void *userdata)
{
	struct deflate_job *j = userdata;
	struct session *s = j->s;
	s->deflating = NULL;
	pthread_join(j->thread, NULL);
	alb_conn_pause(s->conn, false);
	int r = j->result;
	off_t size = r < 0 ? -1 : lseek(j->tmp, 0, SEEK_CUR);
	if (r >= 0 && (size < 0 || lseek(j->tmp, 0, SEEK_SET) < 0))
		r = -errno;
	if (r >= 0) {
		if (j->reply->reply.kind == ALB_REPLY_IMAGE)
			j->reply->reply.image_size = (uint64_t)size;
		int tmp = j->tmp;
		j->tmp = -1;
		r = download_start(s, j->cmd, j->reply, tmp);
	} else
		r = alb_error(s->ctx, -r, "Failed to compress the data: %s", strerror(-r));
	if (r < 0)
		reply_error(s->conn, j->cmd, r, s->ctx);
	deflate_job_release(j);
	return 0;
}

/* Sends the reply *mp (taken) to cmd and the data of the file at path: at once, or,
 * compressed, when a thread has compressed it (the connection paused meanwhile). */
static int download_file(struct session *s, const alb_msg *cmd, alb_msg **mp, const char *path)
{
	alb_vmm *vmm = s->vmm;
	_cleanup_(alb_msg_freep) alb_msg *m = TAKE_PTR(*mp);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return alb_error(vmm_ctx(vmm), errno, "Failed to open '%s': %s", path,
				 strerror(errno));
	if (!cmd->cmd.compress) {
		if (m->reply.kind == ALB_REPLY_IMAGE)
			m->reply.image_size = (uint64_t)st.st_size;
		return download_start(s, cmd, m, TAKE_FD(fd));
	}
	struct deflate_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->s = s;
	j->src = j->tmp = j->efd = -1;
	j->reply = TAKE_PTR(m);
	int r = alb_msg_copy(s->ctx, cmd, &j->cmd);
	if (r < 0)
		goto fail;
	j->tmp = open(vmm_spool_dir(vmm, false), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (j->tmp < 0) {
		r = alb_error(vmm_ctx(vmm), errno, "Failed to make a temporary file: %s",
			      strerror(errno));
		goto fail;
	}
	j->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (j->efd < 0) {
		r = -errno;
		goto fail;
	}
	j->src = TAKE_FD(fd);
	if ((r = alb_loop_add_io(vmm_loop(vmm), j->efd, ALB_IO_IN, deflate_done, j, &j->done)) < 0)
		goto fail;
	if ((r = -pthread_create(&j->thread, NULL, deflate_main, j)) < 0)
		goto fail;
	s->deflating = j;
	alb_conn_pause(s->conn, true);
	return 0;
fail:
	deflate_job_release(j);
	return r;
}

/* Sends the reply m to cmd, then the data of fd (taken) as chunks, as the socket drains. */
static int download_start(struct session *s, const alb_msg *cmd, const alb_msg *m, int fd)
{
	int r;
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

static int cmd_get(struct session *s, const alb_msg *cmd)
{
	alb_vmm *vmm = s->vmm;
	char path[PATH_MAX];
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	int r = reply_new(cmd, ALB_REPLY_IMAGE, &m);
	if (r < 0 ||
	    (r = vmm_image_of(vmm, cmd->name, path, &m->reply.tender, m->reply.digest)) < 0)
		return r;
	m->reply.compressed = cmd->cmd.compress;
	return download_file(s, cmd, &m, path);
}

static int cmd_block_dump(struct session *s, const alb_msg *cmd)
{
	alb_vmm *vmm = s->vmm;
	char path[PATH_MAX];
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	int r = reply_new(cmd, ALB_REPLY_BLOCKS, &m);
	if (r < 0)
		return r;
	if (!(m->reply.blocks = calloc(1, sizeof(*m->reply.blocks))))
		return -ENOMEM;
	if ((r = vmm_block_file(vmm, cmd->name, path, &m->reply.blocks[0])) < 0)
		return r;
	m->reply.n_blocks = 1;
	m->reply.blocks[0].used_by = alb_name_free(m->reply.blocks[0].used_by);
	return download_file(s, cmd, &m, path);
}

/* ---- tenders ------------------------------------------------------------------------------ */

static int cmd_tenders(alb_vmm *vmm, struct alb_conn *conn, const alb_msg *cmd)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	int r = reply_new(cmd, ALB_REPLY_TENDERS, &m);
	if (r < 0 || (r = vmm_tender_infos(vmm, ALB_TENDERS_MAX, &m->reply.tenders,
					   &m->reply.n_tenders)) < 0)
		return r;
	return alb_conn_send(conn, m);
}

/* ---- dispatch --------------------------------------------------------------------------- */

static int upload_data(struct session *s, alb_msg *msg)
{
	_cleanup_(alb_msg_freep) alb_msg *m = msg;
	if (m) {
		if (m->kind != ALB_MSG_DATA || m->data.kind != ALB_DATA_CHUNK) {
			alb_conn_send_failure(s->conn, s->upload->seq, s->upload->name, EPROTO,
					      "expected data chunks of the upload");
			upload_abort(s);
			return -EPROTO; /* closes the connection */
		}
		/* A chunk carries its command's sequence number and name (docs/protocol.md). */
		if (m->seq != s->upload->seq || !alb_name_equal(m->name, s->upload->name)) {
			_cleanup_free_ char *n = alb_name_to_string(m->name);
			alb_conn_send_failure(s->conn, s->upload->seq, s->upload->name, EPROTO,
					      "a data chunk of sequence number %" PRIu64
					      " and name '%s' in the upload of sequence number "
					      "%" PRIu64 ": a chunk carries its command's",
					      m->seq, n ? n : "?", s->upload->seq);
			upload_abort(s);
			return -EPROTO;
		}
		if (s->received + m->data.chunk_len > s->expected) {
			alb_conn_send_failure(s->conn, s->upload->seq, s->upload->name, EBADMSG,
					      "more data than the %" PRIu64 " bytes announced",
					      s->expected);
			upload_abort(s);
			return -EBADMSG;
		}
		s->received += m->data.chunk_len;
		/* To the thread: the loop neither inflates nor writes. */
		int r = vmm_upload_push(s->up, TAKE_PTR(m->data.chunk), m->data.chunk_len);
		if (r < 0) {
			alb_conn_send_failure(s->conn, s->upload->seq, s->upload->name, -r,
					      "Failed to store the upload: %s", strerror(-r));
			upload_abort(s);
			return r;
		}
		if (r == 1) {
			/* The thread is behind: no more frames until it caught up. */
			s->upload_full = true;
			alb_conn_pause(s->conn, true);
		}
		return 0;
	}
	/* The end of the stream. */
	alb_conn_set_receiving(s->conn, false);
	if (s->received != s->expected) {
		_cleanup_(alb_msg_freep) alb_msg *cmd = TAKE_PTR(s->upload);
		upload_abort(s);
		reply_error(s->conn, cmd,
			    alb_error(s->ctx, EBADMSG,
				      "%" PRIu64 " bytes arrived, %" PRIu64 " announced",
				      s->received, s->expected),
			    s->ctx);
		return 0;
	}
	/* The reply comes when the thread is done. */
	s->upload_ended = true;
	alb_conn_pause(s->conn, true);
	vmm_upload_end(s->up);
	return 0;
}

/* The thread caught up: the next chunks. */
static void upload_drained(struct vmm_upload *up, void *userdata)
{
	struct session *s = userdata;
	if (s->upload_full) {
		s->upload_full = false;
		alb_conn_pause(s->conn, false);
	}
}

static void set_identity(alb_vmm *vmm, struct alb_conn *conn, const alb_msg *cmd);

/* The thread is done: all written (after the end frame), or refused (maybe before it). */
static void upload_done(struct vmm_upload *up, int r, void *userdata)
{
	struct session *s = userdata;
	_cleanup_(alb_msg_freep) alb_msg *cmd = TAKE_PTR(s->upload);
	bool ended = s->upload_ended;
	/* Resumed first: a completion that waits pauses the connection again. */
	if (s->upload_full || s->upload_ended)
		alb_conn_pause(s->conn, false);
	s->upload_full = s->upload_ended = false;
	set_identity(s->vmm, s->conn, cmd);
	if (r >= 0) {
		alb_ctx_clear_error(s->ctx);
		if (cmd->cmd.kind == ALB_CMD_UNIKERNEL_CREATE ||
		    cmd->cmd.kind == ALB_CMD_UNIKERNEL_FORCE_CREATE)
			r = finish_create(s, cmd);
		else if (cmd->cmd.kind == ALB_CMD_SERVICE_DEPLOY)
			r = finish_deploy(s, cmd);
		else
			r = finish_block(s, cmd);
	}
	/* What was not taken is removed: the image or block file, the device's mark. */
	s->up = vmm_upload_free(s->up);
	vmm_set_identity(s->vmm, NULL);
	if (r < 0)
		reply_error(s->conn, cmd, r, s->ctx);
	if (!ended) {
		/* Refused before its end: the rest of it is dropped, the connection stays
		 * usable. */
		s->discarding = true;
		s->discard_seq = cmd->seq;
		alb_conn_set_receiving(s->conn, true);
	}
}

/* Who asks: "uid N", or "uid N for WHO" for a remote client's command. */
static void set_identity(alb_vmm *vmm, struct alb_conn *conn, const alb_msg *cmd)
{
	const char *who = cmd->cmd.on_behalf_of;
	char identity[64 + ALB_ON_BEHALF_OF_MAX];
	snprintf(identity, sizeof(identity), "uid %u%s%s", (unsigned)alb_conn_peer_uid(conn),
		 who ? " for " : "", who ? who : "");
	vmm_set_identity(vmm, identity);
}

static int on_message(struct alb_conn *conn, alb_msg *msg, void *userdata)
{
	struct service *svc = userdata;
	alb_vmm *vmm = svc->vmm;
	struct session *s = alb_conn_get_data(conn);
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s) {
			alb_msg_free(msg);
			return -ENOMEM;
		}
		s->vmm = vmm;
		s->svcs = svc->svcs;
		s->ctx = svc->ctx;
		s->conn = conn;
		s->download_fd = -1;
		alb_conn_set_data(conn, s);
	}
	if (s->discarding) {
		if (!msg) {
			s->discarding = false;
			alb_conn_set_receiving(conn, false);
			return 0;
		}
		if (msg->kind == ALB_MSG_DATA && msg->seq == s->discard_seq) {
			alb_msg_free(msg);
			return 0;
		}
		s->discarding = false; /* a client that stopped without an end frame */
		alb_conn_set_receiving(conn, false);
	}
	if (s->upload) {
		set_identity(vmm, conn, s->upload);
		int r = upload_data(s, msg);
		vmm_set_identity(vmm, NULL);
		return r;
	}
	_cleanup_(alb_msg_freep) alb_msg *cmd = msg;
	if (!cmd)
		return 0; /* a stray end-of-stream frame */
	if (cmd->kind != ALB_MSG_COMMAND) {
		alb_conn_send_failure(conn, cmd->seq, cmd->name, EPROTO, "expected a command");
		return -EPROTO;
	}
	alb_ctx_clear_error(svc->ctx);
	set_identity(vmm, conn, cmd);
	int r;
	switch (cmd->cmd.kind) {
	case ALB_CMD_UNIKERNEL_INFO:
		r = cmd_info(vmm, conn, cmd);
		break;
	case ALB_CMD_UNIKERNEL_CREATE:
	case ALB_CMD_UNIKERNEL_FORCE_CREATE:
		r = cmd_create(s, &cmd);
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
	case ALB_CMD_SERVICE_DEPLOY:
		r = cmd_deploy(s, &cmd);
		break;
	case ALB_CMD_SERVICE_INFO:
		r = cmd_service_info(s, cmd);
		break;
	case ALB_CMD_SERVICE_REMOVE:
		r = cmd_service_remove(s, cmd);
		break;
	case ALB_CMD_COLLECT:
		r = cmd_collect(s, cmd);
		break;
	default:
		r = alb_error(svc->ctx, EOPNOTSUPP, "albatrossd does not handle '%s'",
			      alb_command_to_string(cmd->cmd.kind));
		break;
	}
	vmm_set_identity(vmm, NULL);
	if (r < 0) {
		/* cmd may have moved into the session (an upload that failed to begin). */
		const alb_msg *c = cmd ? cmd : s->upload;
		if (c)
			reply_error(conn, c, r, svc->ctx);
		/* Its data may follow all the same: dropped, the connection stays usable. */
		if (c && c->kind == ALB_MSG_COMMAND &&
		    (c->cmd.kind == ALB_CMD_UNIKERNEL_CREATE ||
		     c->cmd.kind == ALB_CMD_UNIKERNEL_FORCE_CREATE ||
		     c->cmd.kind == ALB_CMD_SERVICE_DEPLOY || c->cmd.kind == ALB_CMD_BLOCK_SET ||
		     (c->cmd.kind == ALB_CMD_BLOCK_ADD && c->cmd.data_size > 0))) {
			s->discarding = true;
			s->discard_seq = c->seq;
		}
		if (!cmd)
			upload_abort(s);
		if (s->discarding)
			alb_conn_set_receiving(conn, true);
	}
	return 0;
}

static void on_close(struct alb_conn *conn, void *userdata)
{
	struct session *s = alb_conn_get_data(conn);
	if (!s)
		return;
	upload_abort(s);
	s->deflating = deflate_job_free(s->deflating);
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

static const struct alb_server_ops server_ops = {
    .on_message = on_message,
    .on_close = on_close,
    .on_drain = on_drain,
};

static void service_free(void *userdata)
{
	struct service *svc = userdata;
	if (!svc)
		return;
	alb_server_free(svc->server);
	alb_svcs_free(svc->svcs);
	if (svc->socket_path[0])
		(void)unlink(svc->socket_path);
	free(svc);
}

/* albatrossd stops: the replies given last (held until durable) reach their clients. */
static void service_flush(void *userdata)
{
	struct service *svc = userdata;
	alb_server_flush(svc->server, 2000);
}

/* albatrossd's service of vmm, made on first use and freed with it. */
static int service_get(alb_vmm *vmm, struct service **ret)
{
	struct service *svc = vmm_service(vmm);
	if (!svc) {
		if (!(svc = calloc(1, sizeof(*svc))))
			return -ENOMEM;
		svc->vmm = vmm;
		svc->ctx = vmm_ctx(vmm);
		int r = alb_server_new(svc->ctx, vmm_loop(vmm), &server_ops, svc, VMM_FRAME_MAX,
				       &svc->server);
		if (r < 0) {
			free(svc);
			return r;
		}
		/* The services, restored before the first command. */
		if ((r = alb_svcs_new(vmm, &svc->svcs)) < 0) {
			alb_server_free(svc->server);
			free(svc);
			return r;
		}
		vmm_set_service(vmm, svc, service_free);
		vmm_set_service_flush(vmm, service_flush);
	}
	*ret = svc;
	return 0;
}

ALB_EXPORT int alb_vmm_listen(alb_vmm *vmm, const char *path)
{
	if (!vmm)
		return -EINVAL;
	char def[PATH_MAX];
	if (!path) {
		snprintf(def, sizeof(def), "%s/albatrossd.sock", vmm_rundir(vmm));
		path = def;
	}
	struct service *svc;
	int r = service_get(vmm, &svc);
	if (r < 0 ||
	    (r = alb_server_listen_unix(svc->server, path, 0660, (gid_t)vmm_socket_group(vmm))) < 0)
		return r;
	snprintf(svc->socket_path, sizeof(svc->socket_path), "%s", path);
	return 0;
}

ALB_EXPORT int alb_vmm_listen_fd(alb_vmm *vmm, int fd)
{
	if (!vmm || fd < 0)
		return -EINVAL;
	struct service *svc;
	int r = service_get(vmm, &svc);
	return r < 0 ? r : alb_server_add_listen_fd(svc->server, fd);
}
