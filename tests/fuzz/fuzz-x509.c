/* SPDX-License-Identifier: ISC */
/*
 * Fuzzes the certificate extension: the decoder on the bytes (what decodes
 * must encode, and that encoding must decode and encode to the same bytes),
 * then the chain evaluation of a leaf certificate carrying the bytes as the
 * extension's value, signed by a CA made once.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "x509-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gnutls_x509_privkey_t ca_key;
static alb_x509_chain *anchor;

static void ca_init(alb_ctx *ctx)
{
	gnutls_x509_crt_t crt;
	time_t now = time(NULL);
	uint8_t serial = 1;

	if (anchor)
		return;
	if (gnutls_x509_privkey_init(&ca_key) < 0 ||
	    gnutls_x509_privkey_generate2(ca_key, GNUTLS_PK_EDDSA_ED25519, 256, 0, NULL, 0) < 0 ||
	    gnutls_x509_crt_init(&crt) < 0 || gnutls_x509_crt_set_version(crt, 3) < 0 ||
	    gnutls_x509_crt_set_serial(crt, &serial, 1) < 0 ||
	    gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "ca", 2) < 0 ||
	    gnutls_x509_crt_set_activation_time(crt, now) < 0 ||
	    gnutls_x509_crt_set_expiration_time(crt, now + 86400) < 0 ||
	    gnutls_x509_crt_set_key(crt, ca_key) < 0 ||
	    gnutls_x509_crt_set_basic_constraints(crt, 1, -1) < 0 ||
	    gnutls_x509_crt_sign2(crt, crt, ca_key, GNUTLS_DIG_SHA512, 0) < 0 ||
	    alb_x509_chain_new(&anchor) < 0 || alb_x509_chain_add_crt(ctx, anchor, crt) < 0)
		abort();
	gnutls_x509_crt_deinit(crt);
}

/* A leaf "hello" with the bytes as the extension's value, evaluated under the CA. */
static void evaluate(alb_ctx *ctx, const uint8_t *data, size_t size)
{
	gnutls_x509_crt_t crt = NULL;
	alb_x509_chain *chain = NULL;
	alb_x509_grant *grant = NULL;
	time_t now = time(NULL);
	uint8_t serial = 2;
	int r;

	if (size == 0 || size > ALB_X509_EXTENSION_MAX + 16)
		return;
	ca_init(ctx);
	if (gnutls_x509_crt_init(&crt) < 0 || gnutls_x509_crt_set_version(crt, 3) < 0 ||
	    gnutls_x509_crt_set_serial(crt, &serial, 1) < 0 ||
	    gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "hello", 5) < 0 ||
	    gnutls_x509_crt_set_activation_time(crt, now) < 0 ||
	    gnutls_x509_crt_set_expiration_time(crt, now + 3600) < 0 ||
	    gnutls_x509_crt_set_key(crt, ca_key) < 0)
		abort();
	/* GnuTLS itself may refuse some values; those never reach us. */
	if (gnutls_x509_crt_set_extension_by_oid(crt, ALB_X509_OID, data, size, 0) < 0 ||
	    gnutls_x509_crt_sign2(crt, anchor->crts[0], ca_key, GNUTLS_DIG_SHA512, 0) < 0)
		goto out;
	if (alb_x509_chain_new(&chain) < 0 || alb_x509_chain_add_crt(ctx, chain, crt) < 0)
		goto out;
	r = alb_x509_chain_evaluate(ctx, chain, anchor, &grant);
	if (r == 0) {
		const alb_msg *cmd = alb_x509_grant_get_command(grant);
		if (!cmd || !alb_x509_command_allowed(cmd->cmd.kind) ||
		    alb_x509_grant_get_policy_count(grant) != 0)
			abort();
	} else if (r != -EBADMSG && r != -EACCES && r != -EPROTO && r != -ENOMEM)
		abort();
out:
	alb_x509_grant_free(grant);
	alb_x509_chain_free(chain);
	gnutls_x509_crt_deinit(crt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	alb_ctx *ctx = NULL;
	alb_x509_ext *ext = NULL, *again = NULL;
	uint8_t *a = NULL, *b = NULL;
	uint64_t la, lb;

	if (alb_ctx_new(&ctx) < 0)
		abort();
	if (alb_x509_ext_decode(ctx, data, size, &ext) == 0) {
		if (alb_x509_ext_encode(ctx, ext, &a, &la) < 0 ||
		    alb_x509_ext_decode(ctx, a, la, &again) < 0 ||
		    alb_x509_ext_encode(ctx, again, &b, &lb) < 0 || la != lb ||
		    memcmp(a, b, la) != 0 ||
		    alb_x509_ext_get_kind(ext) != alb_x509_ext_get_kind(again))
			abort();
		alb_free(a);
		alb_free(b);
		alb_x509_ext_free(again);
		alb_x509_ext_free(ext);
	}
	evaluate(ctx, data, size);
	alb_ctx_unref(ctx);
	return 0;
}
