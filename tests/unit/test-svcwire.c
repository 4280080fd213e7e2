/* SPDX-License-Identifier: ISC */
/*
 * The CBOR form of services (svcwire-private.h): alb_service_spec_validate on built
 * structures, alb_service_spec_dup, the spec, service info and collected codecs on their
 * own (with the caller's path), alb_proto_name. The messages that carry them:
 * test-wire.c.
 */
#include "test-common.h"

#include "cbor-private.h"
#include "svcwire-private.h"
#include "wire-private.h"

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

/* A valid spec: 10.0.0.0/24, gateway .1, .2 excluded, tcp 8080 on every host address and
 * udp 5353 on 192.0.2.1, readiness by a console line. */
static struct alb_service_spec *sample_spec(void)
{
	struct alb_service_spec *s = calloc(1, sizeof(*s));

	ck_assert_ptr_nonnull(s);
	s->device = strdup("service");
	s->bridge = strdup("br0");
	s->prefix = IP4(10, 0, 0, 0);
	s->prefix_len = 24;
	s->gateway = IP4(10, 0, 0, 1);
	s->n_excluded = 1;
	s->excluded = calloc(1, sizeof(*s->excluded));
	ck_assert_ptr_nonnull(s->excluded);
	s->excluded[0] = IP4(10, 0, 0, 2);
	s->n_publish = 2;
	s->publish = calloc(ALB_SERVICE_PUBLISH_MAX + 1, sizeof(*s->publish));
	ck_assert_ptr_nonnull(s->publish);
	s->publish[0] = (struct alb_publish){6, 0, 8080, 80};
	s->publish[1] = (struct alb_publish){17, IP4(192, 0, 2, 1), 5353, 53};
	s->ready = ALB_READY_LINE;
	s->ready_line = strdup("ready");
	s->ready_timeout_ms = 10000;
	s->drain_ms = 2000;
	return s;
}

/* Sets the readiness of s to kind with the field that kind needs. */
static void set_ready(struct alb_service_spec *s, int kind)
{
	s->ready = kind;
	free(s->ready_line);
	s->ready_line = kind == ALB_READY_LINE ? strdup("ready") : NULL;
	s->ready_port = kind == ALB_READY_TCP || kind == ALB_READY_UDP ? 7 : 0;
	s->ready_delay_ms = kind == ALB_READY_DELAY ? 1 : 0;
}

static void assert_valid(struct alb_service_spec *s)
{
	ck_assert_alb_ok(test_ctx, alb_service_spec_validate(test_ctx, s));
	alb_service_spec_free(s);
}

static void assert_invalid(struct alb_service_spec *s, int err, const char *needle)
{
	ck_assert_alb_err(test_ctx, alb_service_spec_validate(test_ctx, s), err);
	ck_assert_last_error_has(test_ctx, needle);
	alb_service_spec_free(s);
}

START_TEST(test_validate_valid)
{
	for (int kind = ALB_READY_NONE; kind <= ALB_READY_DELAY; kind++) {
		struct alb_service_spec *s = sample_spec();
		set_ready(s, kind);
		assert_valid(s);
	}

	/* The edges: /8 and /30, no gateway, the highest host as gateway, nothing excluded
	 * or published, the broadcast address excluded (harmless), a timeout of 1 ms and a
	 * drain of 0, times of a day, ports 1 and 65535. */
	struct alb_service_spec *s = sample_spec();
	s->prefix = IP4(10, 0, 0, 0);
	s->prefix_len = 8;
	s->gateway = IP4(10, 255, 255, 254);
	s->excluded[0] = IP4(10, 255, 255, 255);
	s->publish[0] = (struct alb_publish){6, 0, 1, 65535};
	s->publish[1] = (struct alb_publish){17, 0, 65535, 1};
	s->ready_timeout_ms = 1;
	s->drain_ms = 0;
	assert_valid(s);
	s = sample_spec();
	s->prefix = IP4(192, 168, 7, 4);
	s->prefix_len = 30;
	s->gateway = 0;
	s->n_excluded = 0;
	s->n_publish = 0;
	s->ready_timeout_ms = ALB_SERVICE_MS_MAX;
	s->drain_ms = ALB_SERVICE_MS_MAX;
	set_ready(s, ALB_READY_DELAY);
	s->ready_delay_ms = ALB_SERVICE_MS_MAX - 1; /* shorter than the timeout */
	assert_valid(s);

	/* The same host port on two different host addresses, or for tcp and udp. */
	s = sample_spec();
	s->publish[0] = (struct alb_publish){6, IP4(192, 0, 2, 1), 80, 80};
	s->publish[1] = (struct alb_publish){6, IP4(192, 0, 2, 2), 80, 81};
	assert_valid(s);
	s = sample_spec();
	s->publish[0] = (struct alb_publish){6, 0, 53, 53};
	s->publish[1] = (struct alb_publish){17, 0, 53, 53};
	assert_valid(s);
	/* Two host ports to one port of the instance. */
	s = sample_spec();
	s->publish[0] = (struct alb_publish){6, 0, 80, 80};
	s->publish[1] = (struct alb_publish){6, 0, 8080, 80};
	assert_valid(s);
	/* The longest readiness line. */
	s = sample_spec();
	free(s->ready_line);
	s->ready_line = calloc(1, ALB_READY_LINE_MAX + 1);
	memset(s->ready_line, 'x', ALB_READY_LINE_MAX);
	assert_valid(s);
}
END_TEST

START_TEST(test_validate_names)
{
	struct alb_service_spec *s = sample_spec();
	s->device = (free(s->device), NULL);
	assert_invalid(s, EINVAL, "invalid net device name");
	s = sample_spec();
	free(s->device);
	s->device = strdup("a-b");
	assert_invalid(s, EINVAL, "invalid net device name");
	s = sample_spec();
	s->bridge = (free(s->bridge), NULL);
	ck_assert_alb_err(test_ctx, alb_service_spec_validate(test_ctx, s), EINVAL);
	alb_service_spec_free(s);
	s = sample_spec();
	free(s->bridge);
	s->bridge = strdup("br 0");
	assert_invalid(s, EINVAL, "bridge name");
}
END_TEST

START_TEST(test_validate_prefix)
{
	static const uint32_t lens[] = {0, 7, 31, 32, 33};
	for (size_t i = 0; i < ELEMENTSOF(lens); i++) {
		struct alb_service_spec *s = sample_spec();
		s->prefix_len = lens[i];
		assert_invalid(s, EINVAL, "its length must be 8 to 30");
	}
	struct alb_service_spec *s = sample_spec();
	s->prefix = IP4(10, 0, 0, 1);
	assert_invalid(s, EINVAL, "prefix 10.0.0.1/24 has host bits set");
	s = sample_spec();
	s->prefix = IP4(10, 0, 0, 8);
	s->prefix_len = 29;
	s->gateway = IP4(10, 0, 0, 9);
	s->excluded[0] = IP4(10, 0, 0, 10);
	assert_valid(s);
	s = sample_spec();
	s->prefix = IP4(10, 0, 0, 8);
	s->prefix_len = 28;
	assert_invalid(s, EINVAL, "prefix 10.0.0.8/28 has host bits set");

	static const uint32_t gateways[] = {IP4(10, 0, 0, 0), IP4(10, 0, 0, 255), IP4(10, 0, 1, 1),
					    IP4(9, 255, 255, 255), IP4(255, 255, 255, 255)};
	for (size_t i = 0; i < ELEMENTSOF(gateways); i++) {
		s = sample_spec();
		s->gateway = gateways[i];
		assert_invalid(s, EINVAL, "the gateway is not a host address of 10.0.0.0/24");
	}
	s = sample_spec();
	s->excluded[0] = IP4(10, 0, 1, 0);
	assert_invalid(s, EINVAL, "excluded address 10.0.1.0 is not in 10.0.0.0/24");
	s = sample_spec();
	s->excluded[0] = 0;
	assert_invalid(s, EINVAL, "excluded address 0.0.0.0 is not in 10.0.0.0/24");
}
END_TEST

START_TEST(test_validate_bounds)
{
	struct alb_service_spec *s = sample_spec();
	s->excluded = realloc(s->excluded, (ALB_SERVICE_EXCLUDE_MAX + 1) * sizeof(*s->excluded));
	ck_assert_ptr_nonnull(s->excluded);
	for (uint32_t i = 0; i <= ALB_SERVICE_EXCLUDE_MAX; i++)
		s->excluded[i] = IP4(10, 0, 0, i % 256);
	s->n_excluded = ALB_SERVICE_EXCLUDE_MAX;
	ck_assert_alb_ok(test_ctx, alb_service_spec_validate(test_ctx, s));
	s->n_excluded = ALB_SERVICE_EXCLUDE_MAX + 1;
	assert_invalid(s, E2BIG, "more than 256 excluded addresses");

	s = sample_spec();
	for (uint32_t i = 0; i <= ALB_SERVICE_PUBLISH_MAX; i++)
		s->publish[i] = (struct alb_publish){6, 0, 1000 + i, 80};
	s->n_publish = ALB_SERVICE_PUBLISH_MAX;
	ck_assert_alb_ok(test_ctx, alb_service_spec_validate(test_ctx, s));
	s->n_publish = ALB_SERVICE_PUBLISH_MAX + 1;
	assert_invalid(s, E2BIG, "more than 64 published ports");
}
END_TEST

START_TEST(test_validate_publish)
{
	static const struct alb_publish bad[] = {
	    {132, 0, 80, 80}, {0, 0, 80, 80},	  {6, 0, 0, 80},	  {6, 0, 65536, 80},
	    {17, 0, 80, 0},   {17, 0, 80, 65536}, {6, 0, UINT32_MAX, 80},
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct alb_service_spec *s = sample_spec();
		s->publish[1] = bad[i];
		assert_invalid(s, EINVAL, "published port 2: invalid");
	}

	/* Published twice: both on every address, one on every address and one on a
	 * single address (either order), both on the same address. */
	static const struct {
		struct alb_publish a, b;
	} twice[] = {
	    {{6, 0, 8080, 80}, {6, 0, 8080, 81}},
	    {{6, 0, 8080, 80}, {6, IP4(192, 0, 2, 1), 8080, 81}},
	    {{17, IP4(192, 0, 2, 1), 8080, 80}, {17, 0, 8080, 81}},
	    {{17, IP4(192, 0, 2, 1), 8080, 80}, {17, IP4(192, 0, 2, 1), 8080, 80}},
	};
	for (size_t i = 0; i < ELEMENTSOF(twice); i++) {
		struct alb_service_spec *s = sample_spec();
		s->n_publish = 3;
		s->publish[0] = twice[i].a;
		s->publish[1] = (struct alb_publish){6, 0, 9999, 1};
		s->publish[2] = twice[i].b;
		assert_invalid(s, EINVAL,
			       i < 2 ? "host port 8080/tcp is published twice"
				     : "host port 8080/udp is published twice");
	}
}
END_TEST

START_TEST(test_validate_ready)
{
	const char *line = "the readiness line must be 1 to 1024 bytes of one line";
	const char *port = "the readiness port must be 1 to 65535";
	const char *delay = "the readiness delay must be 1 ms to a day";
	const char *times = "the readiness timeout (1 ms to a day) or the drain time";
	struct alb_service_spec *s;

	s = sample_spec();
	s->ready = -1;
	assert_invalid(s, EINVAL, "unknown readiness rule");
	s = sample_spec();
	set_ready(s, ALB_READY_DELAY);
	s->ready = ALB_READY_DELAY + 1;
	assert_invalid(s, EINVAL, "unknown readiness rule");

	/* line: without a line, an empty one, one too long, two lines. */
	s = sample_spec();
	s->ready_line = (free(s->ready_line), NULL);
	assert_invalid(s, EINVAL, line);
	s = sample_spec();
	s->ready_line[0] = '\0';
	assert_invalid(s, EINVAL, line);
	s = sample_spec();
	free(s->ready_line);
	s->ready_line = calloc(1, ALB_READY_LINE_MAX + 2);
	memset(s->ready_line, 'x', ALB_READY_LINE_MAX + 1);
	assert_invalid(s, EINVAL, line);
	s = sample_spec();
	free(s->ready_line);
	s->ready_line = strdup("up\nand running");
	assert_invalid(s, EINVAL, line);
	s = sample_spec();
	free(s->ready_line);
	s->ready_line = strdup("up\r");
	assert_invalid(s, EINVAL, line);

	/* A field of another kind beside the right one, or alone. */
	for (int kind = ALB_READY_NONE; kind <= ALB_READY_DELAY; kind++) {
		if (kind != ALB_READY_LINE) {
			s = sample_spec();
			set_ready(s, kind);
			s->ready_line = strdup("ready");
			assert_invalid(s, EINVAL, line);
		}
		if (kind != ALB_READY_TCP && kind != ALB_READY_UDP) {
			s = sample_spec();
			set_ready(s, kind);
			s->ready_port = 80;
			assert_invalid(s, EINVAL, port);
		}
		if (kind != ALB_READY_DELAY) {
			s = sample_spec();
			set_ready(s, kind);
			s->ready_delay_ms = 100;
			assert_invalid(s, EINVAL, delay);
		}
	}

	/* tcp and udp without a port, or one out of range; delay of 0 or over a day. */
	s = sample_spec();
	set_ready(s, ALB_READY_TCP);
	s->ready_port = 0;
	assert_invalid(s, EINVAL, port);
	s = sample_spec();
	set_ready(s, ALB_READY_UDP);
	s->ready_port = 65536;
	assert_invalid(s, EINVAL, port);
	s = sample_spec();
	set_ready(s, ALB_READY_DELAY);
	s->ready_delay_ms = 0;
	assert_invalid(s, EINVAL, delay);
	s = sample_spec();
	set_ready(s, ALB_READY_DELAY);
	s->ready_delay_ms = ALB_SERVICE_MS_MAX + 1;
	assert_invalid(s, EINVAL, delay);

	/* The timeout 1 ms to a day, the drain up to a day. */
	s = sample_spec();
	s->ready_timeout_ms = 0;
	assert_invalid(s, EINVAL, times);
	s = sample_spec();
	s->ready_timeout_ms = ALB_SERVICE_MS_MAX + 1;
	assert_invalid(s, EINVAL, times);
	s = sample_spec();
	s->drain_ms = ALB_SERVICE_MS_MAX + 1;
	assert_invalid(s, EINVAL, times);
	s = sample_spec();
	s->drain_ms = UINT64_MAX;
	assert_invalid(s, EINVAL, times);
}
END_TEST

START_TEST(test_dup)
{
	struct alb_service_spec *s = sample_spec(), *d = NULL;

	ck_assert_alb_ok(test_ctx, alb_service_spec_dup(s, &d));
	ck_assert_ptr_nonnull(d);
	ck_assert_ptr_ne(d, s);
	/* Deep: every pointer its own, the same content. */
	ck_assert_ptr_ne(d->device, s->device);
	ck_assert_ptr_ne(d->bridge, s->bridge);
	ck_assert_ptr_ne(d->excluded, s->excluded);
	ck_assert_ptr_ne(d->publish, s->publish);
	ck_assert_ptr_ne(d->ready_line, s->ready_line);
	ck_assert_str_eq(d->device, "service");
	ck_assert_str_eq(d->bridge, "br0");
	ck_assert_str_eq(d->ready_line, "ready");
	ck_assert_uint_eq(d->prefix, s->prefix);
	ck_assert_uint_eq(d->prefix_len, s->prefix_len);
	ck_assert_uint_eq(d->gateway, s->gateway);
	ck_assert_uint_eq(d->n_excluded, 1);
	ck_assert_uint_eq(d->excluded[0], IP4(10, 0, 0, 2));
	ck_assert_uint_eq(d->n_publish, 2);
	ck_assert_mem_eq(d->publish, s->publish, 2 * sizeof(*s->publish));
	ck_assert_int_eq(d->ready, s->ready);
	ck_assert_uint_eq(d->ready_timeout_ms, s->ready_timeout_ms);
	ck_assert_uint_eq(d->drain_ms, s->drain_ms);

	/* Changing one leaves the other; both encode the same before. */
	_cleanup_(cbor_decref_ptrp) cbor_item_t *a = alb_service_spec_to_cbor(s);
	_cleanup_(cbor_decref_ptrp) cbor_item_t *b = alb_service_spec_to_cbor(d);
	_cleanup_free_ uint8_t *ba = NULL, *bb = NULL;
	size_t la, lb;
	ck_assert_alb_ok(test_ctx, alb_cbor_serialize(test_ctx, a, &ba, &la));
	ck_assert_alb_ok(test_ctx, alb_cbor_serialize(test_ctx, b, &bb, &lb));
	ck_assert_uint_eq(la, lb);
	ck_assert_mem_eq(ba, bb, la);
	d->device[0] = 'S';
	d->excluded[0] = 1;
	d->publish[1].port = 9;
	d->ready_line[0] = 'R';
	ck_assert_str_eq(s->device, "service");
	ck_assert_uint_eq(s->excluded[0], IP4(10, 0, 0, 2));
	ck_assert_uint_eq(s->publish[1].port, 53);
	ck_assert_str_eq(s->ready_line, "ready");
	alb_service_spec_free(s);
	ck_assert_ptr_null(alb_service_spec_free(d));

	/* Nothing excluded, published or to read: no arrays, no line. */
	s = sample_spec();
	s->excluded = (free(s->excluded), NULL);
	s->n_excluded = 0;
	s->publish = (free(s->publish), NULL);
	s->n_publish = 0;
	set_ready(s, ALB_READY_TCP);
	ck_assert_alb_ok(test_ctx, alb_service_spec_dup(s, &d));
	ck_assert_ptr_null(d->excluded);
	ck_assert_ptr_null(d->publish);
	ck_assert_ptr_null(d->ready_line);
	ck_assert_uint_eq(d->ready_port, 7);
	ck_assert_alb_ok(test_ctx, alb_service_spec_validate(test_ctx, d));
	alb_service_spec_free(s);
	alb_service_spec_free(d);

	ck_assert_ptr_null(alb_service_spec_free(NULL));
	alb_service_info_clear(NULL);
	alb_collected_clear(NULL);
}
END_TEST

/* Serializes item and loads it back, as a reader of the wire sees it. */
static cbor_item_t *reload(cbor_item_t *item)
{
	_cleanup_free_ uint8_t *buf = NULL;
	cbor_item_t *loaded = NULL;
	size_t len;

	ck_assert_ptr_nonnull(item);
	ck_assert_alb_ok(test_ctx, alb_cbor_serialize(test_ctx, item, &buf, &len));
	ck_assert_alb_ok(test_ctx, alb_cbor_load(test_ctx, buf, len, &loaded));
	cbor_decref(&item);
	return loaded;
}

/* The spec decoded from s with "prefix" replaced by text (NULL: s as it is). */
static int spec_with_prefix(const struct alb_service_spec *s, const char *text,
			    struct alb_service_spec **ret)
{
	_cleanup_(cbor_decref_ptrp) cbor_item_t *item = alb_service_spec_to_cbor(s);
	ck_assert_ptr_nonnull(item);
	if (text) {
		struct cbor_pair *pairs = cbor_map_handle(item);
		for (size_t i = 0; i < cbor_map_size(item); i++)
			if (cbor_string_length(pairs[i].key) == 6 &&
			    memcmp(cbor_string_handle(pairs[i].key), "prefix", 6) == 0) {
				cbor_item_t *v = cbor_build_string(text);
				cbor_decref(&pairs[i].value);
				pairs[i].value = v;
			}
	}
	_cleanup_(cbor_decref_ptrp) cbor_item_t *loaded = reload(cbor_incref(item));
	*ret = NULL;
	int r = alb_service_spec_from_cbor(test_ctx, loaded, "svc", ret);
	ck_assert(r < 0 ? *ret == NULL : *ret != NULL);
	return r;
}

START_TEST(test_spec_codec)
{
	struct alb_service_spec *s = sample_spec(), *back = NULL;

	/* Every readiness kind, with and without a gateway: decode(encode(s)) == s, and its
	 * encoding again the same bytes. */
	for (int kind = ALB_READY_NONE; kind <= ALB_READY_DELAY; kind++)
		for (int gw = 0; gw < 2; gw++) {
			set_ready(s, kind);
			s->gateway = gw ? IP4(10, 0, 0, 1) : 0;
			ck_assert_alb_ok(test_ctx, spec_with_prefix(s, NULL, &back));
			ck_assert_str_eq(back->device, s->device);
			ck_assert_str_eq(back->bridge, s->bridge);
			ck_assert_uint_eq(back->prefix, s->prefix);
			ck_assert_uint_eq(back->prefix_len, 24);
			ck_assert_uint_eq(back->gateway, s->gateway);
			ck_assert_uint_eq(back->n_excluded, 1);
			ck_assert_uint_eq(back->excluded[0], s->excluded[0]);
			ck_assert_uint_eq(back->n_publish, 2);
			ck_assert_mem_eq(back->publish, s->publish, 2 * sizeof(*s->publish));
			ck_assert_int_eq(back->ready, kind);
			ck_assert(!back->ready_line == !s->ready_line);
			ck_assert_uint_eq(back->ready_port, s->ready_port);
			ck_assert_uint_eq(back->ready_delay_ms, s->ready_delay_ms);
			ck_assert_uint_eq(back->ready_timeout_ms, s->ready_timeout_ms);
			ck_assert_uint_eq(back->drain_ms, s->drain_ms);

			_cleanup_(cbor_decref_ptrp) cbor_item_t *a = alb_service_spec_to_cbor(s);
			_cleanup_(cbor_decref_ptrp) cbor_item_t *b = alb_service_spec_to_cbor(back);
			_cleanup_free_ uint8_t *ba = NULL, *bb = NULL;
			size_t la, lb;
			ck_assert_alb_ok(test_ctx, alb_cbor_serialize(test_ctx, a, &ba, &la));
			ck_assert_alb_ok(test_ctx, alb_cbor_serialize(test_ctx, b, &bb, &lb));
			ck_assert_uint_eq(la, lb);
			ck_assert_mem_eq(ba, bb, la);
			back = alb_service_spec_free(back);
		}
	set_ready(s, ALB_READY_LINE);

	/* The caller's path leads every reason; the checks of a built spec become EBADMSG. */
	static const struct {
		const char *prefix, *needle;
	} bad[] = {
	    {"10.0.0.0", "svc.prefix: not an IPv4 prefix A.B.C.D/N: '10.0.0.0'"},
	    {"10.0.0.0/0", "svc.prefix: not an IPv4 prefix A.B.C.D/N: '10.0.0.0/0'"},
	    {"10.0.0.0/33", "svc.prefix: not an IPv4 prefix A.B.C.D/N: '10.0.0.0/33'"},
	    {"10.0.0.0/99999999999999999999", "svc.prefix: string of"},
	    {"10.0.0.0/24/24", "svc.prefix: not an IPv4 prefix"},
	    {"x/24", "svc.prefix: not an IPv4 prefix A.B.C.D/N"},
	    {"010.0.0.0/24", "svc.prefix: not an IPv4 prefix A.B.C.D/N"},
	    {" 10.0.0.0/24", "svc.prefix: not an IPv4 prefix A.B.C.D/N"},
	    {"10.0.0.1/24", "svc: prefix 10.0.0.1/24 has host bits set"},
	    {"10.0.0.0/7", "svc: prefix 10.0.0.0/7: its length must be 8 to 30"},
	    {"10.0.0.0/31", "svc: prefix 10.0.0.0/31: its length must be 8 to 30"},
	    {"10.0.1.0/24", "svc: the gateway is not a host address of 10.0.1.0/24"},
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		ck_assert_msg(spec_with_prefix(s, bad[i].prefix, &back) == -EBADMSG,
			      "prefix '%s' accepted or not refused as malformed: %s", bad[i].prefix,
			      alb_ctx_last_error(test_ctx));
		ck_assert_last_error_has(test_ctx, bad[i].needle);
	}
	ck_assert_alb_ok(test_ctx, spec_with_prefix(s, "10.0.0.0/24", &back));
	back = alb_service_spec_free(back);

	/* The encoder writes what the decoder wants: no spec is null, which it refuses. */
	_cleanup_(cbor_decref_ptrp) cbor_item_t *null = reload(alb_service_spec_to_cbor(NULL));
	ck_assert(cbor_is_null(null));
	ck_assert_alb_err(test_ctx, alb_service_spec_from_cbor(test_ctx, null, "svc", &back),
			  EBADMSG);
	ck_assert_last_error_has(test_ctx, "svc: expected a map, got null");
	ck_assert_ptr_null(back);
	alb_service_spec_free(s);
}
END_TEST

START_TEST(test_proto_name)
{
	ck_assert_str_eq(alb_proto_name(6), "tcp");
	ck_assert_str_eq(alb_proto_name(17), "udp");
	ck_assert_ptr_null(alb_proto_name(0));
	ck_assert_ptr_null(alb_proto_name(132));
	ck_assert_ptr_null(alb_proto_name(6 + 256));
}
END_TEST

static alb_name *N(const char *s)
{
	alb_name *name = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, s, &name));
	return name;
}

static void sample_info(struct alb_service_info *info)
{
	*info = (struct alb_service_info){.name = N("alice:web"),
					  .spec = sample_spec(),
					  .generation = 4,
					  .n_instances = 2,
					  .last_error = strdup("not ready in 10 s")};
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_new(test_ctx, &info->config));
	info->instances = calloc(2, sizeof(*info->instances));
	ck_assert_ptr_nonnull(info->instances);
	info->instances[0] = (struct alb_service_instance){3, N("alice:web.3"), IP4(10, 0, 0, 3),
							   ALB_INSTANCE_DRAINING, 1700000002000000};
	info->instances[1] = (struct alb_service_instance){4, N("alice:web.4"), IP4(10, 0, 0, 4),
							   ALB_INSTANCE_PUBLISHED, 0};
}

/* Decodes info's encoding with elt.key (NULL: none) replaced by text, as list_from_cbor()
 * does: into a zeroed element, cleared on failure and success. */
static int info_with(const struct alb_service_info *info, const char *elt, const char *key,
		     const char *text)
{
	_cleanup_(cbor_decref_ptrp) cbor_item_t *item = alb_service_info_to_cbor(info);
	ck_assert_ptr_nonnull(item);
	if (elt) {
		cbor_item_t *target = item;
		struct cbor_pair *pairs = cbor_map_handle(item);
		if (strcmp(elt, "") != 0) /* an instance: "0", "1" */
			for (size_t i = 0; i < cbor_map_size(item); i++)
				if (cbor_string_length(pairs[i].key) == 9 &&
				    memcmp(cbor_string_handle(pairs[i].key), "instances", 9) == 0)
					target = cbor_array_handle(pairs[i].value)[atoi(elt)];
		pairs = cbor_map_handle(target);
		for (size_t i = 0; i < cbor_map_size(target); i++)
			if (cbor_string_length(pairs[i].key) == strlen(key) &&
			    memcmp(cbor_string_handle(pairs[i].key), key, strlen(key)) == 0) {
				cbor_item_t *v = cbor_build_string(text);
				cbor_decref(&pairs[i].value);
				pairs[i].value = v;
			}
	}
	_cleanup_(cbor_decref_ptrp) cbor_item_t *loaded = reload(cbor_incref(item));
	struct alb_service_info back = {0};
	int r = alb_service_info_from_cbor(test_ctx, loaded, "info", &back);
	if (r >= 0) {
		_cleanup_(cbor_decref_ptrp) cbor_item_t *again = alb_service_info_to_cbor(&back);
		_cleanup_free_ uint8_t *ba = NULL, *bb = NULL;
		size_t la, lb;
		ck_assert_alb_ok(test_ctx, alb_cbor_serialize(test_ctx, item, &ba, &la));
		ck_assert_alb_ok(test_ctx, alb_cbor_serialize(test_ctx, again, &bb, &lb));
		ck_assert_uint_eq(la, lb);
		ck_assert_mem_eq(ba, bb, la);
		ck_assert_uint_eq(back.n_instances, info->n_instances);
		ck_assert(alb_name_equal(back.name, info->name));
	}
	alb_service_info_clear(&back);
	ck_assert_ptr_null(back.name);
	return r;
}

START_TEST(test_info_codec)
{
	struct alb_service_info info;

	sample_info(&info);
	ck_assert_alb_ok(test_ctx, info_with(&info, NULL, NULL, NULL));
	ck_assert_alb_err(test_ctx, info_with(&info, "", "name", "alice:"), EBADMSG);
	ck_assert_last_error_has(test_ctx, "info.name: a path, not a service's name");
	ck_assert_alb_err(test_ctx, info_with(&info, "", "name", ":"), EBADMSG);
	ck_assert_last_error_has(test_ctx, "info.name: a path, not a service's name");
	ck_assert_alb_err(test_ctx, info_with(&info, "1", "state", "stopped"), EBADMSG);
	ck_assert_last_error_has(test_ctx, "info.instances[1].state: unknown value 'stopped'");
	ck_assert_alb_err(test_ctx, info_with(&info, "0", "address", "10.0.0.256"), EBADMSG);
	ck_assert_last_error_has(test_ctx, "info.instances[0].address: not an IPv4 address");
	/* An instance named by a path: refused, and what was decoded of it is freed (the
	 * test runs under ASan in CI). */
	ck_assert_alb_err(test_ctx, info_with(&info, "1", "unikernel", "alice:"), EBADMSG);
	ck_assert_last_error_has(test_ctx,
				 "info.instances[1].unikernel: a path, not a unikernel's name");
	ck_assert_alb_ok(test_ctx, info_with(&info, "1", "state", "starting"));

	/* Without a last error, without instances. */
	info.last_error = (free(info.last_error), NULL);
	ck_assert_alb_ok(test_ctx, info_with(&info, NULL, NULL, NULL));
	for (uint32_t i = 0; i < info.n_instances; i++)
		alb_name_free(info.instances[i].unikernel);
	info.instances = (free(info.instances), NULL);
	info.n_instances = 0;
	ck_assert_alb_ok(test_ctx, info_with(&info, NULL, NULL, NULL));
	alb_service_info_clear(&info);
	ck_assert_ptr_null(info.spec);
	ck_assert_uint_eq(info.generation, 0);
}
END_TEST

START_TEST(test_collected_codec)
{
	struct alb_collected c[2] = {
	    {N("alice:web.2"), strdup("br0"), IP4(10, 0, 0, 2)},
	    {NULL, strdup("br1"), IP4(172, 16, 0, 9)},
	};

	for (size_t i = 0; i < ELEMENTSOF(c); i++) {
		_cleanup_(cbor_decref_ptrp) cbor_item_t *item =
		    reload(alb_collected_to_cbor(&c[i]));
		struct alb_collected back = {0};
		ck_assert_uint_eq(cbor_map_size(item), i == 0 ? 3 : 2);
		ck_assert_alb_ok(test_ctx, alb_collected_from_cbor(test_ctx, item, "c", &back));
		ck_assert(!back.unikernel == !c[i].unikernel);
		ck_assert(!back.unikernel || alb_name_equal(back.unikernel, c[i].unikernel));
		ck_assert_str_eq(back.bridge, c[i].bridge);
		ck_assert_uint_eq(back.address, c[i].address);
		alb_collected_clear(&back);
		alb_collected_clear(&c[i]);
		ck_assert_ptr_null(c[i].bridge);
	}

	/* A map without the address. */
	_cleanup_(cbor_decref_ptrp) cbor_item_t *item = cbor_new_definite_map(1);
	ck_assert(alb_cbor_put(item, "bridge", alb_cbor_text("br0")));
	struct alb_collected back = {0};
	ck_assert_alb_err(test_ctx, alb_collected_from_cbor(test_ctx, item, "c", &back), EBADMSG);
	ck_assert_last_error_has(test_ctx, "c.address: missing");
	alb_collected_clear(&back);
}
END_TEST

/* The encoder refuses what the decoder would: a deploy's spec is checked on the way out. */
START_TEST(test_encode_invalid_spec)
{
	alb_msg *msg = NULL;
	alb_name *name = N("alice:web");
	uint8_t *buf = NULL;
	uint64_t len;

	ck_assert_alb_ok(test_ctx, alb_msg_new(&msg, ALB_MSG_COMMAND, 1, name));
	msg->cmd.kind = ALB_CMD_SERVICE_DEPLOY;
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_new(test_ctx, &msg->cmd.config));
	ck_assert_alb_err(test_ctx, alb_msg_encode(test_ctx, msg, &buf, &len), EINVAL);
	ck_assert_last_error_has(test_ctx, "command.service");

	msg->cmd.service = sample_spec();
	ck_assert_alb_ok(test_ctx, alb_msg_encode(test_ctx, msg, &buf, &len));
	alb_free(buf);
	buf = NULL;
	msg->cmd.service->gateway = IP4(10, 0, 0, 255);
	ck_assert_alb_err(test_ctx, alb_msg_encode(test_ctx, msg, &buf, &len), EINVAL);
	ck_assert_last_error_has(test_ctx, "command.service: the gateway is not a host address");
	ck_assert_ptr_null(buf);
	msg->cmd.service->gateway = 0;
	msg->cmd.service->ready = 9;
	ck_assert_int_lt(alb_msg_encode(test_ctx, msg, &buf, &len), 0);
	ck_assert_ptr_null(buf);
	msg->cmd.service->ready = ALB_READY_LINE;
	msg->cmd.service->publish[0].proto = 1;
	ck_assert_int_lt(alb_msg_encode(test_ctx, msg, &buf, &len), 0);
	ck_assert_ptr_null(buf);
	alb_msg_free(msg);
	alb_name_free(name);
}
END_TEST

static Suite *svcwire_suite(void)
{
	Suite *s = suite_create("svcwire");
	TCase *tc;

	tc = tcase_create("validate");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_add_test(tc, test_validate_valid);
	tcase_add_test(tc, test_validate_names);
	tcase_add_test(tc, test_validate_prefix);
	tcase_add_test(tc, test_validate_bounds);
	tcase_add_test(tc, test_validate_publish);
	tcase_add_test(tc, test_validate_ready);
	tcase_add_test(tc, test_dup);
	suite_add_tcase(s, tc);

	tc = tcase_create("codec");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_add_test(tc, test_spec_codec);
	tcase_add_test(tc, test_proto_name);
	tcase_add_test(tc, test_info_codec);
	tcase_add_test(tc, test_collected_codec);
	tcase_add_test(tc, test_encode_invalid_spec);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(svcwire_suite());
}
