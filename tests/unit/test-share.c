/* SPDX-License-Identifier: ISC */
/* Fair shares of a resource held by peers (share-private.h): the decisions. */
#include <stdint.h>

#include "share-private.h"
#include "test-common.h"
#include "util-private.h"

START_TEST(test_admit_below)
{
	size_t v = 99;
	uint32_t held = 99;
	/* Nobody holds anything. */
	ck_assert_int_eq(alb_share_admit(NULL, 0, 0, "", 4, 16, &v, &held), ALB_SHARE_ADMIT);
	ck_assert_uint_eq(v, 99); /* untouched */
	const struct alb_share_holder h[] = {
	    {0, "", 1}, {0, "", 2}, {0, "", 3}, {1000, "alice", 4}, {998, "bob", 5}};
	ck_assert_int_eq(alb_share_admit(h, ELEMENTSOF(h), 0, "", 4, 16, &v, &held),
			 ALB_SHARE_ADMIT);
	/* Other uids and tenants count for nothing. */
	ck_assert_int_eq(alb_share_admit(h, ELEMENTSOF(h), 0, "alice", 1, 16, &v, &held),
			 ALB_SHARE_ADMIT);
	ck_assert_int_eq(alb_share_admit(h, ELEMENTSOF(h), 998, "alice", 1, 16, &v, &held),
			 ALB_SHARE_ADMIT);
	/* NULL is the tenant "". */
	ck_assert_int_eq(alb_share_admit(h, ELEMENTSOF(h), 0, NULL, 3, 16, &v, &held),
			 ALB_SHARE_REFUSE_PEER);
	ck_assert_uint_eq(held, 3);
}
END_TEST

START_TEST(test_refuse_peer)
{
	/* The peer holds its share: the newcomer is refused, whatever the others hold. */
	const struct alb_share_holder h[] = {
	    {998, "alice", 1}, {998, "alice", 2}, {998, "bob", 3}, {998, "alice", 4}};
	uint32_t held = 0;
	ck_assert_int_eq(alb_share_admit(h, ELEMENTSOF(h), 998, "alice", 3, 100, NULL, &held),
			 ALB_SHARE_REFUSE_PEER);
	ck_assert_uint_eq(held, 3);
	ck_assert_int_eq(alb_share_admit(h, ELEMENTSOF(h), 998, "bob", 3, 100, NULL, NULL),
			 ALB_SHARE_ADMIT);
	ck_assert_int_eq(alb_share_admit(h, ELEMENTSOF(h), 0, "alice", 3, 100, NULL, NULL),
			 ALB_SHARE_ADMIT);
}
END_TEST

START_TEST(test_evict_biggest_tenant)
{
	/* uid 998 holds 4 (its bound): alice 2, bob 1, carol 1. A newcomer of dave (0) takes
	 * the place of alice's idlest; one of bob (1) or alice (2) is refused. */
	const struct alb_share_holder h[] = {{998, "bob", 10},
					     {998, "alice", 50},
					     {998, "carol", 5},
					     {998, "alice", 20},
					     {0, "", 1}};
	size_t v = 99;
	uint32_t held = 0;
	ck_assert_int_eq(alb_share_admit(h, ELEMENTSOF(h), 998, "dave", 4, 4, &v, &held),
			 ALB_SHARE_EVICT);
	ck_assert_uint_eq(v, 3); /* alice's idlest (20 before 50), not carol's (5) */
	ck_assert_uint_eq(held, 2);
	ck_assert_int_eq(alb_share_admit(h, ELEMENTSOF(h), 998, "bob", 4, 4, &v, &held),
			 ALB_SHARE_REFUSE_UID);
	ck_assert_int_eq(alb_share_admit(h, ELEMENTSOF(h), 998, "alice", 4, 4, &v, &held),
			 ALB_SHARE_REFUSE_UID);
	ck_assert_uint_eq(held, 4);
	/* Another uid is not concerned. */
	ck_assert_int_eq(alb_share_admit(h, ELEMENTSOF(h), 0, "", 4, 4, &v, &held),
			 ALB_SHARE_ADMIT);
}
END_TEST

START_TEST(test_evenly_spread)
{
	/* Every tenant holds one: a newcomer of a fifth is refused (taking one's place would
	 * only move the refusal there), nobody's work is thrown away. */
	const struct alb_share_holder h[] = {
	    {998, "a", 1}, {998, "b", 2}, {998, "c", 3}, {998, "d", 4}};
	uint32_t held = 0;
	ck_assert_int_eq(alb_share_admit(h, ELEMENTSOF(h), 998, "e", 4, 4, NULL, &held),
			 ALB_SHARE_REFUSE_UID);
	ck_assert_uint_eq(held, 4);
	/* Ties between the biggest tenants: the idlest of them all. */
	const struct alb_share_holder t[] = {
	    {998, "a", 9}, {998, "b", 2}, {998, "a", 7}, {998, "b", 8}};
	ck_assert_int_eq(alb_share_admit(t, ELEMENTSOF(t), 998, "b", 4, 4, NULL, &held),
			 ALB_SHARE_REFUSE_UID);
	size_t v = 99;
	ck_assert_int_eq(alb_share_admit(t, ELEMENTSOF(t), 998, "c", 4, 4, &v, &held),
			 ALB_SHARE_EVICT);
	ck_assert_uint_eq(v, 1);
	ck_assert_uint_eq(held, 2);
}
END_TEST

static Suite *share_suite(void)
{
	Suite *s = suite_create("share");
	TCase *tc = tcase_create("share");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_admit_below);
	tcase_add_test(tc, test_refuse_peer);
	tcase_add_test(tc, test_evict_biggest_tenant);
	tcase_add_test(tc, test_evenly_spread);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(share_suite());
}
