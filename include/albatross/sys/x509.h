/* SPDX-License-Identifier: ISC */
/**
 * @file sys/x509.h
 * What albatross-client needs of the x509 module (docs/x509.md) beyond x509.h:
 * the command a certificate carries, in its decoded form (sys/wire.h).
 * Extension tier (docs/abi.md): stable within a minor release only.
 */
#ifndef ALBATROSS_SYS_X509_H
#define ALBATROSS_SYS_X509_H

#include <stdbool.h>
#include <stdint.h>

#include <albatross/sys/wire.h>
#include <albatross/x509.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The extension of the certificate index (0: the leaf) of chain: 0 and *ret
 * (freed with alb_x509_ext_free()), -ENOENT when it has none, -EINVAL (no
 * such certificate), -EBADMSG (twice present, malformed; reason in ctx),
 * -EPROTO, -ENOMEM.
 */
int alb_x509_chain_get_ext(alb_ctx *ctx, const alb_x509_chain *chain, uint32_t index,
			   alb_x509_ext **ret);

/* The command of a command extension, borrowed; NULL for a policy. */
const struct alb_cmd *alb_x509_ext_get_cmd(const alb_x509_ext *ext);

/* Moves the command of a command extension into *ret (to free with the message it goes
 * in); the extension keeps an empty one. 0, -EINVAL (a policy). */
int alb_x509_ext_take_cmd(alb_x509_ext *ext, struct alb_cmd *ret);

/* 1 if a leaf may carry this command, 0 if not (policy-add, policy-remove, daemon to daemon). */
bool alb_x509_command_allowed(int command);

#ifdef __cplusplus
}
#endif

#endif
