/* SPDX-License-Identifier: ISC */
/**
 * @file x509.h
 * @brief Remote management with X.509: the policy/command extension, chain
 * evaluation and the operations of a certificate authority (docs/x509.md).
 *
 * A CA certificate below the trust anchor carries a policy, a client (leaf)
 * certificate a command, both in one non-critical extension (ALB_X509_OID)
 * whose value is a CBOR map encoded with the wire module's codecs. A chain
 * (leaf first, already verified against the trust anchor by the TLS layer)
 * evaluates to a grant: the administrative path (the common names of the CA
 * certificates below the anchor), the policies along it, and the command
 * with the name it applies to (the path, plus the leaf's common name unless
 * that is "." or absent).
 *
 * Errors: -EACCES when a certificate is well formed but does not allow what
 * it asks for, -EBADMSG when it is malformed, -EINVAL for bad arguments; the
 * reason, naming the certificate by position (0 is the leaf) and common
 * name, in alb_ctx_last_error().
 *
 * Files are PEM. Private keys are written with mode 0600, every file
 * atomically (a temporary file renamed over the target).
 */
#ifndef ALBATROSS_X509_H
#define ALBATROSS_X509_H

#include <stdint.h>

#include <albatross/ctx.h>
#include <albatross/name.h>
#include <albatross/policy.h>
#include <albatross/wire.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The extension's OID: 2.25 (ITU-T X.667) and the UUID
 * 00000000-0000-0000-1c73-fc0b5745e08f as a decimal integer. The UUID is
 * below 2^63 because libtasn1, under GnuTLS, cannot parse larger OID arcs
 * (docs/x509.md).
 */
#define ALB_X509_OID "2.25.2050259381022744719"
/** The UUID of ALB_X509_OID in its usual form. */
#define ALB_X509_UUID "00000000-0000-0000-1c73-fc0b5745e08f"
/** The version inside the extension's value. */
#define ALB_X509_VERSION 1u
/** Largest extension value, in bytes. */
#define ALB_X509_EXTENSION_MAX 65536u
/** Most certificates in a client chain, the leaf included, the trust anchor not. */
#define ALB_X509_CHAIN_MAX 9u
/** Most days of validity of an issued certificate. */
#define ALB_X509_DAYS_MAX 36500u
/** Most serials revoked in one call. */
#define ALB_X509_REVOKE_MAX 4096u

/** What an extension carries. */
enum alb_x509_ext_kind { ALB_X509_EXT_POLICY = 1, ALB_X509_EXT_COMMAND = 2 };

/** Key types of generated keys. */
enum alb_x509_key_type {
	ALB_X509_KEY_ED25519 = 1, /**< the default */
	ALB_X509_KEY_RSA = 2,	  /**< RSA with 3072 bits */
	ALB_X509_KEY_P256 = 3,	  /**< ECDSA on NIST P-256 */
};

/** What alb_x509_csr_sign() issued. */
enum alb_x509_cert_kind {
	ALB_X509_CERT_CA = 1,	  /**< an intermediate CA, from a request with a policy */
	ALB_X509_CERT_CLIENT = 2, /**< a short-lived leaf, from a request with a command */
	ALB_X509_CERT_SERVER = 3, /**< a server certificate, from a request without the extension */
};

/** Opaque decoded extension value; an owned value. */
typedef struct alb_x509_ext alb_x509_ext;
/** Opaque list of certificates, leaf first; an owned value. */
typedef struct alb_x509_chain alb_x509_chain;
/** Opaque result of alb_x509_chain_evaluate(); an owned value. */
typedef struct alb_x509_grant alb_x509_grant;

/**
 * Parses "ed25519", "rsa" or "p256".
 * @return the enum alb_x509_key_type, or -EINVAL (reason in @p ctx, which may be NULL).
 */
int alb_x509_key_type_from_string(alb_ctx *ctx, const char *string);

/** Makes an extension carrying a copy of @p policy. @return 0, -EINVAL, -ENOMEM. */
int alb_x509_ext_new_policy(const alb_policy *policy, alb_x509_ext **ret_ext);

/**
 * Makes an extension carrying a copy of the command of @p command (a message
 * of kind ALB_MSG_COMMAND; its header is not carried: the name comes from the
 * certificate's common name).
 * @return 0, -EINVAL (not a command, or one that would not decode), -ENOMEM.
 */
int alb_x509_ext_new_command(alb_ctx *ctx, const alb_msg *command, alb_x509_ext **ret_ext);

/** Frees an extension. Accepts NULL. @return NULL. */
alb_x509_ext *alb_x509_ext_free(alb_x509_ext *ext);

/**
 * Decodes an extension value (the contents of the extnValue OCTET STRING:
 * a DER OCTET STRING holding one CBOR map). Strict, as the wire decoder.
 * @return 0, -EBADMSG, -EPROTO (another version), -ENOMEM.
 */
int alb_x509_ext_decode(alb_ctx *ctx, const uint8_t *buf, uint64_t len, alb_x509_ext **ret_ext);

/**
 * Encodes an extension value as alb_x509_ext_decode() reads it.
 * @param ret_buf freed with alb_free().
 * @return 0, -EINVAL, -ENOMEM.
 */
int alb_x509_ext_encode(alb_ctx *ctx, const alb_x509_ext *ext, uint8_t **ret_buf,
			uint64_t *ret_len);

/** @return the enum alb_x509_ext_kind, or -EINVAL for NULL. */
int alb_x509_ext_get_kind(const alb_x509_ext *ext);
/** @return the policy, borrowed from @p ext; NULL if it carries a command. */
const alb_policy *alb_x509_ext_get_policy(const alb_x509_ext *ext);
/** @return the command (enum alb_command), or -ENOENT if it carries a policy. */
int alb_x509_ext_get_command(const alb_x509_ext *ext);

/** Makes an empty chain. @return 0, -ENOMEM. */
int alb_x509_chain_new(alb_x509_chain **ret_chain);
/** Frees a chain. Accepts NULL. @return NULL. */
alb_x509_chain *alb_x509_chain_free(alb_x509_chain *chain);
/**
 * Appends one DER certificate.
 * @return 0, -EBADMSG (not a certificate), -E2BIG (past 16 certificates), -ENOMEM.
 */
int alb_x509_chain_add_der(alb_ctx *ctx, alb_x509_chain *chain, const uint8_t *der, uint64_t len);
/**
 * Appends every certificate of a PEM file, in its order.
 * @return 0, -ENOENT, -EBADMSG (no certificate), -E2BIG, -ENOMEM, -errno.
 */
int alb_x509_chain_read_file(alb_ctx *ctx, alb_x509_chain *chain, const char *path);
/** @return the number of certificates. */
uint32_t alb_x509_chain_get_count(const alb_x509_chain *chain);
/**
 * The common name of certificate @p index.
 * @return a string freed with alb_free(), or NULL (none, out of range, no memory).
 */
char *alb_x509_chain_get_common_name(const alb_x509_chain *chain, uint32_t index);

/**
 * Evaluates a client chain that the caller has verified against @p anchor
 * (the first certificate of that chain; more are ignored). @p chain is the
 * leaf followed by the CA certificates up to the anchor; the anchor itself at
 * its end is allowed and skipped. Each certificate must be issued by the next
 * (the last by the anchor): the names match and the signature verifies; no
 * certificate but that trailing copy may bear the anchor's name. (Validity
 * times and CRLs are the TLS verifier's job.) The anchor's policy, if
 * it has one, bounds the first CA below it; without one it places no bound.
 * Every CA certificate below the anchor must be a CA with a valid label as
 * common name and a policy that fits inside the one above; the leaf must
 * carry a command that is not policy-add, policy-remove or a daemon-to-daemon
 * message; its common name is a label, or "." for the path itself.
 * @param ret_grant freed with alb_x509_grant_free().
 * @return 0, -EACCES, -EBADMSG, -EINVAL, -ENOMEM.
 */
int alb_x509_chain_evaluate(alb_ctx *ctx, const alb_x509_chain *chain, const alb_x509_chain *anchor,
			    alb_x509_grant **ret_grant);

/** Frees a grant. Accepts NULL. @return NULL. */
alb_x509_grant *alb_x509_grant_free(alb_x509_grant *grant);
/** @return the administrative path (":" for a leaf issued by the anchor), borrowed. */
const alb_name *alb_x509_grant_get_path(const alb_x509_grant *grant);
/**
 * @return the command message to run, borrowed: kind ALB_MSG_COMMAND, sequence
 * number 0, its name the path plus the leaf's label (or the path).
 */
const alb_msg *alb_x509_grant_get_command(const alb_x509_grant *grant);
/** @return the number of policies: one per label of the path. */
uint32_t alb_x509_grant_get_policy_count(const alb_x509_grant *grant);
/**
 * The policy at @p index (0 nearest the root) and the path it applies to,
 * both borrowed. @return 0, or -EINVAL out of range.
 */
int alb_x509_grant_get_policy(const alb_x509_grant *grant, uint32_t index,
			      const alb_name **ret_path, const alb_policy **ret_policy);

/**
 * Generates a self-signed CA certificate and its key. @p policy NULL: no
 * extension (no bound below the anchor but the server's own); otherwise the
 * policy extension. @p days 0: 3650.
 * @return 0, -EINVAL (invalid label, days), -errno of writing.
 */
int alb_x509_ca_generate(alb_ctx *ctx, const char *common_name, const alb_policy *policy,
			 int key_type, uint32_t days, const char *cert_path, const char *key_path);

/**
 * Writes a new key to @p key_path and a certificate signing request for it to
 * @p req_path: the common name @p common_name (a label, or "." for a command
 * on a path; a host name for a server request) and @p ext (NULL: a server
 * request, without the extension).
 * @return 0, -EINVAL, -ENOMEM, -errno of writing.
 */
int alb_x509_csr_generate(alb_ctx *ctx, const char *common_name, const alb_x509_ext *ext,
			  int key_type, const char *req_path, const char *key_path);

/**
 * Signs the request @p req_path with the CA of @p ca_cert_path (its first
 * certificate; the others are its chain) and @p ca_key_path, and writes the
 * certificate followed by the CA's chain without self-signed certificates
 * to @p out_path. A request with a policy becomes a CA certificate after
 * checking the policy fits inside the CA's; one with a command a client
 * certificate (refused for policy-add, policy-remove and daemon-to-daemon
 * commands; a create must fit inside the CA's policy); one without the
 * extension a server certificate. The serial is 16 random bytes. Appends
 * "SERIAL-HEX COMMON-NAME" to @p db_path unless NULL. @p days 0: 1 for a
 * client, 365 otherwise; never beyond the CA's own expiry.
 * @return the enum alb_x509_cert_kind issued, -EACCES (does not fit),
 * -EBADMSG (malformed request), -EINVAL, -ENOENT, -errno.
 */
int alb_x509_csr_sign(alb_ctx *ctx, const char *ca_cert_path, const char *ca_key_path,
		      const char *req_path, uint32_t days, const char *db_path,
		      const char *out_path);

/**
 * Issues a server certificate for @p host_name (a DNS name or an IP address,
 * also its subjectAltName) directly, with a new key; as generating a request
 * and signing it.
 * @return 0, -EINVAL, -errno.
 */
int alb_x509_server_generate(alb_ctx *ctx, const char *ca_cert_path, const char *ca_key_path,
			     const char *host_name, int key_type, uint32_t days,
			     const char *db_path, const char *cert_path, const char *key_path);

/**
 * Writes the CRL @p crl_path, signed by the CA, revoking @p serials (hex
 * strings, e.g. as in the db file, 1 to 20 bytes) in addition to the serials
 * of the CRL already there (which must be this CA's). The next update is in
 * @p days days (0: 30).
 * @return 0, -EINVAL, -EBADMSG (the CRL there is not one, or of another CA), -errno.
 */
int alb_x509_crl_revoke(alb_ctx *ctx, const char *ca_cert_path, const char *ca_key_path,
			const char *crl_path, const char *const *serials, uint32_t n_serials,
			uint32_t days);

#ifdef __cplusplus
}
#endif

#endif
