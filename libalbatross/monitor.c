/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <albatross/loop.h>

#include "ctx-private.h"
#include "monitor-private.h"
#include "util-private.h"
#include <stdlib.h>

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

_Static_assert(sizeof(((struct alb_monitor_reader *)0)->small) >= 27,
	       "the reader holds the largest small frame");

/* The payload length of each small frame (DATA is 1 .. ALB_MONITOR_DATA_MAX). */
static int small_len(int kind)
{
	switch (kind) {
	case ALB_MONITOR_HELLO:
		return 27;
	case ALB_MONITOR_LOST:
		return 8;
	case ALB_MONITOR_EXIT:
		return 13;
	default:
		return -1;
	}
}

static int small_frame(alb_ctx *ctx, const struct alb_monitor_reader *r, alb_monitor_frame_fn fn,
		       void *userdata)
{
	struct alb_monitor_frame f = {.kind = r->head[0]};
	const uint8_t *p = r->small;
	switch (f.kind) {
	case ALB_MONITOR_HELLO:
		if (p[0] != ALB_MONITOR_VERSION)
			return alb_error(ctx, EPROTO,
					 "the monitor speaks protocol version %u, albatrossd %u: "
					 "the monitor is of another release",
					 p[0], ALB_MONITOR_VERSION);
		f.pid = be32(p + 1);
		f.started_us = be64(p + 5);
		if (p[13] > 1 || p[26] > 1 || f.pid == 0 || f.pid > ALB_PID_MAX)
			return alb_error(ctx, EPROTO, "the monitor's hello is malformed");
		f.exited = p[13];
		f.status = (int)be32(p + 14);
		f.exited_us = be64(p + 18);
		f.host_stop = p[26];
		break;
	case ALB_MONITOR_LOST:
		f.lost = be64(p);
		break;
	case ALB_MONITOR_EXIT:
		if (p[12] > 1)
			return alb_error(ctx, EPROTO, "the monitor's exit frame is malformed");
		f.status = (int)be32(p);
		f.exited_us = be64(p + 4);
		f.host_stop = p[12];
		break;
	}
	return fn(userdata, &f);
}

int alb_monitor_feed(alb_ctx *ctx, struct alb_monitor_reader *r, const uint8_t *buf, size_t len,
		     alb_monitor_frame_fn fn, void *userdata)
{
	while (len > 0) {
		if (r->head_len < 5) {
			size_t n = 5 - r->head_len < len ? 5 - r->head_len : len;
			memcpy(r->head + r->head_len, buf, n);
			r->head_len += (uint32_t)n;
			buf += n;
			len -= n;
			if (r->head_len < 5)
				return 0;
			uint32_t size = be32(r->head + 1);
			int want = small_len(r->head[0]);
			if (r->head[0] == ALB_MONITOR_DATA
				? size == 0 || size > ALB_MONITOR_DATA_MAX
				: want < 0 || size != (uint32_t)want)
				return alb_error(ctx, EPROTO,
						 "the monitor sent a malformed frame (type 0x%02x, "
						 "%" PRIu32 " bytes)",
						 r->head[0], size);
			r->left = size;
			r->small_len = 0;
			if (len == 0)
				return 0;
		}
		if (r->head[0] == ALB_MONITOR_DATA) {
			size_t n = r->left < len ? r->left : len;
			struct alb_monitor_frame f = {
			    .kind = ALB_MONITOR_DATA, .data = buf, .len = n};
			r->left -= (uint32_t)n;
			buf += n;
			len -= n;
			if (r->left == 0)
				r->head_len = 0;
			int v = fn(userdata, &f);
			if (v)
				return v;
			continue;
		}
		size_t n = r->left < len ? r->left : len;
		memcpy(r->small + r->small_len, buf, n);
		r->small_len += (uint32_t)n;
		r->left -= (uint32_t)n;
		buf += n;
		len -= n;
		if (r->left == 0) {
			r->head_len = 0;
			int v = small_frame(ctx, r, fn, userdata);
			if (v)
				return v;
		}
	}
	return 0;
}

int alb_monitor_connect(alb_ctx *ctx, const char *path, int *ret_fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return alb_error(ctx, ENAMETOOLONG, "the monitor's socket path '%s' is too long",
				 path);
	strcpy(sa.sun_path, path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return alb_error(ctx, errno, "Failed to create a socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return alb_error(ctx, errno, "Failed to connect to the monitor '%s': %s", path,
				 strerror(errno));
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Reads exactly len bytes within the deadline (CLOCK_MONOTONIC us). */
static int read_exact(alb_ctx *ctx, int fd, void *buf, size_t len, uint64_t deadline)
{
	uint8_t *p = buf;
	while (len > 0) {
		uint64_t now = alb_now_monotonic();
		if (now >= deadline)
			return alb_error(ctx, ETIMEDOUT, "the monitor did not answer");
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int ms = (int)((deadline - now + 999) / 1000);
		int r = poll(&pfd, 1, ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return alb_error(ctx, errno, "Failed to wait for the monitor: %s",
					 strerror(errno));
		if (r == 0)
			continue;
		ssize_t n = read(fd, p, len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return alb_error(ctx, ECONNRESET, "the monitor went away");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

struct one {
	struct alb_monitor_frame frame;
	bool got;
	uint64_t data; /* console bytes read (and dropped) */
};

static int take_one(void *userdata, const struct alb_monitor_frame *f)
{
	struct one *o = userdata;
	if (f->kind == ALB_MONITOR_DATA) {
		o->data += f->len;
		return 0;
	}
	o->frame = *f;
	o->got = true;
	return 1;
}

int alb_monitor_ack(int fd, uint64_t total)
{
	uint8_t msg[9] = {'C'};
	for (int k = 0; k < 8; k++)
		msg[1 + k] = (uint8_t)(total >> (56 - 8 * k));
	ssize_t n = send(fd, msg, sizeof(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
	return n == (ssize_t)sizeof(msg) ? 0 : n < 0 ? -errno : -EAGAIN;
}

int alb_monitor_send(int fd, char command)
{
	return send(fd, &command, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1 ? 0 : -errno;
}

/* Reads the next frame other than console output (which is dropped, and acknowledged:
 * *acked counts it). */
static int next_frame(alb_ctx *ctx, int fd, uint64_t deadline, uint64_t *acked,
		      struct alb_monitor_frame *ret)
{
	struct alb_monitor_reader r = {0};
	struct one o = {.data = *acked};
	uint8_t head[5];
	for (;;) {
		int v = read_exact(ctx, fd, head, sizeof(head), deadline);
		if (v < 0 || (v = alb_monitor_feed(ctx, &r, head, sizeof(head), take_one, &o)) < 0)
			return v;
		uint8_t payload[4096];
		uint32_t left = r.left;
		while (left > 0) {
			size_t n = left < sizeof(payload) ? left : sizeof(payload);
			if ((v = read_exact(ctx, fd, payload, n, deadline)) < 0 ||
			    (v = alb_monitor_feed(ctx, &r, payload, n, take_one, &o)) < 0)
				return v;
			left -= (uint32_t)n;
		}
		if (o.data != *acked) {
			*acked = o.data;
			if (alb_monitor_ack(fd, *acked) < 0)
				return alb_error(ctx, ECONNRESET, "the monitor went away");
		}
		if (o.got) {
			*ret = o.frame;
			return 0;
		}
	}
}

int alb_monitor_hello(alb_ctx *ctx, int fd, uint64_t timeout_us, struct alb_monitor_frame *ret)
{
	uint64_t acked = 0;
	int r = next_frame(ctx, fd, alb_now_monotonic() + timeout_us, &acked, ret);
	if (r >= 0 && ret->kind != ALB_MONITOR_HELLO)
		return alb_error(ctx, EPROTO, "the monitor did not begin with its hello");
	return r;
}

/* Waits until pid is gone (not there, or a zombie), at most until deadline. */
static void wait_gone(pid_t pid, uint64_t deadline)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	while (alb_now_monotonic() < deadline) {
		char buf[512];
		_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (n <= 0)
			return;
		buf[n] = '\0';
		const char *state = strrchr(buf, ')');
		if (!state || state[1] == '\0' || state[2] == 'Z' || state[2] == 'X')
			return;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

int alb_monitor_end(alb_ctx *ctx, const char *path, uint64_t timeout_us, uint32_t *ret_pid)
{
	_cleanup_close_ int fd = -1;
	int r = alb_monitor_connect(ctx, path, &fd);
	*ret_pid = 0;
	if (r == -ECONNREFUSED || r == -ENOENT) {
		(void)unlink(path); /* nobody listens: its monitor is gone, and its tender */
		return -ENOENT;
	}
	if (r < 0)
		return r;
	uint64_t deadline = alb_now_monotonic() + timeout_us, acked = 0;
	struct alb_monitor_frame f = {0};
	if ((r = next_frame(ctx, fd, deadline, &acked, &f)) >= 0 && f.kind != ALB_MONITOR_HELLO)
		r = alb_error(ctx, EPROTO, "the monitor did not begin with its hello");
	uint32_t tender = r >= 0 && !f.exited ? f.pid : 0;
	if (r >= 0 && (r = alb_monitor_send(fd, 'K')) < 0)
		r = alb_error(ctx, -r, "the monitor went away");
	while (r >= 0 && (r = next_frame(ctx, fd, deadline, &acked, &f)) >= 0 &&
	       f.kind != ALB_MONITOR_EXIT)
		;
	if (r >= 0) {
		/* Its exit is taken: the socket goes, then the monitor. */
		(void)unlink(path);
		(void)alb_monitor_send(fd, 'A');
		*ret_pid = tender;
		return 0;
	}
	/* It does not answer as a monitor does: it goes itself, and its tender with it. */
	if (!alb_monitor_kill(fd, path))
		return alb_error(ctx, EBUSY,
				 "the monitor listening on '%s' neither answers nor can be "
				 "stopped: stop it by hand",
				 path);
	if (tender)
		wait_gone((pid_t)tender, alb_now_monotonic() + timeout_us);
	(void)unlink(path);
	*ret_pid = tender;
	return 0;
}

bool alb_monitor_kill(int fd, const char *path)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.pid <= 0 ||
	    cred.pid == getpid())
		return false;
	/* The credentials are those of the last listen(): make sure they name this
	 * monitor, whose second argument is its socket, and no other process. */
	char proc[64], argv[PATH_MAX + 64];
	snprintf(proc, sizeof(proc), "/proc/%d/cmdline", (int)cred.pid);
	_cleanup_close_ int cf = open(proc, O_RDONLY | O_CLOEXEC);
	ssize_t n = cf >= 0 ? read(cf, argv, sizeof(argv) - 1) : -1;
	if (n <= 0)
		return false;
	argv[n] = '\0';
	const char *second = argv + strlen(argv) + 1;
	if (second >= argv + n || strcmp(second, path) != 0)
		return false;
	return kill(cred.pid, SIGKILL) == 0;
}

/* ---- the run file ----------------------------------------------------------------------- */

static bool tap_name_ok(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && n <= 15 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789") == n;
}

static bool hex64(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* How a tender ended, as the exit line says it (0: none). */
static bool exit_ok(int kind, uint32_t value)
{
	return kind == 0		 ? value == 0
	       : kind == ALB_EXIT_CODE	 ? value <= 255
	       : kind == ALB_EXIT_SIGNAL ? value >= 1 && value <= ALB_EXIT_SIGNAL_MAX
					 : false;
}

int alb_run_file_format(const struct alb_run_file *rf, char **ret, size_t *ret_len)
{
	if (!rf || !rf->name[0] || strchr(rf->name, '\n') || strchr(rf->name, ' ') ||
	    rf->run == 0 || !hex64(rf->config) || rf->n_taps > ALB_RUN_TAPS_MAX ||
	    rf->n_exits > ALB_RUN_EXITS_MAX || (rf->destroy && rf->restart) ||
	    (rf->wait_us && rf->failed) || !exit_ok(rf->exit_kind, rf->exit_value) ||
	    (rf->failed && (!rf->failed[0] || strlen(rf->failed) > ALB_RUN_REASON_MAX ||
			    strchr(rf->failed, '\n'))))
		return -EINVAL;
	for (uint32_t i = 0; i < rf->n_taps; i++)
		if (!tap_name_ok(rf->taps[i]))
			return -EINVAL;
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	fprintf(f, "albatross-run 1\nname %s\nrun %" PRIu64 "\nconfig %s\ntaps", rf->name, rf->run,
		rf->config);
	for (uint32_t i = 0; i < rf->n_taps; i++)
		fprintf(f, " %s", rf->taps[i]);
	fprintf(f, "\ntally %" PRIu32 " %" PRIu64 " %" PRIu32, rf->restarts, rf->backoff_us,
		rf->n_exits);
	for (uint32_t i = 0; i < rf->n_exits; i++)
		fprintf(f, " %" PRIu64, rf->exits[i]);
	fprintf(f, "\n%s", rf->destroy ? "destroy\n" : rf->restart ? "restart\n" : "");
	if (rf->wait_us)
		fprintf(f, "wait %" PRIu64 "\n", rf->wait_us);
	if (rf->failed)
		fprintf(f, "failed %s\n", rf->failed);
	if (rf->exit_kind)
		fprintf(f, "exit %s %" PRIu32 "\n",
			rf->exit_kind == ALB_EXIT_CODE ? "code" : "signal", rf->exit_value);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	*ret_len = size;
	return 0;
}

void alb_run_file_clear(struct alb_run_file *rf)
{
	if (!rf)
		return;
	alb_strv_free(rf->taps);
	free(rf->exits);
	free(rf->failed);
	*rf = (struct alb_run_file){0};
}

/* A decimal number of the words of a tally line. */
static bool word_u64(const char *w, uint64_t *ret)
{
	return alb_parse_u64(w, 0, UINT64_MAX, ret) == 0;
}

static int parse_line(char *key, char *rest, struct alb_run_file *rf, unsigned *seen)
{
	char *save = NULL;
	if (streq(key, "albatross-run")) {
		if (!streq(rest, "1"))
			return -EBADMSG;
		*seen |= 1;
	} else if (streq(key, "name")) {
		if (!rest[0] || strlen(rest) > ALB_NAME_STRING_MAX || strchr(rest, ' '))
			return -EBADMSG;
		memcpy(rf->name, rest, strlen(rest) + 1);
		*seen |= 2;
	} else if (streq(key, "run")) {
		if (alb_parse_u64(rest, 1, UINT64_MAX, &rf->run) < 0)
			return -EBADMSG;
		*seen |= 4;
	} else if (streq(key, "config")) {
		if (!hex64(rest))
			return -EBADMSG;
		memcpy(rf->config, rest, 65);
		*seen |= 8;
	} else if (streq(key, "taps")) {
		if (*seen & 16)
			return -EBADMSG;
		*seen |= 16;
		for (char *w = strtok_r(rest, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
			if (!tap_name_ok(w) || rf->n_taps >= ALB_RUN_TAPS_MAX)
				return -EBADMSG;
			if (alb_strv_push(&rf->taps, &rf->n_taps, w) < 0)
				return -ENOMEM;
		}
	} else if (streq(key, "tally")) {
		if (*seen & 32)
			return -EBADMSG;
		*seen |= 32;
		uint64_t v[3];
		char *w = strtok_r(rest, " ", &save);
		for (int i = 0; i < 3; i++, w = strtok_r(NULL, " ", &save))
			if (!w || !word_u64(w, &v[i]))
				return -EBADMSG;
		if (v[0] > UINT32_MAX || v[2] > ALB_RUN_EXITS_MAX)
			return -EBADMSG;
		rf->restarts = (uint32_t)v[0];
		rf->backoff_us = v[1];
		if (v[2] && !(rf->exits = calloc(v[2], sizeof(uint64_t))))
			return -ENOMEM;
		for (; w; w = strtok_r(NULL, " ", &save)) {
			if (rf->n_exits >= v[2] || !word_u64(w, &rf->exits[rf->n_exits]))
				return -EBADMSG;
			rf->n_exits++;
		}
		if (rf->n_exits != v[2])
			return -EBADMSG;
	} else if (streq(key, "exit")) {
		char *kind = strtok_r(rest, " ", &save), *value = strtok_r(NULL, " ", &save);
		uint64_t v;
		if (rf->exit_kind || !kind || !value || strtok_r(NULL, " ", &save) ||
		    alb_parse_u64(value, 0, UINT32_MAX, &v) < 0)
			return -EBADMSG;
		rf->exit_kind = streq(kind, "code")	? ALB_EXIT_CODE
				: streq(kind, "signal") ? ALB_EXIT_SIGNAL
							: -1;
		rf->exit_value = (uint32_t)v;
		if (!exit_ok(rf->exit_kind, rf->exit_value))
			return -EBADMSG;
	} else if (streq(key, "wait")) {
		if (rf->wait_us || rf->failed ||
		    alb_parse_u64(rest, 1, UINT64_MAX, &rf->wait_us) < 0)
			return -EBADMSG;
	} else if (streq(key, "failed")) {
		if (rf->wait_us || rf->failed || !rest[0] || strlen(rest) > ALB_RUN_REASON_MAX)
			return -EBADMSG;
		if (!(rf->failed = strdup(rest)))
			return -ENOMEM;
	} else if (streq(key, "destroy") || streq(key, "restart")) {
		if (rest[0] || rf->destroy || rf->restart)
			return -EBADMSG;
		if (key[0] == 'd')
			rf->destroy = true;
		else
			rf->restart = true;
	} else
		return -EBADMSG;
	return 0;
}

int alb_run_file_parse(const char *text, size_t len, struct alb_run_file *ret)
{
	*ret = (struct alb_run_file){0};
	if (!text || len > (1u << 16) || memchr(text, '\0', len))
		return -EBADMSG;
	_cleanup_free_ char *buf = strndup(text, len);
	if (!buf)
		return -ENOMEM;
	unsigned seen = 0;
	int r = 0;
	for (char *line = buf, *next; r == 0 && line && *line; line = next) {
		next = strchr(line, '\n');
		if (!next) {
			r = -EBADMSG; /* every line ends: a file cut short is not one */
			break;
		}
		*next++ = '\0';
		char *rest = strchr(line, ' ');
		if (rest)
			*rest++ = '\0';
		else
			rest = line + strlen(line);
		r = parse_line(line, rest, ret, &seen);
	}
	if (r == 0 && seen != 63)
		r = -EBADMSG;
	if (r < 0)
		alb_run_file_clear(ret);
	return r;
}
