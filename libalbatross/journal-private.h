/* SPDX-License-Identifier: ISC */
/*
 * The journal of the state (docs/state.md, "The journal"): the changes made since the
 * snapshot <dbdir>/state, appended as framed CBOR records and made durable in groups
 * (group commit) by a thread of its own, which also writes the snapshots (compaction).
 */
#pragma once

#include <stdint.h>

#include "state-private.h"

/* The largest record payload. */
#define ALB_JOURNAL_RECORD_MAX (UINT32_C(1) << 20)
/* Bytes before each payload: its length, then the CRC-32 of the length and the payload. */
#define ALB_JOURNAL_HEADER 8u
/* The largest journal written: past it, appends are refused until a snapshot starts it again
 * (only while snapshots fail: compaction keeps it far below). */
#define ALB_JOURNAL_GROW_MAX (UINT64_C(64) << 20)
/* The largest journal read. */
#define ALB_JOURNAL_SIZE_MAX (UINT64_C(256) << 20)

enum alb_journal_op {
	ALB_JOURNAL_PUT_POLICY,
	ALB_JOURNAL_REMOVE_POLICY,
	ALB_JOURNAL_PUT_UNIKERNEL,
	ALB_JOURNAL_REMOVE_UNIKERNEL,
	ALB_JOURNAL_PUT_BLOCK,
	ALB_JOURNAL_REMOVE_BLOCK,
};

/* A change: the name (a path for policies) and, for a put, what it is now. */
struct alb_journal_record {
	uint64_t seq;
	enum alb_journal_op op;
	const alb_name *name;
	const alb_policy *policy;	    /* PUT_POLICY */
	const alb_unikernel_config *config; /* PUT_UNIKERNEL, has a digest */
	uint64_t size_mb;		    /* PUT_BLOCK */
	uint32_t sector_size;		    /* PUT_BLOCK, 0: default */
};

/* The framed record (header and CBOR payload), *ret freed with free(). 0, -EINVAL, -ENOMEM. */
int alb_journal_encode(alb_ctx *ctx, const struct alb_journal_record *rec, uint8_t **ret,
		       size_t *ret_len);

/* Applies one change: a put replaces the entry of that name or adds it, a remove takes it
 * out if it is there (so that applying a change twice, in order, changes nothing more). */
int alb_journal_apply(alb_ctx *ctx, struct alb_state *state, const struct alb_journal_record *rec);

/*
 * Replays the journal buf of len bytes (read from path, for messages) over state.
 * *ret_valid: the bytes of whole, good records; *ret_last_seq: the last record's seq (or
 * 0). A torn tail (the last record cut short or with a bad checksum) is left out and
 * *ret_torn set. A bad record before the last, a record that fails validation or a seq
 * that does not grow: -EBADMSG, with a message naming path and the record's offset.
 */
int alb_journal_replay(alb_ctx *ctx, const char *path, const uint8_t *buf, size_t len,
		       struct alb_state *state, size_t *ret_valid, uint64_t *ret_last_seq,
		       bool *ret_torn);

/* Reads the journal at path and replays it (-ENOENT: none). */
int alb_journal_load(alb_ctx *ctx, const char *path, struct alb_state *state, size_t *ret_valid,
		     uint64_t *ret_last_seq, bool *ret_torn);

/* ---- the writer --------------------------------------------------------------------------- */

typedef struct alb_journal alb_journal;

/*
 * Opens the journal at path for appending, cut to valid bytes (a torn tail goes), the next
 * record's seq being next_seq; state_path is the snapshot that compactions write.
 * crash_at: a test's crash point (ALBATROSS_CRASH_AT) or NULL. Starts the thread.
 */
int alb_journal_open(alb_ctx *ctx, const char *path, const char *state_path, size_t valid,
		     uint64_t next_seq, const char *crash_at, alb_journal **ret);
/* Syncs what was appended, then stops the thread. */
alb_journal *alb_journal_free(alb_journal *j);

/*
 * Appends rec (its seq is given here) to the file: a write(), no sync. A failure leaves
 * nothing of it (-errno and the reason in ctx): the change is then not to be made.
 */
int alb_journal_append(alb_ctx *ctx, alb_journal *j, struct alb_journal_record *rec);
/*
 * A change was made that is not in the file (its append failed): it takes the next seq, and
 * nothing from it on becomes durable but by a snapshot queued after it (a commit without a
 * snapshot syncs only the records before it).
 */
void alb_journal_unrecorded(alb_journal *j);
/* Queues a snapshot: buf (taken, an encoded state) has every record appended so far. The
 * next commit writes it (the state file, atomically), then starts a new journal with only
 * the records appended after it. */
void alb_journal_snapshot(alb_journal *j, uint8_t *buf, size_t len);
/* Starts a commit (in the thread) of what was appended and the snapshot queued, unless one
 * is under way: then the next alb_journal_done() is the time. */
void alb_journal_kick(alb_journal *j);
/* The eventfd that becomes readable when a commit ended: then alb_journal_done(). */
int alb_journal_event_fd(alb_journal *j);
/*
 * After a commit ended: *ret_durable is the highest seq known durable; 0, or -errno when a
 * commit failed, with the reason in why (the records up to *ret_failed are then not known
 * durable).
 */
int alb_journal_done(alb_journal *j, uint64_t *ret_durable, uint64_t *ret_failed, char *why,
		     size_t why_len);
/* The seq of the last record appended; the highest known durable. */
uint64_t alb_journal_last_seq(alb_journal *j);
uint64_t alb_journal_durable(alb_journal *j);
/* Bytes of records in the journal file. */
uint64_t alb_journal_size(alb_journal *j);
/* True while a commit is under way or a snapshot is queued. */
bool alb_journal_busy(alb_journal *j);
/* Commits everything appended and queued, waiting for it; a failure of an earlier commit is
 * tried again. 0 or -errno (why in ctx); -EIO when a change not recorded waits for a
 * snapshot and none is queued. */
int alb_journal_sync(alb_ctx *ctx, alb_journal *j);
