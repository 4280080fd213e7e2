/* SPDX-License-Identifier: ISC */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cbor-private.h"
#include "fileio-private.h"
#include "state-private.h"
#include "test-common.h"

static void setup(void)
{
	tc_ctx_setup();
	tc_tmpdir_setup();
}

static void teardown(void)
{
	tc_tmpdir_teardown();
	tc_ctx_teardown();
}

static alb_name *N(const char *s)
{
	alb_name *n = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, s, &n));
	return n;
}

static struct alb_state *sample(void)
{
	struct alb_state *s = NULL;
	ck_assert_int_eq(alb_state_new(&s), 0);
	alb_policy *p = NULL;
	alb_policy_new(&p);
	alb_policy_set_unikernels(p, 2);
	alb_policy_set_memory(p, 64);
	alb_policy_add_cpuid(p, 0);
	alb_policy_add_bridge(p, "br0");
	alb_policy_set_block(p, 100);
	alb_name *alice = N("alice:"), *hello = N("alice:hello"), *disk = N("alice:disk");
	ck_assert_alb_ok(test_ctx, alb_state_add_policy(test_ctx, s, alice, p));
	/* A policy with the services' ports and prefixes. */
	alb_policy *services = NULL;
	alb_name *bob = N("bob:");
	ck_assert_alb_ok(test_ctx, alb_policy_dup(p, &services));
	ck_assert_alb_ok(test_ctx, alb_policy_add_bridge(services, "br1"));
	ck_assert_alb_ok(test_ctx, alb_policy_set_ports(services, 8000, 8080));
	ck_assert_alb_ok(test_ctx, alb_policy_add_prefix(services, "br1", "192.168.0.0/16"));
	ck_assert_alb_ok(test_ctx, alb_policy_add_prefix(services, "br0", "10.0.0.0/24"));
	ck_assert_alb_ok(test_ctx, alb_state_add_policy(test_ctx, s, bob, services));
	alb_policy_free(services);
	alb_name_free(bob);

	alb_unikernel_config *c = NULL;
	alb_unikernel_config_new(test_ctx, &c);
	alb_unikernel_config_add_cpuid(c, 0);
	alb_unikernel_config_set_memory(c, 32);
	alb_unikernel_config_add_net(c, "service", "br0", NULL);
	alb_unikernel_config_add_block(c, "storage", "disk", 4096);
	alb_unikernel_config_add_argument(c, "--hello=albatross-hi");
	alb_unikernel_config_set_fail_behaviour(c, ALB_FAIL_RESTART);
	alb_unikernel_config_set_startup(c, 10);
	/* Without the image digest a unikernel cannot be stored. */
	ck_assert_alb_err(test_ctx, alb_state_add_unikernel(test_ctx, s, hello, c), EINVAL);
	ck_assert_last_error_has(test_ctx, "digest");
	uint8_t digest[32];
	for (int i = 0; i < 32; i++)
		digest[i] = (uint8_t)i;
	alb_unikernel_config_set_digest(c, digest);
	ck_assert_alb_ok(test_ctx, alb_state_add_unikernel(test_ctx, s, hello, c));
	ck_assert_alb_ok(test_ctx, alb_state_add_block(test_ctx, s, disk, 10, 4096));

	/* Twice the same name, or the wrong kind of name, is refused. */
	ck_assert_alb_err(test_ctx, alb_state_add_unikernel(test_ctx, s, hello, c), EINVAL);
	ck_assert_alb_err(test_ctx, alb_state_add_policy(test_ctx, s, hello, p), EINVAL);
	ck_assert_alb_err(test_ctx, alb_state_add_block(test_ctx, s, alice, 1, 0), EINVAL);
	ck_assert_alb_err(test_ctx, alb_state_add_block(test_ctx, s, disk, 1, 0), EINVAL);
	alb_unikernel_config_free(c);
	alb_policy_free(p);
	alb_name_free(alice);
	alb_name_free(hello);
	alb_name_free(disk);
	return s;
}

static void assert_same(const struct alb_state *a, const struct alb_state *b)
{
	ck_assert_uint_eq(a->n_policies, b->n_policies);
	ck_assert_uint_eq(a->n_unikernels, b->n_unikernels);
	ck_assert_uint_eq(a->n_blocks, b->n_blocks);
	for (uint32_t i = 0; i < a->n_policies; i++) {
		ck_assert(alb_name_equal(a->policies[i].path, b->policies[i].path));
		ck_assert(alb_policy_equal(a->policies[i].policy, b->policies[i].policy));
	}
	for (uint32_t i = 0; i < a->n_unikernels; i++) {
		ck_assert(alb_name_equal(a->unikernels[i].name, b->unikernels[i].name));
		ck_assert(
		    alb_unikernel_config_equal(a->unikernels[i].config, b->unikernels[i].config));
	}
	for (uint32_t i = 0; i < a->n_blocks; i++) {
		ck_assert(alb_name_equal(a->blocks[i].name, b->blocks[i].name));
		ck_assert_uint_eq(a->blocks[i].size_mb, b->blocks[i].size_mb);
		ck_assert_uint_eq(a->blocks[i].sector_size, b->blocks[i].sector_size);
	}
}

START_TEST(test_roundtrip)
{
	struct alb_state *s = sample(), *t = NULL;
	uint8_t *buf = NULL, *buf2 = NULL;
	size_t len, len2;
	ck_assert_alb_ok(test_ctx, alb_state_encode(test_ctx, s, &buf, &len));
	ck_assert_alb_ok(test_ctx, alb_state_decode(test_ctx, buf, len, &t));
	assert_same(s, t);
	ck_assert_alb_ok(test_ctx, alb_state_encode(test_ctx, t, &buf2, &len2));
	ck_assert_uint_eq(len, len2);
	ck_assert_mem_eq(buf, buf2, len);
	free(buf);
	free(buf2);
	alb_state_free(t);
	alb_state_free(s);
}
END_TEST

/* A state file written before policies had ports and prefixes still loads (CBOR, from
 * {"version": 1, "policies": [{"path": "alice:", "policy": {"unikernels": 2, "memory": 64,
 * "block": 100, "cpuids": [0], "bridges": ["br0"]}}], "unikernels": [], "blocks": []}). */
static const char old_state_hex[] =
    "a46776657273696f6e0168706f6c696369657381a2647061746866616c6963653a66706f6c696379a56a756e"
    "696b65726e656c7302666d656d6f7279184065626c6f636b1864666370756964738100676272696467657381"
    "636272306a756e696b65726e656c738066626c6f636b7380";

START_TEST(test_old_file_loads)
{
	uint8_t buf[sizeof(old_state_hex) / 2];
	size_t len = strlen(old_state_hex) / 2;
	for (size_t i = 0; i < len; i++)
		ck_assert_int_eq(sscanf(old_state_hex + 2 * i, "%2hhx", &buf[i]), 1);
	struct alb_state *s = NULL;
	ck_assert_alb_ok(test_ctx, alb_state_decode(test_ctx, buf, len, &s));
	ck_assert_uint_eq(s->n_policies, 1);
	const alb_policy *p = s->policies[0].policy;
	ck_assert_uint_eq(alb_policy_get_unikernels(p), 2);
	ck_assert_uint_eq(alb_policy_get_block(p), 100);
	ck_assert_int_eq(alb_policy_get_ports(p, NULL, NULL), 0);
	ck_assert_uint_eq(alb_policy_get_prefix_count(p), 0);
	/* ... and is written as it was: without the new keys. */
	uint8_t *again = NULL;
	size_t len2;
	ck_assert_alb_ok(test_ctx, alb_state_encode(test_ctx, s, &again, &len2));
	ck_assert_uint_eq(len2, len);
	ck_assert_mem_eq(again, buf, len);
	free(again);
	alb_state_free(s);
}
END_TEST

/* Encodes a state map built by the caller (version v, then the given lists). */
static void decode_map(cbor_item_t *root, int expected, const char *needle)
{
	uint8_t *buf = NULL;
	size_t len;
	ck_assert_alb_ok(test_ctx, alb_cbor_serialize(test_ctx, root, &buf, &len));
	cbor_decref(&root);
	struct alb_state *s = NULL;
	alb_ctx_clear_error(test_ctx);
	ck_assert_alb_err(test_ctx, alb_state_decode(test_ctx, buf, len, &s), expected);
	ck_assert_ptr_null(s);
	ck_assert_last_error_has(test_ctx, needle);
	free(buf);
}

static cbor_item_t *state_map(uint64_t version, cbor_item_t *policies, cbor_item_t *unikernels,
			      cbor_item_t *blocks)
{
	cbor_item_t *m = cbor_new_definite_map(4);
	alb_cbor_put(m, "version", alb_cbor_uint(version));
	alb_cbor_put(m, "policies", policies ? policies : cbor_new_definite_array(0));
	alb_cbor_put(m, "unikernels", unikernels ? unikernels : cbor_new_definite_array(0));
	alb_cbor_put(m, "blocks", blocks ? blocks : cbor_new_definite_array(0));
	return m;
}

static cbor_item_t *block_map(const char *name, uint64_t size)
{
	cbor_item_t *b = cbor_new_definite_map(2);
	alb_cbor_put(b, "name", alb_cbor_text(name));
	alb_cbor_put(b, "size", alb_cbor_uint(size));
	return b;
}

static cbor_item_t *one_block(const char *name, uint64_t size)
{
	cbor_item_t *a = cbor_new_definite_array(1);
	alb_cbor_push(a, block_map(name, size));
	return a;
}

START_TEST(test_malformed)
{
	decode_map(state_map(2, NULL, NULL, NULL), EPROTO, "version 2 is not supported");
	decode_map(state_map(0, NULL, NULL, NULL), EPROTO, "version 0 is not supported");
	cbor_item_t *textv = cbor_new_definite_map(4);
	alb_cbor_put(textv, "version", alb_cbor_text("1"));
	alb_cbor_put(textv, "policies", cbor_new_definite_array(0));
	alb_cbor_put(textv, "unikernels", cbor_new_definite_array(0));
	alb_cbor_put(textv, "blocks", cbor_new_definite_array(0));
	decode_map(textv, EBADMSG, "version");
	decode_map(state_map(1, NULL, NULL, one_block("a::b", 1)), EBADMSG, "blocks[0].name");
	decode_map(state_map(1, NULL, NULL, one_block("a:", 1)), EBADMSG, "blocks[0]");
	decode_map(state_map(1, NULL, NULL, one_block("a:d", 0)), EBADMSG, "blocks[0].size");
	decode_map(state_map(1, NULL, NULL, alb_cbor_text("x")), EBADMSG, "blocks");

	/* Two blocks of the same name. */
	cbor_item_t *two = cbor_new_definite_array(2);
	alb_cbor_push(two, block_map("a:d", 1));
	alb_cbor_push(two, block_map("A:D", 2));
	decode_map(state_map(1, NULL, NULL, two), EBADMSG, "listed twice");

	/* An unknown key at the top. */
	cbor_item_t *m = state_map(1, NULL, NULL, NULL);
	cbor_item_t *bigger = cbor_new_definite_map(5);
	for (size_t i = 0; i < cbor_map_size(m); i++)
		cbor_map_add(bigger, cbor_map_handle(m)[i]);
	alb_cbor_put(bigger, "extra", alb_cbor_uint(1));
	cbor_decref(&m);
	decode_map(bigger, EBADMSG, "extra");

	/* A missing key. */
	m = cbor_new_definite_map(1);
	alb_cbor_put(m, "version", alb_cbor_uint(1));
	decode_map(m, EBADMSG, "policies");

	/* Bytes that are no CBOR at all, and a truncated file. */
	struct alb_state *s = sample();
	uint8_t *buf;
	size_t len;
	ck_assert_alb_ok(test_ctx, alb_state_encode(test_ctx, s, &buf, &len));
	struct alb_state *t = NULL;
	ck_assert_alb_err(test_ctx, alb_state_decode(test_ctx, buf, len - 1, &t), EBADMSG);
	ck_assert_alb_err(test_ctx, alb_state_decode(test_ctx, buf, 0, &t), EBADMSG);
	const uint8_t junk[] = "not cbor at all";
	ck_assert_alb_err(test_ctx, alb_state_decode(test_ctx, junk, sizeof(junk), &t), EBADMSG);
	ck_assert_ptr_null(t);
	free(buf);
	alb_state_free(s);
}
END_TEST

static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

START_TEST(test_atomic_write_backup)
{
	char path[4200], bak[4300];
	snprintf(path, sizeof(path), "%s/state", test_tmpdir);
	snprintf(bak, sizeof(bak), "%s.bak", path);
	ck_assert_alb_ok(test_ctx, alb_atomic_write(test_ctx, path, "one", 3, 0600, true));
	ck_assert_int_eq(access(bak, F_OK), -1); /* nothing to keep the first time */
	ck_assert_alb_ok(test_ctx, alb_atomic_write(test_ctx, path, "two!", 4, 0600, true));
	uint8_t *buf;
	size_t len;
	ck_assert_alb_ok(test_ctx, alb_read_file(test_ctx, path, 100, &buf, &len));
	ck_assert_uint_eq(len, 4);
	ck_assert_mem_eq(buf, "two!", 4);
	free(buf);
	ck_assert_alb_ok(test_ctx, alb_read_file(test_ctx, bak, 100, &buf, &len));
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(buf, "one", 3);
	free(buf);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	/* No temporary file is left: exactly state and state.bak. */
	ck_assert_int_eq(count_files(test_tmpdir), 2);
	ck_assert_alb_err(test_ctx, alb_read_file(test_ctx, path, 3, &buf, &len), EFBIG);
}
END_TEST

/* A kill after the previous content was kept and before the new one took its place leaves
 * state.bak a second name of state: the next write still keeps it and leaves nothing. */
START_TEST(test_atomic_write_after_a_kill)
{
	char path[4200], bak[4300];
	snprintf(path, sizeof(path), "%s/state", test_tmpdir);
	snprintf(bak, sizeof(bak), "%s.bak", path);
	ck_assert_alb_ok(test_ctx, alb_atomic_write(test_ctx, path, "one", 3, 0600, true));
	ck_assert_int_eq(link(path, bak), 0); /* as the kill left it */
	ck_assert_alb_ok(test_ctx, alb_atomic_write(test_ctx, path, "two!", 4, 0600, true));
	uint8_t *buf;
	size_t len;
	ck_assert_alb_ok(test_ctx, alb_read_file(test_ctx, bak, 100, &buf, &len));
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(buf, "one", 3);
	free(buf);
	ck_assert_int_eq(count_files(test_tmpdir), 2); /* no state.bak.tmp */
}
END_TEST

START_TEST(test_atomic_write_failure_leaves_nothing)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/missing-dir/state", test_tmpdir);
	ck_assert_alb_err(test_ctx, alb_atomic_write(test_ctx, path, "x", 1, 0600, true), ENOENT);
	ck_assert_last_error_has(test_ctx, "missing-dir/state");
	ck_assert_int_eq(count_files(test_tmpdir), 0);
	/* The target is a directory: rename fails, the temporary file is removed. */
	snprintf(path, sizeof(path), "%s/adir", test_tmpdir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	char inner[4300];
	snprintf(inner, sizeof(inner), "%s/file", path);
	ck_assert_int_eq(close(open(inner, O_CREAT | O_WRONLY, 0600)), 0);
	ck_assert_int_lt(alb_atomic_write(test_ctx, path, "x", 1, 0600, false), 0);
	ck_assert_int_eq(count_files(test_tmpdir), 1);
}
END_TEST

START_TEST(test_save_load)
{
	char path[4200], bak[4300];
	snprintf(path, sizeof(path), "%s/state", test_tmpdir);
	snprintf(bak, sizeof(bak), "%s.bak", path);
	struct alb_state *t = NULL, *s = sample();
	ck_assert_alb_err(test_ctx, alb_state_load(test_ctx, path, &t), ENOENT);
	ck_assert_alb_ok(test_ctx, alb_state_save(test_ctx, path, s));
	ck_assert_alb_ok(test_ctx, alb_state_load(test_ctx, path, &t));
	assert_same(s, t);
	alb_state_free(t);
	t = NULL;

	/* A second save keeps the first as state.bak, which loads too. */
	struct alb_state *empty = NULL;
	alb_state_new(&empty);
	ck_assert_alb_ok(test_ctx, alb_state_save(test_ctx, path, empty));
	ck_assert_alb_ok(test_ctx, alb_state_load(test_ctx, bak, &t));
	assert_same(s, t);
	alb_state_free(t);
	t = NULL;

	/* A corrupt file is reported with its path and left as it is. */
	int fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "\xa1\x61", 2), 2);
	close(fd);
	ck_assert_alb_err(test_ctx, alb_state_load(test_ctx, path, &t), EBADMSG);
	ck_assert_last_error_has(test_ctx, "state file");
	ck_assert_last_error_has(test_ctx, path);
	ck_assert_ptr_null(t);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 2);
	alb_state_free(empty);
	alb_state_free(s);
}
END_TEST

static Suite *state_suite(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("codec");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_old_file_loads);
	suite_add_tcase(s, tc);
	TCase *io = tcase_create("files");
	tcase_add_checked_fixture(io, setup, teardown);
	tcase_add_test(io, test_atomic_write_backup);
	tcase_add_test(io, test_atomic_write_failure_leaves_nothing);
	tcase_add_test(io, test_atomic_write_after_a_kill);
	tcase_add_test(io, test_save_load);
	suite_add_tcase(s, io);
	return s;
}

int main(void)
{
	return test_run_suite(state_suite());
}
