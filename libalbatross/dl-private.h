/* SPDX-License-Identifier: ISC */
/*
 * Libraries loaded on demand (dlopen), so that a process that never talks TLS, never
 * touches nftables and never opens a netlink socket (the CLI's local commands) does not
 * pay for loading them. docs/abi.md says which libraries and why.
 *
 * One private header per library (dl-gnutls-private.h, dl-nft-private.h,
 * dl-nl-private.h) includes the library's real headers, declares a struct of typed
 * pointers from an X-macro list of the symbols libalbatross uses, and then #defines
 * each symbol to the pointer in the loaded struct: the code that calls them compiles
 * unchanged. A symbol missing from the list is an undefined reference, and the shared
 * library is linked with --no-undefined against the headers only: the build fails.
 *
 * alb_dl_X() loads the library once (pthread_once) and returns the struct; if the
 * library cannot be loaded it prints a message naming the library and dlerror() and
 * aborts (the packages depend on these libraries: a missing one is a broken install).
 * alb_dl_X_load(ctx) is the same without aborting: the entry points that can return an
 * error (a TLS connect, the endpoint, certificate commands, nftables, netlink) call it
 * first, so that a missing library is a clean error there.
 */
#pragma once

#include <stddef.h>

#include <albatross/ctx.h>

struct alb_dl_sym {
	const char *name;
	void **ptr;
};

struct alb_dl_lib {
	const char *soname;
	const struct alb_dl_sym *syms; /* may be NULL: only loaded (for its dependents) */
	size_t n_syms;
};

/* What a loader keeps: 0 once loaded, else -errno with the reason in error. */
struct alb_dl_state {
	int r;
	char error[512];
};

/*
 * Opens every library of libs (RTLD_NOW | RTLD_LOCAL; handles are never closed) and
 * resolves its symbols into the pointers. Fills state. Run once, under pthread_once.
 */
void alb_dl_open(struct alb_dl_state *state, const struct alb_dl_lib *libs, size_t n_libs);

/* The state's result; with the reason in ctx (if ctx) on failure. */
int alb_dl_result(alb_ctx *ctx, const struct alb_dl_state *state);

/* Prints state's reason to stderr and aborts. */
_Noreturn void alb_dl_fail(const struct alb_dl_state *state);

/* For the per-library structs: a member per symbol, typed like the symbol's address. */
#define ALB_DL_MEMBER(sym)	 __typeof__(&sym) sym;
#define ALB_DL_SYM_ENTRY(s, sym) {#sym, (void **)&(s)->sym},
