/* SPDX-License-Identifier: ISC */
/* The CBOR form of services: see svcwire-private.h and docs/protocol.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx-private.h"
#include "inet-private.h"
#include "name-private.h"
#include "svcwire-private.h"
#include "unikernel-private.h"

static const char *const ready_names[] = {
    [ALB_READY_NONE] = "none", [ALB_READY_LINE] = "line",   [ALB_READY_TCP] = "tcp",
    [ALB_READY_UDP] = "udp",   [ALB_READY_DELAY] = "delay",
};
static const char *const state_names[] = {
    [ALB_INSTANCE_STARTING] = "starting",
    [ALB_INSTANCE_PUBLISHED] = "published",
    [ALB_INSTANCE_DRAINING] = "draining",
};

const char *alb_proto_name(uint32_t proto)
{
	return proto == 6 ? "tcp" : proto == 17 ? "udp" : NULL;
}

static cbor_item_t *addr_to_cbor(uint32_t addr)
{
	char buf[ALB_IPV4_STRING_MAX];
	return alb_cbor_text(alb_ipv4_format(addr, buf));
}

static int addr_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path, uint32_t *ret)
{
	_cleanup_free_ char *s = NULL;
	int r = alb_cbor_get_text(ctx, item, path, ALB_IPV4_STRING_MAX, &s);
	if (r < 0)
		return r;
	if (alb_ipv4_parse(s, ret) < 0)
		return alb_error(ctx, EBADMSG, "%s: not an IPv4 address: '%s'", path, s);
	return 0;
}

static cbor_item_t *prefix_to_cbor(uint32_t addr, uint32_t len)
{
	char buf[20];
	alb_prefix_format(addr, len, buf);
	return alb_cbor_text(buf);
}

static int prefix_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path,
			    uint32_t *ret_addr, uint32_t *ret_len)
{
	_cleanup_free_ char *s = NULL;
	int r = alb_cbor_get_text(ctx, item, path, ALB_IPV4_STRING_MAX + 3, &s);
	if (r < 0)
		return r;
	/* Strict: one spelling per prefix (the host bits are the validation's). */
	char *slash = strchr(s, '/');
	const char *n = slash ? slash + 1 : "";
	size_t digits = strspn(n, "0123456789");
	unsigned long len = digits ? strtoul(n, NULL, 10) : 0;
	if (!slash || !digits || digits != strlen(n) || digits > 2 || n[0] == '0' || len > 32)
		return alb_error(ctx, EBADMSG, "%s: not an IPv4 prefix A.B.C.D/N: '%s'", path, s);
	*slash = 0;
	if (alb_ipv4_parse(s, ret_addr) < 0)
		return alb_error(ctx, EBADMSG, "%s: not an IPv4 prefix A.B.C.D/N", path);
	*ret_len = (uint32_t)len;
	return 0;
}

static void *memdup(const void *p, size_t n)
{
	void *d = malloc(n);
	return d ? memcpy(d, p, n) : NULL;
}

ALB_EXPORT struct alb_service_spec *alb_service_spec_free(struct alb_service_spec *spec)
{
	if (!spec)
		return NULL;
	free(spec->device);
	free(spec->bridge);
	free(spec->excluded);
	free(spec->publish);
	free(spec->ready_line);
	free(spec);
	return NULL;
}

int alb_service_spec_dup(const struct alb_service_spec *spec, struct alb_service_spec **ret)
{
	_cleanup_(alb_service_spec_freep) struct alb_service_spec *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	*d = *spec;
	d->device = d->bridge = d->ready_line = NULL;
	d->excluded = NULL;
	d->publish = NULL;
	if ((spec->device && !(d->device = strdup(spec->device))) ||
	    (spec->bridge && !(d->bridge = strdup(spec->bridge))) ||
	    (spec->ready_line && !(d->ready_line = strdup(spec->ready_line))))
		return -ENOMEM;
	if (spec->n_excluded &&
	    !(d->excluded = memdup(spec->excluded, spec->n_excluded * sizeof(uint32_t))))
		return -ENOMEM;
	if (spec->n_publish &&
	    !(d->publish = memdup(spec->publish, spec->n_publish * sizeof(*spec->publish))))
		return -ENOMEM;
	*ret = TAKE_PTR(d);
	return 0;
}

ALB_EXPORT int alb_service_spec_validate(alb_ctx *ctx, const struct alb_service_spec *s)
{
	char p[20];
	alb_prefix_format(s->prefix, s->prefix_len & 63, p);
	if (!s->device || alb_device_name_validate(ctx, s->device) < 0)
		return alb_error(ctx, EINVAL, "invalid net device name for the service's address");
	if (!s->bridge || alb_bridge_name_validate(ctx, s->bridge) < 0)
		return -EINVAL;
	if (s->prefix_len < 8 || s->prefix_len > 30)
		return alb_error(ctx, EINVAL, "prefix %s: its length must be 8 to 30", p);
	uint32_t mask = alb_prefix_mask(s->prefix_len);
	if (s->prefix & ~mask)
		return alb_error(ctx, EINVAL, "prefix %s has host bits set", p);
	if (s->gateway && ((s->gateway & mask) != s->prefix || s->gateway == s->prefix ||
			   s->gateway == (s->prefix | ~mask)))
		return alb_error(ctx, EINVAL, "the gateway is not a host address of %s", p);
	if (s->n_excluded > ALB_SERVICE_EXCLUDE_MAX)
		return alb_error(ctx, E2BIG, "more than %u excluded addresses",
				 ALB_SERVICE_EXCLUDE_MAX);
	for (uint32_t i = 0; i < s->n_excluded; i++)
		if ((s->excluded[i] & mask) != s->prefix) {
			char b[ALB_IPV4_STRING_MAX];
			return alb_error(ctx, EINVAL, "excluded address %s is not in %s",
					 alb_ipv4_format(s->excluded[i], b), p);
		}
	if (s->n_publish > ALB_SERVICE_PUBLISH_MAX)
		return alb_error(ctx, E2BIG, "more than %u published ports",
				 ALB_SERVICE_PUBLISH_MAX);
	for (uint32_t i = 0; i < s->n_publish; i++) {
		const struct alb_publish *pb = &s->publish[i];
		if (!alb_proto_name(pb->proto) || pb->host_port < 1 || pb->host_port > 65535 ||
		    pb->port < 1 || pb->port > 65535)
			return alb_error(ctx, EINVAL, "published port %u: invalid", i + 1);
		for (uint32_t j = 0; j < i; j++)
			if (s->publish[j].proto == pb->proto &&
			    s->publish[j].host_port == pb->host_port &&
			    (!s->publish[j].host_addr || !pb->host_addr ||
			     s->publish[j].host_addr == pb->host_addr))
				return alb_error(ctx, EINVAL, "host port %u/%s is published twice",
						 pb->host_port, alb_proto_name(pb->proto));
	}
	bool line = s->ready == ALB_READY_LINE,
	     port = s->ready == ALB_READY_TCP || s->ready == ALB_READY_UDP;
	if (s->ready < ALB_READY_NONE || s->ready > ALB_READY_DELAY)
		return alb_error(ctx, EINVAL, "unknown readiness rule");
	if (line != !!s->ready_line ||
	    (line && (!s->ready_line[0] || strlen(s->ready_line) > ALB_READY_LINE_MAX ||
		      strpbrk(s->ready_line, "\r\n"))))
		return alb_error(ctx, EINVAL,
				 "the readiness line must be 1 to %u bytes of one line",
				 ALB_READY_LINE_MAX);
	if (port != (s->ready_port != 0) || s->ready_port > 65535)
		return alb_error(ctx, EINVAL, "the readiness port must be 1 to 65535");
	if ((s->ready == ALB_READY_DELAY) != (s->ready_delay_ms != 0) ||
	    s->ready_delay_ms > ALB_SERVICE_MS_MAX)
		return alb_error(ctx, EINVAL, "the readiness delay must be 1 ms to a day");
	if (s->ready == ALB_READY_DELAY && s->ready_delay_ms >= s->ready_timeout_ms)
		return alb_error(ctx, EINVAL,
				 "the readiness delay (%" PRIu64 " ms) must be shorter than the "
				 "readiness timeout (%" PRIu64 " ms)",
				 s->ready_delay_ms, s->ready_timeout_ms);
	if (s->ready_timeout_ms < 1 || s->ready_timeout_ms > ALB_SERVICE_MS_MAX ||
	    s->drain_ms > ALB_SERVICE_MS_MAX)
		return alb_error(ctx, EINVAL,
				 "the readiness timeout (1 ms to a day) or the drain "
				 "time (up to a day) is out of range");
	return 0;
}

static cbor_item_t *publish_to_cbor(const struct alb_publish *p)
{
	_cleanup_(cbor_decref_ptrp) cbor_item_t *map = cbor_new_definite_map(4);
	if (!alb_cbor_put(map, "proto", alb_cbor_text(alb_proto_name(p->proto))) ||
	    (p->host_addr && !alb_cbor_put(map, "host-address", addr_to_cbor(p->host_addr))) ||
	    !alb_cbor_put(map, "host-port", alb_cbor_uint(p->host_port)) ||
	    !alb_cbor_put(map, "port", alb_cbor_uint(p->port)))
		return NULL;
	return TAKE_PTR(map);
}

cbor_item_t *alb_service_spec_to_cbor(const struct alb_service_spec *s)
{
	if (!s)
		return cbor_new_null();
	_cleanup_(cbor_decref_ptrp) cbor_item_t *map = cbor_new_definite_map(12);
	_cleanup_(cbor_decref_ptrp) cbor_item_t *ex = cbor_new_definite_array(s->n_excluded);
	_cleanup_(cbor_decref_ptrp) cbor_item_t *pub = cbor_new_definite_array(s->n_publish);
	if (!map || !ex || !pub)
		return NULL;
	for (uint32_t i = 0; i < s->n_excluded; i++)
		if (!alb_cbor_push(ex, addr_to_cbor(s->excluded[i])))
			return NULL;
	for (uint32_t i = 0; i < s->n_publish; i++)
		if (!alb_cbor_push(pub, publish_to_cbor(&s->publish[i])))
			return NULL;
	const char *ready =
	    s->ready >= 0 && s->ready <= ALB_READY_DELAY ? ready_names[s->ready] : NULL;
	if (!alb_cbor_put(map, "device", alb_cbor_text(s->device)) ||
	    !alb_cbor_put(map, "bridge", alb_cbor_text(s->bridge)) ||
	    !alb_cbor_put(map, "prefix", prefix_to_cbor(s->prefix, s->prefix_len)) ||
	    (s->gateway && !alb_cbor_put(map, "gateway", addr_to_cbor(s->gateway))) ||
	    !alb_cbor_put(map, "exclude", TAKE_PTR(ex)) ||
	    !alb_cbor_put(map, "publish", TAKE_PTR(pub)) ||
	    !alb_cbor_put(map, "ready", alb_cbor_text(ready)) ||
	    (s->ready_line && !alb_cbor_put(map, "ready-line", alb_cbor_text(s->ready_line))) ||
	    (s->ready_port && !alb_cbor_put(map, "ready-port", alb_cbor_uint(s->ready_port))) ||
	    (s->ready_delay_ms &&
	     !alb_cbor_put(map, "ready-delay", alb_cbor_uint(s->ready_delay_ms))) ||
	    !alb_cbor_put(map, "ready-timeout", alb_cbor_uint(s->ready_timeout_ms)) ||
	    !alb_cbor_put(map, "drain", alb_cbor_uint(s->drain_ms)))
		return NULL;
	return TAKE_PTR(map);
}

static int publish_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path,
			     struct alb_publish *p)
{
	static const char *const protos[] = {[6] = "tcp", [17] = "udp"};
	struct alb_cbor_key k[] = {{"proto"}, {"host-address", true}, {"host-port"}, {"port"}};
	int proto, r;
	if ((r = alb_cbor_map_keys(ctx, item, path, k, ELEMENTSOF(k))) < 0 ||
	    (r = alb_cbor_get_enum(ctx, k[0].value, k[0].path, protos, ELEMENTSOF(protos),
				   &proto)) < 0 ||
	    (k[1].value && (r = addr_from_cbor(ctx, k[1].value, k[1].path, &p->host_addr)) < 0) ||
	    (r = alb_cbor_get_u32(ctx, k[2].value, k[2].path, 1, 65535, &p->host_port)) < 0 ||
	    (r = alb_cbor_get_u32(ctx, k[3].value, k[3].path, 1, 65535, &p->port)) < 0)
		return r;
	if (k[1].value && !p->host_addr)
		return alb_error(ctx, EBADMSG, "%s: 0.0.0.0 is written by leaving the key out",
				 k[1].path);
	p->proto = (uint32_t)proto;
	return 0;
}

int alb_service_spec_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path,
			       struct alb_service_spec **ret)
{
	struct alb_cbor_key k[] = {
	    {"device"},
	    {"bridge"},
	    {"prefix"},
	    {"gateway", true},
	    {"exclude"},
	    {"publish"},
	    {"ready"},
	    {"ready-line", true},
	    {"ready-port", true},
	    {"ready-delay", true},
	    {"ready-timeout"},
	    {"drain"},
	};
	_cleanup_(alb_service_spec_freep) struct alb_service_spec *s = calloc(1, sizeof(*s));
	char p[ALB_CBOR_PATH_MAX];
	size_t n;
	int r;
	if (!s)
		return -ENOMEM;
	if ((r = alb_cbor_map_keys(ctx, item, path, k, ELEMENTSOF(k))) < 0 ||
	    (r = alb_cbor_get_text(ctx, k[0].value, k[0].path, ALB_DEVICE_NAME_MAX, &s->device)) <
		0 ||
	    (r = alb_cbor_get_text(ctx, k[1].value, k[1].path, ALB_BRIDGE_NAME_MAX, &s->bridge)) <
		0 ||
	    (r = prefix_from_cbor(ctx, k[2].value, k[2].path, &s->prefix, &s->prefix_len)) < 0 ||
	    (k[3].value && (r = addr_from_cbor(ctx, k[3].value, k[3].path, &s->gateway)) < 0) ||
	    (r = alb_cbor_get_enum(ctx, k[6].value, k[6].path, ready_names, ELEMENTSOF(ready_names),
				   &s->ready)) < 0 ||
	    (k[7].value && (r = alb_cbor_get_text(ctx, k[7].value, k[7].path, ALB_READY_LINE_MAX,
						  &s->ready_line)) < 0) ||
	    (k[8].value &&
	     (r = alb_cbor_get_u32(ctx, k[8].value, k[8].path, 1, 65535, &s->ready_port)) < 0) ||
	    (k[9].value && (r = alb_cbor_get_u64(ctx, k[9].value, k[9].path, 1, ALB_SERVICE_MS_MAX,
						 &s->ready_delay_ms)) < 0) ||
	    (r = alb_cbor_get_u64(ctx, k[10].value, k[10].path, 1, ALB_SERVICE_MS_MAX,
				  &s->ready_timeout_ms)) < 0 ||
	    (r = alb_cbor_get_u64(ctx, k[11].value, k[11].path, 0, ALB_SERVICE_MS_MAX,
				  &s->drain_ms)) < 0)
		return r;
	if ((r = alb_cbor_get_array(ctx, k[4].value, k[4].path, ALB_SERVICE_EXCLUDE_MAX, &n)) < 0)
		return r;
	if (n && !(s->excluded = calloc(n, sizeof(uint32_t))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++, s->n_excluded++)
		if ((r = addr_from_cbor(ctx, cbor_array_handle(k[4].value)[i],
					alb_cbor_path_index(p, k[4].path, i), &s->excluded[i])) < 0)
			return r;
	if ((r = alb_cbor_get_array(ctx, k[5].value, k[5].path, ALB_SERVICE_PUBLISH_MAX, &n)) < 0)
		return r;
	if (n && !(s->publish = calloc(n, sizeof(*s->publish))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++, s->n_publish++)
		if ((r = publish_from_cbor(ctx, cbor_array_handle(k[5].value)[i],
					   alb_cbor_path_index(p, k[5].path, i), &s->publish[i])) <
		    0)
			return r;
	if (k[3].value && !s->gateway)
		return alb_error(ctx, EBADMSG, "%s: no gateway is written by leaving the key out",
				 k[3].path);
	if ((r = alb_service_spec_validate(ctx, s)) < 0)
		return alb_cbor_field_error(ctx, r, path);
	*ret = TAKE_PTR(s);
	return 0;
}

static void instance_clear(struct alb_service_instance *in)
{
	alb_name_free(in->unikernel);
	*in = (struct alb_service_instance){0};
}

ALB_EXPORT void alb_service_info_clear(struct alb_service_info *info)
{
	if (!info)
		return;
	alb_name_free(info->name);
	alb_unikernel_config_free(info->config);
	alb_service_spec_free(info->spec);
	for (uint32_t i = 0; i < info->n_instances; i++)
		instance_clear(&info->instances[i]);
	free(info->instances);
	free(info->last_error);
	*info = (struct alb_service_info){0};
}

ALB_EXPORT void alb_collected_clear(struct alb_collected *c)
{
	if (!c)
		return;
	alb_name_free(c->unikernel);
	free(c->bridge);
	*c = (struct alb_collected){0};
}

static cbor_item_t *instance_to_cbor(const struct alb_service_instance *in)
{
	_cleanup_(cbor_decref_ptrp) cbor_item_t *map = cbor_new_definite_map(5);
	const char *state = in->state >= ALB_INSTANCE_STARTING && in->state <= ALB_INSTANCE_DRAINING
				? state_names[in->state]
				: NULL;
	if (!alb_cbor_put(map, "generation", alb_cbor_uint(in->generation)) ||
	    !alb_cbor_put(map, "unikernel", alb_name_to_cbor(in->unikernel)) ||
	    !alb_cbor_put(map, "address", addr_to_cbor(in->address)) ||
	    !alb_cbor_put(map, "state", alb_cbor_text(state)) ||
	    (in->until_us && !alb_cbor_put(map, "until", alb_cbor_uint(in->until_us))))
		return NULL;
	return TAKE_PTR(map);
}

cbor_item_t *alb_service_info_to_cbor(const void *elt)
{
	const struct alb_service_info *info = elt;
	_cleanup_(cbor_decref_ptrp) cbor_item_t *map = cbor_new_definite_map(6);
	_cleanup_(cbor_decref_ptrp) cbor_item_t *ins = cbor_new_definite_array(info->n_instances);
	if (!map || !ins)
		return NULL;
	for (uint32_t i = 0; i < info->n_instances; i++)
		if (!alb_cbor_push(ins, instance_to_cbor(&info->instances[i])))
			return NULL;
	if (!alb_cbor_put(map, "name", alb_name_to_cbor(info->name)) ||
	    !alb_cbor_put(map, "config", alb_config_to_cbor(info->config)) ||
	    !alb_cbor_put(map, "spec", alb_service_spec_to_cbor(info->spec)) ||
	    !alb_cbor_put(map, "generation", alb_cbor_uint(info->generation)) ||
	    !alb_cbor_put(map, "instances", TAKE_PTR(ins)) ||
	    (info->last_error && !alb_cbor_put(map, "last-error", alb_cbor_text(info->last_error))))
		return NULL;
	return TAKE_PTR(map);
}

static int instance_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path,
			      struct alb_service_instance *in)
{
	struct alb_cbor_key k[] = {
	    {"generation"}, {"unikernel"}, {"address"}, {"state"}, {"until", true},
	};
	int r;
	if ((r = alb_cbor_map_keys(ctx, item, path, k, ELEMENTSOF(k))) < 0 ||
	    (r = alb_cbor_get_u64(ctx, k[0].value, k[0].path, 1, UINT32_MAX, &in->generation)) <
		0 ||
	    (r = alb_name_from_cbor(ctx, k[1].value, k[1].path, &in->unikernel)) < 0 ||
	    (r = addr_from_cbor(ctx, k[2].value, k[2].path, &in->address)) < 0 ||
	    (r = alb_cbor_get_enum(ctx, k[3].value, k[3].path, state_names, ELEMENTSOF(state_names),
				   &in->state)) < 0 ||
	    (k[4].value && (r = alb_cbor_get_u64(ctx, k[4].value, k[4].path, 1, ALB_TIME_MAX,
						 &in->until_us)) < 0))
		return r;
	if (alb_name_is_path(in->unikernel))
		return alb_error(ctx, EBADMSG, "%s: a path, not a unikernel's name", k[1].path);
	return 0;
}

int alb_service_info_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path, void *elt)
{
	struct alb_service_info *info = elt;
	struct alb_cbor_key k[] = {
	    {"name"}, {"config"}, {"spec"}, {"generation"}, {"instances"}, {"last-error", true},
	};
	char p[ALB_CBOR_PATH_MAX];
	size_t n;
	int r;
	if ((r = alb_cbor_map_keys(ctx, item, path, k, ELEMENTSOF(k))) < 0 ||
	    (r = alb_name_from_cbor(ctx, k[0].value, k[0].path, &info->name)) < 0 ||
	    (r = alb_config_from_cbor(ctx, k[1].value, k[1].path, &info->config)) < 0 ||
	    (r = alb_service_spec_from_cbor(ctx, k[2].value, k[2].path, &info->spec)) < 0 ||
	    (r = alb_cbor_get_u64(ctx, k[3].value, k[3].path, 0, UINT32_MAX, &info->generation)) <
		0 ||
	    (k[5].value && (r = alb_cbor_get_text(ctx, k[5].value, k[5].path, ALB_WIRE_STRING_MAX,
						  &info->last_error)) < 0) ||
	    (r = alb_cbor_get_array(ctx, k[4].value, k[4].path, ALB_SERVICE_INSTANCES_MAX, &n)) < 0)
		return r;
	if (alb_name_is_path(info->name))
		return alb_error(ctx, EBADMSG, "%s: a path, not a service's name", k[0].path);
	if (n && !(info->instances = calloc(n, sizeof(*info->instances))))
		return -ENOMEM;
	/* Counted first: a half-decoded instance is freed with the others. */
	for (size_t i = 0; i < n; i++)
		if ((r = instance_from_cbor(ctx, cbor_array_handle(k[4].value)[i],
					    alb_cbor_path_index(p, k[4].path, i),
					    &info->instances[info->n_instances++])) < 0)
			return r;
	return 0;
}

cbor_item_t *alb_collected_to_cbor(const void *elt)
{
	const struct alb_collected *c = elt;
	_cleanup_(cbor_decref_ptrp) cbor_item_t *map = cbor_new_definite_map(3);
	if ((c->unikernel && !alb_cbor_put(map, "unikernel", alb_name_to_cbor(c->unikernel))) ||
	    !alb_cbor_put(map, "bridge", alb_cbor_text(c->bridge)) ||
	    !alb_cbor_put(map, "address", addr_to_cbor(c->address)))
		return NULL;
	return TAKE_PTR(map);
}

int alb_collected_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path, void *elt)
{
	struct alb_collected *c = elt;
	struct alb_cbor_key k[] = {{"unikernel", true}, {"bridge"}, {"address"}};
	int r;
	if ((r = alb_cbor_map_keys(ctx, item, path, k, ELEMENTSOF(k))) < 0 ||
	    (k[0].value &&
	     (r = alb_name_from_cbor(ctx, k[0].value, k[0].path, &c->unikernel)) < 0) ||
	    (r = alb_cbor_get_text(ctx, k[1].value, k[1].path, ALB_BRIDGE_NAME_MAX, &c->bridge)) <
		0 ||
	    (r = addr_from_cbor(ctx, k[2].value, k[2].path, &c->address)) < 0)
		return r;
	if (c->unikernel && alb_name_is_path(c->unikernel))
		return alb_error(ctx, EBADMSG, "%s: a path, not a unikernel's name", k[0].path);
	if (alb_bridge_name_validate(ctx, c->bridge) < 0)
		return alb_cbor_field_error(ctx, -EINVAL, k[1].path);
	return 0;
}
