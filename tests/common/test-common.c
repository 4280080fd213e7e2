/* SPDX-License-Identifier: ISC */
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "test-common.h"

alb_ctx *test_ctx;
char test_tmpdir[PATH_MAX];

void tc_ctx_setup(void)
{
	ck_assert_int_eq(alb_ctx_new(&test_ctx), 0);
}

void tc_ctx_teardown(void)
{
	test_ctx = alb_ctx_unref(test_ctx);
}

void tc_tmpdir_setup(void)
{
	const char *base = getenv("TMPDIR");
	snprintf(test_tmpdir, sizeof(test_tmpdir), "%s/alb-test-XXXXXX", base ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(test_tmpdir));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void tc_tmpdir_teardown(void)
{
	if (test_tmpdir[0])
		nftw(test_tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	test_tmpdir[0] = '\0';
}

const char *test_path(const char *name)
{
	static char buf[8][PATH_MAX + 256];
	static int i;
	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", test_tmpdir, name);
	return buf[i];
}

int test_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_set_tap(sr, "-");
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_SILENT);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
