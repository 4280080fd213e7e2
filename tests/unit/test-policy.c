/* SPDX-License-Identifier: ISC */
#include "test-common.h"

#include "policy-private.h"

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

START_TEST(test_ports)
{
	alb_policy *p = make(1, 1, -1, NULL, NULL);
	uint32_t first = 7, last = 7;

	/* None by default: no port may be published. */
	ck_assert_int_eq(alb_policy_get_ports(p, &first, &last), 0);
	ck_assert_uint_eq(first, 7);
	ck_assert_int_eq(alb_policy_allows_port(p, 80), 0);

	ck_assert_int_eq(alb_policy_set_ports(p, 0, 10), -ERANGE);
	ck_assert_int_eq(alb_policy_set_ports(p, 10, 9), -ERANGE);
	ck_assert_int_eq(alb_policy_set_ports(p, 1, 65536), -ERANGE);
	ck_assert_int_eq(alb_policy_set_ports(NULL, 1, 2), -EINVAL);
	ck_assert_int_eq(alb_policy_get_ports(p, NULL, NULL), 0);

	ck_assert_int_eq(alb_policy_set_ports(p, 8000, 8080), 0);
	ck_assert_int_eq(alb_policy_get_ports(p, &first, &last), 1);
	ck_assert_uint_eq(first, 8000);
	ck_assert_uint_eq(last, 8080);
	ck_assert_int_eq(alb_policy_get_ports(p, NULL, NULL), 1);
	ck_assert_int_eq(alb_policy_allows_port(p, 7999), 0);
	ck_assert_int_eq(alb_policy_allows_port(p, 8000), 1);
	ck_assert_int_eq(alb_policy_allows_port(p, 8080), 1);
	ck_assert_int_eq(alb_policy_allows_port(p, 8081), 0);
	ck_assert_int_eq(alb_policy_allows_port(NULL, 8000), 0);

	/* A single port, and the whole range; a new range replaces the old. */
	ck_assert_int_eq(alb_policy_set_ports(p, 443, 443), 0);
	ck_assert_int_eq(alb_policy_allows_port(p, 443), 1);
	ck_assert_int_eq(alb_policy_allows_port(p, 8000), 0);
	ck_assert_int_eq(alb_policy_set_ports(p, 1, 65535), 0);
	ck_assert_int_eq(alb_policy_allows_port(p, 1), 1);
	ck_assert_int_eq(alb_policy_allows_port(p, 65535), 1);
	ck_assert_int_eq(alb_policy_allows_port(p, 0), 0);
	ck_assert_int_eq(alb_policy_allows_port(p, 65536), 0);
	alb_policy_free(p);
}
END_TEST

START_TEST(test_prefixes)
{
	alb_policy *p = make(1, 1, -1, NULL, "br0 br1");

	ck_assert_uint_eq(alb_policy_get_prefix_count(p), 0);
	ck_assert_ptr_null(alb_policy_get_prefix(p, 0));
	ck_assert_ptr_null(alb_policy_get_prefix_bridge(p, 0));

	/* Kept sorted by bridge, address, length; unique. */
	ck_assert_int_eq(alb_policy_add_prefix(p, "br1", "192.168.0.0/16"), 0);
	ck_assert_int_eq(alb_policy_add_prefix(p, "br0", "10.1.0.0/16"), 0);
	ck_assert_int_eq(alb_policy_add_prefix(p, "br0", "10.0.0.0/24"), 0);
	ck_assert_int_eq(alb_policy_add_prefix(p, "br0", "10.0.0.0/16"), 0);
	ck_assert_int_eq(alb_policy_add_prefix(p, "br0", "10.1.0.0/16"), 0);
	ck_assert_uint_eq(alb_policy_get_prefix_count(p), 4);
	static const char *const want[][2] = {{"br0", "10.0.0.0/16"},
					      {"br0", "10.0.0.0/24"},
					      {"br0", "10.1.0.0/16"},
					      {"br1", "192.168.0.0/16"}};
	for (uint32_t i = 0; i < 4; i++) {
		ck_assert_str_eq(alb_policy_get_prefix_bridge(p, i), want[i][0]);
		ck_assert_str_eq(alb_policy_get_prefix(p, i), want[i][1]);
	}
	ck_assert_ptr_null(alb_policy_get_prefix(p, 4));

	/* Invalid prefixes, bridge names, and bridges the policy does not have. */
	static const char *const bad[] = {
	    "10.0.0.1/24", "10.0.0.0/31", "10.0.0.0/32", "0.0.0.0/0", "10.0.0.0",
	    "10.0.0.0/8 ", "010.0.0.0/8", "10.0.0.0/33", "",	      "10.0.0.0/024",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		ck_assert_msg(alb_policy_add_prefix(p, "br0", bad[i]) == -EINVAL,
			      "'%s' was accepted", bad[i]);
	ck_assert_int_eq(alb_policy_add_prefix(p, "br0", NULL), -EINVAL);
	ck_assert_int_eq(alb_policy_add_prefix(p, "br2", "10.0.0.0/24"), -EINVAL);
	ck_assert_int_eq(alb_policy_add_prefix(p, "br 0", "10.0.0.0/24"), -EINVAL);
	ck_assert_int_eq(alb_policy_add_prefix(p, NULL, "10.0.0.0/24"), -EINVAL);
	ck_assert_int_eq(alb_policy_add_prefix(NULL, "br0", "10.0.0.0/24"), -EINVAL);
	ck_assert_int_eq(alb_policy_add_prefix(p, "br0", "128.0.0.0/1"), 0);
	ck_assert_int_eq(alb_policy_add_prefix(p, "br0", "10.0.0.4/30"), 0);
	ck_assert_uint_eq(alb_policy_get_prefix_count(p), 6);

	/* The reason, with a context. */
	ck_assert_alb_err(test_ctx, alb_policy_add_prefix_ctx(test_ctx, p, "br2", "10.0.0.0/24"),
			  EINVAL);
	ck_assert_last_error_has(test_ctx, "bridge 'br2' is not one of the policy's bridges");
	ck_assert_alb_err(test_ctx, alb_policy_add_prefix_ctx(test_ctx, p, "br0", "10.0.0.1/24"),
			  EINVAL);
	ck_assert_last_error_has(test_ctx, "invalid prefix '10.0.0.1/24'");

	/* allows_prefix: inside a prefix of the same bridge; single addresses as /32. */
	ck_assert_int_eq(alb_policy_allows_prefix(p, "br0", "10.0.0.0/24"), 1);
	ck_assert_int_eq(alb_policy_allows_prefix(p, "br0", "10.0.3.0/24"), 1);
	ck_assert_int_eq(alb_policy_allows_prefix(p, "br0", "10.0.3.7/32"), 1);
	ck_assert_int_eq(alb_policy_allows_prefix(p, "br0", "10.2.0.0/24"), 0);
	ck_assert_int_eq(alb_policy_allows_prefix(p, "br0", "10.0.0.0/15"), 0);
	ck_assert_int_eq(alb_policy_allows_prefix(p, "br1", "10.0.0.0/24"), 0);
	ck_assert_int_eq(alb_policy_allows_prefix(p, "br1", "192.168.7.0/24"), 1);
	ck_assert_int_eq(alb_policy_allows_prefix(p, "br0", "192.168.7.0/24"), 1); /* 128/1 */
	ck_assert_int_eq(alb_policy_allows_prefix(p, "br2", "192.168.7.0/24"), 0);
	ck_assert_int_eq(alb_policy_allows_prefix(p, "br0", "10.0.0.1/24"), 0); /* invalid */
	ck_assert_int_eq(alb_policy_allows_prefix(p, "br0", NULL), 0);
	ck_assert_int_eq(alb_policy_allows_prefix(p, NULL, "10.0.0.0/24"), 0);
	ck_assert_int_eq(alb_policy_allows_prefix(NULL, "br0", "10.0.0.0/24"), 0);

	/* Bounded. */
	for (uint32_t i = 0; alb_policy_get_prefix_count(p) < ALB_POLICY_PREFIXES_MAX; i++) {
		char s[19];
		snprintf(s, sizeof(s), "172.16.%u.0/24", i);
		ck_assert_int_eq(alb_policy_add_prefix(p, "br1", s), 0);
	}
	ck_assert_int_eq(alb_policy_add_prefix(p, "br1", "172.31.0.0/24"), -E2BIG);
	ck_assert_int_eq(alb_policy_add_prefix(p, "br1", "172.16.0.0/24"), 0); /* there */
	ck_assert_uint_eq(alb_policy_get_prefix_count(p), ALB_POLICY_PREFIXES_MAX);
	alb_policy_free(p);
}
END_TEST

START_TEST(test_services_dup_equal_string)
{
	alb_policy *p = make(2, 64, -1, "0", "br0 br1"), *q = NULL;
	ck_assert_int_eq(alb_policy_set_ports(p, 8000, 8080), 0);
	ck_assert_int_eq(alb_policy_add_prefix(p, "br1", "192.168.0.0/16"), 0);
	ck_assert_int_eq(alb_policy_add_prefix(p, "br0", "10.0.0.0/24"), 0);
	ck_assert_int_eq(alb_policy_dup(p, &q), 0);
	ck_assert(alb_policy_equal(p, q));
	ck_assert_str_eq(alb_policy_get_prefix(q, 1), "192.168.0.0/16");
	char *s = alb_policy_to_string(p);
	ck_assert_str_eq(s, "unikernels 2, memory 64 MB, block none, cpuids 0, bridges br0 br1, "
			    "ports 8000-8080, prefixes br0=10.0.0.0/24 br1=192.168.0.0/16");
	alb_free(s);

	ck_assert_int_eq(alb_policy_set_ports(q, 8000, 8081), 0);
	ck_assert(!alb_policy_equal(p, q));
	ck_assert_int_eq(alb_policy_set_ports(q, 8000, 8080), 0);
	ck_assert(alb_policy_equal(p, q));
	ck_assert_int_eq(alb_policy_add_prefix(q, "br0", "10.0.1.0/24"), 0);
	ck_assert(!alb_policy_equal(p, q));
	alb_policy_free(q);

	/* Ports alone make a difference. */
	alb_policy *a = make(1, 1, -1, NULL, NULL), *b = make(1, 1, -1, NULL, NULL);
	ck_assert(alb_policy_equal(a, b));
	ck_assert_int_eq(alb_policy_set_ports(b, 1, 1), 0);
	ck_assert(!alb_policy_equal(a, b));
	alb_policy_free(a);
	alb_policy_free(b);
	alb_policy_free(p);
}
END_TEST

START_TEST(test_is_smaller_services)
{
	alb_policy *outer = make(4, 1024, -1, NULL, "br0 br1");
	ck_assert_int_eq(alb_policy_set_ports(outer, 8000, 8100), 0);
	ck_assert_int_eq(alb_policy_add_prefix(outer, "br0", "10.0.0.0/16"), 0);
	ck_assert_int_eq(alb_policy_add_prefix(outer, "br1", "192.168.1.0/24"), 0);

	/* No range and no prefix always fit; so do the parent's own. */
	alb_policy *plain = make(1, 1, -1, NULL, "br0");
	ck_assert_alb_ok(test_ctx, alb_policy_is_smaller(test_ctx, plain, outer));
	ck_assert_alb_ok(test_ctx, alb_policy_is_smaller(test_ctx, outer, outer));

	alb_policy *fits = make(4, 1024, -1, NULL, "br0 br1");
	ck_assert_int_eq(alb_policy_set_ports(fits, 8000, 8000), 0);
	ck_assert_int_eq(alb_policy_add_prefix(fits, "br0", "10.0.7.0/24"), 0);
	ck_assert_int_eq(alb_policy_add_prefix(fits, "br0", "10.0.0.0/16"), 0);
	ck_assert_int_eq(alb_policy_add_prefix(fits, "br1", "192.168.1.128/25"), 0);
	ck_assert_alb_ok(test_ctx, alb_policy_is_smaller(test_ctx, fits, outer));
	/* The other way round it does not: the parent's range is wider. */
	ck_assert_alb_err(test_ctx, alb_policy_is_smaller(test_ctx, outer, fits), EDQUOT);
	ck_assert_last_error_has(test_ctx, "ports 8000-8100 exceed 8000-8000");

	static const struct {
		uint32_t first, last;
		const char *bridge, *prefix;
		const char *needle;
	} bad[] = {
	    {7999, 8000, NULL, NULL, "ports 7999-8000 exceed 8000-8100"},
	    {8100, 8101, NULL, NULL, "ports 8100-8101 exceed 8000-8100"},
	    {1, 65535, NULL, NULL, "ports 1-65535 exceed 8000-8100"},
	    {0, 0, "br0", "10.1.0.0/24", "prefix 10.1.0.0/24 on bridge 'br0' is not allowed"},
	    {0, 0, "br0", "10.0.0.0/15", "prefix 10.0.0.0/15 on bridge 'br0' is not allowed"},
	    /* Inside a prefix, but of another bridge. */
	    {0, 0, "br1", "10.0.0.0/24", "prefix 10.0.0.0/24 on bridge 'br1' is not allowed"},
	    {0, 0, "br0", "192.168.1.0/24", "prefix 192.168.1.0/24 on bridge 'br0' is not allowed"},
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		alb_policy *p = make(1, 1, -1, NULL, "br0 br1");
		if (bad[i].first)
			ck_assert_int_eq(alb_policy_set_ports(p, bad[i].first, bad[i].last), 0);
		if (bad[i].prefix)
			ck_assert_int_eq(alb_policy_add_prefix(p, bad[i].bridge, bad[i].prefix), 0);
		ck_assert_alb_err(test_ctx, alb_policy_is_smaller(test_ctx, p, outer), EDQUOT);
		ck_assert_last_error_has(test_ctx, bad[i].needle);
		alb_policy_free(p);
	}

	/* A parent without ports or prefixes admits neither. */
	alb_policy *none = make(4, 1024, -1, NULL, "br0 br1");
	ck_assert_alb_err(test_ctx, alb_policy_is_smaller(test_ctx, fits, none), EDQUOT);
	ck_assert_last_error_has(test_ctx, "ports 8000-8000 exceed none");
	alb_policy *pfx = make(1, 1, -1, NULL, "br0");
	ck_assert_int_eq(alb_policy_add_prefix(pfx, "br0", "10.0.0.0/24"), 0);
	ck_assert_alb_err(test_ctx, alb_policy_is_smaller(test_ctx, pfx, none), EDQUOT);
	ck_assert_last_error_has(test_ctx, "prefix 10.0.0.0/24 on bridge 'br0' is not allowed");
	ck_assert_alb_ok(test_ctx, alb_policy_is_smaller(test_ctx, plain, none));

	alb_policy_free(pfx);
	alb_policy_free(none);
	alb_policy_free(fits);
	alb_policy_free(plain);
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
	tcase_add_test(tc, test_ports);
	tcase_add_test(tc, test_prefixes);
	tcase_add_test(tc, test_services_dup_equal_string);
	tcase_add_test(tc, test_is_smaller_services);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(policy_suite());
}
