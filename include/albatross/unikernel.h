/* SPDX-License-Identifier: ISC */
/**
 * @file unikernel.h
 * @brief Unikernel configurations.
 *
 * A configuration says how to run one unikernel: the tender (hvt or spt), the
 * image (its size as transferred, whether it is zlib-compressed, its SHA-256
 * digest once known), what to do when it exits, its startup priority, the
 * CPU ids it is pinned to, its memory, its block and network devices and the
 * arguments passed to it.
 *
 * Device names are the unikernel-side names from the image's manifest:
 * 1 to 67 characters of [a-zA-Z0-9_]. At most ALB_DEVICES_MAX devices in all,
 * each name used once.
 */
#ifndef ALBATROSS_UNIKERNEL_H
#define ALBATROSS_UNIKERNEL_H

#include <stdint.h>

#include <albatross/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Tenders. */
enum alb_tender { ALB_TENDER_HVT = 1, ALB_TENDER_SPT = 2 };

/** What to do when the unikernel exits. */
enum alb_fail_behaviour {
	ALB_FAIL_QUIT = 0,	 /**< never restart */
	ALB_FAIL_RESTART = 1,	 /**< restart on every exit code that may restart */
	ALB_FAIL_RESTART_ON = 2, /**< restart on the listed exit codes only */
};

/** Longest device name (a Solo5 manifest name without its NUL). */
#define ALB_DEVICE_NAME_MAX 67u
/** Most devices of one unikernel (Solo5's manifest holds 63 besides the reserved one). */
#define ALB_DEVICES_MAX 63u
/** Most arguments. */
#define ALB_ARGS_MAX 1024u
/** Longest argument line: the arguments joined with single spaces (Solo5's bound). */
#define ALB_ARGS_LENGTH_MAX 8191u
/** Largest memory of one unikernel in MB. */
#define ALB_UNIKERNEL_MEMORY_MAX (UINT64_C(1) << 20)
/** Largest startup priority; lower priorities start first, the default is 50. */
#define ALB_STARTUP_MAX 100u
/** Largest image, in bytes as transferred. */
#define ALB_IMAGE_SIZE_MAX (UINT64_C(1) << 32)
/** Block sector sizes are powers of two from 512 to this. */
#define ALB_SECTOR_SIZE_MAX 65536u

/** Opaque unikernel configuration; an owned value. */
typedef struct alb_unikernel_config alb_unikernel_config;

/**
 * Makes a configuration: hvt, memory 32 MB, fail behaviour quit, startup 50,
 * no CPU, device or argument, image size 0, uncompressed, no digest. Errors of
 * the setters are explained in @p ctx.
 * @return 0, -EINVAL, -ENOMEM.
 */
int alb_unikernel_config_new(alb_ctx *ctx, alb_unikernel_config **ret_config);

/** Copies a configuration. @return 0, -EINVAL, -ENOMEM. */
int alb_unikernel_config_dup(const alb_unikernel_config *config, alb_unikernel_config **ret_config);

/** Frees a configuration. Accepts NULL. @return NULL. */
alb_unikernel_config *alb_unikernel_config_free(alb_unikernel_config *config);

/** @return 1 if both configurations are equal in every field, 0 if not. */
int alb_unikernel_config_equal(const alb_unikernel_config *a, const alb_unikernel_config *b);

/** @return 0, or -EINVAL for an unknown tender. */
int alb_unikernel_config_set_tender(alb_unikernel_config *config, int tender);
int alb_unikernel_config_get_tender(const alb_unikernel_config *config);

/** @return 0, or -ERANGE outside 1 .. ALB_UNIKERNEL_MEMORY_MAX. */
int alb_unikernel_config_set_memory(alb_unikernel_config *config, uint64_t mb);
uint64_t alb_unikernel_config_get_memory(const alb_unikernel_config *config);

/** Adds a CPU id to pin to. @return 0, -ERANGE, -E2BIG, -ENOMEM. */
int alb_unikernel_config_add_cpuid(alb_unikernel_config *config, uint32_t cpuid);
uint32_t alb_unikernel_config_get_cpuid_count(const alb_unikernel_config *config);
/** @return the CPU id at @p index in ascending order, or UINT32_MAX out of range. */
uint32_t alb_unikernel_config_get_cpuid(const alb_unikernel_config *config, uint32_t index);

/** @return 0, or -EINVAL for an unknown behaviour. */
int alb_unikernel_config_set_fail_behaviour(alb_unikernel_config *config, int behaviour);
int alb_unikernel_config_get_fail_behaviour(const alb_unikernel_config *config);
/** Adds an exit code (0 to 255) for ALB_FAIL_RESTART_ON. @return 0, -ERANGE, -ENOMEM. */
int alb_unikernel_config_add_exit_code(alb_unikernel_config *config, uint32_t code);
uint32_t alb_unikernel_config_get_exit_code_count(const alb_unikernel_config *config);
/** @return the exit code at @p index in ascending order, or UINT32_MAX out of range. */
uint32_t alb_unikernel_config_get_exit_code(const alb_unikernel_config *config, uint32_t index);

/** @return 0, or -ERANGE above ALB_STARTUP_MAX. */
int alb_unikernel_config_set_startup(alb_unikernel_config *config, uint32_t priority);
uint32_t alb_unikernel_config_get_startup(const alb_unikernel_config *config);

/**
 * Describes the image as transferred: @p size bytes, zlib-compressed if
 * @p compressed is non-zero. @return 0, or -ERANGE above ALB_IMAGE_SIZE_MAX.
 */
int alb_unikernel_config_set_image(alb_unikernel_config *config, uint64_t size, int compressed);
uint64_t alb_unikernel_config_get_image_size(const alb_unikernel_config *config);
int alb_unikernel_config_get_image_compressed(const alb_unikernel_config *config);

/** Sets the SHA-256 digest of the (uncompressed) image. @return 0. */
int alb_unikernel_config_set_digest(alb_unikernel_config *config, const uint8_t digest[32]);
/** Copies the digest to @p ret_digest. @return 0, or -ENOENT if none is set. */
int alb_unikernel_config_get_digest(const alb_unikernel_config *config, uint8_t ret_digest[32]);

/** Checks a device name. @return 0 or -EINVAL (reason in @p ctx, which may be NULL). */
int alb_device_name_validate(alb_ctx *ctx, const char *name);

/**
 * Adds a block device: the unikernel-side @p name, the host block device
 * @p host (a label; NULL for the same as @p name) and @p sector_size (0 for
 * the tender's default of 512, otherwise a power of two from 512 to
 * ALB_SECTOR_SIZE_MAX).
 * @return 0, -EINVAL, -EEXIST (name in use), -E2BIG, -ENOMEM.
 */
int alb_unikernel_config_add_block(alb_unikernel_config *config, const char *name, const char *host,
				   uint32_t sector_size);
uint32_t alb_unikernel_config_get_block_count(const alb_unikernel_config *config);
/** @return the unikernel-side name of block device @p index (borrowed), or NULL. */
const char *alb_unikernel_config_get_block_name(const alb_unikernel_config *config, uint32_t index);
/** @return the host block device name of @p index (borrowed), or NULL. */
const char *alb_unikernel_config_get_block_host(const alb_unikernel_config *config, uint32_t index);
/** @return the sector size of @p index, 0 for the default. */
uint32_t alb_unikernel_config_get_block_sector_size(const alb_unikernel_config *config,
						    uint32_t index);

/**
 * Adds a network device: the unikernel-side @p name attached to @p bridge,
 * with the MAC address @p mac (NULL: derived from the unikernel's name when
 * it starts). A MAC must be unicast (lowest bit of the first byte clear).
 * @return 0, -EINVAL, -EEXIST (name in use), -E2BIG, -ENOMEM.
 */
int alb_unikernel_config_add_net(alb_unikernel_config *config, const char *name, const char *bridge,
				 const uint8_t *mac);
uint32_t alb_unikernel_config_get_net_count(const alb_unikernel_config *config);
const char *alb_unikernel_config_get_net_name(const alb_unikernel_config *config, uint32_t index);
const char *alb_unikernel_config_get_net_bridge(const alb_unikernel_config *config, uint32_t index);
/** Copies the MAC of @p index. @return 0, -ENOENT if none was set, -EINVAL out of range. */
int alb_unikernel_config_get_net_mac(const alb_unikernel_config *config, uint32_t index,
				     uint8_t ret_mac[6]);

/**
 * Appends an argument: valid UTF-8 without NUL, and all arguments joined
 * with spaces at most ALB_ARGS_LENGTH_MAX characters.
 * @return 0, -EINVAL, -E2BIG, -ENOMEM.
 */
int alb_unikernel_config_add_argument(alb_unikernel_config *config, const char *argument);
/** Removes every argument. */
void alb_unikernel_config_clear_arguments(alb_unikernel_config *config);
uint32_t alb_unikernel_config_get_argument_count(const alb_unikernel_config *config);
const char *alb_unikernel_config_get_argument(const alb_unikernel_config *config, uint32_t index);

/**
 * Checks that a configuration is complete enough to run: at least one CPU,
 * and exit codes only with ALB_FAIL_RESTART_ON (which needs at least one).
 * @return 0 or -EINVAL with the reason in @p ctx.
 */
int alb_unikernel_config_validate(alb_ctx *ctx, const alb_unikernel_config *config);

/**
 * Whether a unikernel that ended should be started again, by its fail
 * behaviour. A unikernel killed by a signal (@p signal non-zero), or exiting
 * with code 1 (a tender or Solo5 error) or 60 to 64 (MirageOS's usage and
 * argument errors), is never restarted; otherwise ALB_FAIL_RESTART restarts on
 * every code and ALB_FAIL_RESTART_ON on the listed codes.
 * @return 1 to restart, 0 not to.
 */
int alb_unikernel_config_should_restart(const alb_unikernel_config *config, int signal, int code);

#ifdef __cplusplus
}
#endif

#endif
