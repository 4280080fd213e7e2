/* SPDX-License-Identifier: ISC */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cbor-private.h"
#include "ctx-private.h"
#include "fileio-private.h"
#include "journal-private.h"

/* ---- records ------------------------------------------------------------------------------ */

static const char *const op_names[] = {
    [ALB_JOURNAL_PUT_POLICY] = "put-policy",
    [ALB_JOURNAL_REMOVE_POLICY] = "remove-policy",
    [ALB_JOURNAL_PUT_UNIKERNEL] = "put-unikernel",
    [ALB_JOURNAL_REMOVE_UNIKERNEL] = "remove-unikernel",
    [ALB_JOURNAL_PUT_BLOCK] = "put-block",
    [ALB_JOURNAL_REMOVE_BLOCK] = "remove-block",
};

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The checksum covers the length too, so that a damaged length is caught as well. */
static uint32_t record_crc(const uint8_t *len_bytes, const uint8_t *payload, size_t len)
{
	uLong crc = crc32(0L, Z_NULL, 0);
	crc = crc32(crc, len_bytes, 4);
	crc = crc32(crc, payload, (uInt)len);
	return (uint32_t)crc;
}

int alb_journal_encode(alb_ctx *ctx, const struct alb_journal_record *rec, uint8_t **ret,
		       size_t *ret_len)
{
	if ((unsigned)rec->op >= ELEMENTSOF(op_names) || !rec->name)
		return alb_error(ctx, EINVAL, "not a journal record");
	bool put = rec->op == ALB_JOURNAL_PUT_POLICY || rec->op == ALB_JOURNAL_PUT_UNIKERNEL ||
		   rec->op == ALB_JOURNAL_PUT_BLOCK;
	size_t n = 3 + (put ? 1 : 0) + (rec->op == ALB_JOURNAL_PUT_BLOCK && rec->sector_size);
	_cleanup_(cbor_decref_ptrp) cbor_item_t *root = cbor_new_definite_map(n);
	bool ok = root && alb_cbor_put(root, "seq", alb_cbor_uint(rec->seq));
	ok = ok && alb_cbor_put(root, "op", alb_cbor_text(op_names[rec->op]));
	ok = ok && alb_cbor_put(root, "name", alb_name_to_cbor(rec->name));
	switch (rec->op) {
	case ALB_JOURNAL_PUT_POLICY:
		ok = ok && rec->policy &&
		     alb_cbor_put(root, "policy", alb_policy_to_cbor(rec->policy));
		break;
	case ALB_JOURNAL_PUT_UNIKERNEL:
		if (!rec->config || !rec->config->has_digest)
			return alb_error(ctx, EINVAL, "a stored unikernel needs its image digest");
		ok = ok && alb_cbor_put(root, "config", alb_config_to_cbor(rec->config));
		break;
	case ALB_JOURNAL_PUT_BLOCK:
		ok = ok && alb_cbor_put(root, "size", alb_cbor_uint(rec->size_mb));
		if (rec->sector_size)
			ok = ok &&
			     alb_cbor_put(root, "sector-size", alb_cbor_uint(rec->sector_size));
		break;
	default:
		break;
	}
	if (!ok)
		return -ENOMEM;
	_cleanup_free_ uint8_t *payload = NULL;
	size_t len;
	int r = alb_cbor_serialize(ctx, root, &payload, &len);
	if (r < 0)
		return r;
	if (len > ALB_JOURNAL_RECORD_MAX)
		return alb_error(ctx, EINVAL, "a journal record of %zu bytes is too large", len);
	uint8_t *buf = malloc(ALB_JOURNAL_HEADER + len);
	if (!buf)
		return -ENOMEM;
	put_le32(buf, (uint32_t)len);
	put_le32(buf + 4, record_crc(buf, payload, len));
	memcpy(buf + ALB_JOURNAL_HEADER, payload, len);
	*ret = buf;
	*ret_len = ALB_JOURNAL_HEADER + len;
	return 0;
}

int alb_journal_apply(alb_ctx *ctx, struct alb_state *state, const struct alb_journal_record *rec)
{
	switch (rec->op) {
	case ALB_JOURNAL_PUT_POLICY:
		if (!alb_name_is_path(rec->name))
			return alb_error(ctx, EINVAL, "a policy belongs to a path");
		alb_state_remove_policy(state, rec->name);
		return alb_state_add_policy(ctx, state, rec->name, rec->policy);
	case ALB_JOURNAL_REMOVE_POLICY:
		alb_state_remove_policy(state, rec->name);
		return 0;
	case ALB_JOURNAL_PUT_UNIKERNEL:
		if (alb_name_is_path(rec->name))
			return alb_error(ctx, EINVAL, "a unikernel needs a name, not a path");
		alb_state_remove_unikernel(state, rec->name);
		return alb_state_add_unikernel(ctx, state, rec->name, rec->config);
	case ALB_JOURNAL_REMOVE_UNIKERNEL:
		alb_state_remove_unikernel(state, rec->name);
		return 0;
	case ALB_JOURNAL_PUT_BLOCK:
		if (alb_name_is_path(rec->name))
			return alb_error(ctx, EINVAL, "a block device needs a name, not a path");
		alb_state_remove_block(state, rec->name);
		return alb_state_add_block(ctx, state, rec->name, rec->size_mb, rec->sector_size);
	case ALB_JOURNAL_REMOVE_BLOCK:
		alb_state_remove_block(state, rec->name);
		return 0;
	}
	return alb_error(ctx, EINVAL, "not a journal record");
}

/* Decodes and applies the payload of one record. */
static int replay_one(alb_ctx *ctx, struct alb_state *state, const uint8_t *payload, size_t len,
		      uint64_t *seq)
{
	_cleanup_(cbor_decref_ptrp) cbor_item_t *root = NULL;
	int r = alb_cbor_load(ctx, payload, len, &root);
	if (r < 0)
		return r;
	const cbor_item_t *opv = cbor_isa_map(root) ? alb_cbor_map_get(root, "op") : NULL;
	int op;
	if (!opv)
		return alb_error(ctx, EBADMSG, "op: missing");
	if ((r = alb_cbor_get_enum(ctx, opv, "op", op_names, ELEMENTSOF(op_names), &op)) < 0)
		return r;
	struct alb_cbor_key keys[] = {
	    {.key = "seq"},
	    {.key = "op"},
	    {.key = "name"},
	    {.key = "policy", .optional = op != ALB_JOURNAL_PUT_POLICY},
	    {.key = "config", .optional = op != ALB_JOURNAL_PUT_UNIKERNEL},
	    {.key = "size", .optional = op != ALB_JOURNAL_PUT_BLOCK},
	    {.key = "sector-size", .optional = true},
	};
	if ((r = alb_cbor_map_keys(ctx, root, "", keys, ELEMENTSOF(keys))) < 0)
		return r;
	if ((keys[3].value && op != ALB_JOURNAL_PUT_POLICY) ||
	    (keys[4].value && op != ALB_JOURNAL_PUT_UNIKERNEL) ||
	    ((keys[5].value || keys[6].value) && op != ALB_JOURNAL_PUT_BLOCK))
		return alb_error(ctx, EBADMSG, "a key that %s does not have", op_names[op]);
	_cleanup_(alb_name_freep) alb_name *name = NULL;
	_cleanup_(alb_policy_freep) alb_policy *policy = NULL;
	_cleanup_(alb_unikernel_config_freep) alb_unikernel_config *config = NULL;
	struct alb_journal_record rec = {.op = (enum alb_journal_op)op};
	if ((r = alb_cbor_get_u64(ctx, keys[0].value, keys[0].path, 1, INT64_MAX, &rec.seq)) < 0 ||
	    (r = alb_name_from_cbor(ctx, keys[2].value, keys[2].path, &name)) < 0 ||
	    (keys[3].value &&
	     (r = alb_policy_from_cbor(ctx, keys[3].value, keys[3].path, &policy)) < 0) ||
	    (keys[4].value &&
	     (r = alb_config_from_cbor(ctx, keys[4].value, keys[4].path, &config)) < 0) ||
	    (keys[5].value && (r = alb_cbor_get_u64(ctx, keys[5].value, keys[5].path, 1,
						    ALB_POLICY_MB_MAX, &rec.size_mb)) < 0) ||
	    (keys[6].value && (r = alb_cbor_get_sector_size(ctx, keys[6].value, keys[6].path,
							    &rec.sector_size)) < 0))
		return r;
	if (rec.seq <= *seq)
		return alb_error(ctx, EBADMSG, "seq: %" PRIu64 " does not follow %" PRIu64, rec.seq,
				 *seq);
	rec.name = name;
	rec.policy = policy;
	rec.config = config;
	if ((r = alb_journal_apply(ctx, state, &rec)) < 0)
		return r == -ENOMEM ? r : alb_error_prefix(ctx, -EBADMSG, "name");
	*seq = rec.seq;
	return 0;
}

int alb_journal_replay(alb_ctx *ctx, const char *path, const uint8_t *buf, size_t len,
		       struct alb_state *state, size_t *ret_valid, uint64_t *ret_last_seq,
		       bool *ret_torn)
{
	size_t o = 0;
	uint64_t seq = 0;
	*ret_torn = false;
	while (o < len) {
		size_t left = len - o;
		/*
		 * What a crash leaves (docs/state.md, "Torn tails"): a record is one write()
		 * appended at the end, so only the last one can be cut, and what is there of it
		 * is a prefix: an incomplete header, or a length within bounds and the file
		 * ending before the record does. Anything else is damage: refused, never cut
		 * (a damaged length must not take acknowledged records with it).
		 */
		if (left < ALB_JOURNAL_HEADER) {
			*ret_torn = true;
			break;
		}
		uint32_t n = get_le32(buf + o);
		if (n <= ALB_JOURNAL_RECORD_MAX && n > left - ALB_JOURNAL_HEADER) {
			*ret_torn = true;
			break;
		}
		if (n > ALB_JOURNAL_RECORD_MAX ||
		    get_le32(buf + o + 4) != record_crc(buf + o, buf + o + 8, n))
			return alb_error(ctx, EBADMSG,
					 "state journal '%s' cannot be used: the record at offset "
					 "%zu is damaged (bad checksum or length)",
					 path, o);
		int r = replay_one(ctx, state, buf + o + ALB_JOURNAL_HEADER, n, &seq);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			return alb_error_prefix(ctx, -EBADMSG,
						"state journal '%s' cannot be used: the record at "
						"offset %zu",
						path, o);
		o += ALB_JOURNAL_HEADER + n;
	}
	*ret_valid = o;
	*ret_last_seq = seq;
	return 0;
}

int alb_journal_load(alb_ctx *ctx, const char *path, struct alb_state *state, size_t *ret_valid,
		     uint64_t *ret_last_seq, bool *ret_torn)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r = alb_read_file(ctx, path, ALB_JOURNAL_SIZE_MAX, &buf, &len);
	if (r < 0)
		return r;
	return alb_journal_replay(ctx, path, buf, len, state, ret_valid, ret_last_seq, ret_torn);
}

/* ---- the writer --------------------------------------------------------------------------- */

/*
 * Appends are write()s on the caller's thread, in order; the thread only syncs (one
 * fdatasync for every record appended before it began: a group) and writes snapshots. The
 * file descriptor changes only while the thread is idle (after a snapshot, on the caller's
 * thread).
 */
struct alb_journal {
	char *path, *tmp_path, *dir, *state_path, *crash_at;
	int fd, efd;
	pthread_t thread;
	bool has_thread;
	pthread_mutex_t lock;
	pthread_cond_t wake, ended;
	/* the caller's thread only */
	uint64_t last_seq;  /* the last record appended */
	uint64_t file_size; /* bytes of whole records in the file */
	bool broken;	    /* the file may hold a partial record: no appends until a snapshot */
	uint8_t *snap;	    /* a snapshot to write at the next commit */
	size_t snap_len;
	uint64_t snap_seq, snap_off; /* what it has: records up to seq, bytes up to off */
	uint64_t failed;	     /* a failure to report: up to that seq (0: none) */
	uint64_t unrecorded; /* the last change not in the file: only a snapshot has it (0: none) */
	int err;
	char why[512];
	/* under lock */
	bool go, busy, stop, finished; /* finished: a job ended, not yet looked at */
	int job_fd;
	uint64_t job_seq;
	uint8_t *job_snap;
	size_t job_snap_len;
	uint64_t job_snap_seq, job_snap_off;
	int job_r;
	char job_why[512];
	uint64_t durable; /* the highest seq known durable */
};

static void crash_point(alb_journal *j, const char *point)
{
	if (j->crash_at && streq(j->crash_at, point))
		raise(SIGKILL);
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *worker(void *userdata)
{
	alb_journal *j = userdata;
	pthread_mutex_lock(&j->lock);
	for (;;) {
		while (!j->go && !j->stop)
			pthread_cond_wait(&j->wake, &j->lock);
		if (!j->go)
			break;
		j->go = false;
		int fd = j->job_fd;
		const uint8_t *snap = j->job_snap;
		size_t snap_len = j->job_snap_len;
		pthread_mutex_unlock(&j->lock);

		char why[sizeof(j->job_why)] = "";
		int r = 0;
		if (snap) {
			r = alb_atomic_write(NULL, j->state_path, snap, snap_len, 0600, true);
			if (r < 0)
				snprintf(why, sizeof(why),
					 "the state file '%s' could not be written: %s",
					 j->state_path, strerror(-r));
			else
				crash_point(j, "snapshot-written");
		}
		if (r == 0 && fdatasync(fd) < 0) {
			r = -errno;
			snprintf(why, sizeof(why), "the state journal '%s' could not be synced: %s",
				 j->path, strerror(-r));
		}

		pthread_mutex_lock(&j->lock);
		j->job_r = r;
		snprintf(j->job_why, sizeof(j->job_why), "%s", why);
		if (r == 0 && j->job_seq > j->durable)
			j->durable = j->job_seq;
		j->busy = false;
		j->finished = true;
		pthread_cond_broadcast(&j->ended);
		uint64_t one = 1;
		if (write(j->efd, &one, sizeof(one)) < 0) {
			/* cannot overflow: the loop reads it */
		}
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

/* The snapshot has the records up to snap_off: a new journal holds those after it. */
static int journal_reset(alb_journal *j, uint64_t snap_off, char *why, size_t why_len)
{
	uint64_t tail = j->file_size - snap_off;
	_cleanup_free_ uint8_t *buf = tail ? malloc(tail) : NULL;
	int r = 0;
	if (tail && !buf)
		return -ENOMEM;
	if (tail) {
		ssize_t got = pread(j->fd, buf, tail, (off_t)snap_off);
		if (got != (ssize_t)tail)
			r = got < 0 ? -errno : -EIO; /* short: errno says nothing */
	}
	int fd =
	    r < 0 ? -1 : open(j->tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (r == 0 && fd < 0)
		r = -errno;
	if (r == 0 && (r = write_all(fd, buf, tail)) == 0 && fdatasync(fd) < 0)
		r = -errno;
	if (r == 0 && rename(j->tmp_path, j->path) < 0)
		r = -errno;
	if (r < 0) {
		snprintf(why, why_len, "the state journal '%s' could not be started again: %s",
			 j->path, strerror(-r));
		if (fd >= 0) {
			close(fd);
			unlink(j->tmp_path);
		}
		return r;
	}
	/* From here on the new journal is the one, whatever sync_dir() says. */
	close(j->fd);
	j->fd = fd;
	j->file_size = tail;
	j->broken = false;
	if ((r = sync_dir(j->dir)) < 0)
		snprintf(why, why_len, "the directory of '%s' could not be synced: %s", j->path,
			 strerror(-r));
	return r;
}

/* What a commit without a snapshot makes durable: the records appended, up to the first
 * change not recorded. */
static uint64_t sync_target(const alb_journal *j)
{
	return j->unrecorded ? j->unrecorded - 1 : j->last_seq;
}

/* Looks at the job that ended (caller's thread, the thread idle). */
static void finish(alb_journal *j)
{
	pthread_mutex_lock(&j->lock);
	bool finished = j->finished;
	j->finished = false;
	int r = j->job_r;
	uint64_t seq = j->job_seq;
	uint8_t *snap = TAKE_PTR(j->job_snap);
	uint64_t snap_off = j->job_snap_off, snap_seq = j->job_snap_seq;
	char why[sizeof(j->why)];
	snprintf(why, sizeof(why), "%s", j->job_why);
	pthread_mutex_unlock(&j->lock);
	if (!finished)
		return;
	if (snap && r == 0) {
		/* The snapshot has every change up to snap_seq, recorded or not. */
		if (j->unrecorded && j->unrecorded <= snap_seq)
			j->unrecorded = 0;
		r = journal_reset(j, snap_off, why, sizeof(why));
		pthread_mutex_lock(&j->lock);
		/* The tail was synced in the new file. */
		if (r == 0 && sync_target(j) > j->durable)
			j->durable = sync_target(j);
		pthread_mutex_unlock(&j->lock);
	}
	free(snap);
	if (r < 0) {
		uint64_t upto = snap ? j->last_seq : seq;
		if (upto > j->failed)
			j->failed = upto;
		j->err = r;
		snprintf(j->why, sizeof(j->why), "%s", why);
	}
}

int alb_journal_open(alb_ctx *ctx, const char *path, const char *state_path, size_t valid,
		     uint64_t next_seq, const char *crash_at, alb_journal **ret)
{
	alb_journal *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->fd = j->efd = -1;
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->wake, NULL);
	pthread_cond_init(&j->ended, NULL);
	j->last_seq = j->durable = next_seq ? next_seq - 1 : 0;
	int r = 0;
	if (asprintf(&j->tmp_path, "%s.tmp", path) < 0)
		j->tmp_path = NULL; /* undefined after a failure */
	if (!j->tmp_path || !(j->path = strdup(path)) || !(j->state_path = strdup(state_path)) ||
	    !(j->dir = strdup(path)) || (crash_at && !(j->crash_at = strdup(crash_at)))) {
		alb_journal_free(j);
		return -ENOMEM;
	}
	char *slash = strrchr(j->dir, '/');
	if (slash && slash != j->dir)
		*slash = '\0';
	else
		snprintf(j->dir, strlen(j->dir) + 1, "%s", slash ? "/" : ".");
	j->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (j->fd < 0)
		r = alb_error(ctx, errno, "Failed to open the state journal '%s': %s", path,
			      strerror(errno));
	struct stat st;
	if (r == 0 && fstat(j->fd, &st) < 0)
		r = alb_error(ctx, errno, "Failed to open the state journal '%s': %s", path,
			      strerror(errno));
	/* A torn tail goes: the records that follow must not come after it. */
	if (r == 0 && (uint64_t)st.st_size != valid &&
	    (ftruncate(j->fd, (off_t)valid) < 0 || fdatasync(j->fd) < 0))
		r = alb_error(ctx, errno, "Failed to cut the torn tail of '%s': %s", path,
			      strerror(errno));
	j->file_size = valid;
	if (r == 0 && (j->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		r = alb_error(ctx, errno, "eventfd: %s", strerror(errno));
	if (r == 0) {
		/* Signals are the loop's: the thread takes none (SIGKILL of a crash point
		 * aside, which cannot be blocked). */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		int e = pthread_create(&j->thread, NULL, worker, j);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (e)
			r = alb_error(ctx, e, "Failed to start the journal thread: %s",
				      strerror(e));
		j->has_thread = e == 0;
	}
	if (r < 0) {
		alb_journal_free(j);
		return r;
	}
	*ret = j;
	return 0;
}

alb_journal *alb_journal_free(alb_journal *j)
{
	if (!j)
		return NULL;
	if (j->has_thread) {
		(void)alb_journal_sync(NULL, j);
		pthread_mutex_lock(&j->lock);
		j->stop = true;
		pthread_cond_signal(&j->wake);
		pthread_mutex_unlock(&j->lock);
		pthread_join(j->thread, NULL);
	}
	if (j->fd >= 0)
		close(j->fd);
	if (j->efd >= 0)
		close(j->efd);
	pthread_mutex_destroy(&j->lock);
	pthread_cond_destroy(&j->wake);
	pthread_cond_destroy(&j->ended);
	free(j->snap);
	free(j->job_snap);
	free(j->path);
	free(j->tmp_path);
	free(j->dir);
	free(j->state_path);
	free(j->crash_at);
	free(j);
	return NULL;
}

int alb_journal_append(alb_ctx *ctx, alb_journal *j, struct alb_journal_record *rec)
{
	if (j->broken)
		return alb_error(ctx, EIO,
				 "the state journal '%s' is not used since a failure to write it "
				 "(a snapshot comes next)",
				 j->path);
	rec->seq = j->last_seq + 1;
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r = alb_journal_encode(ctx, rec, &buf, &len);
	if (r < 0)
		return r;
	if (j->file_size + len > ALB_JOURNAL_GROW_MAX)
		return alb_error(ctx, ENOSPC,
				 "the state journal '%s' is full (%" PRIu64
				 " bytes): no snapshot could be written to start it again",
				 j->path, j->file_size);
	if ((r = write_all(j->fd, buf, len)) < 0) {
		/* No partial record may stay before the next ones. */
		if (ftruncate(j->fd, (off_t)j->file_size) < 0)
			j->broken = true;
		return alb_error(ctx, -r, "the state journal '%s' could not be written: %s",
				 j->path, strerror(-r));
	}
	j->file_size += len;
	j->last_seq = rec->seq;
	crash_point(j, "journal-appended");
	return 0;
}

void alb_journal_unrecorded(alb_journal *j)
{
	j->unrecorded = ++j->last_seq;
}

void alb_journal_snapshot(alb_journal *j, uint8_t *buf, size_t len)
{
	free(j->snap);
	j->snap = buf;
	j->snap_len = len;
	j->snap_seq = j->last_seq;
	j->snap_off = j->file_size;
}

void alb_journal_kick(alb_journal *j)
{
	pthread_mutex_lock(&j->lock);
	bool idle = !j->busy && !j->finished;
	bool due = j->snap || sync_target(j) > j->durable;
	if (idle && due) {
		j->busy = j->go = true;
		j->job_fd = j->fd;
		/* A snapshot makes durable what it has, a sync what was recorded. */
		bool whole = j->snap && (!j->unrecorded || j->unrecorded <= j->snap_seq);
		j->job_seq = whole ? j->last_seq : sync_target(j);
		j->job_snap = TAKE_PTR(j->snap);
		j->job_snap_len = j->snap_len;
		j->job_snap_seq = j->snap_seq;
		j->job_snap_off = j->snap_off;
		pthread_cond_signal(&j->wake);
	}
	pthread_mutex_unlock(&j->lock);
}

int alb_journal_event_fd(alb_journal *j)
{
	return j->efd;
}

int alb_journal_done(alb_journal *j, uint64_t *ret_durable, uint64_t *ret_failed, char *why,
		     size_t why_len)
{
	uint64_t n;
	while (read(j->efd, &n, sizeof(n)) > 0) {
	}
	finish(j);
	pthread_mutex_lock(&j->lock);
	*ret_durable = j->durable;
	pthread_mutex_unlock(&j->lock);
	*ret_failed = j->failed;
	int r = j->failed ? j->err : 0;
	if (j->failed)
		snprintf(why, why_len, "%s", j->why);
	j->failed = 0;
	return r;
}

uint64_t alb_journal_last_seq(alb_journal *j)
{
	return j->last_seq;
}

uint64_t alb_journal_durable(alb_journal *j)
{
	pthread_mutex_lock(&j->lock);
	uint64_t d = j->durable;
	pthread_mutex_unlock(&j->lock);
	return d;
}

uint64_t alb_journal_size(alb_journal *j)
{
	return j->file_size;
}

bool alb_journal_busy(alb_journal *j)
{
	pthread_mutex_lock(&j->lock);
	bool b = j->busy || j->finished;
	pthread_mutex_unlock(&j->lock);
	return b || j->snap;
}

int alb_journal_sync(alb_ctx *ctx, alb_journal *j)
{
	/* A failure of an earlier commit is tried again once; then a failure is ours. */
	bool kicked = false;
	for (int round = 0; round < 4; round++) {
		pthread_mutex_lock(&j->lock);
		while (j->busy)
			pthread_cond_wait(&j->ended, &j->lock);
		pthread_mutex_unlock(&j->lock);
		finish(j);
		if (!j->snap && alb_journal_durable(j) >= j->last_seq)
			return 0;
		if (kicked && j->failed)
			return alb_error(ctx, -j->err, "%s", j->why);
		if (!j->snap && sync_target(j) <= alb_journal_durable(j))
			return alb_error(ctx, EIO,
					 "the state journal '%s' lacks a change: only a snapshot "
					 "makes it durable",
					 j->path);
		alb_journal_kick(j);
		kicked = true;
	}
	return alb_error(ctx, EIO, "the state journal '%s' could not be synced", j->path);
}
