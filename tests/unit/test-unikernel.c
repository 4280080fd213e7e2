/* SPDX-License-Identifier: ISC */
#include "test-common.h"

static alb_unikernel_config *cfg;

static void setup(void)
{
	tc_ctx_setup();
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_new(test_ctx, &cfg));
}

static void teardown(void)
{
	cfg = alb_unikernel_config_free(cfg);
	tc_ctx_teardown();
}

START_TEST(test_defaults)
{
	ck_assert_int_eq(alb_unikernel_config_get_tender(cfg), ALB_TENDER_HVT);
	ck_assert_uint_eq(alb_unikernel_config_get_memory(cfg), 32);
	ck_assert_int_eq(alb_unikernel_config_get_fail_behaviour(cfg), ALB_FAIL_QUIT);
	ck_assert_uint_eq(alb_unikernel_config_get_startup(cfg), 50);
	uint8_t d[32];
	ck_assert_int_eq(alb_unikernel_config_get_digest(cfg, d), -ENOENT);
	/* Not runnable without a CPU. */
	ck_assert_alb_err(test_ctx, alb_unikernel_config_validate(test_ctx, cfg), EINVAL);
	ck_assert_last_error_has(test_ctx, "no CPU");
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_cpuid(cfg, 0));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_validate(test_ctx, cfg));
}
END_TEST

START_TEST(test_ranges)
{
	ck_assert_alb_err(test_ctx, alb_unikernel_config_set_tender(cfg, 3), EINVAL);
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_set_tender(cfg, ALB_TENDER_SPT));
	ck_assert_alb_err(test_ctx, alb_unikernel_config_set_memory(cfg, 0), ERANGE);
	ck_assert_alb_err(
	    test_ctx, alb_unikernel_config_set_memory(cfg, ALB_UNIKERNEL_MEMORY_MAX + 1), ERANGE);
	ck_assert_alb_err(test_ctx, alb_unikernel_config_add_cpuid(cfg, ALB_CPUID_LIMIT), ERANGE);
	ck_assert_alb_err(test_ctx, alb_unikernel_config_add_exit_code(cfg, 256), ERANGE);
	ck_assert_alb_err(test_ctx, alb_unikernel_config_set_startup(cfg, ALB_STARTUP_MAX + 1),
			  ERANGE);
	ck_assert_alb_err(test_ctx, alb_unikernel_config_set_image(cfg, ALB_IMAGE_SIZE_MAX + 1, 0),
			  ERANGE);
	ck_assert_alb_err(test_ctx, alb_unikernel_config_set_fail_behaviour(cfg, 7), EINVAL);
}
END_TEST

START_TEST(test_fail_behaviour_validation)
{
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_cpuid(cfg, 1));
	ck_assert_alb_ok(test_ctx,
			 alb_unikernel_config_set_fail_behaviour(cfg, ALB_FAIL_RESTART_ON));
	ck_assert_alb_err(test_ctx, alb_unikernel_config_validate(test_ctx, cfg), EINVAL);
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_exit_code(cfg, 2));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_exit_code(cfg, 0));
	ck_assert_uint_eq(alb_unikernel_config_get_exit_code(cfg, 0), 0);
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_validate(test_ctx, cfg));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_set_fail_behaviour(cfg, ALB_FAIL_QUIT));
	ck_assert_alb_err(test_ctx, alb_unikernel_config_validate(test_ctx, cfg), EINVAL);
}
END_TEST

START_TEST(test_devices)
{
	const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 1}, mcast[6] = {0x01, 0, 0x5e, 0, 0, 1};
	uint8_t out[6];
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_net(cfg, "service", "br0", mac));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_net(cfg, "mgmt", "br1", NULL));
	ck_assert_alb_err(test_ctx, alb_unikernel_config_add_net(cfg, "service", "br0", NULL),
			  EEXIST);
	ck_assert_alb_err(test_ctx, alb_unikernel_config_add_block(cfg, "service", NULL, 0),
			  EEXIST);
	ck_assert_alb_err(test_ctx, alb_unikernel_config_add_net(cfg, "x", "br0", mcast), EINVAL);
	ck_assert_last_error_has(test_ctx, "multicast");
	ck_assert_alb_err(test_ctx, alb_unikernel_config_add_net(cfg, "bad-name", "br0", NULL),
			  EINVAL);
	ck_assert_alb_err(test_ctx, alb_unikernel_config_add_net(cfg, "x", "br/0", NULL), EINVAL);
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_get_net_mac(cfg, 0, out));
	ck_assert_mem_eq(out, mac, 6);
	ck_assert_int_eq(alb_unikernel_config_get_net_mac(cfg, 1, out), -ENOENT);
	ck_assert_int_eq(alb_unikernel_config_get_net_mac(cfg, 2, out), -EINVAL);

	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_block(cfg, "storage", NULL, 0));
	ck_assert_str_eq(alb_unikernel_config_get_block_host(cfg, 0), "storage");
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_block(cfg, "data", "Disk1", 4096));
	ck_assert_str_eq(alb_unikernel_config_get_block_host(cfg, 1), "disk1");
	ck_assert_uint_eq(alb_unikernel_config_get_block_sector_size(cfg, 1), 4096);
	ck_assert_alb_err(test_ctx, alb_unikernel_config_add_block(cfg, "b2", NULL, 1000), EINVAL);
	ck_assert_alb_err(test_ctx, alb_unikernel_config_add_block(cfg, "b3", NULL, 256), EINVAL);
	ck_assert_alb_err(test_ctx, alb_unikernel_config_add_block(cfg, "b4", NULL, 131072),
			  EINVAL);
	ck_assert_alb_err(test_ctx, alb_unikernel_config_add_block(cfg, "b5", "-x", 0), EINVAL);

	/* 67 characters is the longest device name. */
	char name[70];
	memset(name, 'd', 67);
	name[67] = '\0';
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_block(cfg, name, "h", 0));
	name[67] = 'd';
	name[68] = '\0';
	ck_assert_alb_err(test_ctx, alb_unikernel_config_add_block(cfg, name, "h", 0), EINVAL);

	/* At most 63 devices. */
	uint32_t have =
	    alb_unikernel_config_get_block_count(cfg) + alb_unikernel_config_get_net_count(cfg);
	for (uint32_t i = have; i < ALB_DEVICES_MAX; i++) {
		char n[16];
		snprintf(n, sizeof(n), "n%u", i);
		ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_net(cfg, n, "br0", NULL));
	}
	ck_assert_alb_err(test_ctx, alb_unikernel_config_add_net(cfg, "last", "br0", NULL), E2BIG);
}
END_TEST

START_TEST(test_arguments)
{
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_argument(cfg, "--hello=albatross"));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_argument(cfg, "caf\xc3\xa9"));
	ck_assert_alb_err(test_ctx, alb_unikernel_config_add_argument(cfg, "bad\xc3"), EINVAL);
	ck_assert_alb_err(test_ctx, alb_unikernel_config_add_argument(cfg, "\xed\xa0\x80"), EINVAL);
	ck_assert_alb_err(test_ctx, alb_unikernel_config_add_argument(cfg, "\xc0\xaf"), EINVAL);
	ck_assert_uint_eq(alb_unikernel_config_get_argument_count(cfg), 2);
	ck_assert_str_eq(alb_unikernel_config_get_argument(cfg, 1), "caf\xc3\xa9");
	alb_unikernel_config_clear_arguments(cfg);
	ck_assert_uint_eq(alb_unikernel_config_get_argument_count(cfg), 0);

	/* The joined arguments may be 8191 characters, no more. */
	char big[4096];
	memset(big, 'a', 4095);
	big[4095] = '\0';
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_argument(cfg, big)); /* 4095 */
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_argument(cfg, big)); /* +1+4095 */
	ck_assert_alb_err(test_ctx, alb_unikernel_config_add_argument(cfg, "ab"), E2BIG);
	/* Even an empty one: the separating space would make 8192. */
	ck_assert_alb_err(test_ctx, alb_unikernel_config_add_argument(cfg, ""), E2BIG);
}
END_TEST

START_TEST(test_dup_equal)
{
	const uint8_t digest[32] = {1, 2, 3};
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_cpuid(cfg, 2));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_net(cfg, "service", "br0", NULL));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_block(cfg, "st", "disk", 512));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_argument(cfg, "-l"));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_set_digest(cfg, digest));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_set_image(cfg, 1234, 1));
	alb_unikernel_config *copy = NULL;
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_dup(cfg, &copy));
	ck_assert(alb_unikernel_config_equal(cfg, copy));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_argument(copy, "-x"));
	ck_assert(!alb_unikernel_config_equal(cfg, copy));
	alb_unikernel_config_free(copy);
}
END_TEST

START_TEST(test_should_restart)
{
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_cpuid(cfg, 0));
	/* quit: never */
	ck_assert_int_eq(alb_unikernel_config_should_restart(cfg, 0, 2), 0);
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_set_fail_behaviour(cfg, ALB_FAIL_RESTART));
	ck_assert_int_eq(alb_unikernel_config_should_restart(cfg, 0, 0), 1);
	ck_assert_int_eq(alb_unikernel_config_should_restart(cfg, 0, 2), 1);
	ck_assert_int_eq(alb_unikernel_config_should_restart(cfg, 0, 255), 1);
	/* never: signals, 1, 60-64 */
	ck_assert_int_eq(alb_unikernel_config_should_restart(cfg, 9, 0), 0);
	ck_assert_int_eq(alb_unikernel_config_should_restart(cfg, 15, 0), 0);
	ck_assert_int_eq(alb_unikernel_config_should_restart(cfg, 0, 1), 0);
	for (int c = 60; c <= 64; c++)
		ck_assert_int_eq(alb_unikernel_config_should_restart(cfg, 0, c), 0);
	ck_assert_int_eq(alb_unikernel_config_should_restart(cfg, 0, 59), 1);
	ck_assert_int_eq(alb_unikernel_config_should_restart(cfg, 0, 65), 1);
	/* listed codes only */
	ck_assert_alb_ok(test_ctx,
			 alb_unikernel_config_set_fail_behaviour(cfg, ALB_FAIL_RESTART_ON));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_exit_code(cfg, 2));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_exit_code(cfg, 1));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_exit_code(cfg, 61));
	ck_assert_int_eq(alb_unikernel_config_should_restart(cfg, 0, 2), 1);
	ck_assert_int_eq(alb_unikernel_config_should_restart(cfg, 0, 3), 0);
	ck_assert_int_eq(alb_unikernel_config_should_restart(cfg, 0, 1), 0);  /* listed, never */
	ck_assert_int_eq(alb_unikernel_config_should_restart(cfg, 0, 61), 0); /* listed, never */
	ck_assert_int_eq(alb_unikernel_config_should_restart(NULL, 0, 2), 0);
}
END_TEST

static Suite *unikernel_suite(void)
{
	Suite *s = suite_create("unikernel");
	TCase *tc = tcase_create("config");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_ranges);
	tcase_add_test(tc, test_fail_behaviour_validation);
	tcase_add_test(tc, test_devices);
	tcase_add_test(tc, test_arguments);
	tcase_add_test(tc, test_dup_equal);
	tcase_add_test(tc, test_should_restart);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(unikernel_suite());
}
