/* SPDX-License-Identifier: ISC */
/*
 * The x509 module: the extension, chain evaluation, the CA operations, with
 * real GnuTLS certificates made here, and certificates made by certtool.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <gnutls/abstract.h>

#include "test-common.h"

#include "cbor-private.h"
#include "policy-private.h"
#include "x509-private.h"

/* Asserts that a signing call issued kind, printing the last error otherwise. */
#define ck_assert_issued(r, kind)                                                                  \
	do {                                                                                       \
		int _k = (r);                                                                      \
		ck_assert_msg(_k == (kind), "%s returned %d: %s", #r, _k,                          \
			      alb_ctx_last_error(test_ctx));                                       \
	} while (0)

#define P test_path

/* A policy: unikernels, memory, CPU ids (terminated by -1), then bridges (NULL-terminated). */
static alb_policy *policy_make(uint32_t unikernels, uint64_t memory, ...)
{
	alb_policy *p = NULL;
	va_list ap;
	int cpu;
	const char *bridge;

	ck_assert_alb_ok(test_ctx, alb_policy_new(&p));
	ck_assert_alb_ok(test_ctx, alb_policy_set_unikernels(p, unikernels));
	ck_assert_alb_ok(test_ctx, alb_policy_set_memory(p, memory));
	va_start(ap, memory);
	while ((cpu = va_arg(ap, int)) >= 0)
		ck_assert_alb_ok(test_ctx, alb_policy_add_cpuid(p, (uint32_t)cpu));
	while ((bridge = va_arg(ap, const char *)))
		ck_assert_alb_ok(test_ctx, alb_policy_add_bridge(p, bridge));
	va_end(ap);
	return p;
}

/* The seeds' alice: 2 unikernels, 64 MB, CPU 0, one bridge. */
static alb_policy *alice_policy(void)
{
	return policy_make(2, 64, 0, -1, "br0", NULL);
}

/* alice_policy() with services: br1 too, ports 8000-8080, 10.0.0.0/16 on br0, 192.168.1.0/24
 * on br1. */
static alb_policy *alice_services_policy(void)
{
	alb_policy *p = policy_make(2, 64, 0, -1, "br0", "br1", NULL);
	ck_assert_alb_ok(test_ctx, alb_policy_set_ports(p, 8000, 8080));
	ck_assert_alb_ok(test_ctx, alb_policy_add_prefix(p, "br0", "10.0.0.0/16"));
	ck_assert_alb_ok(test_ctx, alb_policy_add_prefix(p, "br1", "192.168.1.0/24"));
	return p;
}

/* A command message for name with the command of kind; a create of memory MB on CPU 0, br0. */
static alb_msg *command_make(int kind, uint64_t memory)
{
	alb_msg *msg = NULL;
	alb_name *name = NULL;

	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, "hello", &name));
	ck_assert_alb_ok(test_ctx, alb_msg_new(&msg, ALB_MSG_COMMAND, 0, name));
	alb_name_free(name);
	msg->cmd.kind = kind;
	if (kind == ALB_CMD_UNIKERNEL_CREATE) {
		alb_unikernel_config *c = NULL;
		ck_assert_alb_ok(test_ctx, alb_unikernel_config_new(test_ctx, &c));
		ck_assert_alb_ok(test_ctx, alb_unikernel_config_set_memory(c, memory));
		ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_cpuid(c, 0));
		ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_net(c, "service", "br0", NULL));
		ck_assert_alb_ok(test_ctx, alb_unikernel_config_set_image(c, 4096, 0));
		ck_assert_alb_ok(test_ctx,
				 alb_unikernel_config_add_argument(c, "--hello=albatross"));
		msg->cmd.config = c;
	} else if (kind == ALB_CMD_POLICY_ADD) {
		msg->cmd.policy = alice_policy();
	}
	return msg;
}

static alb_x509_ext *ext_policy(alb_policy *p)
{
	alb_x509_ext *ext = NULL;
	ck_assert_alb_ok(test_ctx, alb_x509_ext_new_policy(p, &ext));
	alb_policy_free(p);
	return ext;
}

static alb_x509_ext *ext_command(int kind, uint64_t memory)
{
	alb_x509_ext *ext = NULL;
	alb_msg *msg = command_make(kind, memory);
	ck_assert_alb_ok(test_ctx, alb_x509_ext_new_command(test_ctx, msg, &ext));
	alb_msg_free(msg);
	return ext;
}

static alb_x509_chain *chain_read(const char *file)
{
	alb_x509_chain *chain = NULL;
	ck_assert_alb_ok(test_ctx, alb_x509_chain_new(&chain));
	ck_assert_alb_ok(test_ctx, alb_x509_chain_read_file(test_ctx, chain, P(file)));
	return chain;
}

/* Evaluates the chain in file against cacert.pem. */
static int evaluate(const char *file, alb_x509_grant **ret)
{
	alb_x509_chain *chain = chain_read(file), *anchor = chain_read("cacert.pem");
	int r = alb_x509_chain_evaluate(test_ctx, chain, anchor, ret);
	alb_x509_chain_free(chain);
	alb_x509_chain_free(anchor);
	return r;
}

static char *name_string(const alb_name *name)
{
	char *s = alb_name_to_string(name);
	ck_assert_ptr_nonnull(s);
	return s;
}

static void assert_name(const alb_name *name, const char *expected)
{
	char *s = name_string(name);
	ck_assert_str_eq(s, expected);
	alb_free(s);
}

static int count_lines(const char *file)
{
	FILE *f = fopen(P(file), "re");
	int n = 0, c;
	ck_assert_ptr_nonnull(f);
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* Checks that the grant is the seeds' alice:hello create. */
static void assert_alice_hello(const alb_x509_grant *grant)
{
	const alb_msg *cmd = alb_x509_grant_get_command(grant);
	const alb_name *ppath;
	const alb_policy *policy;
	alb_policy *expected = alice_policy();

	assert_name(alb_x509_grant_get_path(grant), "alice:");
	ck_assert_ptr_nonnull(cmd);
	ck_assert_int_eq(alb_msg_get_kind(cmd), ALB_MSG_COMMAND);
	ck_assert_int_eq(alb_msg_get_command(cmd), ALB_CMD_UNIKERNEL_CREATE);
	assert_name(alb_msg_get_name(cmd), "alice:hello");
	ck_assert_uint_eq(alb_unikernel_config_get_memory(cmd->cmd.config), 32);
	ck_assert_str_eq(alb_unikernel_config_get_argument(cmd->cmd.config, 0),
			 "--hello=albatross");
	ck_assert_uint_eq(alb_x509_grant_get_policy_count(grant), 1);
	ck_assert_alb_ok(test_ctx, alb_x509_grant_get_policy(grant, 0, &ppath, &policy));
	assert_name(ppath, "alice:");
	ck_assert(alb_policy_equal(policy, expected));
	ck_assert_alb_err(test_ctx, alb_x509_grant_get_policy(grant, 1, &ppath, &policy), EINVAL);
	alb_policy_free(expected);
}

/* ---- the extension ------------------------------------------------------------------------ */

START_TEST(test_ext_round_trip)
{
	alb_x509_ext *exts[] = {
	    ext_policy(alice_policy()),
	    ext_policy(policy_make(0, 0, -1, NULL)),
	    ext_policy(alice_services_policy()),
	    ext_command(ALB_CMD_UNIKERNEL_CREATE, 32),
	    ext_command(ALB_CMD_UNIKERNEL_INFO, 0),
	    ext_command(ALB_CMD_POLICY_ADD, 0),
	};

	for (size_t i = 0; i < ELEMENTSOF(exts); i++) {
		uint8_t *buf = NULL, *again = NULL;
		uint64_t len, len2;
		alb_x509_ext *back = NULL;

		ck_assert_alb_ok(test_ctx, alb_x509_ext_encode(test_ctx, exts[i], &buf, &len));
		ck_assert_uint_eq(buf[0], 0x04); /* an OCTET STRING */
		ck_assert_alb_ok(test_ctx, alb_x509_ext_decode(test_ctx, buf, len, &back));
		ck_assert_int_eq(alb_x509_ext_get_kind(back), alb_x509_ext_get_kind(exts[i]));
		ck_assert_alb_ok(test_ctx, alb_x509_ext_encode(test_ctx, back, &again, &len2));
		ck_assert_uint_eq(len, len2);
		ck_assert_mem_eq(buf, again, len);
		if (alb_x509_ext_get_kind(back) == ALB_X509_EXT_POLICY) {
			ck_assert(alb_policy_equal(alb_x509_ext_get_policy(back),
						   alb_x509_ext_get_policy(exts[i])));
			ck_assert_int_eq(alb_x509_ext_get_command(back), -ENOENT);
		} else {
			ck_assert_ptr_null(alb_x509_ext_get_policy(back));
			ck_assert_int_eq(alb_x509_ext_get_command(back),
					 alb_x509_ext_get_command(exts[i]));
		}
		alb_x509_ext_free(back);
		alb_free(buf);
		alb_free(again);
		alb_x509_ext_free(exts[i]);
	}
}
END_TEST

/* A DER OCTET STRING around a CBOR item given as hex. */
static size_t wrap_hex(const char *hex, uint8_t *out)
{
	size_t n = strlen(hex) / 2;
	ck_assert_uint_lt(n, 128);
	out[0] = 0x04;
	out[1] = (uint8_t)n;
	for (size_t i = 0; i < n; i++)
		sscanf(hex + 2 * i, "%2hhx", &out[2 + i]);
	return n + 2;
}

static const struct {
	const char *hex; /* CBOR, wrapped in an OCTET STRING unless raw */
	bool raw;
	int err;
	const char *reason;
} bad_exts[] = {
    {"", true, EBADMSG, "not an OCTET STRING"},
    {"a1", true, EBADMSG, "not an OCTET STRING"},
    {"0401", true, EBADMSG, "OCTET STRING"},
    {"048101a0", true, EBADMSG, "non-minimal"},
    {"0402a0", true, EBADMSG, "OCTET STRING of 2 bytes"},
    {"ff", false, EBADMSG, "x509 extension"},
    {"a0", false, EBADMSG, "version"},
    /* {"version": 2, "policy": {}} */
    {"a26776657273696f6e0266706f6c696379a0", false, EPROTO, "version 2"},
    /* {"version": 1} */
    {"a16776657273696f6e01", false, EBADMSG, "exactly one"},
    /* {"version": 1, "name": "x"} */
    {"a26776657273696f6e01646e616d656178", false, EBADMSG, "name"},
    /* {"version": 1, "policy": 1} */
    {"a26776657273696f6e0166706f6c69637901", false, EBADMSG, "x509.policy"},
    /* {"version": 1, "command": {"op": "nope"}} */
    {"a26776657273696f6e0167636f6d6d616e64a1626f70646e6f7065", false, EBADMSG, "x509.command.op"},
    /* [1] */
    {"8101", false, EBADMSG, "map"},
};

START_TEST(test_ext_malformed)
{
	uint8_t buf[256];
	size_t len;
	alb_x509_ext *ext = NULL;

	if (bad_exts[_i].raw) {
		len = strlen(bad_exts[_i].hex) / 2;
		for (size_t i = 0; i < len; i++)
			sscanf(bad_exts[_i].hex + 2 * i, "%2hhx", &buf[i]);
	} else
		len = wrap_hex(bad_exts[_i].hex, buf);
	ck_assert_alb_err(test_ctx, alb_x509_ext_decode(test_ctx, buf, len, &ext),
			  bad_exts[_i].err);
	ck_assert_last_error_has(test_ctx, bad_exts[_i].reason);
	ck_assert_ptr_null(ext);
}
END_TEST

/* An extension made before policies had ports and prefixes (docs/x509.md's example):
 * {"version": 1, "policy": {"unikernels": 2, "memory": 64, "cpuids": [0], "bridges": ["br0"]}}
 * decodes, as alice's policy without ports and prefixes, and encodes to the same bytes. */
START_TEST(test_ext_old_policy)
{
	static const char hex[] = "a26776657273696f6e0166706f6c696379a46a756e696b65726e656c7302666d"
				  "656d6f7279184066637075696473810067627269646765738163627230";
	uint8_t buf[128];
	size_t len = wrap_hex(hex, buf);
	alb_x509_ext *ext = NULL;
	ck_assert_alb_ok(test_ctx, alb_x509_ext_decode(test_ctx, buf, len, &ext));
	const alb_policy *p = alb_x509_ext_get_policy(ext);
	ck_assert_ptr_nonnull(p);
	alb_policy *expected = alice_policy();
	ck_assert(alb_policy_equal(p, expected));
	ck_assert_int_eq(alb_policy_get_ports(p, NULL, NULL), 0);
	ck_assert_uint_eq(alb_policy_get_prefix_count(p), 0);
	uint8_t *again = NULL;
	uint64_t len2;
	ck_assert_alb_ok(test_ctx, alb_x509_ext_encode(test_ctx, ext, &again, &len2));
	ck_assert_uint_eq(len2, len);
	ck_assert_mem_eq(again, buf, len);
	alb_free(again);
	alb_policy_free(expected);
	alb_x509_ext_free(ext);
}
END_TEST

START_TEST(test_ext_bounds)
{
	uint8_t *big = calloc(1, ALB_X509_EXTENSION_MAX + 2);
	alb_x509_ext *ext = NULL;
	alb_msg *msg = command_make(ALB_CMD_UNIKERNEL_INFO, 0);

	ck_assert_ptr_nonnull(big);
	big[0] = 0x04;
	ck_assert_alb_err(test_ctx,
			  alb_x509_ext_decode(test_ctx, big, ALB_X509_EXTENSION_MAX + 1, &ext),
			  EBADMSG);
	ck_assert_last_error_has(test_ctx, "exceeds");
	free(big);

	/* Not a command message; an unknown command. */
	msg->kind = ALB_MSG_SUCCESS;
	ck_assert_alb_err(test_ctx, alb_x509_ext_new_command(test_ctx, msg, &ext), EINVAL);
	msg->kind = ALB_MSG_COMMAND;
	msg->cmd.kind = 999;
	ck_assert_alb_err(test_ctx, alb_x509_ext_new_command(test_ctx, msg, &ext), EINVAL);
	/* A create without a config would not decode. */
	msg->cmd.kind = ALB_CMD_UNIKERNEL_CREATE;
	ck_assert_alb_err(test_ctx, alb_x509_ext_new_command(test_ctx, msg, &ext), EINVAL);
	alb_msg_free(msg);
	ck_assert_int_eq(alb_x509_key_type_from_string(NULL, "p256"), ALB_X509_KEY_P256);
	ck_assert_alb_err(test_ctx, alb_x509_key_type_from_string(test_ctx, "dsa"), EINVAL);
}
END_TEST

/* ---- the delegation walk of the seeds ------------------------------------------------------- */

/* generate, add-policy --csr, sign, create --csr, sign: returns nothing, leaves the files. */
static void walk(int key_type)
{
	alb_x509_ext *ext;

	/* 1. The root CA and the server certificate. */
	ck_assert_alb_ok(test_ctx, alb_x509_ca_generate(test_ctx, "ca", NULL, key_type, 0,
							P("cacert.pem"), P("ca.key")));
	ck_assert_alb_ok(test_ctx, alb_x509_server_generate(test_ctx, P("cacert.pem"), P("ca.key"),
							    "localhost", key_type, 0, P("db"),
							    P("server.pem"), P("server.key")));
	/* 3. add-policy alice 2 --mem 64 --cpu 0 --bridge br0 --csr */
	ext = ext_policy(alice_policy());
	ck_assert_alb_ok(test_ctx, alb_x509_csr_generate(test_ctx, "alice", ext, key_type,
							 P("alice.req"), P("alice.key")));
	alb_x509_ext_free(ext);
	/* 4. sign cacert.pem db ca.key alice.req */
	ck_assert_issued(alb_x509_csr_sign(test_ctx, P("cacert.pem"), P("ca.key"), P("alice.req"),
					   0, P("db"), P("alice.pem")),
			 ALB_X509_CERT_CA);
	/* 5. create hello hello.hvt --csr */
	ext = ext_command(ALB_CMD_UNIKERNEL_CREATE, 32);
	ck_assert_alb_ok(test_ctx, alb_x509_csr_generate(test_ctx, "hello", ext, key_type,
							 P("hello.req"), P("hello.key")));
	alb_x509_ext_free(ext);
	/* 6. sign alice.pem db alice.key hello.req */
	ck_assert_issued(alb_x509_csr_sign(test_ctx, P("alice.pem"), P("alice.key"), P("hello.req"),
					   0, P("db"), P("hello.pem")),
			 ALB_X509_CERT_CLIENT);
}

/* Verifies the chain in file against cacert.pem with GnuTLS: the signatures are real. */
static void assert_verifies(const char *file)
{
	alb_x509_chain *chain = chain_read(file), *anchor = chain_read("cacert.pem");
	unsigned status = 1;

	ck_assert_int_ge(gnutls_x509_crt_list_verify(chain->crts, chain->n, anchor->crts, 1, NULL,
						     0, 0, &status),
			 0);
	ck_assert_uint_eq(status, 0);
	alb_x509_chain_free(chain);
	alb_x509_chain_free(anchor);
}

START_TEST(test_delegation_walk)
{
	alb_x509_grant *grant = NULL;
	alb_x509_chain *chain;
	struct stat st;
	char *cn;

	walk(ALB_X509_KEY_ED25519);

	/* hello.pem: hello, then alice; the root is left out. */
	chain = chain_read("hello.pem");
	ck_assert_uint_eq(alb_x509_chain_get_count(chain), 2);
	cn = alb_x509_chain_get_common_name(chain, 0);
	ck_assert_str_eq(cn, "hello");
	alb_free(cn);
	cn = alb_x509_chain_get_common_name(chain, 1);
	ck_assert_str_eq(cn, "alice");
	alb_free(cn);
	ck_assert_ptr_null(alb_x509_chain_get_common_name(chain, 2));
	alb_x509_chain_free(chain);
	assert_verifies("hello.pem");
	assert_verifies("server.pem");

	ck_assert_alb_ok(test_ctx, evaluate("hello.pem", &grant));
	assert_alice_hello(grant);
	alb_x509_grant_free(grant);

	/* Keys are private; the db has the server, alice and hello. */
	ck_assert_int_eq(stat(P("hello.key"), &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(stat(P("ca.key"), &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(count_lines("db"), 3);

	/* The server certificate names its host. */
	chain = chain_read("server.pem");
	ck_assert(gnutls_x509_crt_check_hostname(chain->crts[0], "localhost"));
	ck_assert(gnutls_x509_crt_check_key_purpose(chain->crts[0], GNUTLS_KP_TLS_WWW_SERVER, 0));
	alb_x509_chain_free(chain);

	/* The leaf is short-lived: one day. */
	chain = chain_read("hello.pem");
	time_t life = gnutls_x509_crt_get_expiration_time(chain->crts[0]) -
		      gnutls_x509_crt_get_activation_time(chain->crts[0]);
	ck_assert_int_le(life, 86400 + 120);
	ck_assert_int_ge(life, 86400);
	alb_x509_chain_free(chain);
}
END_TEST

START_TEST(test_key_types)
{
	alb_x509_grant *grant = NULL;

	walk(_i == 0 ? ALB_X509_KEY_P256 : ALB_X509_KEY_RSA);
	assert_verifies("hello.pem");
	ck_assert_alb_ok(test_ctx, evaluate("hello.pem", &grant));
	assert_alice_hello(grant);
	alb_x509_grant_free(grant);
}
END_TEST

START_TEST(test_sign_refusals)
{
	alb_x509_ext *ext;

	walk(ALB_X509_KEY_ED25519);

	/* A sub-CA of alice with more memory than alice has. */
	ext = ext_policy(policy_make(1, 128, 0, -1, "br0", NULL));
	ck_assert_alb_ok(
	    test_ctx, alb_x509_csr_generate(test_ctx, "bob", ext, 0, P("bob.req"), P("bob.key")));
	alb_x509_ext_free(ext);
	ck_assert_alb_err(test_ctx,
			  alb_x509_csr_sign(test_ctx, P("alice.pem"), P("alice.key"), P("bob.req"),
					    0, P("db"), P("bob.pem")),
			  EACCES);
	ck_assert_last_error_has(test_ctx, "memory 128 MB exceeds 64 MB");
	ck_assert_int_eq(access(P("bob.pem"), F_OK), -1);

	/* A create of 128 MB under alice. */
	ext = ext_command(ALB_CMD_UNIKERNEL_CREATE, 128);
	ck_assert_alb_ok(
	    test_ctx, alb_x509_csr_generate(test_ctx, "big", ext, 0, P("big.req"), P("big.key")));
	alb_x509_ext_free(ext);
	ck_assert_alb_err(test_ctx,
			  alb_x509_csr_sign(test_ctx, P("alice.pem"), P("alice.key"), P("big.req"),
					    0, P("db"), P("big.pem")),
			  EACCES);
	ck_assert_last_error_has(test_ctx, "unikernel-create does not fit");

	/* A leaf that adds a policy. */
	ext = ext_command(ALB_CMD_POLICY_ADD, 0);
	ck_assert_alb_ok(
	    test_ctx, alb_x509_csr_generate(test_ctx, "pol", ext, 0, P("pol.req"), P("pol.key")));
	alb_x509_ext_free(ext);
	ck_assert_alb_err(test_ctx,
			  alb_x509_csr_sign(test_ctx, P("alice.pem"), P("alice.key"), P("pol.req"),
					    0, P("db"), P("pol.pem")),
			  EACCES);
	ck_assert_last_error_has(test_ctx, "policy-add is not allowed");

	/* The wrong key for the CA; a request that is not one. */
	ck_assert_alb_err(test_ctx,
			  alb_x509_csr_sign(test_ctx, P("alice.pem"), P("ca.key"), P("hello.req"),
					    0, NULL, P("x.pem")),
			  EINVAL);
	ck_assert_last_error_has(test_ctx, "does not belong");
	ck_assert_alb_err(
	    test_ctx,
	    alb_x509_csr_sign(test_ctx, P("cacert.pem"), P("ca.key"), P("db"), 0, NULL, P("x.pem")),
	    EBADMSG);
	/* Not a CA. */
	ck_assert_alb_err(test_ctx,
			  alb_x509_csr_sign(test_ctx, P("hello.pem"), P("hello.key"),
					    P("alice.req"), 0, NULL, P("x.pem")),
			  EINVAL);
	ck_assert_int_eq(count_lines("db"), 3);

	/* Requests with common names that are not labels are not even made. */
	ext = ext_policy(alice_policy());
	ck_assert_alb_err(
	    test_ctx,
	    alb_x509_csr_generate(test_ctx, "not_a_label", ext, 0, P("n.req"), P("n.key")), EINVAL);
	alb_x509_ext_free(ext);
	ck_assert_alb_err(test_ctx,
			  alb_x509_ca_generate(test_ctx, "ca", NULL, 0, ALB_X509_DAYS_MAX + 1,
					       P("c.pem"), P("c.key")),
			  EINVAL);
}
END_TEST

/* A leaf "." is a command on alice's path itself. */
START_TEST(test_leaf_dot)
{
	alb_x509_ext *ext;
	alb_x509_grant *grant = NULL;

	walk(ALB_X509_KEY_ED25519);
	ext = ext_command(ALB_CMD_UNIKERNEL_INFO, 0);
	ck_assert_alb_ok(
	    test_ctx, alb_x509_csr_generate(test_ctx, ".", ext, 0, P("info.req"), P("info.key")));
	alb_x509_ext_free(ext);
	ck_assert_issued(alb_x509_csr_sign(test_ctx, P("alice.pem"), P("alice.key"), P("info.req"),
					   3, P("db"), P("info.pem")),
			 ALB_X509_CERT_CLIENT);
	ck_assert_alb_ok(test_ctx, evaluate("info.pem", &grant));
	assert_name(alb_msg_get_name(alb_x509_grant_get_command(grant)), "alice:");
	ck_assert_int_eq(alb_msg_get_command(alb_x509_grant_get_command(grant)),
			 ALB_CMD_UNIKERNEL_INFO);
	alb_x509_grant_free(grant);

	/* A leaf signed by the root directly: the root path. */
	ext = ext_command(ALB_CMD_UNIKERNEL_INFO, 0);
	ck_assert_alb_ok(
	    test_ctx, alb_x509_csr_generate(test_ctx, "Web", ext, 0, P("web.req"), P("web.key")));
	alb_x509_ext_free(ext);
	ck_assert_issued(alb_x509_csr_sign(test_ctx, P("cacert.pem"), P("ca.key"), P("web.req"), 0,
					   NULL, P("web.pem")),
			 ALB_X509_CERT_CLIENT);
	ck_assert_alb_ok(test_ctx, evaluate("web.pem", &grant));
	assert_name(alb_x509_grant_get_path(grant), ":");
	assert_name(alb_msg_get_name(alb_x509_grant_get_command(grant)), "web");
	ck_assert_uint_eq(alb_x509_grant_get_policy_count(grant), 0);
	alb_x509_grant_free(grant);
}
END_TEST

/* ---- chains built by hand ------------------------------------------------------------------- */

struct cert {
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
};

static void cert_clear(struct cert *c)
{
	gnutls_x509_crt_deinit(c->crt);
	gnutls_x509_privkey_deinit(c->key);
}

/*
 * A certificate with cn (NULL: none), the raw extension value ext (NULL:
 * none), a CA or not, signed by issuer (NULL: self-signed).
 */
static unsigned ext_critical; /* make_cert marks the extension critical */

static struct cert make_cert(const char *cn, const uint8_t *ext, size_t ext_len, bool ca,
			     const struct cert *issuer)
{
	struct cert c;
	static uint8_t serial = 1;
	time_t now = time(NULL);

	ck_assert_int_ge(gnutls_x509_privkey_init(&c.key), 0);
	ck_assert_int_ge(
	    gnutls_x509_privkey_generate2(c.key, GNUTLS_PK_EDDSA_ED25519, 256, 0, NULL, 0), 0);
	ck_assert_int_ge(gnutls_x509_crt_init(&c.crt), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_version(c.crt, 3), 0);
	serial++;
	ck_assert_int_ge(gnutls_x509_crt_set_serial(c.crt, &serial, 1), 0);
	if (cn)
		ck_assert_int_ge(gnutls_x509_crt_set_dn_by_oid(c.crt, GNUTLS_OID_X520_COMMON_NAME,
							       0, cn, strlen(cn)),
				 0);
	else /* some subject, so that the issuer check can match */
		ck_assert_int_ge(gnutls_x509_crt_set_dn_by_oid(
				     c.crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, "nocn", 4),
				 0);
	ck_assert_int_ge(gnutls_x509_crt_set_activation_time(c.crt, now - 60), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_expiration_time(c.crt, now + 3600), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_key(c.crt, c.key), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_basic_constraints(c.crt, ca, -1), 0);
	if (ext)
		ck_assert_int_ge(gnutls_x509_crt_set_extension_by_oid(c.crt, ALB_X509_OID, ext,
								      ext_len, ext_critical),
				 0);
	ck_assert_int_ge(gnutls_x509_crt_sign2(c.crt, issuer ? issuer->crt : c.crt,
					       issuer ? issuer->key : c.key, GNUTLS_DIG_SHA512, 0),
			 0);
	return c;
}

static struct cert make_cert_ext(const char *cn, alb_x509_ext *ext, bool ca,
				 const struct cert *issuer)
{
	uint8_t *buf = NULL;
	uint64_t len = 0;
	if (ext)
		ck_assert_alb_ok(test_ctx, alb_x509_ext_encode(test_ctx, ext, &buf, &len));
	struct cert c = make_cert(cn, buf, len, ca, issuer);
	alb_free(buf);
	alb_x509_ext_free(ext);
	return c;
}

/* Evaluates certs[0..n) (leaf first) against anchor. */
static int evaluate_certs(const struct cert *certs, size_t n, const struct cert *anchor,
			  alb_x509_grant **ret)
{
	alb_x509_chain *chain = NULL, *ta = NULL;
	ck_assert_alb_ok(test_ctx, alb_x509_chain_new(&chain));
	ck_assert_alb_ok(test_ctx, alb_x509_chain_new(&ta));
	for (size_t i = 0; i < n; i++)
		ck_assert_alb_ok(test_ctx, alb_x509_chain_add_crt(test_ctx, chain, certs[i].crt));
	ck_assert_alb_ok(test_ctx, alb_x509_chain_add_crt(test_ctx, ta, anchor->crt));
	int r = alb_x509_chain_evaluate(test_ctx, chain, ta, ret);
	alb_x509_chain_free(chain);
	alb_x509_chain_free(ta);
	return r;
}

/* root (no policy), alice (CA, given extension), leaf (given CN and extension). */
static int evaluate_three(const char *alice_cn, alb_x509_ext *alice_ext, const char *leaf_cn,
			  const uint8_t *leaf_ext, size_t leaf_len, alb_x509_grant **ret)
{
	struct cert c[3];
	c[2] = make_cert("root", NULL, 0, true, NULL);
	c[1] = make_cert_ext(alice_cn, alice_ext, true, &c[2]);
	c[0] = make_cert(leaf_cn, leaf_ext, leaf_len, false, &c[1]);
	int r = evaluate_certs(c, 2, &c[2], ret);
	for (size_t i = 0; i < 3; i++)
		cert_clear(&c[i]);
	return r;
}

static int evaluate_leaf(const char *leaf_cn, alb_x509_ext *leaf_ext, alb_x509_grant **ret)
{
	uint8_t *buf = NULL;
	uint64_t len = 0;
	if (leaf_ext)
		ck_assert_alb_ok(test_ctx, alb_x509_ext_encode(test_ctx, leaf_ext, &buf, &len));
	alb_x509_ext_free(leaf_ext);
	int r = evaluate_three("alice", ext_policy(alice_policy()), leaf_cn, buf, len, ret);
	alb_free(buf);
	return r;
}

START_TEST(test_eval_by_hand_ok)
{
	alb_x509_grant *grant = NULL;

	ck_assert_alb_ok(test_ctx,
			 evaluate_leaf("hello", ext_command(ALB_CMD_UNIKERNEL_CREATE, 32), &grant));
	assert_alice_hello(grant);
	alb_x509_grant_free(grant);

	/* The anchor at the end of the chain is skipped; a CN in capitals is lowercased. */
	struct cert c[3];
	c[2] = make_cert("root", NULL, 0, true, NULL);
	c[1] = make_cert_ext("ALICE", ext_policy(alice_policy()), true, &c[2]);
	c[0] = make_cert_ext("Hello", ext_command(ALB_CMD_UNIKERNEL_CREATE, 32), false, &c[1]);
	ck_assert_alb_ok(test_ctx, evaluate_certs(c, 3, &c[2], &grant));
	assert_alice_hello(grant);
	alb_x509_grant_free(grant);
	for (size_t i = 0; i < 3; i++)
		cert_clear(&c[i]);
}
END_TEST

START_TEST(test_eval_exceeding_intermediate)
{
	alb_x509_grant *grant = NULL;
	struct cert c[4];

	/* root (64 MB) > alice (128 MB): refused although each is well signed. */
	c[3] = make_cert_ext("root", ext_policy(alice_policy()), true, NULL);
	c[2] = make_cert_ext("alice", ext_policy(policy_make(2, 128, 0, -1, "br0", NULL)), true,
			     &c[3]);
	c[1] = make_cert_ext("bob", ext_policy(policy_make(1, 32, 0, -1, NULL)), true, &c[2]);
	c[0] = make_cert_ext("hello", ext_command(ALB_CMD_UNIKERNEL_INFO, 0), false, &c[1]);
	ck_assert_alb_err(test_ctx, evaluate_certs(c, 3, &c[3], &grant), EACCES);
	ck_assert_last_error_has(test_ctx, "certificate 2 (CN 'alice')");
	ck_assert_last_error_has(test_ctx, "memory 128 MB exceeds 64 MB");
	ck_assert_ptr_null(grant);

	/* alice (2 unikernels, br0) > bob (3 unikernels): refused at bob. */
	cert_clear(&c[1]);
	cert_clear(&c[0]);
	cert_clear(&c[2]);
	c[2] = make_cert_ext("alice", ext_policy(alice_policy()), true, &c[3]);
	c[1] = make_cert_ext("bob", ext_policy(policy_make(3, 32, 0, -1, NULL)), true, &c[2]);
	c[0] = make_cert_ext("hello", ext_command(ALB_CMD_UNIKERNEL_INFO, 0), false, &c[1]);
	ck_assert_alb_err(test_ctx, evaluate_certs(c, 3, &c[3], &grant), EACCES);
	ck_assert_last_error_has(test_ctx, "certificate 1 (CN 'bob')");
	for (size_t i = 0; i < 4; i++)
		cert_clear(&c[i]);
}
END_TEST

START_TEST(test_eval_refusals)
{
	alb_x509_grant *grant = NULL;
	uint8_t garbage[] = {0x04, 0x03, 0xa1, 0x61, 0x61};

	/* A leaf with a policy command, and with the daemon-to-daemon ones. */
	ck_assert_alb_err(
	    test_ctx, evaluate_leaf("hello", ext_command(ALB_CMD_POLICY_ADD, 0), &grant), EACCES);
	ck_assert_last_error_has(test_ctx, "certificate 0 (leaf, CN 'hello'): policy-add");
	ck_assert_alb_err(test_ctx,
			  evaluate_leaf("hello", ext_command(ALB_CMD_POLICY_REMOVE, 0), &grant),
			  EACCES);
	ck_assert_alb_err(
	    test_ctx, evaluate_leaf("hello", ext_command(ALB_CMD_STATS_REMOVE, 0), &grant), EACCES);
	/* A leaf with a policy; without any extension. */
	ck_assert_alb_err(test_ctx, evaluate_leaf("hello", ext_policy(alice_policy()), &grant),
			  EACCES);
	ck_assert_last_error_has(test_ctx, "carries a policy");
	ck_assert_alb_err(test_ctx, evaluate_leaf("hello", NULL, &grant), EACCES);
	ck_assert_last_error_has(test_ctx, "carries no command");
	/* A garbage extension in the leaf and in the CA. */
	ck_assert_alb_err(test_ctx,
			  evaluate_three("alice", ext_policy(alice_policy()), "hello", garbage,
					 sizeof(garbage), &grant),
			  EBADMSG);
	ck_assert_last_error_has(test_ctx, "certificate 0 (leaf, CN 'hello')");
	{
		struct cert c[3];
		c[2] = make_cert("root", NULL, 0, true, NULL);
		c[1] = make_cert("alice", garbage, sizeof(garbage), true, &c[2]);
		c[0] = make_cert_ext("hello", ext_command(ALB_CMD_UNIKERNEL_INFO, 0), false, &c[1]);
		ck_assert_alb_err(test_ctx, evaluate_certs(c, 2, &c[2], &grant), EBADMSG);
		ck_assert_last_error_has(test_ctx, "certificate 1 (CN 'alice')");
		for (size_t i = 0; i < 3; i++)
			cert_clear(&c[i]);
	}
	/* Common names that are not labels. */
	ck_assert_alb_err(
	    test_ctx, evaluate_leaf("hello world", ext_command(ALB_CMD_UNIKERNEL_INFO, 0), &grant),
	    EBADMSG);
	ck_assert_last_error_has(test_ctx, "CN 'hello world'");
	ck_assert_alb_err(
	    test_ctx, evaluate_leaf("-x", ext_command(ALB_CMD_UNIKERNEL_INFO, 0), &grant), EBADMSG);
	{
		uint8_t *buf = NULL;
		uint64_t len;
		alb_x509_ext *e = ext_command(ALB_CMD_UNIKERNEL_INFO, 0);
		ck_assert_alb_ok(test_ctx, alb_x509_ext_encode(test_ctx, e, &buf, &len));
		ck_assert_alb_err(
		    test_ctx,
		    evaluate_three("al:ice", ext_policy(alice_policy()), "hello", buf, len, &grant),
		    EBADMSG);
		ck_assert_last_error_has(test_ctx, "certificate 1 (CN 'al:ice')");
		/* A CA without a policy, with a command, without a CN. */
		ck_assert_alb_err(test_ctx,
				  evaluate_three("alice", NULL, "hello", buf, len, &grant), EACCES);
		ck_assert_last_error_has(test_ctx, "without a policy");
		ck_assert_alb_err(test_ctx,
				  evaluate_three("alice", ext_command(ALB_CMD_UNIKERNEL_INFO, 0),
						 "hello", buf, len, &grant),
				  EACCES);
		ck_assert_last_error_has(test_ctx, "with a command");
		ck_assert_alb_err(
		    test_ctx,
		    evaluate_three(NULL, ext_policy(alice_policy()), "hello", buf, len, &grant),
		    EBADMSG);
		ck_assert_last_error_has(test_ctx, "needs a common name");
		/* A leaf without a CN is a command on the path. */
		ck_assert_alb_ok(test_ctx, evaluate_three("alice", ext_policy(alice_policy()), NULL,
							  buf, len, &grant));
		assert_name(alb_msg_get_name(alb_x509_grant_get_command(grant)), "alice:");
		alb_x509_grant_free(grant);
		grant = NULL;
		alb_x509_ext_free(e);
		alb_free(buf);
	}
	ck_assert_ptr_null(grant);
}
END_TEST

/* A chain of n certificates below the anchor: n - 1 CAs and a leaf. */
static int evaluate_length(size_t n, alb_x509_grant **ret)
{
	struct cert c[16];
	char cn[16];

	ck_assert_uint_le(n + 1, ELEMENTSOF(c));
	c[n] = make_cert("root", NULL, 0, true, NULL);
	for (size_t i = n - 1; i >= 1; i--) {
		snprintf(cn, sizeof(cn), "ca%zu", i);
		c[i] = make_cert_ext(cn, ext_policy(alice_policy()), true, &c[i + 1]);
	}
	c[0] = make_cert_ext("hello", ext_command(ALB_CMD_UNIKERNEL_INFO, 0), false, &c[1]);
	int r = evaluate_certs(c, n, &c[n], ret);
	for (size_t i = 0; i <= n; i++)
		cert_clear(&c[i]);
	return r;
}

/* The two decisions of docs/x509.md: the extension is never critical, and a command goes
 * in an end-entity certificate, never in a CA. */
START_TEST(test_eval_critical_and_ca_leaf)
{
	alb_x509_grant *grant = NULL;
	struct cert c[3];
	c[2] = make_cert("root", NULL, 0, true, NULL);
	c[1] = make_cert_ext("alice", ext_policy(alice_policy()), true, &c[2]);
	c[0] = make_cert_ext("hello", ext_command(ALB_CMD_UNIKERNEL_INFO, 0), true, &c[1]);
	ck_assert_alb_err(test_ctx, evaluate_certs(c, 2, &c[2], &grant), EACCES);
	ck_assert_last_error_has(test_ctx, "certificate 0 (leaf, CN 'hello'): is a CA certificate");
	cert_clear(&c[0]);
	ext_critical = 1;
	c[0] = make_cert_ext("hello", ext_command(ALB_CMD_UNIKERNEL_INFO, 0), false, &c[1]);
	ext_critical = 0;
	ck_assert_alb_err(test_ctx, evaluate_certs(c, 2, &c[2], &grant), EBADMSG);
	ck_assert_last_error_has(test_ctx, "certificate 0: x509 extension: marked critical");
	cert_clear(&c[0]);
	cert_clear(&c[1]);
	ext_critical = 1; /* the CA's */
	c[1] = make_cert_ext("alice", ext_policy(alice_policy()), true, &c[2]);
	ext_critical = 0;
	c[0] = make_cert_ext("hello", ext_command(ALB_CMD_UNIKERNEL_INFO, 0), false, &c[1]);
	ck_assert_alb_err(test_ctx, evaluate_certs(c, 2, &c[2], &grant), EBADMSG);
	ck_assert_last_error_has(test_ctx, "certificate 1: x509 extension: marked critical");
	/* Not critical, an end entity: taken. */
	cert_clear(&c[0]);
	cert_clear(&c[1]);
	c[1] = make_cert_ext("alice", ext_policy(alice_policy()), true, &c[2]);
	c[0] = make_cert_ext("hello", ext_command(ALB_CMD_UNIKERNEL_INFO, 0), false, &c[1]);
	ck_assert_alb_ok(test_ctx, evaluate_certs(c, 2, &c[2], &grant));
	alb_x509_grant_free(grant);
	for (size_t i = 0; i < 3; i++)
		cert_clear(&c[i]);
}
END_TEST

START_TEST(test_eval_chain_length)
{
	alb_x509_grant *grant = NULL;

	ck_assert_alb_ok(test_ctx, evaluate_length(ALB_X509_CHAIN_MAX, &grant));
	assert_name(alb_msg_get_name(alb_x509_grant_get_command(grant)),
		    "ca8:ca7:ca6:ca5:ca4:ca3:ca2:ca1:hello");
	ck_assert_uint_eq(alb_x509_grant_get_policy_count(grant), 8);
	alb_x509_grant_free(grant);
	grant = NULL;
	ck_assert_alb_err(test_ctx, evaluate_length(ALB_X509_CHAIN_MAX + 1, &grant), EACCES);
	ck_assert_alb_err(test_ctx, evaluate_length(11, &grant), EACCES);
	ck_assert_last_error_has(test_ctx, "chain of 11 certificates");
	ck_assert_ptr_null(grant);
}
END_TEST

START_TEST(test_eval_wrong_issuer)
{
	alb_x509_grant *grant = NULL;
	struct cert c[3], other;
	alb_x509_chain *chain = NULL, *ta = NULL;

	c[2] = make_cert("root", NULL, 0, true, NULL);
	other = make_cert("other", NULL, 0, true, NULL);
	c[1] = make_cert_ext("alice", ext_policy(alice_policy()), true, &c[2]);
	c[0] = make_cert_ext("hello", ext_command(ALB_CMD_UNIKERNEL_INFO, 0), false, &c[1]);
	ck_assert_alb_err(test_ctx, evaluate_certs(c, 2, &other, &grant), EACCES);
	ck_assert_last_error_has(test_ctx, "not issued by the trust anchor");
	/* The anchor alone; an empty chain. */
	ck_assert_alb_err(test_ctx, evaluate_certs(&c[2], 1, &c[2], &grant), EACCES);
	ck_assert_alb_ok(test_ctx, alb_x509_chain_new(&chain));
	ck_assert_alb_ok(test_ctx, alb_x509_chain_new(&ta));
	ck_assert_alb_ok(test_ctx, alb_x509_chain_add_crt(test_ctx, ta, c[2].crt));
	ck_assert_alb_err(test_ctx, alb_x509_chain_evaluate(test_ctx, chain, ta, &grant), EBADMSG);
	ck_assert_alb_err(
	    test_ctx, alb_x509_chain_add_der(test_ctx, chain, (const uint8_t *)"x", 1), EBADMSG);
	alb_x509_chain_free(chain);
	alb_x509_chain_free(ta);
	for (size_t i = 0; i < 3; i++)
		cert_clear(&c[i]);
	cert_clear(&other);
}
END_TEST

/*
 * The reviewer's attacks: certificates that a TLS verifier may skip, appended to a
 * good chain, must not be evaluated as CAs. A forged "root" (the anchor's name, its
 * own key) after alice; and a CA "bob" below a forged root, both with junk keys.
 */
START_TEST(test_eval_forged_links)
{
	alb_x509_grant *grant = NULL;
	struct cert root = make_cert("root", NULL, 0, true, NULL);
	struct cert alice = make_cert_ext("alice", ext_policy(alice_policy()), true, &root);
	struct cert leaf =
	    make_cert_ext("hello", ext_command(ALB_CMD_UNIKERNEL_INFO, 0), false, &alice);
	struct cert fake_root = make_cert("root", NULL, 0, true, NULL);
	struct cert c[3] = {leaf, alice, fake_root};

	/* [leaf, alice, forged root]: the forged root is not the anchor. */
	ck_assert_alb_err(test_ctx, evaluate_certs(c, 3, &root, &grant), EACCES);
	ck_assert_last_error_has(test_ctx, "bears the trust anchor's name");
	/* A CA that names the anchor as issuer but is signed by another key. */
	struct cert bob = make_cert_ext("bob", ext_policy(alice_policy()), true, &fake_root);
	struct cert leaf2 = make_cert_ext("x", ext_command(ALB_CMD_UNIKERNEL_INFO, 0), false, &bob);
	struct cert d[2] = {leaf2, bob};
	ck_assert_alb_err(test_ctx, evaluate_certs(d, 2, &root, &grant), EACCES);
	ck_assert_last_error_has(test_ctx, "signature does not verify");
	/* The good chain, and the same with the true anchor appended, are accepted. */
	struct cert e[3] = {leaf, alice, root};
	ck_assert_alb_ok(test_ctx, evaluate_certs(e, 2, &root, &grant));
	grant = alb_x509_grant_free(grant);
	ck_assert_alb_ok(test_ctx, evaluate_certs(e, 3, &root, &grant));
	grant = alb_x509_grant_free(grant);
	cert_clear(&leaf2);
	cert_clear(&bob);
	cert_clear(&fake_root);
	cert_clear(&leaf);
	cert_clear(&alice);
	cert_clear(&root);
}
END_TEST

/* ---- revocation ------------------------------------------------------------------------------ */

static bool crl_has(gnutls_x509_crl_t crl, const uint8_t *serial, size_t len)
{
	int n = gnutls_x509_crl_get_crt_count(crl);
	for (int i = 0; i < n; i++) {
		uint8_t s[32];
		size_t slen = sizeof(s);
		ck_assert_int_ge(gnutls_x509_crl_get_crt_serial(crl, (unsigned)i, s, &slen, NULL),
				 0);
		if (slen == len && memcmp(s, serial, len) == 0)
			return true;
	}
	return false;
}

static gnutls_x509_crl_t crl_read(void)
{
	gnutls_x509_crl_t crl;
	gnutls_datum_t d;
	ck_assert_int_ge(gnutls_load_file(P("crl.pem"), &d), 0);
	ck_assert_int_ge(gnutls_x509_crl_init(&crl), 0);
	ck_assert_int_ge(gnutls_x509_crl_import(crl, &d, GNUTLS_X509_FMT_PEM), 0);
	gnutls_free(d.data);
	return crl;
}

START_TEST(test_crl)
{
	const char *first[] = {"4a0b0c0d0e0f10111213141516171819", "0abc"};
	const char *second[] = {"0ABC", "7f"};
	const uint8_t s1[] = {0x4a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11,
			      0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19};
	const uint8_t s2[] = {0x0a, 0xbc}, s3[] = {0x7f};
	alb_x509_chain *ca;
	gnutls_x509_crl_t crl;
	unsigned status = 1;

	walk(ALB_X509_KEY_ED25519);
	ck_assert_alb_ok(test_ctx, alb_x509_crl_revoke(test_ctx, P("cacert.pem"), P("ca.key"),
						       P("crl.pem"), first, 2, 0));
	crl = crl_read();
	ck_assert_int_eq(gnutls_x509_crl_get_crt_count(crl), 2);
	ck_assert(crl_has(crl, s1, sizeof(s1)));
	ck_assert(crl_has(crl, s2, sizeof(s2)));
	gnutls_x509_crl_deinit(crl);

	/* Extended: the duplicate once, the new one added; still signed by the CA. */
	ck_assert_alb_ok(test_ctx, alb_x509_crl_revoke(test_ctx, P("cacert.pem"), P("ca.key"),
						       P("crl.pem"), second, 2, 7));
	crl = crl_read();
	ck_assert_int_eq(gnutls_x509_crl_get_crt_count(crl), 3);
	ck_assert(crl_has(crl, s1, sizeof(s1)) && crl_has(crl, s2, sizeof(s2)) &&
		  crl_has(crl, s3, sizeof(s3)));
	ca = chain_read("cacert.pem");
	ck_assert_int_ge(gnutls_x509_crl_verify(crl, ca->crts, 1, 0, &status), 0);
	ck_assert_uint_eq(status, 0);
	uint8_t number[8];
	size_t nlen = sizeof(number);
	ck_assert_int_ge(gnutls_x509_crl_get_number(crl, number, &nlen, NULL), 0);
	ck_assert_uint_eq(nlen, 1);
	ck_assert_uint_eq(number[0], 2);
	gnutls_x509_crl_deinit(crl);
	alb_x509_chain_free(ca);

	/* The serial of hello from the db, revoked: the certificate shows up in the CRL. */
	char line[128], serial[64];
	FILE *f = fopen(P("db"), "re");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		ck_assert_int_eq(sscanf(line, "%63s", serial), 1);
	fclose(f);
	const char *last[] = {serial};
	ck_assert_alb_ok(test_ctx, alb_x509_crl_revoke(test_ctx, P("alice.pem"), P("alice.key"),
						       P("alice-crl.pem"), last, 1, 0));
	ck_assert_alb_ok(test_ctx, alb_x509_chain_new(&ca));
	alb_x509_chain *hello = chain_read("hello.pem");
	{
		gnutls_datum_t d;
		ck_assert_int_ge(gnutls_load_file(P("alice-crl.pem"), &d), 0);
		ck_assert_int_ge(gnutls_x509_crl_init(&crl), 0);
		ck_assert_int_ge(gnutls_x509_crl_import(crl, &d, GNUTLS_X509_FMT_PEM), 0);
		gnutls_free(d.data);
	}
	ck_assert_int_eq(gnutls_x509_crt_check_revocation(hello->crts[0], &crl, 1), 1);
	gnutls_x509_crl_deinit(crl);
	alb_x509_chain_free(hello);
	alb_x509_chain_free(ca);

	/* Another CA's CRL is not extended; bad serials. */
	ck_assert_alb_err(test_ctx,
			  alb_x509_crl_revoke(test_ctx, P("alice.pem"), P("alice.key"),
					      P("crl.pem"), second, 2, 0),
			  EBADMSG);
	const char *bad[] = {"xyz"};
	ck_assert_alb_err(
	    test_ctx,
	    alb_x509_crl_revoke(test_ctx, P("cacert.pem"), P("ca.key"), P("crl.pem"), bad, 1, 0),
	    EINVAL);
}
END_TEST

/* ---- certtool ----------------------------------------------------------------------------------
 */

static bool find_certtool(char *buf, size_t size)
{
	const char *path = getenv("PATH");
	char dirs[4096];

	snprintf(dirs, sizeof(dirs), "%s", path ? path : "/usr/bin:/bin");
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		snprintf(buf, size, "%s/certtool", d);
		if (access(buf, X_OK) == 0)
			return true;
	}
	return false;
}

/* Runs certtool with the arguments, no shell; asserts success. */
static void run_certtool(const char *certtool, const char *const *args)
{
	const char *argv[24] = {certtool};
	size_t n = 1;
	pid_t pid;
	int status;

	for (; args[n - 1]; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execv(certtool, (char *const *)argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "certtool %s failed", args[0]);
}

static void write_file(const char *file, const char *content)
{
	FILE *f = fopen(P(file), "we");
	ck_assert_ptr_nonnull(f);
	fputs(content, f);
	fclose(f);
}

/* The template line adding ext: the CBOR inside certtool's octet_string(). */
static void ext_template_line(alb_x509_ext *ext, char *line, size_t size)
{
	uint8_t *buf = NULL;
	uint64_t len;
	size_t n, off;

	ck_assert_alb_ok(test_ctx, alb_x509_ext_encode(test_ctx, ext, &buf, &len));
	off = buf[1] < 0x80 ? 2 : 2 + (buf[1] & 0x7f);
	n = (size_t)snprintf(line, size, "add_extension = \"%s octet_string(0x", ALB_X509_OID);
	for (size_t i = off; i < len; i++)
		n += (size_t)snprintf(line + n, size - n, "%02x", buf[i]);
	snprintf(line + n, size - n, ")\"\n");
	alb_free(buf);
	alb_x509_ext_free(ext);
}

START_TEST(test_certtool)
{
	char certtool[PATH_MAX], tmpl[8192], ext[4096];
	alb_x509_grant *grant = NULL;

	if (!find_certtool(certtool, sizeof(certtool))) {
		fprintf(stderr, "# certtool not found, skipping\n");
		return;
	}
	/* root CA: plain certtool. */
	write_file("ca.tmpl", "cn = \"ca\"\nca\ncert_signing_key\ncrl_signing_key\n"
			      "expiration_days = 30\n");
	run_certtool(certtool, (const char *const[]){"--generate-privkey", "--key-type=ed25519",
						     "--outfile", P("ca.key"), NULL});
	run_certtool(certtool, (const char *const[]){"--generate-self-signed", "--load-privkey",
						     P("ca.key"), "--template", P("ca.tmpl"),
						     "--outfile", P("cacert.pem"), NULL});
	/* alice: an intermediate with our policy extension. */
	ext_template_line(ext_policy(alice_policy()), ext, sizeof(ext));
	snprintf(tmpl, sizeof(tmpl),
		 "cn = \"alice\"\nca\ncert_signing_key\nexpiration_days = 10\n%s", ext);
	write_file("alice.tmpl", tmpl);
	run_certtool(certtool, (const char *const[]){"--generate-privkey", "--key-type=ecdsa",
						     "--outfile", P("alice.key"), NULL});
	run_certtool(certtool,
		     (const char *const[]){"--generate-certificate", "--load-privkey",
					   P("alice.key"), "--load-ca-certificate", P("cacert.pem"),
					   "--load-ca-privkey", P("ca.key"), "--template",
					   P("alice.tmpl"), "--outfile", P("alice.pem"), NULL});
	/* hello: a leaf with our create command. */
	ext_template_line(ext_command(ALB_CMD_UNIKERNEL_CREATE, 32), ext, sizeof(ext));
	snprintf(tmpl, sizeof(tmpl),
		 "cn = \"hello\"\ntls_www_client\nsigning_key\nexpiration_days = 1\n%s", ext);
	write_file("hello.tmpl", tmpl);
	run_certtool(certtool, (const char *const[]){"--generate-privkey", "--key-type=ed25519",
						     "--outfile", P("hello.key"), NULL});
	run_certtool(certtool, (const char *const[]){"--generate-certificate", "--load-privkey",
						     P("hello.key"), "--load-ca-certificate",
						     P("alice.pem"), "--load-ca-privkey",
						     P("alice.key"), "--template", P("hello.tmpl"),
						     "--outfile", P("hello-leaf.pem"), NULL});
	{
		alb_x509_chain *chain = chain_read("hello-leaf.pem");
		ck_assert_alb_ok(test_ctx,
				 alb_x509_chain_read_file(test_ctx, chain, P("alice.pem")));
		alb_x509_chain *anchor = chain_read("cacert.pem");
		ck_assert_alb_ok(test_ctx,
				 alb_x509_chain_evaluate(test_ctx, chain, anchor, &grant));
		assert_alice_hello(grant);
		alb_x509_grant_free(grant);
		alb_x509_chain_free(anchor);
		alb_x509_chain_free(chain);
	}

	/* Our CA signs what certtool requests, and certtool's CA (alice) signs our request. */
	alb_x509_ext *e = ext_command(ALB_CMD_UNIKERNEL_CREATE, 32);
	ck_assert_alb_ok(test_ctx, alb_x509_csr_generate(test_ctx, "hello", e, 0, P("hello.req"),
							 P("hello2.key")));
	alb_x509_ext_free(e);
	ck_assert_issued(alb_x509_csr_sign(test_ctx, P("alice.pem"), P("alice.key"), P("hello.req"),
					   0, NULL, P("hello2.pem")),
			 ALB_X509_CERT_CLIENT);
	ck_assert_alb_ok(test_ctx, evaluate("hello2.pem", &grant));
	assert_alice_hello(grant);
	alb_x509_grant_free(grant);

	/* certtool reads our certificates too. */
	run_certtool(certtool, (const char *const[]){"--certificate-info", "--infile",
						     P("hello2.pem"), NULL});
	run_certtool(certtool,
		     (const char *const[]){"--verify", "--load-ca-certificate", P("cacert.pem"),
					   "--infile", P("hello2.pem"), NULL});
}
END_TEST

/*
 * Writes the fuzz seed corpus to $ALB_X509_WRITE_CORPUS when set (used once to
 * make tests/fuzz/corpus/x509/); otherwise checks nothing but the encoder.
 */
START_TEST(test_write_corpus)
{
	const char *dir = getenv("ALB_X509_WRITE_CORPUS");
	alb_x509_ext *exts[] = {
	    ext_policy(alice_policy()),
	    ext_policy(policy_make(1000, 1 << 20, 0, 1, 2, 3, -1, "br0", "br1", "virbr0", NULL)),
	    ext_command(ALB_CMD_UNIKERNEL_CREATE, 32),
	    ext_command(ALB_CMD_UNIKERNEL_INFO, 0),
	    ext_command(ALB_CMD_UNIKERNEL_DESTROY, 0),
	    ext_command(ALB_CMD_CONSOLE_SUBSCRIBE, 0),
	    ext_command(ALB_CMD_POLICY_ADD, 0),
	};
	for (size_t i = 0; i < ELEMENTSOF(exts); i++) {
		uint8_t *buf = NULL;
		uint64_t len;
		ck_assert_alb_ok(test_ctx, alb_x509_ext_encode(test_ctx, exts[i], &buf, &len));
		if (dir) {
			char file[PATH_MAX];
			snprintf(file, sizeof(file), "%s/ext-%zu", dir, i);
			FILE *f = fopen(file, "we");
			ck_assert_ptr_nonnull(f);
			ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
			fclose(f);
		}
		alb_free(buf);
		alb_x509_ext_free(exts[i]);
	}
}
END_TEST

/* A CA certificate carries ports and prefixes; a sub-CA outside them is refused, naming the
 * limit; one inside is signed and its certificate reads back with them. */
START_TEST(test_sign_services)
{
	alb_policy *root = alice_services_policy();
	ck_assert_alb_ok(test_ctx, alb_x509_ca_generate(test_ctx, "ca", root, 0, 0, P("cacert.pem"),
							P("ca.key")));
	alb_x509_chain *chain = chain_read("cacert.pem");
	alb_x509_ext *ext = NULL;
	ck_assert_alb_ok(test_ctx, alb_x509_chain_get_ext(test_ctx, chain, 0, &ext));
	ck_assert(alb_policy_equal(alb_x509_ext_get_policy(ext), root));
	alb_x509_ext_free(ext);
	alb_x509_chain_free(chain);

	static const struct {
		uint32_t first, last;
		const char *bridge, *prefix, *needle;
	} bad[] = {
	    {80, 80, NULL, NULL, "ports 80-80 exceed 8000-8080"},
	    {0, 0, "br1", "10.0.1.0/24", "prefix 10.0.1.0/24 on bridge 'br1' is not allowed"},
	    {0, 0, "br0", "10.0.0.0/8", "prefix 10.0.0.0/8 on bridge 'br0' is not allowed"},
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		alb_policy *p = policy_make(1, 32, 0, -1, "br0", "br1", NULL);
		if (bad[i].first)
			ck_assert_alb_ok(test_ctx,
					 alb_policy_set_ports(p, bad[i].first, bad[i].last));
		if (bad[i].prefix)
			ck_assert_alb_ok(test_ctx,
					 alb_policy_add_prefix(p, bad[i].bridge, bad[i].prefix));
		ext = ext_policy(p);
		ck_assert_alb_ok(test_ctx, alb_x509_csr_generate(test_ctx, "bob", ext, 0,
								 P("bob.req"), P("bob.key")));
		alb_x509_ext_free(ext);
		ck_assert_alb_err(test_ctx,
				  alb_x509_csr_sign(test_ctx, P("cacert.pem"), P("ca.key"),
						    P("bob.req"), 0, NULL, P("bob.pem")),
				  EACCES);
		ck_assert_last_error_has(test_ctx, "does not fit");
		ck_assert_last_error_has(test_ctx, bad[i].needle);
		ck_assert_int_eq(access(P("bob.pem"), F_OK), -1);
		ck_assert_int_eq(unlink(P("bob.req")), 0);
		ck_assert_int_eq(unlink(P("bob.key")), 0);
	}

	alb_policy *inside = policy_make(1, 32, 0, -1, "br0", NULL);
	ck_assert_alb_ok(test_ctx, alb_policy_set_ports(inside, 8080, 8080));
	ck_assert_alb_ok(test_ctx, alb_policy_add_prefix(inside, "br0", "10.0.5.0/24"));
	ck_assert_alb_ok(test_ctx, alb_x509_ext_new_policy(inside, &ext));
	ck_assert_alb_ok(
	    test_ctx, alb_x509_csr_generate(test_ctx, "bob", ext, 0, P("bob.req"), P("bob.key")));
	alb_x509_ext_free(ext);
	ck_assert_issued(alb_x509_csr_sign(test_ctx, P("cacert.pem"), P("ca.key"), P("bob.req"), 0,
					   NULL, P("bob.pem")),
			 ALB_X509_CERT_CA);
	chain = chain_read("bob.pem");
	ck_assert_alb_ok(test_ctx, alb_x509_chain_get_ext(test_ctx, chain, 0, &ext));
	const alb_policy *back = alb_x509_ext_get_policy(ext);
	ck_assert(alb_policy_equal(back, inside));
	uint32_t first = 0, last = 0;
	ck_assert_int_eq(alb_policy_get_ports(back, &first, &last), 1);
	ck_assert_uint_eq(first, 8080);
	ck_assert_uint_eq(last, 8080);
	ck_assert_str_eq(alb_policy_get_prefix(back, 0), "10.0.5.0/24");
	alb_x509_ext_free(ext);
	alb_x509_chain_free(chain);
	alb_policy_free(inside);
	alb_policy_free(root);
}
END_TEST

/* A service deploy in a leaf: the config's bridges and the service's bridge must be the
 * CA's; a spec the decoder refuses cannot go into an extension; the one signed reads back
 * with its spec. service-info, service-remove and collect may be a leaf's command. */
static alb_x509_ext *ext_deploy(const char *bridge, uint32_t prefix, uint32_t gateway)
{
	struct alb_cmd cmd = {.kind = ALB_CMD_SERVICE_DEPLOY};
	struct alb_service_spec *s = calloc(1, sizeof(*s));
	alb_x509_ext *ext = NULL;

	ck_assert_ptr_nonnull(s);
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_new(test_ctx, &cmd.config));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_set_memory(cmd.config, 32));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_cpuid(cmd.config, 0));
	ck_assert_alb_ok(test_ctx,
			 alb_unikernel_config_add_net(cmd.config, "service", "br0", NULL));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_set_image(cmd.config, 4096, 0));
	s->device = strdup("service");
	s->bridge = strdup(bridge);
	s->prefix = prefix; /* /24 */
	s->prefix_len = 24;
	s->gateway = gateway;
	s->n_publish = 1;
	s->publish = calloc(1, sizeof(*s->publish));
	ck_assert_ptr_nonnull(s->publish);
	s->publish[0] = (struct alb_publish){6, 0, 8080, 80};
	s->ready = ALB_READY_TCP;
	s->ready_port = 80;
	s->ready_timeout_ms = 10000;
	s->drain_ms = 1000;
	cmd.service = s;
	int r = alb_x509_ext_new_cmd(test_ctx, &cmd, &ext);
	alb_cmd_clear(&cmd);
	if (r < 0) {
		ck_assert_alb_err(test_ctx, r, EINVAL);
		return NULL;
	}
	return ext;
}

START_TEST(test_sign_service_deploy)
{
	alb_policy *root = alice_services_policy();
	ck_assert_alb_ok(test_ctx, alb_x509_ca_generate(test_ctx, "ca", root, 0, 0, P("cacert.pem"),
							P("ca.key")));
	alb_policy_free(root);

	/* The gateway outside the prefix: no extension. */
	ck_assert_ptr_null(ext_deploy("br0", 0x0a000000, 0x0a000101));
	ck_assert_last_error_has(test_ctx, "invalid command");
	ck_assert_last_error_has(test_ctx, "command.service: the gateway is not a host address");

	/* The service's bridge is not the CA's. */
	alb_x509_ext *ext = ext_deploy("br9", 0x0a000000, 0);
	ck_assert_ptr_nonnull(ext);
	ck_assert_alb_ok(
	    test_ctx, alb_x509_csr_generate(test_ctx, "web", ext, 0, P("web.req"), P("web.key")));
	alb_x509_ext_free(ext);
	ck_assert_alb_err(test_ctx,
			  alb_x509_csr_sign(test_ctx, P("cacert.pem"), P("ca.key"), P("web.req"), 0,
					    NULL, P("web.pem")),
			  EACCES);
	ck_assert_last_error_has(test_ctx, "request 'web'");
	ck_assert_last_error_has(test_ctx, "service-deploy does not fit inside the CA's policy");
	ck_assert_int_eq(access(P("web.pem"), F_OK), -1);
	ck_assert_int_eq(unlink(P("web.req")), 0);
	ck_assert_int_eq(unlink(P("web.key")), 0);

	/* On br1 (config on br0): signed, and the spec reads back. */
	ext = ext_deploy("br1", 0xc0a80100, 0xc0a80101);
	ck_assert_ptr_nonnull(ext);
	ck_assert_alb_ok(
	    test_ctx, alb_x509_csr_generate(test_ctx, "web", ext, 0, P("web.req"), P("web.key")));
	alb_x509_ext_free(ext);
	ck_assert_issued(alb_x509_csr_sign(test_ctx, P("cacert.pem"), P("ca.key"), P("web.req"), 0,
					   NULL, P("web.pem")),
			 ALB_X509_CERT_CLIENT);
	alb_x509_chain *chain = chain_read("web.pem");
	ck_assert_alb_ok(test_ctx, alb_x509_chain_get_ext(test_ctx, chain, 0, &ext));
	const struct alb_cmd *cmd = alb_x509_ext_get_cmd(ext);
	ck_assert_ptr_nonnull(cmd);
	ck_assert_int_eq(cmd->kind, ALB_CMD_SERVICE_DEPLOY);
	ck_assert_ptr_nonnull(cmd->service);
	ck_assert_str_eq(cmd->service->bridge, "br1");
	ck_assert_uint_eq(cmd->service->prefix, 0xc0a80100);
	ck_assert_uint_eq(cmd->service->gateway, 0xc0a80101);
	ck_assert_uint_eq(cmd->service->n_publish, 1);
	ck_assert_uint_eq(cmd->service->publish[0].host_port, 8080);
	ck_assert_int_eq(cmd->service->ready, ALB_READY_TCP);
	ck_assert_uint_eq(cmd->service->ready_port, 80);
	alb_x509_ext_free(ext);
	alb_x509_chain_free(chain);

	ck_assert(alb_x509_command_allowed(ALB_CMD_SERVICE_DEPLOY));
	ck_assert(alb_x509_command_allowed(ALB_CMD_SERVICE_INFO));
	ck_assert(alb_x509_command_allowed(ALB_CMD_SERVICE_REMOVE));
	ck_assert(alb_x509_command_allowed(ALB_CMD_COLLECT));
	ck_assert(!alb_x509_command_allowed(ALB_CMD_FEED));
}
END_TEST

static Suite *x509_suite(void)
{
	Suite *s = suite_create("x509");
	TCase *tc;

	tc = tcase_create("extension");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_add_test(tc, test_ext_round_trip);
	tcase_add_loop_test(tc, test_ext_malformed, 0, ELEMENTSOF(bad_exts));
	tcase_add_test(tc, test_ext_bounds);
	tcase_add_test(tc, test_ext_old_policy);
	tcase_add_test(tc, test_write_corpus);
	suite_add_tcase(s, tc);

	tc = tcase_create("ca");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_add_checked_fixture(tc, tc_tmpdir_setup, tc_tmpdir_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_delegation_walk);
	tcase_add_loop_test(tc, test_key_types, 0, 2);
	tcase_add_test(tc, test_sign_refusals);
	tcase_add_test(tc, test_sign_services);
	tcase_add_test(tc, test_sign_service_deploy);
	tcase_add_test(tc, test_leaf_dot);
	tcase_add_test(tc, test_crl);
	tcase_add_test(tc, test_certtool);
	suite_add_tcase(s, tc);

	tc = tcase_create("evaluate");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_eval_by_hand_ok);
	tcase_add_test(tc, test_eval_exceeding_intermediate);
	tcase_add_test(tc, test_eval_refusals);
	tcase_add_test(tc, test_eval_chain_length);
	tcase_add_test(tc, test_eval_critical_and_ca_leaf);
	tcase_add_test(tc, test_eval_wrong_issuer);
	tcase_add_test(tc, test_eval_forged_links);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(x509_suite());
}
