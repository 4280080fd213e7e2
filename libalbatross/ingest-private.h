/* SPDX-License-Identifier: ISC */
/*
 * An upload written into a file by a thread of its own, off the event loop.
 *
 * The loop hands the data over as it arrives (alb_ingest_push()); the thread
 * inflates it (zlib) if it is compressed, counts what comes out against a bound,
 * checks its first bytes, hashes it (SHA-256) and writes it to the file, and
 * stops at the first failure. Its end, or that first failure as soon as it
 * happens, is reported on the loop (on_done). Inflating a zlib bomb takes
 * seconds of CPU; here it takes them from a thread, and at most up to the bound.
 *
 * Nothing is shared with the thread but the queue and a few flags under a lock:
 * what the thread writes (its context, the stream, the file) is read by the loop
 * only after the thread has ended. alb_ingest_free() stops the thread at its
 * next step (every ALB_ZSTREAM_BUF bytes of output) and waits for it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <albatross/ctx.h>
#include <albatross/loop.h>

#include "util-private.h"

typedef struct alb_ingest alb_ingest;

/* Bytes queued for the thread at which alb_ingest_push() says to wait for on_drained. */
#define ALB_INGEST_QUEUE_MAX (UINT64_C(4) << 20)
/* The most first bytes a head check can ask for. */
#define ALB_INGEST_HEAD_MAX 4096u

struct alb_ingest_options {
	int fd;		  /* taken (also on failure): written from its offset, closed by free */
	const char *what; /* "image", "data": for the reasons of failures (static) */
	bool compressed;  /* a zlib stream, inflated as it comes */
	uint64_t max;	  /* the most bytes written (after inflating): -EFBIG past it */
	bool hash;	  /* SHA-256 of what is written: alb_ingest_digest() */
	bool sync;	  /* fsync() before the end is reported */
	bool seed;	  /* with seed_fd: */
	int seed_fd;	  /* taken: its content is copied into fd first (a reflink where the
			   * file system can), then the data is written over it from offset 0 */
	size_t head_len;  /* 0 .. ALB_INGEST_HEAD_MAX: the bytes head_check gets */
	/*
	 * Called in the thread, once, with the first head_len bytes of the output (all
	 * of it if shorter), held back until then: nothing is written before it said
	 * yes. < 0 (with the reason in ctx, the thread's own) refuses the upload. May
	 * be NULL.
	 */
	int (*head_check)(alb_ctx *ctx, const uint8_t *head, size_t len);
	/*
	 * On the loop: the thread ended, with 0 (everything written, after
	 * alb_ingest_end()) or its first failure, as soon as it happened. Called
	 * once; may free the ingest.
	 */
	void (*on_done)(alb_ingest *ingest, int r, void *userdata);
	/* On the loop: the queue went down to half of ALB_INGEST_QUEUE_MAX after
	 * alb_ingest_push() returned 1. May be NULL; not called after on_done. */
	void (*on_drained)(alb_ingest *ingest, void *userdata);
	void *userdata;
};

/* Starts the thread. 0, -EINVAL, -ENOMEM, -errno (eventfd, pthread_create). */
int alb_ingest_new(alb_loop *loop, const struct alb_ingest_options *options, alb_ingest **ret);

/*
 * Queues len bytes of buf (taken: malloc'd, freed by the ingest, also on
 * failure). 0; 1: taken, and the queue is full: push nothing more until
 * on_drained (or on_done); -EINVAL after alb_ingest_end(), -ENOMEM.
 */
int alb_ingest_push(alb_ingest *ingest, uint8_t *buf, size_t len);

/* The data is complete: the thread finishes (a zlib stream must have ended). */
void alb_ingest_end(alb_ingest *ingest);

/* Stops the thread (at its next step) and waits for it, closes the fd. Accepts NULL. */
alb_ingest *alb_ingest_free(alb_ingest *ingest);
DEFINE_TRIVIAL_CLEANUP_FUNC(alb_ingest *, alb_ingest_free);

/* From on_done on: the reason of the failure ("" if none); the zstream fault
 * (ALB_ZSTREAM_FAULT_*: -EFBIG is ALB_ZSTREAM_FAULT_TOO_BIG); the bytes written;
 * the digest (-EINVAL unless hash and done with 0). */
const char *alb_ingest_error(const alb_ingest *ingest);
int alb_ingest_fault(const alb_ingest *ingest);
uint64_t alb_ingest_written(const alb_ingest *ingest);
int alb_ingest_digest(const alb_ingest *ingest, uint8_t digest[32]);
