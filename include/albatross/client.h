/* SPDX-License-Identifier: ISC */
/**
 * @file client.h
 * @brief A client of albatrossd over its Unix socket: connect, info, create,
 * destroy (docs/protocol.md). The small, stable surface that programs and
 * language bindings use (examples/python/).
 *
 * Calls block until albatrossd replies. A refusal of albatrossd is returned
 * as -code (its errno value, e.g. -EDQUOT for a policy) with its message in
 * alb_ctx_last_error(), and alb_client_get_refused() returns code; anything
 * else that fails (the connection, the protocol) leaves that at 0. A client
 * is not thread-safe.
 */
#ifndef ALBATROSS_CLIENT_H
#define ALBATROSS_CLIENT_H

#include <stdint.h>

#include <albatross/ctx.h>
#include <albatross/name.h>
#include <albatross/unikernel.h>
#include <albatross/wire.h>

#ifdef __cplusplus
extern "C" {
#endif

/** albatrossd's socket when none is given. */
#define ALB_CLIENT_SOCKET_DEFAULT "/run/albatross/albatrossd.sock"

/** Opaque connection to albatrossd; an owned value. */
typedef struct alb_client alb_client;

/**
 * Connects to albatrossd at @p socket_path (NULL: ALB_CLIENT_SOCKET_DEFAULT).
 * @return 0, -ENOENT / -ECONNREFUSED (albatrossd is not running), -EACCES
 * (not in the socket's group), -ENAMETOOLONG, -ENOMEM; the reason in @p ctx.
 */
int alb_client_connect(alb_ctx *ctx, const char *socket_path, alb_client **ret_client);

/** Closes the connection and frees the client. Accepts NULL. @return NULL. */
alb_client *alb_client_free(alb_client *client);

/** @return the error code of albatrossd's refusal that ended the last call, or 0. */
uint32_t alb_client_get_refused(const alb_client *client);

/**
 * The unikernels called @p name, or below it when it is a path (":" for all).
 * @param ret_reply the reply, read with the alb_msg_get_unikernel_*()
 * functions and freed with alb_msg_free().
 * @return 0 or -errno.
 */
int alb_client_info(alb_client *client, const alb_name *name, alb_msg **ret_reply);

/**
 * Uploads the image at @p image_path and creates the unikernel @p name with
 * @p config (its image size and digest are set from the file; the rest is
 * the caller's, the tender included). With @p force, a unikernel of that name
 * is replaced. Waits until albatrossd started it.
 * @return 0 or -errno (-EDQUOT: a policy does not allow it, -EEXIST: it exists).
 */
int alb_client_create(alb_client *client, const alb_name *name, const alb_unikernel_config *config,
		      const char *image_path, int force);

/** Stops and removes the unikernel @p name. @return 0 or -errno (-ENOENT: none). */
int alb_client_destroy(alb_client *client, const alb_name *name);

/** @return the number of unikernels in an info reply (0 for any other message). */
uint32_t alb_msg_get_unikernel_count(const alb_msg *reply);
/** @return the name of unikernel @p index of an info reply, borrowed; NULL out of range. */
const alb_name *alb_msg_get_unikernel_name(const alb_msg *reply, uint32_t index);
/** @return "running", "restarting", "failed" or "stopped"; NULL out of range. */
const char *alb_msg_get_unikernel_state(const alb_msg *reply, uint32_t index);
/** @return the tender's pid, 0 when not running or out of range. */
uint32_t alb_msg_get_unikernel_pid(const alb_msg *reply, uint32_t index);
/** @return how often it was restarted; 0 out of range. */
uint32_t alb_msg_get_unikernel_restarts(const alb_msg *reply, uint32_t index);
/** @return its configuration, borrowed; NULL out of range. */
const alb_unikernel_config *alb_msg_get_unikernel_config(const alb_msg *reply, uint32_t index);

#ifdef __cplusplus
}
#endif

#endif
