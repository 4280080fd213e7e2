/* SPDX-License-Identifier: ISC */
#include <elf.h>

#include "manifest-private.h"
#include "solo5-image.h"
#include "test-common.h"

static alb_manifest *read_ok(const uint8_t *img, size_t len)
{
	alb_manifest *m = NULL;
	ck_assert_alb_ok(test_ctx, alb_manifest_read(test_ctx, img, len, &m));
	return m;
}

static void read_bad(const uint8_t *img, size_t len, const char *needle)
{
	alb_manifest *m = NULL;
	ck_assert_alb_err(test_ctx, alb_manifest_read(test_ctx, img, len, &m), EBADMSG);
	ck_assert_ptr_null(m);
	ck_assert_last_error_has(test_ctx, needle);
}

static const struct test_device two[] = {
    {"service", ALB_DEVICE_NET},
    {"storage", ALB_DEVICE_BLOCK},
};

START_TEST(test_read)
{
	uint8_t *img;
	size_t len;
	ck_assert_int_eq(test_solo5_image(ALB_SOLO5_HVT, 2, two, 2, 0, &img, &len), 0);
	alb_manifest *m = read_ok(img, len);
	ck_assert_int_eq(alb_manifest_get_target(m), ALB_SOLO5_HVT);
	ck_assert_str_eq(alb_manifest_get_target_name(m), "hvt");
	ck_assert_uint_eq(alb_manifest_get_abi_version(m), 2);
	ck_assert_uint_eq(alb_manifest_get_device_count(m), 2);
	ck_assert_str_eq(alb_manifest_get_device_name(m, 0), "service");
	ck_assert_int_eq(alb_manifest_get_device_type(m, 0), ALB_DEVICE_NET);
	ck_assert_str_eq(alb_manifest_get_device_name(m, 1), "storage");
	ck_assert_int_eq(alb_manifest_get_device_type(m, 1), ALB_DEVICE_BLOCK);
	ck_assert_ptr_null(alb_manifest_get_device_name(m, 2));
	ck_assert_int_eq(alb_manifest_get_device_type(m, 2), -EINVAL);
	alb_manifest_free(m);
	free(img);

	/* The example of docs/solo5.md: one network device, entries 2, descsz 220. */
	ck_assert_int_eq(test_solo5_image(ALB_SOLO5_SPT, 2, two, 1, TEST_IMAGE_AARCH64, &img, &len),
			 0);
	const uint8_t *mft_note = img + sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr) + 40;
	ck_assert_uint_eq(mft_note[4] | mft_note[5] << 8, 220);
	m = read_ok(img, len);
	ck_assert_str_eq(alb_manifest_get_target_name(m), "spt");
	ck_assert_uint_eq(alb_manifest_get_device_count(m), 1);
	alb_manifest_free(m);
	free(img);

	ck_assert_int_eq(test_solo5_image(ALB_SOLO5_HVT, 2, NULL, 0, 0, &img, &len), 0);
	m = read_ok(img, len);
	ck_assert_uint_eq(alb_manifest_get_device_count(m), 0);
	alb_manifest_free(m);
	free(img);
}
END_TEST

START_TEST(test_not_solo5)
{
	uint8_t *img;
	size_t len;
	read_bad((const uint8_t *)"#!/bin/sh\necho hi\n", 18, "not an ELF file");
	ck_assert_int_eq(test_solo5_image(ALB_SOLO5_HVT, 2, two, 2, 0, &img, &len), 0);
	read_bad(img, 40, "not an ELF file");
	/* Truncated anywhere: never read past the end. */
	for (size_t cut = sizeof(Elf64_Ehdr); cut < len; cut += 7) {
		alb_manifest *m = NULL;
		ck_assert_int_eq(alb_manifest_read(test_ctx, img, cut, &m), -EBADMSG);
	}
	img[EI_CLASS] = ELFCLASS32;
	read_bad(img, len, "ELF64");
	img[EI_CLASS] = ELFCLASS64;
	img[offsetof(Elf64_Ehdr, e_machine)] = EM_386;
	read_bad(img, len, "machine 3");
	free(img);

	ck_assert_int_eq(test_solo5_image(ALB_SOLO5_HVT, 2, two, 2, TEST_IMAGE_NO_ABI, &img, &len),
			 0);
	read_bad(img, len, "no Solo5 ABI note");
	free(img);
	ck_assert_int_eq(
	    test_solo5_image(ALB_SOLO5_HVT, 2, two, 2, TEST_IMAGE_NO_MANIFEST, &img, &len), 0);
	read_bad(img, len, "no Solo5 manifest note");
	free(img);
	ck_assert_int_eq(test_solo5_image(9, 2, two, 2, 0, &img, &len), 0);
	read_bad(img, len, "unknown Solo5 target 9");
	free(img);
}
END_TEST

START_TEST(test_check_header)
{
	/* The first bytes of an upload say whether it can be an image, as alb_manifest_read()
	 * would, with the same reasons. */
	uint8_t *img;
	size_t len;
	ck_assert_int_eq(test_solo5_image(ALB_SOLO5_HVT, 2, two, 2, 0, &img, &len), 0);
	ck_assert_alb_ok(test_ctx,
			 alb_manifest_check_header(test_ctx, img, ALB_MANIFEST_HEADER_SIZE));
	ck_assert_alb_ok(test_ctx, alb_manifest_check_header(test_ctx, img, len));
	for (size_t cut = 0; cut < ALB_MANIFEST_HEADER_SIZE; cut++) {
		ck_assert_alb_err(test_ctx, alb_manifest_check_header(test_ctx, img, cut), EBADMSG);
		ck_assert_last_error_has(test_ctx, "the image is not an ELF file");
	}
	ck_assert_alb_err(test_ctx, alb_manifest_check_header(test_ctx, NULL, 64), EBADMSG);
	img[EI_DATA] = ELFDATA2MSB;
	ck_assert_alb_err(test_ctx, alb_manifest_check_header(test_ctx, img, len), EBADMSG);
	ck_assert_last_error_has(test_ctx, "not a little-endian ELF64 file");
	img[EI_DATA] = ELFDATA2LSB;
	img[offsetof(Elf64_Ehdr, e_machine)] = EM_ARM;
	ck_assert_alb_err(test_ctx, alb_manifest_check_header(test_ctx, img, len), EBADMSG);
	ck_assert_last_error_has(test_ctx,
				 "the image is for ELF machine 40, not x86_64 or aarch64");
	img[offsetof(Elf64_Ehdr, e_machine)] = EM_X86_64;
	img[1] = 'e';
	ck_assert_alb_err(test_ctx, alb_manifest_check_header(test_ctx, img, len), EBADMSG);
	ck_assert_last_error_has(test_ctx, "the image is not an ELF file");
	free(img);
	/* An aarch64 image too. */
	ck_assert_int_eq(test_solo5_image(ALB_SOLO5_SPT, 2, two, 1, TEST_IMAGE_AARCH64, &img, &len),
			 0);
	ck_assert_alb_ok(test_ctx,
			 alb_manifest_check_header(test_ctx, img, ALB_MANIFEST_HEADER_SIZE));
	free(img);
}
END_TEST

/* Offset of the manifest (after the 4 padding bytes) in a test image. */
static uint8_t *mft(uint8_t *img)
{
	return img + sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr) + 40 + 20 + 4;
}

START_TEST(test_bad_manifest)
{
	uint8_t *img;
	size_t len;
	ck_assert_int_eq(test_solo5_image(ALB_SOLO5_HVT, 2, two, 2, 0, &img, &len), 0);
	mft(img)[0] = 2;
	read_bad(img, len, "manifest version 2");
	mft(img)[0] = 1;
	mft(img)[4] = 65;
	read_bad(img, len, "65 entries");
	mft(img)[4] = 0;
	read_bad(img, len, "0 entries");
	mft(img)[4] = 2; /* descsz says 3 entries */
	read_bad(img, len, "not");
	mft(img)[4] = 3;
	mft(img)[8 + 68 + 3] = 0; /* reserved type gone */
	read_bad(img, len, "reserved");
	mft(img)[8 + 68 + 3] = 0x40;
	memset(mft(img) + 8 + 104, 'x', 68); /* no NUL */
	read_bad(img, len, "terminating NUL");
	memset(mft(img) + 8 + 104, 0, 68);
	memcpy(mft(img) + 8 + 104, "storage", 7); /* the same name twice */
	read_bad(img, len, "twice");
	memcpy(mft(img) + 8 + 104, "ser-vice\0", 9);
	read_bad(img, len, "invalid byte");
	memcpy(mft(img) + 8 + 104, "service\0", 8);
	mft(img)[8 + 104 + 68] = 7;
	read_bad(img, len, "unknown type 0x7");
	free(img);
}
END_TEST

static alb_unikernel_config *config(int tender, const char *net, const char *block)
{
	alb_unikernel_config *c = NULL;
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_new(test_ctx, &c));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_set_tender(c, tender));
	if (net)
		ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_net(c, net, "br0", NULL));
	if (block)
		ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_block(c, block, "disk", 0));
	return c;
}

START_TEST(test_check_config)
{
	uint8_t *img;
	size_t len;
	ck_assert_int_eq(test_solo5_image(ALB_SOLO5_HVT, 2, two, 2, 0, &img, &len), 0);
	alb_manifest *m = read_ok(img, len);
	struct {
		alb_unikernel_config *c;
		const char *needle;
	} cases[] = {
	    {config(ALB_TENDER_HVT, "service", "storage"), NULL},
	    {config(ALB_TENDER_SPT, "service", "storage"), "target 'hvt', not 'spt'"},
	    {config(ALB_TENDER_HVT, NULL, "storage"), "network device 'service', but it is not"},
	    {config(ALB_TENDER_HVT, "other", "storage"), "network device 'service', but it is not"},
	    {config(ALB_TENDER_HVT, "storage", "service"), "configured as a block device"},
	    {config(ALB_TENDER_HVT, "service", NULL), "block device 'storage', but it is not"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!cases[i].needle)
			ck_assert_alb_ok(test_ctx,
					 alb_manifest_check_config(test_ctx, m, cases[i].c));
		else {
			ck_assert_alb_err(
			    test_ctx, alb_manifest_check_config(test_ctx, m, cases[i].c), EINVAL);
			ck_assert_last_error_has(test_ctx, cases[i].needle);
		}
		alb_unikernel_config_free(cases[i].c);
	}
	alb_manifest_free(m);
	free(img);

	/* An image without devices refuses any configured device. */
	ck_assert_int_eq(test_solo5_image(ALB_SOLO5_HVT, 2, NULL, 0, 0, &img, &len), 0);
	m = read_ok(img, len);
	alb_unikernel_config *c = config(ALB_TENDER_HVT, "service", NULL);
	ck_assert_alb_err(test_ctx, alb_manifest_check_config(test_ctx, m, c), EINVAL);
	ck_assert_last_error_has(test_ctx, "does not declare it");
	alb_unikernel_config_free(c);
	alb_manifest_free(m);
	free(img);
}
END_TEST

static Suite *manifest_suite(void)
{
	Suite *s = suite_create("manifest");
	TCase *tc = tcase_create("manifest");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_add_test(tc, test_read);
	tcase_add_test(tc, test_not_solo5);
	tcase_add_test(tc, test_check_header);
	tcase_add_test(tc, test_bad_manifest);
	tcase_add_test(tc, test_check_config);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(manifest_suite());
}
