/* SPDX-License-Identifier: ISC */
/* Strict CBOR loading and the typed helpers of the codecs (cbor-private.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "cbor-private.h"
#include "ctx-private.h"

/*
 * The pre-validator walks the bytes without allocating, so that libcbor only
 * ever sees input whose every declared size is backed by bytes. It keeps the
 * map keys and array indices it is in, to name the field in its errors.
 */
struct walk {
	alb_ctx *ctx;
	const uint8_t *buf;
	size_t len, pos;
	unsigned depth;
	struct {
		bool map;
		size_t index;	    /* of the element, or of the pair in a map */
		const uint8_t *key; /* the text key of the current pair, or NULL */
		size_t key_len;
	} level[ALB_CBOR_DEPTH_MAX];
};

static bool printable(const uint8_t *s, size_t len)
{
	if (len == 0 || len > 64)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

_printf_(3, 4) static int walk_error(const struct walk *w, size_t at, const char *fmt, ...)
{
	char path[ALB_CBOR_PATH_MAX] = "", reason[128];
	size_t used = 0;
	va_list ap;

	for (unsigned i = 0; i < w->depth && used < sizeof(path); i++) {
		if (w->level[i].key && printable(w->level[i].key, w->level[i].key_len))
			used += (size_t)snprintf(path + used, sizeof(path) - used, "%s%.*s",
						 used ? "." : "", (int)w->level[i].key_len,
						 (const char *)w->level[i].key);
		else
			used += (size_t)snprintf(path + used, sizeof(path) - used, "[%zu]",
						 w->level[i].index);
	}
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	return alb_error(w->ctx, EBADMSG, "%s: %s (CBOR byte %zu)", path[0] ? path : "message",
			 reason, at);
}

static int walk_item(struct walk *w)
{
	size_t start = w->pos, left;
	uint64_t arg;

	if (w->pos >= w->len)
		return walk_error(w, w->pos, "truncated");

	uint8_t initial = w->buf[w->pos++];
	unsigned major = initial >> 5, info = initial & 0x1f;

	if (info < 24)
		arg = info;
	else if (info <= 27) {
		size_t n = (size_t)1 << (info - 24);
		if (w->len - w->pos < n)
			return walk_error(w, w->len, "truncated");
		arg = 0;
		for (size_t i = 0; i < n; i++)
			arg = arg << 8 | w->buf[w->pos + i];
		w->pos += n;
	} else if (info == 31)
		return walk_error(w, start, "indefinite lengths are not allowed");
	else
		return walk_error(w, start, "reserved additional information %u", info);

	left = w->len - w->pos;
	switch (major) {
	case 0: /* unsigned integer */
	case 1: /* negative integer */
		return 0;
	case 2: /* byte string */
	case 3: /* text string */
		if (arg > left)
			return walk_error(w, start,
					  "string of %" PRIu64 " bytes exceeds the %zu bytes left",
					  arg, left);
		if (major == 3 && !alb_utf8_valid((const char *)w->buf + w->pos, (size_t)arg))
			return walk_error(w, start, "string is not valid UTF-8");
		w->pos += arg;
		return 0;
	case 4:	  /* array */
	case 5: { /* map */
		bool map = major == 5;
		if ((map ? arg > left / 2 : arg > left))
			return walk_error(w, start,
					  "%" PRIu64 " elements cannot fit in the %zu bytes left",
					  arg, left);
		if (arg > ALB_CBOR_CONTAINER_MAX)
			return walk_error(w, start, "%" PRIu64 " elements exceed the bound %u", arg,
					  ALB_CBOR_CONTAINER_MAX);
		if (w->depth >= ALB_CBOR_DEPTH_MAX)
			return walk_error(w, start, "nesting deeper than %u", ALB_CBOR_DEPTH_MAX);

		unsigned d = w->depth++;
		w->level[d].map = map;
		for (size_t i = 0; i < arg; i++) {
			int r;
			w->level[d].index = i;
			w->level[d].key = NULL;
			if (map) {
				size_t key = w->pos;
				r = walk_item(w);
				if (r < 0)
					return r;
				/* a text key of up to 23 bytes, the only kind printed */
				if (w->buf[key] >> 5 == 3 && (w->buf[key] & 0x1f) < 24) {
					w->level[d].key = w->buf + key + 1;
					w->level[d].key_len = w->buf[key] & 0x1f;
				}
			}
			r = walk_item(w);
			if (r < 0)
				return r;
		}
		w->depth--;
		return 0;
	}
	case 6:
		return walk_error(w, start, "tags are not allowed");
	default:
		if (info >= 20 && info <= 22) /* false, true, null */
			return 0;
		if (info >= 25 && info <= 27)
			return walk_error(w, start, "floats are not allowed");
		return walk_error(w, start, "simple value not allowed");
	}
}

int alb_cbor_load(alb_ctx *ctx, const uint8_t *buf, size_t len, cbor_item_t **ret)
{
	struct walk w = {.ctx = ctx, .buf = buf, .len = len};
	struct cbor_load_result result;
	int r;

	r = walk_item(&w);
	if (r < 0)
		return r;
	if (w.pos != len)
		return walk_error(&w, w.pos, "%zu trailing bytes after the item", len - w.pos);

	cbor_item_t *item = cbor_load(buf, len, &result);
	if (!item)
		return result.error.code == CBOR_ERR_MEMERROR
			   ? -ENOMEM
			   : alb_error(ctx, EBADMSG, "message: malformed CBOR (byte %zu)",
				       result.error.position);
	*ret = item;
	return 0;
}

int alb_cbor_serialize(alb_ctx *ctx, const cbor_item_t *item, uint8_t **ret, size_t *ret_len)
{
	unsigned char *buf = NULL;
	size_t size;
	size_t len = cbor_serialize_alloc(item, &buf, &size);

	if (len == 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* Appends s at *used, as snprintf() would (cut to the buffer, always terminated). */
static void path_put(char buf[static ALB_CBOR_PATH_MAX], size_t *used, const char *s, size_t len)
{
	if (*used + len >= ALB_CBOR_PATH_MAX)
		len = ALB_CBOR_PATH_MAX - 1 - *used;
	memcpy(buf + *used, s, len);
	*used += len;
	buf[*used] = '\0';
}

/* Paths are made for every field decoded (a listing of 1000 unikernels makes tens of
 * thousands): copies, not snprintf(). */
const char *alb_cbor_path(char buf[static ALB_CBOR_PATH_MAX], const char *parent, const char *key)
{
	size_t used = 0;
	buf[0] = '\0';
	path_put(buf, &used, parent, strlen(parent));
	if (parent[0])
		path_put(buf, &used, ".", 1);
	path_put(buf, &used, key, strlen(key));
	return buf;
}

const char *alb_cbor_path_index(char buf[static ALB_CBOR_PATH_MAX], const char *parent,
				size_t index)
{
	char digits[24];
	size_t n = sizeof(digits);
	size_t used = 0;
	digits[--n] = ']';
	do
		digits[--n] = (char)('0' + index % 10);
	while ((index /= 10) > 0);
	digits[--n] = '[';
	buf[0] = '\0';
	path_put(buf, &used, parent, strlen(parent));
	path_put(buf, &used, digits + n, sizeof(digits) - n);
	return buf;
}

static const char *type_name(const cbor_item_t *item)
{
	switch (cbor_typeof(item)) {
	case CBOR_TYPE_UINT:
		return "an unsigned integer";
	case CBOR_TYPE_NEGINT:
		return "a negative integer";
	case CBOR_TYPE_BYTESTRING:
		return "a byte string";
	case CBOR_TYPE_STRING:
		return "a text string";
	case CBOR_TYPE_ARRAY:
		return "an array";
	case CBOR_TYPE_MAP:
		return "a map";
	default:
		return cbor_is_null(item) ? "null" : cbor_is_bool(item) ? "a boolean" : "a value";
	}
}

static int wrong_type(alb_ctx *ctx, const cbor_item_t *item, const char *path, const char *want)
{
	return alb_error(ctx, EBADMSG, "%s: expected %s, got %s", path, want, type_name(item));
}

static bool key_is(const cbor_item_t *key, const char *name)
{
	size_t len = strlen(name);

	return cbor_string_length(key) == len && memcmp(cbor_string_handle(key), name, len) == 0;
}

int alb_cbor_map_keys(alb_ctx *ctx, const cbor_item_t *item, const char *path,
		      struct alb_cbor_key *keys, size_t n_keys)
{
	if (!cbor_isa_map(item))
		return wrong_type(ctx, item, path[0] ? path : "message", "a map");

	for (size_t k = 0; k < n_keys; k++) {
		keys[k].value = NULL;
		alb_cbor_path(keys[k].path, path, keys[k].key);
	}

	struct cbor_pair *pairs = cbor_map_handle(item);
	size_t n = cbor_map_size(item);
	for (size_t i = 0; i < n; i++) {
		const cbor_item_t *key = pairs[i].key;
		size_t k;

		if (!cbor_isa_string(key))
			return alb_error(ctx, EBADMSG, "%s: key %zu is %s, not a text string",
					 path[0] ? path : "message", i, type_name(key));
		for (k = 0; k < n_keys; k++)
			if (key_is(key, keys[k].key))
				break;
		if (k == n_keys) {
			if (printable(cbor_string_handle(key), cbor_string_length(key)))
				return alb_error(ctx, EBADMSG, "%s: unknown key '%.*s'",
						 path[0] ? path : "message",
						 (int)cbor_string_length(key),
						 (const char *)cbor_string_handle(key));
			return alb_error(ctx, EBADMSG, "%s: unknown key %zu",
					 path[0] ? path : "message", i);
		}
		if (keys[k].value)
			return alb_error(ctx, EBADMSG, "%s: duplicate key", keys[k].path);
		keys[k].value = pairs[i].value;
	}

	for (size_t k = 0; k < n_keys; k++)
		if (!keys[k].value && !keys[k].optional)
			return alb_error(ctx, EBADMSG, "%s: missing", keys[k].path);
	return 0;
}

const cbor_item_t *alb_cbor_map_get(const cbor_item_t *item, const char *key)
{
	struct cbor_pair *pairs = cbor_map_handle(item);

	for (size_t i = 0; i < cbor_map_size(item); i++)
		if (cbor_isa_string(pairs[i].key) && key_is(pairs[i].key, key))
			return pairs[i].value;
	return NULL;
}

int alb_cbor_get_u64(alb_ctx *ctx, const cbor_item_t *item, const char *path, uint64_t min,
		     uint64_t max, uint64_t *ret)
{
	if (!cbor_isa_uint(item))
		return wrong_type(ctx, item, path, "an unsigned integer");

	uint64_t v = cbor_get_int(item);
	if (v < min || v > max)
		return alb_error(ctx, EBADMSG,
				 "%s: %" PRIu64 " is out of range %" PRIu64 "..%" PRIu64, path, v,
				 min, max);
	*ret = v;
	return 0;
}

int alb_cbor_get_u32(alb_ctx *ctx, const cbor_item_t *item, const char *path, uint32_t min,
		     uint32_t max, uint32_t *ret)
{
	uint64_t v = 0;
	int r = alb_cbor_get_u64(ctx, item, path, min, max, &v);

	if (r < 0)
		return r;
	*ret = (uint32_t)v;
	return 0;
}

int alb_cbor_get_bool(alb_ctx *ctx, const cbor_item_t *item, const char *path, bool *ret)
{
	if (!cbor_is_bool(item))
		return wrong_type(ctx, item, path, "a boolean");
	*ret = cbor_get_bool(item);
	return 0;
}

/* Checks a text string; *ret_s and *ret_len describe its bytes. */
static int check_text(alb_ctx *ctx, const cbor_item_t *item, const char *path, size_t max,
		      const char **ret_s, size_t *ret_len)
{
	if (!cbor_isa_string(item))
		return wrong_type(ctx, item, path, "a text string");

	const char *s = (const char *)cbor_string_handle(item);
	size_t len = cbor_string_length(item);
	if (len > max)
		return alb_error(ctx, EBADMSG, "%s: string of %zu bytes exceeds the bound %zu",
				 path, len, max);
	if (len > 0 && memchr(s, '\0', len))
		return alb_error(ctx, EBADMSG, "%s: string contains a NUL byte", path);
	*ret_s = s;
	*ret_len = len;
	return 0;
}

int alb_cbor_get_text(alb_ctx *ctx, const cbor_item_t *item, const char *path, size_t max,
		      char **ret)
{
	const char *s;
	size_t len;
	int r = check_text(ctx, item, path, max, &s, &len);

	if (r < 0)
		return r;
	char *copy = strndup(len > 0 ? s : "", len);
	if (!copy)
		return -ENOMEM;
	*ret = copy;
	return 0;
}

int alb_cbor_get_enum(alb_ctx *ctx, const cbor_item_t *item, const char *path,
		      const char *const *names, size_t n_names, int *ret)
{
	const char *s = NULL;
	size_t len = 0;
	int r = check_text(ctx, item, path, 64, &s, &len);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n_names; i++)
		if (names[i] && strlen(names[i]) == len && memcmp(names[i], s, len) == 0) {
			*ret = (int)i;
			return 0;
		}
	return alb_error(ctx, EBADMSG, "%s: unknown value '%.*s'", path, (int)len, s);
}

int alb_cbor_get_bytes(alb_ctx *ctx, const cbor_item_t *item, const char *path, size_t min,
		       size_t max, uint8_t **ret, size_t *ret_len)
{
	if (!cbor_isa_bytestring(item))
		return wrong_type(ctx, item, path, "a byte string");

	size_t len = cbor_bytestring_length(item);
	if (len < min || len > max)
		return alb_error(ctx, EBADMSG, "%s: %zu bytes is out of range %zu..%zu", path, len,
				 min, max);
	uint8_t *copy = malloc(len > 0 ? len : 1);
	if (!copy)
		return -ENOMEM;
	if (len > 0)
		memcpy(copy, cbor_bytestring_handle(item), len);
	*ret = copy;
	*ret_len = len;
	return 0;
}

int alb_cbor_get_bytes_fixed(alb_ctx *ctx, const cbor_item_t *item, const char *path, uint8_t *ret,
			     size_t len)
{
	if (!cbor_isa_bytestring(item))
		return wrong_type(ctx, item, path, "a byte string");
	if (cbor_bytestring_length(item) != len)
		return alb_error(ctx, EBADMSG, "%s: expected %zu bytes, got %zu", path, len,
				 cbor_bytestring_length(item));
	memcpy(ret, cbor_bytestring_handle(item), len);
	return 0;
}

int alb_cbor_get_array(alb_ctx *ctx, const cbor_item_t *item, const char *path, size_t max,
		       size_t *ret_n)
{
	if (!cbor_isa_array(item))
		return wrong_type(ctx, item, path, "an array");
	if (cbor_array_size(item) > max)
		return alb_error(ctx, EBADMSG, "%s: %zu elements exceed the bound %zu", path,
				 cbor_array_size(item), max);
	*ret_n = cbor_array_size(item);
	return 0;
}

int alb_cbor_get_strv(alb_ctx *ctx, const cbor_item_t *item, const char *path, size_t max,
		      size_t len_max, char ***ret, uint32_t *ret_n)
{
	char p[ALB_CBOR_PATH_MAX];
	size_t n;
	int r;

	r = alb_cbor_get_array(ctx, item, path, max, &n);
	if (r < 0)
		return r;

	_cleanup_strv_free_ char **v = calloc(n + 1, sizeof(char *));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		r = alb_cbor_get_text(ctx, cbor_array_handle(item)[i],
				      alb_cbor_path_index(p, path, i), len_max, &v[i]);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(v);
	*ret_n = (uint32_t)n;
	return 0;
}

int alb_cbor_get_u32_set(alb_ctx *ctx, const cbor_item_t *item, const char *path, size_t max,
			 uint32_t value_max, uint32_t **ret, uint32_t *ret_n)
{
	char p[ALB_CBOR_PATH_MAX];
	size_t n;
	int r;

	r = alb_cbor_get_array(ctx, item, path, max, &n);
	if (r < 0)
		return r;

	_cleanup_free_ uint32_t *v = calloc(n > 0 ? n : 1, sizeof(uint32_t));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		alb_cbor_path_index(p, path, i);
		r = alb_cbor_get_u32(ctx, cbor_array_handle(item)[i], p, 0, value_max, &v[i]);
		if (r < 0)
			return r;
		if (i > 0 && v[i] <= v[i - 1])
			return alb_error(ctx, EBADMSG,
					 "%s: %" PRIu32 " is not above %" PRIu32
					 " (sets are strictly ascending)",
					 p, v[i], v[i - 1]);
	}
	*ret = TAKE_PTR(v);
	*ret_n = (uint32_t)n;
	return 0;
}

int alb_cbor_get_sector_size(alb_ctx *ctx, const cbor_item_t *item, const char *path, uint32_t *ret)
{
	uint32_t v = 0;
	int r = alb_cbor_get_u32(ctx, item, path, 512, ALB_SECTOR_SIZE_MAX, &v);

	if (r < 0)
		return r;
	if (v & (v - 1))
		return alb_error(ctx, EBADMSG, "%s: %" PRIu32 " is not a power of two", path, v);
	*ret = v;
	return 0;
}

int alb_cbor_field_error(alb_ctx *ctx, int r, const char *path)
{
	if (r >= 0 || r == -ENOMEM)
		return r;
	alb_error_prefix(ctx, r, "%s", path);
	return -EBADMSG;
}

cbor_item_t *alb_cbor_uint(uint64_t value)
{
	if (value <= UINT8_MAX)
		return cbor_build_uint8((uint8_t)value);
	if (value <= UINT16_MAX)
		return cbor_build_uint16((uint16_t)value);
	if (value <= UINT32_MAX)
		return cbor_build_uint32((uint32_t)value);
	return cbor_build_uint64(value);
}

cbor_item_t *alb_cbor_text(const char *s)
{
	return s ? cbor_build_string(s) : cbor_new_null();
}

cbor_item_t *alb_cbor_bytes(const uint8_t *buf, size_t len)
{
	return buf || len == 0 ? cbor_build_bytestring(buf, len) : cbor_new_null();
}

cbor_item_t *alb_cbor_bool(bool value)
{
	return cbor_build_bool(value);
}

cbor_item_t *alb_cbor_strv(char *const *v, uint32_t n)
{
	if (!v && n > 0)
		return cbor_new_null();

	_cleanup_(cbor_decref_ptrp) cbor_item_t *array = cbor_new_definite_array(n);
	for (uint32_t i = 0; i < n; i++)
		if (!alb_cbor_push(array, alb_cbor_text(v[i])))
			return NULL;
	return TAKE_PTR(array);
}

cbor_item_t *alb_cbor_u32_array(const uint32_t *v, uint32_t n)
{
	if (!v && n > 0)
		return cbor_new_null();

	_cleanup_(cbor_decref_ptrp) cbor_item_t *array = cbor_new_definite_array(n);
	for (uint32_t i = 0; i < n; i++)
		if (!alb_cbor_push(array, alb_cbor_uint(v[i])))
			return NULL;
	return TAKE_PTR(array);
}

bool alb_cbor_put(cbor_item_t *map, const char *key, cbor_item_t *value)
{
	_cleanup_(cbor_decref_ptrp) cbor_item_t *v = value;
	_cleanup_(cbor_decref_ptrp) cbor_item_t *k = NULL;

	if (!map || !v)
		return false;
	k = cbor_build_string(key);
	return k && cbor_map_add(map, (struct cbor_pair){.key = k, .value = v});
}

bool alb_cbor_push(cbor_item_t *array, cbor_item_t *value)
{
	_cleanup_(cbor_decref_ptrp) cbor_item_t *v = value;

	return array && v && cbor_array_push(array, v);
}
