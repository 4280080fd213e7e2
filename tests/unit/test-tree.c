/* SPDX-License-Identifier: ISC */
#include "test-common.h"

static alb_tree *tree;

static void setup(void)
{
	tc_ctx_setup();
	ck_assert_alb_ok(test_ctx, alb_tree_new(test_ctx, &tree));
}

static void teardown(void)
{
	tree = alb_tree_free(tree);
	tc_ctx_teardown();
}

static alb_name *N(const char *s)
{
	alb_name *n = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, s, &n));
	return n;
}

/* block < 0: none */
static alb_policy *P(uint32_t uk, uint64_t mem, int64_t block, const char *cpus,
		     const char *bridges)
{
	alb_policy *p = NULL;
	ck_assert_int_eq(alb_policy_new(&p), 0);
	ck_assert_int_eq(alb_policy_set_unikernels(p, uk), 0);
	ck_assert_int_eq(alb_policy_set_memory(p, mem), 0);
	if (block >= 0)
		ck_assert_int_eq(alb_policy_set_block(p, (uint64_t)block), 0);
	for (const char *c = cpus; c && *c; c++)
		ck_assert_int_eq(alb_policy_add_cpuid(p, (uint32_t)(*c - '0')), 0);
	if (bridges) {
		char *copy = strdup(bridges), *save = NULL;
		for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save))
			ck_assert_int_eq(alb_policy_add_bridge(p, t), 0);
		free(copy);
	}
	return p;
}

static alb_unikernel_config *U(uint64_t mem, const char *cpus, const char *bridge, int blocks)
{
	alb_unikernel_config *c = NULL;
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_new(test_ctx, &c));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_set_memory(c, mem));
	for (const char *p = cpus; p && *p; p++)
		ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_cpuid(c, (uint32_t)(*p - '0')));
	if (bridge)
		ck_assert_alb_ok(test_ctx,
				 alb_unikernel_config_add_net(c, "service", bridge, NULL));
	for (int i = 0; i < blocks; i++) {
		char n[16];
		snprintf(n, sizeof(n), "blk%d", i);
		ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_block(c, n, NULL, 0));
	}
	return c;
}

static int insert_policy(const char *path, alb_policy *p)
{
	alb_name *n = N(path);
	int r = alb_tree_insert_policy(tree, n, p);
	alb_name_free(n);
	alb_policy_free(p);
	return r;
}

static int insert_uk(const char *name, alb_unikernel_config *c)
{
	alb_name *n = N(name);
	int r = alb_tree_insert_unikernel(tree, n, c);
	alb_name_free(n);
	alb_unikernel_config_free(c);
	return r;
}

static int insert_block(const char *name, uint64_t mb)
{
	alb_name *n = N(name);
	int r = alb_tree_insert_block(tree, n, mb);
	alb_name_free(n);
	return r;
}

static void root_policy(void)
{
	ck_assert_alb_ok(test_ctx, insert_policy(":", P(100, 4096, 1000, "0123", "br0 br1")));
}

START_TEST(test_static_child_bigger_each_field)
{
	root_policy();
	ck_assert_alb_ok(test_ctx, insert_policy("a:", P(10, 1024, 100, "01", "br0")));
	struct {
		alb_policy *p;
		const char *needle;
	} bad[] = {
	    {P(11, 512, 50, "0", "br0"), "unikernels 11 exceeds 10"},
	    {P(5, 1025, 50, "0", "br0"), "memory 1025 MB exceeds 1024 MB"},
	    {P(5, 512, 101, "0", "br0"), "block 101 MB exceeds 100 MB"},
	    {P(5, 512, 50, "2", "br0"), "cpuid 2 is not allowed"},
	    {P(5, 512, 50, "0", "br1"), "bridge 'br1' is not allowed"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_alb_err(test_ctx, insert_policy("a:b:", bad[i].p), EDQUOT);
		ck_assert_last_error_has(test_ctx, bad[i].needle);
		ck_assert_last_error_has(test_ctx, "the policy of 'a:'");
	}
	/* Nothing was left half-inserted. */
	alb_name *ab = N("a:b:");
	ck_assert_ptr_null(alb_tree_get_policy(tree, ab));
	ck_assert_alb_ok(test_ctx, insert_policy("a:b:", P(10, 1024, 100, "01", "br0")));
	ck_assert_ptr_nonnull(alb_tree_get_policy(tree, ab));
	alb_name_free(ab);
}
END_TEST

START_TEST(test_static_every_ancestor)
{
	/* a: has no policy, so a:b:c: is checked against the root directly. */
	root_policy();
	ck_assert_alb_err(test_ctx, insert_policy("a:b:c:", P(101, 1, -1, NULL, NULL)), EDQUOT);
	ck_assert_last_error_has(test_ctx, "the policy of ':'");
	/* A grandparent's limit counts even when the parent is generous... which it
	 * cannot be: the parent itself must fit inside the grandparent. */
	ck_assert_alb_ok(test_ctx, insert_policy("a:", P(5, 100, -1, "0", NULL)));
	ck_assert_alb_err(test_ctx, insert_policy("a:b:c:", P(6, 1, -1, NULL, NULL)), EDQUOT);
	ck_assert_last_error_has(test_ctx, "the policy of 'a:'");
	ck_assert_alb_ok(test_ctx, insert_policy("a:b:c:", P(5, 1, -1, NULL, NULL)));
}
END_TEST

START_TEST(test_static_root_enforced)
{
	root_policy();
	ck_assert_alb_err(test_ctx, insert_policy("a:", P(1, 4097, -1, NULL, NULL)), EDQUOT);
	ck_assert_last_error_has(test_ctx, "the policy of ':'");
	ck_assert_alb_err(test_ctx, insert_policy("a:", P(1, 1, -1, "4", NULL)), EDQUOT);
	ck_assert_alb_err(test_ctx, insert_policy("a:", P(1, 1, -1, NULL, "br9")), EDQUOT);
	/* Replacing the root policy with a smaller one that no longer holds a: */
	ck_assert_alb_ok(test_ctx, insert_policy("a:", P(10, 2048, -1, "0", NULL)));
	ck_assert_alb_err(test_ctx, insert_policy(":", P(100, 1024, 1000, "0123", "br0")), EDQUOT);
	ck_assert_last_error_has(test_ctx, "policy of 'a:' below does not fit");
	/* The root policy stays what it was. */
	alb_name *root = N(":");
	ck_assert_uint_eq(alb_policy_get_memory(alb_tree_get_policy(tree, root)), 4096);
	alb_name_free(root);
}
END_TEST

START_TEST(test_static_parent_shrunk_below_child)
{
	root_policy();
	ck_assert_alb_ok(test_ctx, insert_policy("a:", P(10, 1024, 100, "01", "br0")));
	ck_assert_alb_ok(test_ctx, insert_policy("a:b:c:", P(8, 512, 100, "1", "br0")));
	/* Shrink a: below its grandchild a:b:c: */
	ck_assert_alb_err(test_ctx, insert_policy("a:", P(10, 256, 100, "01", "br0")), EDQUOT);
	ck_assert_last_error_has(test_ctx, "'a:b:c:'");
	ck_assert_last_error_has(test_ctx, "memory 512 MB exceeds 256 MB");
	ck_assert_alb_err(test_ctx, insert_policy("a:", P(10, 1024, 100, "0", "br0")), EDQUOT);
	ck_assert_last_error_has(test_ctx, "cpuid 1");
	ck_assert_alb_err(test_ctx, insert_policy("a:", P(10, 1024, -1, "01", "br0")), EDQUOT);
	ck_assert_last_error_has(test_ctx, "exceeds none");
	ck_assert_alb_ok(test_ctx, insert_policy("a:", P(8, 512, 100, "1", "br0")));
}
END_TEST

START_TEST(test_static_usage_above_new_policy)
{
	root_policy();
	ck_assert_alb_ok(test_ctx, insert_uk("a:vm1", U(300, "1", "br0", 0)));
	ck_assert_alb_ok(test_ctx, insert_uk("a:b:vm2", U(300, "2", "br1", 0)));
	ck_assert_alb_ok(test_ctx, insert_policy("c:", P(1, 1, 10, NULL, NULL)));
	ck_assert_alb_ok(test_ctx, insert_block("c:disk", 10));

	ck_assert_alb_err(test_ctx, insert_policy("a:", P(1, 1024, -1, "012", "br0 br1")), EDQUOT);
	ck_assert_last_error_has(test_ctx, "in use below it");
	ck_assert_last_error_has(test_ctx, "unikernels 2 exceeds 1");
	ck_assert_alb_err(test_ctx, insert_policy("a:", P(2, 599, -1, "012", "br0 br1")), EDQUOT);
	ck_assert_last_error_has(test_ctx, "memory 600 MB exceeds 599 MB");
	ck_assert_alb_err(test_ctx, insert_policy("a:", P(2, 600, -1, "1", "br0 br1")), EDQUOT);
	ck_assert_last_error_has(test_ctx, "cpuid 2");
	ck_assert_alb_err(test_ctx, insert_policy("a:", P(2, 600, -1, "12", "br0")), EDQUOT);
	ck_assert_last_error_has(test_ctx, "bridge 'br1'");
	ck_assert_alb_ok(test_ctx, insert_policy("a:", P(2, 600, -1, "12", "br0 br1")));

	ck_assert_alb_err(test_ctx, insert_policy("c:", P(1, 1, 9, NULL, NULL)), EDQUOT);
	ck_assert_last_error_has(test_ctx, "block 10 MB exceeds 9 MB");
	ck_assert_alb_err(test_ctx, insert_policy("c:", P(1, 1, -1, NULL, NULL)), EDQUOT);
	ck_assert_last_error_has(test_ctx, "exceeds none");
}
END_TEST

START_TEST(test_dynamic_siblings_exceed_parent)
{
	root_policy();
	ck_assert_alb_ok(test_ctx, insert_policy("a:", P(10, 100, -1, "0", "br0")));
	ck_assert_alb_ok(test_ctx, insert_policy("a:x:", P(10, 64, -1, "0", "br0")));
	ck_assert_alb_ok(test_ctx, insert_policy("a:y:", P(10, 64, -1, "0", "br0")));
	/* Each fits its own policy... */
	ck_assert_alb_ok(test_ctx, insert_uk("a:x:one", U(60, "0", "br0", 0)));
	/* ...but together they exceed a:'s 100 MB: the second is refused. */
	ck_assert_alb_err(test_ctx, insert_uk("a:y:two", U(60, "0", "br0", 0)), EDQUOT);
	ck_assert_last_error_has(test_ctx, "the policy of 'a:'");
	ck_assert_last_error_has(test_ctx, "memory 120 MB (60 in use + 60 requested)");
	alb_name *two = N("a:y:two");
	ck_assert_ptr_null(alb_tree_get_unikernel(tree, two));
	alb_name_free(two);
	ck_assert_alb_ok(test_ctx, insert_uk("a:y:two", U(40, "0", "br0", 0)));
	/* The root's sum counts too. */
	ck_assert_alb_ok(test_ctx, insert_policy("b:", P(10, 4000, -1, "0", NULL)));
	ck_assert_alb_ok(test_ctx, insert_uk("b:big", U(3900, "0", NULL, 0)));
	ck_assert_alb_err(test_ctx, insert_uk("b:more", U(97, "0", NULL, 0)), EDQUOT);
	ck_assert_last_error_has(test_ctx, "the policy of ':'");
}
END_TEST

START_TEST(test_dynamic_cpuid_bridge_count_block)
{
	root_policy();
	ck_assert_alb_ok(test_ctx, insert_policy("a:", P(2, 1024, -1, "1", "br1")));
	ck_assert_alb_err(test_ctx, insert_uk("a:vm", U(10, "0", "br1", 0)), EDQUOT);
	ck_assert_last_error_has(test_ctx, "cpuid 0 is not allowed");
	ck_assert_alb_err(test_ctx, insert_uk("a:vm", U(10, "1", "br0", 0)), EDQUOT);
	ck_assert_last_error_has(test_ctx, "bridge 'br0' is not allowed");
	ck_assert_alb_err(test_ctx, insert_uk("a:vm", U(10, "1", "br1", 1)), EDQUOT);
	ck_assert_last_error_has(test_ctx, "block devices are not allowed");
	ck_assert_alb_err(test_ctx, insert_block("a:disk", 1), EDQUOT);
	ck_assert_last_error_has(test_ctx, "block none");
	ck_assert_alb_ok(test_ctx, insert_uk("a:vm1", U(10, "1", "br1", 0)));
	ck_assert_alb_ok(test_ctx, insert_uk("a:vm2", U(10, "1", NULL, 0)));
	ck_assert_alb_err(test_ctx, insert_uk("a:vm3", U(10, "1", NULL, 0)), EDQUOT);
	ck_assert_last_error_has(test_ctx, "3 unikernels exceed 2");
	ck_assert_alb_err(test_ctx, insert_uk("a:vm1", U(10, "1", NULL, 0)), EEXIST);
	/* A config without CPU is refused before any policy is looked at. */
	ck_assert_alb_err(test_ctx, insert_uk("z", U(10, NULL, NULL, 0)), EINVAL);
	/* Not a unikernel name. */
	ck_assert_alb_err(test_ctx, insert_uk("a:", U(10, "1", NULL, 0)), EINVAL);
}
END_TEST

START_TEST(test_dynamic_block_sums)
{
	root_policy();
	ck_assert_alb_ok(test_ctx, insert_policy("a:", P(2, 1024, 100, "1", NULL)));
	ck_assert_alb_ok(test_ctx, insert_policy("a:b:", P(2, 1024, 80, "1", NULL)));
	ck_assert_alb_ok(test_ctx, insert_block("a:b:d1", 60));
	ck_assert_alb_err(test_ctx, insert_block("a:b:d2", 30), EDQUOT);
	ck_assert_last_error_has(test_ctx, "the policy of 'a:b:'");
	ck_assert_alb_ok(test_ctx, insert_block("a:d3", 40));
	ck_assert_alb_err(test_ctx, insert_block("a:b:d2", 10), EDQUOT);
	ck_assert_last_error_has(test_ctx, "the policy of 'a:'");
	ck_assert_alb_err(test_ctx, insert_block("a:d3", 1), EEXIST);
	ck_assert_alb_err(test_ctx, insert_block("a:zero", 0), EINVAL);
	uint64_t size = 0;
	alb_name *d1 = N("a:b:d1");
	ck_assert_alb_ok(test_ctx, alb_tree_get_block(tree, d1, &size));
	ck_assert_uint_eq(size, 60);
	ck_assert_alb_ok(test_ctx, alb_tree_remove_block(tree, d1));
	ck_assert_int_eq(alb_tree_get_block(tree, d1, &size), -ENOENT);
	ck_assert_alb_err(test_ctx, alb_tree_remove_block(tree, d1), ENOENT);
	alb_name_free(d1);
	ck_assert_alb_ok(test_ctx, insert_block("a:b:d2", 60));
	/* A unikernel with block devices under policies that allow block storage. */
	ck_assert_alb_ok(test_ctx, insert_uk("a:b:vm", U(10, "1", NULL, 1)));
}
END_TEST

START_TEST(test_replace_and_remove)
{
	root_policy();
	ck_assert_alb_ok(test_ctx, insert_policy("a:", P(1, 100, -1, "0", NULL)));
	ck_assert_alb_ok(test_ctx, insert_uk("a:vm", U(60, "0", NULL, 0)));
	alb_name *vm = N("a:vm");
	/* A replacement is checked without the old one's resources. */
	alb_unikernel_config *c = U(100, "0", NULL, 0);
	ck_assert_alb_ok(test_ctx, alb_tree_check_unikernel(tree, vm, c));
	ck_assert_alb_ok(test_ctx, alb_tree_replace_unikernel(tree, vm, c));
	alb_unikernel_config_free(c);
	ck_assert_uint_eq(alb_unikernel_config_get_memory(alb_tree_get_unikernel(tree, vm)), 100);
	c = U(101, "0", NULL, 0);
	ck_assert_alb_err(test_ctx, alb_tree_replace_unikernel(tree, vm, c), EDQUOT);
	alb_unikernel_config_free(c);
	ck_assert_uint_eq(alb_unikernel_config_get_memory(alb_tree_get_unikernel(tree, vm)), 100);

	alb_name *a = N("a:");
	ck_assert_alb_err(test_ctx, alb_tree_remove_policy(tree, a), EBUSY);
	ck_assert_last_error_has(test_ctx, "destroy them first");
	ck_assert_alb_ok(test_ctx, alb_tree_remove_unikernel(tree, vm));
	ck_assert_alb_err(test_ctx, alb_tree_remove_unikernel(tree, vm), ENOENT);
	ck_assert_ptr_null(alb_tree_get_unikernel(tree, vm));
	ck_assert_alb_ok(test_ctx, alb_tree_remove_policy(tree, a));
	ck_assert_ptr_null(alb_tree_get_policy(tree, a));
	ck_assert_alb_err(test_ctx, alb_tree_remove_policy(tree, a), ENOENT);
	alb_name *root = N(":");
	ck_assert_alb_err(test_ctx, alb_tree_remove_policy(tree, root), EPERM);
	c = U(1, "0", NULL, 0);
	ck_assert_alb_err(test_ctx, alb_tree_replace_unikernel(tree, vm, c), ENOENT);
	alb_unikernel_config_free(c);
	alb_name_free(root);
	alb_name_free(a);
	alb_name_free(vm);
}
END_TEST

START_TEST(test_usage)
{
	root_policy();
	ck_assert_alb_ok(test_ctx, insert_uk("a:vm1", U(100, "1", "br0", 0)));
	ck_assert_alb_ok(test_ctx, insert_uk("a:b:vm2", U(50, "23", "br1", 0)));
	ck_assert_alb_ok(test_ctx, insert_uk("c:vm3", U(7, "0", NULL, 0)));
	ck_assert_alb_ok(test_ctx, insert_block("a:b:disk", 30));
	alb_name *a = N("a:"), *root = N(":"), *none = N("zzz:"), *vm = N("a:vm1");
	alb_policy *u = NULL;
	ck_assert_alb_ok(test_ctx, alb_tree_get_usage(tree, a, &u));
	char *s = alb_policy_to_string(u);
	ck_assert_str_eq(s,
			 "unikernels 2, memory 150 MB, block 30 MB, cpuids 1 2 3, bridges br0 br1");
	alb_free(s);
	alb_policy_free(u);
	ck_assert_alb_ok(test_ctx, alb_tree_get_usage(tree, root, &u));
	ck_assert_uint_eq(alb_policy_get_unikernels(u), 3);
	ck_assert_uint_eq(alb_policy_get_memory(u), 157);
	alb_policy_free(u);
	ck_assert_alb_ok(test_ctx, alb_tree_get_usage(tree, none, &u));
	s = alb_policy_to_string(u);
	ck_assert_str_eq(s, "unikernels 0, memory 0 MB, block none, cpuids none, bridges none");
	alb_free(s);
	alb_policy_free(u);
	u = NULL;
	ck_assert_alb_err(test_ctx, alb_tree_get_usage(tree, vm, &u), EINVAL);
	ck_assert_ptr_null(u);
	alb_name_free(a);
	alb_name_free(root);
	alb_name_free(none);
	alb_name_free(vm);
}
END_TEST

struct seen {
	char items[32][80];
	int n;
	int stop_after;
};

static int collect(const alb_name *name, const alb_name *relative, int kind, void *userdata)
{
	struct seen *s = userdata;
	char *full = alb_name_to_string(name), *rel = alb_name_to_string(relative);
	snprintf(s->items[s->n++], sizeof(s->items[0]), "%c %s %s",
		 kind == ALB_TREE_POLICY      ? 'P'
		 : kind == ALB_TREE_UNIKERNEL ? 'U'
					      : 'B',
		 full, rel);
	alb_free(full);
	alb_free(rel);
	return s->stop_after && s->n == s->stop_after ? 42 : 0;
}

START_TEST(test_foreach_relative)
{
	root_policy();
	ck_assert_alb_ok(test_ctx, insert_policy("a:", P(10, 1024, 100, "0123", "br0")));
	ck_assert_alb_ok(test_ctx, insert_uk("a:vm1", U(1, "1", NULL, 0)));
	ck_assert_alb_ok(test_ctx, insert_uk("a:b:vm2", U(1, "1", NULL, 0)));
	ck_assert_alb_ok(test_ctx, insert_block("a:b:disk", 1));
	ck_assert_alb_ok(test_ctx, insert_uk("other", U(1, "1", NULL, 0)));
	alb_name *a = N("a:");
	struct seen s = {0};
	ck_assert_int_eq(alb_tree_foreach(tree, a,
					  ALB_TREE_POLICY | ALB_TREE_UNIKERNEL | ALB_TREE_BLOCK,
					  collect, &s),
			 0);
	ck_assert_int_eq(s.n, 4);
	ck_assert_str_eq(s.items[0], "P a: :");
	ck_assert_str_eq(s.items[1], "U a:vm1 vm1");
	ck_assert_str_eq(s.items[2], "U a:b:vm2 b:vm2");
	ck_assert_str_eq(s.items[3], "B a:b:disk b:disk");

	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(alb_tree_foreach(tree, a, ALB_TREE_UNIKERNEL, collect, &s), 0);
	ck_assert_int_eq(s.n, 2);

	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	ck_assert_int_eq(alb_tree_foreach(tree, a, ALB_TREE_UNIKERNEL, collect, &s), 42);
	ck_assert_int_eq(s.n, 1);

	alb_name *root = N(":");
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(alb_tree_foreach(tree, root, ALB_TREE_UNIKERNEL, collect, &s), 0);
	ck_assert_int_eq(s.n, 3);
	ck_assert_str_eq(s.items[0], "U other other");
	alb_name *missing = N("nothing:here:");
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(alb_tree_foreach(tree, missing, ALB_TREE_UNIKERNEL, collect, &s), 0);
	ck_assert_int_eq(s.n, 0);
	alb_name_free(missing);
	alb_name_free(root);
	alb_name_free(a);
}
END_TEST

START_TEST(test_no_policy_anywhere)
{
	/* Without any policy nothing limits: the daemon always installs the root policy. */
	ck_assert_alb_ok(test_ctx, insert_uk("a:vm", U(1000, "9", "brx", 2)));
	ck_assert_alb_ok(test_ctx, insert_block("a:disk", 5));
}
END_TEST

static Suite *tree_suite(void)
{
	Suite *s = suite_create("tree");
	TCase *st = tcase_create("static");
	tcase_add_checked_fixture(st, setup, teardown);
	tcase_add_test(st, test_static_child_bigger_each_field);
	tcase_add_test(st, test_static_every_ancestor);
	tcase_add_test(st, test_static_root_enforced);
	tcase_add_test(st, test_static_parent_shrunk_below_child);
	tcase_add_test(st, test_static_usage_above_new_policy);
	suite_add_tcase(s, st);
	TCase *dyn = tcase_create("dynamic");
	tcase_add_checked_fixture(dyn, setup, teardown);
	tcase_add_test(dyn, test_dynamic_siblings_exceed_parent);
	tcase_add_test(dyn, test_dynamic_cpuid_bridge_count_block);
	tcase_add_test(dyn, test_dynamic_block_sums);
	tcase_add_test(dyn, test_replace_and_remove);
	tcase_add_test(dyn, test_no_policy_anywhere);
	suite_add_tcase(s, dyn);
	TCase *it = tcase_create("usage");
	tcase_add_checked_fixture(it, setup, teardown);
	tcase_add_test(it, test_usage);
	tcase_add_test(it, test_foreach_relative);
	suite_add_tcase(s, it);
	return s;
}

int main(void)
{
	return test_run_suite(tree_suite());
}
