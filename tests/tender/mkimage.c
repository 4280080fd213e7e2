/* SPDX-License-Identifier: ISC */
/*
 * mkimage: writes a small ELF64 image carrying Solo5 notes, for the test tender.
 *
 *   mkimage OUT [--target hvt|spt|virtio|muen|genode|xen] [--abi N] [--net NAME]...
 *               [--block NAME]... [--no-abi] [--no-manifest] [--aarch64]
 *
 * Defaults: target spt (it runs without KVM), ABI 2, no devices.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <albatross/manifest.h>

#include "solo5-image.h"

#define DEVICES_MAX 63

static const char *const targets[] = {NULL, "hvt", "spt", "virtio", "muen", "genode", "xen"};

static int usage(void)
{
	fprintf(stderr, "usage: mkimage OUT [--target hvt|spt|virtio|muen|genode|xen] [--abi N] "
			"[--net NAME]... [--block NAME]... [--no-abi] [--no-manifest] "
			"[--aarch64]\n");
	return 2;
}

static bool parse_u32(const char *s, uint32_t *ret)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *s == '-' || *end || errno || v > UINT32_MAX)
		return false;
	*ret = (uint32_t)v;
	return true;
}

int main(int argc, char **argv)
{
	struct test_device devices[DEVICES_MAX];
	size_t n = 0;
	int target = ALB_SOLO5_SPT, flags = 0;
	uint32_t abi = 2;

	if (argc < 2 || argv[1][0] == '-')
		return usage();
	const char *out = argv[1];

	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--no-abi") == 0) {
			flags |= TEST_IMAGE_NO_ABI;
		} else if (strcmp(a, "--no-manifest") == 0) {
			flags |= TEST_IMAGE_NO_MANIFEST;
		} else if (strcmp(a, "--aarch64") == 0) {
			flags |= TEST_IMAGE_AARCH64;
		} else if (!v) {
			return usage();
		} else if (strcmp(a, "--target") == 0) {
			target = 0;
			for (int t = 1; t < (int)(sizeof(targets) / sizeof(targets[0])); t++)
				if (strcmp(v, targets[t]) == 0)
					target = t;
			if (!target) {
				fprintf(stderr, "mkimage: unknown target '%s'\n", v);
				return 2;
			}
			i++;
		} else if (strcmp(a, "--abi") == 0) {
			if (!parse_u32(v, &abi)) {
				fprintf(stderr, "mkimage: bad ABI version '%s'\n", v);
				return 2;
			}
			i++;
		} else if (strcmp(a, "--net") == 0 || strcmp(a, "--block") == 0) {
			if (n == DEVICES_MAX) {
				fprintf(stderr, "mkimage: at most %d devices\n", DEVICES_MAX);
				return 2;
			}
			devices[n].name = v;
			devices[n].type = a[2] == 'n' ? ALB_DEVICE_NET : ALB_DEVICE_BLOCK;
			n++;
			i++;
		} else {
			return usage();
		}
	}

	int r = test_solo5_image_file(out, target, abi, devices, n, flags);
	if (r < 0) {
		fprintf(stderr, "mkimage: %s: %s\n", out, strerror(-r));
		return 1;
	}
	return 0;
}
