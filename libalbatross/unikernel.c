/* SPDX-License-Identifier: ISC */
#include <inttypes.h>
#include <stdio.h>

#include <albatross/name.h>

#include "ctx-private.h"
#include "policy-private.h"
#include "unikernel-private.h"

ALB_EXPORT int alb_unikernel_config_new(alb_ctx *ctx, alb_unikernel_config **ret_config)
{
	if (!ret_config)
		return -EINVAL;
	alb_unikernel_config *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->argv = calloc(1, sizeof(char *));
	if (!c->argv) {
		free(c);
		return -ENOMEM;
	}
	c->ctx = alb_ctx_ref(ctx);
	c->tender = ALB_TENDER_HVT;
	c->memory_mb = 32;
	c->fail = ALB_FAIL_QUIT;
	c->startup = 50;
	*ret_config = c;
	return 0;
}

static void devices_free(alb_unikernel_config *c)
{
	for (uint32_t i = 0; i < c->n_blocks; i++) {
		free(c->blocks[i].name);
		free(c->blocks[i].host);
	}
	free(c->blocks);
	for (uint32_t i = 0; i < c->n_nets; i++) {
		free(c->nets[i].name);
		free(c->nets[i].bridge);
	}
	free(c->nets);
}

ALB_EXPORT alb_unikernel_config *alb_unikernel_config_free(alb_unikernel_config *config)
{
	if (!config)
		return NULL;
	free(config->cpuids);
	free(config->exit_codes);
	devices_free(config);
	alb_strv_free(config->argv);
	alb_ctx_unref(config->ctx);
	free(config);
	return NULL;
}

ALB_EXPORT int alb_unikernel_config_dup(const alb_unikernel_config *config,
					alb_unikernel_config **ret_config)
{
	if (!config || !ret_config)
		return -EINVAL;
	_cleanup_(alb_unikernel_config_freep) alb_unikernel_config *c = NULL;
	int r = alb_unikernel_config_new(config->ctx, &c);
	if (r < 0)
		return r;
	c->tender = config->tender;
	c->memory_mb = config->memory_mb;
	c->fail = config->fail;
	c->startup = config->startup;
	c->image_size = config->image_size;
	c->compressed = config->compressed;
	c->has_digest = config->has_digest;
	memcpy(c->digest, config->digest, sizeof(c->digest));
	for (uint32_t i = 0; i < config->n_cpuids; i++)
		if ((r = alb_unikernel_config_add_cpuid(c, config->cpuids[i])) < 0)
			return r;
	for (uint32_t i = 0; i < config->n_exit_codes; i++)
		if ((r = alb_unikernel_config_add_exit_code(c, config->exit_codes[i])) < 0)
			return r;
	for (uint32_t i = 0; i < config->n_blocks; i++) {
		const struct alb_block_device *b = &config->blocks[i];
		if ((r = alb_unikernel_config_add_block(c, b->name, b->host, b->sector_size)) < 0)
			return r;
	}
	for (uint32_t i = 0; i < config->n_nets; i++) {
		const struct alb_net_device *n = &config->nets[i];
		r = alb_unikernel_config_add_net(c, n->name, n->bridge, n->has_mac ? n->mac : NULL);
		if (r < 0)
			return r;
	}
	for (uint32_t i = 0; i < config->argc; i++)
		if ((r = alb_unikernel_config_add_argument(c, config->argv[i])) < 0)
			return r;
	*ret_config = TAKE_PTR(c);
	return 0;
}

ALB_EXPORT int alb_unikernel_config_equal(const alb_unikernel_config *a,
					  const alb_unikernel_config *b)
{
	if (!a || !b)
		return 0;
	if (a->tender != b->tender || a->memory_mb != b->memory_mb || a->fail != b->fail ||
	    a->startup != b->startup || a->image_size != b->image_size ||
	    a->compressed != b->compressed || a->has_digest != b->has_digest ||
	    (a->has_digest && memcmp(a->digest, b->digest, 32) != 0) ||
	    a->n_cpuids != b->n_cpuids || a->n_exit_codes != b->n_exit_codes ||
	    a->n_blocks != b->n_blocks || a->n_nets != b->n_nets || a->argc != b->argc)
		return 0;
	if (a->n_cpuids && memcmp(a->cpuids, b->cpuids, a->n_cpuids * sizeof(uint32_t)))
		return 0;
	if (a->n_exit_codes &&
	    memcmp(a->exit_codes, b->exit_codes, a->n_exit_codes * sizeof(uint32_t)))
		return 0;
	for (uint32_t i = 0; i < a->n_blocks; i++)
		if (!streq(a->blocks[i].name, b->blocks[i].name) ||
		    !streq(a->blocks[i].host, b->blocks[i].host) ||
		    a->blocks[i].sector_size != b->blocks[i].sector_size)
			return 0;
	for (uint32_t i = 0; i < a->n_nets; i++)
		if (!streq(a->nets[i].name, b->nets[i].name) ||
		    !streq(a->nets[i].bridge, b->nets[i].bridge) ||
		    a->nets[i].has_mac != b->nets[i].has_mac ||
		    (a->nets[i].has_mac && memcmp(a->nets[i].mac, b->nets[i].mac, 6)))
			return 0;
	for (uint32_t i = 0; i < a->argc; i++)
		if (!streq(a->argv[i], b->argv[i]))
			return 0;
	return 1;
}

ALB_EXPORT int alb_unikernel_config_set_tender(alb_unikernel_config *config, int tender)
{
	if (!config)
		return -EINVAL;
	if (tender != ALB_TENDER_HVT && tender != ALB_TENDER_SPT)
		return alb_error(config->ctx, EINVAL, "unknown tender %d", tender);
	config->tender = tender;
	return 0;
}

ALB_EXPORT int alb_unikernel_config_get_tender(const alb_unikernel_config *config)
{
	return config ? config->tender : -EINVAL;
}

ALB_EXPORT int alb_unikernel_config_set_memory(alb_unikernel_config *config, uint64_t mb)
{
	if (!config)
		return -EINVAL;
	if (mb < 1 || mb > ALB_UNIKERNEL_MEMORY_MAX)
		return alb_error(config->ctx, ERANGE,
				 "memory %" PRIu64 " MB is out of range 1..%" PRIu64, mb,
				 ALB_UNIKERNEL_MEMORY_MAX);
	config->memory_mb = mb;
	return 0;
}

ALB_EXPORT uint64_t alb_unikernel_config_get_memory(const alb_unikernel_config *config)
{
	return config ? config->memory_mb : 0;
}

ALB_EXPORT int alb_unikernel_config_add_cpuid(alb_unikernel_config *config, uint32_t cpuid)
{
	if (!config)
		return -EINVAL;
	if (cpuid >= ALB_CPUID_LIMIT)
		return alb_error(config->ctx, ERANGE, "cpuid %u is out of range 0..%u", cpuid,
				 ALB_CPUID_LIMIT - 1);
	int r = alb_u32set_add(&config->cpuids, &config->n_cpuids, cpuid, ALB_CPUIDS_MAX);
	if (r == -E2BIG)
		return alb_error(config->ctx, E2BIG, "more than %u cpuids", ALB_CPUIDS_MAX);
	return r < 0 ? r : 0;
}

ALB_EXPORT uint32_t alb_unikernel_config_get_cpuid_count(const alb_unikernel_config *config)
{
	return config ? config->n_cpuids : 0;
}

ALB_EXPORT uint32_t alb_unikernel_config_get_cpuid(const alb_unikernel_config *config,
						   uint32_t index)
{
	if (!config || index >= config->n_cpuids)
		return UINT32_MAX;
	return config->cpuids[index];
}

ALB_EXPORT int alb_unikernel_config_set_fail_behaviour(alb_unikernel_config *config, int behaviour)
{
	if (!config)
		return -EINVAL;
	if (behaviour != ALB_FAIL_QUIT && behaviour != ALB_FAIL_RESTART &&
	    behaviour != ALB_FAIL_RESTART_ON)
		return alb_error(config->ctx, EINVAL, "unknown fail behaviour %d", behaviour);
	config->fail = behaviour;
	return 0;
}

ALB_EXPORT int alb_unikernel_config_get_fail_behaviour(const alb_unikernel_config *config)
{
	return config ? config->fail : -EINVAL;
}

ALB_EXPORT int alb_unikernel_config_add_exit_code(alb_unikernel_config *config, uint32_t code)
{
	if (!config)
		return -EINVAL;
	if (code > 255)
		return alb_error(config->ctx, ERANGE, "exit code %u is out of range 0..255", code);
	int r = alb_u32set_add(&config->exit_codes, &config->n_exit_codes, code, 256);
	return r < 0 ? r : 0;
}

ALB_EXPORT uint32_t alb_unikernel_config_get_exit_code_count(const alb_unikernel_config *config)
{
	return config ? config->n_exit_codes : 0;
}

ALB_EXPORT uint32_t alb_unikernel_config_get_exit_code(const alb_unikernel_config *config,
						       uint32_t index)
{
	if (!config || index >= config->n_exit_codes)
		return UINT32_MAX;
	return config->exit_codes[index];
}

ALB_EXPORT int alb_unikernel_config_set_startup(alb_unikernel_config *config, uint32_t priority)
{
	if (!config)
		return -EINVAL;
	if (priority > ALB_STARTUP_MAX)
		return alb_error(config->ctx, ERANGE, "startup priority %u is out of range 0..%u",
				 priority, ALB_STARTUP_MAX);
	config->startup = priority;
	return 0;
}

ALB_EXPORT uint32_t alb_unikernel_config_get_startup(const alb_unikernel_config *config)
{
	return config ? config->startup : 0;
}

ALB_EXPORT int alb_unikernel_config_set_image(alb_unikernel_config *config, uint64_t size,
					      int compressed)
{
	if (!config)
		return -EINVAL;
	if (size > ALB_IMAGE_SIZE_MAX)
		return alb_error(config->ctx, ERANGE,
				 "image size %" PRIu64 " is larger than %" PRIu64 " bytes", size,
				 ALB_IMAGE_SIZE_MAX);
	config->image_size = size;
	config->compressed = compressed != 0;
	return 0;
}

ALB_EXPORT uint64_t alb_unikernel_config_get_image_size(const alb_unikernel_config *config)
{
	return config ? config->image_size : 0;
}

ALB_EXPORT int alb_unikernel_config_get_image_compressed(const alb_unikernel_config *config)
{
	return config && config->compressed;
}

ALB_EXPORT int alb_unikernel_config_set_digest(alb_unikernel_config *config,
					       const uint8_t digest[32])
{
	if (!config || !digest)
		return -EINVAL;
	memcpy(config->digest, digest, 32);
	config->has_digest = true;
	return 0;
}

ALB_EXPORT int alb_unikernel_config_get_digest(const alb_unikernel_config *config,
					       uint8_t ret_digest[32])
{
	if (!config || !ret_digest)
		return -EINVAL;
	if (!config->has_digest)
		return -ENOENT;
	memcpy(ret_digest, config->digest, 32);
	return 0;
}

ALB_EXPORT int alb_device_name_validate(alb_ctx *ctx, const char *name)
{
	if (!name)
		return alb_error(ctx, EINVAL, "no device name");
	size_t len = strnlen(name, ALB_DEVICE_NAME_MAX + 1);
	if (len == 0)
		return alb_error(ctx, EINVAL, "empty device name");
	if (len > ALB_DEVICE_NAME_MAX)
		return alb_error(ctx, EINVAL, "device name '%.16s...' is longer than %u characters",
				 name, ALB_DEVICE_NAME_MAX);
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return alb_error(ctx, EINVAL,
					 "device name has an invalid byte 0x%02x at position %zu "
					 "(allowed: a-z, A-Z, 0-9, '_')",
					 (unsigned char)c, i + 1);
	}
	return 0;
}

/* Checks that a device name is valid and not yet used, and that one more device fits. */
static int device_name_check(alb_unikernel_config *c, const char *name)
{
	int r = alb_device_name_validate(c->ctx, name);
	if (r < 0)
		return r;
	if (c->n_blocks + c->n_nets >= ALB_DEVICES_MAX)
		return alb_error(c->ctx, E2BIG, "more than %u devices", ALB_DEVICES_MAX);
	for (uint32_t i = 0; i < c->n_blocks; i++)
		if (streq(c->blocks[i].name, name))
			return alb_error(c->ctx, EEXIST, "device name '%s' is used twice", name);
	for (uint32_t i = 0; i < c->n_nets; i++)
		if (streq(c->nets[i].name, name))
			return alb_error(c->ctx, EEXIST, "device name '%s' is used twice", name);
	return 0;
}

ALB_EXPORT int alb_unikernel_config_add_block(alb_unikernel_config *config, const char *name,
					      const char *host, uint32_t sector_size)
{
	if (!config)
		return -EINVAL;
	int r = device_name_check(config, name);
	if (r < 0)
		return r;
	if (!host)
		host = name;
	r = alb_label_validate(config->ctx, host);
	if (r < 0)
		return alb_error_prefix(config->ctx, r, "block device '%s'", name);
	if (sector_size != 0 && (sector_size < 512 || sector_size > ALB_SECTOR_SIZE_MAX ||
				 (sector_size & (sector_size - 1)) != 0))
		return alb_error(config->ctx, EINVAL,
				 "sector size %u of block device '%s' is not a power of two from "
				 "512 to %u",
				 sector_size, name, ALB_SECTOR_SIZE_MAX);
	struct alb_block_device *b =
	    realloc(config->blocks, (config->n_blocks + 1) * sizeof(*config->blocks));
	if (!b)
		return -ENOMEM;
	config->blocks = b;
	b = &config->blocks[config->n_blocks];
	b->name = strdup(name);
	b->host = strdup(host);
	if (!b->name || !b->host) {
		free(b->name);
		free(b->host);
		return -ENOMEM;
	}
	/* Host block devices are labels, stored lowercase like every label. */
	for (char *p = b->host; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	b->sector_size = sector_size;
	config->n_blocks++;
	return 0;
}

ALB_EXPORT uint32_t alb_unikernel_config_get_block_count(const alb_unikernel_config *config)
{
	return config ? config->n_blocks : 0;
}

ALB_EXPORT const char *alb_unikernel_config_get_block_name(const alb_unikernel_config *config,
							   uint32_t index)
{
	return config && index < config->n_blocks ? config->blocks[index].name : NULL;
}

ALB_EXPORT const char *alb_unikernel_config_get_block_host(const alb_unikernel_config *config,
							   uint32_t index)
{
	return config && index < config->n_blocks ? config->blocks[index].host : NULL;
}

ALB_EXPORT uint32_t alb_unikernel_config_get_block_sector_size(const alb_unikernel_config *config,
							       uint32_t index)
{
	return config && index < config->n_blocks ? config->blocks[index].sector_size : 0;
}

ALB_EXPORT int alb_unikernel_config_add_net(alb_unikernel_config *config, const char *name,
					    const char *bridge, const uint8_t *mac)
{
	if (!config)
		return -EINVAL;
	int r = device_name_check(config, name);
	if (r < 0)
		return r;
	r = alb_bridge_name_validate(config->ctx, bridge);
	if (r < 0)
		return alb_error_prefix(config->ctx, r, "network device '%s'", name);
	if (mac && (mac[0] & 1))
		return alb_error(config->ctx, EINVAL,
				 "MAC address of network device '%s' is a multicast address", name);
	struct alb_net_device *n =
	    realloc(config->nets, (config->n_nets + 1) * sizeof(*config->nets));
	if (!n)
		return -ENOMEM;
	config->nets = n;
	n = &config->nets[config->n_nets];
	n->name = strdup(name);
	n->bridge = strdup(bridge);
	if (!n->name || !n->bridge) {
		free(n->name);
		free(n->bridge);
		return -ENOMEM;
	}
	n->has_mac = mac != NULL;
	if (mac)
		memcpy(n->mac, mac, 6);
	else
		memset(n->mac, 0, 6);
	config->n_nets++;
	return 0;
}

ALB_EXPORT uint32_t alb_unikernel_config_get_net_count(const alb_unikernel_config *config)
{
	return config ? config->n_nets : 0;
}

ALB_EXPORT const char *alb_unikernel_config_get_net_name(const alb_unikernel_config *config,
							 uint32_t index)
{
	return config && index < config->n_nets ? config->nets[index].name : NULL;
}

ALB_EXPORT const char *alb_unikernel_config_get_net_bridge(const alb_unikernel_config *config,
							   uint32_t index)
{
	return config && index < config->n_nets ? config->nets[index].bridge : NULL;
}

ALB_EXPORT int alb_unikernel_config_get_net_mac(const alb_unikernel_config *config, uint32_t index,
						uint8_t ret_mac[6])
{
	if (!config || !ret_mac || index >= config->n_nets)
		return -EINVAL;
	if (!config->nets[index].has_mac)
		return -ENOENT;
	memcpy(ret_mac, config->nets[index].mac, 6);
	return 0;
}

size_t alb_unikernel_config_args_length(const alb_unikernel_config *config)
{
	size_t len = 0;
	for (uint32_t i = 0; i < config->argc; i++)
		len += strlen(config->argv[i]) + (i ? 1 : 0);
	return len;
}

ALB_EXPORT int alb_unikernel_config_add_argument(alb_unikernel_config *config, const char *argument)
{
	if (!config || !argument)
		return -EINVAL;
	size_t len = strnlen(argument, ALB_ARGS_LENGTH_MAX + 1);
	if (!alb_utf8_valid(argument, len))
		return alb_error(config->ctx, EINVAL, "argument %u is not valid UTF-8",
				 config->argc + 1);
	if (config->argc >= ALB_ARGS_MAX)
		return alb_error(config->ctx, E2BIG, "more than %u arguments", ALB_ARGS_MAX);
	if (alb_unikernel_config_args_length(config) + (config->argc ? 1 : 0) + len >
	    ALB_ARGS_LENGTH_MAX)
		return alb_error(config->ctx, E2BIG,
				 "the arguments are longer than %u characters in all",
				 ALB_ARGS_LENGTH_MAX);
	char *copy = strdup(argument);
	if (!copy)
		return -ENOMEM;
	char **v = realloc(config->argv, (config->argc + 2) * sizeof(char *));
	if (!v) {
		free(copy);
		return -ENOMEM;
	}
	v[config->argc++] = copy;
	v[config->argc] = NULL;
	config->argv = v;
	return 0;
}

ALB_EXPORT void alb_unikernel_config_clear_arguments(alb_unikernel_config *config)
{
	if (!config)
		return;
	for (uint32_t i = 0; i < config->argc; i++)
		free(config->argv[i]);
	config->argc = 0;
	config->argv[0] = NULL;
}

ALB_EXPORT uint32_t alb_unikernel_config_get_argument_count(const alb_unikernel_config *config)
{
	return config ? config->argc : 0;
}

ALB_EXPORT const char *alb_unikernel_config_get_argument(const alb_unikernel_config *config,
							 uint32_t index)
{
	return config && index < config->argc ? config->argv[index] : NULL;
}

ALB_EXPORT int alb_unikernel_config_validate(alb_ctx *ctx, const alb_unikernel_config *config)
{
	if (!config)
		return alb_error(ctx, EINVAL, "no configuration");
	if (config->n_cpuids == 0)
		return alb_error(ctx, EINVAL, "no CPU to pin the unikernel to");
	if (config->fail == ALB_FAIL_RESTART_ON && config->n_exit_codes == 0)
		return alb_error(ctx, EINVAL, "restart on exit codes, but no exit code given");
	if (config->fail != ALB_FAIL_RESTART_ON && config->n_exit_codes != 0)
		return alb_error(ctx, EINVAL,
				 "exit codes given, but the fail behaviour is not "
				 "'restart on exit codes'");
	return 0;
}

ALB_EXPORT int alb_unikernel_config_should_restart(const alb_unikernel_config *config, int signal,
						   int code)
{
	if (!config || signal != 0 || code == 1 || (code >= 60 && code <= 64))
		return 0;
	if (config->fail == ALB_FAIL_RESTART)
		return 1;
	if (config->fail == ALB_FAIL_RESTART_ON)
		return code >= 0 &&
		       alb_u32set_has(config->exit_codes, config->n_exit_codes, (uint32_t)code);
	return 0;
}
