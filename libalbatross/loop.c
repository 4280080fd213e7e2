/* SPDX-License-Identifier: ISC */
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>

#include <albatross/loop.h>

#include "ctx-private.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

enum kind { IO, TIMER, SIGNAL, CHILD };

struct alb_source {
	alb_loop *loop;
	enum kind kind;
	int fd;	   /* watched; owned unless IO */
	bool dead; /* freed during a dispatch: released after it */
	alb_source *next_dead;
	void *userdata;
	union {
		alb_io_fn io;
		alb_timer_fn timer;
		alb_signal_fn signal;
		alb_child_fn child;
	} fn;
	int signo;
	int pid;
};

struct alb_loop {
	unsigned refcount;
	alb_ctx *ctx;
	int epfd;
	bool dispatching;
	alb_source *dead;
	bool exit;
	int exit_code;
};

ALB_EXPORT uint64_t alb_now_monotonic(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

ALB_EXPORT uint64_t alb_now_realtime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

ALB_EXPORT int alb_loop_new(alb_ctx *ctx, alb_loop **ret_loop)
{
	if (!ret_loop)
		return -EINVAL;
	alb_loop *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int r = -errno;
		free(l);
		return alb_error(ctx, -r, "Failed to create an epoll instance: %s", strerror(-r));
	}
	l->refcount = 1;
	l->ctx = alb_ctx_ref(ctx);
	*ret_loop = l;
	return 0;
}

ALB_EXPORT alb_loop *alb_loop_ref(alb_loop *loop)
{
	if (loop)
		loop->refcount++;
	return loop;
}

ALB_EXPORT alb_loop *alb_loop_unref(alb_loop *loop)
{
	if (!loop || --loop->refcount > 0)
		return NULL;
	close(loop->epfd);
	alb_ctx_unref(loop->ctx);
	free(loop);
	return NULL;
}

ALB_EXPORT int alb_loop_get_fd(const alb_loop *loop)
{
	return loop ? loop->epfd : -EINVAL;
}

static int source_add(alb_loop *loop, enum kind kind, int fd, uint32_t events, void *userdata,
		      alb_source **ret)
{
	alb_source *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->kind = kind;
	s->fd = fd;
	s->userdata = userdata;
	struct epoll_event ev = {.events = events, .data.ptr = s};
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int r = -errno;
		free(s);
		return alb_error(loop->ctx, -r, "Failed to watch fd %d: %s", fd, strerror(-r));
	}
	alb_loop_ref(loop);
	*ret = s;
	return 0;
}

ALB_EXPORT int alb_loop_add_io(alb_loop *loop, int fd, uint32_t events, alb_io_fn fn,
			       void *userdata, alb_source **ret_source)
{
	if (!loop || fd < 0 || !fn || !ret_source)
		return -EINVAL;
	int r = source_add(loop, IO, fd, events, userdata, ret_source);
	if (r >= 0)
		(*ret_source)->fn.io = fn;
	return r;
}

ALB_EXPORT int alb_source_set_io_events(alb_source *source, uint32_t events)
{
	if (!source || source->kind != IO || source->dead)
		return -EINVAL;
	struct epoll_event ev = {.events = events, .data.ptr = source};
	return epoll_ctl(source->loop->epfd, EPOLL_CTL_MOD, source->fd, &ev) < 0 ? -errno : 0;
}

static int timer_arm(int fd, uint64_t usec)
{
	/* A zero it_value disarms a timerfd: fire "now" as 1 ns instead. */
	struct itimerspec its = {
	    .it_value = {.tv_sec = (time_t)(usec / 1000000),
			 .tv_nsec = (long)(usec % 1000000) * 1000 + (usec ? 0 : 1)},
	};
	return timerfd_settime(fd, 0, &its, NULL) < 0 ? -errno : 0;
}

ALB_EXPORT int alb_loop_add_timer(alb_loop *loop, uint64_t usec, alb_timer_fn fn, void *userdata,
				  alb_source **ret_source)
{
	if (!loop || !fn || !ret_source)
		return -EINVAL;
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0)
		return alb_error(loop->ctx, errno, "Failed to create a timer: %s", strerror(errno));
	int r = timer_arm(fd, usec);
	if (r < 0 || (r = source_add(loop, TIMER, fd, EPOLLIN, userdata, ret_source)) < 0) {
		close(fd);
		return r;
	}
	(*ret_source)->fn.timer = fn;
	return 0;
}

ALB_EXPORT int alb_source_set_timer(alb_source *source, uint64_t usec)
{
	if (!source || source->kind != TIMER || source->dead)
		return -EINVAL;
	return timer_arm(source->fd, usec);
}

ALB_EXPORT int alb_loop_add_signal(alb_loop *loop, int signo, alb_signal_fn fn, void *userdata,
				   alb_source **ret_source)
{
	if (!loop || !fn || !ret_source || signo <= 0 || signo >= NSIG)
		return -EINVAL;
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, signo);
	int r = pthread_sigmask(SIG_BLOCK, &mask, NULL);
	if (r != 0)
		return -r;
	int fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return alb_error(loop->ctx, errno, "Failed to create a signalfd: %s",
				 strerror(errno));
	if ((r = source_add(loop, SIGNAL, fd, EPOLLIN, userdata, ret_source)) < 0) {
		close(fd);
		return r;
	}
	(*ret_source)->fn.signal = fn;
	(*ret_source)->signo = signo;
	return 0;
}

ALB_EXPORT int alb_loop_add_child(alb_loop *loop, int pid, int pidfd, alb_child_fn fn,
				  void *userdata, alb_source **ret_source)
{
	if (!loop || pid <= 0 || !fn || !ret_source)
		return -EINVAL;
	if (pidfd < 0) {
		pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (pidfd < 0)
			return alb_error(loop->ctx, errno, "Failed to open a pidfd for %d: %s", pid,
					 strerror(errno));
	}
	int r = source_add(loop, CHILD, pidfd, EPOLLIN, userdata, ret_source);
	if (r < 0) {
		close(pidfd);
		return r;
	}
	(*ret_source)->fn.child = fn;
	(*ret_source)->pid = pid;
	return 0;
}

static void source_release(alb_source *s)
{
	if (s->kind == SIGNAL) {
		sigset_t mask;
		sigemptyset(&mask);
		sigaddset(&mask, s->signo);
		pthread_sigmask(SIG_UNBLOCK, &mask, NULL);
	}
	alb_loop_unref(s->loop);
	free(s);
}

ALB_EXPORT alb_source *alb_source_free(alb_source *source)
{
	if (!source || source->dead)
		return NULL;
	alb_loop *l = source->loop;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, source->fd, NULL);
	if (source->kind != IO)
		close(source->fd);
	source->fd = -1;
	if (l->dispatching) {
		/* Other events of this batch may still point at it. */
		source->dead = true;
		source->next_dead = l->dead;
		l->dead = source;
	} else
		source_release(source);
	return NULL;
}

static int dispatch(alb_source *s, uint32_t events)
{
	switch (s->kind) {
	case IO:
		return s->fn.io(s, s->fd, events, s->userdata);
	case TIMER: {
		uint64_t expirations;
		if (read(s->fd, &expirations, sizeof(expirations)) < 0)
			return errno == EAGAIN ? 0 : -errno;
		return s->fn.timer(s, s->userdata);
	}
	case SIGNAL: {
		struct signalfd_siginfo si;
		ssize_t n = read(s->fd, &si, sizeof(si));
		if (n != sizeof(si))
			return n < 0 && errno == EAGAIN ? 0 : -EIO;
		return s->fn.signal(s, (int)si.ssi_signo, s->userdata);
	}
	case CHILD: {
		siginfo_t si = {0};
		if (waitid((idtype_t)P_PIDFD, (id_t)s->fd, &si, WEXITED | WNOHANG) < 0)
			return -errno;
		if (si.si_pid == 0)
			return 0; /* not yet */
		int how = si.si_code == CLD_EXITED   ? ALB_CHILD_EXITED
			  : si.si_code == CLD_DUMPED ? ALB_CHILD_DUMPED
						     : ALB_CHILD_KILLED;
		/* One notification: stop watching before the callback may free us. */
		epoll_ctl(s->loop->epfd, EPOLL_CTL_DEL, s->fd, NULL);
		return s->fn.child(s, s->pid, how, si.si_status, s->userdata);
	}
	}
	return 0;
}

ALB_EXPORT int alb_loop_run_once(alb_loop *loop, int timeout_ms)
{
	if (!loop)
		return -EINVAL;
	struct epoll_event events[64];
	int n = epoll_wait(loop->epfd, events, (int)ELEMENTSOF(events), timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	int r = 0, dispatched = 0;
	loop->dispatching = true;
	for (int i = 0; i < n && r >= 0; i++) {
		alb_source *s = events[i].data.ptr;
		if (s->dead)
			continue;
		r = dispatch(s, events[i].events);
		dispatched++;
	}
	loop->dispatching = false;
	while (loop->dead) {
		alb_source *s = loop->dead;
		loop->dead = s->next_dead;
		source_release(s);
	}
	return r < 0 ? r : dispatched;
}

ALB_EXPORT int alb_loop_run(alb_loop *loop)
{
	if (!loop)
		return -EINVAL;
	loop->exit = false;
	while (!loop->exit) {
		int r = alb_loop_run_once(loop, -1);
		if (r < 0)
			return r;
	}
	return loop->exit_code;
}

ALB_EXPORT void alb_loop_exit(alb_loop *loop, int code)
{
	if (!loop)
		return;
	loop->exit = true;
	loop->exit_code = code;
}
