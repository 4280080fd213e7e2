/* SPDX-License-Identifier: ISC */
#include <inttypes.h>
#include <stdio.h>

#include "cbor-private.h"
#include "ctx-private.h"
#include "fileio-private.h"
#include "state-private.h"

int alb_state_new(struct alb_state **ret)
{
	struct alb_state *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

struct alb_state *alb_state_free(struct alb_state *state)
{
	if (!state)
		return NULL;
	for (uint32_t i = 0; i < state->n_policies; i++) {
		alb_name_free(state->policies[i].path);
		alb_policy_free(state->policies[i].policy);
	}
	for (uint32_t i = 0; i < state->n_unikernels; i++) {
		alb_name_free(state->unikernels[i].name);
		alb_unikernel_config_free(state->unikernels[i].config);
	}
	for (uint32_t i = 0; i < state->n_blocks; i++)
		alb_name_free(state->blocks[i].name);
	free(state->policies);
	free(state->unikernels);
	free(state->blocks);
	free(state);
	return NULL;
}

/* Grows an array by one element; returns the new element's index or -ENOMEM. */
static int grow(void **array, uint32_t *n, size_t size)
{
	void *v = realloc(*array, ((size_t)*n + 1) * size);
	if (!v)
		return -ENOMEM;
	*array = v;
	memset((char *)v + (size_t)*n * size, 0, size);
	return 0;
}

static int check_room(alb_ctx *ctx, uint32_t n, const char *what)
{
	if (n >= ALB_STATE_ENTRIES_MAX)
		return alb_error(ctx, E2BIG, "more than %u %s", ALB_STATE_ENTRIES_MAX, what);
	return 0;
}

int alb_state_add_policy(alb_ctx *ctx, struct alb_state *state, const alb_name *path,
			 const alb_policy *policy)
{
	if (!alb_name_is_path(path))
		return alb_error(ctx, EINVAL, "a policy belongs to a path");
	for (uint32_t i = 0; i < state->n_policies; i++)
		if (alb_name_equal(state->policies[i].path, path))
			return alb_error(ctx, EINVAL, "policy listed twice");
	int r = check_room(ctx, state->n_policies, "policies");
	if (r < 0 ||
	    (r = grow((void **)&state->policies, &state->n_policies, sizeof(*state->policies))) < 0)
		return r;
	struct alb_state_policy *p = &state->policies[state->n_policies];
	if ((r = alb_name_dup(path, &p->path)) < 0 ||
	    (r = alb_policy_dup(policy, &p->policy)) < 0) {
		p->path = alb_name_free(p->path);
		return r;
	}
	state->n_policies++;
	return 0;
}

int alb_state_add_unikernel(alb_ctx *ctx, struct alb_state *state, const alb_name *name,
			    const alb_unikernel_config *config)
{
	if (!name || alb_name_is_path(name))
		return alb_error(ctx, EINVAL, "a unikernel needs a name, not a path");
	if (!config->has_digest)
		return alb_error(ctx, EINVAL, "a stored unikernel needs its image digest");
	for (uint32_t i = 0; i < state->n_unikernels; i++)
		if (alb_name_equal(state->unikernels[i].name, name))
			return alb_error(ctx, EINVAL, "unikernel listed twice");
	int r = check_room(ctx, state->n_unikernels, "unikernels");
	if (r < 0 || (r = grow((void **)&state->unikernels, &state->n_unikernels,
			       sizeof(*state->unikernels))) < 0)
		return r;
	struct alb_state_unikernel *u = &state->unikernels[state->n_unikernels];
	if ((r = alb_name_dup(name, &u->name)) < 0 ||
	    (r = alb_unikernel_config_dup(config, &u->config)) < 0) {
		u->name = alb_name_free(u->name);
		return r;
	}
	state->n_unikernels++;
	return 0;
}

int alb_state_add_block(alb_ctx *ctx, struct alb_state *state, const alb_name *name,
			uint64_t size_mb, uint32_t sector_size)
{
	if (!name || alb_name_is_path(name))
		return alb_error(ctx, EINVAL, "a block device needs a name, not a path");
	if (size_mb == 0 || size_mb > ALB_POLICY_MB_MAX)
		return alb_error(ctx, EINVAL, "block size %" PRIu64 " MB is out of range", size_mb);
	if (sector_size && (sector_size < 512 || sector_size > ALB_SECTOR_SIZE_MAX ||
			    (sector_size & (sector_size - 1))))
		return alb_error(ctx, EINVAL, "sector size %u is invalid", sector_size);
	for (uint32_t i = 0; i < state->n_blocks; i++)
		if (alb_name_equal(state->blocks[i].name, name))
			return alb_error(ctx, EINVAL, "block device listed twice");
	int r = check_room(ctx, state->n_blocks, "block devices");
	if (r < 0 ||
	    (r = grow((void **)&state->blocks, &state->n_blocks, sizeof(*state->blocks))) < 0)
		return r;
	struct alb_state_block *b = &state->blocks[state->n_blocks];
	if ((r = alb_name_dup(name, &b->name)) < 0)
		return r;
	b->size_mb = size_mb;
	b->sector_size = sector_size;
	state->n_blocks++;
	return 0;
}

int alb_state_encode(alb_ctx *ctx, const struct alb_state *state, uint8_t **ret, size_t *ret_len)
{
	_cleanup_(cbor_decref_ptrp) cbor_item_t *root = cbor_new_definite_map(4);
	cbor_item_t *policies = cbor_new_definite_array(state->n_policies);
	cbor_item_t *unikernels = cbor_new_definite_array(state->n_unikernels);
	cbor_item_t *blocks = cbor_new_definite_array(state->n_blocks);
	bool ok = root && alb_cbor_put(root, "version", alb_cbor_uint(ALB_STATE_VERSION));
	ok = alb_cbor_put(root, "policies", policies) && ok;
	ok = alb_cbor_put(root, "unikernels", unikernels) && ok;
	ok = alb_cbor_put(root, "blocks", blocks) && ok;
	if (!ok)
		return -ENOMEM;

	for (uint32_t i = 0; i < state->n_policies; i++) {
		cbor_item_t *e = cbor_new_definite_map(2);
		ok = e && alb_cbor_put(e, "path", alb_name_to_cbor(state->policies[i].path));
		ok = ok && alb_cbor_put(e, "policy", alb_policy_to_cbor(state->policies[i].policy));
		if (!alb_cbor_push(policies, e) || !ok)
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < state->n_unikernels; i++) {
		const struct alb_state_unikernel *u = &state->unikernels[i];
		if (!u->config->has_digest)
			return alb_error(ctx, EINVAL, "a stored unikernel needs its image digest");
		cbor_item_t *e = cbor_new_definite_map(2);
		ok = e && alb_cbor_put(e, "name", alb_name_to_cbor(u->name));
		ok = ok && alb_cbor_put(e, "config", alb_config_to_cbor(u->config));
		if (!alb_cbor_push(unikernels, e) || !ok)
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < state->n_blocks; i++) {
		const struct alb_state_block *b = &state->blocks[i];
		cbor_item_t *e = cbor_new_definite_map(b->sector_size ? 3 : 2);
		ok = e && alb_cbor_put(e, "name", alb_name_to_cbor(b->name));
		ok = ok && alb_cbor_put(e, "size", alb_cbor_uint(b->size_mb));
		if (ok && b->sector_size)
			ok = alb_cbor_put(e, "sector-size", alb_cbor_uint(b->sector_size));
		if (!alb_cbor_push(blocks, e) || !ok)
			return -ENOMEM;
	}
	return alb_cbor_serialize(ctx, root, ret, ret_len);
}

static int decode_policy(alb_ctx *ctx, struct alb_state *s, const cbor_item_t *e, const char *path)
{
	struct alb_cbor_key keys[] = {{.key = "path"}, {.key = "policy"}};
	int r = alb_cbor_map_keys(ctx, e, path, keys, ELEMENTSOF(keys));
	if (r < 0)
		return r;
	_cleanup_(alb_name_freep) alb_name *name = NULL;
	_cleanup_(alb_policy_freep) alb_policy *policy = NULL;
	if ((r = alb_name_from_cbor(ctx, keys[0].value, keys[0].path, &name)) < 0 ||
	    (r = alb_policy_from_cbor(ctx, keys[1].value, keys[1].path, &policy)) < 0)
		return r;
	if ((r = alb_state_add_policy(ctx, s, name, policy)) < 0)
		return r == -ENOMEM ? r : alb_error_prefix(ctx, -EBADMSG, "%s", keys[0].path);
	return 0;
}

static int decode_unikernel(alb_ctx *ctx, struct alb_state *s, const cbor_item_t *e,
			    const char *path)
{
	struct alb_cbor_key keys[] = {{.key = "name"}, {.key = "config"}};
	int r = alb_cbor_map_keys(ctx, e, path, keys, ELEMENTSOF(keys));
	if (r < 0)
		return r;
	_cleanup_(alb_name_freep) alb_name *name = NULL;
	_cleanup_(alb_unikernel_config_freep) alb_unikernel_config *config = NULL;
	if ((r = alb_name_from_cbor(ctx, keys[0].value, keys[0].path, &name)) < 0 ||
	    (r = alb_config_from_cbor(ctx, keys[1].value, keys[1].path, &config)) < 0)
		return r;
	if ((r = alb_state_add_unikernel(ctx, s, name, config)) < 0)
		return r == -ENOMEM ? r : alb_error_prefix(ctx, -EBADMSG, "%s", path);
	return 0;
}

static int decode_block(alb_ctx *ctx, struct alb_state *s, const cbor_item_t *e, const char *path)
{
	struct alb_cbor_key keys[] = {
	    {.key = "name"}, {.key = "size"}, {.key = "sector-size", .optional = true}};
	int r = alb_cbor_map_keys(ctx, e, path, keys, ELEMENTSOF(keys));
	if (r < 0)
		return r;
	_cleanup_(alb_name_freep) alb_name *name = NULL;
	uint64_t size;
	uint32_t sector = 0;
	if ((r = alb_name_from_cbor(ctx, keys[0].value, keys[0].path, &name)) < 0 ||
	    (r = alb_cbor_get_u64(ctx, keys[1].value, keys[1].path, 1, ALB_POLICY_MB_MAX, &size)) <
		0 ||
	    (keys[2].value && (r = alb_cbor_get_u32(ctx, keys[2].value, keys[2].path, 512,
						    ALB_SECTOR_SIZE_MAX, &sector)) < 0))
		return r;
	if ((r = alb_state_add_block(ctx, s, name, size, sector)) < 0)
		return r == -ENOMEM ? r : alb_error_prefix(ctx, -EBADMSG, "%s", path);
	return 0;
}

/* Decodes the array of key, calling one() for each element. */
typedef int (*decode_fn)(alb_ctx *ctx, struct alb_state *s, const cbor_item_t *e, const char *path);

static int decode_list(alb_ctx *ctx, struct alb_state *s, const struct alb_cbor_key *key,
		       decode_fn one)
{
	size_t n;
	int r = alb_cbor_get_array(ctx, key->value, key->path, ALB_STATE_ENTRIES_MAX, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		char path[ALB_CBOR_PATH_MAX];
		alb_cbor_path_index(path, key->path, i);
		if ((r = one(ctx, s, cbor_array_handle(key->value)[i], path)) < 0)
			return r;
	}
	return 0;
}

int alb_state_decode(alb_ctx *ctx, const uint8_t *buf, size_t len, struct alb_state **ret)
{
	_cleanup_(cbor_decref_ptrp) cbor_item_t *root = NULL;
	int r = alb_cbor_load(ctx, buf, len, &root);
	if (r < 0)
		return r;
	/* The version first, so that a newer file is reported as such. */
	const cbor_item_t *v = cbor_isa_map(root) ? alb_cbor_map_get(root, "version") : NULL;
	if (v && cbor_isa_uint(v) && cbor_get_int(v) != ALB_STATE_VERSION)
		return alb_error(ctx, EPROTO,
				 "version %" PRIu64 " is not supported (this is version %u)",
				 cbor_get_int(v), ALB_STATE_VERSION);
	struct alb_cbor_key keys[] = {
	    {.key = "version"}, {.key = "policies"}, {.key = "unikernels"}, {.key = "blocks"}};
	if ((r = alb_cbor_map_keys(ctx, root, "", keys, ELEMENTSOF(keys))) < 0)
		return r;
	uint32_t version;
	if ((r = alb_cbor_get_u32(ctx, keys[0].value, keys[0].path, ALB_STATE_VERSION,
				  ALB_STATE_VERSION, &version)) < 0)
		return r;
	_cleanup_(alb_state_freep) struct alb_state *s = NULL;
	if ((r = alb_state_new(&s)) < 0 || (r = decode_list(ctx, s, &keys[1], decode_policy)) < 0 ||
	    (r = decode_list(ctx, s, &keys[2], decode_unikernel)) < 0 ||
	    (r = decode_list(ctx, s, &keys[3], decode_block)) < 0)
		return r;
	*ret = TAKE_PTR(s);
	return 0;
}

int alb_state_save(alb_ctx *ctx, const char *path, const struct alb_state *state)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r = alb_state_encode(ctx, state, &buf, &len);
	if (r < 0)
		return r;
	return alb_atomic_write(ctx, path, buf, len, 0600, true);
}

int alb_state_load(alb_ctx *ctx, const char *path, struct alb_state **ret)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r = alb_read_file(ctx, path, ALB_STATE_SIZE_MAX, &buf, &len);
	if (r < 0)
		return r;
	r = alb_state_decode(ctx, buf, len, ret);
	if (r < 0 && r != -ENOMEM)
		return alb_error_prefix(ctx, r, "state file '%s' cannot be used", path);
	return r;
}

/* Takes entry i out of an array of n (order kept). */
static void drop_at(void *array, uint32_t *n, size_t size, uint32_t i)
{
	char *a = array;
	memmove(a + (size_t)i * size, a + ((size_t)i + 1) * size, ((size_t)*n - i - 1) * size);
	(*n)--;
}

bool alb_state_remove_policy(struct alb_state *state, const alb_name *path)
{
	for (uint32_t i = 0; i < state->n_policies; i++)
		if (alb_name_equal(state->policies[i].path, path)) {
			alb_name_free(state->policies[i].path);
			alb_policy_free(state->policies[i].policy);
			drop_at(state->policies, &state->n_policies, sizeof(*state->policies), i);
			return true;
		}
	return false;
}

bool alb_state_remove_unikernel(struct alb_state *state, const alb_name *name)
{
	for (uint32_t i = 0; i < state->n_unikernels; i++)
		if (alb_name_equal(state->unikernels[i].name, name)) {
			alb_name_free(state->unikernels[i].name);
			alb_unikernel_config_free(state->unikernels[i].config);
			drop_at(state->unikernels, &state->n_unikernels, sizeof(*state->unikernels),
				i);
			return true;
		}
	return false;
}

bool alb_state_remove_block(struct alb_state *state, const alb_name *name)
{
	for (uint32_t i = 0; i < state->n_blocks; i++)
		if (alb_name_equal(state->blocks[i].name, name)) {
			alb_name_free(state->blocks[i].name);
			drop_at(state->blocks, &state->n_blocks, sizeof(*state->blocks), i);
			return true;
		}
	return false;
}
