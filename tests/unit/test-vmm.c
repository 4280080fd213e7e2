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

/* A supervisor on the test's directories, started (it adopts what an earlier one left). */
static void vmm_open(void)
{
	const char *tenders = getenv("ALB_TEST_TENDER_DIR");
	ck_assert_ptr_nonnull(tenders);
	char db[4300], run[4300];
	snprintf(db, sizeof(db), "%s/db", test_tmpdir);
	snprintf(run, sizeof(run), "%s/run", test_tmpdir);
	ck_assert_alb_ok(test_ctx, alb_vmm_new(test_ctx, loop, db, run, &vmm));
	ck_assert_alb_ok(test_ctx, alb_vmm_set_tender_dir(vmm, tenders));
	/* A SIGTERM ends the test tender at once: SIGKILL only if that failed, however slow
	 * the machine. */
	ck_assert_alb_ok(test_ctx, alb_vmm_set_stop_timeout(vmm, UINT64_C(60) * 1000000));
	alb_vmm_set_event_fn(vmm, on_event, &seen);
	ck_assert_alb_ok(test_ctx, alb_vmm_start(vmm));
}

static void setup(void)
{
	tc_ctx_setup();
	tc_tmpdir_setup();
	snprintf(image, sizeof(image), "%s/img.spt", test_tmpdir);
	ck_assert_int_eq(test_solo5_image_file(image, ALB_SOLO5_SPT, 2, NULL, 0, 0), 0);
	memset(&seen, 0, sizeof(seen));
	ck_assert_alb_ok(test_ctx, alb_loop_new(test_ctx, &loop));
	vmm_open();
}

static void stopped(alb_vmm *v, void *userdata)
{
	*(bool *)userdata = true;
}

static void teardown(void)
{
	/* Unikernels outlive a freed supervisor: a new one adopts what a test left, and
	 * stops it (a generous cap: it takes milliseconds). */
	if (!vmm)
		vmm_open();
	bool done = false;
	ck_assert_alb_ok(test_ctx, alb_vmm_shutdown(vmm, stopped, &done));
	uint64_t end = alb_now_monotonic() + UINT64_C(120) * 1000000;
	while (!done && alb_now_monotonic() < end)
		ck_assert_int_ge(alb_loop_run_once(loop, 100), 0);
	ck_assert_msg(done, "the unikernels did not stop");
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

/* ---- the operations with completions ---- */

struct done {
	int calls;
	int result;
	char message[256];
	char name[128];
};

static void on_done(alb_vmm *v, const alb_name *name, int result, const char *message,
		    void *userdata)
{
	struct done *d = userdata;
	d->calls++;
	d->result = result;
	snprintf(d->message, sizeof(d->message), "%s", message ? message : "");
	char *s = alb_name_to_string(name);
	snprintf(d->name, sizeof(d->name), "%s", s ? s : "");
	free(s);
}

static void run_until_done(struct done *d)
{
	uint64_t end = alb_now_monotonic() + UINT64_C(60) * 1000000;
	while (d->calls == 0 && alb_now_monotonic() < end)
		ck_assert_int_ge(alb_loop_run_once(loop, 100), 0);
	ck_assert_msg(d->calls == 1, "the completion came %d times", d->calls);
}

struct listing {
	char names[8][128];
	int states[8];
	uint32_t pids[8];
	size_t args[8];
	int n;
};

static int list_one(alb_vmm *v, const alb_vmm_unikernel *uk, void *userdata)
{
	struct listing *l = userdata;
	char *s = alb_name_to_string(alb_vmm_unikernel_get_name(uk));
	snprintf(l->names[l->n], sizeof(l->names[0]), "%s", s);
	free(s);
	l->states[l->n] = alb_vmm_unikernel_get_state(uk);
	l->pids[l->n] = alb_vmm_unikernel_get_pid(uk);
	l->args[l->n] = alb_unikernel_config_get_argument_count(alb_vmm_unikernel_get_config(uk));
	ck_assert_ptr_null(alb_vmm_unikernel_get_failure(uk));
	l->n++;
	return 0;
}

START_TEST(test_create_restart_destroy_with_completions)
{
	alb_name *a = NULL, *b = NULL, *path = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, "team:b", &b));
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, "team:a", &a));
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, "team:", &path));
	alb_unikernel_config *c = config("--run", NULL);
	struct done d = {0};
	ck_assert_alb_ok(test_ctx, alb_vmm_create_async(vmm, b, c, image, 0, on_done, &d));
	/* The completion comes from the loop, never from inside the call. */
	ck_assert_int_eq(d.calls, 0);
	run_until_done(&d);
	ck_assert_int_eq(d.result, 0);
	ck_assert_str_eq(d.message, "created");
	ck_assert_str_eq(d.name, "team:b");
	ck_assert_alb_ok(test_ctx, alb_vmm_create(vmm, a, c, image));
	/* A refused create calls nothing. */
	struct done refused = {0};
	ck_assert_alb_err(test_ctx, alb_vmm_create_async(vmm, a, c, image, 0, on_done, &refused),
			  EEXIST);

	/* Both, in name order, running. */
	struct listing l = {0};
	ck_assert_alb_ok(test_ctx, alb_vmm_foreach_unikernel(vmm, path, list_one, &l));
	ck_assert_int_eq(l.n, 2);
	ck_assert_str_eq(l.names[0], "team:a");
	ck_assert_str_eq(l.names[1], "team:b");
	ck_assert_int_eq(l.states[0], ALB_VMM_STATE_RUNNING);
	ck_assert_uint_gt(l.pids[1], 0);
	uint32_t old_pid = l.pids[1];

	/* A restart with new arguments: a new tender with them, done when it runs. */
	const char *argv[] = {"--run", "--hello=again", NULL};
	memset(&d, 0, sizeof(d));
	ck_assert_alb_ok(test_ctx, alb_vmm_restart(vmm, b, argv, on_done, &d));
	run_until_done(&d);
	ck_assert_int_eq(d.result, 0);
	ck_assert_str_eq(d.message, "restarted");
	memset(&l, 0, sizeof(l));
	ck_assert_alb_ok(test_ctx, alb_vmm_foreach_unikernel(vmm, b, list_one, &l));
	ck_assert_int_eq(l.n, 1);
	ck_assert_uint_ne(l.pids[0], old_pid);
	ck_assert_uint_eq(l.args[0], 2);

	/* A forced create replaces it: done when the new one runs. */
	memset(&d, 0, sizeof(d));
	ck_assert_alb_ok(test_ctx,
			 alb_vmm_create_async(vmm, b, c, image, ALB_VMM_FORCE, on_done, &d));
	run_until_done(&d);
	ck_assert_int_eq(d.result, 0);
	ck_assert_str_eq(d.message, "replaced"); /* not "restarted": a new configuration */
	memset(&l, 0, sizeof(l));
	ck_assert_alb_ok(test_ctx, alb_vmm_foreach_unikernel(vmm, b, list_one, &l));
	ck_assert_uint_eq(l.args[0], 1);

	/* Destroy: done when it is gone; then it is not there. */
	memset(&d, 0, sizeof(d));
	ck_assert_alb_ok(test_ctx, alb_vmm_destroy_async(vmm, b, on_done, &d));
	run_until_done(&d);
	ck_assert_int_eq(d.result, 0);
	ck_assert_str_eq(d.message, "destroyed");
	ck_assert_alb_err(test_ctx, alb_vmm_foreach_unikernel(vmm, b, list_one, &l), ENOENT);
	ck_assert_alb_err(test_ctx, alb_vmm_restart(vmm, b, NULL, on_done, &d), ENOENT);
	ck_assert_alb_err(test_ctx, alb_vmm_destroy_async(vmm, b, on_done, &d), ENOENT);
	ck_assert_int_eq(d.calls, 1);

	alb_unikernel_config_free(c);
	alb_name_free(a);
	alb_name_free(b);
	alb_name_free(path);
}
END_TEST

static uint32_t pid_of(const char *n)
{
	alb_name *name = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, n, &name));
	struct listing l = {0};
	int r = alb_vmm_foreach_unikernel(vmm, name, list_one, &l);
	alb_name_free(name);
	return r < 0 || l.n != 1 ? 0 : l.pids[0];
}

/* A supervisor freed while a unikernel runs leaves it running; the next one on the same
 * directories adopts it (same pid), and destroys it as any other. */
START_TEST(test_adopted_after_free)
{
	alb_name *name = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, "kept", &name));
	alb_unikernel_config *c = config("--run", NULL);
	ck_assert_alb_ok(test_ctx, alb_vmm_create(vmm, name, c, image));
	uint32_t pid = pid_of("kept");
	ck_assert_uint_gt(pid, 0);
	vmm = alb_vmm_free(vmm);
	ck_assert_int_eq(kill((pid_t)pid, 0), 0);
	memset(&seen, 0, sizeof(seen));
	vmm_open();
	ck_assert_uint_eq(pid_of("kept"), pid);
	ck_assert_int_eq(seen.n, 0); /* adopted, not started */
	ck_assert_alb_ok(test_ctx, alb_vmm_destroy(vmm, name));
	run_until(ALB_VMM_DESTROYED);
	ck_assert_int_eq(seen.events[0], ALB_VMM_EXITED);
	ck_assert_msg(seen.codes[0] == -SIGTERM, "ended with %d", seen.codes[0]);
	alb_unikernel_config_free(c);
	alb_name_free(name);
}
END_TEST

/* A completion still due when the supervisor goes is given, once, not lost. */
START_TEST(test_completion_due_at_free)
{
	alb_name *name = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, "quick", &name));
	alb_unikernel_config *c = config("--run", NULL);
	struct done d = {0};
	ck_assert_alb_ok(test_ctx, alb_vmm_create_async(vmm, name, c, image, 0, on_done, &d));
	ck_assert_int_eq(d.calls, 0);
	vmm = alb_vmm_free(vmm);
	ck_assert_int_eq(d.calls, 1);
	ck_assert_int_eq(d.result, 0);
	alb_unikernel_config_free(c);
	alb_name_free(name);
}
END_TEST

START_TEST(test_policies_and_block_devices)
{
	alb_name *path = NULL, *disk = NULL, *uk = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, "small:", &path));
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, "small:disk", &disk));
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, "small:one", &uk));
	alb_policy *p = NULL;
	ck_assert_alb_ok(test_ctx, alb_policy_new(&p));
	alb_policy_set_unikernels(p, 1);
	alb_policy_set_memory(p, 64);
	alb_policy_set_block(p, 2);
	ck_assert_alb_ok(test_ctx, alb_policy_add_cpuid(p, 0));
	ck_assert_alb_ok(test_ctx, alb_vmm_add_policy(vmm, path, p));
	ck_assert_int_eq(alb_vmm_add_policy(vmm, path, p), 1); /* the same again */
	ck_assert_alb_err(test_ctx, alb_vmm_add_policy(vmm, disk, p), EINVAL);

	/* Block devices within the policy: 3 MB is refused, 2 MB with data taken. */
	ck_assert_alb_err(test_ctx, alb_vmm_add_block(vmm, disk, 3, 0, NULL, 0), EDQUOT);
	char data[4400];
	snprintf(data, sizeof(data), "%s/data", test_tmpdir);
	FILE *f = fopen(data, "w");
	fputs("block data", f);
	fclose(f);
	ck_assert_alb_ok(test_ctx, alb_vmm_add_block(vmm, disk, 2, 4096, data, 0));
	ck_assert_alb_err(test_ctx, alb_vmm_add_block(vmm, disk, 1, 0, NULL, 0), EEXIST);
	int fd = -1;
	uint64_t size = 0;
	ck_assert_alb_ok(test_ctx, alb_vmm_open_block(vmm, disk, &fd, &size));
	ck_assert_uint_eq(size, UINT64_C(2) << 20);
	char buf[16] = {0};
	ck_assert_int_eq(read(fd, buf, 10), 10);
	ck_assert_str_eq(buf, "block data");
	close(fd);

	/* Used by a unikernel: neither rewritten nor removed. */
	alb_unikernel_config *c = config("--run", NULL);
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_set_memory(c, 32));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_block(c, "storage", "disk", 0));
	char img[4400];
	snprintf(img, sizeof(img), "%s/blk.spt", test_tmpdir);
	const struct test_device devs[] = {{"storage", ALB_DEVICE_BLOCK}};
	ck_assert_int_eq(test_solo5_image_file(img, ALB_SOLO5_SPT, 2, devs, 1, 0), 0);
	ck_assert_alb_ok(test_ctx, alb_vmm_create(vmm, uk, c, img));
	ck_assert_alb_err(test_ctx, alb_vmm_remove_block(vmm, disk), EBUSY);
	ck_assert_alb_err(test_ctx, alb_vmm_set_block(vmm, disk, data, 0), EBUSY);
	/* The policy cannot shrink below what runs. */
	alb_policy_set_unikernels(p, 0);
	ck_assert_int_lt(alb_vmm_add_policy(vmm, path, p), 0);
	struct done d = {0};
	ck_assert_alb_ok(test_ctx, alb_vmm_destroy_async(vmm, uk, on_done, &d));
	run_until_done(&d);
	ck_assert_alb_ok(test_ctx, alb_vmm_set_block(vmm, disk, data, 0));
	ck_assert_alb_ok(test_ctx, alb_vmm_remove_block(vmm, disk));
	ck_assert_alb_err(test_ctx, alb_vmm_open_block(vmm, disk, &fd, &size), ENOENT);
	ck_assert_alb_ok(test_ctx, alb_vmm_remove_policy(vmm, path));

	alb_unikernel_config_free(c);
	alb_policy_free(p);
	alb_name_free(path);
	alb_name_free(disk);
	alb_name_free(uk);
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
	tcase_add_test(tc, test_create_restart_destroy_with_completions);
	tcase_add_test(tc, test_policies_and_block_devices);
	tcase_add_test(tc, test_completion_due_at_free);
	tcase_add_test(tc, test_adopted_after_free);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(vmm_suite());
}
