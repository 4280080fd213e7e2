/* SPDX-License-Identifier: ISC */
#include <inttypes.h>
#include <stdio.h>

#include "ctx-private.h"
#include "inet-private.h"
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
	free(policy->prefixes);
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
	p->prefixes = NULL;
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
	if (policy->n_prefixes) {
		p->prefixes = malloc(policy->n_prefixes * sizeof(*p->prefixes));
		if (!p->prefixes)
			return -ENOMEM;
		memcpy(p->prefixes, policy->prefixes, policy->n_prefixes * sizeof(*p->prefixes));
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
	    a->n_cpuids != b->n_cpuids || a->n_bridges != b->n_bridges ||
	    a->has_ports != b->has_ports || a->port_first != b->port_first ||
	    a->port_last != b->port_last || a->n_prefixes != b->n_prefixes)
		return 0;
	if (a->n_cpuids && memcmp(a->cpuids, b->cpuids, a->n_cpuids * sizeof(uint32_t)) != 0)
		return 0;
	for (uint32_t i = 0; i < a->n_bridges; i++)
		if (!streq(a->bridges[i], b->bridges[i]))
			return 0;
	for (uint32_t i = 0; i < a->n_prefixes; i++)
		if (!streq(a->prefixes[i].bridge, b->prefixes[i].bridge) ||
		    a->prefixes[i].addr != b->prefixes[i].addr ||
		    a->prefixes[i].len != b->prefixes[i].len)
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

ALB_EXPORT int alb_policy_set_ports(alb_policy *policy, uint32_t first, uint32_t last)
{
	if (!policy)
		return -EINVAL;
	if (first < 1 || first > last || last > 65535)
		return -ERANGE;
	policy->has_ports = true;
	policy->port_first = first;
	policy->port_last = last;
	return 0;
}

ALB_EXPORT int alb_policy_get_ports(const alb_policy *policy, uint32_t *ret_first,
				    uint32_t *ret_last)
{
	if (!policy || !policy->has_ports)
		return 0;
	if (ret_first)
		*ret_first = policy->port_first;
	if (ret_last)
		*ret_last = policy->port_last;
	return 1;
}

ALB_EXPORT int alb_policy_allows_port(const alb_policy *policy, uint32_t port)
{
	return policy && policy->has_ports && port >= policy->port_first &&
	       port <= policy->port_last;
}

/* Orders pairs by bridge (bytewise), then address, then length. */
static int prefix_cmp(const struct alb_policy_prefix *a, const struct alb_policy_prefix *b)
{
	int c = strcmp(a->bridge, b->bridge);
	if (c != 0)
		return c;
	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return 0;
}

int alb_policy_add_prefix_ctx(alb_ctx *ctx, alb_policy *policy, const char *bridge,
			      const char *prefix)
{
	struct alb_policy_prefix np = {0};
	int r;

	if (!policy)
		return alb_error(ctx, EINVAL, "no policy");
	if ((r = alb_bridge_name_validate(ctx, bridge)) < 0)
		return r;
	if (!alb_strset_has(policy->bridges, policy->n_bridges, bridge))
		return alb_error(ctx, EINVAL,
				 "prefix %.18s: bridge '%s' is not one of the policy's bridges",
				 prefix ? prefix : "?", bridge);
	if (!prefix || alb_prefix_parse(prefix, &np.addr, &np.len) < 0 ||
	    np.len < ALB_POLICY_PREFIX_LEN_MIN || np.len > ALB_POLICY_PREFIX_LEN_MAX)
		return alb_error(ctx, EINVAL,
				 "invalid prefix '%.32s' (expected A.B.C.D/N, N %u to %u, the "
				 "host bits zero)",
				 prefix ? prefix : "", ALB_POLICY_PREFIX_LEN_MIN,
				 ALB_POLICY_PREFIX_LEN_MAX);
	memcpy(np.bridge, bridge, strlen(bridge) + 1);
	alb_prefix_format(np.addr, np.len, np.text);

	uint32_t k = 0;
	while (k < policy->n_prefixes && prefix_cmp(&policy->prefixes[k], &np) < 0)
		k++;
	if (k < policy->n_prefixes && prefix_cmp(&policy->prefixes[k], &np) == 0)
		return 0;
	if (policy->n_prefixes >= ALB_POLICY_PREFIXES_MAX)
		return alb_error(ctx, E2BIG, "more than %u prefixes", ALB_POLICY_PREFIXES_MAX);
	struct alb_policy_prefix *v =
	    realloc(policy->prefixes, (policy->n_prefixes + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	policy->prefixes = v;
	memmove(v + k + 1, v + k, (policy->n_prefixes - k) * sizeof(*v));
	v[k] = np;
	policy->n_prefixes++;
	return 0;
}

ALB_EXPORT int alb_policy_add_prefix(alb_policy *policy, const char *bridge, const char *prefix)
{
	return alb_policy_add_prefix_ctx(NULL, policy, bridge, prefix);
}

ALB_EXPORT uint32_t alb_policy_get_prefix_count(const alb_policy *policy)
{
	return policy ? policy->n_prefixes : 0;
}

ALB_EXPORT const char *alb_policy_get_prefix_bridge(const alb_policy *policy, uint32_t index)
{
	if (!policy || index >= policy->n_prefixes)
		return NULL;
	return policy->prefixes[index].bridge;
}

ALB_EXPORT const char *alb_policy_get_prefix(const alb_policy *policy, uint32_t index)
{
	if (!policy || index >= policy->n_prefixes)
		return NULL;
	return policy->prefixes[index].text;
}

/* 1 if addr/len on bridge lies inside one of the policy's prefixes of that bridge. */
static bool prefix_inside(const alb_policy *policy, const char *bridge, uint32_t addr, uint32_t len)
{
	for (uint32_t i = 0; i < policy->n_prefixes; i++) {
		const struct alb_policy_prefix *p = &policy->prefixes[i];
		if (streq(p->bridge, bridge) && alb_prefix_contains(p->addr, p->len, addr, len))
			return true;
	}
	return false;
}

ALB_EXPORT int alb_policy_allows_prefix(const alb_policy *policy, const char *bridge,
					const char *prefix)
{
	uint32_t addr, len;

	if (!policy || !bridge || !prefix || alb_prefix_parse(prefix, &addr, &len) < 0)
		return 0;
	return prefix_inside(policy, bridge, addr, len);
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
	if (inner->has_ports && !outer->has_ports)
		return alb_error(ctx, EDQUOT, "ports %u-%u exceed none", inner->port_first,
				 inner->port_last);
	if (inner->has_ports &&
	    (inner->port_first < outer->port_first || inner->port_last > outer->port_last))
		return alb_error(ctx, EDQUOT, "ports %u-%u exceed %u-%u", inner->port_first,
				 inner->port_last, outer->port_first, outer->port_last);
	for (uint32_t i = 0; i < inner->n_prefixes; i++) {
		const struct alb_policy_prefix *p = &inner->prefixes[i];
		if (!prefix_inside(outer, p->bridge, p->addr, p->len))
			return alb_error(ctx, EDQUOT, "prefix %s on bridge '%s' is not allowed",
					 p->text, p->bridge);
	}
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
	/* Only when set: the string of a policy without them is as it always was. */
	if (policy->has_ports)
		fprintf(f, ", ports %u-%u", policy->port_first, policy->port_last);
	if (policy->n_prefixes)
		fputs(", prefixes", f);
	for (uint32_t i = 0; i < policy->n_prefixes; i++)
		fprintf(f, " %s=%s", policy->prefixes[i].bridge, policy->prefixes[i].text);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
