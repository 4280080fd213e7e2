/* SPDX-License-Identifier: ISC */
/*
 * Strict CBOR helpers shared by the wire and the state codecs (libcbor below).
 *
 * alb_cbor_load() accepts exactly one well-formed data item covering the
 * whole buffer, checked *before* libcbor allocates anything: definite
 * lengths only (no indefinite strings, arrays or maps), every declared
 * length and element count within the bytes that remain (so a 5-byte input
 * can never make libcbor allocate gigabytes), nesting at most
 * ALB_CBOR_DEPTH_MAX, no tags, no floats, no simple values but false, true
 * and null, no trailing bytes.
 */
#pragma once

#include <cbor.h>

#include <albatross/ctx.h>
#include <albatross/name.h>

#include "policy-private.h"
#include "unikernel-private.h"

#define ALB_CBOR_DEPTH_MAX 16u

static inline void cbor_decref_ptr(cbor_item_t *item)
{
	cbor_decref(&item);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(cbor_item_t *, cbor_decref_ptr);

/* -EBADMSG with the reason in ctx; 0 and *ret (a new reference) on success. */
int alb_cbor_load(alb_ctx *ctx, const uint8_t *buf, size_t len, cbor_item_t **ret);

/* Serializes; *ret is freed with free(). 0, -ENOMEM. */
int alb_cbor_serialize(alb_ctx *ctx, const cbor_item_t *item, uint8_t **ret, size_t *ret_len);

/* Codecs of values shared by the wire and the state file. field names the
 * value in error messages ("cmd.policy"). Decoders return 0, -EBADMSG, -ENOMEM.
 * Encoders return a new item or NULL on allocation failure. */
cbor_item_t *alb_policy_to_cbor(const alb_policy *policy);
int alb_policy_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *field,
			 alb_policy **ret);
cbor_item_t *alb_config_to_cbor(const alb_unikernel_config *config);
int alb_config_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *field,
			 alb_unikernel_config **ret);
cbor_item_t *alb_name_to_cbor(const alb_name *name);
int alb_name_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *field, alb_name **ret);

/* Containers (arrays and maps) of more elements are rejected by alb_cbor_load(). */
#define ALB_CBOR_CONTAINER_MAX 65536u
/* Longest field path in error messages ("success.unikernels[3].config.nets[0].mac"). */
#define ALB_CBOR_PATH_MAX 160u

/*
 * Decoding helpers. path names the value in error messages, which read
 * "path: reason". Every helper returns 0, -EBADMSG (reason in ctx) or -ENOMEM.
 */

/* One key of a map: filled by alb_cbor_map_keys() with the value (NULL when an
 * optional key is absent) and the key's path ("parent.key"). */
struct alb_cbor_key {
	const char *key;
	bool optional;
	const cbor_item_t *value;
	char path[ALB_CBOR_PATH_MAX];
};

/* Checks that item is a map with text keys only, each of keys at most once, none
 * missing unless optional, and no other key. */
int alb_cbor_map_keys(alb_ctx *ctx, const cbor_item_t *item, const char *path,
		      struct alb_cbor_key *keys, size_t n_keys);
/* The value of key in the map item, or NULL (no checks). */
const cbor_item_t *alb_cbor_map_get(const cbor_item_t *item, const char *key);
/* Formats "parent.key" (or "key" under the root "") and "parent[index]" into buf. */
const char *alb_cbor_path(char buf[static ALB_CBOR_PATH_MAX], const char *parent, const char *key);
const char *alb_cbor_path_index(char buf[static ALB_CBOR_PATH_MAX], const char *parent,
				size_t index);

int alb_cbor_get_u64(alb_ctx *ctx, const cbor_item_t *item, const char *path, uint64_t min,
		     uint64_t max, uint64_t *ret);
int alb_cbor_get_u32(alb_ctx *ctx, const cbor_item_t *item, const char *path, uint32_t min,
		     uint32_t max, uint32_t *ret);
int alb_cbor_get_bool(alb_ctx *ctx, const cbor_item_t *item, const char *path, bool *ret);
/* A text string of at most max bytes without NUL, copied (free()). alb_cbor_load()
 * has checked that every text string is valid UTF-8. */
int alb_cbor_get_text(alb_ctx *ctx, const cbor_item_t *item, const char *path, size_t max,
		      char **ret);
/* A text string that must be one of the non-NULL names[i]; *ret = i. */
int alb_cbor_get_enum(alb_ctx *ctx, const cbor_item_t *item, const char *path,
		      const char *const *names, size_t n_names, int *ret);
/* A byte string of min..max bytes, copied (free(); never NULL on success). */
int alb_cbor_get_bytes(alb_ctx *ctx, const cbor_item_t *item, const char *path, size_t min,
		       size_t max, uint8_t **ret, size_t *ret_len);
/* A byte string of exactly len bytes, copied to ret. */
int alb_cbor_get_bytes_fixed(alb_ctx *ctx, const cbor_item_t *item, const char *path, uint8_t *ret,
			     size_t len);
/* An array of at most max elements; *ret_n elements. */
int alb_cbor_get_array(alb_ctx *ctx, const cbor_item_t *item, const char *path, size_t max,
		       size_t *ret_n);
/* An array of at most max text strings, each of at most len_max bytes: a
 * NULL-terminated copy (alb_strv_free()). */
int alb_cbor_get_strv(alb_ctx *ctx, const cbor_item_t *item, const char *path, size_t max,
		      size_t len_max, char ***ret, uint32_t *ret_n);
/* An array of strictly ascending unsigned integers, at most max of them, each <= value_max. */
int alb_cbor_get_u32_set(alb_ctx *ctx, const cbor_item_t *item, const char *path, size_t max,
			 uint32_t value_max, uint32_t **ret, uint32_t *ret_n);

/*
 * Encoding helpers: each returns a new item or NULL on allocation failure. A
 * NULL string, array or name is encoded as CBOR null, which no decoder accepts,
 * so that encoding an incomplete structure fails its check instead of crashing.
 */
cbor_item_t *alb_cbor_uint(uint64_t value);
cbor_item_t *alb_cbor_text(const char *s);
cbor_item_t *alb_cbor_bytes(const uint8_t *buf, size_t len);
cbor_item_t *alb_cbor_bool(bool value);
cbor_item_t *alb_cbor_strv(char *const *v, uint32_t n);
cbor_item_t *alb_cbor_u32_array(const uint32_t *v, uint32_t n);
/* Adds key: value to a map (made with capacity for it), taking the caller's
 * reference of value (also on failure); false if map or value is NULL or on
 * allocation failure. */
bool alb_cbor_put(cbor_item_t *map, const char *key, cbor_item_t *value);
/* Appends value to an array, taking the reference as alb_cbor_put() does. */
bool alb_cbor_push(cbor_item_t *array, cbor_item_t *value);

/* A block sector size: a power of two from 512 to ALB_SECTOR_SIZE_MAX. */
int alb_cbor_get_sector_size(alb_ctx *ctx, const cbor_item_t *item, const char *path,
			     uint32_t *ret);
/* Turns the error r of a setter or validator (explained in ctx) into -EBADMSG
 * prefixed with path; -ENOMEM and r >= 0 pass through. */
int alb_cbor_field_error(alb_ctx *ctx, int r, const char *path);
