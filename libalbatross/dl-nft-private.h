/* SPDX-License-Identifier: ISC */
/*
 * libnftables (libnftables.so.1), loaded on demand (dl-private.h explains the pattern). Include
 * this header instead of the library's own, before any other that includes them. To use another
 * symbol, add it to the list of its library and to the #defines below (the build fails until both
 * are there).
 */
#pragma once

#include <nftables/libnftables.h>

#include <albatross/ctx.h>

#include "dl-private.h"

/* libnftables.so.1 */
#define ALB_DL_NFT_SYMBOLS(X)                                                                      \
	X(nft_ctx_buffer_error)                                                                    \
	X(nft_ctx_buffer_output)                                                                   \
	X(nft_ctx_free)                                                                            \
	X(nft_ctx_get_error_buffer)                                                                \
	X(nft_ctx_get_output_buffer)                                                               \
	X(nft_ctx_new)                                                                             \
	X(nft_ctx_output_set_flags)                                                                \
	X(nft_run_cmd_from_buffer)

struct alb_dl_nft {
	ALB_DL_NFT_SYMBOLS(ALB_DL_MEMBER)
};

/* The loaded symbols; aborts with a message if the library cannot be loaded. */
const struct alb_dl_nft *alb_dl_nft(void);

/* Loads the library if it is not: 0, or -ELIBACC / -ELIBBAD with the reason in ctx. */
int alb_dl_nft_load(alb_ctx *ctx);

#ifndef ALB_DL_NFT_NO_REDIRECT
#define nft_ctx_buffer_error	  (alb_dl_nft()->nft_ctx_buffer_error)
#define nft_ctx_buffer_output	  (alb_dl_nft()->nft_ctx_buffer_output)
#define nft_ctx_free		  (alb_dl_nft()->nft_ctx_free)
#define nft_ctx_get_error_buffer  (alb_dl_nft()->nft_ctx_get_error_buffer)
#define nft_ctx_get_output_buffer (alb_dl_nft()->nft_ctx_get_output_buffer)
#define nft_ctx_new		  (alb_dl_nft()->nft_ctx_new)
#define nft_ctx_output_set_flags  (alb_dl_nft()->nft_ctx_output_set_flags)
#define nft_run_cmd_from_buffer	  (alb_dl_nft()->nft_run_cmd_from_buffer)

#endif
