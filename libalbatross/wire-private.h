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

/* Bounds that the decoder enforces (besides those of name.h, policy.h, unikernel.h). */
#define ALB_WIRE_STRING_MAX    4096u  /* messages, identities, paths */
#define ALB_ON_BEHALF_OF_MAX   256u   /* a command's on-behalf-of */
#define ALB_WIRE_LIST_MAX      65536u /* entries of an info reply */
#define ALB_HISTORY_MAX	       65536u /* lines or events asked for */
#define ALB_CONSOLE_LINE_MAX   65536u /* bytes of one console line on the wire */
#define ALB_TAPS_MAX	       ALB_DEVICES_MAX
#define ALB_BLOCK_SIZE_MAX_MB  (UINT64_C(1) << 32)
#define ALB_ERROR_CODE_MAX     4095u
#define ALB_TENDERS_MAX	       256u   /* entries of a tenders reply */
#define ALB_CONSOLE_OUTPUT_MAX 65536u /* bytes of console output in one console-data */
/* Bytes of console output that may be reported lost at one place (1 TiB). */
#define ALB_CONSOLE_DROPPED_MAX (UINT64_C(1) << 40)

/* History selector of a subscription: since a time, or the last count entries. */
struct alb_history {
	bool has_since;
	uint64_t since_us;
	bool has_count;
	uint32_t count; /* 1 .. ALB_HISTORY_MAX */
	/* console and log subscribe: after the history, follow with new entries; false: the
	 * history ends with an end-of-stream frame */
	bool follow;
};

struct alb_cmd {
	int kind; /* enum alb_command */
	/* unikernel create, force-create */
	alb_unikernel_config *config;
	/* unikernel restart: replace the arguments if has_argv */
	bool has_argv;
	char **argv; /* NULL-terminated */
	uint32_t argc;
	/* unikernel get, block dump: ask for zlib-compressed data */
	bool compress;
	/* policy add */
	alb_policy *policy;
	/* block add: size; block add and block set: data follows in data_size bytes */
	uint64_t block_size_mb;
	uint32_t sector_size; /* block add: 0 default */
	uint64_t data_size;   /* 0: no data follows (block add) */
	bool compressed;      /* the data that follows is zlib-compressed */
	/* console, log subscribe */
	struct alb_history history;
	/* console data: output of the unikernel named in the header, read at time_us; dropped:
	 * bytes lost just before it (console data and console end; 0 none) */
	uint64_t time_us;
	uint8_t *output;
	uint32_t output_len; /* 1 .. ALB_CONSOLE_OUTPUT_MAX */
	uint64_t dropped;    /* 0 .. ALB_CONSOLE_DROPPED_MAX */
	/* stats add: the tender's pid and its taps */
	uint32_t pid;
	char **taps; /* NULL-terminated */
	uint32_t n_taps;
	/* log event */
	struct alb_log_event *event;
	/* any command, optional: whom it runs for, when a daemon passes on a remote
	 * client's command (the TLS endpoint); part of the identity that is logged */
	char *on_behalf_of;
};

enum alb_reply_kind {
	ALB_REPLY_EMPTY = 1,
	ALB_REPLY_STRING,
	ALB_REPLY_UNIKERNELS,
	ALB_REPLY_POLICIES,
	ALB_REPLY_BLOCKS,
	ALB_REPLY_IMAGE,   /* unikernel get: data chunks follow */
	ALB_REPLY_NAMES,   /* console list-inactive */
	ALB_REPLY_TENDERS, /* tenders info */
};

struct alb_reply {
	int kind; /* enum alb_reply_kind */
	char *string;
	struct alb_unikernel_info *unikernels;
	uint32_t n_unikernels;
	struct alb_policy_info *policies;
	uint32_t n_policies;
	struct alb_block_info *blocks;
	uint32_t n_blocks;
	/* image */
	uint64_t image_size;
	bool compressed;
	uint8_t digest[32];
	int tender;
	/* names */
	alb_name **names;
	uint32_t n_names;
	/* tenders */
	struct alb_tender_info *tenders;
	uint32_t n_tenders;
};

struct alb_failure {
	uint32_t code; /* positive errno value, 1 .. ALB_ERROR_CODE_MAX */
	char *message;
};

enum alb_data_kind {
	ALB_DATA_CHUNK = 1, /* image or block data */
	ALB_DATA_CONSOLE,
	ALB_DATA_LOG,
	ALB_DATA_STATS,
};

struct alb_console_line {
	uint64_t time_us;
	uint8_t *line; /* raw bytes, not NUL-terminated, may be invalid UTF-8 */
	uint32_t len;
	bool truncated;
	bool dropped; /* not output: albatross says that output was lost here (line tells) */
};

struct alb_data {
	int kind; /* enum alb_data_kind */
	uint8_t *chunk;
	uint32_t chunk_len; /* 1 .. ALB_CHUNK_MAX */
	struct alb_console_line console;
	struct alb_log_event *event;
	struct alb_stats *stats;
};

struct alb_msg {
	uint32_t version; /* ALB_WIRE_VERSION */
	uint64_t seq;
	alb_name *name; /* never NULL in a valid message */
	int kind;	/* enum alb_msg_kind */
	struct alb_cmd cmd;
	struct alb_reply reply;
	struct alb_failure failure;
	struct alb_data data;
};

/* Allocates a zeroed message of kind with the header filled (name copied). */
int alb_msg_new(alb_msg **ret, int kind, uint64_t seq, const alb_name *name);

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

/* Names of commands, events and states as in docs/protocol.md ("unikernel-create"). */
const char *alb_command_to_string(int command);
const char *alb_unikernel_state_to_string(int state);

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
