/* SPDX-License-Identifier: ISC */
/* Fuzzes the Solo5 image reader with arbitrary bytes as the image, and the check of an
 * upload's first bytes against it: whatever the reader takes, the check takes, and an
 * image the check refuses the reader refuses for the same reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <albatross/manifest.h>

#include "manifest-private.h"
#include "util-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	alb_ctx *ctx = NULL;
	alb_ctx_new(&ctx);
	/* A copy of exactly size bytes, so that ASan sees any read past the end. */
	uint8_t *copy = malloc(size ? size : 1);
	size_t hlen = size < ALB_MANIFEST_HEADER_SIZE ? size : ALB_MANIFEST_HEADER_SIZE;
	uint8_t *head = malloc(hlen ? hlen : 1);
	if (copy && head) {
		memcpy(copy, data, size);
		memcpy(head, data, hlen);
		int h = alb_manifest_check_header(ctx, head, hlen);
		char why[1024];
		snprintf(why, sizeof(why), "%s", alb_ctx_last_error(ctx));
		if (h != 0 && h != -EBADMSG)
			abort();
		alb_manifest *m = NULL;
		int r = alb_manifest_read(ctx, copy, size, &m);
		if (h < 0 && (r != h || !streq(why, alb_ctx_last_error(ctx))))
			abort();
		if (r == 0) {
			uint32_t n = alb_manifest_get_device_count(m);
			if (n > 63)
				abort();
			for (uint32_t i = 0; i < n; i++)
				if (!alb_manifest_get_device_name(m, i) ||
				    alb_manifest_get_device_type(m, i) < 0)
					abort();
			alb_manifest_free(m);
		}
	}
	free(head);
	free(copy);
	alb_ctx_unref(ctx);
	return 0;
}
