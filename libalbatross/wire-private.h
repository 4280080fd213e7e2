/* SPDX-License-Identifier: ISC */
/*
 * The decoded form of every wire message. Public code sees alb_msg as an
 * opaque handle (wire.h); the daemons, the CLI and the tests use these
 * structures directly. docs/protocol.md gives the CBOR encoding (CDDL).
 *
 * Ownership: a message owns everything it points to; alb_msg_free() frees it
 * all. Pointers not used by a message's kind are NULL / zero.
 */
#pragma once

#include <albatross/sys/wire.h>
#include <albatross/wire.h>

#include "bounds-private.h"
#include "exit-private.h"
#include "log-private.h"
#include "name-private.h"
#include "policy-private.h"
#include "stats-private.h"
#include "tender-private.h"
#include "unikernel-private.h"
#include "vmm-private.h"

/*
 * alb_msg_encode() without the decoder's judgement of the result: for what the
 * library itself builds and sends (replies, relayed console output, chunks), where
 * a second pass over every byte would only check our own code. The peer's decoder
 * still judges it. 0, -EINVAL, -ENOMEM.
 */
int alb_msg_encode_unchecked(alb_ctx *ctx, const alb_msg *msg, uint8_t **ret_buf,
			     uint64_t *ret_len);

/*
 * alb_msg_decode() of a frame the caller owns (*buf, from malloc()): the same message,
 * the same checks and reasons, but a data chunk may take the buffer for its bytes
 * (*buf is then NULL) rather than copy them. 0, or as alb_msg_decode().
 */
int alb_msg_decode_frame(alb_ctx *ctx, uint8_t **buf, uint64_t len, alb_msg **ret_msg);
/* Its first half: 1 with the chunk (*buf taken), 0 when the frame is for alb_msg_decode()
 * (nothing said in ctx that matters), -ENOMEM, -EINVAL. */
int alb_msg_decode_chunk(alb_ctx *ctx, uint8_t **buf, uint64_t len, alb_msg **ret_msg);

/* A copy of msg (through its encoding, which it must pass): 0, or as encode and decode. */
int alb_msg_copy(alb_ctx *ctx, const alb_msg *msg, alb_msg **ret);

/*
 * The command map alone (docs/protocol.md, section 5.1), as certificates carry
 * it (docs/x509.md). alb_cmd_clear() frees what cmd points to and zeroes it.
 * to_cbor: a new item, NULL for an unknown kind or on allocation failure (an
 * incomplete command encodes, and then fails to decode). from_cbor: strict, as
 * alb_msg_decode(); path names the map in error messages ("x509.command");
 * fills *cmd only on success; 0, -EBADMSG (reason in ctx), -ENOMEM.
 */
void alb_cmd_clear(struct alb_cmd *cmd);
struct cbor_item_t;
struct cbor_item_t *alb_cmd_to_cbor(const struct alb_cmd *cmd);
int alb_cmd_from_cbor(alb_ctx *ctx, const struct cbor_item_t *item, const char *path,
		      struct alb_cmd *cmd);

/*
 * An incremental frame reader for event loops: bytes go in as they arrive
 * (alb_frame_reader_feed(), or alb_frame_reader_read() from a non-blocking
 * fd), whole frames come out of alb_frame_reader_next(). Call next() until it
 * returns 0 after each feed or read, so that at most one partial frame (at
 * most 4 + max bytes) and one read's worth of bytes stay buffered.
 */
typedef struct alb_frame_reader alb_frame_reader;

/* max: the largest frame length accepted, 0 for ALB_FRAME_MAX_DEFAULT. 0, -ENOMEM. */
int alb_frame_reader_new(uint64_t max, alb_frame_reader **ret);
alb_frame_reader *alb_frame_reader_free(alb_frame_reader *reader);
DEFINE_TRIVIAL_CLEANUP_FUNC(alb_frame_reader *, alb_frame_reader_free);

/* Appends bytes. 0, -EBADMSG as soon as a frame header declares a length over
 * max (the stream cannot continue), -ENOMEM. */
int alb_frame_reader_feed(alb_ctx *ctx, alb_frame_reader *reader, const void *buf, size_t len);
/* Reads once from fd and appends what came. The bytes read, 0 at end of file
 * (see alb_frame_reader_is_empty()), -EAGAIN, -EBADMSG as feed(), -errno. */
ssize_t alb_frame_reader_read(alb_ctx *ctx, alb_frame_reader *reader, int fd);
/* Takes the next whole frame: 1 with the payload in *ret_buf (free(); NULL
 * and *ret_len 0 for an end-of-stream frame), 0 when more bytes are needed,
 * -EBADMSG for a frame over max, -ENOMEM. */
int alb_frame_reader_next(alb_ctx *ctx, alb_frame_reader *reader, uint8_t **ret_buf,
			  uint64_t *ret_len);
/* true if no byte of a further frame is buffered: end of file here is a clean
 * close, elsewhere a frame cut short. */
bool alb_frame_reader_is_empty(const alb_frame_reader *reader);
