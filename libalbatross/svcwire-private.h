/* SPDX-License-Identifier: ISC */
/*
 * The CBOR form of services (docs/services.md, docs/protocol.md): a service's
 * specification as a deploy carries it, a service's info as service-info replies
 * and the services file (svc.c) hold it, and what a collect removed. Decoding is
 * as strict as the rest of the wire.
 */
#pragma once

#include <albatross/sys/wire.h>

#include "cbor-private.h"

cbor_item_t *alb_service_spec_to_cbor(const struct alb_service_spec *spec);
int alb_service_spec_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path,
			       struct alb_service_spec **ret);
/* The checks of a decoded or built spec: the prefix (host bits zero, length 8 to 30),
 * the gateway and the excluded addresses inside it, no host port published twice, the
 * readiness fields that its kind needs and no other. 0 or -EINVAL with the reason. */
int alb_service_spec_validate(alb_ctx *ctx, const struct alb_service_spec *spec);
int alb_service_spec_dup(const struct alb_service_spec *spec, struct alb_service_spec **ret);

/* elt: a struct alb_service_info / struct alb_collected (for lists of the wire). */
cbor_item_t *alb_service_info_to_cbor(const void *elt);
int alb_service_info_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path, void *elt);
cbor_item_t *alb_collected_to_cbor(const void *elt);
int alb_collected_from_cbor(alb_ctx *ctx, const cbor_item_t *item, const char *path, void *elt);

/* "tcp" / "udp" for 6 / 17, NULL for another. */
const char *alb_proto_name(uint32_t proto);
