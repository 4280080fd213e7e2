/* SPDX-License-Identifier: ISC */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>

#include "ctx-private.h"
#include "ipam-private.h"
#include "sha256-private.h"

static int u32_compare(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static bool sorted_has(const uint32_t *set, size_t n, uint32_t value)
{
	return n > 0 && bsearch(&value, set, n, sizeof(*set), u32_compare) != NULL;
}

/* H of the header: the first 8 bytes of SHA-256(seed || 0x00 || generation big-endian). */
static int ipam_hash(alb_ctx *ctx, const char *seed, size_t seed_len, uint64_t generation,
		     uint64_t *ret)
{
	uint8_t buf[ALB_IPAM_SEED_MAX + 1 + 8], digest[32];
	memcpy(buf, seed, seed_len);
	buf[seed_len] = 0;
	for (unsigned i = 0; i < 8; i++)
		buf[seed_len + 1 + i] = (uint8_t)(generation >> (56 - 8 * i));
	alb_sha256(buf, seed_len + 1 + 8, digest);
	uint64_t h = 0;
	for (unsigned i = 0; i < 8; i++)
		h = (h << 8) | digest[i];
	*ret = h;
	return 0;
}

int alb_ipam_pick(alb_ctx *ctx, uint32_t net, uint32_t len, const uint32_t *excluded,
		  size_t n_excluded, bool (*used)(uint32_t addr, void *userdata), void *userdata,
		  const char *seed, uint64_t generation, uint32_t *ret)
{
	char net_s[ALB_IPV4_STRING_MAX];
	alb_ipv4_format(net, net_s);
	if (!ret)
		return alb_error(ctx, EINVAL, "no place for the address");
	if (len < 1 || len > 30)
		return alb_error(ctx, EINVAL,
				 "prefix length %" PRIu32 " of %s/%" PRIu32 " is not 1 to 30", len,
				 net_s, len);
	uint32_t hostmask = UINT32_MAX >> len;
	if (net & hostmask)
		return alb_error(ctx, EINVAL, "%s/%" PRIu32 " has host bits set", net_s, len);
	if (n_excluded > ALB_IPAM_EXCLUDED_MAX)
		return alb_error(ctx, EINVAL, "more than %u excluded addresses in %s/%" PRIu32,
				 ALB_IPAM_EXCLUDED_MAX, net_s, len);
	if (n_excluded > 0 && !excluded)
		return alb_error(ctx, EINVAL, "no excluded addresses");
	if (!seed)
		return alb_error(ctx, EINVAL, "no address seed");
	size_t seed_len = strnlen(seed, ALB_IPAM_SEED_MAX + 1);
	if (seed_len > ALB_IPAM_SEED_MAX)
		return alb_error(ctx, EINVAL, "address seed longer than %u bytes",
				 ALB_IPAM_SEED_MAX);

	/* The excluded addresses inside the prefix, sorted. */
	uint32_t ex[ALB_IPAM_EXCLUDED_MAX];
	size_t n_ex = 0;
	for (size_t i = 0; i < n_excluded; i++)
		if ((excluded[i] & ~hostmask) == net)
			ex[n_ex++] = excluded[i];
	qsort(ex, n_ex, sizeof(ex[0]), u32_compare);

	uint64_t h = 0;
	int r = ipam_hash(ctx, seed, seed_len, generation, &h);
	if (r < 0)
		return r;
	/* Usable: net + 1 .. net + hostmask - 1 (not the network, not the broadcast). */
	uint64_t n = (uint64_t)hostmask - 1, first = h % n;
	for (uint64_t k = 0; k < n; k++) {
		uint32_t addr = net + 1 + (uint32_t)((first + k) % n);
		if (sorted_has(ex, n_ex, addr))
			continue;
		if (used && used(addr, userdata))
			continue;
		*ret = addr;
		return 0;
	}
	return alb_error(ctx, ENOSPC, "no free address in %s/%" PRIu32, net_s, len);
}

/* ---- argument templates ---- */

enum placeholder {
	P_IP,
	P_PREFIX_LEN,
	P_CIDR,
	P_NETMASK,
	P_GATEWAY,
	P_NAME,
	P_GENERATION,
	_P_MAX,
};

static const char *const placeholder_names[_P_MAX] = {
    [P_IP] = "ip",
    [P_PREFIX_LEN] = "prefix_len",
    [P_CIDR] = "cidr",
    [P_NETMASK] = "netmask",
    [P_GATEWAY] = "gateway",
    [P_NAME] = "name",
    [P_GENERATION] = "generation",
};

static int placeholder_find(const char *s, size_t len)
{
	for (int p = 0; p < _P_MAX; p++)
		if (strlen(placeholder_names[p]) == len && !memcmp(placeholder_names[p], s, len))
			return p;
	return -1;
}

/* How much of a template or a placeholder a message quotes. */
#define QUOTE_TEMPLATE	  64
#define QUOTE_PLACEHOLDER 32

/* Prefixes the context's last error with the template, r returned. */
static int template_error(alb_ctx *ctx, int r, const char *t, size_t tlen)
{
	return alb_error_prefix(ctx, r, "argument template '%.*s%s'",
				(int)(tlen > QUOTE_TEMPLATE ? QUOTE_TEMPLATE : tlen), t,
				tlen > QUOTE_TEMPLATE ? "..." : "");
}

/* The output of a walk: buf (ALB_ARGS_LENGTH_MAX + 1 bytes) or NULL to count only. */
struct out {
	char *buf;
	size_t len;
};

static int out_append(alb_ctx *ctx, struct out *o, const char *s, size_t len)
{
	if (len > ALB_ARGS_LENGTH_MAX - o->len)
		return alb_error(ctx, E2BIG, "expands to more than %u bytes", ALB_ARGS_LENGTH_MAX);
	if (o->buf)
		memcpy(o->buf + o->len, s, len);
	o->len += len;
	return 0;
}

static int prefix_len_check(alb_ctx *ctx, uint32_t prefix_len)
{
	if (prefix_len > 32)
		return alb_error(ctx, EINVAL, "prefix length %" PRIu32 " is not 0 to 32",
				 prefix_len);
	return 0;
}

/* Appends the value of placeholder p. */
static int placeholder_append(alb_ctx *ctx, struct out *o, int p,
			      const struct alb_template_vars *vars)
{
	char v[2 * ALB_IPV4_STRING_MAX + 8];
	const char *s = v;
	int r;
	switch (p) {
	case P_IP:
		alb_ipv4_format(vars->ip, v);
		break;
	case P_PREFIX_LEN:
		if ((r = prefix_len_check(ctx, vars->prefix_len)) < 0)
			return r;
		snprintf(v, sizeof(v), "%" PRIu32, vars->prefix_len);
		break;
	case P_CIDR: {
		char ip[ALB_IPV4_STRING_MAX];
		if ((r = prefix_len_check(ctx, vars->prefix_len)) < 0)
			return r;
		snprintf(v, sizeof(v), "%s/%" PRIu32, alb_ipv4_format(vars->ip, ip),
			 vars->prefix_len);
		break;
	}
	case P_NETMASK:
		if ((r = prefix_len_check(ctx, vars->prefix_len)) < 0)
			return r;
		alb_ipv4_format(vars->prefix_len ? UINT32_MAX << (32 - vars->prefix_len) : 0, v);
		break;
	case P_GATEWAY:
		if (vars->gateway == 0)
			return alb_error(ctx, EINVAL, "{gateway} is used but there is no gateway");
		alb_ipv4_format(vars->gateway, v);
		break;
	case P_NAME:
		if (!vars->name)
			return alb_error(ctx, EINVAL, "{name} is used but there is no name");
		s = vars->name;
		break;
	case P_GENERATION:
		snprintf(v, sizeof(v), "%" PRIu64, vars->generation);
		break;
	default:
		assert(false);
		return -EINVAL;
	}
	return out_append(ctx, o, s, strnlen(s, ALB_ARGS_LENGTH_MAX + 1));
}

/* Walks the template t: expands it into o with vars, or only checks it (vars NULL: the
 * placeholders count for nothing). Errors without the template's name. */
static int template_walk(alb_ctx *ctx, const char *t, size_t tlen,
			 const struct alb_template_vars *vars, struct out *o)
{
	int r;
	for (size_t i = 0; i < tlen;) {
		char c = t[i];
		if (c == '}') {
			if (t[i + 1] != '}')
				return alb_error(ctx, EINVAL,
						 "lone '}' at position %zu (write '}}' for a "
						 "literal brace)",
						 i + 1);
			if ((r = out_append(ctx, o, "}", 1)) < 0)
				return r;
			i += 2;
			continue;
		}
		if (c != '{') {
			/* The literal run up to the next brace in one go. */
			size_t j = i;
			while (j < tlen && t[j] != '{' && t[j] != '}')
				j++;
			if ((r = out_append(ctx, o, t + i, j - i)) < 0)
				return r;
			i = j;
			continue;
		}
		if (t[i + 1] == '{') {
			if ((r = out_append(ctx, o, "{", 1)) < 0)
				return r;
			i += 2;
			continue;
		}
		const char *name = t + i + 1, *end = memchr(name, '}', tlen - i - 1);
		if (!end) {
			size_t l = tlen - i;
			return alb_error(ctx, EINVAL,
					 "unterminated placeholder '%.*s%s' at position %zu "
					 "(write '{{' for a literal brace)",
					 (int)(l > QUOTE_PLACEHOLDER ? QUOTE_PLACEHOLDER : l),
					 t + i, l > QUOTE_PLACEHOLDER ? "..." : "", i + 1);
		}
		size_t nlen = (size_t)(end - name);
		int p = placeholder_find(name, nlen);
		if (p < 0)
			return alb_error(
			    ctx, EINVAL,
			    "unknown placeholder '{%.*s%s}' (known: {ip}, {prefix_len}, "
			    "{cidr}, {netmask}, {gateway}, {name}, {generation}; "
			    "'{{' and '}}' for literal braces)",
			    (int)(nlen > QUOTE_PLACEHOLDER ? QUOTE_PLACEHOLDER : nlen), name,
			    nlen > QUOTE_PLACEHOLDER ? "..." : "");
		if (vars && (r = placeholder_append(ctx, o, p, vars)) < 0)
			return r;
		i += nlen + 2;
	}
	return 0;
}

static int template_length(alb_ctx *ctx, const char *t, size_t *ret)
{
	if (!t)
		return alb_error(ctx, EINVAL, "no argument template");
	size_t tlen = strnlen(t, ALB_TEMPLATE_LENGTH_MAX + 1);
	if (tlen > ALB_TEMPLATE_LENGTH_MAX)
		return alb_error(ctx, E2BIG, "argument template '%.*s...' is longer than %u bytes",
				 QUOTE_TEMPLATE, t, ALB_TEMPLATE_LENGTH_MAX);
	*ret = tlen;
	return 0;
}

int alb_template_expand(alb_ctx *ctx, const char *template, const struct alb_template_vars *vars,
			char **ret)
{
	size_t tlen = 0;
	int r = template_length(ctx, template, &tlen);
	if (r < 0)
		return r;
	if (!vars || !ret)
		return alb_error(ctx, EINVAL, "no template values");
	_cleanup_free_ char *buf = malloc(ALB_ARGS_LENGTH_MAX + 1);
	if (!buf)
		return -ENOMEM;
	struct out o = {.buf = buf};
	if ((r = template_walk(ctx, template, tlen, vars, &o)) < 0)
		return template_error(ctx, r, template, tlen);
	buf[o.len] = '\0';
	char *s = realloc(buf, o.len + 1);
	if (s)
		buf = s;
	*ret = TAKE_PTR(buf);
	return 0;
}

int alb_template_validate(alb_ctx *ctx, const char *template)
{
	size_t tlen = 0;
	int r = template_length(ctx, template, &tlen);
	if (r < 0)
		return r;
	struct out o = {0};
	if ((r = template_walk(ctx, template, tlen, NULL, &o)) < 0)
		return template_error(ctx, r, template, tlen);
	return 0;
}

int alb_template_escape(const char *literal, char **ret)
{
	if (!literal || !ret)
		return -EINVAL;
	size_t len = strnlen(literal, ALB_ARGS_LENGTH_MAX + 1);
	if (len > ALB_ARGS_LENGTH_MAX)
		return -E2BIG;
	size_t braces = 0;
	for (size_t i = 0; i < len; i++)
		braces += literal[i] == '{' || literal[i] == '}';
	char *s = malloc(len + braces + 1), *p = s;
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		*p++ = literal[i];
		if (literal[i] == '{' || literal[i] == '}')
			*p++ = literal[i];
	}
	*p = '\0';
	*ret = s;
	return 0;
}
