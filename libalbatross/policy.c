/* SPDX-License-Identifier: ISC */
#include <inttypes.h>
#include <stdio.h>

#include "ctx-private.h"
#include "policy-private.h"

ALB_EXPORT int alb_policy_new(alb_policy **ret_policy)
{
	if (!ret_policy)
		return -EINVAL;
	alb_policy *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	*ret_policy = p;
	return 0;
}

ALB_EXPORT alb_policy *alb_policy_free(alb_policy *policy)
{
	if (!policy)
		return NULL;
	free(policy->cpuids);
	alb_strv_free(policy->bridges);
	free(policy);
	return NULL;
}

ALB_EXPORT int alb_policy_dup(const alb_policy *policy, alb_policy **ret_policy)
{
	if (!policy || !ret_policy)
		return -EINVAL;
	_cleanup_(alb_policy_freep) alb_policy *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = *policy;
	p->cpuids = NULL;
	p->bridges = NULL;
	if (policy->n_cpuids) {
		p->cpuids = malloc(policy->n_cpuids * sizeof(uint32_t));
		if (!p->cpuids)
			return -ENOMEM;
		memcpy(p->cpuids, policy->cpuids, policy->n_cpuids * sizeof(uint32_t));
	}
	if (policy->n_bridges) {
		p->bridges = alb_strv_dup(policy->bridges, policy->n_bridges);
		if (!p->bridges)
			return -ENOMEM;
	}
	*ret_policy = TAKE_PTR(p);
	return 0;
}

ALB_EXPORT int alb_policy_equal(const alb_policy *a, const alb_policy *b)
{
	if (!a || !b)
		return 0;
	if (a->unikernels != b->unikernels || a->memory_mb != b->memory_mb ||
	    a->has_block != b->has_block || a->block_mb != b->block_mb ||
	    a->n_cpuids != b->n_cpuids || a->n_bridges != b->n_bridges)
		return 0;
	if (a->n_cpuids && memcmp(a->cpuids, b->cpuids, a->n_cpuids * sizeof(uint32_t)) != 0)
		return 0;
	for (uint32_t i = 0; i < a->n_bridges; i++)
		if (!streq(a->bridges[i], b->bridges[i]))
			return 0;
	return 1;
}

ALB_EXPORT int alb_policy_set_unikernels(alb_policy *policy, uint32_t count)
{
	if (!policy)
		return -EINVAL;
	if (count > ALB_POLICY_UNIKERNELS_MAX)
		return -ERANGE;
	policy->unikernels = count;
	return 0;
}

ALB_EXPORT uint32_t alb_policy_get_unikernels(const alb_policy *policy)
{
	return policy ? policy->unikernels : 0;
}

ALB_EXPORT int alb_policy_set_memory(alb_policy *policy, uint64_t mb)
{
	if (!policy)
		return -EINVAL;
	if (mb > ALB_POLICY_MB_MAX)
		return -ERANGE;
	policy->memory_mb = mb;
	return 0;
}

ALB_EXPORT uint64_t alb_policy_get_memory(const alb_policy *policy)
{
	return policy ? policy->memory_mb : 0;
}

ALB_EXPORT int alb_policy_set_block(alb_policy *policy, uint64_t mb)
{
	if (!policy)
		return -EINVAL;
	if (mb > ALB_POLICY_MB_MAX)
		return -ERANGE;
	policy->has_block = true;
	policy->block_mb = mb;
	return 0;
}

ALB_EXPORT void alb_policy_set_block_none(alb_policy *policy)
{
	if (!policy)
		return;
	policy->has_block = false;
	policy->block_mb = 0;
}

ALB_EXPORT int alb_policy_has_block(const alb_policy *policy)
{
	return policy && policy->has_block;
}

ALB_EXPORT uint64_t alb_policy_get_block(const alb_policy *policy)
{
	return policy && policy->has_block ? policy->block_mb : 0;
}

ALB_EXPORT int alb_policy_add_cpuid(alb_policy *policy, uint32_t cpuid)
{
	if (!policy)
		return -EINVAL;
	if (cpuid >= ALB_CPUID_LIMIT)
		return -ERANGE;
	int r = alb_u32set_add(&policy->cpuids, &policy->n_cpuids, cpuid, ALB_CPUIDS_MAX);
	return r < 0 ? r : 0;
}

ALB_EXPORT uint32_t alb_policy_get_cpuid_count(const alb_policy *policy)
{
	return policy ? policy->n_cpuids : 0;
}

ALB_EXPORT uint32_t alb_policy_get_cpuid(const alb_policy *policy, uint32_t index)
{
	if (!policy || index >= policy->n_cpuids)
		return UINT32_MAX;
	return policy->cpuids[index];
}

ALB_EXPORT int alb_policy_has_cpuid(const alb_policy *policy, uint32_t cpuid)
{
	return policy && alb_u32set_has(policy->cpuids, policy->n_cpuids, cpuid);
}

ALB_EXPORT int alb_bridge_name_validate(alb_ctx *ctx, const char *bridge)
{
	if (!bridge)
		return alb_error(ctx, EINVAL, "no bridge name");
	size_t len = strnlen(bridge, ALB_BRIDGE_NAME_MAX + 1);
	if (len == 0)
		return alb_error(ctx, EINVAL, "empty bridge name");
	if (len > ALB_BRIDGE_NAME_MAX)
		return alb_error(ctx, EINVAL, "bridge name '%.15s...' is longer than %u characters",
				 bridge, ALB_BRIDGE_NAME_MAX);
	if (streq(bridge, ".") || streq(bridge, ".."))
		return alb_error(ctx, EINVAL, "bridge name '%s' is not allowed", bridge);
	for (size_t i = 0; i < len; i++) {
		char c = bridge[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return alb_error(ctx, EINVAL,
					 "bridge name has an invalid byte 0x%02x at position %zu "
					 "(allowed: a-z, A-Z, 0-9, '_', '.', '-')",
					 (unsigned char)c, i + 1);
	}
	return 0;
}

ALB_EXPORT int alb_policy_add_bridge(alb_policy *policy, const char *bridge)
{
	if (!policy)
		return -EINVAL;
	int r = alb_bridge_name_validate(NULL, bridge);
	if (r < 0)
		return r;
	r = alb_strset_add(&policy->bridges, &policy->n_bridges, bridge, ALB_BRIDGES_MAX);
	return r < 0 ? r : 0;
}

ALB_EXPORT uint32_t alb_policy_get_bridge_count(const alb_policy *policy)
{
	return policy ? policy->n_bridges : 0;
}

ALB_EXPORT const char *alb_policy_get_bridge(const alb_policy *policy, uint32_t index)
{
	if (!policy || index >= policy->n_bridges)
		return NULL;
	return policy->bridges[index];
}

ALB_EXPORT int alb_policy_has_bridge(const alb_policy *policy, const char *bridge)
{
	return policy && bridge && alb_strset_has(policy->bridges, policy->n_bridges, bridge);
}

ALB_EXPORT int alb_policy_is_smaller(alb_ctx *ctx, const alb_policy *inner, const alb_policy *outer)
{
	if (!inner || !outer)
		return alb_error(ctx, EINVAL, "no policy");
	if (inner->unikernels > outer->unikernels)
		return alb_error(ctx, EDQUOT, "unikernels %u exceeds %u", inner->unikernels,
				 outer->unikernels);
	if (inner->memory_mb > outer->memory_mb)
		return alb_error(ctx, EDQUOT, "memory %" PRIu64 " MB exceeds %" PRIu64 " MB",
				 inner->memory_mb, outer->memory_mb);
	if (inner->has_block && !outer->has_block)
		return alb_error(ctx, EDQUOT, "block %" PRIu64 " MB exceeds none", inner->block_mb);
	if (inner->has_block && inner->block_mb > outer->block_mb)
		return alb_error(ctx, EDQUOT, "block %" PRIu64 " MB exceeds %" PRIu64 " MB",
				 inner->block_mb, outer->block_mb);
	for (uint32_t i = 0; i < inner->n_cpuids; i++)
		if (!alb_u32set_has(outer->cpuids, outer->n_cpuids, inner->cpuids[i]))
			return alb_error(ctx, EDQUOT, "cpuid %u is not allowed", inner->cpuids[i]);
	for (uint32_t i = 0; i < inner->n_bridges; i++)
		if (!alb_strset_has(outer->bridges, outer->n_bridges, inner->bridges[i]))
			return alb_error(ctx, EDQUOT, "bridge '%s' is not allowed",
					 inner->bridges[i]);
	return 0;
}

ALB_EXPORT char *alb_policy_to_string(const alb_policy *policy)
{
	if (!policy)
		return NULL;
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	if (!f)
		return NULL;
	fprintf(f, "unikernels %u, memory %" PRIu64 " MB, ", policy->unikernels, policy->memory_mb);
	if (policy->has_block)
		fprintf(f, "block %" PRIu64 " MB", policy->block_mb);
	else
		fputs("block none", f);
	fputs(", cpuids", f);
	for (uint32_t i = 0; i < policy->n_cpuids; i++)
		fprintf(f, " %u", policy->cpuids[i]);
	if (!policy->n_cpuids)
		fputs(" none", f);
	fputs(", bridges", f);
	for (uint32_t i = 0; i < policy->n_bridges; i++)
		fprintf(f, " %s", policy->bridges[i]);
	if (!policy->n_bridges)
		fputs(" none", f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
