/* SPDX-License-Identifier: ISC */
/* Shared helpers of the check unit tests. */
#pragma once

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <albatross/albatross.h>

/* Asserts r >= 0, printing strerror(-r) and the context's last error otherwise. */
#define ck_assert_alb_ok(ctx, r)                                                                   \
	do {                                                                                       \
		int _r = (r);                                                                      \
		ck_assert_msg(_r >= 0, "%s failed: %s (%s)", #r, strerror(-_r),                    \
			      alb_ctx_last_error(ctx));                                            \
	} while (0)

/* Asserts r == -err, printing both otherwise. */
#define ck_assert_alb_err(ctx, r, err)                                                             \
	do {                                                                                       \
		int _r = (r);                                                                      \
		ck_assert_msg(_r == -(err),                                                        \
			      "%s returned %d (%s), expected %d (%s); last error: %s", #r, _r,     \
			      _r < 0 ? strerror(-_r) : "success", -(err), strerror(err),           \
			      alb_ctx_last_error(ctx));                                            \
	} while (0)

/* Asserts the context's last error contains needle. */
#define ck_assert_last_error_has(ctx, needle)                                                      \
	ck_assert_msg(strstr(alb_ctx_last_error(ctx), (needle)) != NULL,                           \
		      "last error '%s' does not mention '%s'", alb_ctx_last_error(ctx), (needle))

/* A context for a test, created in the fixture (tc_ctx_setup/tc_ctx_teardown). */
extern alb_ctx *test_ctx;
void tc_ctx_setup(void);
void tc_ctx_teardown(void);

/* A fresh temporary directory per test (tc_tmpdir_setup/tc_tmpdir_teardown), removed after. */
extern char test_tmpdir[];
void tc_tmpdir_setup(void);
void tc_tmpdir_teardown(void);
/* test_tmpdir/name, in one of 8 static buffers used in turn. */
const char *test_path(const char *name);

/* Runs the suite, TAP to stdout, returns the process exit code. */
int test_run_suite(Suite *s);
