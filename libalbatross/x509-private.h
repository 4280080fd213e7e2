/* SPDX-License-Identifier: ISC */
/*
 * Internals of the x509 module (docs/x509.md), for the TLS endpoint, the CLI
 * and the tests: the decoded extension, certificates as GnuTLS objects.
 */
#pragma once

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <albatross/sys/x509.h>
#include <albatross/x509.h>

#include "wire-private.h"

/* Certificates one chain holds (a client chain may be longer than allowed, to be refused). */
#define ALB_X509_CHAIN_CAPACITY 16u
/* Longest common name we read. */
#define ALB_X509_CN_MAX 255u
/* Largest PEM file read (certificates, requests, keys, CRLs). */
#define ALB_X509_FILE_MAX (UINT64_C(4) << 20)

struct alb_x509_ext {
	int kind;	    /* enum alb_x509_ext_kind */
	alb_policy *policy; /* ALB_X509_EXT_POLICY */
	struct alb_cmd cmd; /* ALB_X509_EXT_COMMAND */
};

struct alb_x509_chain {
	gnutls_x509_crt_t crts[ALB_X509_CHAIN_CAPACITY];
	uint32_t n;
};

struct alb_x509_grant {
	alb_name *path;
	alb_msg *command;
	alb_name *policy_paths[ALB_X509_CHAIN_MAX];
	alb_policy *policies[ALB_X509_CHAIN_MAX];
	uint32_t n_policies;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(alb_x509_grant *, alb_x509_grant_free);

/* An extension carrying a deep copy of cmd. 0, -EINVAL (would not decode), -ENOMEM. */
int alb_x509_ext_new_cmd(alb_ctx *ctx, const struct alb_cmd *cmd, alb_x509_ext **ret);

/*
 * The extension of a certificate or request: 0 and *ret, -ENOENT when it has
 * none, -EBADMSG (twice present, malformed; reason in ctx), -EPROTO, -ENOMEM.
 */
int alb_x509_crt_get_ext(alb_ctx *ctx, gnutls_x509_crt_t crt, alb_x509_ext **ret);
int alb_x509_crq_get_ext(alb_ctx *ctx, gnutls_x509_crq_t crq, alb_x509_ext **ret);
/* Adds the extension, non-critical. 0, -EINVAL, -ENOMEM. */
int alb_x509_crt_set_ext(alb_ctx *ctx, gnutls_x509_crt_t crt, const alb_x509_ext *ext);
int alb_x509_crq_set_ext(alb_ctx *ctx, gnutls_x509_crq_t crq, const alb_x509_ext *ext);

/* Appends a copy of crt. 0, -E2BIG, -ENOMEM. */
int alb_x509_chain_add_crt(alb_ctx *ctx, alb_x509_chain *chain, gnutls_x509_crt_t crt);

/*
 * Whether the request cmd fits inside policy, as a dynamic check of the one
 * request alone would: a create's memory, CPU ids, bridges and block use, a
 * block-add's size. 0, -EACCES (reason in ctx), -ENOMEM.
 */
int alb_x509_command_fits(alb_ctx *ctx, const struct alb_cmd *cmd, const alb_policy *policy);
