/* SPDX-License-Identifier: ISC */
/* An upload written into a file by a thread of its own (ingest-private.h). */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <fcntl.h>
#include <linux/fs.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include "ctx-private.h"
#include "ingest-private.h"
#include "sha256-private.h"
#include "zstream-private.h"

/* With sync: the bytes written after which their writeback is started
 * (sync_file_range()), so that the fsync() at the end waits only for the last ones. */
#define WRITEBACK_STEP (UINT64_C(8) << 20)

struct piece {
	struct piece *next;  /* in the writer's queue */
	struct piece *hnext; /* in the hasher's queue */
	uint8_t *buf;
	size_t len;
	unsigned refs; /* under lock: the threads that still need it */
};

/* Ingests not yet freed, in the process: the heap is trimmed when the last one goes. */
static atomic_uint live_ingests;

struct alb_ingest {
	struct alb_ingest_options o;
	alb_source *source; /* the eventfd on the loop, until on_done */
	int efd;
	pthread_t thread;
	bool running; /* the thread was started and not yet joined */
	/*
	 * Uncompressed and hashed (an image): the hash is taken by a thread of its own
	 * from the same pieces, while the first one writes them (SHA-256 and the copy into
	 * the page cache take about as long each). The bytes written are the bytes pushed.
	 */
	bool split;
	pthread_t hasher;
	bool hasher_running;
	struct piece *hfirst, **hlast; /* under lock */
	bool hashed;		       /* under lock: everything pushed was hashed, after end */
	alb_sha256_ctx sha;	       /* the hasher's, read by the writer once hashed */
	bool locks;		       /* lock and cond are made */

	/* Shared with the thread, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct piece *first, **last;
	uint64_t queued;
	bool ended;		     /* alb_ingest_end() */
	bool done;		     /* the thread is finishing: result is its outcome */
	bool want_drain, drain_told; /* push said "full"; the thread woke the loop for it */
	int result;
	atomic_bool cancel; /* read by the thread at every step */

	/* The thread's until it ended, then the loop's. */
	alb_ctx *tctx; /* the reasons of the thread's failures */
	alb_zstream *z;
	uint8_t head[ALB_INGEST_HEAD_MAX];
	size_t head_got;
	bool head_checked;
	uint8_t digest[32];
	bool has_digest;
	uint64_t written, flushed; /* with sync: bytes written, those whose writeback began */
};

/* Tells the loop (from the thread): an eventfd write cannot fail but by overflow. */
static void wake(alb_ingest *g)
{
	uint64_t one = 1;
	(void)!write(g->efd, &one, sizeof(one));
}

static int write_out(alb_ingest *g, const uint8_t *buf, size_t len)
{
	int r = alb_write_full(g->o.fd, buf, len);
	if (r < 0)
		return alb_error(g->tctx, -r, "Failed to write the %s: %s", g->o.what,
				 strerror(-r));
	if (g->o.sync && (g->written += len) - g->flushed >= WRITEBACK_STEP) {
		/* Starts writing out the bytes written since, without waiting: a hint (the
		 * fsync() at the end is what makes the data durable). Offsets from where
		 * the writes began (0 but after a seed, which fsync() covers). */
		(void)sync_file_range(g->o.fd, (off64_t)g->flushed,
				      (off64_t)(g->written - g->flushed), SYNC_FILE_RANGE_WRITE);
		g->flushed = g->written;
	}
	return 0;
}

/* Checks the head held back (all of the data if it is shorter), then writes it. */
static int head_done(alb_ingest *g)
{
	int r;
	g->head_checked = true;
	if ((r = g->o.head_check(g->tctx, g->head, g->head_got)) < 0)
		return r;
	return write_out(g, g->head, g->head_got);
}

/* The zstream's sink, in the thread: the head is held back until it is checked. */
static int sink(const uint8_t *buf, size_t len, void *userdata)
{
	alb_ingest *g = userdata;
	int r;
	if (atomic_load(&g->cancel))
		return -ECANCELED;
	if (g->o.head_check && !g->head_checked) {
		size_t take = g->o.head_len - g->head_got;
		if (take > len)
			take = len;
		memcpy(g->head + g->head_got, buf, take);
		g->head_got += take;
		buf += take;
		len -= take;
		if (g->head_got < g->o.head_len)
			return 0;
		if ((r = head_done(g)) < 0)
			return r;
	}
	return len ? write_out(g, buf, len) : 0;
}

/* The end of the data, in the thread. */
static int finish(alb_ingest *g)
{
	int r = alb_zstream_finish(g->z);
	if (r < 0)
		return r;
	/* Shorter than the head: checked as it is. */
	if (g->o.head_check && !g->head_checked && (r = head_done(g)) < 0)
		return r;
	if (atomic_load(&g->cancel))
		return -ECANCELED; /* nobody waits for it: no fsync to hold the loop's join */
	if (g->o.sync && fsync(g->o.fd) < 0)
		return alb_error(g->tctx, errno, "Failed to write the %s: %s", g->o.what,
				 strerror(errno));
	if (g->split) {
		pthread_mutex_lock(&g->lock);
		while (!g->hashed && !atomic_load(&g->cancel))
			pthread_cond_wait(&g->cond, &g->lock);
		bool hashed = g->hashed;
		pthread_mutex_unlock(&g->lock);
		if (!hashed)
			return -ECANCELED;
		alb_sha256_final(&g->sha, g->digest);
		g->has_digest = true;
	} else if (g->o.hash)
		g->has_digest = alb_zstream_digest(g->z, g->digest) == 0;
	return 0;
}

/* The reason of a failure r of the stream, in the thread's context. */
static int reason(alb_ingest *g, int r)
{
	const char *what = g->o.what;
	switch (alb_zstream_fault(g->z)) {
	case ALB_ZSTREAM_FAULT_TOO_BIG:
		return alb_error(g->tctx, EFBIG, "the %s is larger than %" PRIu64 " bytes%s", what,
				 g->o.max, g->o.compressed ? " uncompressed" : "");
	case ALB_ZSTREAM_FAULT_TRUNCATED:
		return alb_error(g->tctx, EBADMSG, "the compressed %s is cut short", what);
	case ALB_ZSTREAM_FAULT_CORRUPT: {
		const char *why = alb_zstream_zlib_message(g->z);
		return alb_error(g->tctx, EBADMSG, "the compressed %s is corrupt: %s", what,
				 why ? why : "inflate failed");
	}
	case ALB_ZSTREAM_FAULT_TRAILING:
		return alb_error(g->tctx, EBADMSG, "trailing data after the compressed %s", what);
	}
	if (r == -ECANCELED)
		return alb_error(g->tctx, ECANCELED, "the upload was cancelled");
	if (!alb_ctx_last_error(g->tctx)[0])
		alb_error(g->tctx, -r, "Failed to store the %s: %s", what, strerror(-r));
	return r;
}

/* In the thread: fd gets the seed's content, then its offset goes back to 0. */
static int seed(alb_ingest *g)
{
	int in = g->o.seed_fd, out = g->o.fd;
	if (ioctl(out, FICLONE, in) < 0) {
		loff_t off_in = 0, off_out = 0;
		for (;;) {
			if (atomic_load(&g->cancel))
				return -ECANCELED;
			ssize_t n = copy_file_range(in, &off_in, out, &off_out, 64u << 20, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return alb_error(g->tctx, errno, "Failed to copy the %s: %s",
						 g->o.what, strerror(errno));
			if (n == 0)
				break;
		}
	}
	if (lseek(out, 0, SEEK_SET) < 0)
		return -errno;
	return 0;
}

/* A thread is done with p: freed when both are; the queue counts it until then. */
static void piece_release(alb_ingest *g, struct piece *p)
{
	bool tell = false, last;
	pthread_mutex_lock(&g->lock);
	last = --p->refs == 0;
	if (last) {
		g->queued -= p->len;
		if (g->want_drain && !g->drain_told && g->queued <= ALB_INGEST_QUEUE_MAX / 2)
			tell = g->drain_told = true;
	}
	pthread_mutex_unlock(&g->lock);
	if (last) {
		free(p->buf);
		free(p);
	}
	if (tell)
		wake(g);
}

/* The hasher (split): every piece, in order, until the end or a cancel. */
static void *hash_run(void *userdata)
{
	alb_ingest *g = userdata;
	for (;;) {
		pthread_mutex_lock(&g->lock);
		while (!g->hfirst && !g->ended && !atomic_load(&g->cancel))
			pthread_cond_wait(&g->cond, &g->lock);
		struct piece *p = NULL;
		if (!atomic_load(&g->cancel) && (p = g->hfirst) && !(g->hfirst = p->hnext))
			g->hlast = &g->hfirst;
		if (!p && !atomic_load(&g->cancel))
			g->hashed = true; /* ended, and nothing is left */
		if (!p)
			pthread_cond_broadcast(&g->cond);
		pthread_mutex_unlock(&g->lock);
		if (!p)
			return NULL;
		alb_sha256_update(&g->sha, p->buf, p->len);
		piece_release(g, p);
	}
}

static void *run(void *userdata)
{
	alb_ingest *g = userdata;
	int r = g->o.seed ? seed(g) : 0;
	for (; r >= 0;) {
		pthread_mutex_lock(&g->lock);
		while (!g->first && !g->ended && !atomic_load(&g->cancel))
			pthread_cond_wait(&g->cond, &g->lock);
		struct piece *p = NULL;
		if (!atomic_load(&g->cancel) && (p = g->first) && !(g->first = p->next))
			g->last = &g->first;
		pthread_mutex_unlock(&g->lock);
		if (!p && atomic_load(&g->cancel)) {
			r = -ECANCELED;
			break;
		}
		if (!p) {
			r = finish(g); /* ended, and nothing is left */
			break;
		}
		/* (Cancelled since: the sink says so at once.) */
		r = alb_zstream_write(g->z, p->buf, p->len);
		piece_release(g, p);
		if (r < 0)
			break;
	}
	if (r < 0)
		r = reason(g, r);
	pthread_mutex_lock(&g->lock);
	g->done = true;
	g->result = r;
	pthread_mutex_unlock(&g->lock);
	wake(g);
	return NULL;
}

/* On the loop: the thread ended, or drained its queue. */
static int on_wake(alb_source *source, int fd, uint32_t events, void *userdata)
{
	alb_ingest *g = userdata;
	uint64_t n;
	(void)!read(fd, &n, sizeof(n));
	pthread_mutex_lock(&g->lock);
	bool done = g->done, drained = g->want_drain && g->drain_told;
	if (drained)
		g->want_drain = g->drain_told = false;
	int r = g->result;
	pthread_mutex_unlock(&g->lock);
	if (done) {
		/* It has nothing left to do but return. */
		pthread_join(g->thread, NULL);
		g->running = false;
		g->source = alb_source_free(g->source);
		g->o.on_done(g, r, g->o.userdata); /* may free g */
		return 0;
	}
	if (drained && g->o.on_drained)
		g->o.on_drained(g, g->o.userdata);
	return 0;
}

int alb_ingest_new(alb_loop *loop, const struct alb_ingest_options *options, alb_ingest **ret)
{
	if (!options || options->fd < 0)
		return -EINVAL;
	_cleanup_close_ int fd = options->fd;
	_cleanup_close_ int seed_fd = options->seed ? options->seed_fd : -1;
	if (!loop || !options->on_done || !ret || options->head_len > ALB_INGEST_HEAD_MAX ||
	    (options->head_check && options->head_len == 0))
		return -EINVAL;
	_cleanup_(alb_ingest_freep) alb_ingest *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	atomic_fetch_add(&live_ingests, 1); /* alb_ingest_free() counts it out */
	g->o = *options;
	if (!g->o.what)
		g->o.what = "data";
	g->o.fd = TAKE_FD(fd);
	g->o.seed_fd = g->o.seed ? TAKE_FD(seed_fd) : -1;
	g->first = NULL;
	g->last = &g->first;
	g->hfirst = NULL;
	g->hlast = &g->hfirst;
	g->split = g->o.hash && !g->o.compressed;
	if (g->split)
		alb_sha256_init(&g->sha);
	g->efd = -1;
	atomic_init(&g->cancel, false);
	int r;
	if ((r = pthread_mutex_init(&g->lock, NULL)) != 0)
		return -r;
	if ((r = pthread_cond_init(&g->cond, NULL)) != 0) {
		pthread_mutex_destroy(&g->lock);
		return -r;
	}
	g->locks = true;
	if ((r = alb_ctx_new(&g->tctx)) < 0 ||
	    (r = alb_zstream_new(g->o.compressed ? ALB_ZSTREAM_INFLATE : ALB_ZSTREAM_COPY, g->o.max,
				 g->o.hash && !g->split, sink, g, &g->z)) < 0)
		return r;
	if ((g->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return -errno;
	if ((r = alb_loop_add_io(loop, g->efd, ALB_IO_IN, on_wake, g, &g->source)) < 0)
		return r;
	/* No signal for the thread: the loop takes them (signalfd), whatever is added later. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&g->thread, NULL, run, g);
	if (r == 0) {
		g->running = true;
		if (g->split && (r = pthread_create(&g->hasher, NULL, hash_run, g)) == 0)
			g->hasher_running = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return -r; /* free stops the writer */
	*ret = TAKE_PTR(g);
	return 0;
}

int alb_ingest_push(alb_ingest *g, uint8_t *buf, size_t len)
{
	if (!g || (!buf && len)) {
		free(buf);
		return -EINVAL;
	}
	if (len == 0) {
		free(buf);
		return 0;
	}
	struct piece *p = malloc(sizeof(*p));
	if (!p) {
		free(buf);
		return -ENOMEM;
	}
	*p = (struct piece){.buf = buf, .len = len, .refs = g->split ? 2 : 1};
	pthread_mutex_lock(&g->lock);
	if (g->ended) {
		pthread_mutex_unlock(&g->lock);
		free(buf);
		free(p);
		return -EINVAL;
	}
	*g->last = p;
	g->last = &p->next;
	if (g->split) {
		*g->hlast = p;
		g->hlast = &p->hnext;
	}
	g->queued += len;
	bool full = g->queued >= ALB_INGEST_QUEUE_MAX;
	if (full) {
		g->want_drain = true;
		g->drain_told = false;
	}
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	return full ? 1 : 0;
}

void alb_ingest_end(alb_ingest *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	g->ended = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

alb_ingest *alb_ingest_free(alb_ingest *g)
{
	if (!g)
		return NULL;
	if (g->running || g->hasher_running) {
		atomic_store(&g->cancel, true);
		pthread_mutex_lock(&g->lock);
		pthread_cond_broadcast(&g->cond);
		pthread_mutex_unlock(&g->lock);
		if (g->running)
			pthread_join(g->thread, NULL);
		if (g->hasher_running)
			pthread_join(g->hasher, NULL);
	}
	if (g->locks) {
		pthread_cond_destroy(&g->cond);
		pthread_mutex_destroy(&g->lock);
	}
	/* What is left in either queue (a piece may be in both). */
	for (struct piece *p = g->first, *next; p; p = next) {
		next = p->next;
		if (--p->refs == 0) {
			free(p->buf);
			free(p);
		}
	}
	for (struct piece *p = g->hfirst, *next; p; p = next) {
		next = p->hnext;
		if (--p->refs == 0) {
			free(p->buf);
			free(p);
		}
	}
	alb_source_free(g->source);
	if (g->efd >= 0)
		close(g->efd);
	if (g->o.fd >= 0)
		close(g->o.fd);
	if (g->o.seed_fd >= 0)
		close(g->o.seed_fd);
	alb_zstream_free(g->z);
	alb_ctx_unref(g->tctx);
	free(g);
#ifdef __GLIBC__
	/* The chunks of the uploads (megabytes, kept on the heap by the daemon's mallopt()
	 * while they run) go back to the system once the last one ended. */
	if (atomic_fetch_sub(&live_ingests, 1) == 1)
		malloc_trim(0);
#endif
	return NULL;
}

const char *alb_ingest_error(const alb_ingest *g)
{
	return g && g->tctx ? alb_ctx_last_error(g->tctx) : "";
}

int alb_ingest_fault(const alb_ingest *g)
{
	return g ? alb_zstream_fault(g->z) : ALB_ZSTREAM_FAULT_NONE;
}

uint64_t alb_ingest_written(const alb_ingest *g)
{
	return g ? alb_zstream_out_bytes(g->z) : 0;
}

int alb_ingest_digest(const alb_ingest *g, uint8_t digest[32])
{
	if (!g || !g->has_digest || !digest)
		return -EINVAL;
	memcpy(digest, g->digest, 32);
	return 0;
}
