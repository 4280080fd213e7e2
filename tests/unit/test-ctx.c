/* SPDX-License-Identifier: ISC */
#include "config.h"
#include "ctx-private.h"
#include "test-common.h"

struct logged {
	int count;
	int priority;
	char last[256];
};

static void log_fn(alb_ctx *ctx, int priority, const char *message, void *userdata)
{
	struct logged *l = userdata;
	(void)ctx;
	l->count++;
	l->priority = priority;
	snprintf(l->last, sizeof(l->last), "%s", message);
}

START_TEST(test_refcount)
{
	alb_ctx *ctx = NULL;
	ck_assert_int_eq(alb_ctx_new(&ctx), 0);
	ck_assert_ptr_eq(alb_ctx_ref(ctx), ctx);
	ck_assert_ptr_null(alb_ctx_unref(ctx));
	ck_assert_ptr_null(alb_ctx_unref(ctx));
	ck_assert_ptr_null(alb_ctx_unref(NULL));
	ck_assert_ptr_null(alb_ctx_ref(NULL));
	ck_assert_int_eq(alb_ctx_new(NULL), -EINVAL);
}
END_TEST

START_TEST(test_last_error)
{
	ck_assert_str_eq(alb_ctx_last_error(test_ctx), "");
	alb_name *n = NULL;
	ck_assert_int_eq(alb_name_parse(test_ctx, "a::b", &n), -EINVAL);
	ck_assert_str_ne(alb_ctx_last_error(test_ctx), "");
	ck_assert_last_error_has(test_ctx, "a::b");
	alb_ctx_clear_error(test_ctx);
	ck_assert_str_eq(alb_ctx_last_error(test_ctx), "");
	ck_assert_str_eq(alb_ctx_last_error(NULL), "");
}
END_TEST

START_TEST(test_log_handler)
{
	struct logged l = {0};
	ck_assert_int_eq(alb_ctx_get_log_priority(test_ctx), ALB_LOG_WARNING);
	ck_assert_int_eq(alb_ctx_set_log_priority(test_ctx, 99), -EINVAL);
	ck_assert_int_eq(alb_ctx_set_log_priority(test_ctx, ALB_LOG_DEBUG), 0);
	ck_assert_int_eq(alb_ctx_get_log_priority(test_ctx), ALB_LOG_DEBUG);
	alb_ctx_set_log_fn(test_ctx, log_fn, &l);
	alb_log_debug(test_ctx, "started '%s'", "a:vm");
	ck_assert_int_eq(l.count, 1);
	ck_assert_int_eq(l.priority, ALB_LOG_DEBUG);
	ck_assert_str_eq(l.last, "started 'a:vm'");
	/* Messages below the priority are not passed on. */
	ck_assert_int_eq(alb_ctx_set_log_priority(test_ctx, ALB_LOG_ERR), 0);
	alb_log_info(test_ctx, "hidden");
	ck_assert_int_eq(l.count, 1);
	alb_log_err(test_ctx, "shown");
	ck_assert_int_eq(l.count, 2);
	ck_assert_str_eq(l.last, "shown");
	/* Without a handler nothing happens. */
	alb_ctx_set_log_fn(test_ctx, NULL, NULL);
	alb_log_err(test_ctx, "dropped");
	ck_assert_int_eq(l.count, 2);
}
END_TEST

START_TEST(test_error_prefix)
{
	ck_assert_int_eq(alb_error(test_ctx, ENOENT, "no '%s'", "x"), -ENOENT);
	ck_assert_str_eq(alb_ctx_last_error(test_ctx), "no 'x'");
	ck_assert_int_eq(alb_error_prefix(test_ctx, -ENOENT, "reading %s", "state"), -ENOENT);
	ck_assert_str_eq(alb_ctx_last_error(test_ctx), "reading state: no 'x'");
	/* An over-long reason is cut, never overflows. */
	char big[4000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	alb_error(test_ctx, EINVAL, "%s", big);
	alb_error_prefix(test_ctx, -EINVAL, "%s", big);
	ck_assert_uint_lt(strlen(alb_ctx_last_error(test_ctx)), 1024);
}
END_TEST

START_TEST(test_version)
{
	ck_assert_str_eq(alb_version(), PACKAGE_VERSION);
	alb_free(NULL);
}
END_TEST

static Suite *ctx_suite(void)
{
	Suite *s = suite_create("ctx");
	TCase *tc = tcase_create("ctx");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_add_test(tc, test_refcount);
	tcase_add_test(tc, test_last_error);
	tcase_add_test(tc, test_log_handler);
	tcase_add_test(tc, test_error_prefix);
	tcase_add_test(tc, test_version);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(ctx_suite());
}
