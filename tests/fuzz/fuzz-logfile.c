/* SPDX-License-Identifier: ISC */
/*
 * Fuzzes the event log file reader: the input is a whole log file. Opening
 * it must never crash; what it keeps must be a valid log whose records all
 * read back, and opening it again must find nothing more to repair.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_record(const uint8_t *payload, size_t len, const struct alb_log_event *event,
			void *userdata)
{
	uint8_t *buf = NULL;
	size_t n = 0;
	/* Whatever the reader accepts encodes again (the encoder checks by decoding). */
	if (alb_log_event_to_cbor(NULL, event, &buf, &n) < 0)
		abort();
	free(buf);
	(*(uint64_t *)userdata)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	alb_ctx *ctx = NULL;
	alb_event_log *log = NULL;

	if (size > (1u << 20) || alb_ctx_new(&ctx) < 0)
		return 0;
	/* The scanner alone, on a memory file. */
	int fd = memfd_create("fuzz-logfile", MFD_CLOEXEC);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	struct alb_event_log_scan scan;
	uint64_t records = 0;
	if (alb_event_log_scan_fd(ctx, fd, UINT64_MAX, check_record, &records, &scan) == 0) {
		if (scan.records != records || scan.end > scan.size ||
		    scan.end + scan.tail_bytes != scan.size)
			abort();
	}
	close(fd);

	/* Opening repairs; a second open finds it clean with the same records. */
	char dir[] = "/tmp/fuzz-logfile-XXXXXX";
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/events.log", dir);
	FILE *f = fopen(path, "wbe");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	if (alb_event_log_open(ctx, path, 0, &log) == 0) {
		uint64_t first = 0, second = 0;
		if (alb_event_log_query_records(log, NULL, 0, 0, check_record, &first) < 0)
			abort();
		alb_event_log_free(log);
		log = NULL;
		if (alb_event_log_open(ctx, path, 0, &log) < 0 || alb_event_log_get_dropped(log))
			abort();
		if (alb_event_log_query_records(log, NULL, 0, 0, check_record, &second) < 0 ||
		    first != second)
			abort();
		alb_event_log_free(log);
	}
	unlink(path);
	rmdir(dir);
	alb_ctx_unref(ctx);
	return 0;
}
