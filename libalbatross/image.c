/* SPDX-License-Identifier: ISC */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <linux/kvm.h>

#include "ctx-private.h"
#include "image-private.h"
#include "sha256-private.h"

void alb_digest_hex(const uint8_t digest[32], char hex[65])
{
	static const char x[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		hex[2 * i] = x[digest[i] >> 4];
		hex[2 * i + 1] = x[digest[i] & 15];
	}
	hex[64] = '\0';
}

int alb_image_path(const char *dir, const uint8_t digest[32], char buf[PATH_MAX])
{
	char hex[65];
	alb_digest_hex(digest, hex);
	return snprintf(buf, PATH_MAX, "%s/%s", dir, hex) >= PATH_MAX ? -ENAMETOOLONG : 0;
}

int alb_copy_inflate(alb_ctx *ctx, int in, int out, bool compressed, uint64_t max,
		     uint8_t digest[32], uint64_t *ret_written)
{
	_cleanup_(alb_zstream_freep) alb_zstream *z = NULL;
	int r = alb_zstream_new(compressed ? ALB_ZSTREAM_INFLATE : ALB_ZSTREAM_COPY, max, !!digest,
				alb_zstream_sink_fd, &out, &z);
	if (r < 0)
		return r;
	_cleanup_free_ uint8_t *buf = malloc(ALB_ZSTREAM_BUF);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = alb_read_full(in, buf, ALB_ZSTREAM_BUF);
		if (n < 0)
			return alb_error(ctx, (int)-n, "Failed to read the image: %s",
					 strerror((int)-n));
		if ((r = n > 0 ? alb_zstream_write(z, buf, (size_t)n) : alb_zstream_finish(z)) < 0)
			break;
		if (n == 0)
			break;
	}
	switch (alb_zstream_fault(z)) {
	case ALB_ZSTREAM_FAULT_TOO_BIG:
		return alb_error(ctx, EFBIG, "the data is larger than %" PRIu64 " bytes%s", max,
				 compressed ? " uncompressed" : "");
	case ALB_ZSTREAM_FAULT_TRUNCATED:
		return alb_error(ctx, EBADMSG, "the compressed image is cut short");
	case ALB_ZSTREAM_FAULT_CORRUPT: {
		const char *why = alb_zstream_zlib_message(z);
		return alb_error(ctx, EBADMSG, "the compressed image is corrupt: %s",
				 why ? why : "inflate failed");
	}
	case ALB_ZSTREAM_FAULT_TRAILING:
		return alb_error(ctx, EBADMSG, "trailing data after the compressed image");
	}
	if (r < 0)
		return r; /* writing failed */
	if (digest)
		(void)alb_zstream_digest(z, digest);
	if (ret_written)
		*ret_written = alb_zstream_plain_bytes(z);
	return 0;
}

int alb_image_commit(alb_ctx *ctx, const char *dir, const char *tmp, const uint8_t digest[32])
{
	char final[PATH_MAX];
	int r = alb_image_path(dir, digest, final);
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	/* Identical images share one file: keep the one that is there. */
	if (access(final, F_OK) == 0) {
		unlink(tmp);
		return 0;
	}
	if (rename(tmp, final) < 0) {
		r = alb_error(ctx, errno, "Failed to store the image as '%s': %s", final,
			      strerror(errno));
		unlink(tmp);
		return r;
	}
	return 0;
}

int alb_image_store(alb_ctx *ctx, const char *dir, const char *upload, bool compressed,
		    uint64_t max, uint8_t ret_digest[32])
{
	char tmp[PATH_MAX];
	int r;
	if (snprintf(tmp, sizeof(tmp), "%s/.image-XXXXXX", dir) >= (int)sizeof(tmp)) {
		unlink(upload);
		return -ENAMETOOLONG;
	}
	_cleanup_close_ int in = open(upload, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		r = alb_error(ctx, errno, "Failed to open '%s': %s", upload, strerror(errno));
		unlink(upload);
		return r;
	}
	unlink(upload);
	_cleanup_close_ int out = mkostemp(tmp, O_CLOEXEC);
	if (out < 0)
		return alb_error(ctx, errno, "Failed to create '%s': %s", tmp, strerror(errno));
	uint8_t digest[32];
	if ((r = alb_copy_inflate(ctx, in, out, compressed, max, digest, NULL)) < 0)
		goto fail;
	if (fchmod(out, 0644) < 0 || fsync(out) < 0) {
		r = alb_error(ctx, errno, "Failed to write '%s': %s", tmp, strerror(errno));
		goto fail;
	}
	if ((r = alb_image_commit(ctx, dir, tmp, digest)) < 0)
		return r;
	memcpy(ret_digest, digest, 32);
	return 0;
fail:
	unlink(tmp);
	return r;
}

/* Runs argv[0] --version with a 5 s bound and collects at most 4 KiB of what it prints. The
 * real tenders print it on stderr (older ones on stdout): both streams go to one pipe. */
static int run_version(alb_ctx *ctx, const char *path, char out[4096])
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null < 0 || dup2(null, 0) < 0 || dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0)
			_exit(127);
		execl(path, path, "--version", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	size_t used = 0;
	int r = 0;
	uint64_t deadline_ms = 5000;
	for (;;) {
		struct pollfd pfd = {.fd = p[0], .events = POLLIN};
		int n = poll(&pfd, 1, (int)deadline_ms);
		if (n == 0) {
			r = alb_error(ctx, ETIMEDOUT, "'%s --version' did not finish in 5 s", path);
			kill(pid, SIGKILL);
			break;
		}
		if (n < 0 && errno == EINTR)
			continue;
		ssize_t k = read(p[0], out + used, 4095 - used);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		used += (size_t)k;
		if (used == 4095)
			break;
	}
	out[used] = '\0';
	close(p[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return r;
}

/* ALB_TENDER_HVT or _SPT for "solo5-hvt" / "solo5-spt", optionally followed by
 * ".DIGITS" (a versioned name); 0 otherwise. */
static int tender_of_name(const char *name)
{
	int tender = strncmp(name, "solo5-hvt", 9) == 0	  ? ALB_TENDER_HVT
		     : strncmp(name, "solo5-spt", 9) == 0 ? ALB_TENDER_SPT
							  : 0;
	const char *rest = name + 9;
	if (!tender || (*rest && (rest[0] != '.' || !rest[1] ||
				  strspn(rest + 1, "0123456789") != strlen(rest + 1))))
		return 0;
	return tender;
}

int alb_tender_probe(alb_ctx *ctx, const char *path, struct alb_tender_info_local *ret)
{
	char out[4096];
	int r = run_version(ctx, path, out);
	if (r < 0)
		return r;
	struct alb_tender_info_local t = {0};
	/* "PROG tender, version V": PROG is the name it was started under (the file's
	 * name: solo5-spt, or solo5-spt.2 for a versioned one). */
	char prog[256];
	char *abi = strstr(out, "ABI version ");
	if (sscanf(out, "%255s tender, version %63s", prog, t.version) != 2 || !abi ||
	    sscanf(abi, "ABI version %" SCNu32, &t.abi) != 1)
		return alb_error(ctx, ENOEXEC,
				 "'%s --version' does not print what a Solo5 tender "
				 "prints",
				 path);
	const char *slash = strrchr(path, '/');
	snprintf(t.name, sizeof(t.name), "%s", slash ? slash + 1 : path);
	/* The target: solo5-hvt[.N] or solo5-spt[.N], as it calls itself. */
	if ((t.tender = tender_of_name(prog)) == 0)
		return alb_error(ctx, ENOEXEC,
				 "'%s' calls itself '%s', which is not a Solo5 tender for hvt or "
				 "spt (solo5-hvt, solo5-spt, or those names with .ABI)",
				 path, prog);
	snprintf(t.path, sizeof(t.path), "%s", path);
	*ret = t;
	return 0;
}

struct cached {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	int result; /* 0 or the -errno of the probe */
	char error[256];
	struct alb_tender_info_local info;
};

struct alb_tender_cache {
	struct cached *v;
	uint32_t n;
};

struct alb_tender_cache *alb_tender_cache_free(struct alb_tender_cache *cache)
{
	if (cache)
		free(cache->v);
	free(cache);
	return NULL;
}

int alb_tender_probe_cached(alb_ctx *ctx, struct alb_tender_cache **cache, const char *path,
			    struct alb_tender_info_local *ret)
{
	struct stat st;
	if (!cache || stat(path, &st) < 0)
		return alb_tender_probe(ctx, path, ret);
	if (!*cache && !(*cache = calloc(1, sizeof(**cache))))
		return -ENOMEM;
	struct alb_tender_cache *c = *cache;
	struct cached *e = NULL;
	for (uint32_t i = 0; i < c->n && !e; i++)
		if (streq(c->v[i].info.path, path))
			e = &c->v[i];
	if (e && e->dev == st.st_dev && e->ino == st.st_ino && e->size == st.st_size &&
	    e->mtime.tv_sec == st.st_mtim.tv_sec && e->mtime.tv_nsec == st.st_mtim.tv_nsec) {
		if (e->result < 0)
			return alb_error(ctx, -e->result, "%s", e->error);
		*ret = e->info;
		return 0;
	}
	if (!e) {
		struct cached *v = realloc(c->v, (c->n + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		c->v = v;
		e = &c->v[c->n++];
	}
	memset(e, 0, sizeof(*e));
	e->result = alb_tender_probe(ctx, path, &e->info);
	if (e->result < 0)
		snprintf(e->error, sizeof(e->error), "%s", alb_ctx_last_error(ctx));
	/* Keyed by the path even when the probe failed. */
	snprintf(e->info.path, sizeof(e->info.path), "%s", path);
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	e->size = st.st_size;
	e->mtime = st.st_mtim;
	if (e->result == 0)
		*ret = e->info;
	return e->result;
}

/* Calls fn for every directory to search: tender_dir, then each of $PATH. */
static int search_dirs(const char *tender_dir, int (*fn)(const char *dir, void *ud), void *ud)
{
	int r;
	if (tender_dir && (r = fn(tender_dir, ud)) != 0)
		return r;
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	_cleanup_free_ char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	char *save = NULL;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
		if (*d == '/' && (r = fn(d, ud)) != 0)
			return r;
	return 0;
}

struct find {
	alb_ctx *ctx;
	struct alb_tender_cache **cache;
	const char *names[2];
	uint32_t abi;
	int tender;
	struct alb_tender_info_local *ret;
	char tried[1024];
};

static int find_in(const char *dir, void *ud)
{
	struct find *f = ud;
	for (int i = 0; i < 2; i++) {
		char path[PATH_MAX];
		struct alb_tender_info_local t;
		if (snprintf(path, sizeof(path), "%s/%s", dir, f->names[i]) >= (int)sizeof(path) ||
		    access(path, X_OK) < 0)
			continue;
		size_t l = strlen(f->tried);
		if (alb_tender_probe_cached(f->ctx, f->cache, path, &t) < 0)
			snprintf(f->tried + l, sizeof(f->tried) - l, "%s%s (%s)", l ? ", " : "",
				 path, alb_ctx_last_error(f->ctx));
		else if (t.abi != f->abi || t.tender != f->tender)
			snprintf(f->tried + l, sizeof(f->tried) - l, "%s%s (ABI version %u)",
				 l ? ", " : "", path, t.abi);
		else {
			*f->ret = t;
			return 1;
		}
	}
	return 0;
}

int alb_tender_find(alb_ctx *ctx, struct alb_tender_cache **cache, const char *tender_dir,
		    int tender, uint32_t abi, struct alb_tender_info_local *ret)
{
	const char *kind = tender == ALB_TENDER_SPT ? "spt" : "hvt";
	char versioned[32], plain[32];
	snprintf(versioned, sizeof(versioned), "solo5-%s.%u", kind, abi);
	snprintf(plain, sizeof(plain), "solo5-%s", kind);
	struct find f = {ctx, cache, {versioned, plain}, abi, tender, ret, ""};
	int r = search_dirs(tender_dir, find_in, &f);
	if (r < 0)
		return r;
	if (r == 0)
		return alb_error(ctx, ENOENT,
				 "no Solo5 tender for %s with ABI version %u (looked for %s and %s "
				 "in %s%s$PATH%s%s)",
				 kind, abi, versioned, plain, tender_dir ? tender_dir : "",
				 tender_dir ? " and " : "", f.tried[0] ? "; found: " : "", f.tried);
	return 0;
}

struct list {
	alb_ctx *ctx;
	struct alb_tender_cache **cache;
	struct alb_tender_info_local *v;
	uint32_t n;
};

/* Whether the binary st is listed already (the --tender-dir is also in $PATH, a
 * directory is in $PATH twice, or a link leads to one listed). */
static bool listed(const struct list *l, const struct stat *st)
{
	for (uint32_t i = 0; i < l->n; i++) {
		struct stat o;
		if (stat(l->v[i].path, &o) == 0 && o.st_dev == st->st_dev && o.st_ino == st->st_ino)
			return true;
	}
	return false;
}

static int list_in(const char *dir, void *ud)
{
	struct list *l = ud;
	_cleanup_(closedirp) DIR *d = opendir(dir);
	if (!d)
		return 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (strncmp(e->d_name, "solo5-hvt", 9) && strncmp(e->d_name, "solo5-spt", 9))
			continue;
		char path[PATH_MAX];
		struct alb_tender_info_local t;
		struct stat st;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path) ||
		    access(path, X_OK) < 0 || stat(path, &st) < 0 || listed(l, &st) ||
		    alb_tender_probe_cached(l->ctx, l->cache, path, &t) < 0)
			continue;
		struct alb_tender_info_local *v = realloc(l->v, (l->n + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->v[l->n++] = t;
	}
	return 0;
}

int alb_tender_list(alb_ctx *ctx, struct alb_tender_cache **cache, const char *tender_dir,
		    struct alb_tender_info_local **ret, uint32_t *ret_n)
{
	struct list l = {ctx, cache, NULL, 0};
	int r = search_dirs(tender_dir, list_in, &l);
	if (r < 0) {
		free(l.v);
		return r;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

/* Why a tender user (uid, gid; no supplementary groups, as tenders run) cannot open
 * st read-write, or NULL. */
static const char *user_access(const struct stat *st, bool has_user, uid_t uid, gid_t gid)
{
	if (!has_user || uid == 0)
		return NULL;
	mode_t need = st->st_uid == uid	  ? S_IRUSR | S_IWUSR
		      : st->st_gid == gid ? S_IRGRP | S_IWGRP
					  : S_IROTH | S_IWOTH;
	return (st->st_mode & need) == need ? NULL : "not readable and writable by the tender user";
}

int alb_tender_host_check(alb_ctx *ctx, int tender, bool has_user, uint32_t uid, uint32_t gid)
{
	if (tender != ALB_TENDER_HVT)
		return 0; /* spt needs nothing of the host but seccomp */
	static const char kvm[] = ALB_KVM_DEVICE;
	static const char advice[] =
	    "build the unikernel for spt (solo5-spt runs without KVM), or enable KVM";
	struct stat st;
	if (stat(kvm, &st) < 0)
		return alb_error(ctx, errno == ENOENT ? ENODEV : errno,
				 "solo5-hvt cannot run on this host: %s: %s (no KVM); %s", kvm,
				 strerror(errno), advice);
	if (!S_ISCHR(st.st_mode))
		return alb_error(ctx, ENODEV,
				 "solo5-hvt cannot run on this host: %s is not a device; %s", kvm,
				 advice);
	const char *why = user_access(&st, has_user, uid, gid);
	if (why)
		return alb_error(ctx, EACCES,
				 "solo5-hvt cannot run as the tender user (uid %u): %s is %s (mode "
				 "%04o, owner %u:%u); give that user access to it, or build the "
				 "unikernel for spt",
				 uid, kvm, why, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
				 (unsigned)st.st_gid);
	_cleanup_close_ int fd = open(kvm, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return alb_error(ctx, errno == ENXIO || errno == ENODEV ? ENODEV : errno,
				 "solo5-hvt cannot run on this host: %s: %s; %s", kvm,
				 strerror(errno), advice);
	int v = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION)
		return alb_error(
		    ctx, ENODEV,
		    "solo5-hvt cannot run on this host: %s %s (solo5-hvt needs KVM API "
		    "version %d); %s",
		    kvm, v < 0 ? "is not a KVM device" : "has another KVM API version",
		    KVM_API_VERSION, advice);
	return 0;
}

int alb_tender_net_check(alb_ctx *ctx, bool has_user, uint32_t uid, uint32_t gid)
{
	static const char tun[] = ALB_TUN_DEVICE;
	struct stat st;
	if (stat(tun, &st) < 0)
		return alb_error(ctx, errno == ENOENT ? ENODEV : errno,
				 "network devices cannot be attached on this host: %s: %s", tun,
				 strerror(errno));
	const char *why = user_access(&st, has_user, uid, gid);
	if (why)
		return alb_error(ctx, EACCES,
				 "the tender user (uid %u) cannot attach network devices: %s is %s "
				 "(mode %04o, owner %u:%u); give that user access to it (mode "
				 "0666 is the usual one), or run tenders as root",
				 uid, tun, why, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
				 (unsigned)st.st_gid);
	return 0;
}

void alb_mac_derive(const char *unikernel, const char *device, uint8_t mac[6])
{
	uint8_t digest[32];
	alb_sha256_ctx h;
	alb_sha256_init(&h);
	alb_sha256_update(&h, "albatross-mac\0", 14);
	alb_sha256_update(&h, unikernel, strlen(unikernel) + 1);
	alb_sha256_update(&h, device, strlen(device) + 1);
	alb_sha256_final(&h, digest);
	memcpy(mac, digest, 6);
	mac[0] = (uint8_t)((mac[0] & 0xfe) | 0x02); /* unicast, locally administered */
}

int alb_tender_argv(const alb_unikernel_config *config, const char *name, const char *tender,
		    const char *image, char *const *taps, char *const *blocks,
		    const uint32_t *sectors, char ***ret)
{
	size_t n = 4 + 2 * (size_t)config->n_nets + 2 * (size_t)config->n_blocks + config->argc;
	_cleanup_strv_free_ char **v = calloc(n + 1, sizeof(char *));
	if (!v)
		return -ENOMEM;
	size_t i = 0;
#define ADD(...)                                                                                   \
	do {                                                                                       \
		if (asprintf(&v[i], __VA_ARGS__) < 0) {                                            \
			v[i] = NULL;                                                               \
			return -ENOMEM;                                                            \
		}                                                                                  \
		i++;                                                                               \
	} while (0)
	ADD("%s", tender);
	ADD("--mem=%" PRIu64, config->memory_mb);
	for (uint32_t k = 0; k < config->n_nets; k++) {
		const struct alb_net_device *d = &config->nets[k];
		uint8_t mac[6];
		if (d->has_mac)
			memcpy(mac, d->mac, 6);
		else
			alb_mac_derive(name, d->name, mac);
		ADD("--net:%s=%s", d->name, taps[k]);
		ADD("--net-mac:%s=%02x:%02x:%02x:%02x:%02x:%02x", d->name, mac[0], mac[1], mac[2],
		    mac[3], mac[4], mac[5]);
	}
	for (uint32_t k = 0; k < config->n_blocks; k++) {
		const struct alb_block_device *b = &config->blocks[k];
		uint32_t sector = sectors ? sectors[k] : b->sector_size;
		ADD("--block:%s=%s", b->name, blocks[k]);
		if (sector)
			ADD("--block-sector-size:%s=%u", b->name, sector);
	}
	ADD("--");
	ADD("%s", image);
	for (uint32_t k = 0; k < config->argc; k++)
		ADD("%s", config->argv[k]);
#undef ADD
	*ret = TAKE_PTR(v);
	return 0;
}
