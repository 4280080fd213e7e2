/* SPDX-License-Identifier: ISC */
/**
 * @file policy.h
 * @brief Resource policies of administrative domains.
 *
 * A policy limits what may run below a path: the number of unikernels, the
 * sum of their memory, the CPU ids they may be pinned to, the sum of block
 * storage (or no block storage at all), the bridges their network
 * devices may be attached to, and for services the host ports they may
 * publish and the IPv4 prefixes (each on one of the bridges) their addresses
 * may be allocated in.
 *
 * A new policy allows nothing: 0 unikernels, 0 MB, no CPU, no bridge, block
 * storage "none", no ports and no prefix.
 */
#ifndef ALBATROSS_POLICY_H
#define ALBATROSS_POLICY_H

#include <stdint.h>

#include <albatross/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Largest unikernel count in a policy. */
#define ALB_POLICY_UNIKERNELS_MAX 1000000u
/** Largest memory or block size in MB (4 PiB). */
#define ALB_POLICY_MB_MAX (UINT64_C(1) << 32)
/** CPU ids are below this. */
#define ALB_CPUID_LIMIT 65536u
/** Most CPU ids in one set. */
#define ALB_CPUIDS_MAX 1024u
/** Most bridges in one policy. */
#define ALB_BRIDGES_MAX 64u
/** Longest bridge (interface) name: IFNAMSIZ - 1. */
#define ALB_BRIDGE_NAME_MAX 15u
/** Most (bridge, prefix) pairs in one policy. */
#define ALB_POLICY_PREFIXES_MAX 64u
/** Shortest and longest prefix length a policy allows (a /31 or /32 leaves no room). */
#define ALB_POLICY_PREFIX_LEN_MIN 1u
#define ALB_POLICY_PREFIX_LEN_MAX 30u

/** Opaque policy; an owned value. */
typedef struct alb_policy alb_policy;

/** Makes an empty policy (allows nothing). @return 0 or -ENOMEM. */
int alb_policy_new(alb_policy **ret_policy);

/** Copies a policy. @return 0, -EINVAL, -ENOMEM. */
int alb_policy_dup(const alb_policy *policy, alb_policy **ret_policy);

/** Frees a policy. Accepts NULL. @return NULL. */
alb_policy *alb_policy_free(alb_policy *policy);

/** @return 1 if both allow exactly the same, 0 if not. */
int alb_policy_equal(const alb_policy *a, const alb_policy *b);

/** Sets the unikernel count. @return 0, or -ERANGE above ALB_POLICY_UNIKERNELS_MAX. */
int alb_policy_set_unikernels(alb_policy *policy, uint32_t count);
uint32_t alb_policy_get_unikernels(const alb_policy *policy);

/** Sets the memory sum in MB. @return 0, or -ERANGE above ALB_POLICY_MB_MAX. */
int alb_policy_set_memory(alb_policy *policy, uint64_t mb);
uint64_t alb_policy_get_memory(const alb_policy *policy);

/** Allows @p mb MB of block storage. @return 0, or -ERANGE above ALB_POLICY_MB_MAX. */
int alb_policy_set_block(alb_policy *policy, uint64_t mb);
/** Forbids block storage ("none", the default). */
void alb_policy_set_block_none(alb_policy *policy);
/** @return 1 if block storage is allowed (even 0 MB), 0 for "none". */
int alb_policy_has_block(const alb_policy *policy);
/** @return the block storage in MB; 0 for "none". */
uint64_t alb_policy_get_block(const alb_policy *policy);

/**
 * Allows a CPU id. Adding one twice is no error.
 * @return 0, -ERANGE for an id >= ALB_CPUID_LIMIT, -E2BIG past ALB_CPUIDS_MAX, -ENOMEM.
 */
int alb_policy_add_cpuid(alb_policy *policy, uint32_t cpuid);
/** @return the number of CPU ids. */
uint32_t alb_policy_get_cpuid_count(const alb_policy *policy);
/** @return the CPU id at @p index in ascending order, or UINT32_MAX out of range. */
uint32_t alb_policy_get_cpuid(const alb_policy *policy, uint32_t index);
/** @return 1 if @p cpuid is allowed, 0 if not. */
int alb_policy_has_cpuid(const alb_policy *policy, uint32_t cpuid);

/**
 * Checks a bridge (network interface) name: 1 to 15 characters of
 * [a-zA-Z0-9_.-], not "." or "..".
 * @return 0 or -EINVAL (reason in @p ctx; @p ctx may be NULL).
 */
int alb_bridge_name_validate(alb_ctx *ctx, const char *bridge);

/**
 * Allows a bridge. Adding one twice is no error.
 * @return 0, -EINVAL for an invalid name, -E2BIG past ALB_BRIDGES_MAX, -ENOMEM.
 */
int alb_policy_add_bridge(alb_policy *policy, const char *bridge);
/** @return the number of bridges. */
uint32_t alb_policy_get_bridge_count(const alb_policy *policy);
/** @return the bridge at @p index in ascending order (borrowed), or NULL. */
const char *alb_policy_get_bridge(const alb_policy *policy, uint32_t index);
/** @return 1 if @p bridge is allowed, 0 if not. */
int alb_policy_has_bridge(const alb_policy *policy, const char *bridge);

/**
 * Allows publishing the host ports @p first to @p last (both included), e.g.
 * 8000..8080; a single port is first == last. A policy without a range (the
 * default) allows publishing no port. Setting a range replaces the previous one.
 * @return 0, or -ERANGE unless 1 <= first <= last <= 65535.
 */
int alb_policy_set_ports(alb_policy *policy, uint32_t first, uint32_t last);
/**
 * The port range.
 * @return 1 and the range in @p ret_first and @p ret_last (either may be NULL) if
 * the policy allows ports, 0 if not (outputs untouched).
 */
int alb_policy_get_ports(const alb_policy *policy, uint32_t *ret_first, uint32_t *ret_last);
/** @return 1 if the policy allows the host port @p port (in its range), 0 if not. */
int alb_policy_allows_port(const alb_policy *policy, uint32_t port);

/**
 * Allows the addresses of the IPv4 prefix @p prefix ("A.B.C.D/N": a dotted
 * quad without leading zeros, N from ALB_POLICY_PREFIX_LEN_MIN to
 * ALB_POLICY_PREFIX_LEN_MAX, host bits zero, e.g. "10.0.0.0/24") on the bridge
 * @p bridge, which must already be one of the policy's bridges
 * (alb_policy_add_bridge() first). The pairs are kept sorted by bridge
 * (bytewise), then address, then length, and unique.
 * @return 0 (also if the pair is already there), -EINVAL for an invalid prefix
 * or bridge name or a bridge the policy does not have, -E2BIG past
 * ALB_POLICY_PREFIXES_MAX, -ENOMEM.
 */
int alb_policy_add_prefix(alb_policy *policy, const char *bridge, const char *prefix);
/** @return the number of (bridge, prefix) pairs. */
uint32_t alb_policy_get_prefix_count(const alb_policy *policy);
/** @return the bridge of the pair at @p index (borrowed), or NULL out of range. */
const char *alb_policy_get_prefix_bridge(const alb_policy *policy, uint32_t index);
/** @return the prefix of the pair at @p index as "A.B.C.D/N" (borrowed), or NULL. */
const char *alb_policy_get_prefix(const alb_policy *policy, uint32_t index);
/**
 * @return 1 if the prefix @p prefix ("A.B.C.D/N", N 1..32, host bits zero; a
 * single address is "A.B.C.D/32") on @p bridge lies inside one of the policy's
 * prefixes of that bridge, 0 if not or if @p prefix is invalid.
 */
int alb_policy_allows_prefix(const alb_policy *policy, const char *bridge, const char *prefix);

/**
 * The static check: does @p inner fit inside @p outer? Every number of
 * @p inner is at most @p outer's, its CPU ids and bridges are subsets of
 * @p outer's, it has no block storage if @p outer has none, its port range (if
 * any) lies inside @p outer's, and each of its prefixes lies inside one of
 * @p outer's prefixes on the same bridge.
 * @return 0 if it fits; -EDQUOT with the first field that does not in
 * @p ctx's last error (e.g. "memory 128 MB exceeds 64 MB",
 * "ports 80-443 exceed 8000-8080", "prefix 10.1.0.0/24 on bridge 'br0' is not
 * allowed").
 */
int alb_policy_is_smaller(alb_ctx *ctx, const alb_policy *inner, const alb_policy *outer);

/**
 * Formats a policy for people, e.g. "unikernels 2, memory 64 MB, block none,
 * cpuids 0 1, bridges br0, ports 8000-8080, prefixes br0=10.0.0.0/24"; the
 * ports and prefixes parts are left out when the policy has none.
 * @return a string freed with alb_free(), or NULL on allocation failure.
 */
char *alb_policy_to_string(const alb_policy *policy);

#ifdef __cplusplus
}
#endif

#endif
