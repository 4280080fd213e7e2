/* SPDX-License-Identifier: ISC */
/* Messages of the wire protocol: encoding, strict decoding, accessors (docs/protocol.md). */
#include <inttypes.h>
#include <stddef.h>

#include "cbor-private.h"
#include "ctx-private.h"
#include "frame-private.h"
#include "wire-private.h"
#include "svcwire-private.h"

#define BIT(id) (1u << (id))
/* The largest data-size of block add and set: a whole block device, in bytes. */
#define DATA_SIZE_MAX (ALB_BLOCK_SIZE_MAX_MB << 20)

static const char *const command_names[] = {
    [ALB_CMD_UNIKERNEL_INFO] = "unikernel-info",
    [ALB_CMD_UNIKERNEL_CREATE] = "unikernel-create",
    [ALB_CMD_UNIKERNEL_FORCE_CREATE] = "unikernel-force-create",
    [ALB_CMD_UNIKERNEL_DESTROY] = "unikernel-destroy",
    [ALB_CMD_UNIKERNEL_RESTART] = "unikernel-restart",
    [ALB_CMD_UNIKERNEL_GET] = "unikernel-get",
    [ALB_CMD_POLICY_INFO] = "policy-info",
    [ALB_CMD_POLICY_ADD] = "policy-add",
    [ALB_CMD_POLICY_REMOVE] = "policy-remove",
    [ALB_CMD_BLOCK_INFO] = "block-info",
    [ALB_CMD_BLOCK_ADD] = "block-add",
    [ALB_CMD_BLOCK_REMOVE] = "block-remove",
    [ALB_CMD_BLOCK_SET] = "block-set",
    [ALB_CMD_BLOCK_DUMP] = "block-dump",
    [ALB_CMD_CONSOLE_SUBSCRIBE] = "console-subscribe",
    [ALB_CMD_CONSOLE_LIST_INACTIVE] = "console-list-inactive",
    [ALB_CMD_STATS_SUBSCRIBE] = "stats-subscribe",
    [ALB_CMD_LOG_SUBSCRIBE] = "log-subscribe",
    [ALB_CMD_CONSOLE_ADD] = "console-add",
    [ALB_CMD_STATS_ADD] = "stats-add",
    [ALB_CMD_STATS_REMOVE] = "stats-remove",
    [ALB_CMD_LOG_EVENT] = "log-event",
    [ALB_CMD_TENDERS_INFO] = "tenders-info",
    [ALB_CMD_CONSOLE_DATA] = "console-data",
    [ALB_CMD_CONSOLE_END] = "console-end",
    [ALB_CMD_FEED] = "feed",
    [ALB_CMD_SERVICE_DEPLOY] = "service-deploy",
    [ALB_CMD_SERVICE_INFO] = "service-info",
    [ALB_CMD_SERVICE_REMOVE] = "service-remove",
    [ALB_CMD_COLLECT] = "collect",
};

static const char *const event_names[] = {
    [ALB_EVENT_DAEMON_START] = "daemon-start",
    [ALB_EVENT_DAEMON_STOP] = "daemon-stop",
    [ALB_EVENT_UNIKERNEL_CREATED] = "unikernel-created",
    [ALB_EVENT_UNIKERNEL_STARTED] = "unikernel-started",
    [ALB_EVENT_UNIKERNEL_EXITED] = "unikernel-exited",
    [ALB_EVENT_UNIKERNEL_RESTARTING] = "unikernel-restarting",
    [ALB_EVENT_UNIKERNEL_FAILED] = "unikernel-failed",
    [ALB_EVENT_UNIKERNEL_DESTROYED] = "unikernel-destroyed",
    [ALB_EVENT_POLICY_ADDED] = "policy-added",
    [ALB_EVENT_POLICY_REMOVED] = "policy-removed",
    [ALB_EVENT_BLOCK_ADDED] = "block-added",
    [ALB_EVENT_BLOCK_REMOVED] = "block-removed",
    [ALB_EVENT_SERVICE_ALLOCATED] = "service-allocated",
    [ALB_EVENT_SERVICE_SWITCHED] = "service-switched",
    [ALB_EVENT_SERVICE_RETIRED] = "service-retired",
    [ALB_EVENT_SERVICE_UPDATE_FAILED] = "service-update-failed",
    [ALB_EVENT_SERVICE_REMOVED] = "service-removed",
};

static const char *const state_names[] = {
    [ALB_STATE_RUNNING] = "running",
    [ALB_STATE_RESTARTING] = "restarting",
    [ALB_STATE_FAILED] = "failed",
    [ALB_STATE_STOPPED] = "stopped",
};

static const char *const reply_names[] = {
    [ALB_REPLY_EMPTY] = "empty",	   [ALB_REPLY_STRING] = "string",
    [ALB_REPLY_UNIKERNELS] = "unikernels", [ALB_REPLY_POLICIES] = "policies",
    [ALB_REPLY_BLOCKS] = "blocks",	   [ALB_REPLY_IMAGE] = "image",
    [ALB_REPLY_NAMES] = "names",	   [ALB_REPLY_TENDERS] = "tenders",
    [ALB_REPLY_SERVICES] = "services",	   [ALB_REPLY_COLLECTED] = "collected",
};

static const char *const data_names[] = {
    [ALB_DATA_CHUNK] = "chunk",
    [ALB_DATA_CONSOLE] = "console",
    [ALB_DATA_LOG] = "log",
    [ALB_DATA_STATS] = "stats",
};

static const char *const tender_names[] = {
    [ALB_TENDER_HVT] = "hvt",
    [ALB_TENDER_SPT] = "spt",
};

static const char *enum_name(const char *const *names, size_t n, int value)
{
	return value >= 0 && (size_t)value < n ? names[value] : NULL;
}

ALB_EXPORT const char *alb_command_to_string(int command)
{
	return enum_name(command_names, ELEMENTSOF(command_names), command);
}

ALB_EXPORT const char *alb_log_event_kind_to_string(int kind)
{
	return enum_name(event_names, ELEMENTSOF(event_names), kind);
}

ALB_EXPORT const char *alb_unikernel_state_to_string(int state)
{
	return enum_name(state_names, ELEMENTSOF(state_names), state);
}

/*
 * A tagged map: the tag key ("op", "kind") names the variant, which allows
 * exactly the keys of its bit mask, by key id. Commands, success replies and
 * data are tagged maps.
 */
struct key_def {
	const char *key;
	bool optional;
};

struct variant {
	const char *tag;
	const char *const *names; /* by kind */
	size_t n_kinds;
	const uint32_t *fields; /* by kind: BIT(key id) of each allowed key */
	const struct key_def *keys;
	size_t n_keys;
};

#define VARIANT_KEYS_MAX 24

struct variant_values {
	int kind;
	const cbor_item_t *value[VARIANT_KEYS_MAX]; /* by key id; NULL if absent */
	const char *path[VARIANT_KEYS_MAX];
	struct alb_cbor_key k[VARIANT_KEYS_MAX + 1];
};

static int variant_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path,
			     const struct variant *var, struct variant_values *vv)
{
	char p[ALB_CBOR_PATH_MAX];
	size_t n = 1, idx[VARIANT_KEYS_MAX] = {0};
	int r;

	if (!cbor_isa_map(item))
		return alb_cbor_map_keys(ctx, item, path, NULL, 0);
	const cbor_item_t *tag = alb_cbor_map_get(item, var->tag);
	alb_cbor_path(p, path, var->tag);
	if (!tag)
		return alb_error(ctx, EBADMSG, "%s: missing", p);
	r = alb_cbor_get_enum(ctx, tag, p, var->names, var->n_kinds, &vv->kind);
	if (r < 0)
		return r;

	uint32_t fields = var->fields[vv->kind];
	vv->k[0] = (struct alb_cbor_key){.key = var->tag};
	for (size_t id = 0; id < var->n_keys; id++)
		if (fields & BIT(id)) {
			idx[id] = n;
			vv->k[n++] = (struct alb_cbor_key){.key = var->keys[id].key,
							   .optional = var->keys[id].optional};
		}
	r = alb_cbor_map_keys(ctx, item, path, vv->k, n);
	if (r < 0)
		return r;
	for (size_t id = 0; id < var->n_keys; id++) {
		vv->value[id] = fields & BIT(id) ? vv->k[idx[id]].value : NULL;
		vv->path[id] = fields & BIT(id) ? vv->k[idx[id]].path : NULL;
	}
	return 0;
}

/* Puts the key id of obj into map (nothing for an absent optional key); false on ENOMEM. */
typedef bool (*put_fn)(cbor_item_t *map, const void *obj, size_t id, const char *key);

static cbor_item_t *variant_to_cbor(const struct variant *var, int kind, put_fn put,
				    const void *obj)
{
	_cleanup_(cbor_decref_ptrp) cbor_item_t *map = cbor_new_definite_map(1 + var->n_keys);
	const char *name = enum_name(var->names, var->n_kinds, kind);

	if (!alb_cbor_put(map, var->tag, alb_cbor_text(name)))
		return NULL;
	for (size_t id = 0; name && id < var->n_keys; id++)
		if ((var->fields[kind] & BIT(id)) && !put(map, obj, id, var->keys[id].key))
			return NULL;
	return TAKE_PTR(map);
}

/* Tables of uint64 fields of a structure, all of the full range. */
struct u64_field {
	const char *key;
	size_t offset;
};

static bool u64_fields_put(cbor_item_t *map, const struct u64_field *fields, size_t n,
			   const void *obj)
{
	for (size_t i = 0; i < n; i++)
		if (!alb_cbor_put(
			map, fields[i].key,
			alb_cbor_uint(*(const uint64_t *)((const char *)obj + fields[i].offset))))
			return false;
	return true;
}

/* Decodes fields[i] from k[i]. */
static int u64_fields_get(alb_ctx *ctx, const struct alb_cbor_key *k,
			  const struct u64_field *fields, size_t n, void *obj)
{
	for (size_t i = 0; i < n; i++) {
		int r = alb_cbor_get_u64(ctx, k[i].value, k[i].path, 0, UINT64_MAX,
					 (uint64_t *)((char *)obj + fields[i].offset));
		if (r < 0)
			return r;
	}
	return 0;
}

/* Network interface names (taps, bridges): a list of at most max. */
static int ifnames_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path, size_t max,
			     char ***ret, uint32_t *ret_n)
{
	_cleanup_strv_free_ char **v = NULL;
	char p[ALB_CBOR_PATH_MAX];
	uint32_t n;
	int r;

	r = alb_cbor_get_strv(ctx, item, path, max, ALB_BRIDGE_NAME_MAX, &v, &n);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < n; i++) {
		r = alb_cbor_field_error(ctx, alb_bridge_name_validate(ctx, v[i]),
					 alb_cbor_path_index(p, path, i));
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

/* A name that must (want_path) or must not be a path. */
static int name_kind_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path,
			       bool want_path, alb_name **ret)
{
	_cleanup_(alb_name_freep) alb_name *name = NULL;
	int r;

	r = alb_name_from_cbor(ctx, item, path, &name);
	if (r < 0)
		return r;
	if (!alb_name_is_path(name) != !want_path)
		return alb_error(ctx, EBADMSG, "%s: expected %s", path,
				 want_path ? "a path (ending in ':')" : "a name, not a path");
	*ret = TAKE_PTR(name);
	return 0;
}

/* Exits: {"code": 0..255} or {"signal": 1..ALB_EXIT_SIGNAL_MAX}. */
static cbor_item_t *exit_to_cbor(const struct alb_exit *e)
{
	const char *key = e->kind == ALB_EXIT_CODE     ? "code"
			  : e->kind == ALB_EXIT_SIGNAL ? "signal"
						       : NULL;
	if (!key)
		return cbor_new_null();

	_cleanup_(cbor_decref_ptrp) cbor_item_t *map = cbor_new_definite_map(1);
	if (!alb_cbor_put(map, key, alb_cbor_uint(e->value)))
		return NULL;
	return TAKE_PTR(map);
}

static int exit_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path,
			  struct alb_exit *e)
{
	struct alb_cbor_key k[] = {{"code", true}, {"signal", true}};
	int r;

	r = alb_cbor_map_keys(ctx, item, path, k, ELEMENTSOF(k));
	if (r < 0)
		return r;
	if (!k[0].value == !k[1].value)
		return alb_error(ctx, EBADMSG, "%s: expected exactly one of code, signal", path);
	if (k[0].value) {
		e->kind = ALB_EXIT_CODE;
		return alb_cbor_get_u32(ctx, k[0].value, k[0].path, 0, 255, &e->value);
	}
	e->kind = ALB_EXIT_SIGNAL;
	return alb_cbor_get_u32(ctx, k[1].value, k[1].path, 1, ALB_EXIT_SIGNAL_MAX, &e->value);
}

static inline void log_event_freep(struct alb_log_event **event)
{
	alb_log_event_free(*event);
}

static cbor_item_t *event_to_cbor(const struct alb_log_event *ev)
{
	if (!ev)
		return cbor_new_null();

	_cleanup_(cbor_decref_ptrp) cbor_item_t *map = cbor_new_definite_map(12);
	if (!alb_cbor_put(map, "kind", alb_cbor_text(alb_log_event_kind_to_string(ev->kind))) ||
	    !alb_cbor_put(map, "time", alb_cbor_uint(ev->time_us)) ||
	    (ev->name && !alb_cbor_put(map, "name", alb_name_to_cbor(ev->name))) ||
	    (ev->pid && !alb_cbor_put(map, "pid", alb_cbor_uint(ev->pid))) ||
	    (ev->has_digest && !alb_cbor_put(map, "digest", alb_cbor_bytes(ev->digest, 32))) ||
	    (ev->taps && !alb_cbor_put(map, "taps", alb_cbor_strv(ev->taps, ev->n_taps))) ||
	    (ev->blocks && !alb_cbor_put(map, "blocks", alb_cbor_strv(ev->blocks, ev->n_blocks))) ||
	    (ev->exit.kind && !alb_cbor_put(map, "exit", exit_to_cbor(&ev->exit))) ||
	    (ev->attempt && !alb_cbor_put(map, "attempt", alb_cbor_uint(ev->attempt))) ||
	    (ev->delay_us && !alb_cbor_put(map, "delay", alb_cbor_uint(ev->delay_us))) ||
	    (ev->identity && !alb_cbor_put(map, "identity", alb_cbor_text(ev->identity))) ||
	    (ev->message && !alb_cbor_put(map, "message", alb_cbor_text(ev->message))))
		return NULL;
	return TAKE_PTR(map);
}

static int event_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path,
			   struct alb_log_event **ret)
{
	struct alb_cbor_key k[] = {
	    {"kind"},	       {"time"},	{"name", true},	    {"pid", true},
	    {"digest", true},  {"taps", true},	{"blocks", true},   {"exit", true},
	    {"attempt", true}, {"delay", true}, {"identity", true}, {"message", true},
	};
	_cleanup_(log_event_freep) struct alb_log_event *ev = NULL;
	int r;

	r = alb_cbor_map_keys(ctx, item, path, k, ELEMENTSOF(k));
	if (r < 0)
		return r;
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	if ((r = alb_cbor_get_enum(ctx, k[0].value, k[0].path, event_names, ELEMENTSOF(event_names),
				   &ev->kind)) < 0 ||
	    (r = alb_cbor_get_u64(ctx, k[1].value, k[1].path, 0, ALB_TIME_MAX, &ev->time_us)) < 0 ||
	    (k[2].value && (r = alb_name_from_cbor(ctx, k[2].value, k[2].path, &ev->name)) < 0) ||
	    (k[3].value &&
	     (r = alb_cbor_get_u32(ctx, k[3].value, k[3].path, 1, ALB_PID_MAX, &ev->pid)) < 0) ||
	    (k[4].value &&
	     (r = alb_cbor_get_bytes_fixed(ctx, k[4].value, k[4].path, ev->digest, 32)) < 0) ||
	    (k[5].value && (r = ifnames_from_cbor(ctx, k[5].value, k[5].path, ALB_TAPS_MAX,
						  &ev->taps, &ev->n_taps)) < 0) ||
	    (k[6].value &&
	     (r = alb_cbor_get_strv(ctx, k[6].value, k[6].path, ALB_DEVICES_MAX,
				    ALB_WIRE_STRING_MAX, &ev->blocks, &ev->n_blocks)) < 0) ||
	    (k[7].value && (r = exit_from_cbor(ctx, k[7].value, k[7].path, &ev->exit)) < 0) ||
	    (k[8].value &&
	     (r = alb_cbor_get_u32(ctx, k[8].value, k[8].path, 1, UINT32_MAX, &ev->attempt)) < 0) ||
	    (k[9].value && (r = alb_cbor_get_u64(ctx, k[9].value, k[9].path, 1, ALB_TIME_MAX,
						 &ev->delay_us)) < 0) ||
	    (k[10].value && (r = alb_cbor_get_text(ctx, k[10].value, k[10].path,
						   ALB_WIRE_STRING_MAX, &ev->identity)) < 0) ||
	    (k[11].value && (r = alb_cbor_get_text(ctx, k[11].value, k[11].path,
						   ALB_WIRE_STRING_MAX, &ev->message)) < 0))
		return r;
	ev->has_digest = k[4].value;
	*ret = TAKE_PTR(ev);
	return 0;
}

int alb_log_event_to_cbor(alb_ctx *ctx, const struct alb_log_event *event, uint8_t **ret_buf,
			  size_t *ret_len)
{
	_cleanup_(cbor_decref_ptrp) cbor_item_t *item = NULL;
	_cleanup_(log_event_freep) struct alb_log_event *check = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r;

	if (!event || !ret_buf || !ret_len)
		return -EINVAL;
	item = event_to_cbor(event);
	if (!item)
		return -ENOMEM;
	r = alb_cbor_serialize(ctx, item, &buf, &len);
	if (r < 0)
		return r;
	/* As alb_msg_encode(): the decoder judges what the structure holds. */
	r = alb_log_event_from_cbor(ctx, buf, len, &check);
	if (r == -EBADMSG)
		return alb_error_prefix(ctx, -EINVAL, "invalid log event");
	if (r < 0)
		return r;
	*ret_buf = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

int alb_log_event_from_cbor(alb_ctx *ctx, const uint8_t *buf, size_t len,
			    struct alb_log_event **ret)
{
	_cleanup_(cbor_decref_ptrp) cbor_item_t *item = NULL;
	int r;

	if ((!buf && len > 0) || !ret)
		return -EINVAL;
	r = alb_cbor_load(ctx, buf, len, &item);
	if (r < 0)
		return r;
	return event_from_cbor(ctx, item, "event", ret);
}

/* Commands. */
enum {
	C_CONFIG,
	C_ARGUMENTS,
	C_COMPRESS,
	C_POLICY,
	C_SIZE,
	C_SECTOR_SIZE,
	C_DATA_SIZE,
	C_COMPRESSED,
	C_SINCE,
	C_COUNT,
	C_TIME,
	C_OUTPUT,
	C_DROPPED,
	C_PID,
	C_TAPS,
	C_EVENT,
	C_FOLLOW,
	C_ON_BEHALF_OF,
	C_SERVICE,
	C_N,
};

_Static_assert(C_N <= VARIANT_KEYS_MAX, "command keys do not fit in struct variant_values");
static const struct key_def command_keys[C_N] = {
    [C_CONFIG] = {"config"},
    [C_ARGUMENTS] = {"arguments", true},
    [C_COMPRESS] = {"compress"},
    [C_POLICY] = {"policy"},
    [C_SIZE] = {"size"},
    [C_SECTOR_SIZE] = {"sector-size", true},
    [C_DATA_SIZE] = {"data-size"},
    [C_COMPRESSED] = {"compressed"},
    [C_SINCE] = {"since", true},
    [C_COUNT] = {"count", true},
    [C_TIME] = {"time"},
    [C_OUTPUT] = {"output"},
    [C_DROPPED] = {"dropped", true},
    [C_PID] = {"pid"},
    [C_TAPS] = {"taps"},
    [C_EVENT] = {"event"},
    [C_FOLLOW] = {"follow", true},
    [C_ON_BEHALF_OF] = {"on-behalf-of", true},
    [C_SERVICE] = {"service"},
};

/* Every command may say whom it runs for (the TLS endpoint's client): ANY. */
#define ANY BIT(C_ON_BEHALF_OF)
static const uint32_t command_fields[ELEMENTSOF(command_names)] = {
    [ALB_CMD_UNIKERNEL_INFO] = ANY,
    [ALB_CMD_UNIKERNEL_CREATE] = ANY | BIT(C_CONFIG),
    [ALB_CMD_UNIKERNEL_FORCE_CREATE] = ANY | BIT(C_CONFIG),
    [ALB_CMD_UNIKERNEL_DESTROY] = ANY,
    [ALB_CMD_UNIKERNEL_RESTART] = ANY | BIT(C_ARGUMENTS),
    [ALB_CMD_UNIKERNEL_GET] = ANY | BIT(C_COMPRESS),
    [ALB_CMD_POLICY_INFO] = ANY,
    [ALB_CMD_POLICY_ADD] = ANY | BIT(C_POLICY),
    [ALB_CMD_POLICY_REMOVE] = ANY,
    [ALB_CMD_BLOCK_INFO] = ANY,
    [ALB_CMD_BLOCK_ADD] =
	ANY | BIT(C_SIZE) | BIT(C_SECTOR_SIZE) | BIT(C_DATA_SIZE) | BIT(C_COMPRESSED),
    [ALB_CMD_BLOCK_REMOVE] = ANY,
    [ALB_CMD_BLOCK_SET] = ANY | BIT(C_DATA_SIZE) | BIT(C_COMPRESSED),
    [ALB_CMD_BLOCK_DUMP] = ANY | BIT(C_COMPRESS),
    [ALB_CMD_CONSOLE_SUBSCRIBE] = ANY | BIT(C_SINCE) | BIT(C_COUNT) | BIT(C_FOLLOW),
    [ALB_CMD_CONSOLE_LIST_INACTIVE] = ANY,
    [ALB_CMD_STATS_SUBSCRIBE] = ANY,
    [ALB_CMD_LOG_SUBSCRIBE] = ANY | BIT(C_SINCE) | BIT(C_COUNT) | BIT(C_FOLLOW),
    [ALB_CMD_CONSOLE_ADD] = ANY,
    [ALB_CMD_STATS_ADD] = ANY | BIT(C_PID) | BIT(C_TAPS),
    [ALB_CMD_STATS_REMOVE] = ANY,
    [ALB_CMD_LOG_EVENT] = ANY | BIT(C_EVENT),
    [ALB_CMD_TENDERS_INFO] = ANY,
    [ALB_CMD_CONSOLE_DATA] = ANY | BIT(C_TIME) | BIT(C_OUTPUT) | BIT(C_DROPPED),
    [ALB_CMD_CONSOLE_END] = ANY | BIT(C_DROPPED),
    [ALB_CMD_FEED] = ANY,
    [ALB_CMD_SERVICE_DEPLOY] = ANY | BIT(C_CONFIG) | BIT(C_SERVICE),
    [ALB_CMD_SERVICE_INFO] = ANY,
    [ALB_CMD_SERVICE_REMOVE] = ANY,
    [ALB_CMD_COLLECT] = ANY,
};
#undef ANY

static const struct variant command_variant = {
    "op", command_names, ELEMENTSOF(command_names), command_fields, command_keys, C_N,
};

static bool command_put(cbor_item_t *map, const void *obj, size_t id, const char *key)
{
	const struct alb_cmd *cmd = obj;

	switch (id) {
	case C_CONFIG:
		return alb_cbor_put(map, key, alb_config_to_cbor(cmd->config));
	case C_ARGUMENTS:
		return !cmd->has_argv ||
		       alb_cbor_put(map, key, alb_cbor_strv(cmd->argv, cmd->argc));
	case C_COMPRESS:
		return alb_cbor_put(map, key, alb_cbor_bool(cmd->compress));
	case C_POLICY:
		return alb_cbor_put(map, key, alb_policy_to_cbor(cmd->policy));
	case C_SIZE:
		return alb_cbor_put(map, key, alb_cbor_uint(cmd->block_size_mb));
	case C_SECTOR_SIZE:
		return !cmd->sector_size || alb_cbor_put(map, key, alb_cbor_uint(cmd->sector_size));
	case C_DATA_SIZE:
		return alb_cbor_put(map, key, alb_cbor_uint(cmd->data_size));
	case C_COMPRESSED:
		return alb_cbor_put(map, key, alb_cbor_bool(cmd->compressed));
	case C_SINCE:
		return !cmd->history.has_since ||
		       alb_cbor_put(map, key, alb_cbor_uint(cmd->history.since_us));
	case C_COUNT:
		return !cmd->history.has_count ||
		       alb_cbor_put(map, key, alb_cbor_uint(cmd->history.count));
	case C_TIME:
		return alb_cbor_put(map, key, alb_cbor_uint(cmd->time_us));
	case C_OUTPUT:
		return alb_cbor_put(map, key, alb_cbor_bytes(cmd->output, cmd->output_len));
	case C_DROPPED: /* absent means none */
		return !cmd->dropped || alb_cbor_put(map, key, alb_cbor_uint(cmd->dropped));
	case C_PID:
		return alb_cbor_put(map, key, alb_cbor_uint(cmd->pid));
	case C_TAPS:
		return alb_cbor_put(map, key, alb_cbor_strv(cmd->taps, cmd->n_taps));
	case C_FOLLOW: /* only true is written: absent means false */
		return !cmd->history.follow || alb_cbor_put(map, key, alb_cbor_bool(true));
	case C_ON_BEHALF_OF:
		return !cmd->on_behalf_of ||
		       alb_cbor_put(map, key, alb_cbor_text(cmd->on_behalf_of));
	case C_SERVICE:
		return alb_cbor_put(map, key, alb_service_spec_to_cbor(cmd->service));
	default: /* C_EVENT */
		return alb_cbor_put(map, key, event_to_cbor(cmd->event));
	}
}

/* Arguments of a restart: the bounds of a configuration's arguments. */
static int arguments_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path,
			       struct alb_cmd *cmd)
{
	_cleanup_(alb_unikernel_config_freep) alb_unikernel_config *config = NULL;
	int r;

	r = alb_cbor_get_strv(ctx, item, path, ALB_ARGS_MAX, ALB_ARGS_LENGTH_MAX, &cmd->argv,
			      &cmd->argc);
	if (r < 0)
		return r;
	r = alb_unikernel_config_new(ctx, &config);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < cmd->argc; i++) {
		r = alb_cbor_field_error(
		    ctx, alb_unikernel_config_add_argument(config, cmd->argv[i]), path);
		if (r < 0)
			return r;
	}
	cmd->has_argv = true;
	return 0;
}

static int command_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path,
			     struct alb_cmd *cmd)
{
	struct variant_values vv;
	const cbor_item_t *const *v = vv.value;
	const char *const *p = vv.path;
	size_t output_len = 0;
	int r;

	r = variant_from_cbor(ctx, item, path, &command_variant, &vv);
	if (r < 0)
		return r;
	cmd->kind = vv.kind;
	if ((v[C_CONFIG] &&
	     (r = alb_config_from_cbor(ctx, v[C_CONFIG], p[C_CONFIG], &cmd->config)) < 0) ||
	    (v[C_ARGUMENTS] &&
	     (r = arguments_from_cbor(ctx, v[C_ARGUMENTS], p[C_ARGUMENTS], cmd)) < 0) ||
	    (v[C_COMPRESS] &&
	     (r = alb_cbor_get_bool(ctx, v[C_COMPRESS], p[C_COMPRESS], &cmd->compress)) < 0) ||
	    (v[C_POLICY] &&
	     (r = alb_policy_from_cbor(ctx, v[C_POLICY], p[C_POLICY], &cmd->policy)) < 0) ||
	    (v[C_SIZE] && (r = alb_cbor_get_u64(ctx, v[C_SIZE], p[C_SIZE], 1, ALB_BLOCK_SIZE_MAX_MB,
						&cmd->block_size_mb)) < 0) ||
	    (v[C_SECTOR_SIZE] &&
	     (r = alb_cbor_get_sector_size(ctx, v[C_SECTOR_SIZE], p[C_SECTOR_SIZE],
					   &cmd->sector_size)) < 0) ||
	    (v[C_DATA_SIZE] && (r = alb_cbor_get_u64(ctx, v[C_DATA_SIZE], p[C_DATA_SIZE],
						     cmd->kind == ALB_CMD_BLOCK_SET ? 1 : 0,
						     DATA_SIZE_MAX, &cmd->data_size)) < 0) ||
	    (v[C_COMPRESSED] && (r = alb_cbor_get_bool(ctx, v[C_COMPRESSED], p[C_COMPRESSED],
						       &cmd->compressed)) < 0) ||
	    (v[C_SINCE] && (r = alb_cbor_get_u64(ctx, v[C_SINCE], p[C_SINCE], 0, ALB_TIME_MAX,
						 &cmd->history.since_us)) < 0) ||
	    (v[C_COUNT] && (r = alb_cbor_get_u32(ctx, v[C_COUNT], p[C_COUNT], 1, ALB_HISTORY_MAX,
						 &cmd->history.count)) < 0) ||
	    (v[C_TIME] && (r = alb_cbor_get_u64(ctx, v[C_TIME], p[C_TIME], 0, ALB_TIME_MAX,
						&cmd->time_us)) < 0) ||
	    (v[C_OUTPUT] &&
	     (r = alb_cbor_get_bytes(ctx, v[C_OUTPUT], p[C_OUTPUT], 1, ALB_CONSOLE_OUTPUT_MAX,
				     &cmd->output, &output_len)) < 0) ||
	    (v[C_DROPPED] && (r = alb_cbor_get_u64(ctx, v[C_DROPPED], p[C_DROPPED], 1,
						   ALB_CONSOLE_DROPPED_MAX, &cmd->dropped)) < 0) ||
	    (v[C_PID] &&
	     (r = alb_cbor_get_u32(ctx, v[C_PID], p[C_PID], 1, ALB_PID_MAX, &cmd->pid)) < 0) ||
	    (v[C_TAPS] && (r = ifnames_from_cbor(ctx, v[C_TAPS], p[C_TAPS], ALB_TAPS_MAX,
						 &cmd->taps, &cmd->n_taps)) < 0) ||
	    (v[C_EVENT] && (r = event_from_cbor(ctx, v[C_EVENT], p[C_EVENT], &cmd->event)) < 0) ||
	    (v[C_FOLLOW] &&
	     (r = alb_cbor_get_bool(ctx, v[C_FOLLOW], p[C_FOLLOW], &cmd->history.follow)) < 0) ||
	    (v[C_ON_BEHALF_OF] &&
	     (r = alb_cbor_get_text(ctx, v[C_ON_BEHALF_OF], p[C_ON_BEHALF_OF], ALB_ON_BEHALF_OF_MAX,
				    &cmd->on_behalf_of)) < 0) ||
	    (v[C_SERVICE] &&
	     (r = alb_service_spec_from_cbor(ctx, v[C_SERVICE], p[C_SERVICE], &cmd->service)) < 0))
		return r;
	if (v[C_ON_BEHALF_OF] && !cmd->on_behalf_of[0])
		return alb_error(ctx, EBADMSG, "%s: empty", p[C_ON_BEHALF_OF]);
	/* One encoding per message: absent is false, so false is not written. */
	if (v[C_FOLLOW] && !cmd->history.follow)
		return alb_error(ctx, EBADMSG, "%s: false is written by leaving the key out",
				 p[C_FOLLOW]);
	if (v[C_SINCE] && v[C_COUNT])
		return alb_error(ctx, EBADMSG, "%s: not allowed together with since", p[C_COUNT]);
	cmd->output_len = (uint32_t)output_len;
	cmd->history.has_since = v[C_SINCE];
	cmd->history.has_count = v[C_COUNT];
	return 0;
}

void alb_cmd_clear(struct alb_cmd *cmd)
{
	if (!cmd)
		return;
	alb_unikernel_config_free(cmd->config);
	alb_strv_free(cmd->argv);
	alb_policy_free(cmd->policy);
	free(cmd->output);
	free(cmd->on_behalf_of);
	alb_strv_free(cmd->taps);
	alb_log_event_free(cmd->event);
	alb_service_spec_free(cmd->service);
	*cmd = (struct alb_cmd){0};
}

cbor_item_t *alb_cmd_to_cbor(const struct alb_cmd *cmd)
{
	if (!cmd || cmd->kind < ALB_CMD_UNIKERNEL_INFO ||
	    (size_t)cmd->kind >= ELEMENTSOF(command_names) || !command_names[cmd->kind])
		return NULL;
	return variant_to_cbor(&command_variant, cmd->kind, command_put, cmd);
}

int alb_cmd_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path, struct alb_cmd *cmd)
{
	struct alb_cmd c = {0};
	int r;

	if (!item || !path || !cmd)
		return -EINVAL;
	r = command_from_cbor(ctx, item, path, &c);
	if (r < 0) {
		alb_cmd_clear(&c);
		return r;
	}
	*cmd = c;
	return 0;
}

/* Success replies. */

static cbor_item_t *unikernel_info_to_cbor(const void *elt)
{
	const struct alb_unikernel_info *info = elt;
	_cleanup_(cbor_decref_ptrp) cbor_item_t *map = cbor_new_definite_map(10);

	if (!alb_cbor_put(map, "name", alb_name_to_cbor(info->name)) ||
	    !alb_cbor_put(map, "config", alb_config_to_cbor(info->config)) ||
	    !alb_cbor_put(map, "state",
			  alb_cbor_text(alb_unikernel_state_to_string(info->state))) ||
	    !alb_cbor_put(map, "pid", alb_cbor_uint(info->pid)) ||
	    !alb_cbor_put(map, "started", alb_cbor_uint(info->started_us)) ||
	    !alb_cbor_put(map, "restarts", alb_cbor_uint(info->restarts)) ||
	    (info->last_exit.kind &&
	     !alb_cbor_put(map, "last-exit", exit_to_cbor(&info->last_exit))) ||
	    (info->taps && !alb_cbor_put(map, "taps", alb_cbor_strv(info->taps, info->n_taps))) ||
	    (info->block_files &&
	     !alb_cbor_put(map, "block-files",
			   alb_cbor_strv(info->block_files, info->n_block_files))) ||
	    (info->failure && !alb_cbor_put(map, "failure", alb_cbor_text(info->failure))))
		return NULL;
	return TAKE_PTR(map);
}

static int unikernel_info_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path,
				    void *elt)
{
	struct alb_unikernel_info *info = elt;
	struct alb_cbor_key k[] = {
	    {"name"},
	    {"config"},
	    {"state"},
	    {"pid"},
	    {"started"},
	    {"restarts"},
	    {"last-exit", true},
	    {"taps", true},
	    {"block-files", true},
	    {"failure", true}, /* optional: absent from a server that does not send it */
	};
	int r;

	if ((r = alb_cbor_map_keys(ctx, item, path, k, ELEMENTSOF(k))) < 0 ||
	    (r = name_kind_from_cbor(ctx, k[0].value, k[0].path, false, &info->name)) < 0 ||
	    (r = alb_config_from_cbor(ctx, k[1].value, k[1].path, &info->config)) < 0 ||
	    (r = alb_cbor_get_enum(ctx, k[2].value, k[2].path, state_names, ELEMENTSOF(state_names),
				   &info->state)) < 0 ||
	    (r = alb_cbor_get_u32(ctx, k[3].value, k[3].path, 0, ALB_PID_MAX, &info->pid)) < 0 ||
	    (r = alb_cbor_get_u64(ctx, k[4].value, k[4].path, 0, ALB_TIME_MAX, &info->started_us)) <
		0 ||
	    (r = alb_cbor_get_u32(ctx, k[5].value, k[5].path, 0, UINT32_MAX, &info->restarts)) <
		0 ||
	    (k[6].value &&
	     (r = exit_from_cbor(ctx, k[6].value, k[6].path, &info->last_exit)) < 0) ||
	    (k[7].value && (r = ifnames_from_cbor(ctx, k[7].value, k[7].path, ALB_TAPS_MAX,
						  &info->taps, &info->n_taps)) < 0) ||
	    (k[8].value && (r = alb_cbor_get_strv(ctx, k[8].value, k[8].path, ALB_DEVICES_MAX,
						  ALB_WIRE_STRING_MAX, &info->block_files,
						  &info->n_block_files)) < 0) ||
	    (k[9].value && (r = alb_cbor_get_text(ctx, k[9].value, k[9].path, ALB_WIRE_STRING_MAX,
						  &info->failure)) < 0))
		return r;
	if (info->taps && info->n_taps != info->config->n_nets)
		return alb_error(ctx, EBADMSG,
				 "%s: %" PRIu32 " taps for %" PRIu32 " network devices", k[7].path,
				 info->n_taps, info->config->n_nets);
	if (info->block_files && info->n_block_files != info->config->n_blocks)
		return alb_error(ctx, EBADMSG,
				 "%s: %" PRIu32 " block files for %" PRIu32 " block devices",
				 k[8].path, info->n_block_files, info->config->n_blocks);
	return 0;
}

static cbor_item_t *policy_info_to_cbor(const void *elt)
{
	const struct alb_policy_info *info = elt;
	_cleanup_(cbor_decref_ptrp) cbor_item_t *map = cbor_new_definite_map(2);

	if (!alb_cbor_put(map, "path", alb_name_to_cbor(info->path)) ||
	    !alb_cbor_put(map, "policy", alb_policy_to_cbor(info->policy)))
		return NULL;
	return TAKE_PTR(map);
}

static int policy_info_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path, void *elt)
{
	struct alb_policy_info *info = elt;
	struct alb_cbor_key k[] = {{"path"}, {"policy"}};
	int r;

	if ((r = alb_cbor_map_keys(ctx, item, path, k, ELEMENTSOF(k))) < 0 ||
	    (r = name_kind_from_cbor(ctx, k[0].value, k[0].path, true, &info->path)) < 0 ||
	    (r = alb_policy_from_cbor(ctx, k[1].value, k[1].path, &info->policy)) < 0)
		return r;
	return 0;
}

static cbor_item_t *block_info_to_cbor(const void *elt)
{
	const struct alb_block_info *info = elt;
	_cleanup_(cbor_decref_ptrp) cbor_item_t *map = cbor_new_definite_map(4);

	if (!alb_cbor_put(map, "name", alb_name_to_cbor(info->name)) ||
	    !alb_cbor_put(map, "size", alb_cbor_uint(info->size_mb)) ||
	    (info->sector_size &&
	     !alb_cbor_put(map, "sector-size", alb_cbor_uint(info->sector_size))) ||
	    (info->used_by && !alb_cbor_put(map, "used-by", alb_name_to_cbor(info->used_by))))
		return NULL;
	return TAKE_PTR(map);
}

static int block_info_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path, void *elt)
{
	struct alb_block_info *info = elt;
	struct alb_cbor_key k[] = {{"name"}, {"size"}, {"sector-size", true}, {"used-by", true}};
	int r;

	if ((r = alb_cbor_map_keys(ctx, item, path, k, ELEMENTSOF(k))) < 0 ||
	    (r = name_kind_from_cbor(ctx, k[0].value, k[0].path, false, &info->name)) < 0 ||
	    (r = alb_cbor_get_u64(ctx, k[1].value, k[1].path, 1, ALB_BLOCK_SIZE_MAX_MB,
				  &info->size_mb)) < 0 ||
	    (k[2].value &&
	     (r = alb_cbor_get_sector_size(ctx, k[2].value, k[2].path, &info->sector_size)) < 0) ||
	    (k[3].value &&
	     (r = name_kind_from_cbor(ctx, k[3].value, k[3].path, false, &info->used_by)) < 0))
		return r;
	return 0;
}

static cbor_item_t *tender_info_to_cbor(const void *elt)
{
	const struct alb_tender_info *info = elt;
	_cleanup_(cbor_decref_ptrp) cbor_item_t *map =
	    cbor_new_definite_map(4 + !!info->unusable + !!info->path);

	if ((info->unusable && !alb_cbor_put(map, "unusable", alb_cbor_text(info->unusable))) ||
	    !alb_cbor_put(map, "name", alb_cbor_text(info->name)) ||
	    (info->path && !alb_cbor_put(map, "path", alb_cbor_text(info->path))) ||
	    !alb_cbor_put(
		map, "target",
		alb_cbor_text(enum_name(tender_names, ELEMENTSOF(tender_names), info->target))) ||
	    !alb_cbor_put(map, "version", alb_cbor_text(info->version)) ||
	    !alb_cbor_put(map, "abi", alb_cbor_uint(info->abi)))
		return NULL;
	return TAKE_PTR(map);
}

static int tender_info_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path, void *elt)
{
	struct alb_tender_info *info = elt;
	/* No path in a reply relayed to a remote client (docs/tls.md). */
	struct alb_cbor_key k[] = {{"name"},	{"path", true}, {"target"},
				   {"version"}, {"abi"},	{"unusable", true}};
	int r;

	if ((r = alb_cbor_map_keys(ctx, item, path, k, ELEMENTSOF(k))) < 0 ||
	    (r = alb_cbor_get_text(ctx, k[0].value, k[0].path, ALB_TENDER_FILE_MAX, &info->name)) <
		0 ||
	    (k[1].value && (r = alb_cbor_get_text(ctx, k[1].value, k[1].path, ALB_WIRE_STRING_MAX,
						  &info->path)) < 0) ||
	    (r = alb_cbor_get_enum(ctx, k[2].value, k[2].path, tender_names,
				   ELEMENTSOF(tender_names), &info->target)) < 0 ||
	    (r = alb_cbor_get_text(ctx, k[3].value, k[3].path, ALB_TENDER_VERSION_MAX,
				   &info->version)) < 0 ||
	    (r = alb_cbor_get_u32(ctx, k[4].value, k[4].path, 0, UINT32_MAX, &info->abi)) < 0 ||
	    (k[5].value && (r = alb_cbor_get_text(ctx, k[5].value, k[5].path, ALB_WIRE_STRING_MAX,
						  &info->unusable)) < 0))
		return r;
	if (info->unusable && !info->unusable[0])
		return alb_error(ctx, EBADMSG, "%s: empty", k[5].path);
	if (!info->name[0] || strchr(info->name, '/') || streq(info->name, ".") ||
	    streq(info->name, ".."))
		return alb_error(ctx, EBADMSG, "%s: '%s' is not a file name", k[0].path,
				 info->name);
	if (info->path && info->path[0] != '/')
		return alb_error(ctx, EBADMSG, "%s: '%s' is not an absolute path", k[1].path,
				 info->path);
	return 0;
}

enum {
	R_STRING,
	R_UNIKERNELS,
	R_POLICIES,
	R_BLOCKS,
	R_IMAGE_SIZE,
	R_COMPRESSED,
	R_DIGEST,
	R_TENDER,
	R_NAMES,
	R_TENDERS,
	R_SERVICES,
	R_COLLECTED,
	R_N,
};
_Static_assert(R_N <= VARIANT_KEYS_MAX, "keys do not fit in struct variant_values");

static const struct key_def reply_keys[R_N] = {
    [R_STRING] = {"string"},   [R_UNIKERNELS] = {"unikernels"}, [R_POLICIES] = {"policies"},
    [R_BLOCKS] = {"blocks"},   [R_IMAGE_SIZE] = {"image-size"}, [R_COMPRESSED] = {"compressed"},
    [R_DIGEST] = {"digest"},   [R_TENDER] = {"tender"},		[R_NAMES] = {"names"},
    [R_TENDERS] = {"tenders"}, [R_SERVICES] = {"services"},	[R_COLLECTED] = {"collected"},
};

static const uint32_t reply_fields[ELEMENTSOF(reply_names)] = {
    [ALB_REPLY_STRING] = BIT(R_STRING),
    [ALB_REPLY_UNIKERNELS] = BIT(R_UNIKERNELS),
    [ALB_REPLY_POLICIES] = BIT(R_POLICIES),
    [ALB_REPLY_BLOCKS] = BIT(R_BLOCKS),
    [ALB_REPLY_IMAGE] = BIT(R_IMAGE_SIZE) | BIT(R_COMPRESSED) | BIT(R_DIGEST) | BIT(R_TENDER),
    [ALB_REPLY_NAMES] = BIT(R_NAMES),
    [ALB_REPLY_TENDERS] = BIT(R_TENDERS),
    [ALB_REPLY_SERVICES] = BIT(R_SERVICES),
    [ALB_REPLY_COLLECTED] = BIT(R_COLLECTED),
};

static const struct variant reply_variant = {
    "kind", reply_names, ELEMENTSOF(reply_names), reply_fields, reply_keys, R_N,
};

/* Encodes n elements of size bytes each with fn, or null for a NULL array of n > 0. */
static cbor_item_t *list_to_cbor(const void *v, uint32_t n, size_t size,
				 cbor_item_t *(*fn)(const void *elt))
{
	if (!v && n > 0)
		return cbor_new_null();

	_cleanup_(cbor_decref_ptrp) cbor_item_t *array = cbor_new_definite_array(n);
	for (uint32_t i = 0; i < n; i++)
		if (!alb_cbor_push(array, fn((const char *)v + i * size)))
			return NULL;
	return TAKE_PTR(array);
}

/* Decodes an array of at most ALB_WIRE_LIST_MAX elements into a zeroed array of
 * size-byte elements (*ret, *ret_n set before the elements are decoded, so that
 * the caller frees a half-decoded array). */
static int list_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path, size_t size,
			  int (*fn)(alb_ctx *, const cbor_item_t *, const char *, void *),
			  void **ret, uint32_t *ret_n)
{
	char p[ALB_CBOR_PATH_MAX];
	size_t n;
	int r;

	r = alb_cbor_get_array(ctx, item, path, ALB_WIRE_LIST_MAX, &n);
	if (r < 0)
		return r;
	char *v = calloc(n > 0 ? n : 1, size);
	if (!v)
		return -ENOMEM;
	*ret = v;
	*ret_n = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		r = fn(ctx, cbor_array_handle(item)[i], alb_cbor_path_index(p, path, i),
		       v + i * size);
		if (r < 0)
			return r;
	}
	return 0;
}

static cbor_item_t *name_to_cbor_v(const void *elt)
{
	return alb_name_to_cbor(*(alb_name *const *)elt);
}

static int name_from_cbor_v(alb_ctx *ctx, const cbor_item_t *item, const char *path, void *elt)
{
	return alb_name_from_cbor(ctx, item, path, elt);
}

static bool reply_put(cbor_item_t *map, const void *obj, size_t id, const char *key)
{
	const struct alb_reply *reply = obj;

	switch (id) {
	case R_STRING:
		return alb_cbor_put(map, key, alb_cbor_text(reply->string));
	case R_UNIKERNELS:
		return alb_cbor_put(map, key,
				    list_to_cbor(reply->unikernels, reply->n_unikernels,
						 sizeof(*reply->unikernels),
						 unikernel_info_to_cbor));
	case R_POLICIES:
		return alb_cbor_put(map, key,
				    list_to_cbor(reply->policies, reply->n_policies,
						 sizeof(*reply->policies), policy_info_to_cbor));
	case R_BLOCKS:
		return alb_cbor_put(map, key,
				    list_to_cbor(reply->blocks, reply->n_blocks,
						 sizeof(*reply->blocks), block_info_to_cbor));
	case R_IMAGE_SIZE:
		return alb_cbor_put(map, key, alb_cbor_uint(reply->image_size));
	case R_COMPRESSED:
		return alb_cbor_put(map, key, alb_cbor_bool(reply->compressed));
	case R_DIGEST:
		return alb_cbor_put(map, key, alb_cbor_bytes(reply->digest, 32));
	case R_TENDER:
		return alb_cbor_put(map, key,
				    alb_cbor_text(enum_name(tender_names, ELEMENTSOF(tender_names),
							    reply->tender)));
	case R_NAMES:
		return alb_cbor_put(map, key,
				    list_to_cbor(reply->names, reply->n_names,
						 sizeof(*reply->names), name_to_cbor_v));
	case R_SERVICES:
		return alb_cbor_put(map, key,
				    list_to_cbor(reply->services, reply->n_services,
						 sizeof(*reply->services),
						 alb_service_info_to_cbor));
	case R_COLLECTED:
		return alb_cbor_put(map, key,
				    list_to_cbor(reply->collected, reply->n_collected,
						 sizeof(*reply->collected), alb_collected_to_cbor));
	default: /* R_TENDERS */
		return alb_cbor_put(map, key,
				    list_to_cbor(reply->tenders, reply->n_tenders,
						 sizeof(*reply->tenders), tender_info_to_cbor));
	}
}

static int reply_from_cbor(alb_ctx *ctx, const cbor_item_t *item, struct alb_reply *reply)
{
	struct variant_values vv;
	const cbor_item_t *const *v = vv.value;
	const char *const *p = vv.path;
	int r;

	r = variant_from_cbor(ctx, item, "success", &reply_variant, &vv);
	if (r < 0)
		return r;
	reply->kind = vv.kind;
	if ((v[R_STRING] && (r = alb_cbor_get_text(ctx, v[R_STRING], p[R_STRING],
						   ALB_WIRE_STRING_MAX, &reply->string)) < 0) ||
	    (v[R_UNIKERNELS] &&
	     (r = list_from_cbor(ctx, v[R_UNIKERNELS], p[R_UNIKERNELS], sizeof(*reply->unikernels),
				 unikernel_info_from_cbor, (void **)&reply->unikernels,
				 &reply->n_unikernels)) < 0) ||
	    (v[R_POLICIES] &&
	     (r = list_from_cbor(ctx, v[R_POLICIES], p[R_POLICIES], sizeof(*reply->policies),
				 policy_info_from_cbor, (void **)&reply->policies,
				 &reply->n_policies)) < 0) ||
	    (v[R_BLOCKS] && (r = list_from_cbor(ctx, v[R_BLOCKS], p[R_BLOCKS],
						sizeof(*reply->blocks), block_info_from_cbor,
						(void **)&reply->blocks, &reply->n_blocks)) < 0) ||
	    (v[R_IMAGE_SIZE] &&
	     (r = alb_cbor_get_u64(ctx, v[R_IMAGE_SIZE], p[R_IMAGE_SIZE], 0, ALB_IMAGE_SIZE_MAX,
				   &reply->image_size)) < 0) ||
	    (v[R_COMPRESSED] && (r = alb_cbor_get_bool(ctx, v[R_COMPRESSED], p[R_COMPRESSED],
						       &reply->compressed)) < 0) ||
	    (v[R_DIGEST] && (r = alb_cbor_get_bytes_fixed(ctx, v[R_DIGEST], p[R_DIGEST],
							  reply->digest, 32)) < 0) ||
	    (v[R_TENDER] &&
	     (r = alb_cbor_get_enum(ctx, v[R_TENDER], p[R_TENDER], tender_names,
				    ELEMENTSOF(tender_names), &reply->tender)) < 0) ||
	    (v[R_NAMES] &&
	     (r = list_from_cbor(ctx, v[R_NAMES], p[R_NAMES], sizeof(*reply->names),
				 name_from_cbor_v, (void **)&reply->names, &reply->n_names)) < 0) ||
	    (v[R_SERVICES] &&
	     (r = list_from_cbor(ctx, v[R_SERVICES], p[R_SERVICES], sizeof(*reply->services),
				 alb_service_info_from_cbor, (void **)&reply->services,
				 &reply->n_services)) < 0) ||
	    (v[R_COLLECTED] &&
	     (r = list_from_cbor(ctx, v[R_COLLECTED], p[R_COLLECTED], sizeof(*reply->collected),
				 alb_collected_from_cbor, (void **)&reply->collected,
				 &reply->n_collected)) < 0))
		return r;
	if (v[R_TENDERS]) {
		size_t n;
		if ((r = alb_cbor_get_array(ctx, v[R_TENDERS], p[R_TENDERS], ALB_TENDERS_MAX, &n)) <
			0 ||
		    (r = list_from_cbor(ctx, v[R_TENDERS], p[R_TENDERS], sizeof(*reply->tenders),
					tender_info_from_cbor, (void **)&reply->tenders,
					&reply->n_tenders)) < 0)
			return r;
	}
	return 0;
}

/* Failure replies. */
static cbor_item_t *failure_to_cbor(const struct alb_failure *failure)
{
	_cleanup_(cbor_decref_ptrp) cbor_item_t *map = cbor_new_definite_map(2);

	if (!alb_cbor_put(map, "code", alb_cbor_uint(failure->code)) ||
	    !alb_cbor_put(map, "message", alb_cbor_text(failure->message)))
		return NULL;
	return TAKE_PTR(map);
}

static int failure_from_cbor(alb_ctx *ctx, const cbor_item_t *item, struct alb_failure *failure)
{
	struct alb_cbor_key k[] = {{"code"}, {"message"}};
	int r;

	if ((r = alb_cbor_map_keys(ctx, item, "failure", k, ELEMENTSOF(k))) < 0 ||
	    (r = alb_cbor_get_u32(ctx, k[0].value, k[0].path, 1, ALB_ERROR_CODE_MAX,
				  &failure->code)) < 0 ||
	    (r = alb_cbor_get_text(ctx, k[1].value, k[1].path, ALB_WIRE_STRING_MAX,
				   &failure->message)) < 0)
		return r;
	return 0;
}

/* Statistics. */
static const struct u64_field stats_counters[] = {
    {"utime", offsetof(struct alb_stats, utime_us)},
    {"stime", offsetof(struct alb_stats, stime_us)},
    {"rss", offsetof(struct alb_stats, rss_bytes)},
    {"vsize", offsetof(struct alb_stats, vsize_bytes)},
    {"minflt", offsetof(struct alb_stats, minflt)},
    {"majflt", offsetof(struct alb_stats, majflt)},
    {"nvcsw", offsetof(struct alb_stats, nvcsw)},
    {"nivcsw", offsetof(struct alb_stats, nivcsw)},
};

static const struct u64_field if_counters[] = {
    {"rx-bytes", offsetof(struct alb_if_stats, rx_bytes)},
    {"rx-packets", offsetof(struct alb_if_stats, rx_packets)},
    {"rx-errors", offsetof(struct alb_if_stats, rx_errors)},
    {"rx-drops", offsetof(struct alb_if_stats, rx_drops)},
    {"tx-bytes", offsetof(struct alb_if_stats, tx_bytes)},
    {"tx-packets", offsetof(struct alb_if_stats, tx_packets)},
    {"tx-errors", offsetof(struct alb_if_stats, tx_errors)},
    {"tx-drops", offsetof(struct alb_if_stats, tx_drops)},
};

static inline void stats_freep(struct alb_stats **stats)
{
	alb_stats_free(*stats);
}

static cbor_item_t *if_stats_to_cbor(const void *elt)
{
	const struct alb_if_stats *s = elt;
	_cleanup_(cbor_decref_ptrp) cbor_item_t *map =
	    cbor_new_definite_map(1 + ELEMENTSOF(if_counters));

	if (!alb_cbor_put(map, "name", alb_cbor_text(s->name)) ||
	    !u64_fields_put(map, if_counters, ELEMENTSOF(if_counters), s))
		return NULL;
	return TAKE_PTR(map);
}

static cbor_item_t *kvm_to_cbor(const struct alb_kv *kvm, uint32_t n)
{
	if (!kvm && n > 0)
		return cbor_new_null();

	_cleanup_(cbor_decref_ptrp) cbor_item_t *map = cbor_new_definite_map(n);
	for (uint32_t i = 0; i < n; i++)
		if (!alb_cbor_put(map, kvm[i].key ? kvm[i].key : "", alb_cbor_uint(kvm[i].value)))
			return NULL;
	return TAKE_PTR(map);
}

static cbor_item_t *stats_to_cbor(const struct alb_stats *s)
{
	if (!s)
		return cbor_new_null();

	_cleanup_(cbor_decref_ptrp) cbor_item_t *map =
	    cbor_new_definite_map(5 + ELEMENTSOF(stats_counters));
	if (!alb_cbor_put(map, "time", alb_cbor_uint(s->time_us)) ||
	    !alb_cbor_put(map, "pid", alb_cbor_uint(s->pid)) ||
	    !alb_cbor_put(map, "start-time", alb_cbor_uint(s->start_time_us)) ||
	    !u64_fields_put(map, stats_counters, ELEMENTSOF(stats_counters), s) ||
	    !alb_cbor_put(map, "ifs",
			  list_to_cbor(s->ifs, s->n_ifs, sizeof(*s->ifs), if_stats_to_cbor)) ||
	    !alb_cbor_put(map, "kvm", kvm_to_cbor(s->kvm, s->n_kvm)))
		return NULL;
	return TAKE_PTR(map);
}

static int if_stats_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path,
			      struct alb_if_stats *s)
{
	struct alb_cbor_key k[1 + ELEMENTSOF(if_counters)] = {{"name"}};
	int r;

	for (size_t i = 0; i < ELEMENTSOF(if_counters); i++)
		k[1 + i].key = if_counters[i].key;
	if ((r = alb_cbor_map_keys(ctx, item, path, k, ELEMENTSOF(k))) < 0 ||
	    (r = alb_cbor_get_text(ctx, k[0].value, k[0].path, ALB_BRIDGE_NAME_MAX, &s->name)) <
		0 ||
	    (r = alb_cbor_field_error(ctx, alb_bridge_name_validate(ctx, s->name), k[0].path)) < 0)
		return r;
	return u64_fields_get(ctx, k + 1, if_counters, ELEMENTSOF(if_counters), s);
}

/* KVM counters: a map of [a-z0-9_] keys to unsigned integers. */
static int kvm_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path,
			 struct alb_stats *s)
{
	char p[ALB_CBOR_PATH_MAX];
	int r;

	if (!cbor_isa_map(item))
		return alb_cbor_map_keys(ctx, item, path, NULL, 0);
	size_t n = cbor_map_size(item);
	if (n > ALB_STATS_KVM_MAX)
		return alb_error(ctx, EBADMSG, "%s: %zu entries exceed the bound %u", path, n,
				 ALB_STATS_KVM_MAX);
	s->kvm = calloc(n > 0 ? n : 1, sizeof(*s->kvm));
	if (!s->kvm)
		return -ENOMEM;
	s->n_kvm = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		const struct cbor_pair *pair = &cbor_map_handle(item)[i];
		char *key;

		r = alb_cbor_get_text(ctx, pair->key, alb_cbor_path_index(p, path, i),
				      ALB_STATS_KEY_MAX, &s->kvm[i].key);
		if (r < 0)
			return r;
		key = s->kvm[i].key;
		if (!key[0] || key[strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_")])
			return alb_error(ctx, EBADMSG, "%s: key '%s' is not 1 or more of [a-z0-9_]",
					 p, key);
		for (size_t j = 0; j < i; j++)
			if (streq(s->kvm[j].key, key))
				return alb_error(ctx, EBADMSG, "%s: duplicate key '%s'", p, key);
		r = alb_cbor_get_u64(ctx, pair->value, alb_cbor_path(p, path, key), 0, UINT64_MAX,
				     &s->kvm[i].value);
		if (r < 0)
			return r;
	}
	return 0;
}

static int stats_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path,
			   struct alb_stats **ret)
{
	struct alb_cbor_key k[5 + ELEMENTSOF(stats_counters)] = {
	    {"time"}, {"pid"}, {"start-time"}, {"ifs"}, {"kvm"},
	};
	_cleanup_(stats_freep) struct alb_stats *s = NULL;
	char p[ALB_CBOR_PATH_MAX];
	size_t n;
	int r;

	for (size_t i = 0; i < ELEMENTSOF(stats_counters); i++)
		k[5 + i].key = stats_counters[i].key;
	r = alb_cbor_map_keys(ctx, item, path, k, ELEMENTSOF(k));
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if ((r = alb_cbor_get_u64(ctx, k[0].value, k[0].path, 0, ALB_TIME_MAX, &s->time_us)) < 0 ||
	    (r = alb_cbor_get_u32(ctx, k[1].value, k[1].path, 1, ALB_PID_MAX, &s->pid)) < 0 ||
	    (r = alb_cbor_get_u64(ctx, k[2].value, k[2].path, 0, ALB_TIME_MAX, &s->start_time_us)) <
		0 ||
	    (r = u64_fields_get(ctx, k + 5, stats_counters, ELEMENTSOF(stats_counters), s)) < 0 ||
	    (r = alb_cbor_get_array(ctx, k[3].value, k[3].path, ALB_STATS_IFS_MAX, &n)) < 0)
		return r;
	s->ifs = calloc(n > 0 ? n : 1, sizeof(*s->ifs));
	if (!s->ifs)
		return -ENOMEM;
	s->n_ifs = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		r = if_stats_from_cbor(ctx, cbor_array_handle(k[3].value)[i],
				       alb_cbor_path_index(p, k[3].path, i), &s->ifs[i]);
		if (r < 0)
			return r;
	}
	r = kvm_from_cbor(ctx, k[4].value, k[4].path, s);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(s);
	return 0;
}

/* Stream data. */
enum {
	D_CHUNK,
	D_TIME,
	D_LINE,
	D_TRUNCATED,
	D_DROPPED,
	D_EVENT,
	D_STATS,
	D_N,
};
_Static_assert(D_N <= VARIANT_KEYS_MAX, "keys do not fit in struct variant_values");

static const struct key_def data_keys[D_N] = {
    [D_CHUNK] = {"chunk"},
    [D_TIME] = {"time"},
    [D_LINE] = {"line"},
    [D_TRUNCATED] = {"truncated"},
    [D_DROPPED] = {"dropped", true},
    [D_EVENT] = {"event"},
    [D_STATS] = {"stats"},
};

static const uint32_t data_fields[ELEMENTSOF(data_names)] = {
    [ALB_DATA_CHUNK] = BIT(D_CHUNK),
    [ALB_DATA_CONSOLE] = BIT(D_TIME) | BIT(D_LINE) | BIT(D_TRUNCATED) | BIT(D_DROPPED),
    [ALB_DATA_LOG] = BIT(D_EVENT),
    [ALB_DATA_STATS] = BIT(D_STATS),
};

static const struct variant data_variant = {
    "kind", data_names, ELEMENTSOF(data_names), data_fields, data_keys, D_N,
};

static bool data_put(cbor_item_t *map, const void *obj, size_t id, const char *key)
{
	const struct alb_data *data = obj;

	switch (id) {
	case D_CHUNK:
		return alb_cbor_put(map, key, alb_cbor_bytes(data->chunk, data->chunk_len));
	case D_TIME:
		return alb_cbor_put(map, key, alb_cbor_uint(data->console.time_us));
	case D_LINE:
		return alb_cbor_put(map, key,
				    alb_cbor_bytes(data->console.line, data->console.len));
	case D_TRUNCATED:
		return alb_cbor_put(map, key, alb_cbor_bool(data->console.truncated));
	case D_DROPPED: /* only true is written: absent means false */
		return !data->console.dropped || alb_cbor_put(map, key, alb_cbor_bool(true));
	case D_EVENT:
		return alb_cbor_put(map, key, event_to_cbor(data->event));
	default: /* D_STATS */
		return alb_cbor_put(map, key, stats_to_cbor(data->stats));
	}
}

static int data_from_cbor(alb_ctx *ctx, const cbor_item_t *item, struct alb_data *data)
{
	struct variant_values vv;
	const cbor_item_t *const *v = vv.value;
	const char *const *p = vv.path;
	size_t len = 0;
	int r;

	r = variant_from_cbor(ctx, item, "data", &data_variant, &vv);
	if (r < 0)
		return r;
	data->kind = vv.kind;
	if ((v[D_CHUNK] && (r = alb_cbor_get_bytes(ctx, v[D_CHUNK], p[D_CHUNK], 1, ALB_CHUNK_MAX,
						   &data->chunk, &len)) < 0) ||
	    (v[D_TIME] && (r = alb_cbor_get_u64(ctx, v[D_TIME], p[D_TIME], 0, ALB_TIME_MAX,
						&data->console.time_us)) < 0) ||
	    (v[D_LINE] &&
	     (r = alb_cbor_get_bytes(ctx, v[D_LINE], p[D_LINE], 0, ALB_CONSOLE_LINE_MAX,
				     &data->console.line, &len)) < 0) ||
	    (v[D_TRUNCATED] && (r = alb_cbor_get_bool(ctx, v[D_TRUNCATED], p[D_TRUNCATED],
						      &data->console.truncated)) < 0) ||
	    (v[D_DROPPED] && (r = alb_cbor_get_bool(ctx, v[D_DROPPED], p[D_DROPPED],
						    &data->console.dropped)) < 0) ||
	    (v[D_EVENT] && (r = event_from_cbor(ctx, v[D_EVENT], p[D_EVENT], &data->event)) < 0) ||
	    (v[D_STATS] && (r = stats_from_cbor(ctx, v[D_STATS], p[D_STATS], &data->stats)) < 0))
		return r;
	if (v[D_DROPPED] && !data->console.dropped)
		return alb_error(ctx, EBADMSG, "%s: false is written by leaving the key out",
				 p[D_DROPPED]);
	if (v[D_CHUNK])
		data->chunk_len = (uint32_t)len;
	if (v[D_LINE])
		data->console.len = (uint32_t)len;
	return 0;
}

/* Messages. */
ALB_EXPORT int alb_msg_new(alb_msg **ret, int kind, uint64_t seq, const alb_name *name)
{
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL;
	int r;

	if (!ret || !name || kind < ALB_MSG_COMMAND || kind > ALB_MSG_DATA)
		return -EINVAL;
	msg = calloc(1, sizeof(*msg));
	if (!msg)
		return -ENOMEM;
	r = alb_name_dup(name, &msg->name);
	if (r < 0)
		return r;
	msg->version = ALB_WIRE_VERSION;
	msg->seq = seq;
	msg->kind = kind;
	*ret = TAKE_PTR(msg);
	return 0;
}

ALB_EXPORT alb_msg *alb_msg_free(alb_msg *msg)
{
	if (!msg)
		return NULL;
	alb_name_free(msg->name);

	alb_cmd_clear(&msg->cmd);

	struct alb_reply *reply = &msg->reply;
	free(reply->string);
	for (uint32_t i = 0; reply->unikernels && i < reply->n_unikernels; i++)
		alb_unikernel_info_clear(&reply->unikernels[i]);
	free(reply->unikernels);
	for (uint32_t i = 0; reply->policies && i < reply->n_policies; i++)
		alb_policy_info_clear(&reply->policies[i]);
	free(reply->policies);
	for (uint32_t i = 0; reply->blocks && i < reply->n_blocks; i++)
		alb_block_info_clear(&reply->blocks[i]);
	free(reply->blocks);
	for (uint32_t i = 0; reply->names && i < reply->n_names; i++)
		alb_name_free(reply->names[i]);
	free(reply->names);
	for (uint32_t i = 0; reply->tenders && i < reply->n_tenders; i++)
		alb_tender_info_clear(&reply->tenders[i]);
	free(reply->tenders);
	for (uint32_t i = 0; reply->services && i < reply->n_services; i++)
		alb_service_info_clear(&reply->services[i]);
	free(reply->services);
	for (uint32_t i = 0; reply->collected && i < reply->n_collected; i++)
		alb_collected_clear(&reply->collected[i]);
	free(reply->collected);

	free(msg->failure.message);

	free(msg->data.chunk);
	free(msg->data.console.line);
	alb_log_event_free(msg->data.event);
	alb_stats_free(msg->data.stats);
	free(msg);
	return NULL;
}

static cbor_item_t *msg_to_cbor(const alb_msg *msg)
{
	_cleanup_(cbor_decref_ptrp) cbor_item_t *map = cbor_new_definite_map(4);

	if (!alb_cbor_put(map, "version", alb_cbor_uint(msg->version)) ||
	    !alb_cbor_put(map, "seq", alb_cbor_uint(msg->seq)) ||
	    !alb_cbor_put(map, "name", alb_name_to_cbor(msg->name)))
		return NULL;
	switch (msg->kind) {
	case ALB_MSG_COMMAND:
		if (!alb_cbor_put(
			map, "command",
			variant_to_cbor(&command_variant, msg->cmd.kind, command_put, &msg->cmd)))
			return NULL;
		break;
	case ALB_MSG_SUCCESS:
		if (!alb_cbor_put(
			map, "success",
			variant_to_cbor(&reply_variant, msg->reply.kind, reply_put, &msg->reply)))
			return NULL;
		break;
	case ALB_MSG_FAILURE:
		if (!alb_cbor_put(map, "failure", failure_to_cbor(&msg->failure)))
			return NULL;
		break;
	case ALB_MSG_DATA:
		if (!alb_cbor_put(
			map, "data",
			variant_to_cbor(&data_variant, msg->data.kind, data_put, &msg->data)))
			return NULL;
		break;
	default: /* no body: the check in alb_msg_encode() rejects it */
		break;
	}
	return TAKE_PTR(map);
}

int alb_msg_encode_unchecked(alb_ctx *ctx, const alb_msg *msg, uint8_t **ret_buf, uint64_t *ret_len)
{
	_cleanup_(cbor_decref_ptrp) cbor_item_t *item = NULL;
	size_t len;
	if (!msg || !ret_buf || !ret_len)
		return -EINVAL;
	item = msg_to_cbor(msg);
	if (!item)
		return -ENOMEM;
	int r = alb_cbor_serialize(ctx, item, ret_buf, &len);
	if (r < 0)
		return r;
	*ret_len = len;
	return 0;
}

ALB_EXPORT int alb_msg_encode(alb_ctx *ctx, const alb_msg *msg, uint8_t **ret_buf,
			      uint64_t *ret_len)
{
	_cleanup_(alb_msg_freep) alb_msg *check = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	uint64_t len;
	int r = alb_msg_encode_unchecked(ctx, msg, &buf, &len);
	if (r < 0)
		return r;
	/* The encoder writes what the structure holds; the decoder judges it. */
	r = alb_msg_decode(ctx, buf, len, &check);
	if (r == -EBADMSG || r == -EPROTO)
		return alb_error_prefix(ctx, -EINVAL, "invalid message");
	if (r < 0)
		return r;
	*ret_buf = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

ALB_EXPORT int alb_msg_decode(alb_ctx *ctx, const uint8_t *buf, uint64_t len, alb_msg **ret_msg)
{
	struct alb_cbor_key k[] = {
	    {"version"},       {"seq"},		  {"name"},	  {"command", true},
	    {"success", true}, {"failure", true}, {"data", true},
	};
	_cleanup_(cbor_decref_ptrp) cbor_item_t *item = NULL;
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL;
	int r;

	if ((!buf && len > 0) || !ret_msg)
		return -EINVAL;
	if ((size_t)len != len)
		return alb_error(ctx, EBADMSG, "message of %" PRIu64 " bytes is too large", len);
	r = alb_cbor_load(ctx, buf, (size_t)len, &item);
	if (r < 0)
		return r;

	/* The version first: another version may have other keys. */
	if (cbor_isa_map(item)) {
		const cbor_item_t *version = alb_cbor_map_get(item, "version");
		if (version && cbor_isa_uint(version) && cbor_get_int(version) != ALB_WIRE_VERSION)
			return alb_error(ctx, EPROTO, "unsupported protocol version %" PRIu64,
					 cbor_get_int(version));
	}
	r = alb_cbor_map_keys(ctx, item, "", k, ELEMENTSOF(k));
	if (r < 0)
		return r;

	msg = calloc(1, sizeof(*msg));
	if (!msg)
		return -ENOMEM;
	if ((r = alb_cbor_get_u32(ctx, k[0].value, k[0].path, ALB_WIRE_VERSION, ALB_WIRE_VERSION,
				  &msg->version)) < 0 ||
	    (r = alb_cbor_get_u64(ctx, k[1].value, k[1].path, 0, UINT64_MAX, &msg->seq)) < 0 ||
	    (r = alb_name_from_cbor(ctx, k[2].value, k[2].path, &msg->name)) < 0)
		return r;
	if (!!k[3].value + !!k[4].value + !!k[5].value + !!k[6].value != 1)
		return alb_error(
		    ctx, EBADMSG,
		    "message: expected exactly one of command, success, failure, data");
	if (k[3].value) {
		msg->kind = ALB_MSG_COMMAND;
		r = command_from_cbor(ctx, k[3].value, k[3].path, &msg->cmd);
	} else if (k[4].value) {
		msg->kind = ALB_MSG_SUCCESS;
		r = reply_from_cbor(ctx, k[4].value, &msg->reply);
	} else if (k[5].value) {
		msg->kind = ALB_MSG_FAILURE;
		r = failure_from_cbor(ctx, k[5].value, &msg->failure);
	} else {
		msg->kind = ALB_MSG_DATA;
		r = data_from_cbor(ctx, k[6].value, &msg->data);
	}
	if (r < 0)
		return r;
	*ret_msg = TAKE_PTR(msg);
	return 0;
}

/*
 * The fast way of a chunk (an upload: 1 MB frames, each decoded and copied twice by the
 * general way). The chunk is the frame's last item, a byte string of 4-byte length
 * (0x5a) whose bytes end the frame; the frame up to it is the envelope. The envelope
 * followed by a chunk of one byte (0x41 and the chunk's first byte) is decoded the
 * general way, with every check, and must come out as a chunk and encode back to
 * exactly those bytes: then the frame is that message with the long chunk, whose bytes
 * move to the front of the frame's buffer, which becomes the chunk. 1 when taken, 0
 * when the general way is to decode it (not a chunk, a chunk out of bounds, an envelope
 * encoded otherwise: its reasons are the general way's), -ENOMEM.
 */
#define CHUNK_FAST_ENVELOPE_MAX 512u
static int decode_chunk_fast(alb_ctx *ctx, uint8_t **buf, size_t len, alb_msg **ret_msg)
{
	const uint8_t *b = *buf;
	size_t at = 0, chunk_len = 0;
	for (size_t p = 0; p + 5 < len && p < CHUNK_FAST_ENVELOPE_MAX; p++) {
		if (b[p] != 0x5a)
			continue;
		uint32_t declared = alb_frame_header_get(b + p + 1); /* big-endian as CBOR's */
		if (declared == len - p - 5) {
			at = p;
			chunk_len = declared;
			break;
		}
	}
	if (at == 0 || chunk_len <= UINT16_MAX || chunk_len > ALB_CHUNK_MAX)
		return 0;

	uint8_t envelope[CHUNK_FAST_ENVELOPE_MAX + 2];
	memcpy(envelope, b, at);
	envelope[at] = 0x41;
	envelope[at + 1] = b[at + 5];
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL;
	_cleanup_free_ uint8_t *enc = NULL;
	uint64_t enc_len;
	int r = alb_msg_decode(ctx, envelope, at + 2, &msg);
	if (r == -ENOMEM)
		return r;
	if (r < 0 || msg->kind != ALB_MSG_DATA || msg->data.kind != ALB_DATA_CHUNK ||
	    msg->data.chunk_len != 1)
		return 0;
	r = alb_msg_encode_unchecked(ctx, msg, &enc, &enc_len);
	if (r < 0)
		return r;
	if (enc_len != at + 2 || memcmp(enc, envelope, at + 2) != 0)
		return 0;
	free(msg->data.chunk);
	memmove(*buf, *buf + at + 5, chunk_len);
	msg->data.chunk = TAKE_PTR(*buf);
	msg->data.chunk_len = (uint32_t)chunk_len;
	*ret_msg = TAKE_PTR(msg);
	return 1;
}

int alb_msg_decode_chunk(alb_ctx *ctx, uint8_t **buf, uint64_t len, alb_msg **ret_msg)
{
	if (!buf || !ret_msg)
		return -EINVAL;
	if (!*buf || len <= UINT16_MAX || (size_t)len != len)
		return 0;
	return decode_chunk_fast(ctx, buf, (size_t)len, ret_msg);
}

int alb_msg_decode_frame(alb_ctx *ctx, uint8_t **buf, uint64_t len, alb_msg **ret_msg)
{
	int r = alb_msg_decode_chunk(ctx, buf, len, ret_msg);
	if (r != 0)
		return r < 0 ? r : 0;
	return alb_msg_decode(ctx, *buf, len, ret_msg);
}

ALB_EXPORT int alb_msg_get_kind(const alb_msg *msg)
{
	return msg ? msg->kind : -EINVAL;
}

ALB_EXPORT uint64_t alb_msg_get_seq(const alb_msg *msg)
{
	return msg ? msg->seq : 0;
}

ALB_EXPORT const alb_name *alb_msg_get_name(const alb_msg *msg)
{
	return msg ? msg->name : NULL;
}

ALB_EXPORT int alb_msg_get_command(const alb_msg *msg)
{
	return msg && msg->kind == ALB_MSG_COMMAND ? msg->cmd.kind : -EINVAL;
}

ALB_EXPORT int alb_msg_get_failure(const alb_msg *msg, int32_t *ret_code, const char **ret_message)
{
	if (!msg || msg->kind != ALB_MSG_FAILURE || !ret_code || !ret_message)
		return -EINVAL;
	*ret_code = (int32_t)msg->failure.code;
	*ret_message = msg->failure.message;
	return 0;
}

int alb_msg_copy(alb_ctx *ctx, const alb_msg *msg, alb_msg **ret)
{
	_cleanup_free_ uint8_t *buf = NULL;
	uint64_t len;
	int r = alb_msg_encode(ctx, msg, &buf, &len);
	return r < 0 ? r : alb_msg_decode(ctx, buf, len, ret);
}
