/* SPDX-License-Identifier: ISC */
#include <inttypes.h>
#include <stdio.h>

#include <albatross/tree.h>

#include "ctx-private.h"
#include "name-private.h"
#include "policy-private.h"
#include "unikernel-private.h"

struct leaf {
	char label[ALB_LABEL_MAX + 1];
	alb_unikernel_config *config; /* unikernels */
	uint64_t size_mb;	      /* block devices */
};

struct node {
	char label[ALB_LABEL_MAX + 1];
	alb_policy *policy;
	struct node **children; /* sorted by label */
	uint32_t n_children;
	struct leaf *unikernels; /* sorted by label */
	uint32_t n_unikernels;
	struct leaf *blocks; /* sorted by label */
	uint32_t n_blocks;
	/* Sums over the whole subtree, this node's own entries included. */
	uint64_t sum_unikernels, sum_memory_mb, sum_blocks, sum_block_mb;
};

struct alb_tree {
	alb_ctx *ctx;
	struct node root;
};

static void node_clear(struct node *n)
{
	for (uint32_t i = 0; i < n->n_children; i++) {
		node_clear(n->children[i]);
		free(n->children[i]);
	}
	free(n->children);
	for (uint32_t i = 0; i < n->n_unikernels; i++)
		alb_unikernel_config_free(n->unikernels[i].config);
	free(n->unikernels);
	free(n->blocks);
	alb_policy_free(n->policy);
	memset(n, 0, sizeof(*n));
}

ALB_EXPORT int alb_tree_new(alb_ctx *ctx, alb_tree **ret_tree)
{
	if (!ret_tree)
		return -EINVAL;
	alb_tree *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->ctx = alb_ctx_ref(ctx);
	*ret_tree = t;
	return 0;
}

ALB_EXPORT alb_tree *alb_tree_free(alb_tree *tree)
{
	if (!tree)
		return NULL;
	node_clear(&tree->root);
	alb_ctx_unref(tree->ctx);
	free(tree);
	return NULL;
}

static const char *node_label(const void *elt)
{
	return (*(struct node *const *)elt)->label;
}

static const char *leaf_label(const void *elt)
{
	return ((const struct leaf *)elt)->label;
}

/* Binary search in a sorted array of nodes or leaves; *found says whether it is there. */
static uint32_t child_index(const struct node *n, const char *label, bool *found)
{
	return alb_sorted_find(n->children, n->n_children, sizeof(*n->children), node_label, label,
			       found);
}

static uint32_t leaf_index(const struct leaf *v, uint32_t n, const char *label, bool *found)
{
	return alb_sorted_find(v, n, sizeof(*v), leaf_label, label, found);
}

/*
 * The nodes from the root down to the node of path (path->depth + 1 of them);
 * nodes[i] is NULL where the tree has no node (then neither below).
 * With create, missing nodes are made.
 */
static int walk(alb_tree *t, const alb_name *path, bool create,
		struct node *nodes[ALB_NAME_LABELS_MAX + 1])
{
	struct node *n = &t->root;
	nodes[0] = n;
	for (uint32_t i = 0; i < path->depth; i++) {
		bool found = false;
		uint32_t k = n ? child_index(n, path->path[i], &found) : 0;
		if (n && found)
			n = n->children[k];
		else if (n && create) {
			struct node *c = calloc(1, sizeof(*c));
			if (!c)
				return -ENOMEM;
			struct node **v = realloc(n->children, (n->n_children + 1) * sizeof(*v));
			if (!v) {
				free(c);
				return -ENOMEM;
			}
			memmove(v + k + 1, v + k, (n->n_children - k) * sizeof(*v));
			memcpy(c->label, path->path[i], sizeof(c->label));
			v[k] = c;
			n->children = v;
			n->n_children++;
			n = c;
		} else
			n = NULL;
		nodes[i + 1] = n;
	}
	return 0;
}

static struct node *find(const alb_tree *t, const alb_name *path)
{
	struct node *nodes[ALB_NAME_LABELS_MAX + 1];
	walk((alb_tree *)t, path, false, nodes);
	return nodes[path->depth];
}

static bool node_empty(const struct node *n)
{
	return !n->policy && !n->n_children && !n->n_unikernels && !n->n_blocks;
}

/* Removes empty nodes along path, deepest first. */
static void prune(alb_tree *t, const alb_name *path)
{
	struct node *nodes[ALB_NAME_LABELS_MAX + 1];
	walk(t, path, false, nodes);
	for (uint32_t i = path->depth; i > 0; i--) {
		struct node *n = nodes[i], *parent = nodes[i - 1];
		if (!n || !node_empty(n))
			return;
		bool found;
		uint32_t k = child_index(parent, n->label, &found);
		memmove(parent->children + k, parent->children + k + 1,
			(parent->n_children - k - 1) * sizeof(*parent->children));
		parent->n_children--;
		node_clear(n);
		free(n);
	}
}

/* The path of the first path->depth - cut labels, formatted into buf. */
static const char *path_string(const alb_name *path, uint32_t depth, char *buf, size_t size)
{
	alb_name p = *path;
	p.depth = depth;
	p.has_label = false;
	char *s = alb_name_to_string(&p);
	snprintf(buf, size, "%s", s ? s : "?");
	free(s);
	return buf;
}

static int usage_collect(struct node *n, alb_policy *u)
{
	for (uint32_t i = 0; i < n->n_unikernels; i++) {
		const alb_unikernel_config *c = n->unikernels[i].config;
		int r;
		for (uint32_t k = 0; k < c->n_cpuids; k++)
			if ((r = alb_u32set_add(&u->cpuids, &u->n_cpuids, c->cpuids[k],
						ALB_CPUID_LIMIT)) < 0)
				return r;
		for (uint32_t k = 0; k < c->n_nets; k++)
			if ((r = alb_strset_add(&u->bridges, &u->n_bridges, c->nets[k].bridge,
						UINT32_MAX)) < 0)
				return r;
	}
	for (uint32_t i = 0; i < n->n_children; i++) {
		int r = usage_collect(n->children[i], u);
		if (r < 0)
			return r;
	}
	return 0;
}

ALB_EXPORT int alb_tree_get_usage(const alb_tree *tree, const alb_name *path,
				  alb_policy **ret_usage)
{
	if (!tree || !path || !ret_usage || !alb_name_is_path(path))
		return alb_error(tree ? tree->ctx : NULL, EINVAL, "usage needs a path");
	_cleanup_(alb_policy_freep) alb_policy *u = NULL;
	int r = alb_policy_new(&u);
	if (r < 0)
		return r;
	struct node *n = find(tree, path);
	if (n) {
		/* Sums are bounded by the policies that admitted them, but clamp anyway. */
		u->unikernels =
		    n->sum_unikernels > UINT32_MAX ? UINT32_MAX : (uint32_t)n->sum_unikernels;
		u->memory_mb = n->sum_memory_mb;
		u->has_block = n->sum_blocks > 0;
		u->block_mb = n->sum_block_mb;
		if ((r = usage_collect(n, u)) < 0)
			return r;
	}
	*ret_usage = TAKE_PTR(u);
	return 0;
}

/* Every policy below n (not n's own) must fit inside policy. */
static int descendants_fit(alb_tree *t, const struct node *n, const alb_policy *policy,
			   alb_name *at)
{
	for (uint32_t i = 0; i < n->n_children; i++) {
		const struct node *c = n->children[i];
		memcpy(at->path[at->depth++], c->label, sizeof(c->label));
		int r = 0;
		if (c->policy && (r = alb_policy_is_smaller(t->ctx, c->policy, policy)) < 0) {
			char buf[ALB_NAME_STRING_MAX + 1];
			r = alb_error_prefix(t->ctx, r, "the policy of '%s' below does not fit",
					     path_string(at, at->depth, buf, sizeof(buf)));
		}
		if (r == 0)
			r = descendants_fit(t, c, policy, at);
		at->depth--;
		if (r < 0)
			return r;
	}
	return 0;
}

ALB_EXPORT int alb_tree_insert_policy(alb_tree *tree, const alb_name *path,
				      const alb_policy *policy)
{
	if (!tree || !path || !policy)
		return -EINVAL;
	alb_ctx *ctx = tree->ctx;
	char buf[ALB_NAME_STRING_MAX + 1], here[ALB_NAME_STRING_MAX + 1];
	if (!alb_name_is_path(path))
		return alb_error(ctx, EINVAL, "a policy belongs to a path, not to a unikernel");
	path_string(path, path->depth, here, sizeof(here));

	struct node *nodes[ALB_NAME_LABELS_MAX + 1];
	int r = walk(tree, path, false, nodes);
	if (r < 0)
		return r;
	/* Every ancestor's policy, the root's included. */
	for (uint32_t i = 0; i < path->depth; i++) {
		struct node *a = nodes[i];
		if (!a)
			break;
		if (a->policy && (r = alb_policy_is_smaller(ctx, policy, a->policy)) < 0)
			return alb_error_prefix(
			    ctx, r, "policy for '%s' does not fit inside the policy of '%s'", here,
			    path_string(path, i, buf, sizeof(buf)));
	}
	struct node *n = nodes[path->depth];
	if (n) {
		alb_name at = *path;
		if ((r = descendants_fit(tree, n, policy, &at)) < 0)
			return alb_error_prefix(ctx, r, "policy for '%s'", here);
		_cleanup_(alb_policy_freep) alb_policy *usage = NULL;
		if ((r = alb_tree_get_usage(tree, path, &usage)) < 0)
			return r;
		if ((r = alb_policy_is_smaller(ctx, usage, policy)) < 0)
			return alb_error_prefix(
			    ctx, r, "policy for '%s' is smaller than what is in use below it",
			    here);
	}

	alb_policy *copy;
	if ((r = alb_policy_dup(policy, &copy)) < 0)
		return r;
	if ((r = walk(tree, path, true, nodes)) < 0) {
		alb_policy_free(copy);
		prune(tree, path);
		return r;
	}
	n = nodes[path->depth];
	alb_policy_free(n->policy);
	n->policy = copy;
	return 0;
}

ALB_EXPORT int alb_tree_remove_policy(alb_tree *tree, const alb_name *path)
{
	if (!tree || !path || !alb_name_is_path(path))
		return alb_error(tree ? tree->ctx : NULL, EINVAL, "a policy belongs to a path");
	char here[ALB_NAME_STRING_MAX + 1];
	path_string(path, path->depth, here, sizeof(here));
	struct node *n = find(tree, path);
	if (!n || !n->policy)
		return alb_error(tree->ctx, ENOENT, "no policy at '%s'", here);
	if (path->depth == 0)
		return alb_error(tree->ctx, EPERM, "the root policy cannot be removed");
	if (n->sum_unikernels || n->sum_blocks)
		return alb_error(tree->ctx, EBUSY,
				 "'%s' still holds %" PRIu64 " unikernel(s) and %" PRIu64
				 " block device(s): destroy them first",
				 here, n->sum_unikernels, n->sum_blocks);
	n->policy = alb_policy_free(n->policy);
	prune(tree, path);
	return 0;
}

ALB_EXPORT const alb_policy *alb_tree_get_policy(const alb_tree *tree, const alb_name *path)
{
	if (!tree || !path || !alb_name_is_path(path))
		return NULL;
	struct node *n = find(tree, path);
	return n ? n->policy : NULL;
}

/* The path of a unikernel or block name, or an error. */
static int leaf_path(alb_ctx *ctx, const alb_name *name, alb_name *ret_path, const char *what)
{
	if (!name || name->has_label == false)
		return alb_error(ctx, EINVAL, "a %s needs a name with a final label, not a path",
				 what);
	*ret_path = *name;
	ret_path->has_label = false;
	return 0;
}

static struct leaf *leaf_find(struct node *n, bool unikernel, const char *label,
			      uint32_t *ret_index)
{
	if (!n) {
		if (ret_index)
			*ret_index = 0; /* the node will be made: insert first */
		return NULL;
	}
	struct leaf *v = unikernel ? n->unikernels : n->blocks;
	uint32_t count = unikernel ? n->n_unikernels : n->n_blocks;
	bool found;
	uint32_t k = leaf_index(v, count, label, &found);
	if (ret_index)
		*ret_index = k;
	return found ? &v[k] : NULL;
}

ALB_EXPORT int alb_tree_check_unikernel(alb_tree *tree, const alb_name *name,
					const alb_unikernel_config *config)
{
	if (!tree || !config)
		return -EINVAL;
	alb_ctx *ctx = tree->ctx;
	alb_name path;
	int r = leaf_path(ctx, name, &path, "unikernel");
	if (r < 0)
		return r;
	if ((r = alb_unikernel_config_validate(ctx, config)) < 0)
		return r;
	char full[ALB_NAME_STRING_MAX + 1], buf[ALB_NAME_STRING_MAX + 1];
	{
		char *s = alb_name_to_string(name);
		snprintf(full, sizeof(full), "%s", s ? s : "?");
		free(s);
	}
	struct node *nodes[ALB_NAME_LABELS_MAX + 1];
	if ((r = walk(tree, &path, false, nodes)) < 0)
		return r;
	struct leaf *old = leaf_find(nodes[path.depth], true, name->label, NULL);
	uint64_t old_mem = old ? old->config->memory_mb : 0, old_count = old ? 1 : 0;

	for (uint32_t i = 0; i <= path.depth && nodes[i]; i++) {
		const struct node *n = nodes[i];
		const alb_policy *p = n->policy;
		if (!p)
			continue;
		const char *where = path_string(&path, i, buf, sizeof(buf));
		uint64_t count = n->sum_unikernels - old_count + 1;
		uint64_t mem = n->sum_memory_mb - old_mem + config->memory_mb;
		if (count > p->unikernels)
			return alb_error(ctx, EDQUOT,
					 "creating '%s' exceeds the policy of '%s': %" PRIu64
					 " unikernels exceed %u",
					 full, where, count, p->unikernels);
		if (mem > p->memory_mb)
			return alb_error(ctx, EDQUOT,
					 "creating '%s' exceeds the policy of '%s': memory %" PRIu64
					 " MB (%" PRIu64 " in use + %" PRIu64
					 " requested) exceeds %" PRIu64 " MB",
					 full, where, mem, n->sum_memory_mb - old_mem,
					 config->memory_mb, p->memory_mb);
		for (uint32_t k = 0; k < config->n_cpuids; k++)
			if (!alb_u32set_has(p->cpuids, p->n_cpuids, config->cpuids[k]))
				return alb_error(
				    ctx, EDQUOT,
				    "creating '%s' exceeds the policy of '%s': cpuid %u "
				    "is not allowed",
				    full, where, config->cpuids[k]);
		for (uint32_t k = 0; k < config->n_nets; k++)
			if (!alb_strset_has(p->bridges, p->n_bridges, config->nets[k].bridge))
				return alb_error(ctx, EDQUOT,
						 "creating '%s' exceeds the policy of '%s': bridge "
						 "'%s' is not allowed",
						 full, where, config->nets[k].bridge);
		if (config->n_blocks && !p->has_block)
			return alb_error(ctx, EDQUOT,
					 "creating '%s' exceeds the policy of '%s': block devices "
					 "are not allowed (block none)",
					 full, where);
	}
	return 0;
}

/* Adds (sign > 0) or subtracts a unikernel's or block's resources along nodes. */
static void sums_update(struct node **nodes, uint32_t depth, int sign, uint64_t unikernels,
			uint64_t memory, uint64_t blocks, uint64_t block_mb)
{
	for (uint32_t i = 0; i <= depth; i++) {
		struct node *n = nodes[i];
		if (sign > 0) {
			n->sum_unikernels += unikernels;
			n->sum_memory_mb += memory;
			n->sum_blocks += blocks;
			n->sum_block_mb += block_mb;
		} else {
			n->sum_unikernels -= unikernels;
			n->sum_memory_mb -= memory;
			n->sum_blocks -= blocks;
			n->sum_block_mb -= block_mb;
		}
	}
}

static int leaf_insert(struct node *n, bool unikernel, const char *label, uint32_t k,
		       alb_unikernel_config *config, uint64_t size_mb)
{
	struct leaf **v = unikernel ? &n->unikernels : &n->blocks;
	uint32_t *count = unikernel ? &n->n_unikernels : &n->n_blocks;
	struct leaf *nv = realloc(*v, (*count + 1) * sizeof(**v));
	if (!nv)
		return -ENOMEM;
	memmove(nv + k + 1, nv + k, (*count - k) * sizeof(*nv));
	memset(&nv[k], 0, sizeof(nv[k]));
	snprintf(nv[k].label, sizeof(nv[k].label), "%s", label);
	nv[k].config = config;
	nv[k].size_mb = size_mb;
	*v = nv;
	(*count)++;
	return 0;
}

static void leaf_remove(struct node *n, bool unikernel, uint32_t k)
{
	struct leaf *v = unikernel ? n->unikernels : n->blocks;
	uint32_t *count = unikernel ? &n->n_unikernels : &n->n_blocks;
	alb_unikernel_config_free(v[k].config);
	memmove(v + k, v + k + 1, (*count - k - 1) * sizeof(*v));
	(*count)--;
}

static int unikernel_put(alb_tree *tree, const alb_name *name, const alb_unikernel_config *config,
			 bool replace)
{
	alb_name path;
	int r = leaf_path(tree->ctx, name, &path, "unikernel");
	if (r < 0)
		return r;
	struct node *nodes[ALB_NAME_LABELS_MAX + 1];
	walk(tree, &path, false, nodes);
	uint32_t k;
	struct leaf *old = leaf_find(nodes[path.depth], true, name->label, &k);
	char *s = alb_name_to_string(name);
	if (old && !replace)
		r = alb_error(tree->ctx, EEXIST, "unikernel '%s' exists", s ? s : "?");
	else if (!old && replace)
		r = alb_error(tree->ctx, ENOENT, "no unikernel '%s'", s ? s : "?");
	free(s);
	if (r < 0)
		return r;
	if ((r = alb_tree_check_unikernel(tree, name, config)) < 0)
		return r;

	_cleanup_(alb_unikernel_config_freep) alb_unikernel_config *copy = NULL;
	if ((r = alb_unikernel_config_dup(config, &copy)) < 0)
		return r;
	if (old) {
		sums_update(nodes, path.depth, -1, 1, old->config->memory_mb, 0, 0);
		alb_unikernel_config_free(old->config);
		old->config = TAKE_PTR(copy);
		sums_update(nodes, path.depth, +1, 1, config->memory_mb, 0, 0);
		return 0;
	}
	if ((r = walk(tree, &path, true, nodes)) < 0 ||
	    (r = leaf_insert(nodes[path.depth], true, name->label, k, copy, 0)) < 0) {
		prune(tree, &path);
		return r;
	}
	TAKE_PTR(copy);
	sums_update(nodes, path.depth, +1, 1, config->memory_mb, 0, 0);
	return 0;
}

ALB_EXPORT int alb_tree_insert_unikernel(alb_tree *tree, const alb_name *name,
					 const alb_unikernel_config *config)
{
	if (!tree || !config)
		return -EINVAL;
	return unikernel_put(tree, name, config, false);
}

ALB_EXPORT int alb_tree_replace_unikernel(alb_tree *tree, const alb_name *name,
					  const alb_unikernel_config *config)
{
	if (!tree || !config)
		return -EINVAL;
	return unikernel_put(tree, name, config, true);
}

static int leaf_delete(alb_tree *tree, const alb_name *name, bool unikernel)
{
	alb_name path;
	int r = leaf_path(tree->ctx, name, &path, unikernel ? "unikernel" : "block device");
	if (r < 0)
		return r;
	struct node *nodes[ALB_NAME_LABELS_MAX + 1];
	walk(tree, &path, false, nodes);
	uint32_t k;
	struct leaf *l = leaf_find(nodes[path.depth], unikernel, name->label, &k);
	if (!l) {
		_cleanup_free_ char *s = alb_name_to_string(name);
		return alb_error(tree->ctx, ENOENT, "no %s '%s'",
				 unikernel ? "unikernel" : "block device", s ? s : "?");
	}
	if (unikernel)
		sums_update(nodes, path.depth, -1, 1, l->config->memory_mb, 0, 0);
	else
		sums_update(nodes, path.depth, -1, 0, 0, 1, l->size_mb);
	leaf_remove(nodes[path.depth], unikernel, k);
	prune(tree, &path);
	return 0;
}

ALB_EXPORT int alb_tree_remove_unikernel(alb_tree *tree, const alb_name *name)
{
	if (!tree)
		return -EINVAL;
	return leaf_delete(tree, name, true);
}

ALB_EXPORT const alb_unikernel_config *alb_tree_get_unikernel(const alb_tree *tree,
							      const alb_name *name)
{
	if (!tree || !name || !name->has_label)
		return NULL;
	alb_name path = *name;
	path.has_label = false;
	struct leaf *l = leaf_find(find(tree, &path), true, name->label, NULL);
	return l ? l->config : NULL;
}

ALB_EXPORT int alb_tree_insert_block(alb_tree *tree, const alb_name *name, uint64_t size_mb)
{
	if (!tree)
		return -EINVAL;
	alb_ctx *ctx = tree->ctx;
	alb_name path;
	int r = leaf_path(ctx, name, &path, "block device");
	if (r < 0)
		return r;
	_cleanup_free_ char *full = alb_name_to_string(name);
	if (!full)
		return -ENOMEM;
	if (size_mb == 0 || size_mb > ALB_POLICY_MB_MAX)
		return alb_error(ctx, EINVAL,
				 "size of block device '%s' is out of range 1..%" PRIu64 " MB",
				 full, ALB_POLICY_MB_MAX);
	struct node *nodes[ALB_NAME_LABELS_MAX + 1];
	walk(tree, &path, false, nodes);
	uint32_t k;
	if (leaf_find(nodes[path.depth], false, name->label, &k))
		return alb_error(ctx, EEXIST, "block device '%s' exists", full);
	char buf[ALB_NAME_STRING_MAX + 1];
	for (uint32_t i = 0; i <= path.depth && nodes[i]; i++) {
		const alb_policy *p = nodes[i]->policy;
		if (!p)
			continue;
		const char *where = path_string(&path, i, buf, sizeof(buf));
		if (!p->has_block)
			return alb_error(ctx, EDQUOT,
					 "creating block device '%s' exceeds the policy of '%s': "
					 "block devices are not allowed (block none)",
					 full, where);
		uint64_t sum = nodes[i]->sum_block_mb + size_mb;
		if (sum > p->block_mb)
			return alb_error(ctx, EDQUOT,
					 "creating block device '%s' exceeds the policy of '%s': "
					 "block %" PRIu64 " MB (%" PRIu64 " in use + %" PRIu64
					 " requested) exceeds %" PRIu64 " MB",
					 full, where, sum, nodes[i]->sum_block_mb, size_mb,
					 p->block_mb);
	}
	if ((r = walk(tree, &path, true, nodes)) < 0 ||
	    (r = leaf_insert(nodes[path.depth], false, name->label, k, NULL, size_mb)) < 0) {
		prune(tree, &path);
		return r;
	}
	sums_update(nodes, path.depth, +1, 0, 0, 1, size_mb);
	return 0;
}

ALB_EXPORT int alb_tree_remove_block(alb_tree *tree, const alb_name *name)
{
	if (!tree)
		return -EINVAL;
	return leaf_delete(tree, name, false);
}

ALB_EXPORT int alb_tree_get_block(const alb_tree *tree, const alb_name *name, uint64_t *ret_size_mb)
{
	if (!tree || !name || !ret_size_mb || !name->has_label)
		return -EINVAL;
	alb_name path = *name;
	path.has_label = false;
	struct leaf *l = leaf_find(find(tree, &path), false, name->label, NULL);
	if (!l)
		return -ENOENT;
	*ret_size_mb = l->size_mb;
	return 0;
}

struct visit {
	const alb_tree *tree;
	const alb_name *base;
	int kinds;
	alb_tree_visit_fn fn;
	void *userdata;
};

static int visit_one(struct visit *v, const alb_name *full, int kind)
{
	alb_name rel;
	/* full is below base by construction: build the relative name without allocating. */
	memset(&rel, 0, sizeof(rel));
	for (uint32_t i = v->base->depth; i < full->depth; i++)
		memcpy(rel.path[rel.depth++], full->path[i], sizeof(rel.path[0]));
	rel.has_label = full->has_label;
	memcpy(rel.label, full->label, sizeof(rel.label));
	return v->fn(full, &rel, kind, v->userdata);
}

static int visit_node(struct visit *v, const struct node *n, alb_name *at)
{
	int r;
	if ((v->kinds & ALB_TREE_POLICY) && n->policy && (r = visit_one(v, at, ALB_TREE_POLICY)))
		return r;
	alb_name leaf = *at;
	leaf.has_label = true;
	if (v->kinds & ALB_TREE_UNIKERNEL)
		for (uint32_t i = 0; i < n->n_unikernels; i++) {
			memcpy(leaf.label, n->unikernels[i].label, sizeof(leaf.label));
			if ((r = visit_one(v, &leaf, ALB_TREE_UNIKERNEL)))
				return r;
		}
	if (v->kinds & ALB_TREE_BLOCK)
		for (uint32_t i = 0; i < n->n_blocks; i++) {
			memcpy(leaf.label, n->blocks[i].label, sizeof(leaf.label));
			if ((r = visit_one(v, &leaf, ALB_TREE_BLOCK)))
				return r;
		}
	for (uint32_t i = 0; i < n->n_children; i++) {
		memcpy(at->path[at->depth++], n->children[i]->label, sizeof(at->path[0]));
		r = visit_node(v, n->children[i], at);
		at->depth--;
		at->path[at->depth][0] = '\0';
		if (r)
			return r;
	}
	return 0;
}

ALB_EXPORT int alb_tree_foreach(const alb_tree *tree, const alb_name *path, int kinds,
				alb_tree_visit_fn visit, void *userdata)
{
	if (!tree || !path || !visit || !alb_name_is_path(path))
		return alb_error(tree ? tree->ctx : NULL, EINVAL, "iteration needs a path");
	struct node *n = find(tree, path);
	if (!n)
		return 0;
	struct visit v = {tree, path, kinds, visit, userdata};
	alb_name at = *path;
	return visit_node(&v, n, &at);
}
