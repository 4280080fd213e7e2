/* SPDX-License-Identifier: ISC */
/*
 * The frame header, in one place (docs/protocol.md): a frame is a 4-byte
 * big-endian length, then that many bytes; a length of 0 is an end-of-stream
 * frame. Everything in the library that writes or reads frames (the blocking
 * alb_frame_read/write, the incremental reader, the server, the peer, the
 * client and the TLS endpoint) goes through these.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <albatross/ctx.h>
#include <albatross/wire.h>

#define ALB_FRAME_HEADER_SIZE 4u

/* Writes the header of a frame of len bytes. */
void alb_frame_header_put(uint8_t header[static ALB_FRAME_HEADER_SIZE], uint32_t len);

/* The length a header declares. */
uint32_t alb_frame_header_get(const uint8_t header[static ALB_FRAME_HEADER_SIZE]);

/* 0 if a frame of len bytes is within max (0: ALB_FRAME_MAX_DEFAULT), else -EBADMSG
 * with "frame of LEN bytes exceeds the bound MAX" in ctx. */
int alb_frame_check_len(alb_ctx *ctx, uint64_t len, uint64_t max);

/*
 * Parses the header at the start of avail bytes of buf: 1 and the declared
 * length in *ret_len, 0 while fewer than ALB_FRAME_HEADER_SIZE bytes are there
 * (a partial header; *ret_len untouched), -EBADMSG as alb_frame_check_len().
 */
int alb_frame_header_parse(alb_ctx *ctx, const uint8_t *buf, size_t avail, uint64_t max,
			   uint32_t *ret_len);

/*
 * A whole frame in one buffer, header and payload, so that they travel in one
 * write: *ret (free()) of *ret_size = ALB_FRAME_HEADER_SIZE + len bytes.
 * payload may be NULL if len is 0 (an end-of-stream frame). 0, -EINVAL,
 * -EMSGSIZE for len over UINT32_MAX (the reason in ctx), -ENOMEM.
 */
int alb_frame_build(alb_ctx *ctx, const uint8_t *payload, uint64_t len, uint8_t **ret,
		    size_t *ret_size);
