/* SPDX-License-Identifier: ISC */
/*
 * Fuzzes the run file (libalbatross/monitor.c): what parses formats again, and
 * the text parses back to the same file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "monitor-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const struct alb_run_file *a, const struct alb_run_file *b)
{
	if (strcmp(a->name, b->name) || a->run != b->run || strcmp(a->config, b->config) ||
	    a->n_taps != b->n_taps || a->restarts != b->restarts ||
	    a->backoff_us != b->backoff_us || a->n_exits != b->n_exits ||
	    a->destroy != b->destroy || a->restart != b->restart || a->wait_us != b->wait_us ||
	    !a->failed != !b->failed || (a->failed && strcmp(a->failed, b->failed)) ||
	    a->exit_kind != b->exit_kind || a->exit_value != b->exit_value)
		return false;
	for (uint32_t i = 0; i < a->n_taps; i++)
		if (strcmp(a->taps[i], b->taps[i]))
			return false;
	return a->n_exits == 0 || !memcmp(a->exits, b->exits, a->n_exits * sizeof(uint64_t));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct alb_run_file rf, again;
	int r = alb_run_file_parse((const char *)data, size, &rf);
	if (r == -ENOMEM)
		return 0;
	if (r < 0) {
		if (r != -EBADMSG || rf.taps || rf.exits || rf.failed)
			abort();
		return 0;
	}
	char *text = NULL;
	size_t len = 0;
	if (alb_run_file_format(&rf, &text, &len) < 0 || strlen(text) != len ||
	    alb_run_file_parse(text, len, &again) < 0 || !same(&rf, &again))
		abort();
	free(text);
	alb_run_file_clear(&again);
	alb_run_file_clear(&rf);
	return 0;
}
