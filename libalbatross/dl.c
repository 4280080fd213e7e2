/* SPDX-License-Identifier: ISC */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* The real names here: the structs are filled by name. */
#define ALB_DL_GNUTLS_NO_REDIRECT
#define ALB_DL_NFT_NO_REDIRECT
#define ALB_DL_NL_NO_REDIRECT

#include "ctx-private.h"
#include "dl-gnutls-private.h"
#include "dl-nft-private.h"
#include "dl-nl-private.h"
#include "dl-private.h"

void alb_dl_open(struct alb_dl_state *state, const struct alb_dl_lib *libs, size_t n_libs)
{
	state->r = 0;
	state->error[0] = '\0';
	for (size_t i = 0; i < n_libs; i++) {
		const struct alb_dl_lib *l = &libs[i];
		dlerror();
		void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			const char *e = dlerror();
			snprintf(state->error, sizeof(state->error), "cannot load %s: %s",
				 l->soname, e ? e : "unknown error");
			state->r = -ELIBACC;
			return;
		}
		for (size_t j = 0; j < l->n_syms; j++) {
			dlerror();
			void *p = dlsym(h, l->syms[j].name);
			const char *e = dlerror();
			if (e || !p) {
				snprintf(state->error, sizeof(state->error),
					 "cannot find %s in %s: %s", l->syms[j].name, l->soname,
					 e ? e : "NULL symbol");
				state->r = -ELIBBAD;
				return;
			}
			*l->syms[j].ptr = p;
		}
	}
}

int alb_dl_result(alb_ctx *ctx, const struct alb_dl_state *state)
{
	if (state->r < 0 && ctx)
		return alb_error(ctx, -state->r, "%s", state->error);
	return state->r;
}

_Noreturn void alb_dl_fail(const struct alb_dl_state *state)
{
	fprintf(stderr, "libalbatross: %s\n", state->error);
	fflush(stderr);
	abort();
}

/* The loaders: one state, one struct and one pthread_once per library. */
#define ALB_DL_LOADER(name, ...)                                                                   \
	static struct alb_dl_##name dl_##name;                                                     \
	static struct alb_dl_state dl_##name##_state;                                              \
	static pthread_once_t dl_##name##_once = PTHREAD_ONCE_INIT;                                \
                                                                                                   \
	static void dl_##name##_open(void)                                                         \
	{                                                                                          \
		const struct alb_dl_lib libs[] = {__VA_ARGS__};                                    \
		alb_dl_open(&dl_##name##_state, libs, sizeof(libs) / sizeof(libs[0]));             \
	}                                                                                          \
                                                                                                   \
	const struct alb_dl_##name *alb_dl_##name(void)                                            \
	{                                                                                          \
		pthread_once(&dl_##name##_once, dl_##name##_open);                                 \
		if (dl_##name##_state.r < 0)                                                       \
			alb_dl_fail(&dl_##name##_state);                                           \
		return &dl_##name;                                                                 \
	}                                                                                          \
                                                                                                   \
	int alb_dl_##name##_load(alb_ctx *ctx)                                                     \
	{                                                                                          \
		pthread_once(&dl_##name##_once, dl_##name##_open);                                 \
		return alb_dl_result(ctx, &dl_##name##_state);                                     \
	}

#define ALB_DL_SYMS(name, LIST)	 ((const struct alb_dl_sym[]){LIST(ALB_DL_ENTRY_##name)})
#define ALB_DL_ENTRY_gnutls(sym) ALB_DL_SYM_ENTRY(&dl_gnutls, sym)
#define ALB_DL_ENTRY_nft(sym)	 ALB_DL_SYM_ENTRY(&dl_nft, sym)
#define ALB_DL_ENTRY_nl(sym)	 ALB_DL_SYM_ENTRY(&dl_nl, sym)
#define ALB_DL_COUNT(sym)	 +1
#define ALB_DL_LIB(soname, name, LIST)                                                             \
	{                                                                                          \
		soname, ALB_DL_SYMS(name, LIST), 0 LIST(ALB_DL_COUNT)                              \
	}

/* gnutls_global_init() runs in the library's constructor, when it is loaded. */
ALB_DL_LOADER(gnutls, ALB_DL_LIB("libgnutls.so.30", gnutls, ALB_DL_GNUTLS_SYMBOLS))
ALB_DL_LOADER(nft, ALB_DL_LIB("libnftables.so.1", nft, ALB_DL_NFT_SYMBOLS))
ALB_DL_LOADER(nl, ALB_DL_LIB("libnl-3.so.200", nl, ALB_DL_NL_SYMBOLS),
	      ALB_DL_LIB("libnl-route-3.so.200", nl, ALB_DL_NL_ROUTE_SYMBOLS),
	      ALB_DL_LIB("libnl-nf-3.so.200", nl, ALB_DL_NL_NF_SYMBOLS))
