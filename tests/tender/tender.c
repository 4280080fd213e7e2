/* SPDX-License-Identifier: ISC */
/*
 * The test tender: a stand-in for Solo5's solo5-hvt and solo5-spt (v0.12.1, ABI 2).
 *
 * It takes the real tender's command line and checks it as strictly, reads the
 * image's Solo5 notes with libalbatross, attaches the devices like the real
 * tender (taps with TUNSETIFF, block files opened read-write), prints a banner
 * on its console (stdout) and then does what the guest arguments say instead
 * of running a unikernel. See README.md for the guest arguments.
 *
 * Built twice: -DTENDER_HVT gives solo5-hvt, -DTENDER_SPT gives solo5-spt.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include <albatross/ctx.h>
#include <albatross/manifest.h>

#include "util-private.h"

#if defined(TENDER_HVT)
#define TENDER_NAME   "solo5-hvt"
#define TENDER_TARGET ALB_SOLO5_HVT
#define TARGET_NAME   "hvt"
#elif defined(TENDER_SPT)
#define TENDER_NAME   "solo5-spt"
#define TENDER_TARGET ALB_SOLO5_SPT
#define TARGET_NAME   "spt"
#else
#error "define TENDER_HVT or TENDER_SPT"
#endif

#define SOLO5_VERSION	"v0.12.1"
#define TENDER_ABI	"2"
#define CMDLINE_MAX	8191 /* characters of the guest command line */
#define DEVICE_NAME_MAX 67
#define DEVICES_MAX	63
#define MEM_DEFAULT	512
#define HVT_MEM_MAX	4096
#define KERNEL_SIZE_MAX (256u << 20)
#define SECTOR_DEFAULT	512
#define LINES_MAX	100000000u
#define SLEEP_MAX_MS	(7u * 24 * 3600 * 1000)

enum log_level { LOG_QUIET, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

struct device {
	char name[DEVICE_NAME_MAX + 1];
	int type;	  /* enum alb_device_type */
	const char *host; /* the interface or path, borrowed from argv */
	int fd;
	bool has_mac;
	uint8_t mac[6];
	bool has_sector_size;
	uint64_t sector_size;
	uint64_t capacity;
};

static struct device devices[DEVICES_MAX];
static uint32_t n_devices;

/* Writes all of buf to fd. A console whose reader is gone (EPIPE) or any other
 * error drops the output: a unikernel keeps running without a console. */
static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd p = {.fd = fd, .events = POLLOUT};
				(void)poll(&p, 1, -1);
				continue;
			}
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

static _printf_(2, 0) void vsay(int fd, const char *fmt, va_list ap)
{
	char buf[CMDLINE_MAX + 256];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n < 0)
		return;
	write_all(fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* Prints on the console (stdout), unbuffered. */
static _printf_(1, 2) void console(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsay(STDOUT_FILENO, fmt, ap);
	va_end(ap);
}

/* Prints "solo5-hvt: MESSAGE" on stderr in one write, like warnx(3). */
static _printf_(1, 2) void warnx_(const char *fmt, ...)
{
	static const char prefix[] = TENDER_NAME ": ";
	char buf[CMDLINE_MAX + 256];
	size_t lp = sizeof(prefix) - 1;
	va_list ap;

	memcpy(buf, prefix, lp);
	va_start(ap, fmt);
	int n = vsnprintf(buf + lp, sizeof(buf) - lp - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = lp + ((size_t)n < sizeof(buf) - lp - 1 ? (size_t)n : sizeof(buf) - lp - 2);
	buf[len++] = '\n';
	write_all(STDERR_FILENO, buf, len);
}

#define die(...)                                                                                   \
	do {                                                                                       \
		warnx_(__VA_ARGS__);                                                               \
		exit(1);                                                                           \
	} while (0)

static _Noreturn void usage(void)
{
	static const char text[] =
	    "usage: " TENDER_NAME " [ CORE OPTIONS ] [ MODULE OPTIONS ] [ -- ] KERNEL [ ARGS ]\n"
	    "KERNEL is the filename of the unikernel to run.\n"
	    "ARGS are optional arguments passed to the unikernel.\n"
	    "Core options:\n"
	    "  [ --mem=512 ] (guest memory in MB)\n"
	    "    --help (display this help)\n"
	    "    --version (display version information)\n"
	    "Compiled-in modules: net block\n"
	    "Compiled-in module options:\n"
	    "    --net:NAME=IFACE | @NN (attach tap at IFACE or at fd @NN as network NAME)\n"
	    "    [ --net-mac:NAME=HWADDR ] (set HWADDR for network NAME)\n"
	    "    --block:NAME=PATH (attach block device/file at PATH as block storage NAME)\n"
	    "    [ --block-sector-size:NAME=SIZE ] (set the sector size of block storage NAME)\n"
#ifdef TENDER_SPT
	    "    [ --x-exec-heap ] (make the heap executable)\n"
#endif
	    ;
	write_all(STDERR_FILENO, text, sizeof(text) - 1);
	exit(1);
}

/* The ABI this tender claims: ALB_TEST_TENDER_ABI overrides it, to simulate another
 * tender. A value that is not a number is printed as given and matches no image. */
static const char *tender_abi_string(void)
{
	const char *e = getenv("ALB_TEST_TENDER_ABI");
	return e ? e : TENDER_ABI;
}

/* The rest of arg after prefix, or NULL. */
static const char *after(const char *arg, const char *prefix)
{
	size_t l = strlen(prefix);
	return strncmp(arg, prefix, l) == 0 ? arg + l : NULL;
}

/* Parses a decimal number without sign or spaces, at most max. */
static bool parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*ret = v;
	return true;
}

static int64_t tender_abi(void)
{
	uint64_t v;
	return parse_u64(tender_abi_string(), UINT32_MAX, &v) ? (int64_t)v : -1;
}

static _Noreturn void version(void)
{
	console(TENDER_NAME " tender, version " SOLO5_VERSION "\n");
	console("ABI version %s\n", tender_abi_string());
	exit(0);
}

static const char *type_name(int type)
{
	return type == ALB_DEVICE_NET ? "NET_BASIC" : "BLOCK_BASIC";
}

static struct device *find_device(const char *name, int type)
{
	for (uint32_t i = 0; i < n_devices; i++)
		if (devices[i].type == type && streq(devices[i].name, name))
			return &devices[i];
	return NULL;
}

/* Reads the image and fills devices[] from its manifest. */
static void load_kernel(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		die("%s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		die("%s: %s", path, strerror(EISDIR));
	if (!S_ISREG(st.st_mode) || st.st_size > KERNEL_SIZE_MAX)
		die("%s: Exec format error", path);

	size_t size = (size_t)st.st_size;
	_cleanup_free_ uint8_t *image = malloc(size ? size : 1);
	if (!image)
		die("%s: %s", path, strerror(ENOMEM));
	ssize_t n = alb_read_full(fd, image, size);
	if (n < 0)
		die("%s: %s", path, strerror((int)-n));

	alb_ctx *ctx = NULL;
	int r = alb_ctx_new(&ctx);
	if (r < 0)
		die("Could not create a context: %s", strerror(-r));
	alb_manifest *m = NULL;
	r = alb_manifest_read(ctx, image, (uint64_t)n, &m);
	if (r < 0) {
		warnx_("%s: Exec format error: %s", path, alb_ctx_last_error(ctx));
		alb_ctx_unref(ctx);
		exit(1);
	}
	alb_ctx_unref(ctx);

	int target = alb_manifest_get_target(m);
	uint32_t abi = alb_manifest_get_abi_version(m);
	if (target != TENDER_TARGET) {
		warnx_("%s: Solo5 ABI target mismatch: the executable is for %s, this tender is "
		       "for " TARGET_NAME,
		       path, alb_manifest_get_target_name(m));
		alb_manifest_free(m);
		exit(1);
	}
	if ((int64_t)abi != tender_abi()) {
		warnx_("%s: Solo5 ABI version mismatch: the executable has version %u, this "
		       "tender has %s",
		       path, abi, tender_abi_string());
		alb_manifest_free(m);
		exit(1);
	}

	n_devices = alb_manifest_get_device_count(m);
	if (n_devices > DEVICES_MAX) {
		alb_manifest_free(m);
		die("%s: Solo5 manifest is invalid", path);
	}
	for (uint32_t i = 0; i < n_devices; i++) {
		struct device *d = &devices[i];
		snprintf(d->name, sizeof(d->name), "%s", alb_manifest_get_device_name(m, i));
		d->type = alb_manifest_get_device_type(m, i);
		d->fd = -1;
	}
	alb_manifest_free(m);
}

/*
 * Splits "PREFIX NAME=VALUE" where NAME is 1 to 67 letters and digits. Returns false
 * unless arg starts with prefix and is well formed.
 */
static bool split_device_option(const char *arg, const char *prefix, char name[],
				const char **ret_value)
{
	size_t lp = strlen(prefix);
	if (strncmp(arg, prefix, lp) != 0)
		return false;
	const char *p = arg + lp;
	size_t len = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
	if (len == 0 || len > DEVICE_NAME_MAX || p[len] != '=' || p[len + 1] == '\0')
		return false;
	memcpy(name, p, len);
	name[len] = '\0';
	*ret_value = p + len + 1;
	return true;
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
	if (strlen(s) != 17)
		return false;
	for (int i = 0; i < 6; i++) {
		const char *p = s + 3 * i;
		if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) ||
		    (i < 5 && p[2] != ':'))
			return false;
		char hex[3] = {p[0], p[1], '\0'};
		mac[i] = (uint8_t)strtoul(hex, NULL, 16);
	}
	return true;
}

/* Opens the tap iface like the real tender: it must exist and be up; TUNSETIFF then
 * succeeds only for a persistent tap we own, or with CAP_NET_ADMIN. */
static int tap_attach(const char *iface)
{
	if (strlen(iface) >= IFNAMSIZ)
		return -ENAMETOOLONG;

	struct ifreq ifr = {0};
	memcpy(ifr.ifr_name, iface, strlen(iface));
	_cleanup_close_ int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
		return errno == ENODEV ? -ENOENT : -errno;
	if (!(ifr.ifr_flags & IFF_UP))
		return -ENETDOWN;

	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, iface, strlen(iface));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (strncmp(ifr.ifr_name, iface, IFNAMSIZ) != 0) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

static void attach_net(struct device *d, const char *iface)
{
	if (iface[0] == '@') {
		/* Solo5 v0.12.1 fails the fd form with errno still 0. */
		die("Could not attach interface: %s: %s", iface, strerror(0));
	}
	int fd = tap_attach(iface);
	if (fd < 0)
		die("Could not attach interface: %s: %s", iface, strerror(-fd));
	d->fd = fd;
	d->host = iface;
}

static void attach_block(struct device *d, const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("Could not open block device: %s: %s", path, strerror(errno));
	off_t end = lseek(fd, 0, SEEK_END);
	if (end < 0)
		die("%s: Could not determine block device capacity: %s", path, strerror(errno));
	d->fd = fd;
	d->host = path;
	d->capacity = (uint64_t)end;
}

/* A rejected module option: the reason (if any) was printed; like the real tender. */
static _Noreturn void invalid_option(const char *arg)
{
	warnx_("Invalid option: `%s'", arg);
	usage();
}

/* Handles a module option; false if arg is none. */
static bool handle_module_option(const char *arg)
{
	static const struct {
		const char *prefix;
		int type;
	} options[] = {
	    {"--net:", ALB_DEVICE_NET},
	    {"--net-mac:", ALB_DEVICE_NET},
	    {"--block:", ALB_DEVICE_BLOCK},
	    {"--block-sector-size:", ALB_DEVICE_BLOCK},
	};
	char name[DEVICE_NAME_MAX + 1];
	const char *prefix = NULL, *value;
	struct device *d;
	int type = 0;

	for (size_t o = 0; o < ELEMENTSOF(options); o++)
		if (after(arg, options[o].prefix)) {
			prefix = options[o].prefix;
			type = options[o].type;
		}
	if (!prefix)
		return false;
	bool mac = streq(prefix, "--net-mac:");
	bool sector = streq(prefix, "--block-sector-size:");
	if (!split_device_option(arg, prefix, name, &value))
		invalid_option(arg);
	d = find_device(name, type);
	if (!d) {
		warnx_("Resource not declared in manifest: '%s'", name);
		invalid_option(arg);
	}

	if (mac) {
		if (d->has_mac) {
			warnx_("Option given twice for '%s'", name);
			invalid_option(arg);
		}
		if (!parse_mac(value, d->mac)) {
			warnx_("Malformed MAC address: %s", value);
			invalid_option(arg);
		}
		d->has_mac = true;
	} else if (sector) {
		uint64_t v;
		if (d->has_sector_size) {
			warnx_("Option given twice for '%s'", name);
			invalid_option(arg);
		}
		if (!parse_u64(value, UINT32_MAX, &v) || v < 512 || (v & (v - 1)) != 0) {
			warnx_("Malformed sector size: %s (a power of two, at least 512)", value);
			invalid_option(arg);
		}
		d->sector_size = v;
		d->has_sector_size = true;
	} else {
		if (d->fd >= 0) {
			warnx_("Resource already attached: '%s'", name);
			invalid_option(arg);
		}
		if (type == ALB_DEVICE_NET)
			attach_net(d, value);
		else
			attach_block(d, value);
	}
	return true;
}

static uint64_t handle_mem(const char *arg)
{
	uint64_t mb;
	if (!parse_u64(arg + 6, 1ull << 40, &mb) || mb == 0)
		die("Malformed argument to --mem");
#ifdef TENDER_HVT
	mb &= ~(uint64_t)1;
	if (mb > HVT_MEM_MAX)
		mb = HVT_MEM_MAX;
	if (mb == 0)
		die("Guest memory size too small: %s", arg + 6);
#endif
	return mb;
}

static void random_mac(uint8_t mac[6])
{
	if (getrandom(mac, 6, 0) != 6)
		memset(mac, 0x5a, 6);
	mac[0] = (uint8_t)((mac[0] & 0xfe) | 0x02); /* unicast, locally administered */
}

/* Signals: solo5-hvt exits 1 on SIGTERM/SIGINT, solo5-spt dies by them. */
#ifdef TENDER_HVT
static void on_signal(int signo)
{
	char msg[64] = TENDER_NAME ": Exiting on signal ";
	size_t len = strlen(msg);
	char digits[12];
	int nd = 0;
	do {
		digits[nd++] = (char)('0' + signo % 10);
		signo /= 10;
	} while (signo > 0 && nd < (int)sizeof(digits));
	while (nd > 0)
		msg[len++] = digits[--nd];
	msg[len++] = '\n';
	ssize_t r = write(STDERR_FILENO, msg, len);
	(void)r;
	_exit(1);
}
#endif

static void setup_signals(void)
{
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigfillset(&sa.sa_mask);
#ifdef TENDER_HVT
	sa.sa_handler = on_signal;
#endif
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	/* A console FIFO whose reader went away must not kill the unikernel. */
	struct sigaction ign = {.sa_handler = SIG_IGN};
	sigaction(SIGPIPE, &ign, NULL);

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static int parse_signal(const char *s)
{
	static const struct {
		const char *name;
		int signo;
	} names[] = {
	    {"HUP", SIGHUP},   {"INT", SIGINT},	  {"QUIT", SIGQUIT}, {"ILL", SIGILL},
	    {"ABRT", SIGABRT}, {"BUS", SIGBUS},	  {"FPE", SIGFPE},   {"KILL", SIGKILL},
	    {"USR1", SIGUSR1}, {"SEGV", SIGSEGV}, {"USR2", SIGUSR2}, {"PIPE", SIGPIPE},
	    {"ALRM", SIGALRM}, {"TERM", SIGTERM}, {"SYS", SIGSYS},   {"TRAP", SIGTRAP},
	};
	uint64_t v;
	if (parse_u64(s, 64, &v))
		return v >= 1 && (int)v <= SIGRTMAX ? (int)v : -1;
	if (strncmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (streq(s, names[i].name))
			return names[i].signo;
	return -1;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += (time_t)(ms / 1000);
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
		;
}

static bool parse_exit_code(const char *s, int *ret)
{
	bool neg = s[0] == '-';
	uint64_t v;
	if (!parse_u64(s + neg, neg ? (uint64_t)INT_MAX + 1 : INT_MAX, &v))
		return false;
	*ret = neg ? (int)(-(int64_t)v) : (int)v;
	return true;
}

static _Noreturn void guest_exit(int level, int code)
{
	if (level >= LOG_INFO)
		console("Solo5: solo5_exit(%d) called\n", code);
	exit(code & 0xff);
}

/* The "unikernel": does what its arguments say, in order. */
static _Noreturn void run_guest(int level, char **args, int n)
{
	for (int i = 0; i < n; i++) {
		const char *a = args[i], *v;
		uint64_t u;
		int code, signo;

		if ((v = after(a, "--exit=")) && parse_exit_code(v, &code)) {
			guest_exit(level, code);
		} else if ((v = after(a, "--sleep=")) && parse_u64(v, SLEEP_MAX_MS, &u)) {
			sleep_ms(u);
		} else if ((v = after(a, "--lines=")) && parse_u64(v, LINES_MAX, &u)) {
			for (uint64_t k = 1; k <= u; k++)
				console("line %" PRIu64 "\n", k);
		} else if ((v = after(a, "--signal=")) && (signo = parse_signal(v)) > 0) {
			struct sigaction sa = {.sa_handler = SIG_DFL};
			sigset_t set;
			sigaction(signo, &sa, NULL);
			sigemptyset(&set);
			sigaddset(&set, signo);
			sigprocmask(SIG_UNBLOCK, &set, NULL);
			raise(signo);
		} else if (streq(a, "--abort")) {
			if (level >= LOG_ERROR)
				console("Solo5: solo5_abort() called\n");
			exit(255);
		} else if (streq(a, "--run")) {
			for (;;)
				pause();
		} else if ((v = after(a, "--hello="))) {
			console("%s\n", v);
		} else if ((v = after(a, "--stderr="))) {
			char buf[CMDLINE_MAX + 2];
			int len = snprintf(buf, sizeof(buf), "%s\n", v);
			write_all(STDERR_FILENO, buf, (size_t)len < sizeof(buf) ? (size_t)len : 0);
		} else {
			console("argument: %s\n", a);
		}
	}
	guest_exit(level, 0);
}

static int parse_log_level(const char *a)
{
	static const char *const levels[] = {"quiet", "error", "warn", "info", "debug"};
	const char *v = after(a, "--solo5:");
	if (!v)
		return -1;
	for (size_t i = 0; i < ELEMENTSOF(levels); i++)
		if (streq(v, levels[i]))
			return (int)i;
	return -1;
}

static void banner(uint64_t mem_mb, const char *cmdline)
{
	console("            |      ___|\n"
		"  __|  _ \\  |  _ \\ __ \\\n"
		"\\__ \\ (   | | (   |  ) |\n"
		"____/\\___/ _|\\___/____/\n");
	console("Solo5: Bindings version " SOLO5_VERSION "\n");
	console("Solo5: Tender " TENDER_NAME ", target " TARGET_NAME ", ABI %s\n",
		tender_abi_string());
	console("Solo5: Memory map: %" PRIu64 " MB addressable\n", mem_mb);
	for (uint32_t i = 0; i < n_devices; i++) {
		const struct device *d = &devices[i];
		if (d->type == ALB_DEVICE_NET)
			console("Solo5: Device '%s' NET_BASIC: %s, mac "
				"%02x:%02x:%02x:%02x:%02x:%02x\n",
				d->name, d->host, d->mac[0], d->mac[1], d->mac[2], d->mac[3],
				d->mac[4], d->mac[5]);
		else
			console("Solo5: Device '%s' BLOCK_BASIC: %s, %" PRIu64
				" sectors of %" PRIu64 " bytes\n",
				d->name, d->host, d->capacity / d->sector_size, d->sector_size);
	}
	console("Solo5: Application arguments: %s\n", cmdline);
}

int main(int argc, char **argv)
{
	setup_signals();

	/* First pass, like the real tender: --help, --version and the kernel. */
	int k = 1;
	for (; k < argc && argv[k][0] == '-'; k++) {
		if (streq(argv[k], "--")) {
			k++;
			break;
		}
		if (streq(argv[k], "--help"))
			usage();
		if (streq(argv[k], "--version"))
			version();
	}
	if (k >= argc) {
		warnx_("Missing KERNEL operand");
		usage();
	}
	const char *kernel = argv[k];
	load_kernel(kernel);

	/* Second pass: the options, attaching devices as they come. */
	uint64_t mem_mb = MEM_DEFAULT;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (streq(a, "--")) {
			i++;
			break;
		}
		if (strncmp(a, "--mem=", 6) == 0)
			mem_mb = handle_mem(a);
#ifdef TENDER_SPT
		else if (streq(a, "--x-exec-heap"))
			;
#endif
		else if (!handle_module_option(a))
			invalid_option(a);
	}
	/* i is the kernel again (the first pass found it at the same place). */
	char **args = argv + i + 1;
	int n_args = argc - i - 1;

	for (uint32_t d = 0; d < n_devices; d++) {
		struct device *dev = &devices[d];
		if (dev->fd < 0)
			die("Device '%s' of type %s declared but not attached.", dev->name,
			    type_name(dev->type));
		if (dev->type == ALB_DEVICE_BLOCK) {
			if (!dev->has_sector_size)
				dev->sector_size = SECTOR_DEFAULT;
			if (dev->capacity % dev->sector_size != 0)
				die("%s: Backing storage size must be block aligned (%" PRIu64
				    " bytes)",
				    dev->host, dev->sector_size);
		} else if (!dev->has_mac) {
			random_mac(dev->mac);
		}
	}

	/* The guest command line: the arguments joined by single spaces. */
	char cmdline[CMDLINE_MAX + 1];
	size_t len = 0;
	for (int a = 0; a < n_args; a++) {
		size_t l = strlen(args[a]) + (a > 0);
		if (len + l > CMDLINE_MAX)
			die("Guest command line too long (max=%d characters)", CMDLINE_MAX);
		if (a > 0)
			cmdline[len++] = ' ';
		memcpy(cmdline + len, args[a], l - (a > 0));
		len += l - (a > 0);
	}
	cmdline[len] = '\0';

	int level = LOG_INFO, first = 0;
	for (int l; first < n_args && (l = parse_log_level(args[first])) >= 0; first++)
		level = l;

	if (level >= LOG_INFO)
		banner(mem_mb, cmdline);
	run_guest(level, args + first, n_args - first);
}
