/* SPDX-License-Identifier: ISC */
/*
 * SHA-256 through nettle (GnuTLS's own crypto backend, with the same SHA-NI code): the
 * hashes of images, configurations and names must not load GnuTLS, which is loaded on
 * demand for TLS and certificates only (dl-gnutls-private.h). Cannot fail.
 */
#pragma once

#include <nettle/sha2.h>
#include <stddef.h>
#include <stdint.h>

#define ALB_SHA256_SIZE 32

typedef struct sha256_ctx alb_sha256_ctx;

static inline void alb_sha256_init(alb_sha256_ctx *h)
{
	sha256_init(h);
}

static inline void alb_sha256_update(alb_sha256_ctx *h, const void *buf, size_t len)
{
	sha256_update(h, len, (const uint8_t *)buf);
}

/* Writes the digest and starts h over. */
static inline void alb_sha256_final(alb_sha256_ctx *h, uint8_t digest[ALB_SHA256_SIZE])
{
	sha256_digest(h, ALB_SHA256_SIZE, digest);
}

/* The digest of len bytes at buf; returns 0 (an int, for the callers that checked). */
static inline int alb_sha256(const void *buf, size_t len, uint8_t digest[ALB_SHA256_SIZE])
{
	alb_sha256_ctx h;
	alb_sha256_init(&h);
	alb_sha256_update(&h, buf, len);
	alb_sha256_final(&h, digest);
	return 0;
}
