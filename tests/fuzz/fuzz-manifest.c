/* SPDX-License-Identifier: ISC */
/* Fuzzes the Solo5 image reader with arbitrary bytes as the image. */
#include <stdlib.h>
#include <string.h>

#include <albatross/manifest.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	alb_ctx *ctx = NULL;
	alb_ctx_new(&ctx);
	/* A copy of exactly size bytes, so that ASan sees any read past the end. */
	uint8_t *copy = malloc(size ? size : 1);
	if (copy) {
		memcpy(copy, data, size);
		alb_manifest *m = NULL;
		if (alb_manifest_read(ctx, copy, size, &m) == 0) {
			uint32_t n = alb_manifest_get_device_count(m);
			if (n > 63)
				abort();
			for (uint32_t i = 0; i < n; i++)
				if (!alb_manifest_get_device_name(m, i) ||
				    alb_manifest_get_device_type(m, i) < 0)
					abort();
			alb_manifest_free(m);
		}
		free(copy);
	}
	alb_ctx_unref(ctx);
	return 0;
}
