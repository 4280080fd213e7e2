/* SPDX-License-Identifier: ISC */
/**
 * @file tree.h
 * @brief The resource tree: policies, unikernels and block devices per path.
 *
 * Policies sit at paths; unikernels and block devices at names. The tree
 * enforces two checks:
 *
 * - Static, when a policy is inserted at path P: it must fit inside the
 *   policy of every ancestor of P that has one, the root's included; every
 *   policy below P must fit inside it; and the resources already used below P
 *   (unikernel count, memory sum, block sum, CPU ids and bridges in use) must
 *   fit inside it.
 * - Dynamic, when a unikernel or a block device is created under P: for
 *   every policy on the way from P up to the root, the usage of that policy's
 *   whole subtree plus the request must fit (count, memory sum, block sum,
 *   CPU ids and bridges as subsets; block "none" forbids block devices).
 *
 * Failures of either return -EDQUOT with the path and the field in the
 * context's last error.
 */
#ifndef ALBATROSS_TREE_H
#define ALBATROSS_TREE_H

#include <stdint.h>

#include <albatross/ctx.h>
#include <albatross/name.h>
#include <albatross/policy.h>
#include <albatross/unikernel.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque resource tree; an owned value. */
typedef struct alb_tree alb_tree;

/** Kinds of entries, for alb_tree_foreach()'s mask. */
enum alb_tree_kind { ALB_TREE_POLICY = 1, ALB_TREE_UNIKERNEL = 2, ALB_TREE_BLOCK = 4 };

/** Makes an empty tree (no policy at all, not even the root's). @return 0, -ENOMEM. */
int alb_tree_new(alb_ctx *ctx, alb_tree **ret_tree);

/** Frees a tree. Accepts NULL. @return NULL. */
alb_tree *alb_tree_free(alb_tree *tree);

/**
 * Inserts or replaces the policy at @p path after the static check. The
 * policy is copied.
 * @return 0, -EINVAL (not a path), -EDQUOT (check failed), -ENOMEM.
 */
int alb_tree_insert_policy(alb_tree *tree, const alb_name *path, const alb_policy *policy);

/**
 * Removes the policy at @p path.
 * @return 0, -ENOENT (none there), -EBUSY (unikernels or block devices
 * exist below @p path: destroy them first), -EPERM (the root's policy).
 */
int alb_tree_remove_policy(alb_tree *tree, const alb_name *path);

/** @return the policy at @p path, borrowed until the tree changes; NULL if none. */
const alb_policy *alb_tree_get_policy(const alb_tree *tree, const alb_name *path);

/**
 * The dynamic check for a unikernel @p name with @p config. If @p name
 * already exists, its own resources are left out (the check for a
 * replacement or a restart with new arguments).
 * @return 0, -EINVAL (not a unikernel name, incomplete config), -EDQUOT.
 */
int alb_tree_check_unikernel(alb_tree *tree, const alb_name *name,
			     const alb_unikernel_config *config);

/**
 * Checks and inserts a unikernel; the config is copied.
 * @return as alb_tree_check_unikernel(), and -EEXIST if @p name exists.
 */
int alb_tree_insert_unikernel(alb_tree *tree, const alb_name *name,
			      const alb_unikernel_config *config);

/** Checks and replaces the config of an existing unikernel. @return 0, -ENOENT, -EDQUOT... */
int alb_tree_replace_unikernel(alb_tree *tree, const alb_name *name,
			       const alb_unikernel_config *config);

/** Removes a unikernel. @return 0, -ENOENT. */
int alb_tree_remove_unikernel(alb_tree *tree, const alb_name *name);

/** @return the config of unikernel @p name, borrowed until the tree changes; NULL if none. */
const alb_unikernel_config *alb_tree_get_unikernel(const alb_tree *tree, const alb_name *name);

/**
 * Checks and inserts a block device of @p size_mb MB.
 * @return 0, -EINVAL, -EEXIST, -EDQUOT, -ENOMEM.
 */
int alb_tree_insert_block(alb_tree *tree, const alb_name *name, uint64_t size_mb);

/** Removes a block device. @return 0, -ENOENT. */
int alb_tree_remove_block(alb_tree *tree, const alb_name *name);

/** Copies the size of block device @p name. @return 0, -ENOENT. */
int alb_tree_get_block(const alb_tree *tree, const alb_name *name, uint64_t *ret_size_mb);

/**
 * The resources used below @p path, as a policy value: the number of
 * unikernels, their memory sum, the block sum ("none" when there is no block
 * device), and the union of their CPU ids and bridges.
 * @return 0, -EINVAL, -ENOMEM. @p ret_usage is freed with alb_policy_free().
 */
int alb_tree_get_usage(const alb_tree *tree, const alb_name *path, alb_policy **ret_usage);

/**
 * Called by alb_tree_foreach() for each entry: @p name is the full name
 * (a path for policies), @p relative the name relative to the iteration's
 * path. Both are borrowed for the call. Return 0 to go on, anything else to
 * stop: alb_tree_foreach() then returns that value.
 */
typedef int (*alb_tree_visit_fn)(const alb_name *name, const alb_name *relative, int kind,
				 void *userdata);

/**
 * Visits the entries of kinds in @p kinds (a mask of alb_tree_kind) at and
 * below the path @p path, in a stable order (depth first, labels sorted).
 * The tree must not change during the iteration.
 * @return 0, -EINVAL, -ENOMEM, or the callback's non-zero value.
 */
int alb_tree_foreach(const alb_tree *tree, const alb_name *path, int kinds, alb_tree_visit_fn visit,
		     void *userdata);

#ifdef __cplusplus
}
#endif

#endif
