/* SPDX-License-Identifier: ISC */
/*
 * The policy/command certificate extension, chain evaluation and the CA
 * operations (docs/x509.md), on GnuTLS.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "dl-gnutls-private.h" /* before any header that includes GnuTLS's */

#include "cbor-private.h"
#include "ctx-private.h"
#include "inet-private.h"
#include "fileio-private.h"
#include "x509-private.h"

#define DAY_SECONDS 86400
/* Not-before is set this much before now, for clocks that are a little behind. */
#define BACKDATE_SECONDS    60
#define DEFAULT_DAYS_CA	    3650u
#define DEFAULT_DAYS_ISSUED 365u
#define DEFAULT_DAYS_CLIENT 1u
#define DEFAULT_DAYS_CRL    30u
#define SERIAL_LEN	    16u
#define SERIAL_MAX	    20u
/* Entries a CRL we extend may hold. */
#define CRL_ENTRIES_MAX	  65536u
#define HOST_NAME_MAX_LEN 253u

/* ---- GnuTLS cleanup ------------------------------------------------------------------- */

static inline void crt_freep(gnutls_x509_crt_t *p)
{
	if (*p)
		gnutls_x509_crt_deinit(*p);
}
static inline void crq_freep(gnutls_x509_crq_t *p)
{
	if (*p)
		gnutls_x509_crq_deinit(*p);
}
static inline void crl_freep(gnutls_x509_crl_t *p)
{
	if (*p)
		gnutls_x509_crl_deinit(*p);
}
static inline void x509key_freep(gnutls_x509_privkey_t *p)
{
	if (*p)
		gnutls_x509_privkey_deinit(*p);
}
static inline void privkey_freep(gnutls_privkey_t *p)
{
	if (*p)
		gnutls_privkey_deinit(*p);
}
static inline void datum_freep(gnutls_datum_t *d)
{
	gnutls_free(d->data);
	d->data = NULL;
}
#define _cleanup_crt_	  _cleanup_(crt_freep)
#define _cleanup_crq_	  _cleanup_(crq_freep)
#define _cleanup_crl_	  _cleanup_(crl_freep)
#define _cleanup_x509key_ _cleanup_(x509key_freep)
#define _cleanup_privkey_ _cleanup_(privkey_freep)
#define _cleanup_datum_	  _cleanup_(datum_freep)

/* A GnuTLS error as -errno, with the reason. */
static int tls_error(alb_ctx *ctx, int gr, const char *what)
{
	int e = gr == GNUTLS_E_MEMORY_ERROR ? ENOMEM : EBADMSG;
	return alb_error(ctx, e, "%s: %s", what, gnutls_strerror(gr));
}

/* ---- the extension ---------------------------------------------------------------------- */

ALB_EXPORT int alb_x509_key_type_from_string(alb_ctx *ctx, const char *string)
{
	if (!string)
		return -EINVAL;
	if (streq(string, "ed25519"))
		return ALB_X509_KEY_ED25519;
	if (streq(string, "rsa"))
		return ALB_X509_KEY_RSA;
	if (streq(string, "p256"))
		return ALB_X509_KEY_P256;
	return alb_error(ctx, EINVAL, "unknown key type (ed25519, rsa or p256)");
}

ALB_EXPORT alb_x509_ext *alb_x509_ext_free(alb_x509_ext *ext)
{
	if (!ext)
		return NULL;
	alb_policy_free(ext->policy);
	alb_cmd_clear(&ext->cmd);
	free(ext);
	return NULL;
}

ALB_EXPORT int alb_x509_ext_new_policy(const alb_policy *policy, alb_x509_ext **ret_ext)
{
	_cleanup_(alb_x509_ext_freep) alb_x509_ext *ext = NULL;
	int r;

	if (!policy || !ret_ext)
		return -EINVAL;
	ext = calloc(1, sizeof(*ext));
	if (!ext)
		return -ENOMEM;
	ext->kind = ALB_X509_EXT_POLICY;
	r = alb_policy_dup(policy, &ext->policy);
	if (r < 0)
		return r;
	*ret_ext = TAKE_PTR(ext);
	return 0;
}

int alb_x509_ext_new_cmd(alb_ctx *ctx, const struct alb_cmd *cmd, alb_x509_ext **ret)
{
	_cleanup_(alb_x509_ext_freep) alb_x509_ext *ext = NULL;
	_cleanup_(cbor_decref_ptrp) cbor_item_t *item = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_(cbor_decref_ptrp) cbor_item_t *loaded = NULL;
	size_t len;
	int r;

	if (!cmd || !ret)
		return -EINVAL;
	item = alb_cmd_to_cbor(cmd);
	if (!item)
		return alb_error(ctx, EINVAL, "command: unknown command %d", cmd->kind);
	r = alb_cbor_serialize(ctx, item, &buf, &len);
	if (r < 0)
		return r;
	/* A deep copy that the decoder has judged, as alb_msg_encode() does. */
	r = alb_cbor_load(ctx, buf, len, &loaded);
	if (r < 0)
		return alb_error_prefix(ctx, -EINVAL, "invalid command");
	ext = calloc(1, sizeof(*ext));
	if (!ext)
		return -ENOMEM;
	ext->kind = ALB_X509_EXT_COMMAND;
	r = alb_cmd_from_cbor(ctx, loaded, "command", &ext->cmd);
	if (r == -EBADMSG)
		return alb_error_prefix(ctx, -EINVAL, "invalid command");
	if (r < 0)
		return r;
	*ret = TAKE_PTR(ext);
	return 0;
}

ALB_EXPORT int alb_x509_ext_new_command(alb_ctx *ctx, const alb_msg *command,
					alb_x509_ext **ret_ext)
{
	if (!command || !ret_ext || command->kind != ALB_MSG_COMMAND)
		return alb_error(ctx, EINVAL, "not a command message");
	return alb_x509_ext_new_cmd(ctx, &command->cmd, ret_ext);
}

ALB_EXPORT int alb_x509_ext_get_kind(const alb_x509_ext *ext)
{
	return ext ? ext->kind : -EINVAL;
}

ALB_EXPORT const alb_policy *alb_x509_ext_get_policy(const alb_x509_ext *ext)
{
	return ext && ext->kind == ALB_X509_EXT_POLICY ? ext->policy : NULL;
}

ALB_EXPORT int alb_x509_ext_get_command(const alb_x509_ext *ext)
{
	if (!ext)
		return -EINVAL;
	return ext->kind == ALB_X509_EXT_COMMAND ? ext->cmd.kind : -ENOENT;
}

ALB_EXPORT const struct alb_cmd *alb_x509_ext_get_cmd(const alb_x509_ext *ext)
{
	return ext && ext->kind == ALB_X509_EXT_COMMAND ? &ext->cmd : NULL;
}

ALB_EXPORT int alb_x509_ext_take_cmd(alb_x509_ext *ext, struct alb_cmd *ret)
{
	if (!ext || !ret || ext->kind != ALB_X509_EXT_COMMAND)
		return -EINVAL;
	*ret = ext->cmd;
	memset(&ext->cmd, 0, sizeof(ext->cmd));
	return 0;
}

ALB_EXPORT int alb_x509_chain_get_ext(alb_ctx *ctx, const alb_x509_chain *chain, uint32_t index,
				      alb_x509_ext **ret)
{
	if (!chain || !ret || index >= chain->n)
		return -EINVAL;
	return alb_x509_crt_get_ext(ctx, chain->crts[index], ret);
}

/* The DER header of an OCTET STRING of len bytes; its length. */
static size_t der_octet_header(uint8_t hdr[static 4], size_t len)
{
	hdr[0] = 0x04;
	if (len < 0x80) {
		hdr[1] = (uint8_t)len;
		return 2;
	}
	if (len < 0x100) {
		hdr[1] = 0x81;
		hdr[2] = (uint8_t)len;
		return 3;
	}
	hdr[1] = 0x82;
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	return 4;
}

ALB_EXPORT int alb_x509_ext_encode(alb_ctx *ctx, const alb_x509_ext *ext, uint8_t **ret_buf,
				   uint64_t *ret_len)
{
	_cleanup_(cbor_decref_ptrp) cbor_item_t *map = NULL;
	_cleanup_(alb_x509_ext_freep) alb_x509_ext *check = NULL;
	_cleanup_free_ uint8_t *cbor = NULL, *out = NULL;
	uint8_t hdr[4];
	size_t len, hlen;
	int r;

	if (!ext || !ret_buf || !ret_len ||
	    (ext->kind != ALB_X509_EXT_POLICY && ext->kind != ALB_X509_EXT_COMMAND))
		return -EINVAL;
	map = cbor_new_definite_map(2);
	if (!alb_cbor_put(map, "version", alb_cbor_uint(ALB_X509_VERSION)))
		return -ENOMEM;
	if (ext->kind == ALB_X509_EXT_POLICY) {
		if (!alb_cbor_put(map, "policy", alb_policy_to_cbor(ext->policy)))
			return -ENOMEM;
	} else {
		cbor_item_t *cmd = alb_cmd_to_cbor(&ext->cmd);
		if (!cmd)
			return alb_error(ctx, EINVAL, "command: unknown command %d", ext->cmd.kind);
		if (!alb_cbor_put(map, "command", cmd))
			return -ENOMEM;
	}
	r = alb_cbor_serialize(ctx, map, &cbor, &len);
	if (r < 0)
		return r;
	hlen = der_octet_header(hdr, len);
	if (len > ALB_X509_EXTENSION_MAX - hlen)
		return alb_error(ctx, EINVAL, "extension of %zu bytes exceeds %u", len + hlen,
				 ALB_X509_EXTENSION_MAX);
	out = malloc(hlen + len);
	if (!out)
		return -ENOMEM;
	memcpy(out, hdr, hlen);
	memcpy(out + hlen, cbor, len);

	/* Never write what we would refuse to read. */
	r = alb_x509_ext_decode(ctx, out, hlen + len, &check);
	if (r == -EBADMSG || r == -EPROTO)
		return alb_error_prefix(ctx, -EINVAL, "invalid extension");
	if (r < 0)
		return r;
	*ret_buf = TAKE_PTR(out);
	*ret_len = hlen + len;
	return 0;
}

/* The contents of a DER OCTET STRING covering buf exactly. */
static int der_octet_contents(alb_ctx *ctx, const uint8_t *buf, size_t len, size_t *ret_off)
{
	size_t n, off;

	if (len < 2 || buf[0] != 0x04)
		return alb_error(ctx, EBADMSG, "x509 extension: not an OCTET STRING");
	if (buf[1] < 0x80) {
		n = buf[1];
		off = 2;
	} else if (buf[1] == 0x81 && len >= 3 && buf[2] >= 0x80) {
		n = buf[2];
		off = 3;
	} else if (buf[1] == 0x82 && len >= 4 && buf[2] != 0) {
		n = (size_t)buf[2] << 8 | buf[3];
		off = 4;
	} else
		return alb_error(ctx, EBADMSG, "x509 extension: invalid or non-minimal DER length");
	if (n != len - off)
		return alb_error(ctx, EBADMSG,
				 "x509 extension: OCTET STRING of %zu bytes in %zu bytes", n,
				 len - off);
	*ret_off = off;
	return 0;
}

ALB_EXPORT int alb_x509_ext_decode(alb_ctx *ctx, const uint8_t *buf, uint64_t len,
				   alb_x509_ext **ret_ext)
{
	struct alb_cbor_key k[] = {{"version"}, {"policy", true}, {"command", true}};
	_cleanup_(cbor_decref_ptrp) cbor_item_t *item = NULL;
	_cleanup_(alb_x509_ext_freep) alb_x509_ext *ext = NULL;
	uint32_t version;
	size_t off = 0;
	int r;

	if ((!buf && len > 0) || !ret_ext)
		return -EINVAL;
	if (len > ALB_X509_EXTENSION_MAX)
		return alb_error(ctx, EBADMSG, "x509 extension of %" PRIu64 " bytes exceeds %u",
				 len, ALB_X509_EXTENSION_MAX);
	r = der_octet_contents(ctx, buf, (size_t)len, &off);
	if (r < 0)
		return r;
	r = alb_cbor_load(ctx, buf + off, (size_t)len - off, &item);
	if (r < 0)
		return alb_error_prefix(ctx, r, "x509 extension");
	if (cbor_isa_map(item)) {
		const cbor_item_t *v = alb_cbor_map_get(item, "version");
		if (v && cbor_isa_uint(v) && cbor_get_int(v) != ALB_X509_VERSION)
			return alb_error(ctx, EPROTO,
					 "x509 extension: unsupported version %" PRIu64,
					 cbor_get_int(v));
	}
	r = alb_cbor_map_keys(ctx, item, "x509", k, ELEMENTSOF(k));
	if (r < 0)
		return r;
	r = alb_cbor_get_u32(ctx, k[0].value, k[0].path, ALB_X509_VERSION, ALB_X509_VERSION,
			     &version);
	if (r < 0)
		return r;
	if (!k[1].value == !k[2].value)
		return alb_error(ctx, EBADMSG, "x509: expected exactly one of policy, command");
	ext = calloc(1, sizeof(*ext));
	if (!ext)
		return -ENOMEM;
	if (k[1].value) {
		ext->kind = ALB_X509_EXT_POLICY;
		r = alb_policy_from_cbor(ctx, k[1].value, k[1].path, &ext->policy);
	} else {
		ext->kind = ALB_X509_EXT_COMMAND;
		r = alb_cmd_from_cbor(ctx, k[2].value, k[2].path, &ext->cmd);
	}
	if (r < 0)
		return r;
	*ret_ext = TAKE_PTR(ext);
	return 0;
}

/* Both GnuTLS getters return GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE for an absent index. */
static int ext_from_datums(alb_ctx *ctx, int g0, gnutls_datum_t *d0, int g1, alb_x509_ext **ret)
{
	if (g0 == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
		return -ENOENT;
	if (g0 < 0)
		return tls_error(ctx, g0, "x509 extension");
	if (g1 != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
		return alb_error(ctx, EBADMSG, "x509 extension present more than once");
	return alb_x509_ext_decode(ctx, d0->data, d0->size, ret);
}

/* Our extension is never critical: a TLS peer (GnuTLS among them) refuses a certificate
 * with a critical extension it does not know, so such a certificate could not be used. */
static int not_critical(alb_ctx *ctx, int g0, unsigned critical)
{
	if (g0 >= 0 && critical)
		return alb_error(ctx, EBADMSG,
				 "x509 extension: marked critical, which it must not be (TLS "
				 "refuses a certificate with an unknown critical extension)");
	return 0;
}

int alb_x509_crt_get_ext(alb_ctx *ctx, gnutls_x509_crt_t crt, alb_x509_ext **ret)
{
	_cleanup_datum_ gnutls_datum_t d0 = {0}, d1 = {0};
	unsigned critical = 0, critical1;
	int g0, g1, r;

	g0 = gnutls_x509_crt_get_extension_by_oid2(crt, ALB_X509_OID, 0, &d0, &critical);
	if ((r = not_critical(ctx, g0, critical)) < 0)
		return r;
	g1 = g0 < 0 ? 0
		    : gnutls_x509_crt_get_extension_by_oid2(crt, ALB_X509_OID, 1, &d1, &critical1);
	return ext_from_datums(ctx, g0, &d0, g1, ret);
}

int alb_x509_crq_get_ext(alb_ctx *ctx, gnutls_x509_crq_t crq, alb_x509_ext **ret)
{
	_cleanup_datum_ gnutls_datum_t d0 = {0}, d1 = {0};
	unsigned critical = 0, critical1;
	int g0, g1, r;

	g0 = gnutls_x509_crq_get_extension_by_oid2(crq, ALB_X509_OID, 0, &d0, &critical);
	if ((r = not_critical(ctx, g0, critical)) < 0)
		return r;
	g1 = g0 < 0 ? 0
		    : gnutls_x509_crq_get_extension_by_oid2(crq, ALB_X509_OID, 1, &d1, &critical1);
	return ext_from_datums(ctx, g0, &d0, g1, ret);
}

int alb_x509_crt_set_ext(alb_ctx *ctx, gnutls_x509_crt_t crt, const alb_x509_ext *ext)
{
	_cleanup_free_ uint8_t *buf = NULL;
	uint64_t len;
	int r, g;

	r = alb_x509_ext_encode(ctx, ext, &buf, &len);
	if (r < 0)
		return r;
	g = gnutls_x509_crt_set_extension_by_oid(crt, ALB_X509_OID, buf, len, 0);
	return g < 0 ? tls_error(ctx, g, "setting the x509 extension") : 0;
}

int alb_x509_crq_set_ext(alb_ctx *ctx, gnutls_x509_crq_t crq, const alb_x509_ext *ext)
{
	_cleanup_free_ uint8_t *buf = NULL;
	uint64_t len;
	int r, g;

	r = alb_x509_ext_encode(ctx, ext, &buf, &len);
	if (r < 0)
		return r;
	g = gnutls_x509_crq_set_extension_by_oid(crq, ALB_X509_OID, buf, len, 0);
	return g < 0 ? tls_error(ctx, g, "setting the x509 extension") : 0;
}

/* ---- commands in leaves ------------------------------------------------------------------ */

ALB_EXPORT bool alb_x509_command_allowed(int command)
{
	switch (command) {
	case ALB_CMD_POLICY_ADD:
	case ALB_CMD_POLICY_REMOVE:
	case ALB_CMD_CONSOLE_ADD:
	case ALB_CMD_STATS_ADD:
	case ALB_CMD_STATS_REMOVE:
	case ALB_CMD_LOG_EVENT:
	case ALB_CMD_CONSOLE_DATA:
	case ALB_CMD_CONSOLE_END:
	case ALB_CMD_FEED:
		return false;
	default:
		return true;
	}
}

int alb_x509_command_fits(alb_ctx *ctx, const struct alb_cmd *cmd, const alb_policy *policy)
{
	_cleanup_(alb_policy_freep) alb_policy *use = NULL;
	const alb_unikernel_config *c = cmd->config;
	int r;

	if (!policy)
		return 0;
	r = alb_policy_new(&use);
	if (r < 0)
		return r;
	if ((cmd->kind == ALB_CMD_UNIKERNEL_CREATE || cmd->kind == ALB_CMD_UNIKERNEL_FORCE_CREATE ||
	     cmd->kind == ALB_CMD_SERVICE_DEPLOY) &&
	    c) {
		use->unikernels = 1;
		if (cmd->service && (r = alb_policy_add_bridge(use, cmd->service->bridge)) < 0)
			return r;
		use->memory_mb = c->memory_mb;
		for (uint32_t i = 0; i < c->n_cpuids; i++)
			if ((r = alb_policy_add_cpuid(use, c->cpuids[i])) < 0)
				return r;
		for (uint32_t i = 0; i < c->n_nets; i++)
			if ((r = alb_policy_add_bridge(use, c->nets[i].bridge)) < 0)
				return r;
		if (c->n_blocks > 0)
			alb_policy_set_block(use, 0);
	} else if (cmd->kind == ALB_CMD_BLOCK_ADD) {
		alb_policy_set_block(use, cmd->block_size_mb);
	} else
		return 0;
	r = alb_policy_is_smaller(ctx, use, policy);
	if (r == -EDQUOT)
		return alb_error_prefix(ctx, -EACCES, "%s does not fit inside the CA's policy",
					alb_command_to_string(cmd->kind));
	if (r < 0 || cmd->kind != ALB_CMD_SERVICE_DEPLOY || !cmd->service)
		return r;
	/* A service's published ports and prefix, against the CA's. */
	const struct alb_service_spec *sp = cmd->service;
	char prefix[20];
	for (uint32_t i = 0; i < sp->n_publish; i++)
		if (!alb_policy_allows_port(policy, sp->publish[i].host_port))
			return alb_error(ctx, EACCES,
					 "service-deploy does not fit inside the CA's policy: host "
					 "port %u is outside its ports",
					 sp->publish[i].host_port);
	alb_prefix_format(sp->prefix, sp->prefix_len, prefix);
	if (!alb_policy_allows_prefix(policy, sp->bridge, prefix))
		return alb_error(ctx, EACCES,
				 "service-deploy does not fit inside the CA's policy: prefix %s on "
				 "bridge %s is not allowed",
				 prefix, sp->bridge);
	return 0;
}

/* ---- chains ------------------------------------------------------------------------------ */

ALB_EXPORT int alb_x509_chain_new(alb_x509_chain **ret_chain)
{
	if (!ret_chain)
		return -EINVAL;
	*ret_chain = calloc(1, sizeof(**ret_chain));
	return *ret_chain ? 0 : -ENOMEM;
}

ALB_EXPORT alb_x509_chain *alb_x509_chain_free(alb_x509_chain *chain)
{
	if (!chain)
		return NULL;
	for (uint32_t i = 0; i < chain->n; i++)
		gnutls_x509_crt_deinit(chain->crts[i]);
	free(chain);
	return NULL;
}

static int chain_push(alb_ctx *ctx, alb_x509_chain *chain, gnutls_x509_crt_t crt)
{
	if (chain->n >= ALB_X509_CHAIN_CAPACITY) {
		gnutls_x509_crt_deinit(crt);
		return alb_error(ctx, E2BIG, "more than %u certificates", ALB_X509_CHAIN_CAPACITY);
	}
	chain->crts[chain->n++] = crt;
	return 0;
}

static int crt_from_der(alb_ctx *ctx, const uint8_t *der, size_t len, gnutls_x509_crt_t *ret)
{
	_cleanup_crt_ gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d = {(unsigned char *)der, (unsigned)len};
	int g;

	if (len > ALB_X509_FILE_MAX)
		return alb_error(ctx, EBADMSG, "certificate of %zu bytes is too large", len);
	g = gnutls_x509_crt_init(&crt);
	if (g < 0)
		return -ENOMEM;
	g = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER);
	if (g < 0)
		return tls_error(ctx, g, "certificate");
	*ret = TAKE_PTR(crt);
	return 0;
}

ALB_EXPORT int alb_x509_chain_add_der(alb_ctx *ctx, alb_x509_chain *chain, const uint8_t *der,
				      uint64_t len)
{
	gnutls_x509_crt_t crt = NULL;
	int r;

	if (!chain || !der || len == 0)
		return -EINVAL;
	if ((r = alb_dl_gnutls_load(ctx)) < 0)
		return r;
	r = crt_from_der(ctx, der, (size_t)len, &crt);
	if (r < 0)
		return r;
	return chain_push(ctx, chain, crt);
}

int alb_x509_chain_add_crt(alb_ctx *ctx, alb_x509_chain *chain, gnutls_x509_crt_t crt)
{
	_cleanup_datum_ gnutls_datum_t der = {0};
	int g;

	g = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der);
	if (g < 0)
		return tls_error(ctx, g, "certificate");
	return alb_x509_chain_add_der(ctx, chain, der.data, der.size);
}

/* Imports the PEM certificates of buf into chain. */
static int chain_add_pem(alb_ctx *ctx, alb_x509_chain *chain, const uint8_t *buf, size_t len,
			 const char *path)
{
	gnutls_x509_crt_t crts[ALB_X509_CHAIN_CAPACITY];
	unsigned max = ALB_X509_CHAIN_CAPACITY - chain->n;
	gnutls_datum_t d = {(unsigned char *)buf, (unsigned)len};
	int g, r = 0;

	if (max == 0)
		return alb_error(ctx, E2BIG, "%s: more than %u certificates", path,
				 ALB_X509_CHAIN_CAPACITY);
	g = gnutls_x509_crt_list_import(crts, &max, &d, GNUTLS_X509_FMT_PEM,
					GNUTLS_X509_CRT_LIST_IMPORT_FAIL_IF_EXCEED);
	if (g == GNUTLS_E_SHORT_MEMORY_BUFFER)
		return alb_error(ctx, E2BIG, "%s: more than %u certificates", path,
				 ALB_X509_CHAIN_CAPACITY);
	if (g < 0)
		return alb_error(ctx, g == GNUTLS_E_MEMORY_ERROR ? ENOMEM : EBADMSG, "%s: %s", path,
				 gnutls_strerror(g));
	if (g == 0)
		return alb_error(ctx, EBADMSG, "%s: no certificate", path);
	for (int i = 0; i < g; i++)
		if (r < 0)
			gnutls_x509_crt_deinit(crts[i]);
		else
			r = chain_push(ctx, chain, crts[i]);
	return r;
}

ALB_EXPORT int alb_x509_chain_read_file(alb_ctx *ctx, alb_x509_chain *chain, const char *path)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r;

	if (!chain || !path)
		return -EINVAL;
	if ((r = alb_dl_gnutls_load(ctx)) < 0)
		return r;
	r = alb_read_file(ctx, path, ALB_X509_FILE_MAX, &buf, &len);
	if (r < 0)
		return r;
	return chain_add_pem(ctx, chain, buf, len, path);
}

ALB_EXPORT uint32_t alb_x509_chain_get_count(const alb_x509_chain *chain)
{
	return chain ? chain->n : 0;
}

/*
 * The common name: 0 and a copy (NULL when there is none), -EBADMSG for two
 * common names, one over ALB_X509_CN_MAX bytes or with a NUL byte.
 */
static int get_cn(alb_ctx *ctx, gnutls_x509_crt_t crt, gnutls_x509_crq_t crq, char **ret)
{
	char buf[ALB_X509_CN_MAX + 1], extra[ALB_X509_CN_MAX + 1];
	size_t size = sizeof(buf), size2 = sizeof(extra);
	int g, g2;

	if (crt) {
		g = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf,
						  &size);
		g2 = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 1, 0, extra,
						   &size2);
	} else {
		g = gnutls_x509_crq_get_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf,
						  &size);
		g2 = gnutls_x509_crq_get_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 1, 0, extra,
						   &size2);
	}
	if (g == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
		*ret = NULL;
		return 0;
	}
	if (g == GNUTLS_E_SHORT_MEMORY_BUFFER)
		return alb_error(ctx, EBADMSG, "common name longer than %u bytes", ALB_X509_CN_MAX);
	if (g < 0)
		return tls_error(ctx, g, "common name");
	if (g2 != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
		return alb_error(ctx, EBADMSG, "more than one common name");
	if (strlen(buf) != size)
		return alb_error(ctx, EBADMSG, "common name with a NUL byte");
	*ret = strdup(buf);
	return *ret ? 0 : -ENOMEM;
}

ALB_EXPORT char *alb_x509_chain_get_common_name(const alb_x509_chain *chain, uint32_t index)
{
	char *cn = NULL;

	if (!chain || index >= chain->n)
		return NULL;
	if (get_cn(NULL, chain->crts[index], NULL, &cn) < 0)
		return NULL;
	return cn;
}

/* "certificate 2 (CN 'alice')" into buf, the CN made printable and cut short. */
static const char *describe(char buf[static 128], uint32_t index, bool leaf, const char *cn)
{
	char safe[65];
	size_t i;

	for (i = 0; cn && cn[i] && i < sizeof(safe) - 1; i++)
		safe[i] = cn[i] >= 0x20 && cn[i] < 0x7f && cn[i] != '\'' ? cn[i] : '?';
	safe[i] = '\0';
	if (cn)
		snprintf(buf, 128, "certificate %" PRIu32 " (%sCN '%s%s')", index,
			 leaf ? "leaf, " : "", safe, cn[i] ? "..." : "");
	else
		snprintf(buf, 128, "certificate %" PRIu32 " (%sno CN)", index,
			 leaf ? "leaf, " : "");
	return buf;
}

static void lowercase(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

ALB_EXPORT alb_x509_grant *alb_x509_grant_free(alb_x509_grant *grant)
{
	if (!grant)
		return NULL;
	alb_name_free(grant->path);
	alb_msg_free(grant->command);
	for (uint32_t i = 0; i < grant->n_policies; i++) {
		alb_name_free(grant->policy_paths[i]);
		alb_policy_free(grant->policies[i]);
	}
	free(grant);
	return NULL;
}

/* The issuing CA's policy as the anchor's: 0 and *ret (NULL: no bound). */
static int anchor_policy(alb_ctx *ctx, gnutls_x509_crt_t anchor, alb_policy **ret)
{
	_cleanup_(alb_x509_ext_freep) alb_x509_ext *ext = NULL;
	int r;

	r = alb_x509_crt_get_ext(ctx, anchor, &ext);
	if (r == -ENOENT) {
		*ret = NULL;
		return 0;
	}
	if (r < 0)
		return alb_error_prefix(ctx, r, "trust anchor");
	if (ext->kind != ALB_X509_EXT_POLICY)
		return alb_error(ctx, EACCES, "trust anchor: carries a command, not a policy");
	*ret = TAKE_PTR(ext->policy);
	return 0;
}

/* 1 if crt bears the anchor's subject name (and is then a forgery or a copy that
 * has no place below the anchor), else 0. */
static int check_not_anchor(gnutls_x509_crt_t crt, gnutls_x509_crt_t anchor)
{
	gnutls_datum_t a = {0}, b = {0};
	int same = 0;

	if (gnutls_x509_crt_get_raw_dn(crt, &a) >= 0 && gnutls_x509_crt_get_raw_dn(anchor, &b) >= 0)
		same = a.size == b.size && memcmp(a.data, b.data, a.size) == 0;
	gnutls_free(a.data);
	gnutls_free(b.data);
	return same;
}

ALB_EXPORT int alb_x509_chain_evaluate(alb_ctx *ctx, const alb_x509_chain *chain,
				       const alb_x509_chain *anchor, alb_x509_grant **ret_grant)
{
	_cleanup_(alb_x509_grant_freep) alb_x509_grant *grant = NULL;
	_cleanup_(alb_x509_ext_freep) alb_x509_ext *leaf_ext = NULL;
	_cleanup_(alb_policy_freep) alb_policy *top = NULL;
	_cleanup_(alb_name_freep) alb_name *name = NULL;
	_cleanup_free_ char *leaf_cn = NULL;
	const alb_policy *above;
	gnutls_x509_crt_t ta;
	char what[128];
	uint32_t m;
	int r;

	if (!chain || !anchor || !ret_grant || anchor->n == 0)
		return -EINVAL;
	if (chain->n == 0)
		return alb_error(ctx, EBADMSG, "the client sent no certificate");
	ta = anchor->crts[0];
	m = chain->n;
	if (gnutls_x509_crt_equals(chain->crts[m - 1], ta))
		m--;
	if (m == 0)
		return alb_error(ctx, EACCES, "the chain holds the trust anchor alone, no leaf");
	if (m > ALB_X509_CHAIN_MAX)
		return alb_error(ctx, EACCES,
				 "chain of %" PRIu32 " certificates below the trust anchor "
				 "exceeds %u",
				 m, ALB_X509_CHAIN_MAX);
	/*
	 * Every link is checked here, signatures included: what is evaluated must be
	 * exactly a chain from the leaf to the anchor, whatever path the TLS layer
	 * verified. No certificate below the anchor may bear the anchor's name (a
	 * forged "anchor" in the middle of a chain would otherwise split the two).
	 */
	for (uint32_t i = 0; i < m; i++) {
		gnutls_x509_crt_t issuer = i + 1 < m ? chain->crts[i + 1] : ta;
		unsigned status = 0;
		if (i + 1 < m && check_not_anchor(chain->crts[i + 1], ta))
			return alb_error(ctx, EACCES,
					 "certificate %" PRIu32
					 " bears the trust anchor's name but "
					 "is not the trust anchor",
					 i + 1);
		if (!gnutls_x509_crt_check_issuer(chain->crts[i], issuer))
			return alb_error(ctx, EACCES, "certificate %" PRIu32 " is not issued by %s",
					 i, i + 1 < m ? "the next one" : "the trust anchor");
		if (gnutls_x509_crt_verify(chain->crts[i], &issuer, 1, 0, &status) < 0)
			status = GNUTLS_CERT_INVALID;
		if (status & GNUTLS_CERT_UNKNOWN_CRIT_EXTENSIONS) {
			/* Ours marked critical, most likely (in it or its issuer): say so. */
			for (uint32_t k = i; k <= i + 1 && k < m; k++) {
				_cleanup_(alb_x509_ext_freep) alb_x509_ext *e = NULL;
				int q = alb_x509_crt_get_ext(ctx, chain->crts[k], &e);
				if (q == -EBADMSG)
					return alb_error_prefix(ctx, q, "certificate %" PRIu32, k);
			}
			return alb_error(
			    ctx, EBADMSG,
			    "certificate %" PRIu32 " has a critical extension unknown to TLS", i);
		}
		if (status)
			return alb_error(ctx, EACCES,
					 "certificate %" PRIu32
					 " is not signed by %s (its signature "
					 "does not verify)",
					 i, i + 1 < m ? "the next one" : "the trust anchor");
	}

	r = anchor_policy(ctx, ta, &top);
	if (r < 0)
		return r;
	grant = calloc(1, sizeof(*grant));
	if (!grant)
		return -ENOMEM;
	r = alb_name_new_root(&grant->path);
	if (r < 0)
		return r;
	above = top;

	/* The CA certificates, from the one below the anchor down to the leaf's issuer. */
	for (uint32_t i = m - 1; i >= 1; i--) {
		_cleanup_(alb_x509_ext_freep) alb_x509_ext *ext = NULL;
		_cleanup_free_ char *cn = NULL;
		alb_name *path = NULL;
		unsigned critical, ca = 0;
		int pathlen, g;

		r = get_cn(ctx, chain->crts[i], NULL, &cn);
		if (r < 0)
			return alb_error_prefix(ctx, r, "%s", describe(what, i, false, NULL));
		describe(what, i, false, cn);
		if (!cn)
			return alb_error(ctx, EBADMSG, "%s: a CA certificate needs a common name",
					 what);
		if (alb_label_validate(ctx, cn) < 0)
			return alb_error_prefix(ctx, -EBADMSG, "%s", what);
		lowercase(cn);
		g = gnutls_x509_crt_get_basic_constraints(chain->crts[i], &critical, &ca, &pathlen);
		if (g < 0 || !ca)
			return alb_error(ctx, EACCES, "%s: not a CA certificate", what);
		r = alb_x509_crt_get_ext(ctx, chain->crts[i], &ext);
		if (r == -ENOENT)
			return alb_error(ctx, EACCES, "%s: a CA certificate without a policy",
					 what);
		if (r < 0)
			return alb_error_prefix(ctx, r, "%s", what);
		if (ext->kind != ALB_X509_EXT_POLICY)
			return alb_error(ctx, EACCES, "%s: a CA certificate with a command", what);
		if (above) {
			r = alb_policy_is_smaller(ctx, ext->policy, above);
			if (r == -EDQUOT)
				return alb_error_prefix(ctx, -EACCES,
							"%s: policy does not fit inside its "
							"issuer's",
							what);
			if (r < 0)
				return r;
		}
		r = alb_name_append(ctx, grant->path, cn, 1, &path);
		if (r < 0)
			return alb_error_prefix(ctx, r == -EINVAL ? -EBADMSG : r, "%s", what);
		alb_name_free(grant->path);
		grant->path = path;
		r = alb_name_dup(path, &grant->policy_paths[grant->n_policies]);
		if (r < 0)
			return r;
		grant->policies[grant->n_policies++] = TAKE_PTR(ext->policy);
		above = grant->policies[grant->n_policies - 1];
	}

	/* The leaf. */
	r = get_cn(ctx, chain->crts[0], NULL, &leaf_cn);
	if (r < 0)
		return alb_error_prefix(ctx, r, "%s", describe(what, 0, true, NULL));
	describe(what, 0, true, leaf_cn);
	/* A command goes in an end-entity certificate: a CA is a domain's, and its
	 * extension a policy. */
	unsigned leaf_critical, leaf_ca = 0;
	if (gnutls_x509_crt_get_basic_constraints(chain->crts[0], &leaf_critical, &leaf_ca, NULL) >=
		0 &&
	    leaf_ca)
		return alb_error(ctx, EACCES,
				 "%s: is a CA certificate (basic constraints CA:TRUE): a command "
				 "goes in an end-entity certificate",
				 what);
	r = alb_x509_crt_get_ext(ctx, chain->crts[0], &leaf_ext);
	if (r == -ENOENT)
		return alb_error(ctx, EACCES, "%s: carries no command", what);
	if (r < 0)
		return alb_error_prefix(ctx, r, "%s", what);
	if (leaf_ext->kind != ALB_X509_EXT_COMMAND)
		return alb_error(ctx, EACCES, "%s: carries a policy, not a command", what);
	if (!alb_x509_command_allowed(leaf_ext->cmd.kind))
		return alb_error(ctx, EACCES, "%s: %s is not allowed in a certificate", what,
				 alb_command_to_string(leaf_ext->cmd.kind));
	if (!leaf_cn || streq(leaf_cn, ".")) {
		r = alb_name_dup(grant->path, &name);
	} else {
		if (alb_label_validate(ctx, leaf_cn) < 0)
			return alb_error_prefix(ctx, -EBADMSG, "%s", what);
		r = alb_name_append(ctx, grant->path, leaf_cn, 0, &name);
		if (r == -EINVAL)
			return alb_error_prefix(ctx, -EBADMSG, "%s", what);
	}
	if (r < 0)
		return r;
	r = alb_msg_new(&grant->command, ALB_MSG_COMMAND, 0, name);
	if (r < 0)
		return r;
	grant->command->cmd = leaf_ext->cmd;
	leaf_ext->cmd = (struct alb_cmd){0};
	*ret_grant = TAKE_PTR(grant);
	return 0;
}

ALB_EXPORT const alb_name *alb_x509_grant_get_path(const alb_x509_grant *grant)
{
	return grant ? grant->path : NULL;
}

ALB_EXPORT const alb_msg *alb_x509_grant_get_command(const alb_x509_grant *grant)
{
	return grant ? grant->command : NULL;
}

ALB_EXPORT uint32_t alb_x509_grant_get_policy_count(const alb_x509_grant *grant)
{
	return grant ? grant->n_policies : 0;
}

ALB_EXPORT int alb_x509_grant_get_policy(const alb_x509_grant *grant, uint32_t index,
					 const alb_name **ret_path, const alb_policy **ret_policy)
{
	if (!grant || index >= grant->n_policies || !ret_path || !ret_policy)
		return -EINVAL;
	*ret_path = grant->policy_paths[index];
	*ret_policy = grant->policies[index];
	return 0;
}

/* ---- CA operations ----------------------------------------------------------------------- */

static int generate_key(alb_ctx *ctx, int key_type, gnutls_x509_privkey_t *ret)
{
	_cleanup_x509key_ gnutls_x509_privkey_t key = NULL;
	gnutls_pk_algorithm_t pk;
	unsigned bits;
	int g;

	switch (key_type) {
	case 0:
	case ALB_X509_KEY_ED25519:
		pk = GNUTLS_PK_EDDSA_ED25519;
		bits = 256;
		break;
	case ALB_X509_KEY_RSA:
		pk = GNUTLS_PK_RSA;
		bits = 3072;
		break;
	case ALB_X509_KEY_P256:
		pk = GNUTLS_PK_ECDSA;
		bits = GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1);
		break;
	default:
		return alb_error(ctx, EINVAL, "unknown key type %d", key_type);
	}
	g = gnutls_x509_privkey_init(&key);
	if (g < 0)
		return -ENOMEM;
	g = gnutls_x509_privkey_generate2(key, pk, bits, 0, NULL, 0);
	if (g < 0)
		return alb_error(ctx, g == GNUTLS_E_MEMORY_ERROR ? ENOMEM : EIO,
				 "generating a key: %s", gnutls_strerror(g));
	*ret = TAKE_PTR(key);
	return 0;
}

static int write_key(alb_ctx *ctx, gnutls_x509_privkey_t key, const char *path)
{
	_cleanup_datum_ gnutls_datum_t pem = {0};
	int g;

	g = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
					      &pem);
	if (g < 0)
		return tls_error(ctx, g, "exporting a key");
	return alb_atomic_write(ctx, path, pem.data, pem.size, 0600, false);
}

static int read_key(alb_ctx *ctx, const char *path, gnutls_x509_privkey_t *ret)
{
	_cleanup_x509key_ gnutls_x509_privkey_t key = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	gnutls_datum_t d;
	size_t len;
	int r, g;

	r = alb_read_file(ctx, path, ALB_X509_FILE_MAX, &buf, &len);
	if (r < 0)
		return r;
	d = (gnutls_datum_t){buf, (unsigned)len};
	if (gnutls_x509_privkey_init(&key) < 0)
		return -ENOMEM;
	g = gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (g < 0)
		return alb_error(ctx, EBADMSG, "%s: %s", path, gnutls_strerror(g));
	*ret = TAKE_PTR(key);
	return 0;
}

static gnutls_digest_algorithm_t sign_digest(gnutls_x509_privkey_t key)
{
	return gnutls_x509_privkey_get_pk_algorithm(key) == GNUTLS_PK_EDDSA_ED25519
		   ? GNUTLS_DIG_SHA512
		   : GNUTLS_DIG_SHA256;
}

static int sign_crt(alb_ctx *ctx, gnutls_x509_crt_t crt, gnutls_x509_crt_t issuer,
		    gnutls_x509_privkey_t key)
{
	_cleanup_privkey_ gnutls_privkey_t pk = NULL;
	int g;

	if (gnutls_privkey_init(&pk) < 0)
		return -ENOMEM;
	g = gnutls_privkey_import_x509(pk, key, GNUTLS_PRIVKEY_IMPORT_COPY);
	if (g >= 0)
		g = gnutls_x509_crt_privkey_sign(crt, issuer, pk, sign_digest(key), 0);
	return g < 0 ? tls_error(ctx, g, "signing a certificate") : 0;
}

static int write_crts(alb_ctx *ctx, const char *path, gnutls_x509_crt_t first,
		      const alb_x509_chain *rest)
{
	_cleanup_free_ char *out = NULL;
	size_t len = 0;
	FILE *f;
	int g = 0;

	f = open_memstream(&out, &len);
	if (!f)
		return -ENOMEM;
	for (uint32_t i = 0; g >= 0 && i < 1 + (rest ? rest->n : 0); i++) {
		gnutls_x509_crt_t crt = i == 0 ? first : rest->crts[i - 1];
		gnutls_datum_t pem = {0};
		if (i > 0 && gnutls_x509_crt_check_issuer(crt, crt))
			continue; /* self-signed: the trust anchor, which the server has */
		g = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem);
		if (g >= 0)
			fwrite(pem.data, 1, pem.size, f);
		gnutls_free(pem.data);
	}
	if (fclose(f) != 0)
		return -ENOMEM;
	if (g < 0)
		return tls_error(ctx, g, "exporting a certificate");
	return alb_atomic_write(ctx, path, out, len, 0644, false);
}

static int random_serial(alb_ctx *ctx, uint8_t serial[static SERIAL_LEN])
{
	if (gnutls_rnd(GNUTLS_RND_NONCE, serial, SERIAL_LEN) < 0)
		return alb_error(ctx, EIO, "no random bytes for a serial number");
	/* Positive, and minimal in DER: the first byte is 0x40..0x7f. */
	serial[0] = (uint8_t)((serial[0] & 0x3f) | 0x40);
	return 0;
}

static int check_days(alb_ctx *ctx, uint32_t days)
{
	if (days > ALB_X509_DAYS_MAX)
		return alb_error(ctx, EINVAL, "%" PRIu32 " days exceed %u", days,
				 ALB_X509_DAYS_MAX);
	return 0;
}

/*
 * Fills in everything of crt but the subject and its key: version, serial,
 * validity (capped at the issuer's), key identifiers, the constraints of its
 * kind, the extension. issuer NULL: self-signed.
 */
static int fill_crt(alb_ctx *ctx, gnutls_x509_crt_t crt, gnutls_x509_crt_t issuer, int kind,
		    uint32_t days, const alb_x509_ext *ext, const char *host,
		    uint8_t serial[static SERIAL_LEN])
{
	uint8_t id[64];
	size_t id_len = sizeof(id);
	time_t now = time(NULL), expiry;
	int g, r;

	r = random_serial(ctx, serial);
	if (r < 0)
		return r;
	expiry = now + (time_t)days * DAY_SECONDS;
	if (issuer) {
		time_t cap = gnutls_x509_crt_get_expiration_time(issuer);
		if (cap != (time_t)-1 && cap < expiry)
			expiry = cap;
	}
	if ((g = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
	    (g = gnutls_x509_crt_set_serial(crt, serial, SERIAL_LEN)) < 0 ||
	    (g = gnutls_x509_crt_set_activation_time(crt, now - BACKDATE_SECONDS)) < 0 ||
	    (g = gnutls_x509_crt_set_expiration_time(crt, expiry)) < 0 ||
	    (g = gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA1, id, &id_len)) < 0 ||
	    (g = gnutls_x509_crt_set_subject_key_id(crt, id, id_len)) < 0)
		return tls_error(ctx, g, "making a certificate");
	if (issuer) {
		id_len = sizeof(id);
		g = gnutls_x509_crt_get_subject_key_id(issuer, id, &id_len, NULL);
		if (g >= 0 && (g = gnutls_x509_crt_set_authority_key_id(crt, id, id_len)) < 0)
			return tls_error(ctx, g, "making a certificate");
	}
	switch (kind) {
	case ALB_X509_CERT_CA:
		if ((g = gnutls_x509_crt_set_basic_constraints(crt, 1, -1)) < 0 ||
		    (g = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN |
								GNUTLS_KEY_CRL_SIGN)) < 0)
			return tls_error(ctx, g, "making a CA certificate");
		break;
	case ALB_X509_CERT_CLIENT:
		if ((g = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
		    (g = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
		    (g = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0)) < 0)
			return tls_error(ctx, g, "making a client certificate");
		break;
	default: {
		unsigned char ip[16];
		int family = strchr(host, ':') ? AF_INET6 : AF_INET;
		size_t ip_len = family == AF_INET6 ? 16 : 4;
		bool is_ip = inet_pton(family, host, ip) == 1;
		if ((g = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
		    (g = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
		    (g = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) <
			0 ||
		    (g = gnutls_x509_crt_set_subject_alt_name(
			 crt, is_ip ? GNUTLS_SAN_IPADDRESS : GNUTLS_SAN_DNSNAME,
			 is_ip ? (const void *)ip : host,
			 is_ip ? (unsigned)ip_len : (unsigned)strlen(host), GNUTLS_FSAN_SET)) < 0)
			return tls_error(ctx, g, "making a server certificate");
		break;
	}
	}
	if (ext)
		return alb_x509_crt_set_ext(ctx, crt, ext);
	return 0;
}

/* A host name: 1 to 253 of [a-zA-Z0-9.-], or an IPv6 address. */
static int validate_host(alb_ctx *ctx, const char *host)
{
	size_t n = strlen(host);
	unsigned char ip[16];

	if (inet_pton(AF_INET6, host, ip) == 1)
		return 0;
	if (n == 0 || n > HOST_NAME_MAX_LEN || host[0] == '-' || host[0] == '.')
		return alb_error(ctx, EINVAL, "invalid server name");
	for (size_t i = 0; i < n; i++)
		if (!(host[i] >= 'a' && host[i] <= 'z') && !(host[i] >= 'A' && host[i] <= 'Z') &&
		    !(host[i] >= '0' && host[i] <= '9') && host[i] != '.' && host[i] != '-')
			return alb_error(ctx, EINVAL, "invalid server name: character %zu", i);
	return 0;
}

ALB_EXPORT int alb_x509_ca_generate(alb_ctx *ctx, const char *common_name, const alb_policy *policy,
				    int key_type, uint32_t days, const char *cert_path,
				    const char *key_path)
{
	_cleanup_(alb_x509_ext_freep) alb_x509_ext *ext = NULL;
	_cleanup_x509key_ gnutls_x509_privkey_t key = NULL;
	_cleanup_crt_ gnutls_x509_crt_t crt = NULL;
	uint8_t serial[SERIAL_LEN];
	int r, g;

	if (!common_name || !cert_path || !key_path)
		return -EINVAL;
	if ((r = alb_dl_gnutls_load(ctx)) < 0)
		return r;
	if ((r = alb_label_validate(ctx, common_name)) < 0 || (r = check_days(ctx, days)) < 0)
		return r;
	if (policy && (r = alb_x509_ext_new_policy(policy, &ext)) < 0)
		return r;
	r = generate_key(ctx, key_type, &key);
	if (r < 0)
		return r;
	if (gnutls_x509_crt_init(&crt) < 0)
		return -ENOMEM;
	if ((g = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, common_name,
					       strlen(common_name))) < 0 ||
	    (g = gnutls_x509_crt_set_key(crt, key)) < 0)
		return tls_error(ctx, g, "making a CA certificate");
	r = fill_crt(ctx, crt, NULL, ALB_X509_CERT_CA, days ? days : DEFAULT_DAYS_CA, ext, NULL,
		     serial);
	if (r < 0)
		return r;
	if ((r = sign_crt(ctx, crt, crt, key)) < 0 || (r = write_key(ctx, key, key_path)) < 0)
		return r;
	return write_crts(ctx, cert_path, crt, NULL);
}

static int make_crq(alb_ctx *ctx, const char *common_name, const alb_x509_ext *ext,
		    gnutls_x509_privkey_t key, gnutls_x509_crq_t *ret)
{
	_cleanup_crq_ gnutls_x509_crq_t crq = NULL;
	_cleanup_privkey_ gnutls_privkey_t pk = NULL;
	int r, g;

	if (gnutls_x509_crq_init(&crq) < 0 || gnutls_privkey_init(&pk) < 0)
		return -ENOMEM;
	if ((g = gnutls_x509_crq_set_version(crq, 1)) < 0 ||
	    (g = gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, common_name,
					       strlen(common_name))) < 0 ||
	    (g = gnutls_x509_crq_set_key(crq, key)) < 0)
		return tls_error(ctx, g, "making a request");
	if (ext && (r = alb_x509_crq_set_ext(ctx, crq, ext)) < 0)
		return r;
	if ((g = gnutls_privkey_import_x509(pk, key, GNUTLS_PRIVKEY_IMPORT_COPY)) < 0 ||
	    (g = gnutls_x509_crq_privkey_sign(crq, pk, sign_digest(key), 0)) < 0)
		return tls_error(ctx, g, "signing a request");
	*ret = TAKE_PTR(crq);
	return 0;
}

/* A request's common name: a label, "." for a command, or a host name. */
static int validate_request_cn(alb_ctx *ctx, const char *cn, const alb_x509_ext *ext)
{
	if (!ext)
		return validate_host(ctx, cn);
	if (ext->kind == ALB_X509_EXT_COMMAND && streq(cn, "."))
		return 0;
	return alb_label_validate(ctx, cn);
}

ALB_EXPORT int alb_x509_csr_generate(alb_ctx *ctx, const char *common_name, const alb_x509_ext *ext,
				     int key_type, const char *req_path, const char *key_path)
{
	_cleanup_x509key_ gnutls_x509_privkey_t key = NULL;
	_cleanup_crq_ gnutls_x509_crq_t crq = NULL;
	_cleanup_datum_ gnutls_datum_t pem = {0};
	int r, g;

	if (!common_name || !req_path || !key_path)
		return -EINVAL;
	if ((r = alb_dl_gnutls_load(ctx)) < 0)
		return r;
	r = validate_request_cn(ctx, common_name, ext);
	if (r < 0)
		return r;
	if ((r = generate_key(ctx, key_type, &key)) < 0 ||
	    (r = make_crq(ctx, common_name, ext, key, &crq)) < 0)
		return r;
	g = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, &pem);
	if (g < 0)
		return tls_error(ctx, g, "exporting a request");
	if ((r = write_key(ctx, key, key_path)) < 0)
		return r;
	return alb_atomic_write(ctx, req_path, pem.data, pem.size, 0644, false);
}

/* An issuing CA: its chain (the CA first), its key and its policy (NULL: none). */
struct issuer {
	alb_x509_chain *chain;
	gnutls_x509_privkey_t key;
	alb_policy *policy;
};

static void issuer_clear(struct issuer *is)
{
	alb_x509_chain_free(is->chain);
	if (is->key)
		gnutls_x509_privkey_deinit(is->key);
	alb_policy_free(is->policy);
}

static int issuer_load(alb_ctx *ctx, const char *cert_path, const char *key_path, struct issuer *is)
{
	uint8_t id1[64], id2[64];
	size_t n1 = sizeof(id1), n2 = sizeof(id2);
	unsigned critical, ca = 0;
	int pathlen, r, g;

	if ((r = alb_x509_chain_new(&is->chain)) < 0 ||
	    (r = alb_x509_chain_read_file(ctx, is->chain, cert_path)) < 0 ||
	    (r = read_key(ctx, key_path, &is->key)) < 0)
		return r;
	g = gnutls_x509_crt_get_basic_constraints(is->chain->crts[0], &critical, &ca, &pathlen);
	if (g < 0 || !ca)
		return alb_error(ctx, EINVAL, "%s: not a CA certificate", cert_path);
	if (gnutls_x509_crt_get_key_id(is->chain->crts[0], GNUTLS_KEYID_USE_SHA256, id1, &n1) < 0 ||
	    gnutls_x509_privkey_get_key_id(is->key, GNUTLS_KEYID_USE_SHA256, id2, &n2) < 0 ||
	    n1 != n2 || memcmp(id1, id2, n1) != 0)
		return alb_error(ctx, EINVAL, "%s does not belong to the certificate of %s",
				 key_path, cert_path);
	r = anchor_policy(ctx, is->chain->crts[0], &is->policy);
	return r < 0 ? alb_error_prefix(ctx, r == -EACCES ? -EINVAL : r, "%s", cert_path) : 0;
}

static int db_append(alb_ctx *ctx, const char *db_path, const uint8_t *serial, const char *cn)
{
	_cleanup_close_ int fd = -1;
	char line[2 * SERIAL_LEN + ALB_X509_CN_MAX + 3];
	int n = 0, r;

	for (size_t i = 0; i < SERIAL_LEN; i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%02x", serial[i]);
	n += snprintf(line + n, sizeof(line) - (size_t)n, " %s\n", cn);
	fd = open(db_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd < 0)
		return alb_error(ctx, errno, "%s: %m", db_path);
	r = alb_write_full(fd, line, (size_t)n);
	if (r < 0)
		return alb_error(ctx, -r, "%s: %s", db_path, strerror(-r));
	if (fsync(fd) < 0)
		return alb_error(ctx, errno, "%s: %m", db_path);
	return 0;
}

/* Issues a certificate for crq with the issuer; the kind issued or -errno. */
static int issue(alb_ctx *ctx, struct issuer *is, gnutls_x509_crq_t crq, uint32_t days,
		 const char *db_path, const char *out_path)
{
	_cleanup_(alb_x509_ext_freep) alb_x509_ext *ext = NULL;
	_cleanup_crt_ gnutls_x509_crt_t crt = NULL;
	_cleanup_free_ char *cn = NULL;
	uint8_t serial[SERIAL_LEN];
	int kind, r, g;

	if ((r = check_days(ctx, days)) < 0)
		return r;
	g = gnutls_x509_crq_verify(crq, 0);
	if (g < 0)
		return alb_error(ctx, EBADMSG, "the request's signature does not verify: %s",
				 gnutls_strerror(g));
	r = get_cn(ctx, NULL, crq, &cn);
	if (r < 0)
		return alb_error_prefix(ctx, r, "request");
	if (!cn)
		return alb_error(ctx, EBADMSG, "request: no common name");
	r = alb_x509_crq_get_ext(ctx, crq, &ext);
	if (r < 0 && r != -ENOENT)
		return alb_error_prefix(ctx, r, "request");
	r = validate_request_cn(ctx, cn, ext);
	if (r < 0)
		return alb_error_prefix(ctx, -EBADMSG, "request");
	if (!ext) {
		kind = ALB_X509_CERT_SERVER;
	} else if (ext->kind == ALB_X509_EXT_POLICY) {
		kind = ALB_X509_CERT_CA;
		lowercase(cn);
		if (is->policy) {
			r = alb_policy_is_smaller(ctx, ext->policy, is->policy);
			if (r == -EDQUOT)
				return alb_error_prefix(ctx, -EACCES,
							"request '%s': policy does not fit inside "
							"the CA's",
							cn);
			if (r < 0)
				return r;
		}
	} else {
		kind = ALB_X509_CERT_CLIENT;
		lowercase(cn);
		if (!alb_x509_command_allowed(ext->cmd.kind))
			return alb_error(ctx, EACCES,
					 "request '%s': %s is not allowed in a certificate", cn,
					 alb_command_to_string(ext->cmd.kind));
		r = alb_x509_command_fits(ctx, &ext->cmd, is->policy);
		if (r < 0)
			return alb_error_prefix(ctx, r, "request '%s'", cn);
	}
	if (!days)
		days = kind == ALB_X509_CERT_CLIENT ? DEFAULT_DAYS_CLIENT : DEFAULT_DAYS_ISSUED;

	if (gnutls_x509_crt_init(&crt) < 0)
		return -ENOMEM;
	/* The subject and the key; of the request's extensions only ours is taken. */
	if ((g = gnutls_x509_crt_set_crq(crt, crq)) < 0)
		return tls_error(ctx, g, "request");
	r = fill_crt(ctx, crt, is->chain->crts[0], kind, days, ext, cn, serial);
	if (r < 0)
		return r;
	if ((r = sign_crt(ctx, crt, is->chain->crts[0], is->key)) < 0 ||
	    (r = write_crts(ctx, out_path, crt, is->chain)) < 0)
		return r;
	if (db_path && (r = db_append(ctx, db_path, serial, cn)) < 0)
		return r;
	return kind;
}

ALB_EXPORT int alb_x509_csr_sign(alb_ctx *ctx, const char *ca_cert_path, const char *ca_key_path,
				 const char *req_path, uint32_t days, const char *db_path,
				 const char *out_path)
{
	_cleanup_(issuer_clear) struct issuer is = {0};
	_cleanup_crq_ gnutls_x509_crq_t crq = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	gnutls_datum_t d;
	size_t len;
	int r, g;

	if (!ca_cert_path || !ca_key_path || !req_path || !out_path)
		return -EINVAL;
	if ((r = alb_dl_gnutls_load(ctx)) < 0)
		return r;
	r = issuer_load(ctx, ca_cert_path, ca_key_path, &is);
	if (r < 0)
		return r;
	r = alb_read_file(ctx, req_path, ALB_X509_FILE_MAX, &buf, &len);
	if (r < 0)
		return r;
	d = (gnutls_datum_t){buf, (unsigned)len};
	if (gnutls_x509_crq_init(&crq) < 0)
		return -ENOMEM;
	g = gnutls_x509_crq_import(crq, &d, GNUTLS_X509_FMT_PEM);
	if (g < 0)
		return alb_error(ctx, EBADMSG, "%s: %s", req_path, gnutls_strerror(g));
	return issue(ctx, &is, crq, days, db_path, out_path);
}

ALB_EXPORT int alb_x509_server_generate(alb_ctx *ctx, const char *ca_cert_path,
					const char *ca_key_path, const char *host_name,
					int key_type, uint32_t days, const char *db_path,
					const char *cert_path, const char *key_path)
{
	_cleanup_(issuer_clear) struct issuer is = {0};
	_cleanup_x509key_ gnutls_x509_privkey_t key = NULL;
	_cleanup_crq_ gnutls_x509_crq_t crq = NULL;
	int r;

	if (!ca_cert_path || !ca_key_path || !host_name || !cert_path || !key_path)
		return -EINVAL;
	if ((r = alb_dl_gnutls_load(ctx)) < 0)
		return r;
	if ((r = validate_host(ctx, host_name)) < 0 ||
	    (r = issuer_load(ctx, ca_cert_path, ca_key_path, &is)) < 0 ||
	    (r = generate_key(ctx, key_type, &key)) < 0 ||
	    (r = make_crq(ctx, host_name, NULL, key, &crq)) < 0)
		return r;
	r = issue(ctx, &is, crq, days, db_path, cert_path);
	if (r < 0)
		return r;
	return write_key(ctx, key, key_path);
}

/* ---- revocation -------------------------------------------------------------------------- */

struct serial {
	uint8_t bytes[SERIAL_MAX];
	size_t len;
	time_t when;
};

/* Strips leading zero bytes (keeping one) so that equal numbers compare equal. */
static void serial_normalise(struct serial *s)
{
	size_t z = 0;
	while (z + 1 < s->len && s->bytes[z] == 0)
		z++;
	memmove(s->bytes, s->bytes + z, s->len - z);
	s->len -= z;
}

static int serial_parse(alb_ctx *ctx, const char *hex, struct serial *s)
{
	size_t n = strlen(hex), odd = n % 2;

	if (n == 0 || n > 2 * SERIAL_MAX)
		return alb_error(ctx, EINVAL, "serial '%.*s': 1 to %u hex digits", 48, hex,
				 2 * SERIAL_MAX);
	s->len = (n + 1) / 2;
	memset(s->bytes, 0, sizeof(s->bytes));
	for (size_t i = 0; i < n; i++) {
		char c = hex[i];
		int v = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;
		if (v < 0)
			return alb_error(ctx, EINVAL, "serial '%.*s': not hexadecimal", 48, hex);
		size_t pos = (i + odd) / 2;
		s->bytes[pos] = (uint8_t)(s->bytes[pos] | (((i + odd) % 2) ? v : v << 4));
	}
	serial_normalise(s);
	return 0;
}

static bool serial_in(const struct serial *list, size_t n, const struct serial *s)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].len == s->len && memcmp(list[i].bytes, s->bytes, s->len) == 0)
			return true;
	return false;
}

ALB_EXPORT int alb_x509_crl_revoke(alb_ctx *ctx, const char *ca_cert_path, const char *ca_key_path,
				   const char *crl_path, const char *const *serials,
				   uint32_t n_serials, uint32_t days)
{
	_cleanup_(issuer_clear) struct issuer is = {0};
	_cleanup_crl_ gnutls_x509_crl_t old = NULL, crl = NULL;
	_cleanup_privkey_ gnutls_privkey_t pk = NULL;
	_cleanup_datum_ gnutls_datum_t pem = {0};
	_cleanup_free_ struct serial *list = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	uint8_t id[64], number[SERIAL_MAX] = {0};
	size_t id_len = sizeof(id), number_len = 1, n = 0, old_n = 0, len;
	time_t now = time(NULL);
	int r, g;

	if (!ca_cert_path || !ca_key_path || !crl_path || (!serials && n_serials > 0))
		return -EINVAL;
	if ((r = alb_dl_gnutls_load(ctx)) < 0)
		return r;
	if (n_serials > ALB_X509_REVOKE_MAX)
		return alb_error(ctx, EINVAL, "more than %u serials", ALB_X509_REVOKE_MAX);
	if ((r = check_days(ctx, days)) < 0)
		return r;
	r = issuer_load(ctx, ca_cert_path, ca_key_path, &is);
	if (r < 0)
		return r;

	r = alb_read_file(ctx, crl_path, ALB_X509_FILE_MAX, &buf, &len);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r >= 0) {
		gnutls_datum_t d = {buf, (unsigned)len};
		unsigned status = 0;
		if (gnutls_x509_crl_init(&old) < 0)
			return -ENOMEM;
		g = gnutls_x509_crl_import(old, &d, GNUTLS_X509_FMT_PEM);
		if (g < 0)
			return alb_error(ctx, EBADMSG, "%s: %s", crl_path, gnutls_strerror(g));
		g = gnutls_x509_crl_verify(old, &is.chain->crts[0], 1, 0, &status);
		if (g < 0 || status != 0)
			return alb_error(ctx, EBADMSG, "%s: not a CRL of %s", crl_path,
					 ca_cert_path);
		g = gnutls_x509_crl_get_crt_count(old);
		if (g < 0 || (unsigned)g > CRL_ENTRIES_MAX)
			return alb_error(ctx, EBADMSG, "%s: too many entries", crl_path);
		old_n = (size_t)g;
		number_len = sizeof(number);
		g = gnutls_x509_crl_get_number(old, number, &number_len, NULL);
		if (g < 0 || number_len > 8) {
			memset(number, 0, sizeof(number));
			number_len = 1;
		}
	}
	list = calloc(old_n + n_serials, sizeof(*list));
	if (!list)
		return -ENOMEM;
	for (size_t i = 0; i < old_n; i++) {
		struct serial s = {.len = sizeof(s.bytes)};
		g = gnutls_x509_crl_get_crt_serial(old, (unsigned)i, s.bytes, &s.len, &s.when);
		if (g < 0)
			return alb_error(ctx, EBADMSG, "%s: %s", crl_path, gnutls_strerror(g));
		serial_normalise(&s);
		if (!serial_in(list, n, &s))
			list[n++] = s;
	}
	for (uint32_t i = 0; i < n_serials; i++) {
		struct serial s = {.when = now};
		if (!serials[i])
			return -EINVAL;
		r = serial_parse(ctx, serials[i], &s);
		if (r < 0)
			return r;
		if (!serial_in(list, n, &s))
			list[n++] = s;
	}

	/* The CRL number, incremented. */
	uint64_t num = 0;
	for (size_t i = 0; i < number_len; i++)
		num = num << 8 | number[i];
	num++;
	number_len = 0;
	for (int shift = 56; shift >= 0; shift -= 8)
		if ((num >> shift) || number_len)
			number[number_len++] = (uint8_t)(num >> shift);
	if (number[0] & 0x80) {
		memmove(number + 1, number, number_len++);
		number[0] = 0;
	}

	if (gnutls_x509_crl_init(&crl) < 0 || gnutls_privkey_init(&pk) < 0)
		return -ENOMEM;
	if ((g = gnutls_x509_crl_set_version(crl, 2)) < 0 ||
	    (g = gnutls_x509_crl_set_this_update(crl, now)) < 0 ||
	    (g = gnutls_x509_crl_set_next_update(
		 crl, now + (time_t)(days ? days : DEFAULT_DAYS_CRL) * DAY_SECONDS)) < 0 ||
	    (g = gnutls_x509_crl_set_number(crl, number, number_len)) < 0)
		return tls_error(ctx, g, "making a CRL");
	for (size_t i = 0; i < n; i++)
		if ((g = gnutls_x509_crl_set_crt_serial(crl, list[i].bytes, list[i].len,
							list[i].when)) < 0)
			return tls_error(ctx, g, "making a CRL");
	if (gnutls_x509_crt_get_subject_key_id(is.chain->crts[0], id, &id_len, NULL) >= 0 &&
	    (g = gnutls_x509_crl_set_authority_key_id(crl, id, id_len)) < 0)
		return tls_error(ctx, g, "making a CRL");
	if ((g = gnutls_privkey_import_x509(pk, is.key, GNUTLS_PRIVKEY_IMPORT_COPY)) < 0 ||
	    (g = gnutls_x509_crl_privkey_sign(crl, is.chain->crts[0], pk, sign_digest(is.key), 0)) <
		0)
		return tls_error(ctx, g, "signing a CRL");
	g = gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_PEM, &pem);
	if (g < 0)
		return tls_error(ctx, g, "exporting a CRL");
	return alb_atomic_write(ctx, crl_path, pem.data, pem.size, 0644, false);
}
