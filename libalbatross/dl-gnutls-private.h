/* SPDX-License-Identifier: ISC */
/*
 * GnuTLS (libgnutls.so.30), loaded on demand (dl-private.h explains the pattern). Include this
 * header instead of the library's own, before any other that includes them. To use
 * another symbol, add it to the list of its library and to the #defines below (the
 * build fails until both are there).
 */
#pragma once

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include <albatross/ctx.h>

#include "dl-private.h"

/* libgnutls.so.30 */
#define ALB_DL_GNUTLS_SYMBOLS(X)                                                                   \
	X(gnutls_alert_get)                                                                        \
	X(gnutls_alert_get_name)                                                                   \
	X(gnutls_alert_send_appropriate)                                                           \
	X(gnutls_bye)                                                                              \
	X(gnutls_certificate_allocate_credentials)                                                 \
	X(gnutls_certificate_free_credentials)                                                     \
	X(gnutls_certificate_get_peers)                                                            \
	X(gnutls_certificate_send_x509_rdn_sequence)                                               \
	X(gnutls_certificate_server_set_request)                                                   \
	X(gnutls_certificate_set_x509_crl_file)                                                    \
	X(gnutls_certificate_set_x509_key_file2)                                                   \
	X(gnutls_certificate_set_x509_key_mem2)                                                    \
	X(gnutls_certificate_set_x509_trust)                                                       \
	X(gnutls_certificate_set_x509_trust_file)                                                  \
	X(gnutls_certificate_verification_status_print)                                            \
	X(gnutls_certificate_verify_peers2)                                                        \
	X(gnutls_credentials_set)                                                                  \
	X(gnutls_deinit)                                                                           \
	X(gnutls_error_is_fatal)                                                                   \
	X(gnutls_free)                                                                             \
	X(gnutls_handshake)                                                                        \
	X(gnutls_handshake_set_timeout)                                                            \
	X(gnutls_init)                                                                             \
	X(gnutls_priority_deinit)                                                                  \
	X(gnutls_priority_init)                                                                    \
	X(gnutls_priority_set)                                                                     \
	X(gnutls_priority_set_direct)                                                              \
	X(gnutls_privkey_deinit)                                                                   \
	X(gnutls_privkey_import_x509)                                                              \
	X(gnutls_privkey_init)                                                                     \
	X(gnutls_record_check_pending)                                                             \
	X(gnutls_record_recv)                                                                      \
	X(gnutls_record_send)                                                                      \
	X(gnutls_record_set_timeout)                                                               \
	X(gnutls_rnd)                                                                              \
	X(gnutls_server_name_set)                                                                  \
	X(gnutls_session_get_verify_cert_status)                                                   \
	X(gnutls_session_set_verify_cert)                                                          \
	X(gnutls_strerror)                                                                         \
	X(gnutls_transport_set_int2)                                                               \
	X(gnutls_x509_crl_deinit)                                                                  \
	X(gnutls_x509_crl_export2)                                                                 \
	X(gnutls_x509_crl_get_crt_count)                                                           \
	X(gnutls_x509_crl_get_crt_serial)                                                          \
	X(gnutls_x509_crl_get_number)                                                              \
	X(gnutls_x509_crl_import)                                                                  \
	X(gnutls_x509_crl_init)                                                                    \
	X(gnutls_x509_crl_privkey_sign)                                                            \
	X(gnutls_x509_crl_set_authority_key_id)                                                    \
	X(gnutls_x509_crl_set_crt_serial)                                                          \
	X(gnutls_x509_crl_set_next_update)                                                         \
	X(gnutls_x509_crl_set_number)                                                              \
	X(gnutls_x509_crl_set_this_update)                                                         \
	X(gnutls_x509_crl_set_version)                                                             \
	X(gnutls_x509_crl_verify)                                                                  \
	X(gnutls_x509_crq_deinit)                                                                  \
	X(gnutls_x509_crq_export2)                                                                 \
	X(gnutls_x509_crq_get_dn_by_oid)                                                           \
	X(gnutls_x509_crq_get_extension_by_oid2)                                                   \
	X(gnutls_x509_crq_import)                                                                  \
	X(gnutls_x509_crq_init)                                                                    \
	X(gnutls_x509_crq_privkey_sign)                                                            \
	X(gnutls_x509_crq_set_dn_by_oid)                                                           \
	X(gnutls_x509_crq_set_extension_by_oid)                                                    \
	X(gnutls_x509_crq_set_key)                                                                 \
	X(gnutls_x509_crq_set_version)                                                             \
	X(gnutls_x509_crq_verify)                                                                  \
	X(gnutls_x509_crt_check_issuer)                                                            \
	X(gnutls_x509_crt_deinit)                                                                  \
	X(gnutls_x509_crt_equals)                                                                  \
	X(gnutls_x509_crt_export2)                                                                 \
	X(gnutls_x509_crt_get_basic_constraints)                                                   \
	X(gnutls_x509_crt_get_dn_by_oid)                                                           \
	X(gnutls_x509_crt_get_expiration_time)                                                     \
	X(gnutls_x509_crt_get_extension_by_oid2)                                                   \
	X(gnutls_x509_crt_get_key_id)                                                              \
	X(gnutls_x509_crt_get_raw_dn)                                                              \
	X(gnutls_x509_crt_get_serial)                                                              \
	X(gnutls_x509_crt_get_subject_key_id)                                                      \
	X(gnutls_x509_crt_import)                                                                  \
	X(gnutls_x509_crt_init)                                                                    \
	X(gnutls_x509_crt_list_import)                                                             \
	X(gnutls_x509_crt_privkey_sign)                                                            \
	X(gnutls_x509_crt_set_activation_time)                                                     \
	X(gnutls_x509_crt_set_authority_key_id)                                                    \
	X(gnutls_x509_crt_set_basic_constraints)                                                   \
	X(gnutls_x509_crt_set_crq)                                                                 \
	X(gnutls_x509_crt_set_dn_by_oid)                                                           \
	X(gnutls_x509_crt_set_expiration_time)                                                     \
	X(gnutls_x509_crt_set_extension_by_oid)                                                    \
	X(gnutls_x509_crt_set_key)                                                                 \
	X(gnutls_x509_crt_set_key_purpose_oid)                                                     \
	X(gnutls_x509_crt_set_key_usage)                                                           \
	X(gnutls_x509_crt_set_serial)                                                              \
	X(gnutls_x509_crt_set_subject_alt_name)                                                    \
	X(gnutls_x509_crt_set_subject_key_id)                                                      \
	X(gnutls_x509_crt_set_version)                                                             \
	X(gnutls_x509_crt_verify)                                                                  \
	X(gnutls_x509_privkey_deinit)                                                              \
	X(gnutls_x509_privkey_export2_pkcs8)                                                       \
	X(gnutls_x509_privkey_generate2)                                                           \
	X(gnutls_x509_privkey_get_key_id)                                                          \
	X(gnutls_x509_privkey_get_pk_algorithm)                                                    \
	X(gnutls_x509_privkey_import)                                                              \
	X(gnutls_x509_privkey_import2)                                                             \
	X(gnutls_x509_privkey_init)

struct alb_dl_gnutls {
	ALB_DL_GNUTLS_SYMBOLS(ALB_DL_MEMBER)
};

/* The loaded symbols; aborts with a message if the library cannot be loaded. */
const struct alb_dl_gnutls *alb_dl_gnutls(void);

/* Loads the library if it is not: 0, or -ELIBACC / -ELIBBAD with the reason in ctx. */
int alb_dl_gnutls_load(alb_ctx *ctx);

#ifndef ALB_DL_GNUTLS_NO_REDIRECT
#define gnutls_alert_get	      (alb_dl_gnutls()->gnutls_alert_get)
#define gnutls_alert_get_name	      (alb_dl_gnutls()->gnutls_alert_get_name)
#define gnutls_alert_send_appropriate (alb_dl_gnutls()->gnutls_alert_send_appropriate)
#define gnutls_bye		      (alb_dl_gnutls()->gnutls_bye)
#define gnutls_certificate_allocate_credentials                                                    \
	(alb_dl_gnutls()->gnutls_certificate_allocate_credentials)
#define gnutls_certificate_free_credentials (alb_dl_gnutls()->gnutls_certificate_free_credentials)
#define gnutls_certificate_get_peers	    (alb_dl_gnutls()->gnutls_certificate_get_peers)
#define gnutls_certificate_send_x509_rdn_sequence                                                  \
	(alb_dl_gnutls()->gnutls_certificate_send_x509_rdn_sequence)
#define gnutls_certificate_server_set_request                                                      \
	(alb_dl_gnutls()->gnutls_certificate_server_set_request)
#define gnutls_certificate_set_x509_crl_file (alb_dl_gnutls()->gnutls_certificate_set_x509_crl_file)
#define gnutls_certificate_set_x509_key_file2                                                      \
	(alb_dl_gnutls()->gnutls_certificate_set_x509_key_file2)
#define gnutls_certificate_set_x509_key_mem2 (alb_dl_gnutls()->gnutls_certificate_set_x509_key_mem2)
#define gnutls_certificate_set_x509_trust    (alb_dl_gnutls()->gnutls_certificate_set_x509_trust)
#define gnutls_certificate_set_x509_trust_file                                                     \
	(alb_dl_gnutls()->gnutls_certificate_set_x509_trust_file)
#define gnutls_certificate_verification_status_print                                               \
	(alb_dl_gnutls()->gnutls_certificate_verification_status_print)
#define gnutls_certificate_verify_peers2 (alb_dl_gnutls()->gnutls_certificate_verify_peers2)
#define gnutls_credentials_set		 (alb_dl_gnutls()->gnutls_credentials_set)
#define gnutls_deinit			 (alb_dl_gnutls()->gnutls_deinit)
#define gnutls_error_is_fatal		 (alb_dl_gnutls()->gnutls_error_is_fatal)
#define gnutls_handshake		 (alb_dl_gnutls()->gnutls_handshake)
#define gnutls_handshake_set_timeout	 (alb_dl_gnutls()->gnutls_handshake_set_timeout)
#define gnutls_init			 (alb_dl_gnutls()->gnutls_init)
#define gnutls_priority_deinit		 (alb_dl_gnutls()->gnutls_priority_deinit)
#define gnutls_priority_init		 (alb_dl_gnutls()->gnutls_priority_init)
#define gnutls_priority_set		 (alb_dl_gnutls()->gnutls_priority_set)
#define gnutls_priority_set_direct	 (alb_dl_gnutls()->gnutls_priority_set_direct)
#define gnutls_privkey_deinit		 (alb_dl_gnutls()->gnutls_privkey_deinit)
#define gnutls_privkey_import_x509	 (alb_dl_gnutls()->gnutls_privkey_import_x509)
#define gnutls_privkey_init		 (alb_dl_gnutls()->gnutls_privkey_init)
#define gnutls_record_check_pending	 (alb_dl_gnutls()->gnutls_record_check_pending)
#define gnutls_record_recv		 (alb_dl_gnutls()->gnutls_record_recv)
#define gnutls_record_send		 (alb_dl_gnutls()->gnutls_record_send)
#define gnutls_record_set_timeout	 (alb_dl_gnutls()->gnutls_record_set_timeout)
#define gnutls_rnd			 (alb_dl_gnutls()->gnutls_rnd)
#define gnutls_server_name_set		 (alb_dl_gnutls()->gnutls_server_name_set)
#define gnutls_session_get_verify_cert_status                                                      \
	(alb_dl_gnutls()->gnutls_session_get_verify_cert_status)
#define gnutls_session_set_verify_cert	     (alb_dl_gnutls()->gnutls_session_set_verify_cert)
#define gnutls_strerror			     (alb_dl_gnutls()->gnutls_strerror)
#define gnutls_transport_set_int2	     (alb_dl_gnutls()->gnutls_transport_set_int2)
#define gnutls_x509_crl_deinit		     (alb_dl_gnutls()->gnutls_x509_crl_deinit)
#define gnutls_x509_crl_export2		     (alb_dl_gnutls()->gnutls_x509_crl_export2)
#define gnutls_x509_crl_get_crt_count	     (alb_dl_gnutls()->gnutls_x509_crl_get_crt_count)
#define gnutls_x509_crl_get_crt_serial	     (alb_dl_gnutls()->gnutls_x509_crl_get_crt_serial)
#define gnutls_x509_crl_get_number	     (alb_dl_gnutls()->gnutls_x509_crl_get_number)
#define gnutls_x509_crl_import		     (alb_dl_gnutls()->gnutls_x509_crl_import)
#define gnutls_x509_crl_init		     (alb_dl_gnutls()->gnutls_x509_crl_init)
#define gnutls_x509_crl_privkey_sign	     (alb_dl_gnutls()->gnutls_x509_crl_privkey_sign)
#define gnutls_x509_crl_set_authority_key_id (alb_dl_gnutls()->gnutls_x509_crl_set_authority_key_id)
#define gnutls_x509_crl_set_crt_serial	     (alb_dl_gnutls()->gnutls_x509_crl_set_crt_serial)
#define gnutls_x509_crl_set_next_update	     (alb_dl_gnutls()->gnutls_x509_crl_set_next_update)
#define gnutls_x509_crl_set_number	     (alb_dl_gnutls()->gnutls_x509_crl_set_number)
#define gnutls_x509_crl_set_this_update	     (alb_dl_gnutls()->gnutls_x509_crl_set_this_update)
#define gnutls_x509_crl_set_version	     (alb_dl_gnutls()->gnutls_x509_crl_set_version)
#define gnutls_x509_crl_verify		     (alb_dl_gnutls()->gnutls_x509_crl_verify)
#define gnutls_x509_crq_deinit		     (alb_dl_gnutls()->gnutls_x509_crq_deinit)
#define gnutls_x509_crq_export2		     (alb_dl_gnutls()->gnutls_x509_crq_export2)
#define gnutls_x509_crq_get_dn_by_oid	     (alb_dl_gnutls()->gnutls_x509_crq_get_dn_by_oid)
#define gnutls_x509_crq_get_extension_by_oid2                                                      \
	(alb_dl_gnutls()->gnutls_x509_crq_get_extension_by_oid2)
#define gnutls_x509_crq_import		     (alb_dl_gnutls()->gnutls_x509_crq_import)
#define gnutls_x509_crq_init		     (alb_dl_gnutls()->gnutls_x509_crq_init)
#define gnutls_x509_crq_privkey_sign	     (alb_dl_gnutls()->gnutls_x509_crq_privkey_sign)
#define gnutls_x509_crq_set_dn_by_oid	     (alb_dl_gnutls()->gnutls_x509_crq_set_dn_by_oid)
#define gnutls_x509_crq_set_extension_by_oid (alb_dl_gnutls()->gnutls_x509_crq_set_extension_by_oid)
#define gnutls_x509_crq_set_key		     (alb_dl_gnutls()->gnutls_x509_crq_set_key)
#define gnutls_x509_crq_set_version	     (alb_dl_gnutls()->gnutls_x509_crq_set_version)
#define gnutls_x509_crq_verify		     (alb_dl_gnutls()->gnutls_x509_crq_verify)
#define gnutls_x509_crt_check_issuer	     (alb_dl_gnutls()->gnutls_x509_crt_check_issuer)
#define gnutls_x509_crt_deinit		     (alb_dl_gnutls()->gnutls_x509_crt_deinit)
#define gnutls_x509_crt_equals		     (alb_dl_gnutls()->gnutls_x509_crt_equals)
#define gnutls_x509_crt_export2		     (alb_dl_gnutls()->gnutls_x509_crt_export2)
#define gnutls_x509_crt_get_basic_constraints                                                      \
	(alb_dl_gnutls()->gnutls_x509_crt_get_basic_constraints)
#define gnutls_x509_crt_get_dn_by_oid	    (alb_dl_gnutls()->gnutls_x509_crt_get_dn_by_oid)
#define gnutls_x509_crt_get_expiration_time (alb_dl_gnutls()->gnutls_x509_crt_get_expiration_time)
#define gnutls_x509_crt_get_extension_by_oid2                                                      \
	(alb_dl_gnutls()->gnutls_x509_crt_get_extension_by_oid2)
#define gnutls_x509_crt_get_key_id	     (alb_dl_gnutls()->gnutls_x509_crt_get_key_id)
#define gnutls_x509_crt_get_raw_dn	     (alb_dl_gnutls()->gnutls_x509_crt_get_raw_dn)
#define gnutls_x509_crt_get_serial	     (alb_dl_gnutls()->gnutls_x509_crt_get_serial)
#define gnutls_x509_crt_get_subject_key_id   (alb_dl_gnutls()->gnutls_x509_crt_get_subject_key_id)
#define gnutls_x509_crt_import		     (alb_dl_gnutls()->gnutls_x509_crt_import)
#define gnutls_x509_crt_init		     (alb_dl_gnutls()->gnutls_x509_crt_init)
#define gnutls_x509_crt_list_import	     (alb_dl_gnutls()->gnutls_x509_crt_list_import)
#define gnutls_x509_crt_privkey_sign	     (alb_dl_gnutls()->gnutls_x509_crt_privkey_sign)
#define gnutls_x509_crt_set_activation_time  (alb_dl_gnutls()->gnutls_x509_crt_set_activation_time)
#define gnutls_x509_crt_set_authority_key_id (alb_dl_gnutls()->gnutls_x509_crt_set_authority_key_id)
#define gnutls_x509_crt_set_basic_constraints                                                      \
	(alb_dl_gnutls()->gnutls_x509_crt_set_basic_constraints)
#define gnutls_x509_crt_set_crq		     (alb_dl_gnutls()->gnutls_x509_crt_set_crq)
#define gnutls_x509_crt_set_dn_by_oid	     (alb_dl_gnutls()->gnutls_x509_crt_set_dn_by_oid)
#define gnutls_x509_crt_set_expiration_time  (alb_dl_gnutls()->gnutls_x509_crt_set_expiration_time)
#define gnutls_x509_crt_set_extension_by_oid (alb_dl_gnutls()->gnutls_x509_crt_set_extension_by_oid)
#define gnutls_x509_crt_set_key		     (alb_dl_gnutls()->gnutls_x509_crt_set_key)
#define gnutls_x509_crt_set_key_purpose_oid  (alb_dl_gnutls()->gnutls_x509_crt_set_key_purpose_oid)
#define gnutls_x509_crt_set_key_usage	     (alb_dl_gnutls()->gnutls_x509_crt_set_key_usage)
#define gnutls_x509_crt_set_serial	     (alb_dl_gnutls()->gnutls_x509_crt_set_serial)
#define gnutls_x509_crt_set_subject_alt_name (alb_dl_gnutls()->gnutls_x509_crt_set_subject_alt_name)
#define gnutls_x509_crt_set_subject_key_id   (alb_dl_gnutls()->gnutls_x509_crt_set_subject_key_id)
#define gnutls_x509_crt_set_version	     (alb_dl_gnutls()->gnutls_x509_crt_set_version)
#define gnutls_x509_crt_verify		     (alb_dl_gnutls()->gnutls_x509_crt_verify)
#define gnutls_x509_privkey_deinit	     (alb_dl_gnutls()->gnutls_x509_privkey_deinit)
#define gnutls_x509_privkey_export2_pkcs8    (alb_dl_gnutls()->gnutls_x509_privkey_export2_pkcs8)
#define gnutls_x509_privkey_generate2	     (alb_dl_gnutls()->gnutls_x509_privkey_generate2)
#define gnutls_x509_privkey_get_key_id	     (alb_dl_gnutls()->gnutls_x509_privkey_get_key_id)
#define gnutls_x509_privkey_get_pk_algorithm (alb_dl_gnutls()->gnutls_x509_privkey_get_pk_algorithm)
#define gnutls_x509_privkey_import	     (alb_dl_gnutls()->gnutls_x509_privkey_import)
#define gnutls_x509_privkey_import2	     (alb_dl_gnutls()->gnutls_x509_privkey_import2)
#define gnutls_x509_privkey_init	     (alb_dl_gnutls()->gnutls_x509_privkey_init)
/* gnutls_free is a variable, and gnutls.h makes it a macro that also clears the pointer. */
#undef gnutls_free
#define gnutls_free(a) (*alb_dl_gnutls()->gnutls_free)((void *)(a)), a = NULL
#endif
