/* SPDX-License-Identifier: ISC */
/**
 * @file manifest.h
 * @brief Solo5 image inspection: the ABI note and the device manifest.
 *
 * A Solo5 unikernel image is an ELF64 file (little-endian, x86_64 or aarch64)
 * with two notes of owner "Solo5": the ABI note (target and ABI version) and
 * the manifest note (the devices the unikernel expects). The tender refuses to
 * run an image unless every device in its manifest is attached, so albatrossd
 * compares the manifest with a configuration before it creates anything.
 *
 * Reading is safe on any input: every offset and size is checked against the
 * image's size.
 */
#ifndef ALBATROSS_MANIFEST_H
#define ALBATROSS_MANIFEST_H

#include <stdint.h>

#include <albatross/ctx.h>
#include <albatross/unikernel.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Solo5 targets, as in the ABI note. */
enum alb_solo5_target {
	ALB_SOLO5_HVT = 1,
	ALB_SOLO5_SPT = 2,
	ALB_SOLO5_VIRTIO = 3,
	ALB_SOLO5_MUEN = 4,
	ALB_SOLO5_GENODE = 5,
	ALB_SOLO5_XEN = 6,
};

/** Device types of the manifest. */
enum alb_device_type { ALB_DEVICE_BLOCK = 1, ALB_DEVICE_NET = 2 };

/** Opaque manifest of an image; an owned value. */
typedef struct alb_manifest alb_manifest;

/**
 * Reads the ABI note and the manifest of the image @p image of @p size bytes.
 * @return 0, -EBADMSG for an image that is not a valid Solo5 ELF image (the
 * reason in @p ctx: not ELF64, wrong machine, no ABI note, a malformed
 * manifest, ...), -ENOMEM.
 */
int alb_manifest_read(alb_ctx *ctx, const uint8_t *image, uint64_t size,
		      alb_manifest **ret_manifest);

/** Frees a manifest. Accepts NULL. @return NULL. */
alb_manifest *alb_manifest_free(alb_manifest *manifest);

/** @return the target (enum alb_solo5_target). */
int alb_manifest_get_target(const alb_manifest *manifest);

/** @return the target's name ("hvt", "spt", ...), static storage. */
const char *alb_manifest_get_target_name(const alb_manifest *manifest);

/** @return the Solo5 ABI version (2 for Solo5 v0.12). */
uint32_t alb_manifest_get_abi_version(const alb_manifest *manifest);

/** @return the number of devices (the reserved first entry left out). */
uint32_t alb_manifest_get_device_count(const alb_manifest *manifest);

/** @return the name of device @p index, borrowed; NULL out of range. */
const char *alb_manifest_get_device_name(const alb_manifest *manifest, uint32_t index);

/** @return the type (enum alb_device_type) of device @p index; -EINVAL out of range. */
int alb_manifest_get_device_type(const alb_manifest *manifest, uint32_t index);

/**
 * Checks that @p config can run this image: the image's target is the
 * config's tender, every network device of the manifest is a configured
 * network device and every block device a configured block device, and
 * nothing else is configured.
 * @return 0, or -EINVAL naming the first mismatch (e.g. "the image declares
 * the network device 'service' but it is not configured").
 */
int alb_manifest_check_config(alb_ctx *ctx, const alb_manifest *manifest,
			      const alb_unikernel_config *config);

#ifdef __cplusplus
}
#endif

#endif
