/* SPDX-License-Identifier: ISC */
/* The stats module: /proc parsing on crafted files, line protocol and
 * Prometheus text, the bounded queue, URLs, and the collector on ourselves. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include "stats-private.h"
#include "test-common.h"

static const struct alb_stats_host host = {
    .hz = 100, .page_size = 4096, .boot_realtime_us = UINT64_C(1700000000000000)};

/* A stat line as the kernel writes it, with comm as given. */
static int stat_line(char *buf, size_t size, const char *comm)
{
	return snprintf(buf, size,
			"4242 (%s) S 1 4242 4242 0 -1 4194560 11 0 22 0 150 25 0 0 20 0 1 0 "
			"5000 123456789 77 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 "
			"0 0 0 0\n",
			comm);
}

START_TEST(test_stat_comm)
{
	static const char *const comms[] = {"sleep", "a) (b", ") (", "x ) y (z) ", "((()))", ""};
	for (size_t i = 0; i < sizeof(comms) / sizeof(comms[0]); i++) {
		char buf[1024];
		struct alb_stats s = {0};
		int n = stat_line(buf, sizeof(buf), comms[i]);
		ck_assert_alb_ok(test_ctx,
				 alb_stats_parse_stat(test_ctx, buf, (size_t)n, &host, &s));
		ck_assert_uint_eq(s.minflt, 11);
		ck_assert_uint_eq(s.majflt, 22);
		ck_assert_uint_eq(s.utime_us, 1500000);
		ck_assert_uint_eq(s.stime_us, 250000);
		ck_assert_uint_eq(s.start_time_us, host.boot_realtime_us + 50000000);
		ck_assert_uint_eq(s.vsize_bytes, 123456789);
	}
}
END_TEST

START_TEST(test_stat_malformed)
{
	char buf[1024];
	struct alb_stats s = {0};
	int n = stat_line(buf, sizeof(buf), "ok");

	/* Truncated anywhere up to the end of rss: refused. */
	int rss_end = (int)(strstr(buf, " 77 ") - buf) + 3;
	for (int cut = 0; cut <= rss_end; cut++)
		ck_assert_int_eq(alb_stats_parse_stat(NULL, buf, (size_t)cut, &host, &s), -EBADMSG);
	ck_assert_alb_err(test_ctx, alb_stats_parse_stat(test_ctx, "1 comm S 1", 10, &host, &s),
			  EBADMSG);
	ck_assert_last_error_has(test_ctx, "comm");
	/* A number that is not one, an overflow. */
	const char *bad = "1 (x) S 1 1 1 0 -1 0 11 0 22 0 abc 25 0 0 20 0 1 0 5000 1 77\n";
	ck_assert_int_eq(alb_stats_parse_stat(NULL, bad, strlen(bad), &host, &s), -EBADMSG);
	const char *big =
	    "1 (x) S 1 1 1 0 -1 0 11 0 22 0 99999999999999999999999 25 0 0 20 0 1 0 5000 1 77\n";
	ck_assert_int_eq(alb_stats_parse_stat(NULL, big, strlen(big), &host, &s), -EBADMSG);
	/* Not NUL-terminated: only len bytes are looked at. */
	char copy[1024];
	memcpy(copy, buf, (size_t)n);
	memset(copy + n, 'x', sizeof(copy) - (size_t)n);
	ck_assert_alb_ok(test_ctx, alb_stats_parse_stat(test_ctx, copy, (size_t)n, &host, &s));
}
END_TEST

START_TEST(test_statm_status)
{
	struct alb_stats s = {0};
	const char *statm = "1000 250 100 10 0 300 0\n";
	ck_assert_alb_ok(test_ctx,
			 alb_stats_parse_statm(test_ctx, statm, strlen(statm), &host, &s));
	ck_assert_uint_eq(s.rss_bytes, 250 * 4096);
	ck_assert_int_eq(alb_stats_parse_statm(NULL, "1000", 4, &host, &s), -EBADMSG);
	ck_assert_int_eq(alb_stats_parse_statm(NULL, "", 0, &host, &s), -EBADMSG);

	const char *status = "Name:\tvoluntary_ctxt_switches:\n"
			     "Umask:\t0022\nState:\tS (sleeping)\n"
			     "voluntary_ctxt_switches:\t123\n"
			     "nonvoluntary_ctxt_switches:\t45\n";
	ck_assert_alb_ok(test_ctx, alb_stats_parse_status(test_ctx, status, strlen(status), &s));
	ck_assert_uint_eq(s.nvcsw, 123);
	ck_assert_uint_eq(s.nivcsw, 45);
	/* Cut in the last number: not trusted; cut before it: missing. */
	ck_assert_int_eq(alb_stats_parse_status(NULL, status, strlen(status) - 2, &s), -EBADMSG);
	ck_assert_int_eq(alb_stats_parse_status(NULL, status, strlen(status) - 35, &s), -EBADMSG);
	const char *junk = "voluntary_ctxt_switches:\tx\nnonvoluntary_ctxt_switches:\t1\n";
	ck_assert_int_eq(alb_stats_parse_status(NULL, junk, strlen(junk), &s), -EBADMSG);
}
END_TEST

static void write_file(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

START_TEST(test_proc_dir)
{
	int dirfd = open(test_tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char line[1024];
	struct alb_stats s = {0};

	ck_assert_int_ge(dirfd, 0);
	stat_line(line, sizeof(line), "evil) (comm");
	write_file(dirfd, "stat", line);
	write_file(dirfd, "statm", "1000 3 1 1 0 1 0\n");
	write_file(dirfd, "status",
		   "voluntary_ctxt_switches:\t7\nnonvoluntary_ctxt_switches:\t8\n");
	ck_assert_alb_ok(test_ctx, alb_stats_read_proc_dir(test_ctx, dirfd, &host, &s));
	ck_assert_uint_eq(s.rss_bytes, 3 * 4096);
	ck_assert_uint_eq(s.nivcsw, 8);
	/* An empty file (the process went away while we read), a missing one. */
	write_file(dirfd, "statm", "");
	ck_assert_alb_err(test_ctx, alb_stats_read_proc_dir(test_ctx, dirfd, &host, &s), ESRCH);
	unlinkat(dirfd, "statm", 0);
	ck_assert_alb_err(test_ctx, alb_stats_read_proc_dir(test_ctx, dirfd, &host, &s), ESRCH);
	/* A stat longer than its bound is refused, not cut. */
	char *huge = malloc(ALB_STATS_STAT_MAX + 10);
	memset(huge, '1', ALB_STATS_STAT_MAX + 9);
	huge[ALB_STATS_STAT_MAX + 9] = '\0';
	write_file(dirfd, "stat", huge);
	write_file(dirfd, "statm", "1000 3 1 1 0 1 0\n");
	ck_assert_alb_err(test_ctx, alb_stats_read_proc_dir(test_ctx, dirfd, &host, &s), EBADMSG);
	free(huge);

	/* KVM counters: numbers only, valid keys only. */
	mkdirat(dirfd, "kvm", 0755);
	int kfd = openat(dirfd, "kvm", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	write_file(kfd, "exits", "12345\n");
	write_file(kfd, "halt_wakeup", "6\n");
	write_file(kfd, "Bad-Key", "1\n");
	write_file(kfd, "histogram", "1 2 3\n");
	ck_assert_alb_ok(test_ctx, alb_stats_read_kvm_dir(test_ctx, kfd, &s));
	ck_assert_uint_eq(s.n_kvm, 2);
	for (uint32_t i = 0; i < s.n_kvm; i++)
		ck_assert(streq(s.kvm[i].key, "exits") ? s.kvm[i].value == 12345
						       : s.kvm[i].value == 6);
	for (uint32_t i = 0; i < s.n_kvm; i++)
		free(s.kvm[i].key);
	free(s.kvm);
	close(kfd);
	close(dirfd);
}
END_TEST

START_TEST(test_influx_escaping)
{
	struct alb_buf b = {0};
	bool first = true;

	alb_influx_begin(&b, "my measure,ment=x");
	alb_influx_tag(&b, "tag key", "a,b=c d");
	alb_influx_tag(&b, "t", "back\\slash\\");
	alb_influx_field(&b, &first, "f=1", 5);
	alb_influx_field(&b, &first, "big", UINT64_MAX);
	alb_influx_end(&b, 1234);
	_cleanup_free_ char *s = alb_buf_steal(&b);
	ck_assert_str_eq(s, "my\\ measure\\,ment=x,tag\\ key=a\\,b\\=c\\ d,t=back\\slash\\\\ "
			    "f\\=1=5i,big=9223372036854775807i 1234000\n");

	alb_influx_begin(&b, "m");
	alb_influx_tag(&b, "k", "new\nline");
	first = true;
	alb_influx_field(&b, &first, "v", 1);
	alb_influx_end(&b, 0);
	_cleanup_free_ char *t = alb_buf_steal(&b);
	ck_assert_str_eq(t, "m,k=new_line v=1i 0\n");
}
END_TEST

static struct alb_stats *fake_sample(void)
{
	struct alb_stats *s = calloc(1, sizeof(*s));
	s->time_us = 1000001;
	s->pid = 77;
	s->utime_us = 2500000;
	s->stime_us = 1;
	s->rss_bytes = 4096;
	s->ifs = calloc(1, sizeof(*s->ifs));
	s->ifs[0].name = strdup("alb0");
	s->ifs[0].rx_bytes = 10;
	s->ifs[0].tx_packets = 3;
	s->n_ifs = 1;
	s->kvm = calloc(1, sizeof(*s->kvm));
	s->kvm[0].key = strdup("exits");
	s->kvm[0].value = 9;
	s->n_kvm = 1;
	return s;
}

START_TEST(test_sample_influx)
{
	struct alb_stats *s = fake_sample();
	char *text = NULL;
	uint64_t v;
	const char *name;

	ck_assert_alb_ok(test_ctx, alb_stats_sample_to_influx(s, "a:b vm", &text));
	ck_assert_ptr_nonnull(strstr(text, "albatross_process,unikernel=a:b\\ vm pid=77i,"));
	ck_assert_ptr_nonnull(strstr(text, "utime_us=2500000i"));
	ck_assert_ptr_nonnull(strstr(text, " 1000001000\n"));
	ck_assert_ptr_nonnull(
	    strstr(text, "albatross_interface,interface=alb0,unikernel=a:b\\ vm rx_bytes=10i,"));
	ck_assert_ptr_nonnull(
	    strstr(text, "albatross_kvm,unikernel=a:b\\ vm exits=9i 1000001000\n"));
	alb_free(text);
	ck_assert_int_eq(alb_stats_sample_to_influx(s, "", &text), -EINVAL);
	ck_assert_int_eq(alb_stats_sample_get(s, ALB_STATS_UTIME, &v), 0);
	ck_assert_uint_eq(v, 2500000);
	ck_assert_int_eq(alb_stats_sample_get(s, 999, &v), -EINVAL);
	ck_assert_uint_eq(alb_stats_sample_get_n_ifs(s), 1);
	ck_assert_int_eq(alb_stats_sample_get_if(s, 0, ALB_STATS_TX_PACKETS, &name, &v), 0);
	ck_assert_str_eq(name, "alb0");
	ck_assert_uint_eq(v, 3);
	ck_assert_int_eq(alb_stats_sample_get_if(s, 1, ALB_STATS_TX_PACKETS, &name, &v), -EINVAL);
	ck_assert_uint_eq(alb_stats_sample_get_n_kvm(s), 1);
	alb_stats_sample_free(s);
}
END_TEST

START_TEST(test_prometheus)
{
	struct alb_stats *s = fake_sample();
	const alb_stats_sample *samples[] = {s};
	const char *names[] = {"we\"ird\\na\nme"};
	char *text = NULL;

	ck_assert_alb_ok(test_ctx, alb_stats_samples_to_prometheus(samples, names, 1, &text));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE albatross_unikernel_cpu_user_seconds_total "
					   "counter\n"));
	ck_assert_ptr_nonnull(strstr(text, "albatross_unikernel_cpu_user_seconds_total{unikernel="
					   "\"we\\\"ird\\\\na\\nme\"} 2.500000\n"));
	ck_assert_ptr_nonnull(strstr(text, "albatross_interface_receive_bytes_total{unikernel="
					   "\"we\\\"ird\\\\na\\nme\",interface=\"alb0\"} 10\n"));
	ck_assert_ptr_nonnull(strstr(text, "albatross_kvm_stat{unikernel=\"we\\\"ird\\\\na\\nme\","
					   "key=\"exits\"} 9\n"));
	/* Each family once. */
	const char *first = strstr(text, "# HELP albatross_unikernel_pid ");
	ck_assert_ptr_nonnull(first);
	ck_assert_ptr_null(strstr(first + 1, "# HELP albatross_unikernel_pid "));
	alb_free(text);
	ck_assert_alb_ok(test_ctx, alb_stats_samples_to_prometheus(NULL, NULL, 0, &text));
	ck_assert_ptr_null(strstr(text, "{"));
	alb_free(text);

	struct alb_buf b = {0};
	alb_prom_family(&b, "x", "gauge", "help with \\ and\nnewline");
	_cleanup_free_ char *h = alb_buf_steal(&b);
	ck_assert_str_eq(h, "# HELP x help with \\\\ and\\nnewline\n# TYPE x gauge\n");
	char v[32];
	ck_assert_str_eq(alb_prom_seconds(v, 1), "0.000001");
	ck_assert_str_eq(alb_prom_seconds(v, UINT64_MAX), "18446744073709.551615");
	alb_stats_sample_free(s);
}
END_TEST

START_TEST(test_line_queue)
{
	struct alb_line_queue q;

	ck_assert_int_eq(alb_line_queue_init(&q, 0), -EINVAL);
	ck_assert_int_eq(alb_line_queue_init(&q, 3), 0);
	ck_assert_int_eq(alb_line_queue_push(&q, "a", 1), 0);
	ck_assert_int_eq(alb_line_queue_push(&q, "b", 1), 0);
	q.inflight = 2; /* a and b are being sent */
	ck_assert_int_eq(alb_line_queue_push(&q, "c", 1), 0);
	ck_assert_int_eq(alb_line_queue_push(&q, "d", 1), 1);
	ck_assert_int_eq(alb_line_queue_push(&q, "e", 1), 1);
	ck_assert_uint_eq(q.dropped, 2);
	ck_assert_uint_eq(q.inflight, 0); /* both in-flight lines were dropped */
	ck_assert_uint_eq(q.count, 3);
	ck_assert_str_eq(alb_line_queue_peek(&q, 0), "c");
	ck_assert_str_eq(alb_line_queue_peek(&q, 2), "e");
	ck_assert_ptr_null(alb_line_queue_peek(&q, 3));
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(alb_line_queue_push(&q, "xyz", 2), 1);
	ck_assert_uint_eq(q.dropped, 1002);
	ck_assert_str_eq(alb_line_queue_peek(&q, 0), "xy");
	alb_line_queue_pop(&q, 2);
	ck_assert_uint_eq(q.count, 1);
	alb_line_queue_pop(&q, 10);
	ck_assert_uint_eq(q.count, 0);
	alb_line_queue_done(&q);
}
END_TEST

START_TEST(test_urls)
{
	char hostname[256], target[2049];
	uint16_t port;
	int kind;

	ck_assert_alb_ok(test_ctx,
			 alb_influx_parse_url(test_ctx, "http://127.0.0.1:8086/write?db=x", &kind,
					      hostname, &port, target));
	ck_assert_int_eq(kind, ALB_INFLUX_HTTP);
	ck_assert_str_eq(hostname, "127.0.0.1");
	ck_assert_uint_eq(port, 8086);
	ck_assert_str_eq(target, "/write?db=x");
	ck_assert_alb_ok(test_ctx, alb_influx_parse_url(test_ctx, "tcp://[::1]:8094", &kind,
							hostname, &port, target));
	ck_assert_int_eq(kind, ALB_INFLUX_TCP);
	ck_assert_str_eq(hostname, "::1");
	ck_assert_alb_ok(
	    test_ctx, alb_influx_parse_url(test_ctx, "http://h:1", &kind, hostname, &port, target));
	ck_assert_str_eq(target, "/write");
	static const char *const bad[] = {"udp://h:1",	    "http://h",	    "http://h:0/",
					  "http://h:65536", "tcp://h:1/x",  "http://:1/",
					  "http://h:1/a b", "tcp://[::1:1", "http://h:x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(alb_influx_parse_url(NULL, bad[i], &kind, hostname, &port, target) ==
				  -EINVAL,
			      "%s accepted", bad[i]);
}
END_TEST

static uint32_t open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	ck_assert_ptr_nonnull(d);
	uint32_t n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* The collector keeps each process's files open from one tick to the next: a process that is
 * gone is told as such (its pid, used again, is read afresh), and the files of processes not
 * sampled since the last refresh are closed. */
START_TEST(test_collect_kept_open)
{
	enum { N = 100 }; /* past the first size of the table */
	alb_stats_collector *c = NULL;
	alb_stats_sample *s = NULL;
	pid_t kids[N];
	uint64_t v;
	ck_assert_alb_ok(test_ctx, alb_stats_collector_new(test_ctx, &c));
	ck_assert_alb_ok(test_ctx, alb_stats_collector_refresh(c));
	uint32_t before = open_fds();
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		ck_assert_int_ge(kids[i], 0);
		if (kids[i] == 0) {
			pause();
			_exit(0);
		}
	}
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N; i++) {
			ck_assert_alb_ok(test_ctx,
					 alb_stats_collect(c, (uint32_t)kids[i], NULL, 0, &s));
			ck_assert_int_eq(alb_stats_sample_get(s, ALB_STATS_PID, &v), 0);
			ck_assert_uint_eq(v, (uint64_t)kids[i]);
			ck_assert_int_eq(alb_stats_sample_get(s, ALB_STATS_RSS, &v), 0);
			ck_assert_uint_gt(v, 0);
			s = alb_stats_sample_free(s);
		}
		/* Three files of each, kept. */
		ck_assert_uint_eq(open_fds(), before + 3 * N);
		ck_assert_alb_ok(test_ctx, alb_stats_collector_refresh(c));
	}
	/* Gone: told as gone, from the files kept as from none. */
	ck_assert_int_eq(kill(kids[0], SIGKILL), 0);
	ck_assert_int_eq(waitpid(kids[0], NULL, 0), kids[0]);
	ck_assert_alb_err(test_ctx, alb_stats_collect(c, (uint32_t)kids[0], NULL, 0, &s), ESRCH);
	ck_assert_alb_err(test_ctx, alb_stats_collect(c, (uint32_t)kids[0], NULL, 0, &s), ESRCH);
	/* Only the first half sampled this tick: the files of the others are closed at the
	 * next refresh, and those of the first half at the one after. */
	for (int i = 1; i < N / 2; i++) {
		ck_assert_alb_ok(test_ctx, alb_stats_collect(c, (uint32_t)kids[i], NULL, 0, &s));
		s = alb_stats_sample_free(s);
	}
	ck_assert_alb_ok(test_ctx, alb_stats_collector_refresh(c));
	ck_assert_uint_eq(open_fds(), before + 3 * (N / 2 - 1));
	ck_assert_alb_ok(test_ctx, alb_stats_collector_refresh(c));
	ck_assert_uint_eq(open_fds(), before);
	for (int i = 1; i < N; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	alb_stats_collector_free(c);
}
END_TEST

/* Under a low fd limit, the files of a few processes only are kept open; the others are
 * opened at each sample, and every process is sampled. */
START_TEST(test_collect_low_fd_limit)
{
	enum { N = 20 };
	struct rlimit rl = {.rlim_cur = 64, .rlim_max = 64};
	alb_stats_collector *c = NULL;
	alb_stats_sample *s = NULL;
	pid_t kids[N];
	ck_assert_alb_ok(test_ctx, alb_stats_collector_new(test_ctx, &c));
	ck_assert_alb_ok(test_ctx, alb_stats_collector_refresh(c));
	uint32_t before = open_fds();
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0); /* this test's process only */
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		ck_assert_int_ge(kids[i], 0);
		if (kids[i] == 0) {
			pause();
			_exit(0);
		}
	}
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N; i++) {
			ck_assert_alb_ok(test_ctx,
					 alb_stats_collect(c, (uint32_t)kids[i], NULL, 0, &s));
			s = alb_stats_sample_free(s);
		}
		/* 64 / 6: the files of 10 processes kept */
		ck_assert_uint_eq(open_fds(), before + 3 * 10);
		ck_assert_alb_ok(test_ctx, alb_stats_collector_refresh(c));
	}
	for (int i = 0; i < N; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	alb_stats_collector_free(c);
}
END_TEST

START_TEST(test_collect_self)
{
	alb_stats_collector *c = NULL;
	alb_stats_sample *s = NULL;
	const char *taps[] = {"lo", "no-such-if"};
	uint64_t v0, v1, t;

	ck_assert_alb_ok(test_ctx, alb_stats_collector_new(test_ctx, &c));
	ck_assert_alb_ok(test_ctx, alb_stats_collect(c, (uint32_t)getpid(), taps, 2, &s));
	ck_assert_int_eq(alb_stats_sample_get(s, ALB_STATS_UTIME, &v0), 0);
	ck_assert_int_eq(alb_stats_sample_get(s, ALB_STATS_RSS, &t), 0);
	ck_assert_uint_gt(t, 0);
	ck_assert_int_eq(alb_stats_sample_get(s, ALB_STATS_START_TIME, &t), 0);
	ck_assert_uint_le(t, alb_now_realtime());
	ck_assert_uint_gt(t, alb_now_realtime() - UINT64_C(3600) * 1000000);
	ck_assert_uint_eq(alb_stats_sample_get_n_ifs(s), 1); /* the missing one is left out */
	s = alb_stats_sample_free(s);
	/* Burn 300 ms of CPU (not of wall time, which a busy machine may give little CPU):
	 * user time rises. */
	struct timespec a, b;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
	volatile uint64_t x = 0;
	do {
		for (int i = 0; i < 1000000; i++)
			x += (uint64_t)i;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
	} while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 300000000L);
	ck_assert_uint_gt(x, 0); /* the work is used, and not optimised away */
	ck_assert_alb_ok(test_ctx, alb_stats_collector_refresh(c));
	ck_assert_alb_ok(test_ctx, alb_stats_collect(c, (uint32_t)getpid(), NULL, 0, &s));
	ck_assert_int_eq(alb_stats_sample_get(s, ALB_STATS_UTIME, &v1), 0);
	ck_assert_uint_gt(v1, v0);
	s = alb_stats_sample_free(s);
	ck_assert_int_eq(alb_stats_collect(c, 0, NULL, 0, &s), -EINVAL);
	const char *bad[] = {"a/b"};
	ck_assert_int_eq(alb_stats_collect(c, 1, bad, 1, &s), -EINVAL);
	ck_assert_alb_err(test_ctx, alb_stats_collect(c, ALB_PID_MAX, NULL, 0, &s), ESRCH);
	alb_stats_collector_free(c);
}
END_TEST

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

static Suite *stats_suite(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("stats");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_stat_comm);
	tcase_add_test(tc, test_stat_malformed);
	tcase_add_test(tc, test_statm_status);
	tcase_add_test(tc, test_proc_dir);
	tcase_add_test(tc, test_influx_escaping);
	tcase_add_test(tc, test_sample_influx);
	tcase_add_test(tc, test_prometheus);
	tcase_add_test(tc, test_line_queue);
	tcase_add_test(tc, test_urls);
	tcase_add_test(tc, test_collect_self);
	tcase_add_test(tc, test_collect_kept_open);
	tcase_add_test(tc, test_collect_low_fd_limit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(stats_suite());
}
