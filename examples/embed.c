/* SPDX-License-Identifier: ISC */
/*
 * Embedding the supervisor in a program with its own event loop, using only
 * the public headers:
 *
 *   embed DBDIR RUNDIR TENDER_DIR IMAGE [ARG...]
 *
 * runs IMAGE (a Solo5 image for hvt or spt: its ABI note says which tender)
 * as the unikernel "embedded", pinned to CPU 0, with the ARGs, in its own poll()
 * loop (the library's loop is one fd in it). The operations complete through
 * callbacks: the create, then a restart (a new tender, as after an upgrade of
 * its image), then it waits until the unikernel exits by itself and prints its
 * exit code; one that runs longer than a minute is destroyed. The exit status
 * is the unikernel's (128 + N when a signal N ended it).
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include <albatross/albatross.h>

struct outcome {
	int done;
	int signal, code;
	int destroying;
};

static void on_event(alb_vmm *vmm, const alb_name *name, int event, int signal, int code,
		     void *userdata)
{
	struct outcome *o = userdata;
	(void)vmm;
	(void)name;
	if (event == ALB_VMM_EXITED) {
		/* The last run's end is the one that counts (a restart ends one too). */
		o->signal = signal;
		o->code = code;
	} else if (event == ALB_VMM_DESTROYED || event == ALB_VMM_FAILED)
		o->done = 1;
}

/* Completions: each long operation says how it ended, with albatrossd's words. */
static void on_restarted(alb_vmm *vmm, const alb_name *name, int result, const char *message,
			 void *userdata)
{
	(void)vmm;
	(void)name;
	(void)userdata;
	printf("embedded: restart: %s\n", message);
	(void)result;
}

static void on_created(alb_vmm *vmm, const alb_name *name, int result, const char *message,
		       void *userdata)
{
	(void)userdata;
	printf("embedded: create: %s\n", message);
	if (result < 0)
		return;
	/* It may have ended already (a short-lived unikernel): nothing to restart then. */
	if (alb_vmm_restart(vmm, name, NULL, on_restarted, NULL) < 0)
		printf("embedded: not restarted: it ended already\n");
}

static void on_destroyed(alb_vmm *vmm, const alb_name *name, int result, const char *message,
			 void *userdata)
{
	(void)vmm;
	(void)name;
	(void)result;
	printf("embedded: destroy: %s\n", message);
	((struct outcome *)userdata)->done = 1;
}

static int fail(alb_ctx *ctx, const char *what)
{
	fprintf(stderr, "embed: %s: %s\n", what, alb_ctx_last_error(ctx));
	return 1;
}

/* The tender an image is built for (ALB_TENDER_HVT or ALB_TENDER_SPT), from its
 * Solo5 ABI note; a negative errno value if it is neither. */
static int image_tender(alb_ctx *ctx, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	uint8_t *image = NULL;
	size_t len = 0, cap = 0;
	while (!feof(f) && !ferror(f)) {
		if (len == cap) {
			uint8_t *p = realloc(image, cap = cap ? 2 * cap : 1 << 16);
			if (!p)
				break;
			image = p;
		}
		len += fread(image + len, 1, cap - len, f);
	}
	int err = ferror(f) || !feof(f);
	fclose(f);
	alb_manifest *m = NULL;
	int r = err ? -1 : alb_manifest_read(ctx, image, len, &m);
	free(image);
	if (r < 0)
		return r;
	int target = alb_manifest_get_target(m);
	alb_manifest_free(m);
	return target == ALB_SOLO5_HVT	 ? ALB_TENDER_HVT
	       : target == ALB_SOLO5_SPT ? ALB_TENDER_SPT
					 : -1;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: embed DBDIR RUNDIR TENDER_DIR IMAGE [ARG...]\n");
		return 2;
	}
	alb_ctx *ctx = NULL;
	alb_loop *loop = NULL;
	alb_vmm *vmm = NULL;
	alb_name *name = NULL;
	alb_unikernel_config *config = NULL;
	struct outcome o = {0};
	if (alb_ctx_new(&ctx) < 0 || alb_loop_new(ctx, &loop) < 0)
		return 1;
	if (alb_vmm_new(ctx, loop, argv[1], argv[2], &vmm) < 0)
		return fail(ctx, "supervisor");
	alb_vmm_set_tender_dir(vmm, argv[3]);
	alb_vmm_set_event_fn(vmm, on_event, &o);
	if (alb_vmm_start(vmm) < 0)
		return fail(ctx, "start");
	int tender = image_tender(ctx, argv[4]);
	if (tender < 0) {
		fprintf(stderr, "embed: %s: not a Solo5 image for hvt or spt\n", argv[4]);
		return 1;
	}
	if (alb_name_parse(ctx, "embedded", &name) < 0 ||
	    alb_unikernel_config_new(ctx, &config) < 0 ||
	    alb_unikernel_config_set_tender(config, tender) < 0 ||
	    alb_unikernel_config_add_cpuid(config, 0) < 0)
		return fail(ctx, "configuration");
	for (int i = 5; i < argc; i++)
		if (alb_unikernel_config_add_argument(config, argv[i]) < 0)
			return fail(ctx, "argument");
	if (alb_vmm_create_async(vmm, name, config, argv[4], 0, on_created, NULL) < 0)
		return fail(ctx, "create");

	/* The program's own loop: the library's work is one fd among its others. */
	uint64_t deadline = alb_now_monotonic() + UINT64_C(60) * 1000000;
	while (!o.done) {
		struct pollfd pfd = {.fd = alb_loop_get_fd(loop), .events = POLLIN};
		if (poll(&pfd, 1, 1000) < 0)
			break;
		if (pfd.revents & POLLIN)
			alb_loop_run_once(loop, 0);
		if (!o.destroying && !o.done && alb_now_monotonic() > deadline) {
			o.destroying = 1;
			if (alb_vmm_destroy_async(vmm, name, on_destroyed, &o) < 0)
				return fail(ctx, "destroy");
		}
	}
	if (o.signal)
		printf("embedded was killed by signal %d\n", o.signal);
	else
		printf("embedded exited with code %d\n", o.code);

	alb_unikernel_config_free(config);
	alb_name_free(name);
	alb_vmm_free(vmm);
	alb_loop_unref(loop);
	alb_ctx_unref(ctx);
	return o.signal ? 128 + o.signal : o.code;
}
