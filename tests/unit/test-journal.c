/* SPDX-License-Identifier: ISC */
/* The state's journal (docs/state.md, "The journal"): records, replay, torn tails,
 * damage in the middle, the writer (group commit, snapshots). */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio-private.h"
#include "journal-private.h"
#include "test-common.h"

static void setup(void)
{
	tc_ctx_setup();
	tc_tmpdir_setup();
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

static void name_is(const alb_name *n, const char *want)
{
	_cleanup_free_ char *s = alb_name_to_string(n);
	ck_assert_str_eq(s, want);
}

static alb_unikernel_config *config(uint8_t d)
{
	alb_unikernel_config *c = NULL;
	ck_assert_int_eq(alb_unikernel_config_new(test_ctx, &c), 0);
	const uint8_t digest[32] = {d};
	alb_unikernel_config_set_digest(c, digest);
	alb_unikernel_config_set_image(c, 1000, 0);
	alb_unikernel_config_set_memory(c, 32);
	return c;
}

/* Appends the framed record to buf. */
static void put(uint8_t **buf, size_t *len, struct alb_journal_record *rec)
{
	uint8_t *r;
	size_t n;
	ck_assert_alb_ok(test_ctx, alb_journal_encode(test_ctx, rec, &r, &n));
	*buf = realloc(*buf, *len + n);
	memcpy(*buf + *len, r, n);
	*len += n;
	free(r);
}

/* A journal of every kind of record: a, b created, policy p: set, block d, a gone. */
static size_t sample(uint8_t **buf, size_t *len, size_t offsets[8])
{
	alb_name *a = N("a"), *b = N("b"), *p = N("p:"), *d = N("d");
	alb_unikernel_config *c = config(1);
	alb_policy *pol = NULL;
	ck_assert_int_eq(alb_policy_new(&pol), 0);
	alb_policy_set_memory(pol, 64);
	struct alb_journal_record recs[] = {
	    {.seq = 1, .op = ALB_JOURNAL_PUT_UNIKERNEL, .name = a, .config = c},
	    {.seq = 2, .op = ALB_JOURNAL_PUT_UNIKERNEL, .name = b, .config = c},
	    {.seq = 3, .op = ALB_JOURNAL_PUT_POLICY, .name = p, .policy = pol},
	    {.seq = 4, .op = ALB_JOURNAL_PUT_BLOCK, .name = d, .size_mb = 10, .sector_size = 4096},
	    {.seq = 5, .op = ALB_JOURNAL_REMOVE_UNIKERNEL, .name = a},
	    {.seq = 6, .op = ALB_JOURNAL_PUT_BLOCK, .name = d, .size_mb = 20},
	    {.seq = 7, .op = ALB_JOURNAL_REMOVE_POLICY, .name = p},
	    {.seq = 8, .op = ALB_JOURNAL_PUT_POLICY, .name = p, .policy = pol},
	};
	for (size_t i = 0; i < ELEMENTSOF(recs); i++) {
		offsets[i] = *len;
		put(buf, len, &recs[i]);
	}
	alb_name_free(a);
	alb_name_free(b);
	alb_name_free(p);
	alb_name_free(d);
	alb_unikernel_config_free(c);
	alb_policy_free(pol);
	return ELEMENTSOF(recs);
}

static void check_sample(const struct alb_state *s)
{
	ck_assert_uint_eq(s->n_unikernels, 1);
	name_is(s->unikernels[0].name, "b");
	ck_assert_uint_eq(s->n_policies, 1);
	ck_assert_uint_eq(s->n_blocks, 1);
	ck_assert_uint_eq(s->blocks[0].size_mb, 20);
	ck_assert_uint_eq(s->blocks[0].sector_size, 0);
}

START_TEST(test_replay)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0, off[8], valid;
	uint64_t last;
	bool torn;
	sample(&buf, &len, off);
	_cleanup_(alb_state_freep) struct alb_state *s = NULL;
	ck_assert_int_eq(alb_state_new(&s), 0);
	ck_assert_alb_ok(test_ctx,
			 alb_journal_replay(test_ctx, "j", buf, len, s, &valid, &last, &torn));
	ck_assert_uint_eq(valid, len);
	ck_assert_uint_eq(last, 8);
	ck_assert(!torn);
	check_sample(s);
	/* Replayed again over its own result (a crash after a snapshot): the same. */
	ck_assert_alb_ok(test_ctx,
			 alb_journal_replay(test_ctx, "j", buf, len, s, &valid, &last, &torn));
	check_sample(s);
}
END_TEST

START_TEST(test_torn_tail)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0, off[8], valid;
	uint64_t last;
	bool torn;
	sample(&buf, &len, off);
	/* Every cut inside the last record: dropped, the others kept. */
	for (size_t cut = off[7] + 1; cut < len; cut++) {
		_cleanup_(alb_state_freep) struct alb_state *s = NULL;
		ck_assert_int_eq(alb_state_new(&s), 0);
		ck_assert_alb_ok(
		    test_ctx, alb_journal_replay(test_ctx, "j", buf, cut, s, &valid, &last, &torn));
		ck_assert(torn);
		ck_assert_uint_eq(valid, off[7]);
		ck_assert_uint_eq(last, 7);
		ck_assert_uint_eq(s->n_policies, 0);
	}
	/* The last record whole but damaged: no crash makes that (a record is one write(),
	 * appended): damage, refused. */
	buf[len - 1] ^= 1;
	_cleanup_(alb_state_freep) struct alb_state *s = NULL;
	ck_assert_int_eq(alb_state_new(&s), 0);
	ck_assert_int_eq(alb_journal_replay(test_ctx, "j", buf, len, s, &valid, &last, &torn),
			 -EBADMSG);
	char want[128];
	snprintf(want, sizeof(want), "the record at offset %zu is damaged", off[7]);
	ck_assert_msg(strstr(alb_ctx_last_error(test_ctx), want), "%s",
		      alb_ctx_last_error(test_ctx));
}
END_TEST

START_TEST(test_damaged_length)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0, off[8], valid;
	uint64_t last;
	bool torn;
	sample(&buf, &len, off);
	/* The first record's length past ALB_JOURNAL_RECORD_MAX (and past the end of the
	 * file): damage, not a torn tail that would take every record with it. */
	for (size_t i = 0; i < 8; i++) {
		size_t at = off[i];
		uint8_t save = buf[at + 3];
		buf[at + 3] ^= 0x10;
		_cleanup_(alb_state_freep) struct alb_state *s = NULL;
		ck_assert_int_eq(alb_state_new(&s), 0);
		ck_assert_int_eq(
		    alb_journal_replay(test_ctx, "/x/j", buf, len, s, &valid, &last, &torn),
		    -EBADMSG);
		char want[128];
		snprintf(want, sizeof(want),
			 "state journal '/x/j' cannot be used: the record at offset %zu", at);
		ck_assert_msg(strstr(alb_ctx_last_error(test_ctx), want), "%s",
			      alb_ctx_last_error(test_ctx));
		buf[at + 3] = save;
	}
	/* A length shorter than the record: its checksum fails, damage. */
	buf[off[2]] -= 1;
	_cleanup_(alb_state_freep) struct alb_state *s = NULL;
	ck_assert_int_eq(alb_state_new(&s), 0);
	ck_assert_int_eq(alb_journal_replay(test_ctx, "j", buf, len, s, &valid, &last, &torn),
			 -EBADMSG);
	buf[off[2]] += 1;
	/* A header cut short at the end: torn, the records before it kept. */
	for (size_t k = 1; k < ALB_JOURNAL_HEADER; k++) {
		_cleanup_free_ uint8_t *b2 = malloc(len + k);
		memcpy(b2, buf, len);
		memcpy(b2 + len, buf, k);
		_cleanup_(alb_state_freep) struct alb_state *t = NULL;
		ck_assert_int_eq(alb_state_new(&t), 0);
		ck_assert_alb_ok(test_ctx, alb_journal_replay(test_ctx, "j", b2, len + k, t, &valid,
							      &last, &torn));
		ck_assert(torn);
		ck_assert_uint_eq(valid, len);
		ck_assert_uint_eq(last, 8);
	}
}
END_TEST

START_TEST(test_damaged_middle)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0, off[8], valid;
	uint64_t last;
	bool torn;
	sample(&buf, &len, off);
	/* A bad checksum before the last record. */
	buf[off[3] - 1] ^= 1;
	_cleanup_(alb_state_freep) struct alb_state *s = NULL;
	ck_assert_int_eq(alb_state_new(&s), 0);
	ck_assert_int_eq(alb_journal_replay(test_ctx, "/x/j", buf, len, s, &valid, &last, &torn),
			 -EBADMSG);
	char want[128];
	snprintf(want, sizeof(want),
		 "state journal '/x/j' cannot be used: the record at offset %zu", off[2]);
	ck_assert_msg(strstr(alb_ctx_last_error(test_ctx), want), "%s",
		      alb_ctx_last_error(test_ctx));
	buf[off[3] - 1] ^= 1;
	/* A damaged length (larger than what follows, not the last record). */
	buf[off[1]] ^= 0x40;
	ck_assert_int_eq(alb_journal_replay(test_ctx, "j", buf, len, s, &valid, &last, &torn),
			 -EBADMSG);
}
END_TEST

START_TEST(test_invalid_records)
{
	alb_name *a = N("a"), *p = N("p:");
	alb_unikernel_config *c = config(2);
	alb_unikernel_config *nodigest = NULL;
	ck_assert_int_eq(alb_unikernel_config_new(test_ctx, &nodigest), 0);
	/* Seqs must grow. */
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0, valid;
	uint64_t last;
	bool torn;
	put(&buf, &len,
	    &(struct alb_journal_record){.seq = 2, .op = ALB_JOURNAL_REMOVE_UNIKERNEL, .name = a});
	put(&buf, &len,
	    &(struct alb_journal_record){.seq = 2, .op = ALB_JOURNAL_REMOVE_UNIKERNEL, .name = a});
	_cleanup_(alb_state_freep) struct alb_state *s = NULL;
	ck_assert_int_eq(alb_state_new(&s), 0);
	ck_assert_int_eq(alb_journal_replay(test_ctx, "j", buf, len, s, &valid, &last, &torn),
			 -EBADMSG);
	ck_assert_msg(strstr(alb_ctx_last_error(test_ctx), "seq"), "%s",
		      alb_ctx_last_error(test_ctx));
	/* A unikernel without digest cannot even be written; a policy on a name that is not
	 * a path is refused at load. */
	uint8_t *r;
	size_t n;
	ck_assert_int_eq(
	    alb_journal_encode(
		test_ctx,
		&(struct alb_journal_record){
		    .seq = 1, .op = ALB_JOURNAL_PUT_UNIKERNEL, .name = a, .config = nodigest},
		&r, &n),
	    -EINVAL);
	alb_policy *pol = NULL;
	ck_assert_int_eq(alb_policy_new(&pol), 0);
	free(buf);
	buf = NULL;
	len = 0;
	put(&buf, &len,
	    &(struct alb_journal_record){
		.seq = 1, .op = ALB_JOURNAL_PUT_POLICY, .name = a, .policy = pol});
	put(&buf, &len,
	    &(struct alb_journal_record){.seq = 2, .op = ALB_JOURNAL_REMOVE_POLICY, .name = p});
	ck_assert_int_eq(alb_journal_replay(test_ctx, "j", buf, len, s, &valid, &last, &torn),
			 -EBADMSG);
	ck_assert_msg(strstr(alb_ctx_last_error(test_ctx), "offset 0"), "%s",
		      alb_ctx_last_error(test_ctx));
	alb_policy_free(pol);
	alb_name_free(a);
	alb_name_free(p);
	alb_unikernel_config_free(c);
	alb_unikernel_config_free(nodigest);
}
END_TEST

static void load(const char *path, struct alb_state **ret, uint64_t *last)
{
	size_t valid;
	bool torn;
	ck_assert_int_eq(alb_state_new(ret), 0);
	ck_assert_alb_ok(test_ctx, alb_journal_load(test_ctx, path, *ret, &valid, last, &torn));
	ck_assert(!torn);
}

START_TEST(test_writer)
{
	const char *jp = test_path("state.journal"), *sp = test_path("state");
	alb_journal *j = NULL;
	ck_assert_alb_ok(test_ctx, alb_journal_open(test_ctx, jp, sp, 0, 1, NULL, &j));
	alb_name *a = N("a"), *b = N("b");
	alb_unikernel_config *c = config(3);
	struct alb_journal_record ra = {.op = ALB_JOURNAL_PUT_UNIKERNEL, .name = a, .config = c};
	ck_assert_alb_ok(test_ctx, alb_journal_append(test_ctx, j, &ra));
	ck_assert_uint_eq(ra.seq, 1);
	alb_journal_kick(j);
	ck_assert_alb_ok(test_ctx, alb_journal_sync(test_ctx, j));
	ck_assert_uint_eq(alb_journal_durable(j), 1);

	/* A snapshot with a, then b appended before it is written: the new journal has b. */
	_cleanup_(alb_state_freep) struct alb_state *snap = NULL;
	uint64_t last;
	load(jp, &snap, &last);
	uint8_t *buf;
	size_t len;
	ck_assert_alb_ok(test_ctx, alb_state_encode(test_ctx, snap, &buf, &len));
	alb_journal_snapshot(j, buf, len);
	struct alb_journal_record rb = {.op = ALB_JOURNAL_PUT_UNIKERNEL, .name = b, .config = c};
	ck_assert_alb_ok(test_ctx, alb_journal_append(test_ctx, j, &rb));
	ck_assert_alb_ok(test_ctx, alb_journal_sync(test_ctx, j));
	ck_assert_uint_eq(alb_journal_durable(j), 2);
	j = alb_journal_free(j);

	_cleanup_(alb_state_freep) struct alb_state *s = NULL;
	ck_assert_alb_ok(test_ctx, alb_state_load(test_ctx, sp, &s));
	ck_assert_uint_eq(s->n_unikernels, 1);
	_cleanup_(alb_state_freep) struct alb_state *t = NULL;
	load(jp, &t, &last);
	ck_assert_uint_eq(last, 2);
	ck_assert_uint_eq(t->n_unikernels, 1);
	name_is(t->unikernels[0].name, "b");

	/* Opened again cut to a valid length (a torn tail): the tail goes. */
	int fd = open(jp, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "\x10\0\0\0junk", 8), 8);
	close(fd);
	struct stat st;
	ck_assert_int_eq(stat(jp, &st), 0);
	ck_assert_alb_ok(test_ctx,
			 alb_journal_open(test_ctx, jp, sp, (size_t)st.st_size - 8, 3, NULL, &j));
	ck_assert_int_eq(stat(jp, &st), 0);
	ck_assert_alb_ok(test_ctx, alb_journal_append(test_ctx, j, &ra));
	ck_assert_uint_eq(ra.seq, 3);
	j = alb_journal_free(j); /* syncs */
	_cleanup_(alb_state_freep) struct alb_state *u = NULL;
	load(jp, &u, &last);
	ck_assert_uint_eq(last, 3);
	ck_assert_uint_eq(u->n_unikernels, 2);
	alb_name_free(a);
	alb_name_free(b);
	alb_unikernel_config_free(c);
}
END_TEST

START_TEST(test_append_failure)
{
	/* A write that fails (a full disk) is refused: the caller undoes its change. */
	if (access("/dev/full", W_OK) < 0)
		return;
	alb_journal *j = NULL;
	ck_assert_alb_ok(
	    test_ctx, alb_journal_open(test_ctx, "/dev/full", test_path("state"), 0, 1, NULL, &j));
	alb_name *a = N("a");
	struct alb_journal_record r = {.op = ALB_JOURNAL_REMOVE_UNIKERNEL, .name = a};
	ck_assert_int_eq(alb_journal_append(test_ctx, j, &r), -ENOSPC);
	ck_assert_msg(strstr(alb_ctx_last_error(test_ctx), "could not be written"), "%s",
		      alb_ctx_last_error(test_ctx));
	ck_assert_uint_eq(alb_journal_last_seq(j), 0);
	j = alb_journal_free(j);
	alb_name_free(a);
}
END_TEST

START_TEST(test_unrecorded)
{
	/* A change whose append failed: a sync alone does not make it durable, a snapshot
	 * queued after it does. */
	const char *jp = test_path("state.journal"), *sp = test_path("state");
	alb_journal *j = NULL;
	ck_assert_alb_ok(test_ctx, alb_journal_open(test_ctx, jp, sp, 0, 1, NULL, &j));
	alb_name *a = N("a");
	struct alb_journal_record ra = {.op = ALB_JOURNAL_REMOVE_UNIKERNEL, .name = a};
	ck_assert_alb_ok(test_ctx, alb_journal_append(test_ctx, j, &ra));
	alb_journal_unrecorded(j);
	ck_assert_uint_eq(alb_journal_last_seq(j), 2);
	ck_assert_alb_ok(test_ctx, alb_journal_append(test_ctx, j, &ra));
	ck_assert_int_eq(alb_journal_sync(test_ctx, j), -EIO);
	ck_assert_uint_eq(alb_journal_durable(j), 1);
	_cleanup_(alb_state_freep) struct alb_state *s = NULL;
	uint8_t *buf;
	size_t len;
	ck_assert_int_eq(alb_state_new(&s), 0);
	ck_assert_alb_ok(test_ctx, alb_state_encode(test_ctx, s, &buf, &len));
	alb_journal_snapshot(j, buf, len);
	ck_assert_alb_ok(test_ctx, alb_journal_sync(test_ctx, j));
	ck_assert_uint_eq(alb_journal_durable(j), 3);
	ck_assert_alb_ok(test_ctx, alb_journal_append(test_ctx, j, &ra));
	ck_assert_alb_ok(test_ctx, alb_journal_sync(test_ctx, j));
	ck_assert_uint_eq(alb_journal_durable(j), 4);
	j = alb_journal_free(j);
	alb_name_free(a);
}
END_TEST

static Suite *journal_suite(void)
{
	Suite *s = suite_create("journal");
	TCase *tc = tcase_create("records");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_replay);
	tcase_add_test(tc, test_torn_tail);
	tcase_add_test(tc, test_damaged_middle);
	tcase_add_test(tc, test_damaged_length);
	tcase_add_test(tc, test_invalid_records);
	suite_add_tcase(s, tc);
	TCase *io = tcase_create("writer");
	tcase_add_checked_fixture(io, setup, teardown);
	tcase_add_test(io, test_writer);
	tcase_add_test(io, test_append_failure);
	tcase_add_test(io, test_unrecorded);
	suite_add_tcase(s, io);
	return s;
}

int main(void)
{
	return test_run_suite(journal_suite());
}
