/* SPDX-License-Identifier: ISC */
/*
 * Published ports (nft-private.h): the DNAT rules of table ip albatross, conntrack
 * cleanup and the ip_forward check, each test in a network namespace of its own (root;
 * skipped, exit 77, where unshare(CLONE_NEWNET) is not permitted). Traffic goes only to
 * addresses of these namespaces.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netlink/netfilter/ct.h>
#include <netlink/netfilter/nfnl.h>
#include <netlink/netlink.h>
#include <nftables/libnftables.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nft-private.h"
#include "test-common.h"

/* Every wait for a datagram: generous, the machine may be slow. */
#define WAIT_MS 30000

static uint32_t ip(const char *s)
{
	struct in_addr a;
	ck_assert_int_eq(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

/* Runs argv (no shell) and asserts that it exits 0. */
static void run(const char *const argv[])
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s %s %s failed", argv[0],
		      argv[1], argv[2]);
}

/* The fixture: a fresh network namespace with lo up, and a context. */
static void netns_setup(void)
{
	ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare: %s", strerror(errno));
	run((const char *const[]){"ip", "link", "set", "lo", "up", NULL});
	tc_ctx_setup();
}

/* The text of "list table ip albatross" through libnftables (NULL if there is none). */
static char *nft_list_text(const char *cmd)
{
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	ck_assert_ptr_nonnull(nft);
	nft_ctx_buffer_output(nft);
	nft_ctx_buffer_error(nft);
	char *text = NULL;
	if (nft_run_cmd_from_buffer(nft, cmd) == 0)
		text = strdup(nft_ctx_get_output_buffer(nft));
	nft_ctx_free(nft);
	return text;
}

/* Runs cmd through libnftables, asserting success. */
static void nft_cmd(const char *cmd)
{
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	ck_assert_ptr_nonnull(nft);
	nft_ctx_buffer_error(nft);
	int r = nft_run_cmd_from_buffer(nft, cmd);
	ck_assert_msg(r == 0, "%s: %s", cmd, nft_ctx_get_error_buffer(nft));
	nft_ctx_free(nft);
}

static unsigned count_of(const char *haystack, const char *needle)
{
	unsigned n = 0;
	for (const char *p = haystack; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* a.b.c.d in network byte order, as a constant. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define IP4(a, b, c, d)                                                                            \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#else
#define IP4(a, b, c, d)                                                                            \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#endif

static const struct alb_nft_port set_a[] = {
    {IPPROTO_TCP, 0, 8080, IP4(10, 0, 0, 5), 80, "alice:web"},
    {IPPROTO_UDP, IP4(192, 0, 2, 1), 53, IP4(10, 0, 0, 6), 5353, "bob:dns"},
    {IPPROTO_TCP, IP4(192, 0, 2, 1), 443, IP4(10, 0, 0, 7), 8443, "carol.tls_1-x"},
};
static const struct alb_nft_port set_b[] = {
    {IPPROTO_UDP, 0, 8080, IP4(10, 0, 0, 8), 8080, "dave:game"},
    {IPPROTO_TCP, IP4(192, 0, 2, 2), 443, IP4(10, 0, 0, 7), 443, "carol:tls"},
};

static bool ports_eq(const struct alb_nft_port *a, size_t na, const struct alb_nft_port *b,
		     size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (a[i].proto != b[i].proto || a[i].host_addr != b[i].host_addr ||
		    a[i].host_port != b[i].host_port || a[i].dest_addr != b[i].dest_addr ||
		    a[i].dest_port != b[i].dest_port || strcmp(a[i].owner, b[i].owner) != 0)
			return false;
	return true;
}

static void assert_list(const struct alb_nft_port *want, size_t n)
{
	struct alb_nft_port *got = NULL;
	size_t got_n = 0;
	ck_assert_alb_ok(test_ctx, alb_nft_list(test_ctx, &got, &got_n));
	ck_assert_uint_eq(got_n, n);
	ck_assert_msg(ports_eq(got, got_n, want, n), "the rules read back differ");
	alb_nft_ports_free(got, got_n);
}

START_TEST(test_apply_list)
{
	ck_assert_alb_ok(test_ctx, alb_nft_apply(test_ctx, set_a, ELEMENTSOF(set_a)));
	assert_list(set_a, ELEMENTSOF(set_a));

	/* The same through libnftables itself: both chains, each rule in both. */
	char *text = nft_list_text("list table ip albatross");
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(strstr(text, "type nat hook prerouting priority dstnat;"));
	ck_assert_ptr_nonnull(strstr(text, "type nat hook output priority -100;"));
	ck_assert_uint_eq(count_of(text, "dnat"), 6);
	ck_assert_uint_eq(count_of(text, "fib daddr type local tcp dport 8080 dnat to "
					 "10.0.0.5:80 comment \"alice:web\""),
			  2);
	ck_assert_uint_eq(
	    count_of(text,
		     "ip daddr 192.0.2.1 udp dport 53 dnat to 10.0.0.6:5353 comment \"bob:dns\""),
	    2);
	ck_assert_uint_eq(count_of(text, "ip daddr 192.0.2.1 tcp dport 443 dnat to 10.0.0.7:8443 "
					 "comment \"carol.tls_1-x\""),
			  2);
	free(text);
	/* Nothing else: one table. */
	text = nft_list_text("list tables");
	ck_assert_str_eq(text, "table ip albatross\n");
	free(text);
}
END_TEST

START_TEST(test_apply_replaces)
{
	ck_assert_alb_ok(test_ctx, alb_nft_apply(test_ctx, set_a, ELEMENTSOF(set_a)));
	ck_assert_alb_ok(test_ctx, alb_nft_apply(test_ctx, set_b, ELEMENTSOF(set_b)));
	assert_list(set_b, ELEMENTSOF(set_b));
	char *text = nft_list_text("list table ip albatross");
	ck_assert_uint_eq(count_of(text, "dnat"), 4);
	ck_assert_ptr_null(strstr(text, "alice"));
	ck_assert_ptr_null(strstr(text, "bob"));
	free(text);

	/* Something added to our table by hand goes with the next apply. */
	nft_cmd("add chain ip albatross extra\nadd rule ip albatross prerouting counter");
	struct alb_nft_port *got = NULL;
	size_t got_n = 0;
	ck_assert_alb_err(test_ctx, alb_nft_list(test_ctx, &got, &got_n), EBADMSG);
	ck_assert_alb_ok(test_ctx, alb_nft_apply(test_ctx, set_a, ELEMENTSOF(set_a)));
	assert_list(set_a, ELEMENTSOF(set_a));
	text = nft_list_text("list table ip albatross");
	ck_assert_ptr_null(strstr(text, "extra"));
	ck_assert_ptr_null(strstr(text, "counter"));
	free(text);
}
END_TEST

/* A reader never sees anything but one whole set or the other while a writer switches. */
START_TEST(test_apply_atomic)
{
	enum { ROUNDS = 150 };
	ck_assert_alb_ok(test_ctx, alb_nft_apply(test_ctx, set_a, ELEMENTSOF(set_a)));
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		alb_ctx *ctx = NULL;
		if (alb_ctx_new(&ctx) < 0)
			_exit(2);
		for (int i = 0; i < ROUNDS; i++) {
			struct alb_nft_port *got = NULL;
			size_t n = 0;
			int r = alb_nft_list(ctx, &got, &n);
			if (r < 0) {
				fprintf(stderr, "round %d: %s\n", i, alb_ctx_last_error(ctx));
				_exit(3);
			}
			bool ok = ports_eq(got, n, set_a, ELEMENTSOF(set_a)) ||
				  ports_eq(got, n, set_b, ELEMENTSOF(set_b));
			alb_nft_ports_free(got, n);
			if (!ok)
				_exit(4);
		}
		_exit(0);
	}
	for (int i = 0; i < ROUNDS; i++)
		ck_assert_alb_ok(test_ctx, i % 2
					       ? alb_nft_apply(test_ctx, set_a, ELEMENTSOF(set_a))
					       : alb_nft_apply(test_ctx, set_b, ELEMENTSOF(set_b)));
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader: status %d", status);
}
END_TEST

START_TEST(test_apply_invalid)
{
	ck_assert_alb_ok(test_ctx, alb_nft_apply(test_ctx, set_a, ELEMENTSOF(set_a)));
	char long_owner[ALB_NFT_OWNER_MAX + 2];
	memset(long_owner, 'a', sizeof(long_owner) - 1);
	long_owner[sizeof(long_owner) - 1] = '\0';
	static const struct {
		struct alb_nft_port p;
		int err;
		const char *why;
	} bad[] = {
	    {{IPPROTO_ICMP, 0, 1, IP4(10, 0, 0, 5), 1, "x"}, EINVAL, "is not tcp or udp"},
	    {{0, 0, 1, IP4(10, 0, 0, 5), 1, "x"}, EINVAL, "is not tcp or udp"},
	    {{IPPROTO_TCP, 0, 0, IP4(10, 0, 0, 5), 1, "x"}, EINVAL, "port 0"},
	    {{IPPROTO_TCP, 0, 1, IP4(10, 0, 0, 5), 0, "x"}, EINVAL, "port 0"},
	    {{IPPROTO_TCP, 0, 1, 0, 1, "x"}, EINVAL, "no destination"},
	    {{IPPROTO_TCP, 0, 1, IP4(10, 0, 0, 5), 1, NULL}, EINVAL, "owner"},
	    {{IPPROTO_TCP, 0, 1, IP4(10, 0, 0, 5), 1, ""}, EINVAL, "owner"},
	    {{IPPROTO_TCP, 0, 1, IP4(10, 0, 0, 5), 1, "a b"}, EINVAL, "owner"},
	    {{IPPROTO_TCP, 0, 1, IP4(10, 0, 0, 5), 1, "a\"; flush ruleset; \""}, EINVAL, "owner"},
	    {{IPPROTO_TCP, 0, 1, IP4(10, 0, 0, 5), 1, "a\nb"}, EINVAL, "owner"},
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		/* The bad one last: the good ones before it are not applied either. */
		struct alb_nft_port v[3] = {set_b[0], set_b[1], bad[i].p};
		ck_assert_alb_err(test_ctx, alb_nft_apply(test_ctx, v, 3), bad[i].err);
		ck_assert_last_error_has(test_ctx, bad[i].why);
		assert_list(set_a, ELEMENTSOF(set_a));
	}
	struct alb_nft_port too_long = {IPPROTO_TCP, 0, 1, IP4(10, 0, 0, 5), 1, long_owner};
	ck_assert_alb_err(test_ctx, alb_nft_apply(test_ctx, &too_long, 1), EINVAL);
	long_owner[ALB_NFT_OWNER_MAX] = '\0'; /* 128: fine */
	ck_assert_alb_ok(test_ctx, alb_nft_apply(test_ctx, &too_long, 1));
	assert_list(&too_long, 1);
	ck_assert_alb_ok(test_ctx, alb_nft_apply(test_ctx, set_a, ELEMENTSOF(set_a)));

	/* Conflicts: the same port twice on one address, or on any address and one. */
	struct alb_nft_port dup[] = {set_a[0], set_a[1], set_a[0]};
	dup[2].owner = "other";
	ck_assert_alb_err(test_ctx, alb_nft_apply(test_ctx, dup, 3), EEXIST);
	ck_assert_last_error_has(test_ctx, "tcp port 8080 on any address is published twice");
	struct alb_nft_port any_and_one[] = {set_a[1], set_a[1]};
	any_and_one[1].host_addr = 0;
	ck_assert_alb_err(test_ctx, alb_nft_apply(test_ctx, any_and_one, 2), EEXIST);
	struct alb_nft_port other_proto[] = {set_a[1], set_a[1]};
	other_proto[1].proto = IPPROTO_TCP; /* udp and tcp 53: fine */
	other_proto[1].host_addr = 0;
	ck_assert_alb_ok(test_ctx, alb_nft_apply(test_ctx, other_proto, 2));
	assert_list(other_proto, 2);
}
END_TEST

/* A batch the kernel refuses: table ip albatross owned by another netlink socket (flags
 * owner). Nothing changes, and libnftables' reason is in the context. */
START_TEST(test_apply_refused)
{
	struct nft_ctx *owner = nft_ctx_new(NFT_CTX_DEFAULT);
	ck_assert_ptr_nonnull(owner);
	nft_ctx_buffer_error(owner);
	static const char table[] =
	    "table ip albatross {\n flags owner;\n"
	    " chain prerouting {\n  type nat hook prerouting priority dstnat;\n"
	    "  fib daddr type local tcp dport 8080 dnat ip to 10.0.0.5:80 comment \"alice:web\"\n "
	    "}\n"
	    " chain output {\n  type nat hook output priority -100;\n"
	    "  fib daddr type local tcp dport 8080 dnat ip to 10.0.0.5:80 comment \"alice:web\"\n "
	    "}\n"
	    "}\n";
	ck_assert_msg(nft_run_cmd_from_buffer(owner, table) == 0, "%s",
		      nft_ctx_get_error_buffer(owner));
	/* Not a table alb_nft_apply() makes (flags owner): read back as such. */
	struct alb_nft_port *got = NULL;
	size_t n = 0;
	ck_assert_alb_err(test_ctx, alb_nft_list(test_ctx, &got, &n), EBADMSG);
	char *before = nft_list_text("list ruleset");
	ck_assert_ptr_nonnull(strstr(before, "dport 8080 dnat to 10.0.0.5:80"));

	ck_assert_alb_err(test_ctx, alb_nft_apply(test_ctx, set_b, ELEMENTSOF(set_b)), EPERM);
	ck_assert_last_error_has(test_ctx, "Failed to replace table ip albatross: Error:");
	ck_assert_last_error_has(test_ctx, "Operation not permitted");
	char *after = nft_list_text("list ruleset");
	ck_assert_str_eq(after, before);
	free(after);
	ck_assert_alb_err(test_ctx, alb_nft_remove(test_ctx), EPERM);
	after = nft_list_text("list ruleset");
	ck_assert_str_eq(after, before);
	free(after);
	free(before);

	/* The owner's socket closed: the table goes with it, and ours can be made. */
	nft_ctx_free(owner);
	ck_assert_alb_ok(test_ctx, alb_nft_apply(test_ctx, set_b, ELEMENTSOF(set_b)));
	assert_list(set_b, ELEMENTSOF(set_b));
}
END_TEST

START_TEST(test_empty_and_remove)
{
	struct alb_nft_port *got = NULL;
	size_t n = 1;
	ck_assert_alb_err(test_ctx, alb_nft_list(test_ctx, &got, &n), ENOENT);
	ck_assert_alb_ok(test_ctx, alb_nft_remove(test_ctx)); /* not there: fine */

	/* Another table is never touched. */
	nft_cmd(
	    "add table ip other\nadd chain ip other c { type nat hook prerouting priority 0; }\n"
	    "add rule ip other c tcp dport 1 counter");

	ck_assert_alb_ok(test_ctx, alb_nft_apply(test_ctx, set_a, ELEMENTSOF(set_a)));
	ck_assert_alb_ok(test_ctx, alb_nft_apply(test_ctx, NULL, 0));
	ck_assert_alb_ok(test_ctx, alb_nft_list(test_ctx, &got, &n));
	ck_assert_uint_eq(n, 0);
	alb_nft_ports_free(got, n);
	char *text = nft_list_text("list table ip albatross");
	ck_assert_ptr_nonnull(strstr(text, "chain prerouting"));
	ck_assert_ptr_nonnull(strstr(text, "chain output"));
	ck_assert_ptr_null(strstr(text, "dnat"));
	free(text);

	ck_assert_alb_ok(test_ctx, alb_nft_remove(test_ctx));
	ck_assert_alb_err(test_ctx, alb_nft_list(test_ctx, &got, &n), ENOENT);
	ck_assert_ptr_null(nft_list_text("list table ip albatross"));
	ck_assert_alb_ok(test_ctx, alb_nft_remove(test_ctx));
	text = nft_list_text("list table ip other");
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(strstr(text, "tcp dport 1 counter"));
	free(text);
}
END_TEST

static int udp_socket(const char *addr, uint16_t port)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = ip(addr);
	ck_assert_msg(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s:%u: %s", addr,
		      port, strerror(errno));
	return fd;
}

static void udp_send(int fd, const char *addr, uint16_t port, const char *msg)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = ip(addr);
	ck_assert_int_eq(sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&sa, sizeof(sa)),
			 (ssize_t)strlen(msg));
}

/* Waits (up to WAIT_MS) for a datagram on fd: asserts it is msg, returns its sender. */
static struct sockaddr_in udp_expect(int fd, const char *msg)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ck_assert_msg(poll(&p, 1, WAIT_MS) == 1, "no datagram '%s' within %d ms", msg, WAIT_MS);
	char buf[256];
	struct sockaddr_in from;
	socklen_t len = sizeof(from);
	ssize_t n = recvfrom(fd, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&from, &len);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, msg);
	return from;
}

/* The conntrack entries of proto (0: any) whose reply source is addr, read here with
 * libnl's cache (not the code under test). */
static unsigned ct_count(int proto, uint32_t addr)
{
	struct nl_sock *sk = nl_socket_alloc();
	ck_assert_ptr_nonnull(sk);
	ck_assert_int_eq(nfnl_connect(sk), 0);
	struct nl_cache *cache = NULL;
	ck_assert_int_eq(nfnl_ct_alloc_cache(sk, &cache), 0);
	unsigned n = 0;
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct nfnl_ct *ct = (struct nfnl_ct *)o;
		struct nl_addr *src = nfnl_ct_get_src(ct, 1);
		if (nfnl_ct_get_family(ct) == AF_INET && src && nl_addr_get_len(src) == 4 &&
		    (proto == 0 || nfnl_ct_get_proto(ct) == proto) &&
		    memcmp(nl_addr_get_binary_addr(src), &addr, 4) == 0)
			n++;
	}
	nl_cache_free(cache);
	nl_socket_free(sk);
	return n;
}

static void add_addr(const char *cidr)
{
	run((const char *const[]){"ip", "addr", "add", cidr, "dev", "lo", NULL});
}

/*
 * Connections made on the host to a local address:8080 reach the destination through
 * the output chain; conntrack keeps a flow on its first destination until
 * alb_conntrack_forget(), and then the flow follows the current rules.
 */
START_TEST(test_output_dnat_and_conntrack)
{
	add_addr("10.9.0.1/32"); /* the first "unikernel" */
	add_addr("10.9.0.2/32"); /* the published address */
	add_addr("10.9.0.3/32"); /* the second "unikernel" */
	struct alb_nft_port p[] = {
	    {IPPROTO_UDP, 0, 8080, ip("10.9.0.1"), 9000, "t:udp"},
	    {IPPROTO_TCP, 0, 8081, ip("10.9.0.1"), 9001, "t:tcp"},
	};
	ck_assert_alb_ok(test_ctx, alb_nft_apply(test_ctx, p, 2));

	int server1 = udp_socket("10.9.0.1", 9000), server3 = udp_socket("10.9.0.3", 9000);
	int other = udp_socket("10.9.0.2", 7000), client = udp_socket("10.9.0.2", 0);
	udp_send(client, "10.9.0.2", 8080, "one");
	struct sockaddr_in from = udp_expect(server1, "one");
	ck_assert_uint_eq(from.sin_addr.s_addr, ip("10.9.0.2"));
	/* The answer comes back from the published address. */
	ck_assert_int_eq(sendto(server1, "re", 2, 0, (struct sockaddr *)&from, sizeof(from)), 2);
	struct sockaddr_in back = udp_expect(client, "re");
	ck_assert_uint_eq(back.sin_addr.s_addr, ip("10.9.0.2"));
	ck_assert_uint_eq(ntohs(back.sin_port), 8080);
	/* A flow that is not NATed, and a TCP one that is. */
	udp_send(client, "10.9.0.2", 7000, "plain");
	udp_expect(other, "plain");
	int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(9001)};
	sa.sin_addr.s_addr = ip("10.9.0.1");
	ck_assert_int_eq(bind(listener, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(listener, 4), 0);
	int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = ip("10.9.0.2");
	sa.sin_port = htons(8081);
	ck_assert_msg(connect(tcp, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect: %s",
		      strerror(errno));
	int accepted = accept(listener, NULL, NULL);
	ck_assert_int_ge(accepted, 0);

	ck_assert_uint_eq(ct_count(IPPROTO_UDP, ip("10.9.0.1")), 1);
	ck_assert_uint_eq(ct_count(IPPROTO_TCP, ip("10.9.0.1")), 1);
	ck_assert_uint_eq(ct_count(IPPROTO_UDP, ip("10.9.0.2")), 1); /* the plain flow */

	/* Port 8080 now goes to the second unikernel; the flow still goes to the first. */
	p[0].dest_addr = ip("10.9.0.3");
	ck_assert_alb_ok(test_ctx, alb_nft_apply(test_ctx, p, 2));
	udp_send(client, "10.9.0.2", 8080, "two");
	udp_expect(server1, "two");

	/* Forgotten: the next datagram is NATed by the current rule. */
	ck_assert_int_eq(alb_conntrack_forget(test_ctx, IPPROTO_UDP, ip("10.9.0.1")), 1);
	ck_assert_uint_eq(ct_count(IPPROTO_UDP, ip("10.9.0.1")), 0);
	ck_assert_uint_eq(ct_count(IPPROTO_TCP, ip("10.9.0.1")), 1); /* another protocol */
	ck_assert_uint_eq(ct_count(IPPROTO_UDP, ip("10.9.0.2")), 1); /* another address */
	udp_send(client, "10.9.0.2", 8080, "three");
	udp_expect(server3, "three");
	ck_assert_uint_eq(ct_count(IPPROTO_UDP, ip("10.9.0.3")), 1);

	/* proto 0: every protocol; nothing left: 0. */
	ck_assert_int_eq(alb_conntrack_forget(test_ctx, 0, ip("10.9.0.1")), 1);
	ck_assert_uint_eq(ct_count(0, ip("10.9.0.1")), 0);
	ck_assert_int_eq(alb_conntrack_forget(test_ctx, 0, ip("10.9.0.1")), 0);
	ck_assert_int_eq(alb_conntrack_forget(test_ctx, IPPROTO_UDP, 0), -EINVAL);
	ck_assert_int_eq(alb_conntrack_forget(test_ctx, 256, ip("10.9.0.1")), -EINVAL);

	close(accepted);
	close(tcp);
	close(listener);
	close(server1);
	close(server3);
	close(other);
	close(client);
}
END_TEST

static void write_forward(const char *v)
{
	int fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, v, strlen(v)), (ssize_t)strlen(v));
	close(fd);
}

/* A process in a network namespace of its own, linked to this one by a veth pair: here
 * host_if with host_cidr, there peer_if with peer_cidr (and a default route via gw unless
 * NULL); then it runs body(arg) and exits with its return value. */
struct peer {
	pid_t pid;
};

static struct peer peer_start(const char *host_if, const char *host_cidr, const char *peer_if,
			      const char *peer_cidr, const char *gw, int (*body)(const char *arg),
			      const char *arg)
{
	int go[2], ready[2];
	ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	char c = 1;
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0 || write(ready[1], &c, 1) != 1 ||
		    read(go[0], &c, 1) != 1)
			_exit(2);
		run((const char *const[]){"ip", "addr", "add", peer_cidr, "dev", peer_if, NULL});
		run((const char *const[]){"ip", "link", "set", peer_if, "up", NULL});
		run((const char *const[]){"ip", "link", "set", "lo", "up", NULL});
		if (gw)
			run((const char *const[]){"ip", "route", "add", "default", "via", gw,
						  NULL});
		_exit(body(arg));
	}
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	char pidstr[32];
	snprintf(pidstr, sizeof(pidstr), "%d", (int)pid);
	run((const char *const[]){"ip", "link", "add", host_if, "type", "veth", "peer", "name",
				  peer_if, "netns", pidstr, NULL});
	run((const char *const[]){"ip", "addr", "add", host_cidr, "dev", host_if, NULL});
	run((const char *const[]){"ip", "link", "set", host_if, "up", NULL});
	ck_assert_int_eq(write(go[1], &c, 1), 1);
	close(go[0]);
	close(go[1]);
	close(ready[0]);
	close(ready[1]);
	return (struct peer){pid};
}

static void peer_wait(struct peer p)
{
	int status;
	ck_assert_int_eq(waitpid(p.pid, &status, 0), p.pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "peer: status %d", status);
}

/* The client: sends "hello" to 10.9.1.1:8080, expects "olleh" back from there. */
static int client_body(const char *arg)
{
	int fd = udp_socket(arg, 0);
	/* Sent again until answered: the server may not be listening yet (one flow all the
	 * same: the same source port). */
	struct pollfd pf = {.fd = fd, .events = POLLIN};
	for (int waited = 0; waited < WAIT_MS; waited += 200) {
		udp_send(fd, "10.9.1.1", 8080, "hello");
		if (poll(&pf, 1, 200) == 1)
			break;
	}
	struct sockaddr_in from = udp_expect(fd, "olleh");
	return from.sin_addr.s_addr == ip("10.9.1.1") && ntohs(from.sin_port) == 8080 ? 0 : 3;
}

/* A server: answers one "hello" with "olleh" on arg:9000. */
static int server_body(const char *arg)
{
	int fd = udp_socket(arg, 9000);
	struct sockaddr_in from = udp_expect(fd, "hello");
	if (from.sin_addr.s_addr != ip("10.9.1.2"))
		return 3;
	return sendto(fd, "olleh", 5, 0, (struct sockaddr *)&from, sizeof(from)) == 5 ? 0 : 4;
}

/*
 * From another namespace over a veth pair: the prerouting chain takes a datagram for
 * 10.9.1.1:8080 to 10.9.0.1:9000 (here), and the answer goes back from 10.9.1.1:8080.
 */
START_TEST(test_prerouting_dnat)
{
	add_addr("10.9.0.1/32");
	struct alb_nft_port p = {IPPROTO_UDP, ip("10.9.1.1"), 8080, ip("10.9.0.1"), 9000, "t:pre"};
	ck_assert_alb_ok(test_ctx, alb_nft_apply(test_ctx, &p, 1));
	int server = udp_socket("10.9.0.1", 9000);
	struct peer client =
	    peer_start("vh", "10.9.1.1/24", "vc", "10.9.1.2/24", NULL, client_body, "10.9.1.2");

	struct sockaddr_in from = udp_expect(server, "hello");
	ck_assert_uint_eq(from.sin_addr.s_addr, ip("10.9.1.2"));
	ck_assert_int_eq(sendto(server, "olleh", 5, 0, (struct sockaddr *)&from, sizeof(from)), 5);
	peer_wait(client);
	ck_assert_uint_eq(ct_count(IPPROTO_UDP, ip("10.9.0.1")), 1);
	close(server);
}
END_TEST

/*
 * The real thing: the client in one namespace, the "unikernel" in another behind this one
 * (its default route via this host), forwarding on: the datagram for 10.9.1.1:8080 is
 * forwarded to 10.9.2.2:9000 and the answer comes back from 10.9.1.1:8080.
 */
START_TEST(test_forwarded_dnat)
{
	write_forward("1\n");
	ck_assert_int_eq(alb_ip_forward_enabled(), 1);
	struct alb_nft_port p = {IPPROTO_UDP, 0, 8080, ip("10.9.2.2"), 9000, "t:fwd"};
	ck_assert_alb_ok(test_ctx, alb_nft_apply(test_ctx, &p, 1));
	struct peer server = peer_start("vh2", "10.9.2.1/24", "vu", "10.9.2.2/24", "10.9.2.1",
					server_body, "10.9.2.2");
	struct peer client =
	    peer_start("vh1", "10.9.1.1/24", "vc", "10.9.1.2/24", NULL, client_body, "10.9.1.2");
	peer_wait(client);
	peer_wait(server);
	ck_assert_uint_eq(ct_count(IPPROTO_UDP, ip("10.9.2.2")), 1);
	ck_assert_int_eq(alb_conntrack_forget(test_ctx, IPPROTO_UDP, ip("10.9.2.2")), 1);
	ck_assert_uint_eq(ct_count(IPPROTO_UDP, ip("10.9.2.2")), 0);
}
END_TEST

/* Every descriptor below FD_SETSIZE taken (a daemon with a thousand unikernels): libnftables
 * would abort the process in FD_SET; refused with a reason instead, and fine once one is free. */
START_TEST(test_low_fds_taken)
{
	struct rlimit rl;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max < FD_SETSIZE + 16)
		return; /* cannot be shown under this hard limit */
	rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	int last = -1;
	while (last < FD_SETSIZE) {
		last = open("/dev/null", O_RDONLY | O_CLOEXEC);
		ck_assert_int_ge(last, 0);
	}
	struct alb_nft_port *got = NULL;
	size_t n = 0;
	ck_assert_alb_err(test_ctx, alb_nft_list(test_ctx, &got, &n), EMFILE);
	ck_assert_last_error_has(test_ctx, "every file descriptor below 1024 is taken");
	ck_assert_alb_err(test_ctx, alb_nft_apply(test_ctx, set_a, ELEMENTSOF(set_a)), EMFILE);
	close(last - 100);
	ck_assert_alb_ok(test_ctx, alb_nft_apply(test_ctx, set_a, ELEMENTSOF(set_a)));
	assert_list(set_a, ELEMENTSOF(set_a));
}
END_TEST

START_TEST(test_ip_forward)
{
	write_forward("0\n");
	ck_assert_int_eq(alb_ip_forward_enabled(), 0);
	write_forward("1\n");
	ck_assert_int_eq(alb_ip_forward_enabled(), 1);
	write_forward("0\n");
	ck_assert_int_eq(alb_ip_forward_enabled(), 0);
}
END_TEST

static Suite *nft_suite(void)
{
	Suite *s = suite_create("nft");
	TCase *tc = tcase_create("nft");
	tcase_add_checked_fixture(tc, netns_setup, tc_ctx_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_apply_list);
	tcase_add_test(tc, test_apply_replaces);
	tcase_add_test(tc, test_apply_atomic);
	tcase_add_test(tc, test_apply_invalid);
	tcase_add_test(tc, test_apply_refused);
	tcase_add_test(tc, test_empty_and_remove);
	tcase_add_test(tc, test_output_dnat_and_conntrack);
	tcase_add_test(tc, test_prerouting_dnat);
	tcase_add_test(tc, test_forwarded_dnat);
	tcase_add_test(tc, test_ip_forward);
	tcase_add_test(tc, test_low_fds_taken);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* Skipped where this process may not make a network namespace (not root). */
	pid_t pid = fork();
	if (pid == 0)
		_exit(unshare(CLONE_NEWNET) == 0 ? 0 : errno == EPERM ? 77 : 1);
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return EXIT_FAILURE;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		printf("1..0 # SKIP cannot make a network namespace (needs root)\n");
		return 77;
	}
	return test_run_suite(nft_suite());
}
