/* SPDX-License-Identifier: ISC */
/* Writes seed images to the directory argv[1] (tests/fuzz/corpus/manifest). */
#include <stdio.h>
#include <stdlib.h>

#include <albatross/manifest.h>

#include "solo5-image.h"

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	static const struct test_device devs[] = {
	    {"service", ALB_DEVICE_NET}, {"storage", ALB_DEVICE_BLOCK}, {"mgmt", ALB_DEVICE_NET}};
	static const struct {
		const char *file;
		int target;
		size_t n;
		int flags;
	} seeds[] = {
	    {"hvt-none.elf", ALB_SOLO5_HVT, 0, 0},
	    {"hvt-net.elf", ALB_SOLO5_HVT, 1, 0},
	    {"spt-three.elf", ALB_SOLO5_SPT, 3, TEST_IMAGE_AARCH64},
	    {"no-abi.elf", ALB_SOLO5_HVT, 2, TEST_IMAGE_NO_ABI},
	    {"no-manifest.elf", ALB_SOLO5_HVT, 2, TEST_IMAGE_NO_MANIFEST},
	};
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", argv[1], seeds[i].file);
		if (test_solo5_image_file(path, seeds[i].target, 2, devs, seeds[i].n,
					  seeds[i].flags) < 0)
			return 1;
	}
	return 0;
}
