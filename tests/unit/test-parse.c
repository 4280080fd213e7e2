/* SPDX-License-Identifier: ISC */
/* Number parsing: the one grammar of numbers (parse-private.h). */
#include <stdint.h>

#include "parse-private.h"
#include "test-common.h"
#include "util-private.h"

START_TEST(test_u64)
{
	uint64_t v = 42;

	ck_assert_int_eq(alb_parse_u64("0", 0, 10, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(alb_parse_u64("007", 0, 10, &v), 0);
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(alb_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(alb_parse_u64("10", 10, 10, &v), 0);
	ck_assert_uint_eq(v, 10);

	v = 42;
	static const char *const not_numbers[] = {"",	  "-1",	 "+1",	" 1", "1 ", "1x",
						  "0x10", "1.5", "1e3", "٣",  "1\n"};
	for (size_t i = 0; i < ELEMENTSOF(not_numbers); i++)
		ck_assert_msg(alb_parse_u64(not_numbers[i], 0, UINT64_MAX, &v) == -EINVAL,
			      "'%s' is a number", not_numbers[i]);
	ck_assert_int_eq(alb_parse_u64(NULL, 0, 1, &v), -EINVAL);
	ck_assert_int_eq(alb_parse_u64("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
	ck_assert_int_eq(alb_parse_u64("99999999999999999999999999", 0, UINT64_MAX, &v), -ERANGE);
	/* Junk after an overflow is still junk. */
	ck_assert_int_eq(alb_parse_u64("99999999999999999999999999x", 0, UINT64_MAX, &v), -EINVAL);
	ck_assert_int_eq(alb_parse_u64("9", 10, 20, &v), -ERANGE);
	ck_assert_int_eq(alb_parse_u64("21", 10, 20, &v), -ERANGE);
	ck_assert_uint_eq(v, 42); /* written only on success */
}
END_TEST

START_TEST(test_span_and_u32)
{
	uint64_t v;
	uint32_t u = 42;

	ck_assert_int_eq(alb_parse_u64_span("123 456", 3, 0, UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, 123);
	ck_assert_int_eq(alb_parse_u64_span("123 456", 4, 0, UINT64_MAX, &v), -EINVAL);
	ck_assert_int_eq(alb_parse_u64_span("123", 0, 0, UINT64_MAX, &v), -EINVAL);

	ck_assert_int_eq(alb_parse_u32("4294967295", 0, UINT32_MAX, &u), 0);
	ck_assert_uint_eq(u, UINT32_MAX);
	ck_assert_int_eq(alb_parse_u32("4294967296", 0, UINT32_MAX, &u), -ERANGE);
	ck_assert_int_eq(alb_parse_u32("0", 1, 5, &u), -ERANGE);
	ck_assert_int_eq(alb_parse_u32("x", 1, 5, &u), -EINVAL);
	ck_assert_uint_eq(u, UINT32_MAX);
}
END_TEST

START_TEST(test_seconds)
{
	uint64_t us = 42;

	ck_assert_int_eq(alb_parse_seconds("5", 1, 3600, &us), 0);
	ck_assert_uint_eq(us, 5000000);
	ck_assert_int_eq(alb_parse_seconds("3600", 1, 3600, &us), 0);
	ck_assert_uint_eq(us, UINT64_C(3600000000));
	ck_assert_int_eq(alb_parse_seconds("0", 1, 3600, &us), -ERANGE);
	ck_assert_int_eq(alb_parse_seconds("3601", 1, 3600, &us), -ERANGE);
	ck_assert_int_eq(alb_parse_seconds("5s", 1, 3600, &us), -EINVAL);
	/* No overflow in the microseconds. */
	ck_assert_int_eq(alb_parse_seconds("18446744073709", 0, UINT64_MAX, &us), 0);
	ck_assert_uint_eq(us, UINT64_C(18446744073709) * 1000000);
	ck_assert_int_eq(alb_parse_seconds("18446744073710", 0, UINT64_MAX, &us), -ERANGE);
}
END_TEST

START_TEST(test_size)
{
	uint64_t v = 42;

	ck_assert_int_eq(alb_parse_size("4096", 0, UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, 4096);
	ck_assert_int_eq(alb_parse_size("4K", 0, UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, 4096);
	ck_assert_int_eq(alb_parse_size("4k", 0, UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, 4096);
	ck_assert_int_eq(alb_parse_size("16M", 0, UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, UINT64_C(16) << 20);
	ck_assert_int_eq(alb_parse_size("2G", 0, UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, UINT64_C(2) << 30);
	ck_assert_int_eq(alb_parse_size("17179869183G", 0, UINT64_MAX, &v), 0);
	ck_assert_int_eq(alb_parse_size("17179869184G", 0, UINT64_MAX, &v), -ERANGE);

	static const char *const bad[] = {"",	 "K",	"m",   "1m", "1g",
					  "1KB", "1 K", "-1K", "K1", "1T"};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		ck_assert_msg(alb_parse_size(bad[i], 0, UINT64_MAX, &v) == -EINVAL,
			      "'%s' is a size", bad[i]);
	ck_assert_int_eq(alb_parse_size("1K", 1025, UINT64_MAX, &v), -ERANGE);
	ck_assert_int_eq(alb_parse_size("2K", 0, 2047, &v), -ERANGE);
	ck_assert_int_eq(alb_parse_size(NULL, 0, 1, &v), -EINVAL);
}
END_TEST

static Suite *parse_suite(void)
{
	Suite *s = suite_create("parse");
	TCase *tc = tcase_create("parse");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_u64);
	tcase_add_test(tc, test_span_and_u32);
	tcase_add_test(tc, test_seconds);
	tcase_add_test(tc, test_size);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(parse_suite());
}
