/* SPDX-License-Identifier: ISC */
/*
 * The console relay (libalbatross/console-relay-private.h): albatrossd's bounded
 * backlog of console output on its way to albatross-console. The receiver here
 * is a recorder: it keeps what was sent, and the test acknowledges by hand.
 */
#include <inttypes.h>

#include "console-relay-private.h"
#include "name-private.h"
#include "test-common.h"

#define SENT_MAX 4096

struct sent {
	int kind;
	char name[64];
	uint8_t data[ALB_CONSOLE_RELAY_SEGMENT_MAX];
	uint32_t len;
	uint64_t dropped, id, time_us;
};

static struct sent sent[SENT_MAX];
static unsigned n_sent;
static uint64_t next_id;
static int fail_sends; /* the next this many sends fail with -ENOBUFS */
static struct alb_console_relay *relay;

static int record(void *userdata, const struct alb_console_relay_segment *seg, uint64_t *ret_id)
{
	(void)userdata;
	if (fail_sends > 0) {
		fail_sends--;
		return -ENOBUFS;
	}
	ck_assert_uint_lt(n_sent, SENT_MAX);
	struct sent *s = &sent[n_sent++];
	s->kind = seg->kind;
	snprintf(s->name, sizeof(s->name), "%s", seg->name->label);
	ck_assert_uint_le(seg->len, ALB_CONSOLE_RELAY_SEGMENT_MAX);
	ck_assert(seg->kind == ALB_CONSOLE_RELAY_DATA ? seg->len > 0 : seg->len == 0);
	if (seg->len)
		memcpy(s->data, seg->data, seg->len);
	s->len = seg->len;
	s->dropped = seg->dropped;
	s->time_us = seg->time_us;
	s->id = *ret_id = ++next_id;
	return 0;
}

static alb_name *nm(const char *s)
{
	static alb_name names[8];
	static unsigned turn;
	alb_name *n = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, s, &n));
	alb_name *out = &names[turn++ % 8];
	*out = *n;
	alb_name_free(n);
	return out;
}

static void setup(void)
{
	tc_ctx_setup();
	n_sent = 0;
	next_id = 0;
	fail_sends = 0;
	relay = NULL;
}

static void teardown(void)
{
	relay = alb_console_relay_free(relay);
	tc_ctx_teardown();
}

static void new_relay(uint64_t stream_max, uint64_t total_max)
{
	ck_assert_alb_ok(
	    test_ctx, alb_console_relay_new(test_ctx, stream_max, total_max, record, NULL, &relay));
}

static void data(const char *name, const char *s)
{
	ck_assert_alb_ok(test_ctx, alb_console_relay_data(relay, nm(name), 0, s, strlen(s)));
}

/* Acknowledges everything sent so far that is not acknowledged (in order). */
static unsigned acked;
static void ack_all(void)
{
	while (acked < n_sent)
		alb_console_relay_ack(relay, sent[acked++].id, true);
}

/* The bytes of every data segment of name sent from index from, concatenated. */
static size_t collect(const char *name, unsigned from, char *buf, size_t size)
{
	size_t len = 0;
	for (unsigned i = from; i < n_sent; i++)
		if (sent[i].kind == ALB_CONSOLE_RELAY_DATA && !strcmp(sent[i].name, name)) {
			ck_assert_uint_le(len + sent[i].len, size);
			memcpy(buf + len, sent[i].data, sent[i].len);
			len += sent[i].len;
		}
	return len;
}

START_TEST(test_kept_until_connected_then_in_order)
{
	acked = 0;
	new_relay(0, 0);
	/* A whole run while the receiver is away: nothing is sent, all is kept. */
	ck_assert_alb_ok(test_ctx, alb_console_relay_begin(relay, nm("hello"), 0));
	data("hello", "line 1\n");
	data("hello", "line 2\n");
	ck_assert_alb_ok(test_ctx, alb_console_relay_end(relay, nm("hello"), 0));
	ck_assert_uint_eq(n_sent, 0);
	/* The second piece joined the first while it waited: one data segment, which
	 * counts the room it holds. */
	ck_assert_uint_eq(alb_console_relay_kept_of(relay, nm("hello")),
			  4096 + 3 * ALB_CONSOLE_RELAY_SEGMENT_COST);
	alb_console_relay_connected(relay);
	ck_assert_uint_eq(n_sent, 3);
	ck_assert_int_eq(sent[0].kind, ALB_CONSOLE_RELAY_BEGIN);
	ck_assert_int_eq(sent[1].kind, ALB_CONSOLE_RELAY_DATA);
	ck_assert_int_eq(sent[2].kind, ALB_CONSOLE_RELAY_END);
	ck_assert_str_eq(sent[1].name, "hello");
	ck_assert_uint_eq(sent[1].len, 14);
	ck_assert_mem_eq(sent[1].data, "line 1\nline 2\n", 14);
	ck_assert_uint_ge(sent[2].time_us, sent[1].time_us);
	for (unsigned i = 0; i < 3; i++)
		ck_assert_uint_eq(sent[i].dropped, 0);
	ck_assert_uint_eq(alb_console_relay_in_flight(relay), 3);
	/* Kept until acknowledged, freed then. */
	ck_assert_uint_gt(alb_console_relay_kept(relay), 0);
	ack_all();
	ck_assert_uint_eq(alb_console_relay_kept(relay), 0);
	ck_assert_uint_eq(alb_console_relay_in_flight(relay), 0);
	ck_assert_uint_eq(alb_console_relay_dropped(relay), 0);
	/* Connected: sent at once. */
	data("other", "x");
	ck_assert_uint_eq(n_sent, 4);
	ck_assert_str_eq(sent[3].name, "other");
}
END_TEST

START_TEST(test_window_and_split)
{
	acked = 0;
	new_relay(UINT64_C(64) << 20, UINT64_C(256) << 20);
	alb_console_relay_connected(relay);
	ck_assert_alb_ok(test_ctx, alb_console_relay_begin(relay, nm("big"), 0));
	/* 3 MiB in one call: split into segments of at most 64 KiB, at most the window
	 * unacknowledged. */
	size_t total = 3u << 20;
	char *buf = malloc(total);
	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0; i < total; i++)
		buf[i] = (char)('a' + i % 26);
	ck_assert_alb_ok(test_ctx, alb_console_relay_data(relay, nm("big"), 0, buf, total));
	ck_assert_uint_le(alb_console_relay_in_flight(relay), ALB_CONSOLE_RELAY_WINDOW_SEGMENTS);
	uint64_t in_flight_bytes = 0;
	for (unsigned i = 0; i < n_sent; i++)
		in_flight_bytes += sent[i].len;
	ck_assert_uint_le(in_flight_bytes,
			  ALB_CONSOLE_RELAY_WINDOW_BYTES + ALB_CONSOLE_RELAY_SEGMENT_MAX);
	ck_assert_uint_lt(n_sent, 1 + total / ALB_CONSOLE_RELAY_SEGMENT_MAX);
	/* Each acknowledgement lets more go, until all is through, in order and whole. */
	for (int rounds = 0; acked < n_sent && rounds < 10000; rounds++)
		ack_all();
	ck_assert_uint_eq(alb_console_relay_kept(relay), 0);
	char *got = malloc(total);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(collect("big", 0, got, total), total);
	ck_assert_mem_eq(got, buf, total);
	free(got);
	free(buf);
}
END_TEST

START_TEST(test_resent_after_reconnect)
{
	acked = 0;
	new_relay(0, 0);
	alb_console_relay_connected(relay);
	ck_assert_alb_ok(test_ctx, alb_console_relay_begin(relay, nm("vm"), 0));
	data("vm", "one\n");
	ack_all();
	data("vm", "two\n");
	/* The receiver goes away with "one" taken and "two" in flight: it restarted and
	 * knows no run. The run begins again, then what it did not acknowledge comes
	 * ("three" joined "two", which waits again). */
	alb_console_relay_disconnected(relay);
	data("vm", "three\n");
	unsigned mark = n_sent;
	alb_console_relay_connected(relay);
	ck_assert_uint_eq(n_sent, mark + 2);
	ck_assert_int_eq(sent[mark].kind, ALB_CONSOLE_RELAY_BEGIN);
	ck_assert_str_eq(sent[mark].name, "vm");
	char buf[64];
	size_t len = collect("vm", mark, buf, sizeof(buf));
	ck_assert_uint_eq(len, 10);
	ck_assert_mem_eq(buf, "two\nthree\n", 10);
	/* Acknowledgements of the old connection are unknown now and change nothing. */
	alb_console_relay_ack(relay, sent[1].id, true);
	ck_assert_uint_eq(alb_console_relay_in_flight(relay), 2);
	acked = mark;
	ack_all();
	ck_assert_uint_eq(alb_console_relay_kept(relay), 0);
	/* A run that ended is not begun again at the next connection. */
	ck_assert_alb_ok(test_ctx, alb_console_relay_end(relay, nm("vm"), 0));
	ack_all();
	alb_console_relay_disconnected(relay);
	mark = n_sent;
	alb_console_relay_connected(relay);
	ck_assert_uint_eq(n_sent, mark);
}
END_TEST

#define CHUNK ALB_CONSOLE_RELAY_SEGMENT_MAX

START_TEST(test_bound_drops_oldest_and_counts)
{
	acked = 0;
	/* Each full segment costs CHUNK + 64: the bound holds 3 of them. */
	new_relay(3 * (CHUNK + ALB_CONSOLE_RELAY_SEGMENT_COST) + 1000, UINT64_C(1) << 30);
	static char chunk[CHUNK + 1];
	ck_assert_alb_ok(test_ctx, alb_console_relay_begin(relay, nm("chatty"), 0));
	for (int i = 0; i < 10; i++) {
		memset(chunk, 'a' + i, CHUNK);
		data("chatty", chunk);
	}
	ck_assert_alb_ok(test_ctx, alb_console_relay_end(relay, nm("chatty"), 0));
	ck_assert_uint_le(alb_console_relay_kept_of(relay, nm("chatty")),
			  3 * (CHUNK + ALB_CONSOLE_RELAY_SEGMENT_COST) + 1000);
	uint64_t dropped = alb_console_relay_dropped(relay);
	ck_assert_uint_eq(dropped, 7 * CHUNK);
	alb_console_relay_connected(relay);
	/* What is left is the newest output; the first segment after the hole says how
	 * much went, and the begin of the run stayed while there was data to drop. */
	uint64_t carried = 0, bytes = 0;
	bool began = false, ended = false;
	for (unsigned i = 0; i < n_sent; i++) {
		carried += sent[i].dropped;
		bytes += sent[i].len;
		began |= sent[i].kind == ALB_CONSOLE_RELAY_BEGIN;
		ended |= sent[i].kind == ALB_CONSOLE_RELAY_END;
	}
	ck_assert(began && ended);
	ck_assert_uint_eq(carried, dropped);
	ck_assert_uint_eq(bytes + dropped, 10 * CHUNK);
	ck_assert_int_eq(sent[1].kind, ALB_CONSOLE_RELAY_DATA);
	ck_assert_uint_eq(sent[1].dropped, dropped);
	ck_assert_uint_eq(sent[1].data[0], 'h');
	ck_assert_int_eq(sent[n_sent - 2].kind, ALB_CONSOLE_RELAY_DATA);
	ck_assert_uint_eq(sent[n_sent - 2].data[0], 'j');
	ack_all();
	ck_assert_uint_eq(alb_console_relay_kept(relay), 0);
}
END_TEST

START_TEST(test_in_flight_does_not_count)
{
	acked = 0;
	/* While the receiver is there and behind (the window is full), new output waits,
	 * and only that is bounded: nothing is lost for what is on its way. */
	new_relay(2 * (CHUNK + ALB_CONSOLE_RELAY_SEGMENT_COST), UINT64_C(1) << 30);
	alb_console_relay_connected(relay);
	static char chunk[CHUNK + 1];
	memset(chunk, 'x', CHUNK);
	unsigned window = ALB_CONSOLE_RELAY_WINDOW_BYTES / CHUNK;
	for (unsigned i = 0; i < window + 2; i++)
		data("busy", chunk);
	ck_assert_uint_eq(n_sent, window);
	ck_assert_uint_eq(alb_console_relay_dropped(relay), 0);
	ack_all();
	ack_all();
	ck_assert_uint_eq(n_sent, window + 2);
	ck_assert_uint_eq(alb_console_relay_kept(relay), 0);
}
END_TEST

START_TEST(test_bound_keeps_the_end_and_its_count)
{
	acked = 0;
	/* Room for two empty segments only: data goes, the end of the run stays and
	 * carries what was lost. */
	new_relay(2 * ALB_CONSOLE_RELAY_SEGMENT_COST, 1u << 20);
	ck_assert_alb_ok(test_ctx, alb_console_relay_begin(relay, nm("vm"), 0));
	data("vm", "0123456789");
	data("vm", "abc");
	ck_assert_alb_ok(test_ctx, alb_console_relay_end(relay, nm("vm"), 0));
	alb_console_relay_connected(relay);
	ck_assert_uint_ge(n_sent, 1);
	ck_assert_int_eq(sent[n_sent - 1].kind, ALB_CONSOLE_RELAY_END);
	uint64_t carried = 0;
	for (unsigned i = 0; i < n_sent; i++)
		carried += sent[i].dropped;
	ck_assert_uint_eq(carried, 13);
	ck_assert_uint_eq(alb_console_relay_dropped(relay), 13);
}
END_TEST

/* Bytes lost before the relay (a monitor's bound while albatrossd was away) are counted
 * and carried by the next segment of that unikernel, as the relay's own losses are. */
START_TEST(test_lost_upstream_is_carried)
{
	acked = 0;
	new_relay(0, 0);
	alb_console_relay_connected(relay);
	ck_assert_alb_ok(test_ctx, alb_console_relay_begin(relay, nm("vm"), 0));
	data("vm", "before\n");
	ck_assert_alb_ok(test_ctx, alb_console_relay_lost(relay, nm("vm"), 0));
	ck_assert_alb_ok(test_ctx, alb_console_relay_lost(relay, nm("vm"), 4096));
	ck_assert_alb_ok(test_ctx, alb_console_relay_lost(relay, nm("vm"), 100));
	data("other", "x");
	data("vm", "after\n");
	ck_assert_uint_eq(n_sent, 4);
	ck_assert_str_eq(sent[2].name, "other");
	ck_assert_uint_eq(sent[2].dropped, 0);
	ck_assert_str_eq(sent[3].name, "vm");
	ck_assert_mem_eq(sent[3].data, "after\n", 6);
	ck_assert_uint_eq(sent[3].dropped, 4196);
	ck_assert_uint_eq(alb_console_relay_dropped(relay), 4196);
	/* A loss with no output after it: the end of the run carries it. */
	ck_assert_alb_ok(test_ctx, alb_console_relay_lost(relay, nm("vm"), 7));
	ck_assert_alb_ok(test_ctx, alb_console_relay_end(relay, nm("vm"), 0));
	ck_assert_int_eq(sent[n_sent - 1].kind, ALB_CONSOLE_RELAY_END);
	ck_assert_uint_eq(sent[n_sent - 1].dropped, 7);
	ck_assert_alb_err(test_ctx, alb_console_relay_lost(NULL, nm("vm"), 1), EINVAL);
	ack_all();
}
END_TEST

START_TEST(test_total_bound_takes_from_the_largest)
{
	acked = 0;
	uint64_t quiet = 4096 + ALB_CONSOLE_RELAY_SEGMENT_COST;
	new_relay(UINT64_C(1) << 30, quiet + 2 * (CHUNK + ALB_CONSOLE_RELAY_SEGMENT_COST) + 1000);
	static char big[CHUNK + 1];
	memset(big, 'b', CHUNK);
	data("quiet", "q\n");
	for (int i = 0; i < 5; i++)
		data("loud", big);
	/* Over the total: the loud one pays, the quiet one keeps its line. */
	ck_assert_uint_le(alb_console_relay_kept(relay),
			  quiet + 2 * (CHUNK + ALB_CONSOLE_RELAY_SEGMENT_COST) + 1000);
	ck_assert_uint_eq(alb_console_relay_kept_of(relay, nm("quiet")), quiet);
	ck_assert_uint_eq(alb_console_relay_dropped(relay), 3 * CHUNK);
}
END_TEST

START_TEST(test_refused_and_failed_sends)
{
	acked = 0;
	new_relay(0, 0);
	alb_console_relay_connected(relay);
	/* A send that fails leaves the segment, tried again at the next pump. */
	fail_sends = 1;
	data("vm", "x");
	ck_assert_uint_eq(n_sent, 0);
	ck_assert_uint_gt(alb_console_relay_kept(relay), 0);
	alb_console_relay_pump(relay, false);
	ck_assert_uint_eq(n_sent, 1);
	/* A refusal drops the segment too: the receiver will never take it. */
	alb_console_relay_ack(relay, sent[0].id, false);
	ck_assert_uint_eq(alb_console_relay_kept(relay), 0);
	/* Bad arguments. */
	ck_assert_int_eq(alb_console_relay_data(NULL, nm("vm"), 0, "x", 1), -EINVAL);
	ck_assert_int_eq(alb_console_relay_begin(relay, nm("path:"), 0), -EINVAL);
	ck_assert_int_eq(alb_console_relay_data(relay, nm("vm"), 0, NULL, 1), -EINVAL);
	ck_assert_int_eq(alb_console_relay_data(relay, nm("vm"), 0, NULL, 0), 0);
	ck_assert_ptr_null(alb_console_relay_free(NULL));
}
END_TEST

static Suite *relay_suite(void)
{
	Suite *s = suite_create("console-relay");
	TCase *tc = tcase_create("relay");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_kept_until_connected_then_in_order);
	tcase_add_test(tc, test_window_and_split);
	tcase_add_test(tc, test_resent_after_reconnect);
	tcase_add_test(tc, test_bound_drops_oldest_and_counts);
	tcase_add_test(tc, test_in_flight_does_not_count);
	tcase_add_test(tc, test_bound_keeps_the_end_and_its_count);
	tcase_add_test(tc, test_total_bound_takes_from_the_largest);
	tcase_add_test(tc, test_lost_upstream_is_carried);
	tcase_add_test(tc, test_refused_and_failed_sends);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(relay_suite());
}
