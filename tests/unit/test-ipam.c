/* SPDX-License-Identifier: ISC */
#include <gnutls/crypto.h>
#include <inttypes.h>

#include "test-common.h"

#include "ipam-private.h"

#define IP(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))

/* A used set for the callback (addresses of one /8: a bitmap of their low 24 bits), and a
 * log of the calls. */
struct used_set {
	uint32_t top; /* the /8 */
	size_t n;
	uint8_t bits[1u << 21];
	uint32_t calls[70000];
	size_t n_calls;
};

static void used_add(struct used_set *u, uint32_t addr)
{
	if (u->n++ == 0)
		u->top = addr >> 24;
	ck_assert_uint_eq(addr >> 24, u->top);
	u->bits[(addr & 0xffffffu) / 8] |= (uint8_t)(1u << (addr % 8));
}

static void used_del(struct used_set *u, uint32_t addr)
{
	u->bits[(addr & 0xffffffu) / 8] &= (uint8_t) ~(1u << (addr % 8));
}

static void used_clear(struct used_set *u)
{
	memset(u->bits, 0, sizeof(u->bits));
	u->n = 0;
}

static bool used_cb(uint32_t addr, void *userdata)
{
	struct used_set *u = userdata;
	if (u->n_calls < sizeof(u->calls) / sizeof(u->calls[0]))
		u->calls[u->n_calls++] = addr;
	return u->n > 0 && addr >> 24 == u->top &&
	       (u->bits[(addr & 0xffffffu) / 8] >> (addr % 8)) & 1;
}

static struct used_set *used_new(void)
{
	struct used_set *u = calloc(1, sizeof(*u));
	ck_assert_ptr_nonnull(u);
	return u;
}

static uint32_t pick(uint32_t net, uint32_t len, const uint32_t *ex, size_t n_ex,
		     struct used_set *u, const char *seed, uint64_t generation)
{
	uint32_t a = 0;
	ck_assert_alb_ok(test_ctx, alb_ipam_pick(test_ctx, net, len, ex, n_ex, u ? used_cb : NULL,
						 u, seed, generation, &a));
	return a;
}

static const char *fmt(uint32_t a)
{
	static char buf[4][ALB_IPV4_STRING_MAX];
	static unsigned i;
	return alb_ipv4_format(a, buf[i++ % 4]);
}

/* The first candidate as the header documents it, computed here on its own. */
static uint32_t documented_first(const char *seed, uint64_t generation, uint32_t net, uint32_t len)
{
	size_t l = strlen(seed);
	uint8_t buf[256], d[32];
	ck_assert_uint_le(l + 9, sizeof(buf));
	memcpy(buf, seed, l);
	buf[l] = 0;
	for (int i = 0; i < 8; i++)
		buf[l + 1 + i] = (uint8_t)(generation >> (56 - 8 * i));
	ck_assert_int_eq(gnutls_hash_fast(GNUTLS_DIG_SHA256, buf, l + 9, d), 0);
	uint64_t h = 0;
	for (int i = 0; i < 8; i++)
		h = h << 8 | d[i];
	uint64_t n = ((uint64_t)1 << (32 - len)) - 2;
	return net + 1 + (uint32_t)(h % n);
}

START_TEST(test_deterministic)
{
	const char *seed = "alice:web 0123abcd";
	uint32_t a = pick(IP(10, 0, 0, 0), 24, NULL, 0, NULL, seed, 0);
	ck_assert_uint_eq(a, pick(IP(10, 0, 0, 0), 24, NULL, 0, NULL, seed, 0));
	ck_assert_uint_eq(a, documented_first(seed, 0, IP(10, 0, 0, 0), 24));
	/* Pinned, computed with Python's hashlib from the formula of the header: the same on
	 * every host and in every version. */
	ck_assert_str_eq(fmt(a), "10.0.0.209");
	ck_assert_str_eq(fmt(pick(IP(10, 0, 0, 0), 24, NULL, 0, NULL, seed, 1)), "10.0.0.222");
	ck_assert_str_eq(fmt(pick(IP(172, 16, 0, 0), 16, NULL, 0, NULL, seed, 7)), "172.16.204.51");

	/* Different generations and seeds usually differ. */
	uint32_t seen[64];
	size_t distinct = 0;
	for (uint64_t g = 0; g < 64; g++) {
		uint32_t b = pick(IP(172, 16, 0, 0), 16, NULL, 0, NULL, seed, g);
		ck_assert_uint_eq(b, documented_first(seed, g, IP(172, 16, 0, 0), 16));
		bool dup = false;
		for (size_t i = 0; i < distinct; i++)
			dup |= seen[i] == b;
		if (!dup)
			seen[distinct++] = b;
	}
	ck_assert_uint_ge(distinct, 60);
	ck_assert_uint_ne(pick(IP(172, 16, 0, 0), 16, NULL, 0, NULL, "alice:web x", 0),
			  pick(IP(172, 16, 0, 0), 16, NULL, 0, NULL, "alice:db x", 0));
	/* The seed ends at its NUL: "a" + generation is not "a\0..." confused with a longer seed.
	 */
	ck_assert_uint_eq(pick(IP(10, 0, 0, 0), 8, NULL, 0, NULL, "", 0),
			  documented_first("", 0, IP(10, 0, 0, 0), 8));
}
END_TEST

START_TEST(test_never_network_broadcast)
{
	char seed[32];
	for (unsigned i = 0; i < 2000; i++) {
		snprintf(seed, sizeof(seed), "svc-%u", i);
		uint32_t a = pick(IP(192, 168, 7, 0), 24, NULL, 0, NULL, seed, i);
		ck_assert_uint_gt(a, IP(192, 168, 7, 0));
		ck_assert_uint_lt(a, IP(192, 168, 7, 255));
		uint32_t b = pick(IP(192, 168, 7, 8), 30, NULL, 0, NULL, seed, i);
		ck_assert_msg(b == IP(192, 168, 7, 9) || b == IP(192, 168, 7, 10), "%s", fmt(b));
	}
	/* Both usable addresses of a /30 come up. */
	bool nine = false, ten = false;
	for (uint64_t g = 0; g < 64; g++) {
		uint32_t b = pick(IP(192, 168, 7, 8), 30, NULL, 0, NULL, "s", g);
		nine |= b == IP(192, 168, 7, 9);
		ten |= b == IP(192, 168, 7, 10);
	}
	ck_assert(nine && ten);
}
END_TEST

START_TEST(test_excluded)
{
	const char *seed = "bob:api 99";
	uint32_t net = IP(10, 1, 0, 0), first = pick(net, 24, NULL, 0, NULL, seed, 3);
	/* The first candidate excluded: the next address. */
	uint32_t ex[3] = {IP(10, 9, 9, 9), first, first == IP(10, 1, 0, 254) ? first : first + 1};
	uint32_t a = pick(net, 24, ex, 1, NULL, seed, 3);
	ck_assert_uint_eq(a, first); /* outside the prefix: ignored */
	a = pick(net, 24, ex, 2, NULL, seed, 3);
	ck_assert_uint_eq(a, first == IP(10, 1, 0, 254) ? IP(10, 1, 0, 1) : first + 1);
	a = pick(net, 24, ex, 3, NULL, seed, 3);
	ck_assert(a != first && a != ex[2]);

	/* A whole /24 but one address excluded (the gateway, and 253 others). */
	uint32_t many[ALB_IPAM_EXCLUDED_MAX];
	size_t n = 0;
	for (uint32_t h = 1; h <= 254; h++)
		if (h != 77)
			many[n++] = net + h;
	for (uint64_t g = 0; g < 20; g++)
		ck_assert_uint_eq(pick(net, 24, many, n, NULL, seed, g), IP(10, 1, 0, 77));
	/* The network and broadcast among the excluded change nothing. */
	many[n++] = net;
	many[n++] = net + 255;
	ck_assert_uint_eq(pick(net, 24, many, n, NULL, seed, 0), IP(10, 1, 0, 77));

	/* One too many. */
	uint32_t too_many[ALB_IPAM_EXCLUDED_MAX + 1] = {0};
	uint32_t r = 0;
	ck_assert_alb_err(test_ctx,
			  alb_ipam_pick(test_ctx, net, 24, too_many, ALB_IPAM_EXCLUDED_MAX + 1,
					NULL, NULL, seed, 0, &r),
			  EINVAL);
	ck_assert_last_error_has(test_ctx, "more than 256 excluded");
	ck_assert_alb_ok(test_ctx, alb_ipam_pick(test_ctx, net, 24, too_many, ALB_IPAM_EXCLUDED_MAX,
						 NULL, NULL, seed, 0, &r));
}
END_TEST

START_TEST(test_used)
{
	const char *seed = "carol:cache 1";
	uint32_t net = IP(10, 2, 0, 0);
	struct used_set *u = used_new();
	uint32_t first = pick(net, 24, NULL, 0, u, seed, 0);
	ck_assert_uint_eq(u->n_calls, 1);
	ck_assert_uint_eq(u->calls[0], first);
	/* The instances of a service get successive addresses from the first candidate. */
	uint32_t got[10];
	for (int i = 0; i < 10; i++) {
		got[i] = pick(net, 24, NULL, 0, u, seed, 0);
		for (int j = 0; j < i; j++)
			ck_assert_uint_ne(got[i], got[j]);
		used_add(u, got[i]);
	}
	ck_assert_uint_eq(got[0], first);
	/* The same used set gives the same address. */
	uint32_t next = pick(net, 24, NULL, 0, u, seed, 0);
	ck_assert_uint_eq(next, pick(net, 24, NULL, 0, u, seed, 0));
	ck_assert(!used_cb(next, u));

	/* used() is never asked about the network, broadcast or excluded addresses. */
	uint32_t ex[1] = {IP(10, 2, 0, 100)};
	used_clear(u);
	for (uint32_t h = 1; h <= 254; h++)
		if (h != 200)
			used_add(u, net + h);
	u->n_calls = 0;
	ck_assert_uint_eq(pick(net, 24, ex, 1, u, seed, 5), IP(10, 2, 0, 200));
	for (size_t i = 0; i < u->n_calls; i++) {
		ck_assert_uint_ne(u->calls[i], net);
		ck_assert_uint_ne(u->calls[i], net + 255);
		ck_assert_uint_ne(u->calls[i], ex[0]);
		for (size_t j = 0; j < i; j++)
			ck_assert_uint_ne(u->calls[i], u->calls[j]);
	}
	free(u);
}
END_TEST

START_TEST(test_wrap_around)
{
	const char *seeds[] = {"a", "b", "c", "dave:web 17", "erin:db 3"};
	for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
		struct used_set *u = used_new();
		uint32_t net = IP(10, 3, 0, 0);
		uint32_t first = pick(net, 24, NULL, 0, NULL, seeds[s], 0);
		/* (These seeds' first candidates, by the fixed hash, are past .2.) */
		ck_assert_msg(first > IP(10, 3, 0, 2), "seed '%s' starts at %s", seeds[s],
			      fmt(first));
		/* Everything from the first candidate to the last usable address is used: the
		 * search wraps to the first usable address. */
		for (uint32_t a = first; a <= IP(10, 3, 0, 254); a++)
			used_add(u, a);
		ck_assert_uint_eq(pick(net, 24, NULL, 0, u, seeds[s], 0), IP(10, 3, 0, 1));
		/* ... and the calls went first, ..., .254, .1 in that order. */
		ck_assert_uint_eq(u->n_calls, u->n + 1);
		for (size_t i = 0; i < u->n; i++)
			ck_assert_uint_eq(u->calls[i], first + i);
		ck_assert_uint_eq(u->calls[u->n], IP(10, 3, 0, 1));
		/* With .1 used too: .2. */
		used_add(u, IP(10, 3, 0, 1));
		ck_assert_uint_eq(pick(net, 24, NULL, 0, u, seeds[s], 0), IP(10, 3, 0, 2));
		free(u);
	}

	/* A /30: the first candidate is the one not taken, or the search wraps to it. */
	for (uint64_t g = 0; g < 16; g++) {
		struct used_set *u = used_new();
		used_add(u, IP(10, 4, 0, 6));
		ck_assert_uint_eq(pick(IP(10, 4, 0, 4), 30, NULL, 0, u, "w", g), IP(10, 4, 0, 5));
		used_clear(u);
		used_add(u, IP(10, 4, 0, 5));
		ck_assert_uint_eq(pick(IP(10, 4, 0, 4), 30, NULL, 0, u, "w", g), IP(10, 4, 0, 6));
		free(u);
	}
}
END_TEST

START_TEST(test_full)
{
	struct used_set *u = used_new();
	uint32_t ex[1] = {IP(10, 0, 0, 1)};
	used_add(u, IP(10, 0, 0, 2));
	uint32_t r = 0xdeadbeef;
	ck_assert_alb_err(
	    test_ctx, alb_ipam_pick(test_ctx, IP(10, 0, 0, 0), 30, ex, 1, used_cb, u, "x", 0, &r),
	    ENOSPC);
	ck_assert_str_eq(alb_ctx_last_error(test_ctx), "no free address in 10.0.0.0/30");
	ck_assert_uint_eq(r, 0xdeadbeef);
	/* Every usable address was asked about once. */
	ck_assert_uint_eq(u->n_calls, 1);
	ck_assert_uint_eq(u->calls[0], IP(10, 0, 0, 2));

	/* A full /24. */
	used_clear(u);
	for (uint32_t h = 1; h <= 254; h++)
		used_add(u, IP(10, 0, 0, h));
	ck_assert_alb_err(
	    test_ctx, alb_ipam_pick(test_ctx, IP(10, 0, 0, 0), 24, NULL, 0, used_cb, u, "x", 0, &r),
	    ENOSPC);
	ck_assert_str_eq(alb_ctx_last_error(test_ctx), "no free address in 10.0.0.0/24");
	/* Freeing one makes it the answer, whatever the seed. */
	used_del(u, IP(10, 0, 0, 42));
	for (uint64_t g = 0; g < 10; g++)
		ck_assert_uint_eq(pick(IP(10, 0, 0, 0), 24, NULL, 0, u, "x", g), IP(10, 0, 0, 42));
	free(u);
}
END_TEST

START_TEST(test_sixteen)
{
	/* A /16 with 65000 of its addresses used: the free ones are still found. */
	struct used_set *u = used_new();
	uint32_t net = IP(172, 20, 0, 0);
	for (uint32_t h = 1; h <= 65000; h++)
		used_add(u, net + h);
	uint32_t a = pick(net, 16, NULL, 0, u, "big", 0);
	ck_assert_uint_gt(a, net + 65000);
	ck_assert_uint_lt(a, net + 65535);
	free(u);
	/* Other lengths, the extremes included. */
	ck_assert_uint_eq(pick(IP(128, 0, 0, 0), 1, NULL, 0, NULL, "x", 0) >> 31, 1);
	uint32_t b = pick(IP(10, 0, 0, 0), 8, NULL, 0, NULL, "x", 0);
	ck_assert_uint_eq(b >> 24, 10);
	b = pick(IP(10, 0, 0, 16), 29, NULL, 0, NULL, "x", 0);
	ck_assert(b >= IP(10, 0, 0, 17) && b <= IP(10, 0, 0, 22));
}
END_TEST

START_TEST(test_bad_prefix)
{
	uint32_t r = 7;
	ck_assert_alb_err(
	    test_ctx, alb_ipam_pick(test_ctx, IP(10, 0, 0, 1), 24, NULL, 0, NULL, NULL, "x", 0, &r),
	    EINVAL);
	ck_assert_str_eq(alb_ctx_last_error(test_ctx), "10.0.0.1/24 has host bits set");
	ck_assert_alb_err(
	    test_ctx, alb_ipam_pick(test_ctx, IP(10, 0, 0, 4), 29, NULL, 0, NULL, NULL, "x", 0, &r),
	    EINVAL);
	ck_assert_alb_err(
	    test_ctx, alb_ipam_pick(test_ctx, IP(10, 0, 0, 0), 31, NULL, 0, NULL, NULL, "x", 0, &r),
	    EINVAL);
	ck_assert_last_error_has(test_ctx, "prefix length 31 of 10.0.0.0/31 is not 1 to 30");
	ck_assert_alb_err(
	    test_ctx, alb_ipam_pick(test_ctx, IP(10, 0, 0, 0), 32, NULL, 0, NULL, NULL, "x", 0, &r),
	    EINVAL);
	ck_assert_alb_err(test_ctx, alb_ipam_pick(test_ctx, 0, 0, NULL, 0, NULL, NULL, "x", 0, &r),
			  EINVAL);
	ck_assert_alb_err(
	    test_ctx, alb_ipam_pick(test_ctx, IP(10, 0, 0, 0), 33, NULL, 0, NULL, NULL, "x", 0, &r),
	    EINVAL);
	ck_assert_uint_eq(r, 7);
	/* Other bad arguments. */
	ck_assert_alb_err(
	    test_ctx,
	    alb_ipam_pick(test_ctx, IP(10, 0, 0, 0), 24, NULL, 0, NULL, NULL, NULL, 0, &r), EINVAL);
	ck_assert_alb_err(
	    test_ctx, alb_ipam_pick(test_ctx, IP(10, 0, 0, 0), 24, NULL, 1, NULL, NULL, "x", 0, &r),
	    EINVAL);
	ck_assert_alb_err(
	    test_ctx,
	    alb_ipam_pick(test_ctx, IP(10, 0, 0, 0), 24, NULL, 0, NULL, NULL, "x", 0, NULL),
	    EINVAL);
	char *long_seed = malloc(ALB_IPAM_SEED_MAX + 2);
	memset(long_seed, 's', ALB_IPAM_SEED_MAX + 1);
	long_seed[ALB_IPAM_SEED_MAX + 1] = '\0';
	ck_assert_alb_err(
	    test_ctx,
	    alb_ipam_pick(test_ctx, IP(10, 0, 0, 0), 24, NULL, 0, NULL, NULL, long_seed, 0, &r),
	    EINVAL);
	long_seed[ALB_IPAM_SEED_MAX] = '\0';
	ck_assert_alb_ok(test_ctx, alb_ipam_pick(test_ctx, IP(10, 0, 0, 0), 24, NULL, 0, NULL, NULL,
						 long_seed, 0, &r));
	free(long_seed);
	/* No context: the same errors. */
	ck_assert_int_eq(alb_ipam_pick(NULL, IP(10, 0, 0, 1), 24, NULL, 0, NULL, NULL, "x", 0, &r),
			 -EINVAL);
}
END_TEST

/* ---- templates ---- */

static const struct alb_template_vars vars = {
    .ip = IP(10, 0, 0, 5),
    .prefix_len = 24,
    .gateway = IP(10, 0, 0, 1),
    .name = "alice:web.3",
    .generation = 42,
};

static void expand_eq(const char *t, const struct alb_template_vars *v, const char *expected)
{
	char *s = NULL;
	ck_assert_alb_ok(test_ctx, alb_template_expand(test_ctx, t, v, &s));
	ck_assert_str_eq(s, expected);
	free(s);
	ck_assert_alb_ok(test_ctx, alb_template_validate(test_ctx, t));
}

static void expand_err(const char *t, const struct alb_template_vars *v, int err,
		       const char *needle)
{
	char *s = NULL;
	alb_ctx_clear_error(test_ctx);
	ck_assert_alb_err(test_ctx, alb_template_expand(test_ctx, t, v, &s), err);
	ck_assert_ptr_null(s);
	if (needle)
		ck_assert_last_error_has(test_ctx, needle);
}

/* A syntax error: expand and validate agree, and the message names the template. */
static void syntax_err(const char *t, const char *needle)
{
	expand_err(t, &vars, EINVAL, needle);
	char prefix[128];
	snprintf(prefix, sizeof(prefix), "argument template '%s': ", t);
	ck_assert_last_error_has(test_ctx, prefix);
	alb_ctx_clear_error(test_ctx);
	ck_assert_alb_err(test_ctx, alb_template_validate(test_ctx, t), EINVAL);
	ck_assert_last_error_has(test_ctx, needle);
	ck_assert_last_error_has(test_ctx, prefix);
}

START_TEST(test_placeholders)
{
	expand_eq("{ip}", &vars, "10.0.0.5");
	expand_eq("{prefix_len}", &vars, "24");
	expand_eq("{cidr}", &vars, "10.0.0.5/24");
	expand_eq("{netmask}", &vars, "255.255.255.0");
	expand_eq("{gateway}", &vars, "10.0.0.1");
	expand_eq("{name}", &vars, "alice:web.3");
	expand_eq("{generation}", &vars, "42");
	expand_eq("--ipv4={cidr} --ipv4-gateway={gateway}", &vars,
		  "--ipv4=10.0.0.5/24 --ipv4-gateway=10.0.0.1");
	expand_eq("{ip}{ip}:{name}/{generation}", &vars, "10.0.0.510.0.0.5:alice:web.3/42");
	expand_eq("", &vars, "");
	expand_eq("plain --arg", &vars, "plain --arg");

	struct alb_template_vars v = vars;
	v.ip = IP(192, 168, 255, 254);
	v.prefix_len = 0;
	v.generation = UINT64_MAX;
	expand_eq("{netmask} {cidr} {generation}", &v,
		  "0.0.0.0 192.168.255.254/0 18446744073709551615");
	v.prefix_len = 32;
	expand_eq("{netmask}", &v, "255.255.255.255");
	v.prefix_len = 17;
	expand_eq("{netmask}", &v, "255.255.128.0");
	v.prefix_len = 1;
	expand_eq("{netmask}", &v, "128.0.0.0");
	v.prefix_len = 33;
	expand_err("{netmask}", &v, EINVAL, "prefix length 33");
	expand_err("{cidr}", &v, EINVAL, "prefix length 33");
	expand_eq("{ip}", &v, "192.168.255.254"); /* unused: no error */

	/* No gateway: only a template that uses it fails. */
	v = vars;
	v.gateway = 0;
	expand_eq("{cidr}", &v, "10.0.0.5/24");
	expand_err("--gw={gateway}", &v, EINVAL, "argument template '--gw={gateway}': {gateway}");
	ck_assert_last_error_has(test_ctx, "no gateway");
	ck_assert_alb_ok(test_ctx, alb_template_validate(test_ctx, "--gw={gateway}"));
	v.name = NULL;
	expand_err("{name}", &v, EINVAL, "no name");
	expand_eq("{ip}", &v, "10.0.0.5");
}
END_TEST

START_TEST(test_escapes)
{
	expand_eq("{{", &vars, "{");
	expand_eq("}}", &vars, "}");
	expand_eq("{{ip}}", &vars, "{ip}");
	expand_eq("{{{ip}}}", &vars, "{10.0.0.5}");
	expand_eq("}}{{", &vars, "}{");
	expand_eq("{{}}", &vars, "{}");
	expand_eq("a{{{{b", &vars, "a{{b");
	expand_eq("json={{\"ip\":\"{ip}\"}}", &vars, "json={\"ip\":\"10.0.0.5\"}");

	/* Escape, then expand: the literal back, with any values. */
	const char *literals[] = {"",	  "plain",	 "{ip}",	   "{", "}", "}{",
				  "{{}}", "a{b}c{{d}}e", "{name}{gateway}"};
	struct alb_template_vars none = {0};
	for (size_t i = 0; i < sizeof(literals) / sizeof(literals[0]); i++) {
		char *t = NULL;
		ck_assert_int_eq(alb_template_escape(literals[i], &t), 0);
		expand_eq(t, &vars, literals[i]);
		expand_eq(t, &none, literals[i]);
		free(t);
	}
	char *t = NULL;
	ck_assert_int_eq(alb_template_escape("x{y}z", &t), 0);
	ck_assert_str_eq(t, "x{{y}}z");
	free(t);
	ck_assert_int_eq(alb_template_escape(NULL, &t), -EINVAL);
	ck_assert_int_eq(alb_template_escape("x", NULL), -EINVAL);
}
END_TEST

START_TEST(test_errors)
{
	syntax_err("--ip={ipv4}", "unknown placeholder '{ipv4}'");
	syntax_err("{IP}", "unknown placeholder '{IP}'");
	syntax_err("{}", "unknown placeholder '{}'");
	syntax_err("{ ip}", "unknown placeholder '{ ip}'");
	syntax_err("{ip{ip}", "unknown placeholder '{ip{ip}'");
	syntax_err("{ip} {nam}", "unknown placeholder '{nam}'");
	syntax_err("{", "unterminated placeholder '{' at position 1");
	syntax_err("x{ip", "unterminated placeholder '{ip' at position 2");
	syntax_err("{{{", "unterminated placeholder '{' at position 3");
	syntax_err("}", "lone '}' at position 1");
	syntax_err("a}b", "lone '}' at position 2");
	syntax_err("{ip}}", "lone '}' at position 5");
	syntax_err("}}}", "lone '}' at position 3");
	/* A long bad placeholder and a long template are quoted shortened. */
	char t[200];
	memset(t, 'a', 100);
	memcpy(t + 100, "{", 1);
	memset(t + 101, 'b', 60);
	memcpy(t + 161, "}", 2);
	expand_err(t, &vars, EINVAL, "unknown placeholder '{bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb...}'");
	ck_assert_last_error_has(test_ctx, "argument template 'aaaa");
	ck_assert_last_error_has(test_ctx, "aaaa...': ");
	/* NULL arguments. */
	char *s = NULL;
	ck_assert_alb_err(test_ctx, alb_template_expand(test_ctx, NULL, &vars, &s), EINVAL);
	ck_assert_alb_err(test_ctx, alb_template_expand(test_ctx, "x", NULL, &s), EINVAL);
	ck_assert_alb_err(test_ctx, alb_template_expand(test_ctx, "x", &vars, NULL), EINVAL);
	ck_assert_alb_err(test_ctx, alb_template_validate(test_ctx, NULL), EINVAL);
	ck_assert_int_eq(alb_template_expand(NULL, "{x}", &vars, &s), -EINVAL);
	ck_assert_int_eq(alb_template_validate(NULL, "{x}"), -EINVAL);
}
END_TEST

static char *repeat(const char *unit, size_t times)
{
	size_t l = strlen(unit);
	char *s = malloc(l * times + 1);
	ck_assert_ptr_nonnull(s);
	for (size_t i = 0; i < times; i++)
		memcpy(s + i * l, unit, l);
	s[l * times] = '\0';
	return s;
}

START_TEST(test_length)
{
	const size_t max = ALB_ARGS_LENGTH_MAX;
	/* Literal text: up to the bound. */
	char *t = repeat("a", max), *s = NULL;
	expand_eq(t, &vars, t);
	free(t);
	t = repeat("a", max + 1);
	expand_err(t, &vars, E2BIG, "expands to more than 8191 bytes");
	ck_assert_alb_err(test_ctx, alb_template_validate(test_ctx, t), E2BIG);
	free(t);

	/* Escaped braces count once: an escaped argument of the longest length expands. */
	char *lit = repeat("}", max);
	ck_assert_int_eq(alb_template_escape(lit, &t), 0);
	ck_assert_uint_eq(strlen(t), 2 * max);
	expand_eq(t, &vars, lit);
	free(t);
	free(lit);
	lit = repeat("{", max + 1);
	ck_assert_int_eq(alb_template_escape(lit, &t), -E2BIG);
	free(lit);
	/* A template longer than ALB_TEMPLATE_LENGTH_MAX is refused as such. */
	t = repeat("{{", max + 1);
	expand_err(t, &vars, E2BIG, "is longer than 16382 bytes");
	ck_assert_alb_err(test_ctx, alb_template_validate(test_ctx, t), E2BIG);
	free(t);

	/* Values count: "{ip}" is 8 bytes here ("10.0.0.5"). */
	char *pad = repeat("x", max - 8);
	char buf[ALB_ARGS_LENGTH_MAX + 16];
	snprintf(buf, sizeof(buf), "%s{ip}", pad);
	ck_assert_alb_ok(test_ctx, alb_template_expand(test_ctx, buf, &vars, &s));
	ck_assert_uint_eq(strlen(s), max);
	ck_assert_str_eq(s + max - 8, "10.0.0.5");
	free(s);
	s = NULL;
	snprintf(buf, sizeof(buf), "%s{ip}x", pad);
	expand_err(buf, &vars, E2BIG, "expands to more than 8191 bytes");
	/* validate only knows the literal text: this one may fit other values. */
	ck_assert_alb_ok(test_ctx, alb_template_validate(test_ctx, buf));
	free(pad);

	/* A long name. */
	struct alb_template_vars v = vars;
	char *name = repeat("n", max);
	v.name = name;
	expand_eq("{name}", &v, name);
	expand_err("{name}.", &v, E2BIG, "argument template '{name}.': expands to more than");
	free(name);
	name = repeat("n", max + 1);
	v.name = name;
	expand_err("{name}", &v, E2BIG, NULL);
	free(name);
}
END_TEST

static Suite *ipam_suite(void)
{
	Suite *s = suite_create("ipam");
	TCase *tc = tcase_create("pick");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_deterministic);
	tcase_add_test(tc, test_never_network_broadcast);
	tcase_add_test(tc, test_excluded);
	tcase_add_test(tc, test_used);
	tcase_add_test(tc, test_wrap_around);
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_sixteen);
	tcase_add_test(tc, test_bad_prefix);
	suite_add_tcase(s, tc);
	tc = tcase_create("template");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_placeholders);
	tcase_add_test(tc, test_escapes);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_length);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(ipam_suite());
}
