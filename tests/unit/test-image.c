/* SPDX-License-Identifier: ISC */
/* The image store, zlib, tender lookup and the tender's command line. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image-private.h"
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

static void write_file(const char *path, const void *buf, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.' || (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."));
	closedir(d);
	return n;
}

START_TEST(test_store_dedup_and_compressed)
{
	char up[4300], path[PATH_MAX];
	uint8_t d1[32], d2[32], d3[32];
	const char data[] = "an image, or something like it";
	snprintf(up, sizeof(up), "%s/upload", test_tmpdir);

	write_file(up, data, sizeof(data), 0600);
	ck_assert_alb_ok(test_ctx, alb_image_store(test_ctx, test_tmpdir, up, false,
						   ALB_IMAGE_UNCOMPRESSED_MAX, d1));
	ck_assert_int_eq(access(up, F_OK), -1); /* the upload is consumed */
	ck_assert_int_eq(alb_image_path(test_tmpdir, d1, path), 0);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, sizeof(data));
	ck_assert_uint_eq(st.st_mode & 0777, 0644);

	/* The same image, compressed: the same digest, one file. */
	uint8_t *z;
	size_t zlen;
	ck_assert_int_eq(alb_zlib_deflate((const uint8_t *)data, sizeof(data), &z, &zlen), 0);
	write_file(up, z, zlen, 0600);
	ck_assert_alb_ok(test_ctx, alb_image_store(test_ctx, test_tmpdir, up, true,
						   ALB_IMAGE_UNCOMPRESSED_MAX, d2));
	ck_assert_mem_eq(d1, d2, 32);
	ck_assert_int_eq(count_entries(test_tmpdir), 1);

	/* Corrupt compressed data: refused, nothing left behind. */
	z[zlen / 2] ^= 0xff;
	write_file(up, z, zlen, 0600);
	ck_assert_alb_err(
	    test_ctx,
	    alb_image_store(test_ctx, test_tmpdir, up, true, ALB_IMAGE_UNCOMPRESSED_MAX, d3),
	    EBADMSG);
	write_file(up, z, zlen / 2, 0600);
	int r = alb_image_store(test_ctx, test_tmpdir, up, true, ALB_IMAGE_UNCOMPRESSED_MAX, d3);
	ck_assert_int_eq(r, -EBADMSG);
	ck_assert_int_eq(count_entries(test_tmpdir), 1);
	free(z);

	char hex[65];
	alb_digest_hex(d1, hex);
	ck_assert_uint_eq(strlen(hex), 64);
	ck_assert_str_eq(path + strlen(test_tmpdir) + 1, hex);
}
END_TEST

START_TEST(test_store_bound_and_commit)
{
	char up[4300], tmp[4300], path[PATH_MAX];
	uint8_t d[32];
	const char data[] = "an image of 33 bytes, with a NUL";
	snprintf(up, sizeof(up), "%s/upload", test_tmpdir);
	/* A bound under the image: refused, nothing stored, the upload gone. */
	write_file(up, data, sizeof(data), 0600);
	ck_assert_alb_err(test_ctx,
			  alb_image_store(test_ctx, test_tmpdir, up, false, sizeof(data) - 1, d),
			  EFBIG);
	ck_assert_int_eq(access(up, F_OK), -1);
	ck_assert_int_eq(count_entries(test_tmpdir), 0);
	write_file(up, data, sizeof(data), 0600);
	ck_assert_alb_ok(test_ctx,
			 alb_image_store(test_ctx, test_tmpdir, up, false, sizeof(data), d));
	ck_assert_int_eq(count_entries(test_tmpdir), 1);

	/* Commit: a complete file moves into the store by its digest; the same image again
	 * is dropped, the stored one kept. */
	snprintf(tmp, sizeof(tmp), "%s/.image-x", test_tmpdir);
	write_file(tmp, data, sizeof(data), 0644);
	ck_assert_alb_ok(test_ctx, alb_image_commit(test_ctx, test_tmpdir, tmp, d));
	ck_assert_int_eq(access(tmp, F_OK), -1);
	ck_assert_int_eq(count_entries(test_tmpdir), 1);
	uint8_t other[32];
	memset(other, 0xab, sizeof(other));
	write_file(tmp, "other", 5, 0644);
	ck_assert_alb_ok(test_ctx, alb_image_commit(test_ctx, test_tmpdir, tmp, other));
	ck_assert_int_eq(access(tmp, F_OK), -1);
	ck_assert_int_eq(alb_image_path(test_tmpdir, other, path), 0);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 5);
	ck_assert_int_eq(count_entries(test_tmpdir), 2);
	/* A file that is not there: the reason, nothing stored. */
	ck_assert_int_lt(alb_image_commit(test_ctx, test_tmpdir, tmp, (uint8_t[32]){1}), 0);
	ck_assert_last_error_has(test_ctx, "Failed to store the image");
	ck_assert_int_eq(count_entries(test_tmpdir), 2);
}
END_TEST

START_TEST(test_copy_inflate_bound)
{
	/* 1 MiB of zeros compresses to almost nothing: the bound stops it, streaming. */
	size_t n = 1 << 20;
	uint8_t *zeros = calloc(1, n), *z;
	size_t zlen;
	char in[4300], out[4300];
	snprintf(in, sizeof(in), "%s/in", test_tmpdir);
	snprintf(out, sizeof(out), "%s/out", test_tmpdir);
	ck_assert_int_eq(alb_zlib_deflate(zeros, n, &z, &zlen), 0);
	write_file(in, z, zlen, 0600);
	int fi = open(in, O_RDONLY), fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	uint64_t written = 0;
	ck_assert_alb_err(test_ctx, alb_copy_inflate(test_ctx, fi, fo, true, n - 1, NULL, &written),
			  EFBIG);
	ck_assert_int_eq(lseek(fi, 0, SEEK_SET), 0);
	ck_assert_int_eq(ftruncate(fo, 0), 0);
	ck_assert_int_eq(lseek(fo, 0, SEEK_SET), 0);
	ck_assert_alb_ok(test_ctx, alb_copy_inflate(test_ctx, fi, fo, true, n, NULL, &written));
	ck_assert_uint_eq(written, n);
	struct stat st;
	ck_assert_int_eq(fstat(fo, &st), 0);
	ck_assert_int_eq(st.st_size, (off_t)n);
	/* Uncompressed, the same bound. */
	ck_assert_int_eq(lseek(fi, 0, SEEK_SET), 0);
	ck_assert_alb_err(test_ctx, alb_copy_inflate(test_ctx, fi, fo, false, zlen - 1, NULL, NULL),
			  EFBIG);
	close(fi);
	close(fo);
	free(z);
	free(zeros);
}
END_TEST

/* A script that answers --version as a real Solo5 tender does: on stderr, calling
 * itself by the name it was started under (target is unused: the name says it). */
static void fake_tender(const char *dir, const char *name, const char *target, unsigned abi)
{
	char path[8800], script[512];
	(void)target;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int n = snprintf(script, sizeof(script),
			 "#!/bin/sh\n[ \"$1\" = --version ] || exit 1\n"
			 "echo \"${0##*/} tender, version v0.12.1\" >&2\n"
			 "echo 'ABI version %u' >&2\n",
			 abi);
	write_file(path, script, (size_t)n, 0755);
}

START_TEST(test_tender_probe_and_find)
{
	struct alb_tender_info_local t;
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/tenders", test_tmpdir);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	fake_tender(dir, "solo5-hvt", "hvt", 2);
	fake_tender(dir, "solo5-hvt.3", "hvt", 3);
	fake_tender(dir, "solo5-spt", "spt", 2);

	char p[4400];
	snprintf(p, sizeof(p), "%s/solo5-hvt", dir);
	ck_assert_alb_ok(test_ctx, alb_tender_probe(test_ctx, p, &t));
	ck_assert_int_eq(t.tender, ALB_TENDER_HVT);
	ck_assert_uint_eq(t.abi, 2);
	ck_assert_str_eq(t.version, "v0.12.1");
	ck_assert_str_eq(t.name, "solo5-hvt");

	/* The versioned name first, if its ABI is right. */
	ck_assert_alb_ok(test_ctx, alb_tender_find(test_ctx, NULL, dir, ALB_TENDER_HVT, 3, &t));
	ck_assert_str_eq(t.name, "solo5-hvt.3");
	ck_assert_alb_ok(test_ctx, alb_tender_find(test_ctx, NULL, dir, ALB_TENDER_HVT, 2, &t));
	ck_assert_str_eq(t.name, "solo5-hvt");
	ck_assert_alb_ok(test_ctx, alb_tender_find(test_ctx, NULL, dir, ALB_TENDER_SPT, 2, &t));
	ck_assert_str_eq(t.name, "solo5-spt");
	ck_assert_alb_err(test_ctx, alb_tender_find(test_ctx, NULL, dir, ALB_TENDER_SPT, 7, &t),
			  ENOENT);
	ck_assert_last_error_has(test_ctx, "ABI version 7");
	ck_assert_last_error_has(test_ctx, "ABI version 2"); /* what was found */

	/* A versioned name calls itself by it: still hvt. */
	snprintf(p, sizeof(p), "%s/solo5-hvt.3", dir);
	ck_assert_alb_ok(test_ctx, alb_tender_probe(test_ctx, p, &t));
	ck_assert_int_eq(t.tender, ALB_TENDER_HVT);
	ck_assert_uint_eq(t.abi, 3);
	/* A name that is no tender's. */
	fake_tender(dir, "solo5-spt.x", "spt", 2);
	snprintf(p, sizeof(p), "%s/solo5-spt.x", dir);
	ck_assert_alb_err(test_ctx, alb_tender_probe(test_ctx, p, &t), ENOEXEC);
	ck_assert_last_error_has(test_ctx, "calls itself 'solo5-spt.x'");
	ck_assert_int_eq(unlink(p), 0);

	/* Not a tender at all. */
	snprintf(p, sizeof(p), "%s/solo5-hvt", dir);
	write_file(p, "#!/bin/sh\necho hello\n", 21, 0755);
	ck_assert_alb_err(test_ctx, alb_tender_probe(test_ctx, p, &t), ENOEXEC);

	struct alb_tender_info_local *v;
	uint32_t n;
	ck_assert_alb_ok(test_ctx, alb_tender_list(test_ctx, NULL, dir, &v, &n));
	uint32_t mine = 0;
	for (uint32_t i = 0; i < n; i++)
		mine += strncmp(v[i].path, dir, strlen(dir)) == 0;
	ck_assert_uint_eq(mine, 2); /* the broken one is left out */
	free(v);
}
END_TEST

START_TEST(test_tender_probe_cache)
{
	char p[4300];
	snprintf(p, sizeof(p), "%s/solo5-spt", test_tmpdir);
	fake_tender(test_tmpdir, "solo5-spt", "spt", 2);
	struct alb_tender_cache *cache = NULL;
	struct alb_tender_info_local t;
	ck_assert_alb_ok(test_ctx, alb_tender_probe_cached(test_ctx, &cache, p, &t));
	ck_assert_uint_eq(t.abi, 2);
	/* Replaced by another binary (another inode and size): probed again. */
	char tmp[4400];
	snprintf(tmp, sizeof(tmp), "%s.new", p);
	fake_tender(test_tmpdir, "solo5-spt.new", "spt", 10);
	ck_assert_int_eq(rename(tmp, p), 0);
	ck_assert_alb_ok(test_ctx, alb_tender_probe_cached(test_ctx, &cache, p, &t));
	ck_assert_uint_eq(t.abi, 10);
	/* A cached failure is reported again with its reason. */
	write_file(tmp, "#!/bin/sh\necho no\n", 18, 0755);
	ck_assert_int_eq(rename(tmp, p), 0);
	ck_assert_alb_err(test_ctx, alb_tender_probe_cached(test_ctx, &cache, p, &t), ENOEXEC);
	alb_ctx_clear_error(test_ctx);
	ck_assert_alb_err(test_ctx, alb_tender_probe_cached(test_ctx, &cache, p, &t), ENOEXEC);
	ck_assert_last_error_has(test_ctx, "Solo5 tender");
	alb_tender_cache_free(cache);
}
END_TEST

START_TEST(test_mac_and_argv)
{
	uint8_t a[6], b[6], c[6];
	alb_mac_derive("alice:web", "service", a);
	alb_mac_derive("alice:web", "service", b);
	alb_mac_derive("alice:web", "mgmt", c);
	ck_assert_mem_eq(a, b, 6);
	ck_assert(memcmp(a, c, 6) != 0);
	ck_assert_int_eq(a[0] & 1, 0); /* unicast */
	ck_assert_int_eq(a[0] & 2, 2); /* locally administered */

	alb_unikernel_config *cfg = NULL;
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_new(test_ctx, &cfg));
	const uint8_t mac[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
	alb_unikernel_config_set_memory(cfg, 64);
	alb_unikernel_config_add_net(cfg, "service", "br0", mac);
	alb_unikernel_config_add_net(cfg, "mgmt", "br1", NULL);
	alb_unikernel_config_add_block(cfg, "storage", "disk", 4096);
	alb_unikernel_config_add_block(cfg, "cache", NULL, 0);
	alb_unikernel_config_add_argument(cfg, "--hello=a b");
	alb_unikernel_config_add_argument(cfg, "$(rm -rf /)");
	char *taps[] = {"alb0", "alb1", NULL}, *blocks[] = {"/b/disk", "/b/cache", NULL};
	char **argv = NULL;
	ck_assert_int_eq(alb_tender_argv(cfg, "alice:web", "/usr/bin/solo5-hvt", "/i/img", taps,
					 blocks, NULL, &argv),
			 0);
	char m[64];
	snprintf(m, sizeof(m), "--net-mac:mgmt=%02x:%02x:%02x:%02x:%02x:%02x", c[0], c[1], c[2],
		 c[3], c[4], c[5]);
	const char *want[] = {"/usr/bin/solo5-hvt",
			      "--mem=64",
			      "--net:service=alb0",
			      "--net-mac:service=02:11:22:33:44:55",
			      "--net:mgmt=alb1",
			      m,
			      "--block:storage=/b/disk",
			      "--block-sector-size:storage=4096",
			      "--block:cache=/b/cache",
			      "--",
			      "/i/img",
			      "--hello=a b",
			      "$(rm -rf /)",
			      NULL};
	for (int i = 0; want[i]; i++)
		ck_assert_str_eq(argv[i], want[i]);
	ck_assert_ptr_null(argv[13]);
	alb_strv_free(argv);
	alb_unikernel_config_free(cfg);
}
END_TEST

static Suite *image_suite(void)
{
	Suite *s = suite_create("image");
	TCase *tc = tcase_create("image");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_store_dedup_and_compressed);
	tcase_add_test(tc, test_store_bound_and_commit);
	tcase_add_test(tc, test_copy_inflate_bound);
	tcase_add_test(tc, test_tender_probe_and_find);
	tcase_add_test(tc, test_tender_probe_cache);
	tcase_add_test(tc, test_mac_and_argv);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(image_suite());
}
