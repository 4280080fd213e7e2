/* SPDX-License-Identifier: ISC */
/*
 * The supervisor as an embedder uses it (vmm.h): on its own loop, with the
 * test tender (ALB_TEST_TENDER_DIR), no socket, events through the callback.
 */
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "solo5-image.h"
#include "test-common.h"

struct seen {
	int events[32];
	int codes[32];
	int n;
};

static void on_event(alb_vmm *vmm, const alb_name *name, int event, int signal, int code,
		     void *userdata)
{
	struct seen *s = userdata;
	if (s->n < 32) {
		s->events[s->n] = event;
		s->codes[s->n++] = signal ? -signal : code;
	}
}

static alb_loop *loop;
static alb_vmm *vmm;
static struct seen seen;
static char image[4300];

static void setup(void)
{
	tc_ctx_setup();
	tc_tmpdir_setup();
	const char *tenders = getenv("ALB_TEST_TENDER_DIR");
	ck_assert_ptr_nonnull(tenders);
	char db[4300], run[4300];
	snprintf(db, sizeof(db), "%s/db", test_tmpdir);
	snprintf(run, sizeof(run), "%s/run", test_tmpdir);
	snprintf(image, sizeof(image), "%s/img.spt", test_tmpdir);
	ck_assert_int_eq(test_solo5_image_file(image, ALB_SOLO5_SPT, 2, NULL, 0, 0), 0);
	memset(&seen, 0, sizeof(seen));
	ck_assert_alb_ok(test_ctx, alb_loop_new(test_ctx, &loop));
	ck_assert_alb_ok(test_ctx, alb_vmm_new(test_ctx, loop, db, run, &vmm));
	ck_assert_alb_ok(test_ctx, alb_vmm_set_tender_dir(vmm, tenders));
	/* A SIGTERM ends the test tender at once: SIGKILL only if that failed, however slow
	 * the machine. */
	ck_assert_alb_ok(test_ctx, alb_vmm_set_stop_timeout(vmm, UINT64_C(60) * 1000000));
	alb_vmm_set_event_fn(vmm, on_event, &seen);
	ck_assert_alb_ok(test_ctx, alb_vmm_start(vmm));
}

static void teardown(void)
{
	vmm = alb_vmm_free(vmm);
	loop = alb_loop_unref(loop);
	tc_tmpdir_teardown();
	tc_ctx_teardown();
}

static alb_unikernel_config *config(const char *arg1, const char *arg2)
{
	alb_unikernel_config *c = NULL;
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_new(test_ctx, &c));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_set_tender(c, ALB_TENDER_SPT));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_cpuid(c, 0));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_argument(c, arg1));
	if (arg2)
		ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_argument(c, arg2));
	return c;
}

static bool has(int event)
{
	for (int i = 0; i < seen.n; i++)
		if (seen.events[i] == event)
			return true;
	return false;
}

/* Runs the loop until event came, for at most a generous 60 s (it takes milliseconds,
 * more on a busy machine or in a sanitizer build, never that). */
static void run_until(int event)
{
	uint64_t end = alb_now_monotonic() + UINT64_C(60) * 1000000;
	while (!has(event) && alb_now_monotonic() < end)
		ck_assert_int_ge(alb_loop_run_once(loop, 100), 0);
	ck_assert_msg(has(event), "event %d did not come", event);
}

START_TEST(test_run_to_exit_code)
{
	alb_name *name = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, "embedded:seven", &name));
	alb_unikernel_config *c = config("--sleep=50", "--exit=7");
	ck_assert_alb_ok(test_ctx, alb_vmm_create(vmm, name, c, image));
	ck_assert_alb_err(test_ctx, alb_vmm_create(vmm, name, c, image), EEXIST);
	run_until(ALB_VMM_DESTROYED);
	/* started, exited with 7, gone (quit: not restarted) */
	ck_assert_int_eq(seen.events[0], ALB_VMM_STARTED);
	ck_assert_int_eq(seen.events[1], ALB_VMM_EXITED);
	ck_assert_int_eq(seen.codes[1], 7);
	ck_assert_int_eq(seen.events[2], ALB_VMM_DESTROYED);
	ck_assert_alb_err(test_ctx, alb_vmm_destroy(vmm, name), ENOENT);
	alb_unikernel_config_free(c);
	alb_name_free(name);
}
END_TEST

START_TEST(test_destroy_running)
{
	alb_name *name = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, "runner", &name));
	alb_unikernel_config *c = config("--run", NULL);
	ck_assert_alb_ok(test_ctx, alb_vmm_create(vmm, name, c, image));
	ck_assert(has(ALB_VMM_STARTED));
	ck_assert_alb_ok(test_ctx, alb_vmm_destroy(vmm, name));
	run_until(ALB_VMM_DESTROYED);
	/* spt dies by SIGTERM, as the real tender does. */
	ck_assert_int_eq(seen.events[1], ALB_VMM_EXITED);
	ck_assert_msg(seen.codes[1] == -SIGTERM, "ended with %d", seen.codes[1]);
	alb_unikernel_config_free(c);
	alb_name_free(name);
}
END_TEST

/* The files in the image store. */
static int stored_images(void)
{
	char images[4400];
	snprintf(images, sizeof(images), "%s/db/images", test_tmpdir);
	DIR *d = opendir(images);
	ck_assert_ptr_nonnull(d);
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

START_TEST(test_refusals_leave_nothing)
{
	alb_name *name = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, "bad", &name));
	alb_unikernel_config *c = config("--run", NULL);
	/* An image that is not Solo5: refused, the image store stays empty. */
	char junk[4400];
	snprintf(junk, sizeof(junk), "%s/junk", test_tmpdir);
	FILE *f = fopen(junk, "w");
	fputs("#!/bin/sh\n", f);
	fclose(f);
	ck_assert_alb_err(test_ctx, alb_vmm_create(vmm, name, c, junk), EBADMSG);
	ck_assert_last_error_has(test_ctx, "not an ELF file");
	/* A device the image does not declare. */
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_net(c, "service", "br0", NULL));
	ck_assert_int_lt(alb_vmm_create(vmm, name, c, image), 0);
	ck_assert_int_eq(stored_images(), 0);
	ck_assert_int_eq(seen.n, 0);
	alb_unikernel_config_free(c);
	alb_name_free(name);
}
END_TEST

/* An hvt image on a host without KVM is refused before anything is made, saying what to
 * do; with KVM it gets past that check (and fails later only for other reasons). */
START_TEST(test_hvt_needs_kvm)
{
	alb_name *name = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, "hvt", &name));
	alb_unikernel_config *c = config("--run", NULL);
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_set_tender(c, ALB_TENDER_HVT));
	char hvt_image[4400];
	snprintf(hvt_image, sizeof(hvt_image), "%s/img.hvt", test_tmpdir);
	ck_assert_int_eq(test_solo5_image_file(hvt_image, ALB_SOLO5_HVT, 2, NULL, 0, 0), 0);
	int r = alb_vmm_create(vmm, name, c, hvt_image);
	if (access("/dev/kvm", R_OK | W_OK) < 0) {
		ck_assert_alb_err(test_ctx, r, ENODEV);
		ck_assert_last_error_has(test_ctx, "solo5-hvt cannot run on this host");
		ck_assert_last_error_has(test_ctx, "build the unikernel for spt");
		ck_assert_last_error_has(test_ctx, "enable KVM");
		ck_assert_int_eq(seen.n, 0);
		ck_assert_int_eq(stored_images(), 0);
	} else {
		ck_assert_alb_ok(test_ctx, r);
		ck_assert_alb_ok(test_ctx, alb_vmm_destroy(vmm, name));
		run_until(ALB_VMM_DESTROYED);
	}
	alb_unikernel_config_free(c);
	alb_name_free(name);
}
END_TEST

static Suite *vmm_suite(void)
{
	Suite *s = suite_create("vmm");
	TCase *tc = tcase_create("embedded");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 100); /* above run_until()'s cap: its message is clearer */
	tcase_add_test(tc, test_run_to_exit_code);
	tcase_add_test(tc, test_destroy_running);
	tcase_add_test(tc, test_refusals_leave_nothing);
	tcase_add_test(tc, test_hvt_needs_kvm);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(vmm_suite());
}
