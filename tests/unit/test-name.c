/* SPDX-License-Identifier: ISC */
#include "test-common.h"

static alb_name *parse_ok(const char *s)
{
	alb_name *n = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, s, &n));
	return n;
}

static void assert_roundtrip(const char *in, const char *expected)
{
	alb_name *n = parse_ok(in);
	char *s = alb_name_to_string(n);
	ck_assert_str_eq(s, expected);
	/* The formatted form parses back to the same name. */
	alb_name *again = parse_ok(s);
	ck_assert(alb_name_equal(n, again));
	alb_free(s);
	alb_name_free(again);
	alb_name_free(n);
}

static void assert_invalid(const char *in, const char *needle)
{
	alb_name *n = NULL;
	alb_ctx_clear_error(test_ctx);
	ck_assert_alb_err(test_ctx, alb_name_parse(test_ctx, in, &n), EINVAL);
	ck_assert_ptr_null(n);
	if (needle)
		ck_assert_last_error_has(test_ctx, needle);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

START_TEST(test_label_rules)
{
	ck_assert_int_eq(alb_label_validate(test_ctx, "a"), 0);
	ck_assert_int_eq(alb_label_validate(test_ctx, "web-1.example"), 0);
	ck_assert_int_eq(alb_label_validate(test_ctx, "0start"), 0);
	ck_assert_int_eq(alb_label_validate(test_ctx, "UPPER"), 0);
	ck_assert_int_eq(alb_label_validate(test_ctx, "a-"), 0);
	ck_assert_int_eq(alb_label_validate(test_ctx, "."), 0);
	ck_assert_alb_err(test_ctx, alb_label_validate(test_ctx, ""), EINVAL);
	ck_assert_last_error_has(test_ctx, "empty");
	ck_assert_alb_err(test_ctx, alb_label_validate(test_ctx, "-a"), EINVAL);
	ck_assert_last_error_has(test_ctx, "starts with '-'");
	ck_assert_alb_err(test_ctx, alb_label_validate(test_ctx, "a_b"), EINVAL);
	ck_assert_last_error_has(test_ctx, "'_'");
	ck_assert_alb_err(test_ctx, alb_label_validate(test_ctx, "a b"), EINVAL);
	ck_assert_alb_err(test_ctx, alb_label_validate(test_ctx, "a:b"), EINVAL);
	ck_assert_alb_err(test_ctx, alb_label_validate(test_ctx, "a/b"), EINVAL);
	ck_assert_alb_err(test_ctx, alb_label_validate(test_ctx, "caf\xc3\xa9"), EINVAL);
	ck_assert_last_error_has(test_ctx, "0xc3");
	ck_assert_alb_err(test_ctx, alb_label_validate(test_ctx, "a\tb"), EINVAL);
	ck_assert_alb_err(test_ctx, alb_label_validate(test_ctx, NULL), EINVAL);
}
END_TEST

START_TEST(test_label_length)
{
	char *l63 = repeat('x', 63), *l64 = repeat('x', 64);
	ck_assert_int_eq(alb_label_validate(test_ctx, l63), 0);
	ck_assert_alb_err(test_ctx, alb_label_validate(test_ctx, l64), EINVAL);
	ck_assert_last_error_has(test_ctx, "longer than 63");

	alb_name *n = parse_ok(l63);
	ck_assert_str_eq(alb_name_label(n), l63);
	alb_name_free(n);
	assert_invalid(l64, "longer than 63");

	char path[200];
	snprintf(path, sizeof(path), "%s:vm", l64);
	assert_invalid(path, "longer than 63");
	snprintf(path, sizeof(path), "%s:vm", l63);
	n = parse_ok(path);
	ck_assert_str_eq(alb_name_path_label(n, 0), l63);
	alb_name_free(n);
	free(l63);
	free(l64);
}
END_TEST

START_TEST(test_forms)
{
	alb_name *n = parse_ok(":");
	ck_assert(alb_name_is_root(n));
	ck_assert(alb_name_is_path(n));
	ck_assert_uint_eq(alb_name_depth(n), 0);
	ck_assert_ptr_null(alb_name_label(n));
	alb_name_free(n);

	n = parse_ok("vm");
	ck_assert(!alb_name_is_path(n));
	ck_assert(!alb_name_is_root(n));
	ck_assert_uint_eq(alb_name_depth(n), 0);
	ck_assert_str_eq(alb_name_label(n), "vm");
	alb_name_free(n);

	n = parse_ok("a:b:");
	ck_assert(alb_name_is_path(n));
	ck_assert_uint_eq(alb_name_depth(n), 2);
	ck_assert_str_eq(alb_name_path_label(n, 0), "a");
	ck_assert_str_eq(alb_name_path_label(n, 1), "b");
	ck_assert_ptr_null(alb_name_path_label(n, 2));
	ck_assert_ptr_null(alb_name_label(n));
	alb_name_free(n);

	n = parse_ok("a:b:vm");
	ck_assert(!alb_name_is_path(n));
	ck_assert_uint_eq(alb_name_depth(n), 2);
	ck_assert_str_eq(alb_name_label(n), "vm");
	alb_name_free(n);

	assert_roundtrip(":", ":");
	assert_roundtrip("vm", "vm");
	assert_roundtrip("a:", "a:");
	assert_roundtrip("a:b:", "a:b:");
	assert_roundtrip("a:b:vm", "a:b:vm");
	assert_roundtrip("x.y-z:0", "x.y-z:0");
}
END_TEST

START_TEST(test_lowercase)
{
	assert_roundtrip("Alice:Hello", "alice:hello");
	assert_roundtrip("ALICE:", "alice:");
	alb_name *a = parse_ok("Alice:VM"), *b = parse_ok("alice:vm");
	ck_assert(alb_name_equal(a, b));
	alb_name_free(a);
	alb_name_free(b);
	alb_name *n = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_new_root(&n));
	alb_name *m = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_append(test_ctx, n, "MiXeD", 0, &m));
	ck_assert_str_eq(alb_name_label(m), "mixed");
	alb_name_free(m);
	alb_name_free(n);
}
END_TEST

START_TEST(test_invalid)
{
	assert_invalid("", "empty name");
	assert_invalid("::", "empty label");
	assert_invalid("a::b", "empty label");
	assert_invalid(":vm", "empty label");
	assert_invalid(":a:", "empty label");
	assert_invalid("a:-b", "starts with '-'");
	assert_invalid("-a:b", "starts with '-'");
	assert_invalid("a:b_c", "invalid character");
	assert_invalid("a;b", "invalid character");
	assert_invalid("a b", "invalid character");
	assert_invalid("a:b/c", "invalid character");
	assert_invalid("a\nb", "invalid byte");
	assert_invalid("../etc", "invalid character");
	ck_assert_alb_err(test_ctx, alb_name_parse(test_ctx, NULL, NULL), EINVAL);
}
END_TEST

START_TEST(test_depth_limit)
{
	char s[ALB_NAME_STRING_MAX + 100] = "";
	for (int i = 0; i < ALB_NAME_LABELS_MAX - 1; i++)
		strcat(s, "a:");
	strcat(s, "vm");
	alb_name *n = parse_ok(s); /* exactly 16 labels */
	ck_assert_uint_eq(alb_name_depth(n), ALB_NAME_LABELS_MAX - 1);
	alb_name *p = NULL;
	ck_assert_alb_err(test_ctx, alb_name_append(test_ctx, n, "x", 0, &p), EINVAL);
	/* to_path of a 16-label name still fits */
	ck_assert_alb_ok(test_ctx, alb_name_to_path(n, &p));
	ck_assert_uint_eq(alb_name_depth(p), ALB_NAME_LABELS_MAX);
	alb_name_free(p);
	alb_name_free(n);
	strcat(s, ":x");
	assert_invalid(s, "more than 16 labels");
	/* A string over the total bound is refused before it is looked at. */
	char *big = repeat('a', ALB_NAME_STRING_MAX + 1);
	assert_invalid(big, "longer than");
	free(big);
}
END_TEST

START_TEST(test_parent)
{
	alb_name *n = parse_ok("a:b:vm"), *p = NULL, *pp = NULL, *ppp = NULL, *x = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_parent(n, &p));
	char *s = alb_name_to_string(p);
	ck_assert_str_eq(s, "a:b:");
	alb_free(s);
	ck_assert_alb_ok(test_ctx, alb_name_parent(p, &pp));
	s = alb_name_to_string(pp);
	ck_assert_str_eq(s, "a:");
	alb_free(s);
	ck_assert_alb_ok(test_ctx, alb_name_parent(pp, &ppp));
	ck_assert(alb_name_is_root(ppp));
	ck_assert_int_eq(alb_name_parent(ppp, &x), -ENOENT);
	ck_assert_ptr_null(x);
	alb_name *vm = parse_ok("vm");
	ck_assert_alb_ok(test_ctx, alb_name_parent(vm, &x));
	ck_assert(alb_name_is_root(x));
	alb_name_free(x);
	alb_name_free(vm);
	alb_name_free(n);
	alb_name_free(p);
	alb_name_free(pp);
	alb_name_free(ppp);
}
END_TEST

START_TEST(test_prefix)
{
	alb_name *root = parse_ok(":"), *a = parse_ok("a:"), *ab = parse_ok("a:b:"),
		 *abvm = parse_ok("a:b:vm"), *avm = parse_ok("a:vm"), *c = parse_ok("c:"),
		 *ax = parse_ok("ab:");
	ck_assert(alb_name_is_prefix(root, abvm));
	ck_assert(alb_name_is_prefix(root, root));
	ck_assert(alb_name_is_prefix(a, abvm));
	ck_assert(alb_name_is_prefix(ab, abvm));
	ck_assert(alb_name_is_prefix(a, a));
	ck_assert(alb_name_is_prefix(a, avm));
	ck_assert(!alb_name_is_prefix(ab, avm));
	ck_assert(!alb_name_is_prefix(c, abvm));
	ck_assert(!alb_name_is_prefix(ax, abvm));   /* "ab" is not "a" */
	ck_assert(!alb_name_is_prefix(abvm, abvm)); /* not a path */
	ck_assert(!alb_name_is_prefix(ab, a));
	/* The path of a unikernel's own labels contains it. */
	alb_name *p = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_to_path(avm, &p));
	char *s = alb_name_to_string(p);
	ck_assert_str_eq(s, "a:vm:");
	alb_free(s);
	ck_assert(alb_name_is_prefix(p, avm));
	alb_name_free(p);
	alb_name_free(root);
	alb_name_free(a);
	alb_name_free(ab);
	alb_name_free(abvm);
	alb_name_free(avm);
	alb_name_free(c);
	alb_name_free(ax);
}
END_TEST

START_TEST(test_append_relative)
{
	alb_name *a = parse_ok("a:"), *n = NULL, *r = NULL, *back = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_append(test_ctx, a, "b", 1, &n));
	char *s = alb_name_to_string(n);
	ck_assert_str_eq(s, "a:b:");
	alb_free(s);
	alb_name *vm = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_append(test_ctx, n, "vm", 0, &vm));
	s = alb_name_to_string(vm);
	ck_assert_str_eq(s, "a:b:vm");
	alb_free(s);
	alb_name *bad = NULL;
	ck_assert_alb_err(test_ctx, alb_name_append(test_ctx, vm, "x", 0, &bad), EINVAL);
	ck_assert_alb_err(test_ctx, alb_name_append(test_ctx, n, "-x", 0, &bad), EINVAL);
	ck_assert_alb_err(test_ctx, alb_name_append(test_ctx, n, "x:y", 0, &bad), EINVAL);
	ck_assert_ptr_null(bad);

	ck_assert_alb_ok(test_ctx, alb_name_relative_to(test_ctx, vm, a, &r));
	s = alb_name_to_string(r);
	ck_assert_str_eq(s, "b:vm");
	alb_free(s);
	ck_assert_alb_ok(test_ctx, alb_name_prepend_path(test_ctx, a, r, &back));
	ck_assert(alb_name_equal(back, vm));
	alb_name_free(back);
	alb_name_free(r);

	ck_assert_alb_ok(test_ctx, alb_name_relative_to(test_ctx, vm, n, &r));
	s = alb_name_to_string(r);
	ck_assert_str_eq(s, "vm");
	alb_free(s);
	alb_name_free(r);

	ck_assert_alb_ok(test_ctx, alb_name_relative_to(test_ctx, n, n, &r));
	ck_assert(alb_name_is_root(r));
	alb_name_free(r);

	alb_name *other = parse_ok("c:");
	ck_assert_alb_err(test_ctx, alb_name_relative_to(test_ctx, vm, other, &r), EINVAL);
	ck_assert_last_error_has(test_ctx, "is not below");
	alb_name_free(other);
	alb_name_free(a);
	alb_name_free(n);
	alb_name_free(vm);
}
END_TEST

START_TEST(test_null_safety)
{
	ck_assert_ptr_null(alb_name_free(NULL));
	ck_assert_ptr_null(alb_name_to_string(NULL));
	ck_assert_int_eq(alb_name_is_path(NULL), 0);
	ck_assert_int_eq(alb_name_equal(NULL, NULL), 0);
	ck_assert_int_eq(alb_name_dup(NULL, NULL), -EINVAL);
}
END_TEST

static Suite *name_suite(void)
{
	Suite *s = suite_create("name");
	TCase *tc = tcase_create("name");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_add_test(tc, test_label_rules);
	tcase_add_test(tc, test_label_length);
	tcase_add_test(tc, test_forms);
	tcase_add_test(tc, test_lowercase);
	tcase_add_test(tc, test_invalid);
	tcase_add_test(tc, test_depth_limit);
	tcase_add_test(tc, test_parent);
	tcase_add_test(tc, test_prefix);
	tcase_add_test(tc, test_append_relative);
	tcase_add_test(tc, test_null_safety);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(name_suite());
}
