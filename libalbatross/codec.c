/* SPDX-License-Identifier: ISC */
/* CBOR codecs of policies, unikernel configurations and names (docs/protocol.md). */
#include "cbor-private.h"
#include "ctx-private.h"
#include "inet-private.h"

static const char *const tender_names[] = {
    [ALB_TENDER_HVT] = "hvt",
    [ALB_TENDER_SPT] = "spt",
};

static const char *const fail_names[] = {
    [ALB_FAIL_QUIT] = "quit",
    [ALB_FAIL_RESTART] = "restart",
    [ALB_FAIL_RESTART_ON] = "restart-on",
};

static const char *enum_name(const char *const *names, size_t n, int value)
{
	return value >= 0 && (size_t)value < n ? names[value] : NULL;
}

cbor_item_t *alb_name_to_cbor(const alb_name *name)
{
	if (!name)
		return cbor_new_null();

	_cleanup_free_ char *s = alb_name_to_string(name);
	return s ? cbor_build_string(s) : NULL;
}

int alb_name_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *field, alb_name **ret)
{
	_cleanup_free_ char *s = NULL;
	int r;

	r = alb_cbor_get_text(ctx, item, field, ALB_NAME_STRING_MAX, &s);
	if (r < 0)
		return r;
	return alb_cbor_field_error(ctx, alb_name_parse(ctx, s, ret), field);
}

cbor_item_t *alb_policy_to_cbor(const alb_policy *policy)
{
	if (!policy)
		return cbor_new_null();

	/* ports and prefixes only when set: a policy without them encodes as before, and
	 * peers, state files and certificates of older versions read it. */
	_cleanup_(cbor_decref_ptrp) cbor_item_t *map = cbor_new_definite_map(7);
	if (!alb_cbor_put(map, "unikernels", alb_cbor_uint(policy->unikernels)) ||
	    !alb_cbor_put(map, "memory", alb_cbor_uint(policy->memory_mb)) ||
	    (policy->has_block && !alb_cbor_put(map, "block", alb_cbor_uint(policy->block_mb))) ||
	    !alb_cbor_put(map, "cpuids", alb_cbor_u32_array(policy->cpuids, policy->n_cpuids)) ||
	    !alb_cbor_put(map, "bridges", alb_cbor_strv(policy->bridges, policy->n_bridges)))
		return NULL;
	if (policy->has_ports) {
		uint32_t range[2] = {policy->port_first, policy->port_last};
		if (!alb_cbor_put(map, "ports", alb_cbor_u32_array(range, 2)))
			return NULL;
	}
	if (policy->n_prefixes) {
		_cleanup_(cbor_decref_ptrp) cbor_item_t *array =
		    cbor_new_definite_array(policy->n_prefixes);
		for (uint32_t i = 0; i < policy->n_prefixes; i++) {
			cbor_item_t *pair = cbor_new_definite_map(2);
			if (!alb_cbor_push(array, pair) ||
			    !alb_cbor_put(pair, "bridge",
					  alb_cbor_text(policy->prefixes[i].bridge)) ||
			    !alb_cbor_put(pair, "prefix", alb_cbor_text(policy->prefixes[i].text)))
				return NULL;
		}
		if (!alb_cbor_put(map, "prefixes", TAKE_PTR(array)))
			return NULL;
	}
	return TAKE_PTR(map);
}

/* "ports": [first, last], 1 <= first <= last <= 65535. */
static int ports_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *field,
			   alb_policy *policy)
{
	char p[ALB_CBOR_PATH_MAX];
	uint32_t first, last;
	size_t n;
	int r;

	if ((r = alb_cbor_get_array(ctx, item, field, 2, &n)) < 0)
		return r;
	if (n != 2)
		return alb_error(ctx, EBADMSG, "%s: expected [first, last]", field);
	if ((r = alb_cbor_get_u32(ctx, cbor_array_handle(item)[0], alb_cbor_path_index(p, field, 0),
				  1, 65535, &first)) < 0 ||
	    (r = alb_cbor_get_u32(ctx, cbor_array_handle(item)[1], alb_cbor_path_index(p, field, 1),
				  1, 65535, &last)) < 0)
		return r;
	if (first > last)
		return alb_error(ctx, EBADMSG, "%s: the first port %u is above the last %u", field,
				 first, last);
	return alb_policy_set_ports(policy, first, last);
}

/* "prefixes": [{bridge, prefix}], strictly ascending (bridge bytewise, address, length);
 * each bridge one of the policy's (decoded before). */
static int prefixes_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *field,
			      alb_policy *policy)
{
	size_t n;
	int r;

	if ((r = alb_cbor_get_array(ctx, item, field, ALB_POLICY_PREFIXES_MAX, &n)) < 0)
		return r;
	if (n == 0)
		return alb_error(ctx, EBADMSG, "%s: none is written by leaving the key out", field);
	for (size_t i = 0; i < n; i++) {
		struct alb_cbor_key k[] = {{"bridge"}, {"prefix"}};
		_cleanup_free_ char *bridge = NULL, *prefix = NULL;
		char p[ALB_CBOR_PATH_MAX];

		alb_cbor_path_index(p, field, i);
		if ((r = alb_cbor_map_keys(ctx, cbor_array_handle(item)[i], p, k, ELEMENTSOF(k))) <
			0 ||
		    (r = alb_cbor_get_text(ctx, k[0].value, k[0].path, ALB_BRIDGE_NAME_MAX,
					   &bridge)) < 0 ||
		    (r = alb_cbor_get_text(ctx, k[1].value, k[1].path, ALB_PREFIX_STRING_MAX - 1,
					   &prefix)) < 0)
			return r;
		uint32_t before = policy->n_prefixes;
		r = alb_policy_add_prefix_ctx(ctx, policy, bridge, prefix);
		if (r < 0)
			return alb_cbor_field_error(ctx, r, p);
		/* Added last, or the set was not strictly ascending. */
		if (policy->n_prefixes != before + 1 ||
		    !streq(policy->prefixes[before].bridge, bridge) ||
		    !streq(policy->prefixes[before].text, prefix))
			return alb_error(ctx, EBADMSG,
					 "%s: %s=%s does not sort after the previous pair (sets "
					 "are strictly ascending: bridge, address, length)",
					 p, bridge, prefix);
	}
	return 0;
}

int alb_policy_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *field, alb_policy **ret)
{
	struct alb_cbor_key k[] = {
	    {"unikernels"}, {"memory"},	     {"block", true},	 {"cpuids"},
	    {"bridges"},    {"ports", true}, {"prefixes", true},
	};
	_cleanup_(alb_policy_freep) alb_policy *policy = NULL;
	_cleanup_free_ uint32_t *cpuids = NULL;
	_cleanup_strv_free_ char **bridges = NULL;
	uint32_t n_cpuids, n_bridges;
	int r;

	r = alb_cbor_map_keys(ctx, item, field, k, ELEMENTSOF(k));
	if (r < 0)
		return r;
	r = alb_policy_new(&policy);
	if (r < 0)
		return r;
	if ((r = alb_cbor_get_u32(ctx, k[0].value, k[0].path, 0, ALB_POLICY_UNIKERNELS_MAX,
				  &policy->unikernels)) < 0 ||
	    (r = alb_cbor_get_u64(ctx, k[1].value, k[1].path, 0, ALB_POLICY_MB_MAX,
				  &policy->memory_mb)) < 0)
		return r;
	if (k[2].value) {
		r = alb_cbor_get_u64(ctx, k[2].value, k[2].path, 0, ALB_POLICY_MB_MAX,
				     &policy->block_mb);
		if (r < 0)
			return r;
		policy->has_block = true;
	}

	r = alb_cbor_get_u32_set(ctx, k[3].value, k[3].path, ALB_CPUIDS_MAX, ALB_CPUID_LIMIT - 1,
				 &cpuids, &n_cpuids);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < n_cpuids; i++)
		if ((r = alb_policy_add_cpuid(policy, cpuids[i])) < 0)
			return r;

	r = alb_cbor_get_strv(ctx, k[4].value, k[4].path, ALB_BRIDGES_MAX, ALB_BRIDGE_NAME_MAX,
			      &bridges, &n_bridges);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < n_bridges; i++) {
		char p[ALB_CBOR_PATH_MAX];
		alb_cbor_path_index(p, k[4].path, i);
		r = alb_bridge_name_validate(ctx, bridges[i]);
		if (r < 0)
			return alb_cbor_field_error(ctx, r, p);
		if (i > 0 && strcmp(bridges[i - 1], bridges[i]) >= 0)
			return alb_error(ctx, EBADMSG,
					 "%s: '%s' does not sort after '%s' (sets are strictly "
					 "ascending)",
					 p, bridges[i], bridges[i - 1]);
		if ((r = alb_policy_add_bridge(policy, bridges[i])) < 0)
			return r;
	}
	if (k[5].value && (r = ports_from_cbor(ctx, k[5].value, k[5].path, policy)) < 0)
		return r;
	if (k[6].value && (r = prefixes_from_cbor(ctx, k[6].value, k[6].path, policy)) < 0)
		return r;
	*ret = TAKE_PTR(policy);
	return 0;
}

static cbor_item_t *blocks_to_cbor(const alb_unikernel_config *config)
{
	_cleanup_(cbor_decref_ptrp) cbor_item_t *array = cbor_new_definite_array(config->n_blocks);

	for (uint32_t i = 0; i < config->n_blocks; i++) {
		const struct alb_block_device *b = &config->blocks[i];
		cbor_item_t *map = cbor_new_definite_map(3);
		if (!alb_cbor_push(array, map) ||
		    !alb_cbor_put(map, "name", alb_cbor_text(b->name)) ||
		    !alb_cbor_put(map, "host", alb_cbor_text(b->host)) ||
		    (b->sector_size != 0 &&
		     !alb_cbor_put(map, "sector-size", alb_cbor_uint(b->sector_size))))
			return NULL;
	}
	return TAKE_PTR(array);
}

static cbor_item_t *nets_to_cbor(const alb_unikernel_config *config)
{
	_cleanup_(cbor_decref_ptrp) cbor_item_t *array = cbor_new_definite_array(config->n_nets);

	for (uint32_t i = 0; i < config->n_nets; i++) {
		const struct alb_net_device *n = &config->nets[i];
		cbor_item_t *map = cbor_new_definite_map(3);
		if (!alb_cbor_push(array, map) ||
		    !alb_cbor_put(map, "name", alb_cbor_text(n->name)) ||
		    !alb_cbor_put(map, "bridge", alb_cbor_text(n->bridge)) ||
		    (n->has_mac && !alb_cbor_put(map, "mac", alb_cbor_bytes(n->mac, 6))))
			return NULL;
	}
	return TAKE_PTR(array);
}

cbor_item_t *alb_config_to_cbor(const alb_unikernel_config *config)
{
	if (!config)
		return cbor_new_null();

	_cleanup_(cbor_decref_ptrp) cbor_item_t *map = cbor_new_definite_map(13);
	if (!alb_cbor_put(
		map, "tender",
		alb_cbor_text(enum_name(tender_names, ELEMENTSOF(tender_names), config->tender))) ||
	    !alb_cbor_put(map, "memory", alb_cbor_uint(config->memory_mb)) ||
	    !alb_cbor_put(map, "cpuids", alb_cbor_u32_array(config->cpuids, config->n_cpuids)) ||
	    !alb_cbor_put(
		map, "fail-behaviour",
		alb_cbor_text(enum_name(fail_names, ELEMENTSOF(fail_names), config->fail))) ||
	    !alb_cbor_put(map, "exit-codes",
			  alb_cbor_u32_array(config->exit_codes, config->n_exit_codes)) ||
	    !alb_cbor_put(map, "startup", alb_cbor_uint(config->startup)) ||
	    !alb_cbor_put(map, "image-size", alb_cbor_uint(config->image_size)) ||
	    !alb_cbor_put(map, "compressed", alb_cbor_bool(config->compressed)) ||
	    (config->has_digest &&
	     !alb_cbor_put(map, "digest", alb_cbor_bytes(config->digest, 32))) ||
	    !alb_cbor_put(map, "blocks", blocks_to_cbor(config)) ||
	    !alb_cbor_put(map, "nets", nets_to_cbor(config)) ||
	    !alb_cbor_put(map, "arguments", alb_cbor_strv(config->argv, config->argc)))
		return NULL;
	return TAKE_PTR(map);
}

static int blocks_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *field,
			    alb_unikernel_config *config)
{
	size_t n;
	int r;

	r = alb_cbor_get_array(ctx, item, field, ALB_DEVICES_MAX, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct alb_cbor_key k[] = {{"name"}, {"host"}, {"sector-size", true}};
		_cleanup_free_ char *name = NULL, *host = NULL;
		uint32_t sector_size = 0;
		char p[ALB_CBOR_PATH_MAX];

		alb_cbor_path_index(p, field, i);
		if ((r = alb_cbor_map_keys(ctx, cbor_array_handle(item)[i], p, k, ELEMENTSOF(k))) <
			0 ||
		    (r = alb_cbor_get_text(ctx, k[0].value, k[0].path, ALB_DEVICE_NAME_MAX,
					   &name)) < 0 ||
		    (r = alb_cbor_get_text(ctx, k[1].value, k[1].path, ALB_LABEL_MAX, &host)) < 0)
			return r;
		if (k[2].value &&
		    (r = alb_cbor_get_sector_size(ctx, k[2].value, k[2].path, &sector_size)) < 0)
			return r;
		r = alb_unikernel_config_add_block(config, name, host, sector_size);
		if (r < 0)
			return alb_cbor_field_error(ctx, r, p);
	}
	return 0;
}

static int nets_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *field,
			  alb_unikernel_config *config)
{
	size_t n;
	int r;

	r = alb_cbor_get_array(ctx, item, field, ALB_DEVICES_MAX, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct alb_cbor_key k[] = {{"name"}, {"bridge"}, {"mac", true}};
		_cleanup_free_ char *name = NULL, *bridge = NULL;
		uint8_t mac[6];
		char p[ALB_CBOR_PATH_MAX];

		alb_cbor_path_index(p, field, i);
		if ((r = alb_cbor_map_keys(ctx, cbor_array_handle(item)[i], p, k, ELEMENTSOF(k))) <
			0 ||
		    (r = alb_cbor_get_text(ctx, k[0].value, k[0].path, ALB_DEVICE_NAME_MAX,
					   &name)) < 0 ||
		    (r = alb_cbor_get_text(ctx, k[1].value, k[1].path, ALB_BRIDGE_NAME_MAX,
					   &bridge)) < 0)
			return r;
		if (k[2].value) {
			r = alb_cbor_get_bytes_fixed(ctx, k[2].value, k[2].path, mac, sizeof(mac));
			if (r < 0)
				return r;
			if (mac[0] & 1)
				return alb_error(ctx, EBADMSG, "%s: a multicast address",
						 k[2].path);
		}
		r = alb_unikernel_config_add_net(config, name, bridge, k[2].value ? mac : NULL);
		if (r < 0)
			return alb_cbor_field_error(ctx, r, p);
	}
	return 0;
}

int alb_config_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *field,
			 alb_unikernel_config **ret)
{
	struct alb_cbor_key k[] = {
	    {"tender"},	      {"memory"},  {"cpuids"},	   {"fail-behaviour"},
	    {"exit-codes"},   {"startup"}, {"image-size"}, {"compressed"},
	    {"digest", true}, {"blocks"},  {"nets"},	   {"arguments"},
	};
	_cleanup_(alb_unikernel_config_freep) alb_unikernel_config *config = NULL;
	_cleanup_free_ uint32_t *cpuids = NULL, *exit_codes = NULL;
	_cleanup_strv_free_ char **argv = NULL;
	uint32_t n_cpuids, n_exit_codes, argc;
	int r;

	r = alb_cbor_map_keys(ctx, item, field, k, ELEMENTSOF(k));
	if (r < 0)
		return r;
	r = alb_unikernel_config_new(ctx, &config);
	if (r < 0)
		return r;

	if ((r = alb_cbor_get_enum(ctx, k[0].value, k[0].path, tender_names,
				   ELEMENTSOF(tender_names), &config->tender)) < 0 ||
	    (r = alb_cbor_get_u64(ctx, k[1].value, k[1].path, 1, ALB_UNIKERNEL_MEMORY_MAX,
				  &config->memory_mb)) < 0 ||
	    (r = alb_cbor_get_u32_set(ctx, k[2].value, k[2].path, ALB_CPUIDS_MAX,
				      ALB_CPUID_LIMIT - 1, &cpuids, &n_cpuids)) < 0 ||
	    (r = alb_cbor_get_enum(ctx, k[3].value, k[3].path, fail_names, ELEMENTSOF(fail_names),
				   &config->fail)) < 0 ||
	    (r = alb_cbor_get_u32_set(ctx, k[4].value, k[4].path, 256, 255, &exit_codes,
				      &n_exit_codes)) < 0 ||
	    (r = alb_cbor_get_u32(ctx, k[5].value, k[5].path, 0, ALB_STARTUP_MAX,
				  &config->startup)) < 0 ||
	    (r = alb_cbor_get_u64(ctx, k[6].value, k[6].path, 0, ALB_IMAGE_SIZE_MAX,
				  &config->image_size)) < 0 ||
	    (r = alb_cbor_get_bool(ctx, k[7].value, k[7].path, &config->compressed)) < 0)
		return r;
	if (k[8].value) {
		r = alb_cbor_get_bytes_fixed(ctx, k[8].value, k[8].path, config->digest, 32);
		if (r < 0)
			return r;
		config->has_digest = true;
	}
	for (uint32_t i = 0; i < n_cpuids; i++)
		if ((r = alb_unikernel_config_add_cpuid(config, cpuids[i])) < 0)
			return r;
	for (uint32_t i = 0; i < n_exit_codes; i++)
		if ((r = alb_unikernel_config_add_exit_code(config, exit_codes[i])) < 0)
			return r;
	if ((r = blocks_from_cbor(ctx, k[9].value, k[9].path, config)) < 0 ||
	    (r = nets_from_cbor(ctx, k[10].value, k[10].path, config)) < 0 ||
	    (r = alb_cbor_get_strv(ctx, k[11].value, k[11].path, ALB_ARGS_MAX, ALB_ARGS_LENGTH_MAX,
				   &argv, &argc)) < 0)
		return r;
	for (uint32_t i = 0; i < argc; i++) {
		r = alb_unikernel_config_add_argument(config, argv[i]);
		if (r < 0)
			return alb_cbor_field_error(ctx, r, k[11].path);
	}
	*ret = TAKE_PTR(config);
	return 0;
}
