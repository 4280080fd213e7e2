/* SPDX-License-Identifier: ISC */
/* HOST:PORT: the one grammar of addresses (hostport-private.h). */
#include "hostport-private.h"
#include "test-common.h"
#include "util-private.h"

static int parse(const char *s, unsigned flags, char host[ALB_HOST_MAX + 1], uint16_t *port)
{
	return alb_host_port_parse(test_ctx, s, strlen(s), flags, host, port);
}

START_TEST(test_accepted)
{
	static const struct {
		const char *s, *host;
		uint16_t port;
	} ok[] = {
	    {"127.0.0.1:8086", "127.0.0.1", 8086},
	    {"example.org:1", "example.org", 1},
	    {"localhost:65535", "localhost", 65535},
	    {"h:080", "h", 80},
	    {"[::1]:443", "::1", 443},
	    {"[fe80::1%eth0]:5000", "fe80::1%eth0", 5000},
	    {"[2001:db8::a:b]:12", "2001:db8::a:b", 12},
	};
	char host[ALB_HOST_MAX + 1];
	uint16_t port;

	for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
		ck_assert_alb_ok(test_ctx, parse(ok[i].s, 0, host, &port));
		ck_assert_str_eq(host, ok[i].host);
		ck_assert_uint_eq(port, ok[i].port);
	}
}
END_TEST

START_TEST(test_refused)
{
	static const struct {
		const char *s, *why;
	} bad[] = {
	    {"", "expected HOST:PORT"},
	    {"host", "expected HOST:PORT"},
	    {"::1:80", "or [ADDRESS]:PORT for IPv6"},
	    {"a:b:80", "or [ADDRESS]:PORT for IPv6"},
	    {"[::1]", "expected [ADDRESS]:PORT"},
	    {"[::1]80", "expected [ADDRESS]:PORT"},
	    {"[::1:80", "expected [ADDRESS]:PORT"},
	    {"[::1]:", "the port must be 1 to 65535"},
	    {":80", "invalid host"},
	    {"[]:80", "invalid host"},
	    {"[example.org]:80", "invalid host"},
	    {"a/b:80", "invalid host"},
	    {"a b:80", "invalid host"},
	    {"a\tb:80", "invalid host"},
	    {"a]:80", "invalid host"},
	    {"[a[::1]:80", "invalid host"},
	    {"h:", "the port must be 1 to 65535"},
	    {"h:0", "the port must be 1 to 65535"},
	    {"h:65536", "the port must be 1 to 65535"},
	    {"h:000080", "the port must be 1 to 65535"},
	    {"h:+80", "the port must be 1 to 65535"},
	    {"h: 80", "the port must be 1 to 65535"},
	    {"h:80 ", "the port must be 1 to 65535"},
	    {"h:8x", "the port must be 1 to 65535"},
	    {"h:0x50", "the port must be 1 to 65535"},
	    {"h:99999999999999999999999", "the port must be 1 to 65535"},
	};
	char host[ALB_HOST_MAX + 1] = "untouched";
	uint16_t port = 7;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		alb_ctx_clear_error(test_ctx);
		ck_assert_msg(parse(bad[i].s, 0, host, &port) == -EINVAL, "'%s' accepted",
			      bad[i].s);
		ck_assert_last_error_has(test_ctx, bad[i].why);
		ck_assert_msg(strncmp(alb_ctx_last_error(test_ctx), "'", 1) == 0, "%s",
			      alb_ctx_last_error(test_ctx));
	}
	/* Written only on success. */
	ck_assert_str_eq(host, "untouched");
	ck_assert_uint_eq(port, 7);
	/* The message quotes what was given. */
	ck_assert_int_eq(parse("h:0", 0, host, &port), -EINVAL);
	ck_assert_str_eq(alb_ctx_last_error(test_ctx), "'h:0': the port must be 1 to 65535");
	/* No context: the same answer. */
	ck_assert_int_eq(alb_host_port_parse(NULL, "h:0", 3, 0, host, &port), -EINVAL);
}
END_TEST

START_TEST(test_port_zero)
{
	char host[ALB_HOST_MAX + 1];
	uint16_t port = 7;

	ck_assert_alb_ok(test_ctx, parse("127.0.0.1:0", ALB_HOST_PORT_ZERO, host, &port));
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_uint_eq(port, 0);
	ck_assert_alb_ok(test_ctx, parse("[::]:0", ALB_HOST_PORT_ZERO, host, &port));
	ck_assert_str_eq(host, "::");
	ck_assert_uint_eq(port, 0);
	ck_assert_alb_ok(test_ctx, parse("h:65535", ALB_HOST_PORT_ZERO, host, &port));
	ck_assert_uint_eq(port, 65535);
	ck_assert_int_eq(parse("h:65536", ALB_HOST_PORT_ZERO, host, &port), -EINVAL);
	ck_assert_str_eq(alb_ctx_last_error(test_ctx), "'h:65536': the port must be 0 to 65535");
	ck_assert_int_eq(parse("h:", ALB_HOST_PORT_ZERO, host, &port), -EINVAL);
}
END_TEST

START_TEST(test_host_length)
{
	char s[ALB_HOST_MAX + 16], host[ALB_HOST_MAX + 1];
	uint16_t port;

	memset(s, 'a', ALB_HOST_MAX);
	strcpy(s + ALB_HOST_MAX, ":1");
	ck_assert_alb_ok(test_ctx, parse(s, 0, host, &port));
	ck_assert_uint_eq(strlen(host), ALB_HOST_MAX);
	memset(s, 'a', ALB_HOST_MAX + 1);
	strcpy(s + ALB_HOST_MAX + 1, ":1");
	ck_assert_int_eq(parse(s, 0, host, &port), -EINVAL);
	ck_assert_last_error_has(test_ctx, "invalid host");
	/* Bracketed: the address inside counts. */
	s[0] = '[';
	memset(s + 1, ':', ALB_HOST_MAX);
	strcpy(s + 1 + ALB_HOST_MAX, "]:1");
	ck_assert_alb_ok(test_ctx, parse(s, 0, host, &port));
	ck_assert_uint_eq(strlen(host), ALB_HOST_MAX);
	memset(s + 1, ':', ALB_HOST_MAX + 1);
	strcpy(s + 2 + ALB_HOST_MAX, "]:1");
	ck_assert_int_eq(parse(s, 0, host, &port), -EINVAL);
}
END_TEST

START_TEST(test_span)
{
	char host[ALB_HOST_MAX + 1];
	uint16_t port;
	const char *url = "h:8086/write";

	/* Only [s, s + len) is read: a part of a URL. */
	ck_assert_alb_ok(test_ctx, alb_host_port_parse(test_ctx, url, 6, 0, host, &port));
	ck_assert_str_eq(host, "h");
	ck_assert_uint_eq(port, 8086);
	ck_assert_int_eq(alb_host_port_parse(test_ctx, url, strlen(url), 0, host, &port), -EINVAL);
	ck_assert_str_eq(alb_ctx_last_error(test_ctx),
			 "'h:8086/write': the port must be 1 to 65535");
	ck_assert_int_eq(alb_host_port_parse(test_ctx, "[::1]:80", 5, 0, host, &port), -EINVAL);
	ck_assert_int_eq(alb_host_port_parse(test_ctx, NULL, 0, 0, host, &port), -EINVAL);
}
END_TEST

static Suite *hostport_suite(void)
{
	Suite *s = suite_create("hostport");
	TCase *tc = tcase_create("hostport");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_accepted);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_port_zero);
	tcase_add_test(tc, test_host_length);
	tcase_add_test(tc, test_span);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(hostport_suite());
}
