/* SPDX-License-Identifier: ISC */
/* Writes small ELF64 images carrying Solo5 notes, for the tests and the test tender. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct test_device {
	const char *name;
	int type; /* ALB_DEVICE_NET or ALB_DEVICE_BLOCK */
};

enum {
	TEST_IMAGE_NO_ABI = 1,	    /* leave out the ABI note */
	TEST_IMAGE_NO_MANIFEST = 2, /* leave out the manifest note */
	TEST_IMAGE_AARCH64 = 4,	    /* e_machine aarch64 instead of x86_64 */
};

/* Makes an image in memory (*ret freed with free()). Returns 0 or -ENOMEM. */
int test_solo5_image(int target, uint32_t abi, const struct test_device *devices, size_t n,
		     int flags, uint8_t **ret, size_t *ret_len);

/* Writes such an image to path. Returns 0 or -errno. */
int test_solo5_image_file(const char *path, int target, uint32_t abi,
			  const struct test_device *devices, size_t n, int flags);
