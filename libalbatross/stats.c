/* SPDX-License-Identifier: ISC */
/*
 * Statistics: sampling processes (/proc), taps (route netlink) and KVM
 * (debugfs); InfluxDB line protocol and Prometheus text. The network ends of
 * albatross-stats (the InfluxDB sender, the /metrics server) are further down.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "dl-nl-private.h" /* before any header that includes libnl's */

#include "ctx-private.h"
#include "hostport-private.h"
#include "parse-private.h"
#include "stats-private.h"

/* ---- append buffer -------------------------------------------------------- */

#define BUF_MAX_DEFAULT (UINT64_C(256) << 20)

static bool buf_reserve(struct alb_buf *b, size_t more)
{
	size_t max = b->max ? b->max : BUF_MAX_DEFAULT;
	if (b->failed)
		return false;
	if (more > max || b->len + more + 1 > max) {
		b->failed = true;
		return false;
	}
	if (b->len + more + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *n = realloc(b->data, cap);
	if (!n) {
		b->failed = true;
		return false;
	}
	b->data = n;
	b->cap = cap;
	return true;
}

void alb_buf_put(struct alb_buf *b, const char *s, size_t len)
{
	if (!buf_reserve(b, len))
		return;
	memcpy(b->data + b->len, s, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void alb_buf_puts(struct alb_buf *b, const char *s)
{
	alb_buf_put(b, s, strlen(s));
}

void alb_buf_printf(struct alb_buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		alb_buf_put(b, small, (size_t)n);
		return;
	}
	if (!buf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

char *alb_buf_steal(struct alb_buf *b)
{
	char *s = b->failed ? NULL : b->data;
	if (b->failed)
		free(b->data);
	else if (!s)
		s = strdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = false;
	return s;
}

void alb_buf_free(struct alb_buf *b)
{
	free(b->data);
	*b = (struct alb_buf){.max = b->max};
}

/* ---- /proc parsing -------------------------------------------------------- */

/* A decimal unsigned number of [s, e); false if not one or overflowing. */
static bool parse_u64(const char *s, const char *e, uint64_t *ret)
{
	return s <= e && alb_parse_u64_span(s, (size_t)(e - s), 0, UINT64_MAX, ret) == 0;
}

static uint64_t mul_div(uint64_t v, uint64_t mul, uint64_t div)
{
	/* v * mul / div without overflow for the magnitudes of /proc. */
	unsigned __int128 x = (unsigned __int128)v * mul / (div ? div : 1);
	return x > UINT64_MAX ? UINT64_MAX : (uint64_t)x;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
	unsigned __int128 x = (unsigned __int128)a * b;
	return x > UINT64_MAX ? UINT64_MAX : (uint64_t)x;
}

/* Fields of /proc/PID/stat after "(comm)", counting field 3 (state) as 0. */
enum {
	STAT_MINFLT = 10 - 3,
	STAT_MAJFLT = 12 - 3,
	STAT_UTIME = 14 - 3,
	STAT_STIME = 15 - 3,
	STAT_STARTTIME = 22 - 3,
	STAT_VSIZE = 23 - 3,
	STAT_FIELDS = 24 - 3 + 1, /* up to rss: what we need at least */
};

int alb_stats_parse_stat(alb_ctx *ctx, const char *buf, size_t len,
			 const struct alb_stats_host *host, struct alb_stats *s)
{
	const char *end = buf + len;
	const char *open = memchr(buf, '(', len), *close = NULL;

	/* comm may contain anything, ")" and " (" included: the last ")" ends it. */
	for (const char *p = end; p > buf; p--)
		if (p[-1] == ')') {
			close = p - 1;
			break;
		}
	if (!open || !close || close < open)
		return alb_error(ctx, EBADMSG, "stat: no (comm)");
	const char *p = close + 1;
	uint64_t v[STAT_FIELDS] = {0};
	unsigned n = 0;
	while (p < end && n < STAT_FIELDS) {
		if (*p != ' ')
			return alb_error(ctx, EBADMSG, "stat: expected a space after field %u",
					 n + 2);
		p++;
		const char *t = p;
		while (p < end && *p != ' ' && *p != '\n')
			p++;
		if (n == 0) { /* state: a letter */
			if (p - t != 1)
				return alb_error(ctx, EBADMSG, "stat: invalid state");
		} else if (!parse_u64(t, p, &v[n])) {
			/* Some fields may be negative (priority, nice); we need none of them,
			 * but a field we need must be a number. */
			bool needed = n == STAT_MINFLT || n == STAT_MAJFLT || n == STAT_UTIME ||
				      n == STAT_STIME || n == STAT_STARTTIME || n == STAT_VSIZE;
			if (needed || p == t)
				return alb_error(ctx, EBADMSG, "stat: field %u is not a number",
						 n + 3);
		}
		n++;
		if (p < end && *p == '\n')
			break;
	}
	/* The last field read must have ended (a space or newline follows): a file
	 * cut short in a number is not trusted. */
	if (n < STAT_FIELDS || p >= end)
		return alb_error(ctx, EBADMSG, "stat: %u fields after comm, expected at least %u",
				 n, (unsigned)STAT_FIELDS + (p >= end ? 1 : 0));
	s->minflt = v[STAT_MINFLT];
	s->majflt = v[STAT_MAJFLT];
	s->utime_us = mul_div(v[STAT_UTIME], 1000000, host->hz);
	s->stime_us = mul_div(v[STAT_STIME], 1000000, host->hz);
	uint64_t start = host->boot_realtime_us + mul_div(v[STAT_STARTTIME], 1000000, host->hz);
	s->start_time_us = start > ALB_TIME_MAX ? ALB_TIME_MAX : start;
	s->vsize_bytes = v[STAT_VSIZE];
	return 0;
}

int alb_stats_parse_statm(alb_ctx *ctx, const char *buf, size_t len,
			  const struct alb_stats_host *host, struct alb_stats *s)
{
	const char *end = buf + len, *p = buf;
	uint64_t v[2];

	for (unsigned i = 0; i < 2; i++) {
		const char *t = p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if (!parse_u64(t, p, &v[i]) || p >= end || (*p != ' ' && *p != '\n'))
			return alb_error(ctx, EBADMSG, "statm: field %u is not a number", i + 1);
		p++;
	}
	s->rss_bytes = sat_mul(v[1], host->page_size);
	return 0;
}

int alb_stats_parse_status(alb_ctx *ctx, const char *buf, size_t len, struct alb_stats *s)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
	    {"voluntary_ctxt_switches:", offsetof(struct alb_stats, nvcsw)},
	    {"nonvoluntary_ctxt_switches:", offsetof(struct alb_stats, nivcsw)},
	};
	const char *end = buf + len, *line = buf;
	unsigned found = 0;

	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *le = nl ? nl : end;
		for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
			size_t kl = strlen(keys[i].key);
			if ((size_t)(le - line) <= kl || memcmp(line, keys[i].key, kl) != 0)
				continue;
			const char *v = line + kl;
			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			/* A line cut short at the end of the buffer is not trusted. */
			if (!nl || !parse_u64(v, le, (uint64_t *)((char *)s + keys[i].off)))
				return alb_error(ctx, EBADMSG, "status: invalid %.*s line",
						 (int)(kl - 1), keys[i].key);
			found |= 1u << i;
		}
		line = le + 1;
	}
	if (found != (1u << ELEMENTSOF(keys)) - 1)
		return alb_error(ctx, EBADMSG, "status: no context switch counts");
	return 0;
}

/* Reads at most max - 1 bytes of name below dirfd into buf; the length, or -errno. */
static ssize_t read_small(int dirfd, const char *name, char *buf, size_t max)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	ssize_t n = alb_read_full(fd, buf, max - 1);
	if (n < 0)
		return n;
	buf[n] = '\0';
	return n;
}

static const char *const proc_files[] = {"stat", "statm", "status"};
static const size_t proc_sizes[] = {ALB_STATS_STAT_MAX, ALB_STATS_STATM_MAX, ALB_STATS_STATUS_MAX};

/* Reads and parses a process's stat, statm and status from fds open on them (from offset 0:
 * the fds are kept open from one tick to the next). buf: ALB_STATS_STATUS_MAX bytes. */
static int read_proc_fds(alb_ctx *ctx, const int fd[3], char *buf,
			 const struct alb_stats_host *host, struct alb_stats *s)
{
	int r;
	for (size_t i = 0; i < ELEMENTSOF(proc_files); i++) {
		ssize_t n;
		size_t got = 0;
		/* One pread is the whole file (the kernel makes it at once): another is made only
		 * after one that filled what it asked for. */
		for (;;) {
			size_t want = proc_sizes[i] - 1 - got;
			n = pread(fd[i], buf + got, want, (off_t)got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
			if ((size_t)n < want || got >= proc_sizes[i] - 1)
				break;
		}
		if (n < 0 && (errno == ENOENT || errno == ESRCH))
			return alb_error(ctx, ESRCH, "the process is gone");
		if (n < 0)
			return alb_error(ctx, errno, "Failed to read %s: %s", proc_files[i],
					 strerror(errno));
		buf[got] = '\0';
		if (got >= proc_sizes[i] - 1 && i != 2)
			return alb_error(ctx, EBADMSG, "%s: longer than %zu bytes", proc_files[i],
					 proc_sizes[i] - 1);
		if (got == 0)
			return alb_error(ctx, ESRCH, "the process is gone (empty %s)",
					 proc_files[i]);
		r = i == 0   ? alb_stats_parse_stat(ctx, buf, got, host, s)
		    : i == 1 ? alb_stats_parse_statm(ctx, buf, got, host, s)
			     : alb_stats_parse_status(ctx, buf, got, s);
		if (r < 0)
			return r;
	}
	return 0;
}

static void close_fds(int fd[3])
{
	for (size_t i = 0; i < 3; i++)
		if (fd[i] >= 0) {
			close(fd[i]);
			fd[i] = -1;
		}
}

/* Opens stat, statm and status below dirfd; -errno (ESRCH: the process is gone). */
static int open_proc_fds(alb_ctx *ctx, int dirfd, int fd[3])
{
	fd[0] = fd[1] = fd[2] = -1;
	for (size_t i = 0; i < ELEMENTSOF(proc_files); i++)
		if ((fd[i] = openat(dirfd, proc_files[i], O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
			int e = errno;
			close_fds(fd);
			if (e == ENOENT || e == ESRCH)
				return alb_error(ctx, ESRCH, "the process is gone");
			return alb_error(ctx, e, "Failed to read %s: %s", proc_files[i],
					 strerror(e));
		}
	return 0;
}

int alb_stats_read_proc_dir(alb_ctx *ctx, int dirfd, const struct alb_stats_host *host,
			    struct alb_stats *s)
{
	_cleanup_free_ char *buf = malloc(ALB_STATS_STATUS_MAX);
	int fd[3];
	if (!buf)
		return -ENOMEM;
	int r = open_proc_fds(ctx, dirfd, fd);
	if (r < 0)
		return r;
	r = read_proc_fds(ctx, fd, buf, host, s);
	close_fds(fd);
	return r;
}

static bool kvm_key_valid(const char *k)
{
	size_t n = strlen(k);
	return n >= 1 && n <= ALB_STATS_KEY_MAX &&
	       !k[strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789_")];
}

int alb_stats_read_kvm_dir(alb_ctx *ctx, int dirfd, struct alb_stats *s)
{
	int fd = dup(dirfd);
	if (fd < 0)
		return -errno;
	_cleanup_(closedirp) DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	rewinddir(d);
	struct dirent *de;
	while ((de = readdir(d)) && s->n_kvm < ALB_STATS_KVM_MAX) {
		char buf[32];
		uint64_t v;
		if (!kvm_key_valid(de->d_name))
			continue;
		ssize_t n = read_small(dirfd, de->d_name, buf, sizeof(buf));
		if (n <= 0)
			continue;
		while (n > 0 && buf[n - 1] == '\n')
			n--;
		if (!parse_u64(buf, buf + n, &v))
			continue; /* histograms and the like */
		bool dup_key = false;
		for (uint32_t i = 0; i < s->n_kvm; i++)
			dup_key = dup_key || streq(s->kvm[i].key, de->d_name);
		if (dup_key)
			continue;
		struct alb_kv *kv = realloc(s->kvm, (s->n_kvm + 1) * sizeof(*kv));
		if (!kv)
			return -ENOMEM;
		s->kvm = kv;
		if (!(kv[s->n_kvm].key = strdup(de->d_name)))
			return -ENOMEM;
		kv[s->n_kvm++].value = v;
	}
	(void)ctx;
	return 0;
}

/* ---- the collector -------------------------------------------------------- */

#define KVM_DEBUGFS  "/sys/kernel/debug/kvm"
#define KVM_DIRS_MAX 65536u

struct kvm_dir {
	uint32_t pid;
	char name[64];
};

/* The files of one sampled process, kept open from one tick to the next (a read of each with
 * pread instead of an open, a read and a close). */
struct proc_entry {
	uint32_t pid; /* 0: a free slot */
	uint32_t gen; /* the refresh it was last read after */
	int fd[3];    /* stat, statm, status; -1: closed (the process was gone) */
};

/* Most processes whose files are kept open (3 fds each; less under a low fd limit:
 * procs_max()); past it they are opened each time. */
#define PROC_CACHE_MAX 16384u

struct alb_stats_collector {
	alb_ctx *ctx;
	struct nl_sock *sock;
	struct nl_cache *links;
	struct rtnl_link **by_name; /* the links of the cache sorted by name (not referenced) */
	uint32_t n_by_name;
	struct alb_stats_host host;
	int proc_fd;
	bool refreshed;
	struct kvm_dir *kvm; /* sorted by pid */
	uint32_t n_kvm;
	/* an open-addressing table by pid (a power of two slots, at most half used) */
	struct proc_entry *procs;
	uint32_t procs_cap, n_procs, gen;
	char *buf; /* ALB_STATS_STATUS_MAX bytes */
};

static uint64_t clock_us(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

ALB_EXPORT int alb_stats_collector_new(alb_ctx *ctx, alb_stats_collector **ret_collector)
{
	if (!ctx || !ret_collector)
		return -EINVAL;
	int r = alb_dl_nl_load(ctx);
	if (r < 0)
		return r;
	_cleanup_free_ alb_stats_collector *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->proc_fd < 0)
		return alb_error(ctx, errno, "Failed to open /proc: %s", strerror(errno));
	c->sock = nl_socket_alloc();
	if (!c->sock) {
		close(c->proc_fd);
		return -ENOMEM;
	}
	r = nl_connect(c->sock, NETLINK_ROUTE);
	if (r < 0) {
		nl_socket_free(c->sock);
		close(c->proc_fd);
		return alb_error(ctx, EIO, "Failed to open a route netlink socket: %s",
				 nl_geterror(r));
	}
	long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	c->host.hz = hz > 0 ? (uint64_t)hz : 100;
	c->host.page_size = page > 0 ? (uint64_t)page : 4096;
	c->ctx = alb_ctx_ref(ctx);
	*ret_collector = TAKE_PTR(c);
	return 0;
}

static void procs_drop_all(alb_stats_collector *c)
{
	for (uint32_t i = 0; i < c->procs_cap; i++)
		if (c->procs[i].pid)
			close_fds(c->procs[i].fd);
	free(c->procs);
	c->procs = NULL;
	c->procs_cap = c->n_procs = 0;
}

static struct proc_entry *procs_slot(struct proc_entry *v, uint32_t cap, uint32_t pid)
{
	uint32_t i = (pid * 2654435761u) & (cap - 1);
	while (v[i].pid && v[i].pid != pid)
		i = (i + 1) & (cap - 1);
	return &v[i];
}

/* Keeps what was read since the last refresh (into a table of cap slots); closes the rest. */
static int procs_rebuild(alb_stats_collector *c, uint32_t cap)
{
	struct proc_entry *v = calloc(cap, sizeof(*v));
	if (!v)
		return -ENOMEM;
	uint32_t n = 0;
	for (uint32_t i = 0; i < c->procs_cap; i++) {
		struct proc_entry *e = &c->procs[i];
		if (!e->pid)
			continue;
		if (e->gen != c->gen || e->fd[0] < 0) {
			close_fds(e->fd);
			continue;
		}
		*procs_slot(v, cap, e->pid) = *e;
		n++;
	}
	free(c->procs);
	c->procs = v;
	c->procs_cap = cap;
	c->n_procs = n;
	return 0;
}

ALB_EXPORT alb_stats_collector *alb_stats_collector_free(alb_stats_collector *collector)
{
	if (!collector)
		return NULL;
	procs_drop_all(collector);
	free(collector->buf);
	free(collector->by_name);
	if (collector->links)
		nl_cache_free(collector->links);
	nl_socket_free(collector->sock);
	close(collector->proc_fd);
	free(collector->kvm);
	alb_ctx_unref(collector->ctx);
	free(collector);
	return NULL;
}

static int kvm_dir_cmp(const void *a, const void *b)
{
	const struct kvm_dir *x = a, *y = b;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* debugfs is usually root's only: absent or unreadable means no KVM figures. */
static void refresh_kvm(alb_stats_collector *c)
{
	c->n_kvm = 0;
	_cleanup_(closedirp) DIR *d = opendir(KVM_DEBUGFS);
	if (!d)
		return;
	struct dirent *de;
	uint32_t cap = 0;
	while ((de = readdir(d)) && c->n_kvm < KVM_DIRS_MAX) {
		uint64_t pid;
		const char *dash = strchr(de->d_name, '-');
		if (!dash || !parse_u64(de->d_name, dash, &pid) || pid == 0 || pid > ALB_PID_MAX ||
		    strlen(de->d_name) >= sizeof(c->kvm[0].name))
			continue;
		if (c->n_kvm == cap) {
			cap = cap ? cap * 2 : 16;
			struct kvm_dir *n = realloc(c->kvm, cap * sizeof(*n));
			if (!n)
				return;
			c->kvm = n;
		}
		c->kvm[c->n_kvm].pid = (uint32_t)pid;
		/* "PID-FD" names are short; a longer one was skipped above or is cut here. */
		snprintf(c->kvm[c->n_kvm].name, sizeof(c->kvm[0].name), "%.*s",
			 (int)sizeof(c->kvm[0].name) - 1, de->d_name);
		c->n_kvm++;
	}
	if (c->n_kvm)
		qsort(c->kvm, c->n_kvm, sizeof(*c->kvm), kvm_dir_cmp);
}

static int link_cmp(const void *a, const void *b)
{
	const char *x = rtnl_link_get_name(*(struct rtnl_link *const *)a);
	const char *y = rtnl_link_get_name(*(struct rtnl_link *const *)b);
	return strcmp(x ? x : "", y ? y : "");
}

/* c->by_name: the links of the dump, sorted, for a lookup of each tap in log time (the cache's
 * own lookup by name is a walk of every link). Without it (no memory), the walk. */
static void links_index(alb_stats_collector *c)
{
	free(c->by_name);
	c->by_name = NULL;
	c->n_by_name = 0;
	int n = nl_cache_nitems(c->links);
	if (n <= 0 || !(c->by_name = calloc((size_t)n, sizeof(*c->by_name))))
		return;
	for (struct nl_object *o = nl_cache_get_first(c->links); o && c->n_by_name < (uint32_t)n;
	     o = nl_cache_get_next(o))
		if (rtnl_link_get_name((struct rtnl_link *)o))
			c->by_name[c->n_by_name++] = (struct rtnl_link *)o;
	qsort(c->by_name, c->n_by_name, sizeof(*c->by_name), link_cmp);
}

/* The link named name of the last dump (referenced: rtnl_link_put() it), or NULL. */
static struct rtnl_link *link_by_name(alb_stats_collector *c, const char *name)
{
	if (!c->by_name)
		return rtnl_link_get_by_name(c->links, name);
	uint32_t lo = 0, hi = c->n_by_name;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int d = strcmp(name, rtnl_link_get_name(c->by_name[mid]));
		if (d == 0) {
			nl_object_get((struct nl_object *)c->by_name[mid]);
			return c->by_name[mid];
		}
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

ALB_EXPORT int alb_stats_collector_refresh(alb_stats_collector *collector)
{
	if (!collector)
		return -EINVAL;
	alb_stats_collector *c = collector;
	struct nl_cache *cache = NULL;
	int r = rtnl_link_alloc_cache(c->sock, AF_UNSPEC, &cache);
	if (r < 0)
		return alb_error(c->ctx, EIO, "Failed to read the interface counters: %s",
				 nl_geterror(r));
	if (c->links)
		nl_cache_free(c->links);
	c->links = cache;
	links_index(c);
	/* The files of processes not sampled since the last refresh are closed. */
	if (c->procs_cap && procs_rebuild(c, c->procs_cap) < 0)
		procs_drop_all(c);
	c->gen++;
	uint64_t rt = clock_us(CLOCK_REALTIME), bt = clock_us(CLOCK_BOOTTIME);
	c->host.boot_realtime_us = rt > bt ? rt - bt : 0;
	refresh_kvm(c);
	c->refreshed = true;
	return 0;
}

static int collect_ifs(alb_stats_collector *c, const char *const *taps, uint32_t n_taps,
		       struct alb_stats *s)
{
	static const struct {
		rtnl_link_stat_id_t id;
		size_t off;
	} map[] = {
	    {RTNL_LINK_RX_BYTES, offsetof(struct alb_if_stats, rx_bytes)},
	    {RTNL_LINK_RX_PACKETS, offsetof(struct alb_if_stats, rx_packets)},
	    {RTNL_LINK_RX_ERRORS, offsetof(struct alb_if_stats, rx_errors)},
	    {RTNL_LINK_RX_DROPPED, offsetof(struct alb_if_stats, rx_drops)},
	    {RTNL_LINK_TX_BYTES, offsetof(struct alb_if_stats, tx_bytes)},
	    {RTNL_LINK_TX_PACKETS, offsetof(struct alb_if_stats, tx_packets)},
	    {RTNL_LINK_TX_ERRORS, offsetof(struct alb_if_stats, tx_errors)},
	    {RTNL_LINK_TX_DROPPED, offsetof(struct alb_if_stats, tx_drops)},
	};

	if (n_taps == 0)
		return 0;
	s->ifs = calloc(n_taps, sizeof(*s->ifs));
	if (!s->ifs)
		return -ENOMEM;
	for (uint32_t i = 0; i < n_taps; i++) {
		struct rtnl_link *link = link_by_name(c, taps[i]);
		if (!link)
			continue;
		struct alb_if_stats *f = &s->ifs[s->n_ifs];
		if (!(f->name = strdup(taps[i]))) {
			rtnl_link_put(link);
			return -ENOMEM;
		}
		for (size_t k = 0; k < ELEMENTSOF(map); k++)
			*(uint64_t *)((char *)f + map[k].off) = rtnl_link_get_stat(link, map[k].id);
		rtnl_link_put(link);
		s->n_ifs++;
	}
	return 0;
}

static void collect_kvm(alb_stats_collector *c, uint32_t pid, struct alb_stats *s)
{
	struct kvm_dir key = {.pid = pid};
	struct kvm_dir *k =
	    c->n_kvm ? bsearch(&key, c->kvm, c->n_kvm, sizeof(key), kvm_dir_cmp) : NULL;
	if (!k)
		return;
	char path[sizeof(KVM_DEBUGFS) + 80];
	snprintf(path, sizeof(path), "%s/%s", KVM_DEBUGFS, k->name);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		(void)alb_stats_read_kvm_dir(c->ctx, fd, s);
}

static bool tap_name_valid(const char *t)
{
	size_t n = t ? strlen(t) : 0;
	return n >= 1 && n <= 15 && !streq(t, ".") && !streq(t, "..") &&
	       !t[strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")];
}

/* How many processes may have their files kept open: 3 fds each, within PROC_CACHE_MAX and
 * half of what the fd limit leaves (the rest for the clients, the sockets and a process whose
 * files are opened each time past it). */
static uint32_t procs_max(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return PROC_CACHE_MAX;
	uint64_t n = rl.rlim_cur / 6;
	return n < PROC_CACHE_MAX ? (uint32_t)n : PROC_CACHE_MAX;
}

/* The process's figures from its files, kept open in c->procs (opened the first time, and
 * again when the ones kept are of a process that is gone: a pid used again). */
static int collect_proc(alb_stats_collector *c, uint32_t pid, struct alb_stats *s)
{
	int r;
	if (!c->buf && !(c->buf = malloc(ALB_STATS_STATUS_MAX)))
		return -ENOMEM;
	struct proc_entry *e = c->procs_cap ? procs_slot(c->procs, c->procs_cap, pid) : NULL;
	if (e && e->pid == pid && e->fd[0] >= 0) {
		struct alb_stats t = *s;
		if ((r = read_proc_fds(c->ctx, e->fd, c->buf, &c->host, &t)) >= 0) {
			e->gen = c->gen;
			*s = t;
			return 0;
		}
		/* Gone, or failing: opened again below, once. */
		close_fds(e->fd);
	}
	char dir[16];
	int fd[3];
	snprintf(dir, sizeof(dir), "%" PRIu32, pid);
	_cleanup_close_ int dfd = openat(c->proc_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return alb_error(c->ctx, ESRCH, "there is no process %" PRIu32, pid);
	if ((r = open_proc_fds(c->ctx, dfd, fd)) < 0)
		return r;
	if ((r = read_proc_fds(c->ctx, fd, c->buf, &c->host, s)) < 0) {
		close_fds(fd);
		return r;
	}
	/* Kept for the next tick, in a table grown to keep it at most half full. */
	uint32_t most = procs_max();
	bool kept = e && e->pid == pid; /* e points into the table: stale once it is rebuilt */
	if (!kept && c->n_procs < most && (c->n_procs + 1) * 2 > c->procs_cap &&
	    procs_rebuild(c, c->procs_cap ? c->procs_cap * 2 : 64) < 0) {
		close_fds(fd);
		return 0;
	}
	if (!kept) {
		if (c->n_procs >= most) {
			close_fds(fd);
			return 0;
		}
		e = procs_slot(c->procs, c->procs_cap, pid);
		e->pid = pid;
		c->n_procs++;
	}
	memcpy(e->fd, fd, sizeof(fd));
	e->gen = c->gen;
	return 0;
}

ALB_EXPORT int alb_stats_collect(alb_stats_collector *collector, uint32_t pid,
				 const char *const *taps, uint32_t n_taps,
				 alb_stats_sample **ret_sample)
{
	if (!collector || !ret_sample || pid == 0 || pid > ALB_PID_MAX ||
	    n_taps > ALB_STATS_TAPS_MAX || (n_taps && !taps))
		return -EINVAL;
	alb_stats_collector *c = collector;
	for (uint32_t i = 0; i < n_taps; i++)
		if (!tap_name_valid(taps[i]))
			return alb_error(c->ctx, EINVAL, "invalid interface name");
	int r;
	if (!c->refreshed && (r = alb_stats_collector_refresh(c)) < 0)
		return r;
	struct alb_stats *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->pid = pid;
	s->time_us = clock_us(CLOCK_REALTIME);
	r = collect_proc(c, pid, s);
	if (r >= 0)
		r = collect_ifs(c, taps, n_taps, s);
	if (r < 0) {
		alb_stats_free(s);
		return r;
	}
	collect_kvm(c, pid, s);
	*ret_sample = s;
	return 0;
}

ALB_EXPORT void alb_stats_free(struct alb_stats *stats)
{
	if (!stats)
		return;
	for (uint32_t i = 0; i < stats->n_ifs; i++)
		free(stats->ifs[i].name);
	free(stats->ifs);
	for (uint32_t i = 0; i < stats->n_kvm; i++)
		free(stats->kvm[i].key);
	free(stats->kvm);
	free(stats);
}

ALB_EXPORT int alb_stats_dup(const struct alb_stats *stats, struct alb_stats **ret)
{
	if (!stats || !ret)
		return -EINVAL;
	struct alb_stats *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	*s = *stats;
	s->ifs = NULL;
	s->kvm = NULL;
	s->n_ifs = s->n_kvm = 0;
	if (stats->n_ifs && !(s->ifs = calloc(stats->n_ifs, sizeof(*s->ifs))))
		goto oom;
	for (; s->n_ifs < stats->n_ifs; s->n_ifs++) {
		s->ifs[s->n_ifs] = stats->ifs[s->n_ifs];
		if (!(s->ifs[s->n_ifs].name = strdup(stats->ifs[s->n_ifs].name)))
			goto oom;
	}
	if (stats->n_kvm && !(s->kvm = calloc(stats->n_kvm, sizeof(*s->kvm))))
		goto oom;
	for (; s->n_kvm < stats->n_kvm; s->n_kvm++) {
		s->kvm[s->n_kvm] = stats->kvm[s->n_kvm];
		if (!(s->kvm[s->n_kvm].key = strdup(stats->kvm[s->n_kvm].key)))
			goto oom;
	}
	*ret = s;
	return 0;
oom:
	alb_stats_free(s);
	return -ENOMEM;
}

ALB_EXPORT alb_stats_sample *alb_stats_sample_free(alb_stats_sample *sample)
{
	alb_stats_free(sample);
	return NULL;
}

ALB_EXPORT int alb_stats_sample_get(const alb_stats_sample *sample, int field, uint64_t *ret_value)
{
	if (!sample || !ret_value)
		return -EINVAL;
	const struct alb_stats *s = sample;
	uint64_t v;
	switch (field) {
	case ALB_STATS_TIME:
		v = s->time_us;
		break;
	case ALB_STATS_PID:
		v = s->pid;
		break;
	case ALB_STATS_START_TIME:
		v = s->start_time_us;
		break;
	case ALB_STATS_UTIME:
		v = s->utime_us;
		break;
	case ALB_STATS_STIME:
		v = s->stime_us;
		break;
	case ALB_STATS_RSS:
		v = s->rss_bytes;
		break;
	case ALB_STATS_VSIZE:
		v = s->vsize_bytes;
		break;
	case ALB_STATS_MINFLT:
		v = s->minflt;
		break;
	case ALB_STATS_MAJFLT:
		v = s->majflt;
		break;
	case ALB_STATS_NVCSW:
		v = s->nvcsw;
		break;
	case ALB_STATS_NIVCSW:
		v = s->nivcsw;
		break;
	default:
		return -EINVAL;
	}
	*ret_value = v;
	return 0;
}

ALB_EXPORT uint32_t alb_stats_sample_get_n_ifs(const alb_stats_sample *sample)
{
	return sample ? sample->n_ifs : 0;
}

static const size_t if_offsets[] = {
    [ALB_STATS_RX_BYTES] = offsetof(struct alb_if_stats, rx_bytes),
    [ALB_STATS_RX_PACKETS] = offsetof(struct alb_if_stats, rx_packets),
    [ALB_STATS_RX_ERRORS] = offsetof(struct alb_if_stats, rx_errors),
    [ALB_STATS_RX_DROPS] = offsetof(struct alb_if_stats, rx_drops),
    [ALB_STATS_TX_BYTES] = offsetof(struct alb_if_stats, tx_bytes),
    [ALB_STATS_TX_PACKETS] = offsetof(struct alb_if_stats, tx_packets),
    [ALB_STATS_TX_ERRORS] = offsetof(struct alb_if_stats, tx_errors),
    [ALB_STATS_TX_DROPS] = offsetof(struct alb_if_stats, tx_drops),
};

ALB_EXPORT int alb_stats_sample_get_if(const alb_stats_sample *sample, uint32_t index, int field,
				       const char **ret_name, uint64_t *ret_value)
{
	if (!sample || index >= sample->n_ifs || field < ALB_STATS_RX_BYTES ||
	    field > ALB_STATS_TX_DROPS)
		return -EINVAL;
	const struct alb_if_stats *f = &sample->ifs[index];
	if (ret_name)
		*ret_name = f->name;
	if (ret_value)
		*ret_value = *(const uint64_t *)((const char *)f + if_offsets[field]);
	return 0;
}

ALB_EXPORT uint32_t alb_stats_sample_get_n_kvm(const alb_stats_sample *sample)
{
	return sample ? sample->n_kvm : 0;
}

ALB_EXPORT int alb_stats_sample_get_kvm(const alb_stats_sample *sample, uint32_t index,
					const char **ret_key, uint64_t *ret_value)
{
	if (!sample || index >= sample->n_kvm)
		return -EINVAL;
	if (ret_key)
		*ret_key = sample->kvm[index].key;
	if (ret_value)
		*ret_value = sample->kvm[index].value;
	return 0;
}

/* ---- InfluxDB line protocol ----------------------------------------------- */

void alb_influx_escape(struct alb_buf *b, const char *s, int what)
{
	for (; *s; s++) {
		char c = *s;
		bool special = c == ',' || c == ' ' || (what == ALB_INFLUX_KEY && c == '=');
		if (special || (c == '\\' && (s[1] == ',' || s[1] == ' ' || s[1] == '=' || !s[1])))
			alb_buf_put(b, "\\", 1);
		if ((unsigned char)c < 0x20 || c == 0x7f)
			c = '_';
		alb_buf_put(b, &c, 1);
	}
}

void alb_influx_begin(struct alb_buf *b, const char *measurement)
{
	alb_influx_escape(b, measurement, ALB_INFLUX_MEASUREMENT);
}

void alb_influx_tag(struct alb_buf *b, const char *key, const char *value)
{
	alb_buf_put(b, ",", 1);
	alb_influx_escape(b, key, ALB_INFLUX_KEY);
	alb_buf_put(b, "=", 1);
	alb_influx_escape(b, value, ALB_INFLUX_KEY);
}

void alb_influx_field(struct alb_buf *b, bool *first, const char *key, uint64_t value)
{
	alb_buf_put(b, *first ? " " : ",", 1);
	*first = false;
	alb_influx_escape(b, key, ALB_INFLUX_KEY);
	alb_buf_printf(b, "=%" PRIu64 "i", value > INT64_MAX ? (uint64_t)INT64_MAX : value);
}

void alb_influx_end(struct alb_buf *b, uint64_t time_us)
{
	uint64_t ns = time_us > ALB_TIME_MAX ? ALB_TIME_MAX * 1000 : time_us * 1000;
	alb_buf_printf(b, " %" PRIu64 "\n", ns);
}

static const struct {
	const char *influx, *prom, *type, *help;
	int field;
	bool seconds;
} proc_metrics[] = {
    {"pid", "albatross_unikernel_pid", "gauge", "The tender's process id.", ALB_STATS_PID, false},
    {"start_time_us", "albatross_unikernel_start_time_seconds", "gauge",
     "When the tender process started, seconds since the Unix epoch.", ALB_STATS_START_TIME, true},
    {"utime_us", "albatross_unikernel_cpu_user_seconds_total", "counter",
     "User CPU time of the tender process.", ALB_STATS_UTIME, true},
    {"stime_us", "albatross_unikernel_cpu_system_seconds_total", "counter",
     "System CPU time of the tender process (includes time in the guest for hvt).", ALB_STATS_STIME,
     true},
    {"rss_bytes", "albatross_unikernel_resident_memory_bytes", "gauge",
     "Resident set size of the tender process.", ALB_STATS_RSS, false},
    {"vsize_bytes", "albatross_unikernel_virtual_memory_bytes", "gauge",
     "Virtual memory size of the tender process.", ALB_STATS_VSIZE, false},
    {"minflt", "albatross_unikernel_minor_page_faults_total", "counter",
     "Minor page faults of the tender process.", ALB_STATS_MINFLT, false},
    {"majflt", "albatross_unikernel_major_page_faults_total", "counter",
     "Major page faults of the tender process.", ALB_STATS_MAJFLT, false},
    {"nvcsw", "albatross_unikernel_voluntary_context_switches_total", "counter",
     "Voluntary context switches of the tender process.", ALB_STATS_NVCSW, false},
    {"nivcsw", "albatross_unikernel_involuntary_context_switches_total", "counter",
     "Involuntary context switches of the tender process.", ALB_STATS_NIVCSW, false},
};

static const struct {
	const char *influx, *prom, *help;
	int field;
} if_metrics[] = {
    {"rx_bytes", "albatross_interface_receive_bytes_total",
     "Bytes the host received on the tap (sent by the unikernel).", ALB_STATS_RX_BYTES},
    {"rx_packets", "albatross_interface_receive_packets_total",
     "Packets the host received on the tap.", ALB_STATS_RX_PACKETS},
    {"rx_errors", "albatross_interface_receive_errors_total", "Receive errors on the tap.",
     ALB_STATS_RX_ERRORS},
    {"rx_drops", "albatross_interface_receive_drops_total", "Received packets dropped on the tap.",
     ALB_STATS_RX_DROPS},
    {"tx_bytes", "albatross_interface_transmit_bytes_total",
     "Bytes the host transmitted on the tap (to the unikernel).", ALB_STATS_TX_BYTES},
    {"tx_packets", "albatross_interface_transmit_packets_total",
     "Packets the host transmitted on the tap.", ALB_STATS_TX_PACKETS},
    {"tx_errors", "albatross_interface_transmit_errors_total", "Transmit errors on the tap.",
     ALB_STATS_TX_ERRORS},
    {"tx_drops", "albatross_interface_transmit_drops_total",
     "Transmitted packets dropped on the tap.", ALB_STATS_TX_DROPS},
};

ALB_EXPORT int alb_stats_sample_to_influx(const alb_stats_sample *sample, const char *name,
					  char **ret_text)
{
	if (!sample || !name || !name[0] || !ret_text)
		return -EINVAL;
	struct alb_buf b = {0};
	bool first = true;
	uint64_t v;

	alb_influx_begin(&b, "albatross_process");
	alb_influx_tag(&b, "unikernel", name);
	for (size_t i = 0; i < ELEMENTSOF(proc_metrics); i++) {
		alb_stats_sample_get(sample, proc_metrics[i].field, &v);
		alb_influx_field(&b, &first, proc_metrics[i].influx, v);
	}
	alb_influx_end(&b, sample->time_us);
	for (uint32_t k = 0; k < sample->n_ifs; k++) {
		const char *ifname = NULL;
		first = true;
		alb_stats_sample_get_if(sample, k, ALB_STATS_RX_BYTES, &ifname, &v);
		alb_influx_begin(&b, "albatross_interface");
		alb_influx_tag(&b, "interface", ifname);
		alb_influx_tag(&b, "unikernel", name);
		for (size_t i = 0; i < ELEMENTSOF(if_metrics); i++) {
			alb_stats_sample_get_if(sample, k, if_metrics[i].field, NULL, &v);
			alb_influx_field(&b, &first, if_metrics[i].influx, v);
		}
		alb_influx_end(&b, sample->time_us);
	}
	if (sample->n_kvm) {
		first = true;
		alb_influx_begin(&b, "albatross_kvm");
		alb_influx_tag(&b, "unikernel", name);
		for (uint32_t k = 0; k < sample->n_kvm; k++)
			alb_influx_field(&b, &first, sample->kvm[k].key, sample->kvm[k].value);
		alb_influx_end(&b, sample->time_us);
	}
	char *text = alb_buf_steal(&b);
	if (!text)
		return -ENOMEM;
	*ret_text = text;
	return 0;
}

/* ---- Prometheus text ------------------------------------------------------ */

void alb_prom_family(struct alb_buf *b, const char *name, const char *type, const char *help)
{
	alb_buf_printf(b, "# HELP %s ", name);
	for (const char *p = help; *p; p++) {
		if (*p == '\\')
			alb_buf_puts(b, "\\\\");
		else if (*p == '\n')
			alb_buf_puts(b, "\\n");
		else
			alb_buf_put(b, p, 1);
	}
	alb_buf_printf(b, "\n# TYPE %s %s\n", name, type);
}

void alb_prom_series(struct alb_buf *b, const char *name, const char *const *labels, uint32_t n,
		     const char *value)
{
	alb_buf_puts(b, name);
	if (n) {
		alb_buf_put(b, "{", 1);
		for (uint32_t i = 0; i < n; i++) {
			alb_buf_printf(b, "%s%s=\"", i ? "," : "", labels[2 * i]);
			for (const char *p = labels[2 * i + 1]; *p; p++) {
				if (*p == '\\')
					alb_buf_puts(b, "\\\\");
				else if (*p == '"')
					alb_buf_puts(b, "\\\"");
				else if (*p == '\n')
					alb_buf_puts(b, "\\n");
				else
					alb_buf_put(b, p, 1);
			}
			alb_buf_put(b, "\"", 1);
		}
		alb_buf_put(b, "}", 1);
	}
	alb_buf_printf(b, " %s\n", value);
}

const char *alb_prom_seconds(char buf[32], uint64_t us)
{
	snprintf(buf, 32, "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);
	return buf;
}

const char *alb_prom_u64(char buf[32], uint64_t v)
{
	snprintf(buf, 32, "%" PRIu64, v);
	return buf;
}

#define PROM_SAMPLES_MAX 1000000u

ALB_EXPORT int alb_stats_samples_to_prometheus(const alb_stats_sample *const *samples,
					       const char *const *names, uint32_t n,
					       char **ret_text)
{
	if ((n && (!samples || !names)) || n > PROM_SAMPLES_MAX || !ret_text)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++)
		if (!samples[i] || !names[i])
			return -EINVAL;
	struct alb_buf b = {0};
	char v[32];
	uint64_t x;

	for (size_t m = 0; m < ELEMENTSOF(proc_metrics); m++) {
		alb_prom_family(&b, proc_metrics[m].prom, proc_metrics[m].type,
				proc_metrics[m].help);
		for (uint32_t i = 0; i < n; i++) {
			const char *labels[] = {"unikernel", names[i]};
			alb_stats_sample_get(samples[i], proc_metrics[m].field, &x);
			alb_prom_series(&b, proc_metrics[m].prom, labels, 1,
					proc_metrics[m].seconds ? alb_prom_seconds(v, x)
								: alb_prom_u64(v, x));
		}
	}
	for (size_t m = 0; m < ELEMENTSOF(if_metrics); m++) {
		alb_prom_family(&b, if_metrics[m].prom, "counter", if_metrics[m].help);
		for (uint32_t i = 0; i < n; i++)
			for (uint32_t k = 0; k < samples[i]->n_ifs; k++) {
				const char *ifname = NULL;
				alb_stats_sample_get_if(samples[i], k, if_metrics[m].field, &ifname,
							&x);
				const char *labels[] = {"unikernel", names[i], "interface", ifname};
				alb_prom_series(&b, if_metrics[m].prom, labels, 2,
						alb_prom_u64(v, x));
			}
	}
	alb_prom_family(&b, "albatross_kvm_stat", "untyped",
			"KVM's per-VM statistics from debugfs, by key.");
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t k = 0; k < samples[i]->n_kvm; k++) {
			const char *labels[] = {"unikernel", names[i], "key",
						samples[i]->kvm[k].key};
			alb_prom_series(&b, "albatross_kvm_stat", labels, 2,
					alb_prom_u64(v, samples[i]->kvm[k].value));
		}
	char *text = alb_buf_steal(&b);
	if (!text)
		return -ENOMEM;
	*ret_text = text;
	return 0;
}

/* ---- the line queue ------------------------------------------------------- */

#define LINE_QUEUE_MAX 10000000u

int alb_line_queue_init(struct alb_line_queue *q, uint32_t cap)
{
	if (cap == 0 || cap > LINE_QUEUE_MAX)
		return -EINVAL;
	*q = (struct alb_line_queue){0};
	q->lines = calloc(cap, sizeof(char *));
	if (!q->lines)
		return -ENOMEM;
	q->cap = cap;
	return 0;
}

void alb_line_queue_done(struct alb_line_queue *q)
{
	if (q->lines)
		alb_line_queue_pop(q, q->count);
	free(q->lines);
	q->lines = NULL;
}

int alb_line_queue_push(struct alb_line_queue *q, const char *line, size_t len)
{
	char *copy = strndup(line, len);
	int dropped = 0;
	if (!copy)
		return -ENOMEM;
	if (q->count == q->cap) {
		if (q->inflight)
			q->inflight--;
		alb_line_queue_pop(q, 1);
		q->dropped++;
		dropped = 1;
	}
	q->lines[(q->head + q->count) % q->cap] = copy;
	q->count++;
	return dropped;
}

const char *alb_line_queue_peek(const struct alb_line_queue *q, uint32_t index)
{
	return index < q->count ? q->lines[(q->head + index) % q->cap] : NULL;
}

void alb_line_queue_pop(struct alb_line_queue *q, uint32_t n)
{
	for (; n > 0 && q->count > 0; n--) {
		free(q->lines[q->head]);
		q->lines[q->head] = NULL;
		q->head = (q->head + 1) % q->cap;
		q->count--;
	}
}

/* ---- addresses ------------------------------------------------------------ */

int alb_influx_parse_url(alb_ctx *ctx, const char *url, int *ret_kind, char host[256],
			 uint16_t *ret_port, char target[2049])
{
	const char *rest;
	int kind;

	if (strncmp(url, "http://", 7) == 0) {
		kind = ALB_INFLUX_HTTP;
		rest = url + 7;
	} else if (strncmp(url, "tcp://", 6) == 0) {
		kind = ALB_INFLUX_TCP;
		rest = url + 6;
	} else
		return alb_error(ctx, EINVAL,
				 "'%s': expected http://HOST:PORT/write?db=NAME or tcp://HOST:PORT",
				 url);
	const char *slash = strchr(rest, '/');
	size_t hl = slash ? (size_t)(slash - rest) : strlen(rest);
	int r = alb_host_port_parse(ctx, rest, hl, 0, host, ret_port);
	if (r < 0)
		return r;
	if (kind == ALB_INFLUX_TCP) {
		if (slash && slash[1])
			return alb_error(ctx, EINVAL, "'%s': a tcp:// URL has no path", url);
		target[0] = '\0';
	} else {
		const char *t = slash && slash[1] ? slash : "/write";
		if (strlen(t) > 2048)
			return alb_error(ctx, EINVAL, "'%s': the path is too long", url);
		for (const char *p = t; *p; p++)
			if ((unsigned char)*p <= ' ' || *p == 0x7f)
				return alb_error(ctx, EINVAL, "'%s': a space or control character",
						 url);
		snprintf(target, 2049, "%s", t);
	}
	*ret_kind = kind;
	return 0;
}

/* Resolves and starts a non-blocking connect: the fd (connecting), or -errno. */
static int tcp_connect(alb_ctx *ctx, const char *host, uint16_t port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	char ps[8];
	snprintf(ps, sizeof(ps), "%u", port);
	int r = getaddrinfo(host, ps, &hints, &ai);
	if (r != 0)
		return alb_error(ctx, EHOSTUNREACH, "cannot resolve '%s': %s", host,
				 gai_strerror(r));
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		freeaddrinfo(ai);
		return r;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
		r = alb_error(ctx, errno, "Failed to connect to %s:%u: %s", host, port,
			      strerror(errno));
		close(fd);
		freeaddrinfo(ai);
		return r;
	}
	freeaddrinfo(ai);
	return fd;
}

/* ---- the InfluxDB sender -------------------------------------------------- */

#define INFLUX_BATCH_BYTES  (UINT64_C(1) << 20)
#define INFLUX_BATCH_LINES  5000u
#define INFLUX_RESPONSE_MAX 65536u
#define INFLUX_TIMEOUT_US   (UINT64_C(10) * 1000000)

enum influx_state { INFLUX_IDLE, INFLUX_CONNECTING, INFLUX_SENDING, INFLUX_RESPONSE, INFLUX_WAIT };

struct alb_influx {
	alb_ctx *ctx;
	alb_loop *loop;
	int kind;
	char host[256];
	uint16_t port;
	char target[2049];
	struct alb_line_queue q;
	int fd; /* TCP: kept open between batches; HTTP: one per request */
	alb_source *io, *timer;
	int state;
	struct alb_buf out; /* the request (or the lines) being written */
	size_t out_off;
	struct alb_buf in; /* the HTTP response */
	uint64_t retry_min, retry_max, retry;
	uint64_t sent;
	bool up, logged_down;
	uint64_t dropped_logged, dropped_log_at;
};

static void influx_close(struct alb_influx *f)
{
	f->io = alb_source_free(f->io);
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	alb_buf_free(&f->out);
	alb_buf_free(&f->in);
	f->out_off = 0;
}

static int influx_on_timer(alb_source *source, void *userdata);

/* A failed attempt: keep the lines, retry after the back-off. */
static void influx_fail(struct alb_influx *f, const char *fmt, ...) _printf_(2, 3);
static void influx_fail(struct alb_influx *f, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	influx_close(f);
	f->q.inflight = 0;
	if (f->up || !f->logged_down)
		alb_log_warn(f->ctx,
			     "InfluxDB at %s:%u: %s; retrying in %" PRIu64 " ms (%" PRIu32
			     " lines queued)",
			     f->host, f->port, why, f->retry / 1000, f->q.count);
	f->up = false;
	f->logged_down = true;
	f->state = INFLUX_WAIT;
	uint64_t delay = f->retry;
	f->retry = f->retry * 2 > f->retry_max ? f->retry_max : f->retry * 2;
	if (alb_source_set_timer(f->timer, delay) < 0)
		f->state = INFLUX_IDLE;
}

static void influx_succeeded(struct alb_influx *f)
{
	alb_line_queue_pop(&f->q, f->q.inflight);
	f->sent += f->q.inflight;
	f->q.inflight = 0;
	if (!f->up)
		alb_log_notice(f->ctx, "InfluxDB at %s:%u: connected", f->host, f->port);
	f->up = true;
	f->logged_down = false;
	f->retry = f->retry_min;
	f->state = INFLUX_IDLE;
	alb_source_set_timer(f->timer, 0);
}

/* Takes the next batch off the queue into f->out. false when nothing is queued. */
static bool influx_batch(struct alb_influx *f)
{
	struct alb_buf body = {0};
	uint32_t n = 0;
	for (const char *l; n < INFLUX_BATCH_LINES && (l = alb_line_queue_peek(&f->q, n)); n++) {
		if (n > 0 && body.len + strlen(l) + 1 > INFLUX_BATCH_BYTES)
			break;
		alb_buf_puts(&body, l);
		alb_buf_put(&body, "\n", 1);
	}
	if (n == 0 || body.failed) {
		alb_buf_free(&body);
		return false;
	}
	f->q.inflight = n;
	alb_buf_free(&f->out);
	if (f->kind == ALB_INFLUX_HTTP) {
		bool v6 = strchr(f->host, ':') != NULL;
		alb_buf_printf(&f->out,
			       "POST %s HTTP/1.1\r\nHost: %s%s%s:%u\r\n"
			       "User-Agent: albatross-stats\r\nContent-Type: text/plain; "
			       "charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			       f->target, v6 ? "[" : "", f->host, v6 ? "]" : "", f->port, body.len);
		alb_buf_put(&f->out, body.data, body.len);
		alb_buf_free(&body);
	} else {
		f->out = body;
	}
	f->out_off = 0;
	if (f->out.failed) {
		f->q.inflight = 0;
		return false;
	}
	return true;
}

/* An HTTP response: "HTTP/1.x NNN ...". 1 complete, 0 more needed. */
static int influx_response(struct alb_influx *f, bool eof)
{
	const char *d = f->in.data ? f->in.data : "";
	const char *hend = strstr(d, "\r\n\r\n");
	if (!hend && !eof)
		return 0;
	unsigned code = 0;
	if (sscanf(d, "HTTP/1.%*1[01] %3u", &code) != 1) {
		influx_fail(f, "not an HTTP response");
		return 1;
	}
	if (code >= 200 && code < 300) {
		influx_close(f);
		influx_succeeded(f);
		return 1;
	}
	/* The reason, e.g. {"error":"..."} in the body, for the log. */
	char why[256];
	snprintf(why, sizeof(why), "%s", hend ? hend + 4 : "");
	for (char *p = why; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (code >= 400 && code < 500 && code != 404 && code != 408 && code != 429) {
		/* The server refuses these lines: retrying would not help. */
		alb_log_err(f->ctx, "InfluxDB at %s:%u refused %" PRIu32 " lines: HTTP %u %s",
			    f->host, f->port, f->q.inflight, code, why);
		influx_close(f);
		f->q.dropped += f->q.inflight;
		alb_line_queue_pop(&f->q, f->q.inflight);
		f->q.inflight = 0;
		f->state = INFLUX_IDLE;
		alb_source_set_timer(f->timer, 0);
		return 1;
	}
	influx_fail(f, "HTTP %u %s", code, why);
	return 1;
}

static int influx_on_io(alb_source *source, int fd, uint32_t events, void *userdata)
{
	struct alb_influx *f = userdata;

	if (f->state == INFLUX_CONNECTING && (events & (ALB_IO_OUT | ALB_IO_ERR | ALB_IO_HUP))) {
		int err = 0;
		socklen_t l = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
			err = errno;
		if (err) {
			influx_fail(f, "%s", strerror(err));
			return 0;
		}
		f->state = INFLUX_SENDING;
	}
	if (f->state == INFLUX_SENDING) {
		while (f->out_off < f->out.len) {
			ssize_t n = send(fd, f->out.data + f->out_off, f->out.len - f->out_off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					return 0;
				influx_fail(f, "%s", strerror(errno));
				return 0;
			}
			f->out_off += (size_t)n;
		}
		if (f->kind == ALB_INFLUX_TCP) {
			/* Written: the lines are the kernel's now. Keep the socket and watch
			 * it for the peer closing. */
			alb_buf_free(&f->out);
			f->out_off = 0;
			influx_succeeded(f);
			alb_source_set_io_events(f->io, ALB_IO_IN);
			return 0;
		}
		f->state = INFLUX_RESPONSE;
		alb_source_set_io_events(f->io, ALB_IO_IN);
		return 0;
	}
	if (events & (ALB_IO_IN | ALB_IO_HUP | ALB_IO_ERR)) {
		char buf[4096];
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (f->state == INFLUX_RESPONSE) {
			if (n < 0) {
				influx_fail(f, "%s", strerror(errno));
				return 0;
			}
			if (n > 0 && f->in.len + (size_t)n > INFLUX_RESPONSE_MAX) {
				influx_fail(f, "the response is too long");
				return 0;
			}
			alb_buf_put(&f->in, buf, (size_t)n);
			influx_response(f, n == 0);
			return 0;
		}
		/* TCP between batches: the server closed or sent something; whatever it
		 * is, start over with a new connection. */
		if (n <= 0) {
			influx_close(f);
			f->state = INFLUX_IDLE;
			if (f->up)
				alb_log_warn(f->ctx, "InfluxDB at %s:%u closed the connection",
					     f->host, f->port);
			f->up = false;
			f->logged_down = true;
		}
	}
	return 0;
}

static void influx_start(struct alb_influx *f)
{
	if (f->state != INFLUX_IDLE || f->q.count == 0)
		return;
	if (!influx_batch(f))
		return;
	if (f->kind == ALB_INFLUX_TCP && f->fd >= 0) {
		f->state = INFLUX_SENDING;
		alb_source_set_io_events(f->io, ALB_IO_OUT | ALB_IO_IN);
		alb_source_set_timer(f->timer, INFLUX_TIMEOUT_US);
		return;
	}
	int fd = tcp_connect(f->ctx, f->host, f->port);
	if (fd < 0) {
		influx_fail(f, "%s", alb_ctx_last_error(f->ctx));
		return;
	}
	f->fd = fd;
	if (alb_loop_add_io(f->loop, fd, ALB_IO_OUT, influx_on_io, f, &f->io) < 0) {
		influx_fail(f, "cannot watch the socket");
		return;
	}
	f->state = INFLUX_CONNECTING;
	alb_source_set_timer(f->timer, INFLUX_TIMEOUT_US);
}

static int influx_on_timer(alb_source *source, void *userdata)
{
	struct alb_influx *f = userdata;
	switch (f->state) {
	case INFLUX_WAIT:
		f->state = INFLUX_IDLE;
		influx_start(f);
		break;
	case INFLUX_CONNECTING:
	case INFLUX_SENDING:
	case INFLUX_RESPONSE:
		influx_fail(f, "timed out");
		break;
	default:
		influx_start(f); /* the next batch */
		break;
	}
	return 0;
}

int alb_influx_new(alb_ctx *ctx, alb_loop *loop, const char *url, uint32_t queue_max,
		   struct alb_influx **ret)
{
	_cleanup_free_ struct alb_influx *f = calloc(1, sizeof(*f));
	int r;

	if (!f)
		return -ENOMEM;
	f->fd = -1;
	if ((r = alb_influx_parse_url(ctx, url, &f->kind, f->host, &f->port, f->target)) < 0)
		return r;
	if ((r = alb_line_queue_init(&f->q, queue_max)) < 0)
		return alb_error(ctx, -r, "invalid queue size %" PRIu32, queue_max);
	if ((r = alb_loop_add_timer(loop, 0, influx_on_timer, f, &f->timer)) < 0) {
		alb_line_queue_done(&f->q);
		return r;
	}
	f->ctx = ctx;
	f->loop = loop;
	f->retry_min = f->retry = 1000000;
	f->retry_max = 60000000;
	f->state = INFLUX_IDLE;
	*ret = TAKE_PTR(f);
	return 0;
}

struct alb_influx *alb_influx_free(struct alb_influx *influx)
{
	if (!influx)
		return NULL;
	influx_close(influx);
	alb_source_free(influx->timer);
	alb_line_queue_done(&influx->q);
	free(influx);
	return NULL;
}

void alb_influx_set_retry(struct alb_influx *influx, uint64_t min_us, uint64_t max_us)
{
	influx->retry_min = influx->retry = min_us ? min_us : 1;
	influx->retry_max = max_us < influx->retry_min ? influx->retry_min : max_us;
}

int alb_influx_push(struct alb_influx *influx, const char *text)
{
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len > 0) {
			int r = alb_line_queue_push(&influx->q, p, len);
			if (r < 0)
				return r;
		}
		p += len + (nl ? 1 : 0);
	}
	/* At most one message every 10 s while lines are being dropped. */
	uint64_t now = alb_now_monotonic();
	if (influx->q.dropped > influx->dropped_logged &&
	    (!influx->dropped_log_at || now - influx->dropped_log_at >= 10000000)) {
		influx->dropped_log_at = now;
		alb_log_warn(influx->ctx,
			     "InfluxDB at %s:%u: queue full (%" PRIu32 " lines), %" PRIu64
			     " lines dropped so far",
			     influx->host, influx->port, influx->q.cap, influx->q.dropped);
		influx->dropped_logged = influx->q.dropped;
	}
	return 0;
}

void alb_influx_flush(struct alb_influx *influx)
{
	influx_start(influx);
}

uint64_t alb_influx_get_dropped(const struct alb_influx *influx)
{
	return influx->q.dropped;
}

uint64_t alb_influx_get_sent(const struct alb_influx *influx)
{
	return influx->sent;
}

uint32_t alb_influx_get_queued(const struct alb_influx *influx)
{
	return influx->q.count;
}

int alb_influx_is_up(const struct alb_influx *influx)
{
	return influx->up;
}

/* ---- the /metrics HTTP server --------------------------------------------- */

struct http_conn {
	struct alb_http *http;
	struct http_conn *prev, *next;
	int fd;
	alb_source *io, *timer;
	struct alb_buf in;
	char *out;
	size_t out_len, out_off;
};

struct alb_http {
	alb_ctx *ctx;
	alb_loop *loop;
	int fd;
	uint16_t port;
	alb_source *io;
	alb_http_metrics_fn fn;
	void *userdata;
	struct http_conn *conns;
	unsigned n_conns;
};

static void http_conn_free(struct http_conn *c)
{
	struct alb_http *h = c->http;
	alb_source_free(c->io);
	alb_source_free(c->timer);
	close(c->fd);
	alb_buf_free(&c->in);
	free(c->out);
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->n_conns--;
	free(c);
}

static void http_respond(struct http_conn *c, unsigned code, const char *reason,
			 const char *extra_headers, const char *type, const char *body,
			 size_t body_len, bool head)
{
	struct alb_buf b = {0};
	alb_buf_printf(&b,
		       "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
		       "Connection: close\r\n\r\n",
		       code, reason, type, body_len, extra_headers ? extra_headers : "");
	if (!head)
		alb_buf_put(&b, body, body_len);
	c->out_len = b.len;
	c->out = alb_buf_steal(&b);
	c->out_off = 0;
	if (!c->out)
		c->out_len = 0;
	alb_source_set_io_events(c->io, ALB_IO_OUT);
}

static void http_plain(struct http_conn *c, unsigned code, const char *reason,
		       const char *extra_headers, bool head)
{
	char body[128];
	int n = snprintf(body, sizeof(body), "%u %s\n", code, reason);
	http_respond(c, code, reason, extra_headers, "text/plain; charset=utf-8", body, (size_t)n,
		     head);
}

static void http_request(struct http_conn *c, const char *head_end)
{
	const char *d = c->in.data;
	char method[16], target[256], version[16];
	const char *line_end = strstr(d, "\r\n");

	if (!line_end || line_end > head_end ||
	    sscanf(d, "%15[A-Z] %255[^ \r\n] %15[^ \r\n]", method, target, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7) != 0) {
		http_plain(c, 400, "Bad Request", NULL, false);
		return;
	}
	bool head = streq(method, "HEAD");
	if (!streq(method, "GET") && !head) {
		http_plain(c, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n", false);
		return;
	}
	size_t plen = strcspn(target, "?#");
	if (plen != 8 || strncmp(target, "/metrics", 8) != 0) {
		http_plain(c, 404, "Not Found", NULL, head);
		return;
	}
	_cleanup_free_ char *body = NULL;
	size_t len = 0;
	if (c->http->fn(c->http->userdata, &body, &len) < 0) {
		http_plain(c, 500, "Internal Server Error", NULL, head);
		return;
	}
	http_respond(c, 200, "OK", NULL, "text/plain; version=0.0.4; charset=utf-8", body, len,
		     head);
}

static int http_conn_io(alb_source *source, int fd, uint32_t events, void *userdata)
{
	struct http_conn *c = userdata;

	if (c->out) {
		while (c->out_off < c->out_len) {
			ssize_t n = send(fd, c->out + c->out_off, c->out_len - c->out_off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return 0;
			if (n <= 0) {
				http_conn_free(c);
				return 0;
			}
			c->out_off += (size_t)n;
		}
		/* Everything sent: close (the response said so). */
		shutdown(fd, SHUT_WR);
		http_conn_free(c);
		return 0;
	}
	char buf[2048];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		http_conn_free(c);
		return 0;
	}
	if (c->in.len + (size_t)n > ALB_HTTP_REQUEST_MAX || memchr(buf, '\0', (size_t)n)) {
		http_plain(c, 431, "Request Header Fields Too Large", NULL, false);
		return 0;
	}
	alb_buf_put(&c->in, buf, (size_t)n);
	if (c->in.failed) {
		http_conn_free(c);
		return 0;
	}
	const char *end = strstr(c->in.data, "\r\n\r\n");
	if (!end)
		end = strstr(c->in.data, "\n\n");
	if (end)
		http_request(c, end);
	return 0;
}

static int http_conn_timeout(alb_source *source, void *userdata)
{
	http_conn_free(userdata);
	return 0;
}

static int http_accept(alb_source *source, int fd, uint32_t events, void *userdata)
{
	struct alb_http *h = userdata;
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return 0;
	if (h->n_conns >= ALB_HTTP_CONNS_MAX) {
		alb_log_warn(h->ctx, "/metrics: refusing a connection, %u are open", h->n_conns);
		close(cfd);
		return 0;
	}
	struct http_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(cfd);
		return 0;
	}
	c->http = h;
	c->fd = cfd;
	c->in.max = ALB_HTTP_REQUEST_MAX + 1;
	if (alb_loop_add_io(h->loop, cfd, ALB_IO_IN, http_conn_io, c, &c->io) < 0 ||
	    alb_loop_add_timer(h->loop, ALB_HTTP_TIMEOUT_US, http_conn_timeout, c, &c->timer) < 0) {
		alb_source_free(c->io);
		close(cfd);
		free(c);
		return 0;
	}
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	h->conns = c;
	h->n_conns++;
	return 0;
}

int alb_http_new(alb_ctx *ctx, alb_loop *loop, const char *addr, alb_http_metrics_fn fn,
		 void *userdata, struct alb_http **ret)
{
	char host[256];
	uint16_t port;
	/* port 0: any free port */
	int r = alb_host_port_parse(ctx, addr, strlen(addr), ALB_HOST_PORT_ZERO, host, &port);
	if (r < 0)
		return r;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char ps[8];
	snprintf(ps, sizeof(ps), "%u", port);
	if ((r = getaddrinfo(host, ps, &hints, &ai)) != 0)
		return alb_error(ctx, EINVAL, "--prometheus: cannot resolve '%s': %s", host,
				 gai_strerror(r));
	_cleanup_close_ int fd =
	    socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
		r = alb_error(ctx, errno, "Failed to listen on %s: %s", addr, strerror(errno));
		freeaddrinfo(ai);
		return r;
	}
	freeaddrinfo(ai);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	_cleanup_free_ struct alb_http *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						 : ((struct sockaddr_in *)&ss)->sin_port);
	h->ctx = ctx;
	h->loop = loop;
	h->fn = fn;
	h->userdata = userdata;
	if ((r = alb_loop_add_io(loop, fd, ALB_IO_IN, http_accept, h, &h->io)) < 0)
		return r;
	h->fd = TAKE_FD(fd);
	*ret = TAKE_PTR(h);
	return 0;
}

struct alb_http *alb_http_free(struct alb_http *http)
{
	if (!http)
		return NULL;
	while (http->conns)
		http_conn_free(http->conns);
	alb_source_free(http->io);
	close(http->fd);
	free(http);
	return NULL;
}

uint16_t alb_http_get_port(const struct alb_http *http)
{
	return http->port;
}
