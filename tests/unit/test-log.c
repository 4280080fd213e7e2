/* SPDX-License-Identifier: ISC */
/* The event log (log.h): records, recovery from torn and damaged records, rotation, queries. */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio-private.h"
#include "log-private.h"
#include "test-common.h"

static char log_path[PATH_MAX];

static void setup(void)
{
	tc_ctx_setup();
	tc_tmpdir_setup();
	snprintf(log_path, sizeof(log_path), "%s/events.log", test_tmpdir);
}

static void teardown(void)
{
	tc_tmpdir_teardown();
	tc_ctx_teardown();
}

static alb_name *N(const char *s)
{
	alb_name *n = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, s, &n));
	return n;
}

/* An event of kind with the fields that kind carries. */
static struct alb_log_event *make_event(int kind, uint64_t time_us, const char *name)
{
	struct alb_log_event *ev = calloc(1, sizeof(*ev));
	ck_assert_ptr_nonnull(ev);
	ev->kind = kind;
	ev->time_us = time_us;
	ev->name = name ? N(name) : NULL;
	switch (kind) {
	case ALB_EVENT_UNIKERNEL_STARTED: {
		char *taps[] = {"alb0", "alb1"}, *blocks[] = {"/var/lib/albatross/block/a:disk"};
		ev->pid = 4242;
		ev->has_digest = true;
		for (int i = 0; i < 32; i++)
			ev->digest[i] = (uint8_t)(i * 7);
		ev->taps = alb_strv_dup(taps, 2);
		ev->n_taps = 2;
		ev->blocks = alb_strv_dup(blocks, 1);
		ev->n_blocks = 1;
		break;
	}
	case ALB_EVENT_UNIKERNEL_EXITED:
		ev->exit.kind = time_us % 2 ? ALB_EXIT_SIGNAL : ALB_EXIT_CODE;
		ev->exit.value = time_us % 2 ? 9 : 3;
		break;
	case ALB_EVENT_UNIKERNEL_RESTARTING:
		ev->attempt = 2;
		ev->delay_us = 2000000;
		break;
	case ALB_EVENT_UNIKERNEL_FAILED:
		ev->message = strdup("crash loop: 5 restarts within 60 s");
		break;
	default:
		break;
	}
	if (kind != ALB_EVENT_DAEMON_START && kind != ALB_EVENT_DAEMON_STOP &&
	    kind != ALB_EVENT_UNIKERNEL_EXITED)
		ev->identity = strdup("uid 0");
	return ev;
}

static const int all_kinds[] = {
    ALB_EVENT_DAEMON_START,	    ALB_EVENT_POLICY_ADDED,	 ALB_EVENT_BLOCK_ADDED,
    ALB_EVENT_UNIKERNEL_CREATED,    ALB_EVENT_UNIKERNEL_STARTED, ALB_EVENT_UNIKERNEL_EXITED,
    ALB_EVENT_UNIKERNEL_RESTARTING, ALB_EVENT_UNIKERNEL_FAILED,	 ALB_EVENT_UNIKERNEL_DESTROYED,
    ALB_EVENT_BLOCK_REMOVED,	    ALB_EVENT_POLICY_REMOVED,	 ALB_EVENT_DAEMON_STOP,
};

static const char *kind_name(int kind)
{
	switch (kind) {
	case ALB_EVENT_DAEMON_START:
	case ALB_EVENT_DAEMON_STOP:
		return NULL;
	case ALB_EVENT_POLICY_ADDED:
	case ALB_EVENT_POLICY_REMOVED:
		return "alice:";
	case ALB_EVENT_BLOCK_ADDED:
	case ALB_EVENT_BLOCK_REMOVED:
		return "alice:disk";
	default:
		return "alice:hello";
	}
}

static void append(alb_event_log *log, int kind, uint64_t time_us, const char *name)
{
	struct alb_log_event *ev = make_event(kind, time_us, name);
	ck_assert_alb_ok(test_ctx, alb_event_log_append_event(log, ev));
	alb_log_event_free(ev);
}

/* Every event a query gives, re-encoded, in order. */
struct collected {
	uint32_t n;
	uint64_t times[4096];
	int kinds[4096];
	uint8_t *cbor[4096];
	size_t len[4096];
};

static int collect(const uint8_t *payload, size_t len, const struct alb_log_event *event,
		   void *userdata)
{
	struct collected *c = userdata;
	ck_assert_uint_lt(c->n, 4096);
	c->times[c->n] = event->time_us;
	c->kinds[c->n] = event->kind;
	c->cbor[c->n] = malloc(len);
	memcpy(c->cbor[c->n], payload, len);
	c->len[c->n] = len;
	c->n++;
	return 0;
}

static void collected_clear(struct collected *c)
{
	for (uint32_t i = 0; i < c->n; i++)
		free(c->cbor[i]);
	c->n = 0;
}

static struct collected *query(alb_event_log *log, const char *filter, uint64_t since,
			       uint32_t count)
{
	static struct collected c;
	collected_clear(&c);
	alb_name *f = filter ? N(filter) : NULL;
	ck_assert_alb_ok(test_ctx, alb_event_log_query_records(log, f, since, count, collect, &c));
	alb_name_free(f);
	return &c;
}

static uint64_t file_size(const char *path)
{
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

static void read_all(const char *path, uint8_t **buf, size_t *len)
{
	ck_assert_alb_ok(test_ctx, alb_read_file(test_ctx, path, 64 << 20, buf, len));
}

static void write_all(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(alb_write_full(fd, buf, len), 0);
	close(fd);
}

START_TEST(test_every_kind_in_order)
{
	alb_event_log *log = NULL;
	uint8_t *expected[ELEMENTSOF(all_kinds)];
	size_t expected_len[ELEMENTSOF(all_kinds)];

	ck_assert_alb_ok(test_ctx, alb_event_log_open(test_ctx, log_path, 0, &log));
	ck_assert_uint_eq(alb_event_log_get_size(log), ALB_EVENT_LOG_HEADER_SIZE);
	for (size_t i = 0; i < ELEMENTSOF(all_kinds); i++) {
		struct alb_log_event *ev =
		    make_event(all_kinds[i], 1000 + i, kind_name(all_kinds[i]));
		ck_assert_alb_ok(
		    test_ctx, alb_log_event_to_cbor(test_ctx, ev, &expected[i], &expected_len[i]));
		ck_assert_alb_ok(test_ctx, alb_event_log_append_event(log, ev));
		alb_log_event_free(ev);
	}
	alb_event_log_free(log);

	/* Read back after reopening: the same events, in order, byte for byte. */
	log = NULL;
	ck_assert_alb_ok(test_ctx, alb_event_log_open(test_ctx, log_path, 0, &log));
	ck_assert_uint_eq(alb_event_log_get_dropped(log), 0);
	ck_assert_uint_eq(alb_event_log_get_skipped(log), 0);
	struct collected *c = query(log, NULL, 0, 0);
	ck_assert_uint_eq(c->n, ELEMENTSOF(all_kinds));
	for (size_t i = 0; i < ELEMENTSOF(all_kinds); i++) {
		ck_assert_int_eq(c->kinds[i], all_kinds[i]);
		ck_assert_uint_eq(c->times[i], 1000 + i);
		ck_assert_uint_eq(c->len[i], expected_len[i]);
		ck_assert_mem_eq(c->cbor[i], expected[i], expected_len[i]);
		free(expected[i]);
	}
	collected_clear(c);
	alb_event_log_free(log);
}
END_TEST

static int count_public(const alb_log_event *event, void *userdata)
{
	uint32_t *n = userdata;
	ck_assert_str_eq(alb_log_event_get_kind(event), "unikernel-created");
	ck_assert_uint_eq(alb_log_event_get_time(event), 77);
	char *s = alb_name_to_string(alb_log_event_get_name(event));
	ck_assert_str_eq(s, "a:vm");
	free(s);
	(*n)++;
	return *n == 2 ? -ECANCELED : 0;
}

START_TEST(test_public_api)
{
	alb_event_log *log = NULL;
	struct alb_log_event *ev = make_event(ALB_EVENT_UNIKERNEL_CREATED, 77, "a:vm");
	uint8_t *buf = NULL;
	uint64_t len = 0;
	uint32_t n = 0;

	ck_assert_alb_err(test_ctx, alb_event_log_open(test_ctx, log_path, 100, &log), EINVAL);
	ck_assert_alb_ok(test_ctx, alb_event_log_open(test_ctx, log_path, 0, &log));
	ck_assert_alb_ok(test_ctx, alb_log_event_encode(test_ctx, ev, &buf, &len));
	ck_assert_alb_ok(test_ctx, alb_event_log_append(log, buf, len));
	ck_assert_alb_ok(test_ctx, alb_event_log_append(log, buf, len));
	ck_assert_alb_ok(test_ctx, alb_event_log_append(log, buf, len));
	/* Not an event: refused, nothing written. */
	uint64_t size = alb_event_log_get_size(log);
	ck_assert_alb_err(test_ctx, alb_event_log_append(log, buf, len - 1), EBADMSG);
	static const uint8_t not_event[] = {0xa1, 0x61, 'x', 0x01};
	ck_assert_alb_err(test_ctx, alb_event_log_append(log, not_event, sizeof(not_event)),
			  EBADMSG);
	ck_assert_alb_err(test_ctx, alb_event_log_append(log, buf, 2u << 20), EMSGSIZE);
	ck_assert_uint_eq(alb_event_log_get_size(log), size);
	/* An event that would not decode is not encoded either. */
	ev->kind = 99;
	ck_assert_alb_err(test_ctx, alb_event_log_append_event(log, ev), EINVAL);
	/* The callback can stop a query. */
	ck_assert_int_eq(alb_event_log_query(log, NULL, 0, 0, count_public, &n), -ECANCELED);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(
	    alb_event_log_query(log, NULL, 0, ALB_EVENT_LOG_QUERY_MAX + 1, count_public, &n),
	    -EINVAL);
	free(buf);
	alb_log_event_free(ev);
	alb_event_log_free(log);
	ck_assert_ptr_null(alb_event_log_free(NULL));
}
END_TEST

START_TEST(test_queries)
{
	alb_event_log *log = NULL;

	ck_assert_alb_ok(test_ctx, alb_event_log_open(test_ctx, log_path, 0, &log));
	append(log, ALB_EVENT_DAEMON_START, 100, NULL);		    /* 0 */
	append(log, ALB_EVENT_POLICY_ADDED, 200, "a:");		    /* 1 */
	append(log, ALB_EVENT_UNIKERNEL_CREATED, 300, "a:b:vm");    /* 2 */
	append(log, ALB_EVENT_UNIKERNEL_CREATED, 400, "a:c:vm");    /* 3 */
	append(log, ALB_EVENT_UNIKERNEL_CREATED, 500, "x:vm");	    /* 4 */
	append(log, ALB_EVENT_UNIKERNEL_STARTED, 600, "a:b:vm");    /* 5 */
	append(log, ALB_EVENT_UNIKERNEL_DESTROYED, 700, "a:b:vm2"); /* 6 */
	append(log, ALB_EVENT_DAEMON_STOP, 800, NULL);		    /* 7 */

	struct collected *c = query(log, NULL, 0, 0);
	ck_assert_uint_eq(c->n, 8);
	c = query(log, ":", 0, 0);
	ck_assert_uint_eq(c->n, 8);
	/* since: this time or later */
	c = query(log, NULL, 500, 0);
	ck_assert_uint_eq(c->n, 4);
	ck_assert_uint_eq(c->times[0], 500);
	c = query(log, NULL, 801, 0);
	ck_assert_uint_eq(c->n, 0);
	/* count: the last N, oldest first */
	c = query(log, NULL, 0, 3);
	ck_assert_uint_eq(c->n, 3);
	ck_assert_uint_eq(c->times[0], 600);
	ck_assert_uint_eq(c->times[2], 800);
	c = query(log, NULL, 0, 100);
	ck_assert_uint_eq(c->n, 8);
	ck_assert_uint_eq(c->times[0], 100);
	/* a path: at or below it; daemon events have no name */
	c = query(log, "a:", 0, 0);
	ck_assert_uint_eq(c->n, 5);
	ck_assert_uint_eq(c->times[0], 200);
	c = query(log, "a:b:", 0, 0);
	ck_assert_uint_eq(c->n, 3);
	c = query(log, "x:", 0, 0);
	ck_assert_uint_eq(c->n, 1);
	c = query(log, "y:", 0, 0);
	ck_assert_uint_eq(c->n, 0);
	/* a name: exactly that one */
	c = query(log, "a:b:vm", 0, 0);
	ck_assert_uint_eq(c->n, 2);
	ck_assert_uint_eq(c->times[1], 600);
	/* all together */
	c = query(log, "a:", 350, 2);
	ck_assert_uint_eq(c->n, 2);
	ck_assert_uint_eq(c->times[0], 600);
	ck_assert_uint_eq(c->times[1], 700);
	c = query(log, "a:", 350, 1);
	ck_assert_uint_eq(c->n, 1);
	ck_assert_uint_eq(c->times[0], 700);
	collected_clear(c);
	alb_event_log_free(log);
}
END_TEST

START_TEST(test_rotation)
{
	alb_event_log *log = NULL;
	char old_path[PATH_MAX + 8];
	const uint32_t total = 300;

	snprintf(old_path, sizeof(old_path), "%s.1", log_path);
	ck_assert_alb_ok(test_ctx, alb_event_log_open(test_ctx, log_path, 4096, &log));
	for (uint32_t i = 0; i < total; i++) {
		append(log, ALB_EVENT_UNIKERNEL_CREATED, 1000 + i, "a:vm");
		ck_assert_uint_le(file_size(log_path), 4096);
	}
	ck_assert_uint_gt(file_size(old_path), 2048);
	ck_assert_uint_le(file_size(old_path), 4096);

	/* Both files are read: a contiguous run of the newest events. */
	struct collected *c = query(log, NULL, 0, 0);
	ck_assert_uint_gt(c->n, 40);
	ck_assert_uint_lt(c->n, total);
	for (uint32_t i = 0; i < c->n; i++)
		ck_assert_uint_eq(c->times[i], 1000 + total - c->n + i);
	uint32_t n = c->n;
	c = query(log, NULL, 0, 10);
	ck_assert_uint_eq(c->n, 10);
	ck_assert_uint_eq(c->times[9], 1000 + total - 1);
	alb_event_log_free(log);

	/* And again after reopening. */
	log = NULL;
	ck_assert_alb_ok(test_ctx, alb_event_log_open(test_ctx, log_path, 4096, &log));
	c = query(log, NULL, 0, 0);
	ck_assert_uint_eq(c->n, n);
	collected_clear(c);
	alb_event_log_free(log);
}
END_TEST

/* Writes five events and returns the offset of the last record's start. */
static uint64_t five_events(void)
{
	alb_event_log *log = NULL;
	uint64_t last = 0;

	ck_assert_alb_ok(test_ctx, alb_event_log_open(test_ctx, log_path, 0, &log));
	for (int i = 0; i < 5; i++) {
		last = alb_event_log_get_size(log);
		append(log, ALB_EVENT_UNIKERNEL_STARTED, 1000 + (uint64_t)i, "a:vm");
	}
	alb_event_log_free(log);
	return last;
}

START_TEST(test_torn_last_record)
{
	uint64_t last = five_events();
	uint8_t *orig = NULL;
	size_t len = 0;

	read_all(log_path, &orig, &len);
	ck_assert_uint_gt(len, last + ALB_EVENT_LOG_RECORD_HEADER);
	/* Cut the file at every byte of the last record. */
	for (uint64_t cut = last; cut < len; cut++) {
		alb_event_log *log = NULL;
		write_all(log_path, orig, (size_t)cut);
		ck_assert_alb_ok(test_ctx, alb_event_log_open(test_ctx, log_path, 0, &log));
		ck_assert_uint_eq(alb_event_log_get_dropped(log), cut - last);
		ck_assert_uint_eq(alb_event_log_get_skipped(log), 0);
		ck_assert_uint_eq(file_size(log_path), last);
		struct collected *c = query(log, NULL, 0, 0);
		ck_assert_uint_eq(c->n, 4);
		for (uint32_t i = 0; i < 4; i++)
			ck_assert_uint_eq(c->times[i], 1000 + i);
		/* The log goes on after the cut. */
		append(log, ALB_EVENT_UNIKERNEL_DESTROYED, 2000, "a:vm");
		alb_event_log_free(log);
		log = NULL;
		ck_assert_alb_ok(test_ctx, alb_event_log_open(test_ctx, log_path, 0, &log));
		ck_assert_uint_eq(alb_event_log_get_dropped(log), 0);
		c = query(log, NULL, 0, 0);
		ck_assert_uint_eq(c->n, 5);
		ck_assert_uint_eq(c->times[3], 1003);
		ck_assert_uint_eq(c->times[4], 2000);
		collected_clear(c);
		alb_event_log_free(log);
	}
	/* A crash that left zeros after the last record (the size grew, the data did not land). */
	uint8_t *zeros = calloc(1, len + 300);
	memcpy(zeros, orig, len);
	write_all(log_path, zeros, len + 300);
	alb_event_log *log = NULL;
	ck_assert_alb_ok(test_ctx, alb_event_log_open(test_ctx, log_path, 0, &log));
	ck_assert_uint_eq(alb_event_log_get_dropped(log), 300);
	ck_assert_uint_eq(query(log, NULL, 0, 0)->n, 5);
	alb_event_log_free(log);
	free(zeros);
	free(orig);
}
END_TEST

START_TEST(test_flipped_byte)
{
	uint64_t last = five_events();
	uint8_t *orig = NULL;
	size_t len = 0;
	alb_event_log *log = NULL;

	read_all(log_path, &orig, &len);
	uint64_t rec = len - last; /* every record has the same size here */

	/* Every byte of the third record in turn: the others stay readable, nothing is cut. */
	uint64_t third = ALB_EVENT_LOG_HEADER_SIZE + 2 * rec;
	for (uint64_t at = third; at < third + rec; at++) {
		orig[at] ^= 0x40;
		write_all(log_path, orig, len);
		orig[at] ^= 0x40;
		log = NULL;
		ck_assert_alb_ok(test_ctx, alb_event_log_open(test_ctx, log_path, 0, &log));
		ck_assert_uint_eq(alb_event_log_get_dropped(log), 0);
		ck_assert_uint_eq(alb_event_log_get_skipped(log), rec);
		ck_assert_uint_eq(file_size(log_path), len);
		struct collected *c = query(log, NULL, 0, 0);
		ck_assert_uint_eq(c->n, 4);
		ck_assert_uint_eq(c->times[1], 1001);
		ck_assert_uint_eq(c->times[2], 1003);
		/* Appending goes on after the damage. */
		append(log, ALB_EVENT_UNIKERNEL_DESTROYED, 2000, "a:vm");
		ck_assert_uint_eq(query(log, NULL, 0, 2)->times[1], 2000);
		alb_event_log_free(log);
	}

	/* A flipped byte in the last record: that record is dropped. */
	orig[len - 3] ^= 0x01;
	write_all(log_path, orig, len);
	log = NULL;
	ck_assert_alb_ok(test_ctx, alb_event_log_open(test_ctx, log_path, 0, &log));
	ck_assert_uint_eq(alb_event_log_get_dropped(log), rec);
	ck_assert_uint_eq(query(log, NULL, 0, 0)->n, 4);
	alb_event_log_free(log);
	free(orig);
}
END_TEST

START_TEST(test_garbage)
{
	alb_event_log *log = NULL;
	uint8_t junk[4096];

	/* Not an event log: refused and left alone. */
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 31 + 7);
	write_all(log_path, junk, sizeof(junk));
	ck_assert_alb_err(test_ctx, alb_event_log_open(test_ctx, log_path, 0, &log), EBADMSG);
	ck_assert_last_error_has(test_ctx, "not an albatross event log");
	ck_assert_uint_eq(file_size(log_path), sizeof(junk));
	write_all(log_path, (const uint8_t *)"hello", 5);
	ck_assert_alb_err(test_ctx, alb_event_log_open(test_ctx, log_path, 0, &log), EBADMSG);

	/* The header, then garbage: the garbage goes, the log starts empty. */
	memcpy(junk, ALB_EVENT_LOG_MAGIC, ALB_EVENT_LOG_HEADER_SIZE);
	write_all(log_path, junk, sizeof(junk));
	ck_assert_alb_ok(test_ctx, alb_event_log_open(test_ctx, log_path, 0, &log));
	ck_assert_uint_eq(alb_event_log_get_dropped(log), sizeof(junk) - ALB_EVENT_LOG_HEADER_SIZE);
	ck_assert_uint_eq(query(log, NULL, 0, 0)->n, 0);
	append(log, ALB_EVENT_DAEMON_START, 1, NULL);
	ck_assert_uint_eq(query(log, NULL, 0, 0)->n, 1);
	log = alb_event_log_free(log);

	/* A header cut short when the file was made. */
	write_all(log_path, (const uint8_t *)ALB_EVENT_LOG_MAGIC, 3);
	ck_assert_alb_ok(test_ctx, alb_event_log_open(test_ctx, log_path, 0, &log));
	ck_assert_uint_eq(alb_event_log_get_dropped(log), 3);
	ck_assert_uint_eq(file_size(log_path), ALB_EVENT_LOG_HEADER_SIZE);
	log = alb_event_log_free(log);

	/* A broken rotated file is ignored, the current one still read. */
	char old_path[PATH_MAX + 8];
	snprintf(old_path, sizeof(old_path), "%s.1", log_path);
	write_all(old_path, (const uint8_t *)"garbage!garbage!", 16);
	ck_assert_alb_ok(test_ctx, alb_event_log_open(test_ctx, log_path, 0, &log));
	append(log, ALB_EVENT_DAEMON_STOP, 2, NULL);
	ck_assert_uint_eq(query(log, NULL, 0, 0)->n, 1);
	alb_event_log_free(log);

	/* A directory is no log. */
	ck_assert_int_lt(alb_event_log_open(test_ctx, test_tmpdir, 0, &log), 0);
}
END_TEST

START_TEST(test_scan_fd)
{
	uint64_t last = five_events();
	struct alb_event_log_scan scan;
	int fd = open(log_path, O_RDONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_alb_ok(test_ctx,
			 alb_event_log_scan_fd(test_ctx, fd, UINT64_MAX, NULL, NULL, &scan));
	ck_assert_uint_eq(scan.records, 5);
	ck_assert_uint_eq(scan.end, scan.size);
	/* A prefix: the last record is then torn. */
	ck_assert_alb_ok(test_ctx,
			 alb_event_log_scan_fd(test_ctx, fd, last + 9, NULL, NULL, &scan));
	ck_assert_uint_eq(scan.records, 4);
	ck_assert_uint_eq(scan.end, last);
	ck_assert_uint_eq(scan.tail_bytes, 9);
	close(fd);
}
END_TEST

START_TEST(test_builder)
{
	_cleanup_(alb_name_freep) alb_name *n = N("a:vm");
	_cleanup_(alb_log_event_freep) struct alb_log_event *ev = NULL, *back = NULL;
	char *taps[] = {"alb0"};
	uint8_t digest[32] = {1, 2, 3};
	ck_assert_int_eq(alb_log_event_new(0, n, 1, &ev), -EINVAL);
	ck_assert_alb_ok(test_ctx, alb_log_event_new(ALB_EVENT_UNIKERNEL_STARTED, n, 42, &ev));
	ck_assert_alb_ok(test_ctx, alb_log_event_set_started(ev, 7, digest, taps, 1, NULL, 0));
	ck_assert_alb_ok(test_ctx, alb_log_event_set_identity(ev, "uid 0"));
	ck_assert_alb_ok(test_ctx, alb_log_event_set_message(ev, "first"));
	ck_assert_alb_ok(test_ctx, alb_log_event_set_message(ev, "second"));
	ck_assert_int_eq(alb_log_event_set_exit(ev, ALB_EXIT_CODE, 256), -EINVAL);
	ck_assert_int_eq(alb_log_event_set_exit(ev, ALB_EXIT_SIGNAL, 0), -EINVAL);
	/* What the builder made encodes, and decodes to the same. */
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	ck_assert_alb_ok(test_ctx, alb_log_event_to_cbor(test_ctx, ev, &buf, &len));
	ck_assert_alb_ok(test_ctx, alb_log_event_from_cbor(test_ctx, buf, len, &back));
	ck_assert_int_eq(back->kind, ALB_EVENT_UNIKERNEL_STARTED);
	ck_assert_uint_eq(back->time_us, 42);
	ck_assert_int_eq(alb_name_equal(back->name, n), 1);
	ck_assert_uint_eq(back->pid, 7);
	ck_assert(back->has_digest);
	ck_assert_int_eq(memcmp(back->digest, digest, 32), 0);
	ck_assert_uint_eq(back->n_taps, 1);
	ck_assert_str_eq(back->taps[0], "alb0");
	ck_assert_str_eq(back->identity, "uid 0");
	ck_assert_str_eq(back->message, "second");
	/* Daemon events have no name; time 0 is now. */
	alb_log_event_free(ev);
	ev = NULL;
	ck_assert_alb_ok(test_ctx, alb_log_event_new(ALB_EVENT_DAEMON_START, NULL, 0, &ev));
	ck_assert_ptr_null(ev->name);
	ck_assert_uint_gt(ev->time_us, 0);
	alb_log_event_free(back);
	back = NULL;
	ck_assert_alb_ok(test_ctx, alb_log_event_new(ALB_EVENT_UNIKERNEL_EXITED, n, 5, &back));
	ck_assert_alb_ok(test_ctx, alb_log_event_set_exit(back, ALB_EXIT_SIGNAL, 9));
	ck_assert_int_eq(back->exit.kind, ALB_EXIT_SIGNAL);
	ck_assert_uint_eq(back->exit.value, 9);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("file");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_every_kind_in_order);
	tcase_add_test(tc, test_public_api);
	tcase_add_test(tc, test_queries);
	tcase_add_test(tc, test_rotation);
	tcase_add_test(tc, test_torn_last_record);
	tcase_add_test(tc, test_flipped_byte);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_scan_fd);
	tcase_add_test(tc, test_builder);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(log_suite());
}
