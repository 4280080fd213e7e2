/* SPDX-License-Identifier: ISC */
/**
 * @file wire.h
 * @brief The wire protocol: framing and CBOR messages (docs/protocol.md).
 *
 * A frame is a 4-byte big-endian length followed by that many bytes holding
 * exactly one CBOR data item; a zero length ends a stream. Frames are bounded
 * (ALB_FRAME_MAX_DEFAULT unless configured otherwise).
 *
 * A message has a header (protocol version, sequence number, name) and one
 * body: a command, a success reply, a failure reply or stream data.
 * Decoding is strict: unknown keys, wrong types, unknown versions, trailing
 * bytes, over-long strings or lists, invalid names and out-of-range integers
 * are rejected with -EBADMSG (-EPROTO for an unknown version), the field
 * named in the context's last error.
 */
#ifndef ALBATROSS_WIRE_H
#define ALBATROSS_WIRE_H

#include <stdint.h>

#include <albatross/ctx.h>
#include <albatross/name.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The protocol version this library speaks. */
#define ALB_WIRE_VERSION 1u
/** The default bound of a frame's length. */
#define ALB_FRAME_MAX_DEFAULT (UINT64_C(64) << 20)
/** The largest data chunk in one stream frame (images, block data). */
#define ALB_CHUNK_MAX (UINT32_C(1) << 20)

/** Message kinds. */
enum alb_msg_kind {
	ALB_MSG_COMMAND = 1,
	ALB_MSG_SUCCESS = 2,
	ALB_MSG_FAILURE = 3,
	ALB_MSG_DATA = 4,
};

/** Commands. */
enum alb_command {
	ALB_CMD_UNIKERNEL_INFO = 1,
	ALB_CMD_UNIKERNEL_CREATE,
	ALB_CMD_UNIKERNEL_FORCE_CREATE,
	ALB_CMD_UNIKERNEL_DESTROY,
	ALB_CMD_UNIKERNEL_RESTART,
	ALB_CMD_UNIKERNEL_GET,
	ALB_CMD_POLICY_INFO,
	ALB_CMD_POLICY_ADD,
	ALB_CMD_POLICY_REMOVE,
	ALB_CMD_BLOCK_INFO,
	ALB_CMD_BLOCK_ADD,
	ALB_CMD_BLOCK_REMOVE,
	ALB_CMD_BLOCK_SET,
	ALB_CMD_BLOCK_DUMP,
	ALB_CMD_CONSOLE_SUBSCRIBE,
	ALB_CMD_CONSOLE_LIST_INACTIVE,
	ALB_CMD_STATS_SUBSCRIBE,
	ALB_CMD_LOG_SUBSCRIBE,
	/* daemon to daemon */
	ALB_CMD_CONSOLE_ADD,
	ALB_CMD_STATS_ADD,
	ALB_CMD_STATS_REMOVE,
	ALB_CMD_LOG_EVENT,
	/* appended after the daemon-to-daemon messages to keep the values above */
	ALB_CMD_TENDERS_INFO,	/**< the tender binaries albatrossd found, with their ABIs */
	ALB_CMD_CONSOLE_DATA,	/**< daemon to daemon: console output of a unikernel */
	ALB_CMD_CONSOLE_END,	/**< daemon to daemon: the run whose output it was ended */
	ALB_CMD_FEED,		/**< daemon to daemon: this connection is albatrossd's, lasting */
	ALB_CMD_SERVICE_DEPLOY, /**< a service's new configuration and image (docs/services.md) */
	ALB_CMD_SERVICE_INFO,	/**< the services of a name or path */
	ALB_CMD_SERVICE_REMOVE, /**< a service, with its instances, rules and addresses */
	ALB_CMD_COLLECT,	/**< instances and addresses that no service owns */
};

/** Opaque decoded message; an owned value. */
typedef struct alb_msg alb_msg;

/**
 * Decodes one message from exactly @p len bytes (one frame's payload).
 * @return 0, -EBADMSG, -EPROTO, -ENOMEM; the reason in @p ctx.
 */
int alb_msg_decode(alb_ctx *ctx, const uint8_t *buf, uint64_t len, alb_msg **ret_msg);

/**
 * Encodes a message.
 * @param ret_buf the bytes, freed with alb_free().
 * @return 0, -EINVAL for a message that would not decode, -ENOMEM.
 */
int alb_msg_encode(alb_ctx *ctx, const alb_msg *msg, uint8_t **ret_buf, uint64_t *ret_len);

/** Frees a message. Accepts NULL. @return NULL. */
alb_msg *alb_msg_free(alb_msg *msg);

/** @return the message's kind (enum alb_msg_kind). */
int alb_msg_get_kind(const alb_msg *msg);
/** @return the message's sequence number. */
uint64_t alb_msg_get_seq(const alb_msg *msg);
/** @return the name of the message's header, borrowed. */
const alb_name *alb_msg_get_name(const alb_msg *msg);
/** @return the command (enum alb_command) of a command message, -EINVAL otherwise. */
int alb_msg_get_command(const alb_msg *msg);
/**
 * The error of a failure reply: a positive errno value and a message
 * (borrowed). @return 0, or -EINVAL for another kind of message.
 */
int alb_msg_get_failure(const alb_msg *msg, int32_t *ret_code, const char **ret_message);

/**
 * Reads one frame from a blocking file descriptor.
 * @param max the largest length accepted (0: ALB_FRAME_MAX_DEFAULT).
 * @param ret_buf the payload, freed with alb_free(); NULL with *ret_len 0
 * for an end-of-stream frame.
 * @return 0, -EPIPE when the peer closed before a frame began, -EBADMSG for
 * a frame over @p max or cut short, another -errno of read(2).
 */
int alb_frame_read(alb_ctx *ctx, int fd, uint64_t max, uint8_t **ret_buf, uint64_t *ret_len);

/**
 * Writes one frame (a zero @p len writes an end-of-stream frame) to a
 * blocking file descriptor, retrying on EINTR and short writes.
 * @return 0, -EMSGSIZE when @p len exceeds UINT32_MAX, -errno of write(2).
 */
int alb_frame_write(alb_ctx *ctx, int fd, const uint8_t *buf, uint64_t len);

#ifdef __cplusplus
}
#endif

#endif
