/* SPDX-License-Identifier: ISC */
#include <inttypes.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common.h"
#include "config.h"

int daemon_common_option(int c, const char *name, void (*usage)(FILE *f), int *verbose)
{
	switch (c) {
	case 'v':
		(*verbose)++;
		return -1;
	case 'h':
		usage(stdout);
		return EXIT_SUCCESS;
	case 'V':
		printf("%s %s\n", name, PACKAGE_VERSION);
		return EXIT_SUCCESS;
	default:
		usage(stderr);
		return 2;
	}
}

int daemon_unexpected_argument(const char *name, const char *argument)
{
	fprintf(stderr, "%s: unexpected argument '%s'\n", name, argument);
	return 2;
}

static const char *const priority_names[] = {[ALB_LOG_ERR] = "error",
					     [ALB_LOG_WARNING] = "warning",
					     [ALB_LOG_NOTICE] = "notice",
					     [ALB_LOG_INFO] = "info",
					     [ALB_LOG_DEBUG] = "debug"};

void daemon_log(alb_ctx *ctx, int priority, const char *message, void *userdata)
{
	(void)ctx;
	if (priority < ALB_LOG_ERR || priority > ALB_LOG_DEBUG)
		priority = ALB_LOG_ERR;
	/* <N> prefixes are understood by journald when stderr goes there. */
	fprintf(stderr, "<%d>%s: %s: %s\n", priority, (const char *)userdata,
		priority_names[priority], message);
}

void daemon_logf(alb_ctx *ctx, int priority, const char *fmt, ...)
{
	char message[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	alb_log(ctx, priority, "%s", message);
}

int daemon_ctx(const char *name, int verbose, alb_ctx **ret)
{
	int r = alb_ctx_new(ret);
	if (r < 0)
		return r;
	alb_ctx_set_log_fn(*ret, daemon_log, (void *)name);
	alb_ctx_set_log_priority(*ret, verbose >= 2 ? ALB_LOG_DEBUG
				       : verbose    ? ALB_LOG_INFO
						    : ALB_LOG_NOTICE);
	return 0;
}

static int on_stop(alb_source *source, int signo, void *userdata)
{
	alb_loop_exit(userdata, 0);
	return 0;
}

/* A loop with SIGTERM and SIGINT to fn(userdata; NULL: the loop); SIGPIPE ignored. */
static int loop_new(alb_ctx *ctx, alb_signal_fn fn, void *userdata, alb_loop **ret_loop,
		    alb_source *ret_sources[2])
{
	signal(SIGPIPE, SIG_IGN);
	int r = alb_loop_new(ctx, ret_loop);
	if (r < 0)
		return r;
	if (!userdata)
		userdata = *ret_loop;
	if ((r = alb_loop_add_signal(*ret_loop, SIGTERM, fn, userdata, &ret_sources[0])) < 0 ||
	    (r = alb_loop_add_signal(*ret_loop, SIGINT, fn, userdata, &ret_sources[1])) < 0)
		return r;
	return 0;
}

int daemon_loop(alb_ctx *ctx, alb_loop **ret_loop, alb_source *ret_sources[2])
{
	return loop_new(ctx, on_stop, NULL, ret_loop, ret_sources);
}

int daemon_loop_with(alb_ctx *ctx, alb_signal_fn on_stop_fn, void *userdata, alb_loop **ret_loop,
		     alb_source *ret_sources[2])
{
	return loop_new(ctx, on_stop_fn, userdata, ret_loop, ret_sources);
}

int daemon_listen_fd(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	uint64_t p, n;
	if (alb_parse_u64(pid, 1, INT_MAX, &p) < 0 || p != (uint64_t)getpid() ||
	    alb_parse_u64(fds, 1, INT_MAX, &n) < 0)
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return 3; /* SD_LISTEN_FDS_START */
}

const char *daemon_absolute(const char *path, char *buf, size_t size)
{
	char cwd[4096];
	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return path;
	snprintf(buf, size, "%s/%s", cwd, path);
	return buf;
}

const char *daemon_absolute_strict(const char *name, const char *path, char *buf, size_t size)
{
	char cwd[4096];
	if (path[0] == '/')
		return path;
	if (!getcwd(cwd, sizeof(cwd))) {
		fprintf(stderr, "%s: cannot find the working directory: %s\n", name,
			strerror(errno));
		return NULL;
	}
	if ((size_t)snprintf(buf, size, "%s/%s", cwd, path) >= size) {
		fprintf(stderr, "%s: cannot find the working directory: %s\n", name,
			strerror(ENAMETOOLONG));
		return NULL;
	}
	return buf;
}

void daemon_raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int daemon_find_user(const char *user, uid_t *ret_uid, gid_t *ret_gid)
{
	struct passwd *pw = getpwnam(user);
	if (!pw)
		return -ENOENT;
	*ret_uid = pw->pw_uid;
	*ret_gid = pw->pw_gid;
	return 0;
}

int daemon_find_group(const char *group, gid_t *ret_gid)
{
	struct group *gr = getgrnam(group);
	if (!gr)
		return -ENOENT;
	*ret_gid = gr->gr_gid;
	return 0;
}

int daemon_lookup_user(const char *user, const char *group, uid_t *ret_uid, gid_t *ret_gid)
{
	*ret_uid = (uid_t)-1;
	*ret_gid = (gid_t)-1;
	if (user && daemon_find_user(user, ret_uid, ret_gid) < 0) {
		fprintf(stderr, "there is no user '%s'\n", user);
		return -ENOENT;
	}
	if (group && daemon_find_group(group, ret_gid) < 0) {
		fprintf(stderr, "there is no group '%s'\n", group);
		return -ENOENT;
	}
	return 0;
}

int daemon_drop_privileges(uid_t uid, gid_t gid)
{
	if (gid != (gid_t)-1 && (setgroups(0, NULL) < 0 || setgid(gid) < 0)) {
		fprintf(stderr, "Failed to switch to group %u: %s\n", (unsigned)gid,
			strerror(errno));
		return -errno;
	}
	if (uid != (uid_t)-1) {
		if (setuid(uid) < 0) {
			fprintf(stderr, "Failed to switch to user %u: %s\n", (unsigned)uid,
				strerror(errno));
			return -errno;
		}
		if (uid != 0 && setuid(0) == 0) {
			fprintf(stderr, "Dropping privileges failed: root could be regained\n");
			return -EPERM;
		}
	}
	return 0;
}

int daemon_parse_number(const char *name, const char *opt, const char *s, uint64_t min,
			uint64_t max, uint64_t *ret)
{
	if (alb_parse_u64(s, min, max, ret) < 0) {
		fprintf(stderr, "%s: %s takes a number from %" PRIu64 " to %" PRIu64 "\n", name,
			opt, min, max);
		return -EINVAL;
	}
	return 0;
}
