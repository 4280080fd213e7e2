/* SPDX-License-Identifier: ISC */
#include "test-common.h"

static alb_policy *make(uint32_t uk, uint64_t mem, int64_t block, const char *cpus,
			const char *bridges)
{
	alb_policy *p = NULL;
	ck_assert_int_eq(alb_policy_new(&p), 0);
	ck_assert_int_eq(alb_policy_set_unikernels(p, uk), 0);
	ck_assert_int_eq(alb_policy_set_memory(p, mem), 0);
	if (block >= 0)
		ck_assert_int_eq(alb_policy_set_block(p, (uint64_t)block), 0);
	for (const char *c = cpus; c && *c; c++)
		if (*c != ' ')
			ck_assert_int_eq(alb_policy_add_cpuid(p, (uint32_t)(*c - '0')), 0);
	if (bridges) {
		char *copy = strdup(bridges), *save = NULL;
		for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save))
			ck_assert_int_eq(alb_policy_add_bridge(p, t), 0);
		free(copy);
	}
	return p;
}

START_TEST(test_defaults_and_setters)
{
	alb_policy *p = NULL;
	ck_assert_int_eq(alb_policy_new(&p), 0);
	ck_assert_uint_eq(alb_policy_get_unikernels(p), 0);
	ck_assert_uint_eq(alb_policy_get_memory(p), 0);
	ck_assert_int_eq(alb_policy_has_block(p), 0);
	ck_assert_uint_eq(alb_policy_get_cpuid_count(p), 0);
	ck_assert_uint_eq(alb_policy_get_bridge_count(p), 0);

	ck_assert_int_eq(alb_policy_set_unikernels(p, ALB_POLICY_UNIKERNELS_MAX + 1), -ERANGE);
	ck_assert_int_eq(alb_policy_set_memory(p, ALB_POLICY_MB_MAX + 1), -ERANGE);
	ck_assert_int_eq(alb_policy_set_block(p, ALB_POLICY_MB_MAX + 1), -ERANGE);
	ck_assert_int_eq(alb_policy_add_cpuid(p, ALB_CPUID_LIMIT), -ERANGE);

	/* Sets stay sorted and unique. */
	ck_assert_int_eq(alb_policy_add_cpuid(p, 3), 0);
	ck_assert_int_eq(alb_policy_add_cpuid(p, 1), 0);
	ck_assert_int_eq(alb_policy_add_cpuid(p, 3), 0);
	ck_assert_uint_eq(alb_policy_get_cpuid_count(p), 2);
	ck_assert_uint_eq(alb_policy_get_cpuid(p, 0), 1);
	ck_assert_uint_eq(alb_policy_get_cpuid(p, 1), 3);
	ck_assert_uint_eq(alb_policy_get_cpuid(p, 2), UINT32_MAX);
	ck_assert(alb_policy_has_cpuid(p, 3));
	ck_assert(!alb_policy_has_cpuid(p, 2));

	ck_assert_int_eq(alb_policy_add_bridge(p, "br1"), 0);
	ck_assert_int_eq(alb_policy_add_bridge(p, "br0"), 0);
	ck_assert_int_eq(alb_policy_add_bridge(p, "br1"), 0);
	ck_assert_uint_eq(alb_policy_get_bridge_count(p), 2);
	ck_assert_str_eq(alb_policy_get_bridge(p, 0), "br0");
	ck_assert_ptr_null(alb_policy_get_bridge(p, 2));
	ck_assert_int_eq(alb_policy_add_bridge(p, ""), -EINVAL);
	ck_assert_int_eq(alb_policy_add_bridge(p, "0123456789abcdef"), -EINVAL); /* 16 chars */
	ck_assert_int_eq(alb_policy_add_bridge(p, "0123456789abcde"), 0);	 /* 15 chars */
	ck_assert_int_eq(alb_policy_add_bridge(p, "br/0"), -EINVAL);
	ck_assert_int_eq(alb_policy_add_bridge(p, "br 0"), -EINVAL);
	ck_assert_int_eq(alb_policy_add_bridge(p, ".."), -EINVAL);

	ck_assert_int_eq(alb_policy_set_block(p, 0), 0);
	ck_assert_int_eq(alb_policy_has_block(p), 1); /* 0 MB allowed is not "none" */
	alb_policy_set_block_none(p);
	ck_assert_int_eq(alb_policy_has_block(p), 0);

	for (uint32_t i = 0; i < ALB_BRIDGES_MAX; i++) {
		char b[16];
		snprintf(b, sizeof(b), "b%u", i);
		int r = alb_policy_add_bridge(p, b);
		ck_assert(r == 0 || r == -E2BIG);
	}
	ck_assert_uint_eq(alb_policy_get_bridge_count(p), ALB_BRIDGES_MAX);
	ck_assert_int_eq(alb_policy_add_bridge(p, "onemore"), -E2BIG);
	alb_policy_free(p);
}
END_TEST

START_TEST(test_dup_equal_string)
{
	alb_policy *p = make(2, 64, -1, "0", "br0"), *q = NULL;
	ck_assert_int_eq(alb_policy_dup(p, &q), 0);
	ck_assert(alb_policy_equal(p, q));
	ck_assert_int_eq(alb_policy_add_cpuid(q, 1), 0);
	ck_assert(!alb_policy_equal(p, q));
	char *s = alb_policy_to_string(p);
	ck_assert_str_eq(s, "unikernels 2, memory 64 MB, block none, cpuids 0, bridges br0");
	alb_free(s);
	alb_policy_free(q);
	alb_policy_free(p);
}
END_TEST

START_TEST(test_is_smaller_each_field)
{
	alb_policy *outer = make(4, 1024, 100, "01", "br0 br1");
	alb_policy *fits = make(4, 1024, 100, "1", "br1");
	ck_assert_alb_ok(test_ctx, alb_policy_is_smaller(test_ctx, fits, outer));
	ck_assert_alb_ok(test_ctx, alb_policy_is_smaller(test_ctx, outer, outer));

	struct {
		alb_policy *p;
		const char *needle;
	} bad[] = {
	    {make(5, 1024, 100, "0", "br0"), "unikernels 5 exceeds 4"},
	    {make(4, 1025, 100, "0", "br0"), "memory 1025 MB exceeds 1024 MB"},
	    {make(4, 1024, 101, "0", "br0"), "block 101 MB exceeds 100 MB"},
	    {make(4, 1024, 100, "2", "br0"), "cpuid 2"},
	    {make(4, 1024, 100, "0", "br2"), "bridge 'br2'"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_alb_err(test_ctx, alb_policy_is_smaller(test_ctx, bad[i].p, outer),
				  EDQUOT);
		ck_assert_last_error_has(test_ctx, bad[i].needle);
		alb_policy_free(bad[i].p);
	}
	/* Block storage under a "none" parent. */
	alb_policy *none = make(4, 1024, -1, "0", NULL), *zero = make(1, 1, 0, NULL, NULL);
	ck_assert_alb_err(test_ctx, alb_policy_is_smaller(test_ctx, zero, none), EDQUOT);
	ck_assert_last_error_has(test_ctx, "exceeds none");
	ck_assert_alb_ok(test_ctx, alb_policy_is_smaller(test_ctx, none, outer));
	alb_policy_free(none);
	alb_policy_free(zero);
	alb_policy_free(fits);
	alb_policy_free(outer);
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("policy");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_add_test(tc, test_defaults_and_setters);
	tcase_add_test(tc, test_dup_equal_string);
	tcase_add_test(tc, test_is_smaller_each_field);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(policy_suite());
}
