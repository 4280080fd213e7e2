/* SPDX-License-Identifier: ISC */
/* IPv4 addresses and prefixes (libalbatross/inet-private.h). */
#include "test-common.h"

#include "inet-private.h"
#include "util-private.h"

START_TEST(test_ipv4_parse_format)
{
	static const struct {
		const char *s;
		uint32_t addr;
	} good[] = {
	    {"0.0.0.0", 0},
	    {"10.0.0.1", 0x0a000001},
	    {"192.168.1.254", 0xc0a801fe},
	    {"255.255.255.255", 0xffffffff},
	    {"1.2.3.4", 0x01020304},
	    {"100.64.0.10", 0x6440000a},
	};
	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		uint32_t a = 1;
		char buf[16];
		ck_assert_int_eq(alb_ipv4_parse(good[i].s, &a), 0);
		ck_assert_uint_eq(a, good[i].addr);
		alb_ipv4_format(a, buf);
		ck_assert_str_eq(buf, good[i].s);
	}

	static const char *const bad[] = {
	    "",		"1",	     "1.2.3",		"1.2.3.4.",  ".1.2.3.4",
	    "1..2.3",	"1.2.3.4.5", "256.0.0.1",	"1.2.3.256", "01.2.3.4",
	    "1.2.3.04", "1.2.3.00",  "1.2.3.0004",	" 1.2.3.4",  "1.2.3.4 ",
	    "+1.2.3.4", "-1.2.3.4",  "1.2.3.4/24",	"0x1.2.3.4", "a.b.c.d",
	    "1.2.3.-4", "1.2.3.4\n", "999.999.999.999", "1,2,3,4",   "1.2.3.1000",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		uint32_t a = 42;
		ck_assert_msg(alb_ipv4_parse(bad[i], &a) == -EINVAL, "'%s' was accepted", bad[i]);
		ck_assert_uint_eq(a, 42); /* untouched */
	}
	uint32_t a;
	ck_assert_int_eq(alb_ipv4_parse(NULL, &a), -EINVAL);
	ck_assert_int_eq(alb_ipv4_parse("1.2.3.4", NULL), -EINVAL);
}
END_TEST

START_TEST(test_prefix_parse_format)
{
	static const struct {
		const char *s;
		uint32_t addr, len;
	} good[] = {
	    {"10.0.0.0/8", 0x0a000000, 8},
	    {"10.0.0.0/24", 0x0a000000, 24},
	    {"10.0.0.128/25", 0x0a000080, 25},
	    {"192.168.1.4/30", 0xc0a80104, 30},
	    {"10.0.0.1/32", 0x0a000001, 32},
	    {"128.0.0.0/1", 0x80000000, 1},
	    {"0.0.0.0/1", 0, 1},
	    {"255.255.255.255/32", 0xffffffff, 32},
	    {"172.16.0.0/12", 0xac100000, 12},
	};
	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		uint32_t a = 1, l = 1;
		char buf[19];
		ck_assert_msg(alb_prefix_parse(good[i].s, &a, &l) == 0, "'%s' was refused",
			      good[i].s);
		ck_assert_uint_eq(a, good[i].addr);
		ck_assert_uint_eq(l, good[i].len);
		alb_prefix_format(a, l, buf);
		ck_assert_str_eq(buf, good[i].s);
	}

	static const char *const bad[] = {
	    "10.0.0.0",	    "10.0.0.0/",    "10.0.0.0/0",  "0.0.0.0/0",	   "10.0.0.0/33",
	    "10.0.0.0/024", "10.0.0.0/08",  "10.0.0.1/24", "10.0.0.0/-8",  "10.0.0.0/+8",
	    "10.0.0.0/ 8",  "10.0.0.0 /8",  "10.0.0.0/8 ", "10.0.0.0/8/8", "10.0.0/24",
	    "010.0.0.0/8",  "10.0.0.0/100", "/8",	   "10.128.0.0/8", "128.0.0.0/0",
	    "10.0.0.0/2x",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		uint32_t a = 42, l = 42;
		ck_assert_msg(alb_prefix_parse(bad[i], &a, &l) == -EINVAL, "'%s' was accepted",
			      bad[i]);
		ck_assert_uint_eq(a, 42);
		ck_assert_uint_eq(l, 42);
	}
	uint32_t a, l;
	ck_assert_int_eq(alb_prefix_parse(NULL, &a, &l), -EINVAL);
	ck_assert_int_eq(alb_prefix_parse("10.0.0.0/8", NULL, &l), -EINVAL);
	ck_assert_int_eq(alb_prefix_parse("10.0.0.0/8", &a, NULL), -EINVAL);
}
END_TEST

START_TEST(test_prefix_mask_contains)
{
	ck_assert_uint_eq(alb_prefix_mask(0), 0);
	ck_assert_uint_eq(alb_prefix_mask(1), 0x80000000);
	ck_assert_uint_eq(alb_prefix_mask(8), 0xff000000);
	ck_assert_uint_eq(alb_prefix_mask(24), 0xffffff00);
	ck_assert_uint_eq(alb_prefix_mask(31), 0xfffffffe);
	ck_assert_uint_eq(alb_prefix_mask(32), 0xffffffff);
	ck_assert_uint_eq(alb_prefix_mask(40), 0xffffffff);

	/* 10.0.0.0/8 holds 10.1.0.0/16 and itself, not 11.0.0.0/16 nor 10.0.0.0/7. */
	ck_assert_int_eq(alb_prefix_contains(0x0a000000, 8, 0x0a010000, 16), 1);
	ck_assert_int_eq(alb_prefix_contains(0x0a000000, 8, 0x0a000000, 8), 1);
	ck_assert_int_eq(alb_prefix_contains(0x0a000000, 8, 0x0a0000ff, 32), 1);
	ck_assert_int_eq(alb_prefix_contains(0x0a000000, 8, 0x0affffff, 32), 1);
	ck_assert_int_eq(alb_prefix_contains(0x0a000000, 8, 0x0b000000, 16), 0);
	ck_assert_int_eq(alb_prefix_contains(0x0a000000, 8, 0x0a000000, 7), 0);
	ck_assert_int_eq(alb_prefix_contains(0x0a000000, 8, 0x09ffffff, 32), 0);
	/* 10.0.0.0/24 and 10.0.1.0/24 are siblings. */
	ck_assert_int_eq(alb_prefix_contains(0x0a000000, 24, 0x0a000100, 24), 0);
	ck_assert_int_eq(alb_prefix_contains(0x0a000000, 23, 0x0a000100, 24), 1);
	/* /0 holds everything; a /32 only itself. */
	ck_assert_int_eq(alb_prefix_contains(0, 0, 0xc0a80101, 32), 1);
	ck_assert_int_eq(alb_prefix_contains(0xc0a80101, 32, 0xc0a80101, 32), 1);
	ck_assert_int_eq(alb_prefix_contains(0xc0a80101, 32, 0xc0a80102, 32), 0);
	/* The first and the last bit. */
	ck_assert_int_eq(alb_prefix_contains(0x80000000, 1, 0xffffffff, 32), 1);
	ck_assert_int_eq(alb_prefix_contains(0x80000000, 1, 0x7fffffff, 32), 0);
}
END_TEST

static Suite *inet_suite(void)
{
	Suite *s = suite_create("inet");
	TCase *tc = tcase_create("inet");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_add_test(tc, test_ipv4_parse_format);
	tcase_add_test(tc, test_prefix_parse_format);
	tcase_add_test(tc, test_prefix_mask_contains);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(inet_suite());
}
