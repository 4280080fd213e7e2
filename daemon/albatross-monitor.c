/* SPDX-License-Identifier: ISC */
/*
 * albatross-monitor: the watcher of one tender, which outlives albatrossd.
 *
 *   albatross-monitor SOCKET [--uid UID --gid GID] -- TENDER [ARG...]
 *
 * albatrossd starts one per unikernel run, with the unikernel's CPU affinity
 * and in a session of its own. The monitor makes the console pipe, starts the
 * tender (as UID:GID if given) with the pipe as its stdout and stderr, and
 * tells albatrossd the tender's pid on fd 3 ("PID\n", then fd 3 is closed; on
 * a failure to start: "-ERRNO STAGE\n"). From then on it serves the Unix
 * socket SOCKET (a path unique to this run; albatrossd binds it and passes the
 * listening socket as fd 4, else the monitor binds it) to one albatrossd at a
 * time (a newer connection replaces an older one):
 *
 *   monitor to albatrossd, frames of a type byte, a 4-byte big-endian length,
 *   the payload:
 *     'H'  hello: u8 protocol version (1), be32 tender pid, be64 start time
 *          (us since the epoch), u8 1 if the tender has exited, be32 its wait
 *          status, be64 its exit time (us since the epoch), u8 1 if the monitor
 *          stopped it on SIGTERM (the last three 0 while it runs)
 *     'D'  console output (1 .. 65536 bytes)
 *     'L'  be64: bytes of console output lost here (the bound was reached
 *          while nobody read)
 *     'X'  the tender has exited and its output is all acknowledged: be32 its
 *          wait status, be64 its exit time, u8 1 if the monitor stopped it on
 *          SIGTERM
 *   albatrossd to monitor:
 *     'C' be64  the console output taken so far on this connection, in bytes:
 *          the monitor forgets it (what is not acknowledged is sent again to
 *          the next connection: albatrossd may see a few bytes twice after a
 *          crash, never fewer)
 *     'T'  send SIGTERM to the tender (if it still runs)
 *     'K'  send SIGKILL to the tender (if it still runs)
 *     'A'  the exit is taken: the monitor ends, and leaves SOCKET for
 *          albatrossd to remove (names of runs are never used twice)
 *
 * The monitor signals the tender, not albatrossd: only the tender's parent
 * knows that its pid is still the tender's. Console output not acknowledged is
 * kept up to MONITOR_BUFFER_MAX bytes (the oldest not yet sent go first,
 * counted as lost); the exit status is kept until an albatrossd takes it.
 * SIGTERM to the monitor (the host shuts down) is passed to the tender, and
 * the monitor ends with it unless an albatrossd is connected to take the exit
 * (marked as stopped on SIGTERM: albatrossd keeps the unikernel). The
 * tender dies with its monitor (PR_SET_PDEATHSIG): whatever watches a tender
 * is always there. Nothing but libc: the monitor is small (docs/albatrossd.md
 * measures it).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MONITOR_BUFFER_MAX (UINT64_C(1) << 20) /* console bytes kept while nobody reads */
#define MONITOR_CHUNK	   65536u
#define MONITOR_VERSION	   1

struct monitor {
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	pid_t tender;
	uint64_t started_us, exited_us;
	bool exited;
	int status;
	int console; /* read end of the console pipe, -1 at its end */
	int listener, client, sig;
	/* output to the client: frames not yet written */
	uint8_t *out;
	size_t out_len, out_cap, out_off;
	uint64_t out_lost; /* the count of an 'L' frame in out, not yet written whole */
	/* console output not yet acknowledged by a client: held_len bytes at held + held_off,
	 * of which the first sent were framed for the current client */
	uint8_t *held;
	size_t held_off, held_len, sent;
	uint64_t acked_total; /* bytes the current client acknowledged ('C') */
	uint64_t lost;
	/* commands from the client, not yet whole */
	uint8_t in[16];
	size_t in_len;
	bool sent_exit, acked;
	bool terminating; /* SIGTERM came: the host shuts down */
	bool host_stop;	  /* the tender was stopped on that SIGTERM */
};

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

/* Appends a frame to the output; false if memory is short (the client is dropped then). */
static bool frame(struct monitor *m, char type, const void *payload, size_t len)
{
	size_t need = m->out_len + 5 + len;
	if (need > m->out_cap) {
		size_t cap = m->out_cap ? m->out_cap : 4096;
		while (cap < need)
			cap *= 2;
		uint8_t *p = realloc(m->out, cap);
		if (!p)
			return false;
		m->out = p;
		m->out_cap = cap;
	}
	m->out[m->out_len] = (uint8_t)type;
	put_be32(m->out + m->out_len + 1, (uint32_t)len);
	if (len)
		memcpy(m->out + m->out_len + 5, payload, len);
	m->out_len = need;
	return true;
}

static void client_drop(struct monitor *m)
{
	if (m->client >= 0)
		close(m->client);
	m->client = -1;
	/* What was framed but not acknowledged goes to the next client again (it may see
	 * again what this one read and did not acknowledge: never less). */
	free(m->out);
	m->out = NULL;
	m->out_len = m->out_cap = m->out_off = 0;
	m->lost += m->out_lost;
	m->out_lost = 0;
	m->sent = 0;
	m->acked_total = 0;
	m->in_len = 0;
	m->sent_exit = false;
}

/* The next frame for the client, when what was framed is all written: what was lost,
 * then console output (a chunk at a time), then the exit once the output is all
 * acknowledged. */
static void pump(struct monitor *m)
{
	if (m->client < 0 || m->out_len)
		return;
	if (m->lost) {
		uint8_t v[8];
		put_be64(v, m->lost);
		if (!frame(m, 'L', v, sizeof(v)))
			return client_drop(m);
		m->out_lost = m->lost;
		m->lost = 0;
	} else if (m->sent < m->held_len) {
		size_t n = m->held_len - m->sent;
		if (n > MONITOR_CHUNK)
			n = MONITOR_CHUNK;
		if (!frame(m, 'D', m->held + m->held_off + m->sent, n))
			return client_drop(m);
		m->sent += n;
	} else if (m->exited && m->console < 0 && m->held_len == 0 && !m->sent_exit) {
		uint8_t v[13];
		put_be32(v, (uint32_t)m->status);
		put_be64(v + 4, m->exited_us);
		v[12] = m->host_stop;
		if (!frame(m, 'X', v, sizeof(v)))
			return client_drop(m);
		m->sent_exit = true;
	}
}

/* Keeps console output for a client, within the bound: the oldest bytes not yet sent go,
 * and are counted as lost (those sent and not yet acknowledged stay). */
static void hold(struct monitor *m, const uint8_t *buf, size_t len)
{
	if (m->held_off && m->held_off >= m->held_len) {
		memmove(m->held, m->held + m->held_off, m->held_len);
		m->held_off = 0;
	}
	if (m->held_len + len > MONITOR_BUFFER_MAX) {
		size_t over = m->held_len + len - MONITOR_BUFFER_MAX;
		size_t unsent = m->held_len - m->sent;
		size_t drop = over < unsent ? over : unsent;
		memmove(m->held + m->held_off + m->sent, m->held + m->held_off + m->sent + drop,
			unsent - drop);
		m->held_len -= drop;
		m->lost += drop;
		if (over > drop) { /* a huge read: its own first bytes go */
			size_t own = over - drop < len ? over - drop : len;
			buf += own;
			len -= own;
			m->lost += own;
		}
	}
	if (!len)
		return;
	uint8_t *p = realloc(m->held, m->held_off + m->held_len + len);
	if (!p) {
		m->lost += len;
		return;
	}
	m->held = p;
	memcpy(m->held + m->held_off + m->held_len, buf, len);
	m->held_len += len;
}

/* The client acknowledges total bytes of console output since it connected. */
static bool client_ack(struct monitor *m, uint64_t total)
{
	if (total < m->acked_total || total - m->acked_total > m->sent)
		return false;
	size_t n = (size_t)(total - m->acked_total);
	m->acked_total = total;
	m->held_off += n;
	m->held_len -= n;
	m->sent -= n;
	if (m->held_len == 0) {
		free(m->held);
		m->held = NULL;
		m->held_off = 0;
	}
	return true;
}

static void console_read(struct monitor *m)
{
	uint8_t buf[MONITOR_CHUNK];
	ssize_t n = read(m->console, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close(m->console);
		m->console = -1;
	} else
		hold(m, buf, (size_t)n);
	pump(m);
}

static void client_hello(struct monitor *m)
{
	uint8_t v[27];
	v[0] = MONITOR_VERSION;
	put_be32(v + 1, (uint32_t)m->tender);
	put_be64(v + 5, m->started_us);
	v[13] = m->exited;
	put_be32(v + 14, (uint32_t)m->status);
	put_be64(v + 18, m->exited_us);
	v[26] = m->host_stop;
	if (!frame(m, 'H', v, sizeof(v)))
		return client_drop(m);
}

static bool client_flush(struct monitor *m);

static void client_accept(struct monitor *m)
{
	int fd = accept4(m->listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	client_drop(m); /* a newer albatrossd replaces an older one */
	m->client = fd;
	client_hello(m);
	/* Written now: a client replaced before the next poll still gets its hello. */
	if (client_flush(m))
		pump(m);
}

/* Carries out the client's commands read so far; false if one is not a command. */
static bool client_commands(struct monitor *m)
{
	size_t i = 0;
	while (i < m->in_len) {
		uint8_t c = m->in[i];
		if (c == 'C') {
			if (m->in_len - i < 9)
				break;
			uint64_t total = 0;
			for (int k = 1; k <= 8; k++)
				total = total << 8 | m->in[i + k];
			if (!client_ack(m, total))
				return false;
			i += 9;
			continue;
		}
		if (c == 'A' && m->sent_exit)
			m->acked = true;
		else if ((c == 'T' || c == 'K') && !m->exited)
			kill(m->tender, c == 'T' ? SIGTERM : SIGKILL);
		else if (c != 'A' && c != 'T' && c != 'K')
			return false;
		i++;
	}
	memmove(m->in, m->in + i, m->in_len - i);
	m->in_len -= i;
	return true;
}

/* Writes what the socket takes of the framed output; false if the client was dropped. */
static bool client_flush(struct monitor *m)
{
	if (m->client < 0 || m->out_off >= m->out_len)
		return m->client >= 0;
	ssize_t n = send(m->client, m->out + m->out_off, m->out_len - m->out_off, MSG_NOSIGNAL);
	if (n < 0 && errno != EINTR && errno != EAGAIN) {
		client_drop(m);
		return false;
	}
	if (n > 0)
		m->out_off += (size_t)n;
	if (m->out_off == m->out_len) {
		m->out_off = m->out_len = 0;
		m->out_lost = 0;
	}
	return true;
}

static void client_io(struct monitor *m, short revents)
{
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		ssize_t n = read(m->client, m->in + m->in_len, sizeof(m->in) - m->in_len);
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			return client_drop(m);
		if (n > 0) {
			m->in_len += (size_t)n;
			if (!client_commands(m))
				return client_drop(m);
		}
	}
	if (client_flush(m))
		pump(m);
}

static void reap(struct monitor *m)
{
	struct signalfd_siginfo si;
	while (read(m->sig, &si, sizeof(si)) == sizeof(si))
		if (si.ssi_signo == SIGTERM) {
			/* The host shuts down: the tender stops, and nobody waits for its exit
			 * unless an albatrossd is connected (the next one starts it anew). */
			m->terminating = true;
			if (!m->exited) {
				m->host_stop = true;
				kill(m->tender, SIGTERM);
			}
		}
	int status;
	if (!m->exited && waitpid(m->tender, &status, WNOHANG) == m->tender) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		m->exited_us = (uint64_t)now.tv_sec * 1000000 + (uint64_t)now.tv_nsec / 1000;
		m->exited = true;
		m->status = status;
		pump(m);
	}
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	(void)unlink(path);
	mode_t old = umask(0077);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(fd, 4) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Starts the tender with the console pipe as stdout and stderr. Its pid, or -1 with errno
 * and *stage set. */
static pid_t start_tender(char **argv, int out, bool as_user, uid_t uid, gid_t gid, int *stage)
{
	int errpipe[2];
	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		*stage = 1;
		return -1;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		*stage = 1;
		return -1;
	}
	if (pid == 0) {
		int st = 0;
		sigset_t none;
		sigemptyset(&none);
		/* As albatrossd started us: nothing ignored (an ignored disposition survives
		 * exec), nothing blocked. */
		signal(SIGPIPE, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
			st = 2;
		else if (as_user && (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0))
			st = 3;
		/* The tender never outlives its monitor: whatever watches it is there. */
		else if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			st = 5;
		else {
			execv(argv[0], argv);
			st = 4;
		}
		int msg[2] = {st, errno};
		(void)!write(errpipe[1], msg, sizeof(msg));
		_exit(127);
	}
	close(errpipe[1]);
	int msg[2];
	ssize_t n;
	while ((n = read(errpipe[0], msg, sizeof(msg))) < 0 && errno == EINTR)
		;
	close(errpipe[0]);
	if (n == sizeof(msg)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		*stage = msg[0];
		errno = msg[1];
		return -1;
	}
	return pid;
}

static int usage(void)
{
	fprintf(stderr, "usage: albatross-monitor SOCKET [--uid UID --gid GID] -- TENDER [ARG...]\n"
			"(started by albatrossd, one per unikernel run: see albatrossd(8))\n");
	return 2;
}

/* A decimal id 0..2^31-1. */
static bool parse_id(const char *s, unsigned long *ret)
{
	char *end;
	if (s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > 0x7fffffffUL)
		return false;
	*ret = v;
	return true;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return usage();
	const char *sock = argv[1];
	bool as_user = false;
	unsigned long uid = 0, gid = 0;
	int i = 2;
	if (strcmp(argv[i], "--uid") == 0) {
		if (argc < i + 5 || !parse_id(argv[i + 1], &uid) || strcmp(argv[i + 2], "--gid") ||
		    !parse_id(argv[i + 3], &gid))
			return usage();
		as_user = true;
		i += 4;
	}
	if (strcmp(argv[i], "--") || i + 1 >= argc)
		return usage();
	char **tender_argv = argv + i + 1;

	struct monitor m = {.console = -1, .listener = -1, .client = -1, .sig = -1};
	/* To albatrossd; NULL when run by hand. Not the tender's: its end is our report. */
	(void)fcntl(3, F_SETFD, FD_CLOEXEC);
	FILE *report = fdopen(3, "w");
	int stage = 0, pipefd[2];
	if (snprintf(m.sock_path, sizeof(m.sock_path), "%s", sock) >= (int)sizeof(m.sock_path)) {
		errno = ENAMETOOLONG;
		stage = 6;
		goto fail;
	}
	/* SIGCHLD and SIGTERM through a signalfd; SIGPIPE never (a gone client is an error
	 * return). The tender gets the default mask back. */
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigaddset(&chld, SIGTERM);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &chld, NULL) < 0 ||
	    (m.sig = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		stage = 1;
		goto fail;
	}
	/* albatrossd binds the socket before it starts us and passes it as fd 4, so that
	 * the socket is there for as long as we may be (a monitor that albatrossd's death
	 * interrupted while it started is found all the same); by hand, we bind it. */
	int listening = 0;
	socklen_t len = sizeof(listening);
	if (getsockopt(4, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening) {
		m.listener = 4;
		/* Listening again makes the socket's credentials ours (they are those of the
		 * last listen()): albatrossd may tell who serves it. */
		(void)listen(4, 4);
		(void)fcntl(4, F_SETFD, FD_CLOEXEC);
		(void)fcntl(4, F_SETFL, O_NONBLOCK);
	} else if ((m.listener = listen_unix(m.sock_path)) < 0) {
		stage = 6;
		goto fail;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		stage = 1;
		goto fail;
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	m.started_us = (uint64_t)now.tv_sec * 1000000 + (uint64_t)now.tv_nsec / 1000;
	m.tender = start_tender(tender_argv, pipefd[1], as_user, (uid_t)uid, (gid_t)gid, &stage);
	close(pipefd[1]);
	if (m.tender < 0) {
		close(pipefd[0]);
		goto fail;
	}
	m.console = pipefd[0];
	(void)fcntl(m.console, F_SETFL, O_NONBLOCK);
	if (report) {
		fprintf(report, "%d\n", (int)m.tender);
		fclose(report);
	}
	/* Nothing of albatrossd's is kept: its stdout and stderr may be gone soon. */
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}

	while (!(m.exited && m.console < 0 && (m.acked || (m.terminating && m.client < 0)))) {
		struct pollfd p[4] = {
		    {.fd = m.sig, .events = POLLIN},
		    {.fd = m.listener, .events = POLLIN},
		    {.fd = m.console, .events = POLLIN},
		    {.fd = m.client,
		     .events = (short)(POLLIN | (m.out_off < m.out_len ? POLLOUT : 0))},
		};
		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			reap(&m);
		/* The client's events first: an accept below may replace it. */
		if (m.client >= 0 && m.client == p[3].fd && p[3].revents)
			client_io(&m, p[3].revents);
		if (p[1].revents)
			client_accept(&m);
		if (m.console >= 0 && p[2].revents)
			console_read(&m);
	}
	/* Its exit taken, the socket is albatrossd's to remove (it did, before 'A'); with
	 * nobody to take it (the host shuts down), it is ours. */
	if (!m.acked)
		(void)unlink(m.sock_path);
	client_drop(&m);
	free(m.held);
	return 0;

fail:
	if (report) {
		fprintf(report, "-%d %d\n", errno, stage);
		fclose(report);
	}
	if (m.listener >= 0)
		(void)unlink(m.sock_path);
	return 1;
}
