/* SPDX-License-Identifier: ISC */
/*
 * The test tender: a stand-in for Solo5's solo5-hvt and solo5-spt (v0.12.1, ABI 2).
 *
 * Solo5 is not packaged in Debian, so the tests run this instead. It is our own code and
 * runs no guest code at all. Everything a real tender prints itself is reproduced as the
 * real one prints it: the same checks in the same order, the same messages on the same
 * stream, the same exit codes and signals (docs/solo5.md; tests/tender/transcript.py holds
 * the transcript that is also run against a real Solo5 when one is installed). Where a real
 * tender would start the unikernel, this one prints the Solo5 banner on the console
 * (stdout) and then does what the guest arguments say (README.md); with --ipv4= that
 * includes what a unikernel does on its tap, a small network stack (guest-net.c).
 *
 * Built twice: -DTENDER_HVT gives solo5-hvt, -DTENDER_SPT gives solo5-spt.
 *
 * Test knobs (environment): ALB_TEST_TENDER_ABI=N makes the tender claim ABI version N;
 * ALB_TEST_TENDER_KVM=PATH makes solo5-hvt open PATH in place of /dev/kvm.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
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
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <linux/ethtool.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>

#include "guest-net.h"

#if defined(TENDER_HVT)
#define TENDER_NAME "solo5-hvt"
#define ABI_TARGET  1
#elif defined(TENDER_SPT)
#define TENDER_NAME "solo5-spt"
#define ABI_TARGET  2
#else
#error "define TENDER_HVT or TENDER_SPT"
#endif

#if defined(__x86_64__)
#define ELF_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define ELF_MACHINE EM_AARCH64
#else
#error "the Solo5 tenders run on x86_64 and aarch64"
#endif

#define _printf_(a, b) __attribute__((format(printf, a, b)))

#define SOLO5_VERSION "v0.12.1"
#define ABI_VERSION   "2"

#define CMDLINE_SIZE   8192 /* bytes, with the terminating NUL */
#define GUEST_MIN_BASE 0x100000ULL
#define MEM_DEFAULT    ((size_t)512 << 20)
/* The entry point assumed for an image that has none (mkimage writes no code). */
#define STANDIN_ENTRY 0x100020ULL
/* Where a PIE solo5-spt is typically loaded: guest memory must stay below it. */
#define SPT_EXECUTABLE_START 0x555555554000ULL
#define SPT_HOST_MEM_BASE    0x10000ULL
#define HVT_PAGE_SIZE	     ((size_t)2 << 20)
#define HVT_MEM_MAX	     (2048 * HVT_PAGE_SIZE)

/* Solo5 ELF notes (docs/solo5.md). */
#define NOTE_NAME	   "Solo5"
#define NOTE_HEADER_SIZE   20
#define NOTE_ABI1	   0x31494241u
#define NOTE_MFT1	   0x3154464du
#define ABI1_NOTE_ALIGN	   4
#define ABI1_NOTE_MAX_SIZE 32
#define MFT1_NOTE_ALIGN	   8
#define MFT_NAME_SIZE	   68
#define MFT_MAX_ENTRIES	   64
#define MFT_ENTRY_SIZE	   104
#define MFT1_NOTE_MAX_SIZE (12 + MFT_MAX_ENTRIES * MFT_ENTRY_SIZE)
#define MFT_BLOCK_BASIC	   1u
#define MFT_NET_BASIC	   2u
#define MFT_RESERVED_FIRST 0x40000000u

#define LINES_MAX    100000000u
#define SLEEP_MAX_MS (7ULL * 24 * 3600 * 1000)

_Static_assert(PATH_MAX == 4096, "the --block: format below assumes PATH_MAX 4096");

/* Solo5's log levels; the banner and the exit messages are INFO. */
enum log_level { LOG_ERROR = 1, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* A manifest entry and what the tender attached to it. */
struct device {
	char name[MFT_NAME_SIZE];
	uint32_t type;
	bool attached;
	int hostfd;
	uint8_t mac[6];
	int mtu;
	uint16_t block_size;
	int64_t capacity;
};

static struct device devices[MFT_MAX_ENTRIES];
static uint32_t n_entries;
static int log_level = LOG_INFO;

/* --- diagnostics: "PROG: MESSAGE" on stderr, like warnx(3) ------------------------------- */

static const char *prog(void)
{
	return program_invocation_short_name;
}

static _printf_(2, 0) void vwarn_(int errnum, const char *fmt, va_list ap)
{
	char *msg = NULL, *line = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		return;
	int n = errnum >= 0 ? asprintf(&line, "%s: %s: %s\n", prog(), msg, strerror(errnum))
			    : asprintf(&line, "%s: %s\n", prog(), msg);
	free(msg);
	if (n < 0)
		return;
	ssize_t r = write(STDERR_FILENO, line, (size_t)n);
	(void)r;
	free(line);
}

static _printf_(1, 2) void warnx_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn_(-1, fmt, ap);
	va_end(ap);
}

static _Noreturn _printf_(1, 2) void errx_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn_(-1, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Like err(3): the message, then ": " and strerror(errno). */
static _Noreturn _printf_(1, 2) void err_(const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	vwarn_(e, fmt, ap);
	va_end(ap);
	exit(1);
}

/* What glibc prints for a failed assert() in the real tender, then abort(). */
static _Noreturn void assert_failed(const char *where, const char *expr)
{
	fprintf(stderr, "%s: %s: Assertion `%s' failed.\n", prog(), where, expr);
	abort();
}

static _Noreturn void usage(void)
{
	/* The real usage text, word for word, trailing space included. */
#ifdef TENDER_HVT
	fprintf(stderr, "usage: %s [ CORE OPTIONS ] [ MODULE OPTIONS ] [ -- ] KERNEL [ ARGS ]\n",
		prog());
#else
	fprintf(stderr, "usage: %s [ CORE OPTIONS ] [ -- ] KERNEL [ ARGS ]\n", prog());
#endif
	fputs("KERNEL is the filename of the unikernel to run.\n"
	      "ARGS are optional arguments passed to the unikernel.\n"
	      "Core options:\n"
	      "  [ --mem=512 ] (guest memory in MB)\n"
	      "    --help (display this help)\n",
	      stderr);
#ifdef TENDER_HVT
	fputs("    --version (display version information)\n"
	      "Compiled-in modules: core block net \n"
	      "Compiled-in module options:\n"
	      "    --block:NAME=PATH (attach block device/file at PATH as block storage NAME)\n"
	      "  [ --block-sector-size:NAME=SECTORSIZE ] (set sector size for block device NAME; "
	      "must be a power of two greater than or equal 512)\n"
	      "    --net:NAME=IFACE | @NN (attach tap at IFACE or at fd @NN as network NAME)\n"
	      "  [ --net-mac:NAME=HWADDR ] (set HWADDR for network NAME)\n",
	      stderr);
#else
	fputs("Compiled-in modules: core net block \n"
	      "Compiled-in module options:\n"
	      "    --x-exec-heap (make the heap executable). WARNING: This option is dangerous and "
	      "not recommended as it makes the heap and stack executable.\n"
	      "    --net:NAME=IFACE | @NN (attach tap at IFACE or at fd @NN as network NAME)\n"
	      "  [ --net-mac:NAME=HWADDR ] (set HWADDR for network NAME)\n"
	      "    --block:NAME=PATH (attach block device/file at PATH as block storage NAME)\n"
	      "  [ --block-sector-size:NAME=SECTORSIZE ] (set sector size for block device NAME; "
	      "must be a power of two greater than or equal 512)\n",
	      stderr);
#endif
	exit(1);
}

/* The ABI this tender claims: ALB_TEST_TENDER_ABI overrides it, to simulate another tender.
 * A value that is not a number is printed as given and matches no image. */
static const char *tender_abi_string(void)
{
	const char *e = getenv("ALB_TEST_TENDER_ABI");
	return e ? e : ABI_VERSION;
}

static int64_t tender_abi(void)
{
	const char *s = tender_abi_string();
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *s < '0' || *s > '9' || *end || errno || v > UINT32_MAX)
		return -1;
	return (int64_t)v;
}

static _Noreturn void version(void)
{
	fprintf(stderr, "%s tender, version %s\n", prog(), SOLO5_VERSION);
	fprintf(stderr, "ABI version %s\n", tender_abi_string());
	exit(0);
}

/* --- the image ----------------------------------------------------------------------------- */

static ssize_t pread_full(int fd, void *buf, size_t count, off_t offset)
{
	ssize_t total = 0;
	char *p = buf;
	while (count > 0) {
		ssize_t n = pread(fd, p, count, offset);
		if (n == 0)
			return total;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		count -= (size_t)n;
		total += n;
		p += n;
		offset += n;
	}
	return total;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* An ELF64 executable for this machine with sane header sizes, as the real tender wants. */
static bool ehdr_valid(const Elf64_Ehdr *h)
{
	return memcmp(h->e_ident, ELFMAG, SELFMAG) == 0 && h->e_ident[EI_CLASS] == ELFCLASS64 &&
	       h->e_ident[EI_DATA] == ELFDATA2LSB && h->e_version == EV_CURRENT &&
	       h->e_ehsize == sizeof(Elf64_Ehdr) && h->e_phnum >= 1 &&
	       h->e_phentsize == sizeof(Elf64_Phdr) && h->e_type == ET_EXEC &&
	       h->e_machine == ELF_MACHINE;
}

/*
 * Finds the Solo5 note of this type: the first note of each PT_NOTE segment is looked at.
 * Returns its descriptor (after the internal alignment, malloc'd) and its size, or NULL if
 * there is none. A malformed image ends the tender with the real tender's message.
 */
static uint8_t *load_note(int fd, const char *path, uint32_t type, size_t align, size_t max_size,
			  size_t *ret_size)
{
	Elf64_Ehdr eh;
	ssize_t n = pread_full(fd, &eh, sizeof(eh), 0);
	if (n < 0)
		errx_("%s: pread_in_full for elf header while loading note returned %zu < 0", path,
		      (size_t)n);
	if (n != sizeof(eh))
		errx_("%s: invalid executable: elf header does not match the expected size (%zu != "
		      "%zu)",
		      path, (size_t)n, sizeof(eh));
	if (!ehdr_valid(&eh))
		errx_(
		    "%s: invalid executable: invalid or unsupported executable (elf header invalid "
		    "while loading note)",
		    path);

	size_t ph_size = (size_t)eh.e_phnum * eh.e_phentsize;
	Elf64_Phdr *ph = malloc(ph_size);
	if (!ph)
		errx_("%s: malloc(ph_size) returned NULL while loading note", path);
	n = pread_full(fd, ph, ph_size, (off_t)eh.e_phoff);
	if (n < 0)
		errx_("%s: pread_in_full for ph_size returned %zu < 0 while loading note", path,
		      (size_t)n);
	if ((size_t)n != ph_size)
		errx_(
		    "%s: invalid executable: program header does not match the expected size (%zu "
		    "!= %zu while loading note)",
		    path, (size_t)n, ph_size);

	uint8_t nh[NOTE_HEADER_SIZE];
	unsigned i;
	bool found = false;
	for (i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type != PT_NOTE)
			continue;
		if (ph[i].p_filesz < 12)
			errx_("%s: invalid executable: phdr[%u].p_filesz note does not fall within "
			      "valid size (%llu < %zu)",
			      path, i, (unsigned long long)ph[i].p_filesz, (size_t)12);
		if (ph[i].p_filesz < NOTE_HEADER_SIZE)
			continue;
		n = pread_full(fd, nh, sizeof(nh), (off_t)ph[i].p_offset);
		if (n < 0)
			errx_("%s: phdr[%u] pread_in_full returned %zu", path, i, (size_t)n);
		if (n != sizeof(nh))
			errx_("%s: phdr[%u] bytes read mismatches note size (%zu != %zu)", path, i,
			      (size_t)n, sizeof(nh));
		if (get32(nh) != sizeof(NOTE_NAME) ||
		    strncmp((const char *)nh + 12, NOTE_NAME, sizeof(NOTE_NAME)) != 0 ||
		    get32(nh + 8) != type)
			continue;
		uint32_t descsz = get32(nh + 4);
		if (descsz < 1 || descsz > max_size)
			errx_(
			    "%s: invalid executable: phdr[%u] note does not fall within valid size "
			    "(%u < 1 || %u > %zu)",
			    path, i, descsz, descsz, max_size);
		if (ph[i].p_filesz < NOTE_HEADER_SIZE + (uint64_t)descsz)
			errx_(
			    "%s: invalid executable: phdr[%u] note does not fall within valid size "
			    "(%llu < %zu)",
			    path, i, (unsigned long long)ph[i].p_filesz,
			    NOTE_HEADER_SIZE + (size_t)descsz);
		found = true;
		break;
	}
	if (!found) {
		free(ph);
		return NULL;
	}

	uint32_t descsz = get32(nh + 4);
	size_t offset = (NOTE_HEADER_SIZE + align - 1) & ~(align - 1);
	size_t size = descsz - (offset - NOTE_HEADER_SIZE);
	if (size == 0 || size > descsz)
		errx_(
		    "%s: INV_EXE: phdr[%u] note does not fall within valid size (%zu <= 0 || %zu > "
		    "%u)",
		    path, i, size, size, descsz);
	uint8_t *data = calloc(1, size < 16 ? 16 : size);
	if (!data)
		errx_("%s: phdr[%u] malloc(note_size) returned NULL", path, i);
	n = pread_full(fd, data, size, (off_t)(ph[i].p_offset + offset));
	if (n < 0)
		errx_("%s: phdr[%u] pread_in_full for note_data returned %zu < 0", path, i,
		      (size_t)n);
	if ((size_t)n != size)
		errx_("%s: phdr[%u] bytes read mismatches note size (%zu != %zu)", path, i,
		      (size_t)n, size);
	free(ph);
	*ret_size = size;
	return data;
}

/* The manifest as the real tender accepts it (docs/solo5.md); fills devices[]. */
static bool load_manifest(const uint8_t *m, size_t size)
{
	if (size < 8 || get32(m) != 1)
		return false;
	uint32_t entries = get32(m + 4);
	if (entries > MFT_MAX_ENTRIES || size != 8 + (size_t)entries * MFT_ENTRY_SIZE ||
	    entries < 1)
		return false;
	const uint8_t *e = m + 8;
	if (get32(e + 68) != MFT_RESERVED_FIRST || e[0] != 0)
		return false;
	for (uint32_t i = 0; i < entries; i++, e += MFT_ENTRY_SIZE) {
		if (e[MFT_NAME_SIZE - 1] != 0 || e[96] != 0)
			return false;
		memcpy(devices[i].name, e, MFT_NAME_SIZE);
		devices[i].type = get32(e + 68);
		devices[i].hostfd = -1;
	}
	n_entries = entries;
	return true;
}

static const char *type_name(uint32_t type)
{
	switch (type) {
	case MFT_BLOCK_BASIC:
		return "BLOCK_BASIC";
	case MFT_NET_BASIC:
		return "NET_BASIC";
	case MFT_RESERVED_FIRST:
		return "RESERVED_FIRST";
	default:
		return "<undefined type>";
	}
}

static struct device *find_device(const char *name, uint32_t type)
{
	for (uint32_t i = 0; i < n_entries; i++)
		if (devices[i].type == type && strncmp(devices[i].name, name, MFT_NAME_SIZE) == 0)
			return &devices[i];
	return NULL;
}

/* --- devices ------------------------------------------------------------------------------- */

/*
 * Opens the tap ifname like the real tender: "@N" takes an inherited fd (and, as in v0.12.1,
 * never yields an MTU, so the caller fails with errno as it is); otherwise the interface must
 * exist and be up, and TUNSETIFF must give that very interface. Returns the fd or -1 (errno).
 */
static int tap_attach(const char *ifname, int *mtu)
{
	if (ifname[0] == '@') {
		char *end;
		errno = 0;
		long v = strtol(ifname + 1, &end, 10);
		if (*end != 0 || end == ifname + 1)
			errno = EINVAL;
		else if (v < 0 || v > INT_MAX)
			errno = ERANGE;
		if (errno)
			return -1;
		if (fcntl((int)v, F_SETFL, O_NONBLOCK) == -1)
			return -1;
		return (int)v;
	}
	if (strlen(ifname) >= IFNAMSIZ) {
		errno = ENAMETOOLONG;
		return -1;
	}

	struct ifaddrs *ifa;
	bool found = false;
	unsigned up = 0;
	if (getifaddrs(&ifa) == -1)
		return -1;
	for (struct ifaddrs *p = ifa; p; p = p->ifa_next)
		if (strncmp(p->ifa_name, ifname, IFNAMSIZ) == 0) {
			found = true;
			up = p->ifa_flags & (IFF_UP | IFF_RUNNING);
			break;
		}
	freeifaddrs(ifa);
	if (!found) {
		errno = ENOENT;
		return -1;
	}
	if (!up) {
		errno = ENETDOWN;
		return -1;
	}

	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
	if (fd == -1)
		return -1;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	if (ioctl(fd, TUNSETIFF, &ifr) == -1) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (strncmp(ifr.ifr_name, ifname, IFNAMSIZ) != 0) {
		close(fd);
		errno = EINVAL;
		return -1;
	}

	int sock = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	if (sock < 0 || ioctl(sock, SIOCGIFMTU, &ifr) == -1) {
		int e = errno;
		close(fd);
		if (sock >= 0)
			close(sock);
		errno = e;
		return -1;
	}
	*mtu = ifr.ifr_mtu;
	/* Like the real tender: GRO and GSO off on the tap (errors ignored). */
	static const uint32_t cmds[] = {ETHTOOL_SGRO, ETHTOOL_SGSO};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		struct ethtool_value ev = {.cmd = cmds[i], .data = 0};
		memset(&ifr, 0, sizeof(ifr));
		memcpy(ifr.ifr_name, ifname, strlen(ifname));
		ifr.ifr_data = (void *)&ev;
		(void)ioctl(sock, SIOCETHTOOL, &ifr);
	}
	close(sock);
	return fd;
}

static int net_option(const char *arg)
{
	char name[MFT_NAME_SIZE];
	struct device *d;

	if (strncmp("--net:", arg, 6) == 0) {
		char iface[20];
		if (sscanf(arg, "--net:%67[A-Za-z0-9]=%19s", name, iface) != 2)
			return -1;
		d = find_device(name, MFT_NET_BASIC);
		if (!d) {
			warnx_("Resource not declared in manifest: '%s'", name);
			return -1;
		}
		int mtu = -1;
		int fd = tap_attach(iface, &mtu);
		if (fd < 0 || mtu < 0) {
			warnx_("Could not attach interface: %s: %s", iface, strerror(errno));
			return -1;
		}
		d->mtu = mtu;
		d->hostfd = fd;
		d->attached = true;
	} else if (strncmp("--net-mac:", arg, 10) == 0) {
		uint8_t mac[6];
		if (sscanf(arg,
			   "--net-mac:%67[A-Za-z0-9]=%02hhx:%02hhx:%02hhx:%02hhx:%02hhx:%02hhx",
			   name, &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) != 7)
			return -1;
		d = find_device(name, MFT_NET_BASIC);
		if (!d) {
			warnx_("Resource not declared in manifest: '%s'", name);
			return -1;
		}
		memcpy(d->mac, mac, sizeof(mac));
	} else {
		return -1;
	}
	return 0;
}

static int block_option(const char *arg)
{
	char name[MFT_NAME_SIZE];
	struct device *d;

	if (strncmp("--block:", arg, 8) == 0) {
		char path[PATH_MAX + 1];
		if (sscanf(arg, "--block:%67[A-Za-z0-9]=%4096s", name, path) != 2)
			return -1;
		d = find_device(name, MFT_BLOCK_BASIC);
		if (!d) {
			warnx_("Resource not declared in manifest: '%s'", name);
			return -1;
		}
		int fd = open(path, O_RDWR);
		if (fd == -1)
			err_("Could not open block device: %s", path);
		off_t capacity = lseek(fd, 0, SEEK_END);
		if (capacity == -1)
			err_("%s: Could not determine capacity", path);
		d->capacity = capacity;
		d->hostfd = fd;
		d->attached = true;
	} else if (strncmp("--block-sector-size:", arg, 20) == 0) {
		uint16_t size;
		if (sscanf(arg, "--block-sector-size:%67[A-Za-z0-9]=%hu", name, &size) != 2)
			return -1;
		if (size < 512 || (size & (size - 1))) {
			warnx_("Block size must be a multiple of 2 greater than or equal 512");
			return -1;
		}
		d = find_device(name, MFT_BLOCK_BASIC);
		if (!d) {
			warnx_("Resource not declared in manifest: '%s'", name);
			return -1;
		}
		d->block_size = size;
	} else {
		return -1;
	}
	return 0;
}

/* A module option: 0 if one of the modules took it, in the real tender's module order. */
static int module_option(const char *arg)
{
#ifdef TENDER_SPT
	if (strncmp("--x-exec-heap", arg, 13) == 0) {
		warnx_("WARNING: The use of --x-exec-heap is dangerous and not recommended as it "
		       "makes the heap and stack executable.");
		return 0;
	}
	return net_option(arg) == 0 || block_option(arg) == 0 ? 0 : -1;
#else
	return block_option(arg) == 0 || net_option(arg) == 0 ? 0 : -1;
#endif
}

static size_t handle_mem(const char *arg)
{
	ssize_t v = 0;
	int rc = sscanf(arg, "--mem=%zd", &v);
	size_t mem = (size_t)v << 20;
	if (rc != 1 || mem == 0)
		errx_("Malformed argument to --mem");
	return mem;
}

static void setup_net(void)
{
	static const uint8_t none[6];
	for (uint32_t i = 0; i < n_entries; i++) {
		struct device *d = &devices[i];
		if (d->type != MFT_NET_BASIC || !d->attached || memcmp(d->mac, none, 6) != 0)
			continue;
		if (getrandom(d->mac, sizeof(d->mac), 0) != sizeof(d->mac))
			err_("Could not open /dev/urandom");
		d->mac[0] = (uint8_t)((d->mac[0] & 0xfe) | 0x02);
	}
}

static void setup_block(void)
{
	for (uint32_t i = 0; i < n_entries; i++) {
		struct device *d = &devices[i];
		if (d->type != MFT_BLOCK_BASIC || !d->attached)
			continue;
		if (d->block_size == 0)
			d->block_size = 512;
		if ((d->capacity & (d->block_size - 1)) != 0)
			errx_("%.67s: Backing storage size must be block aligned (%hu bytes)",
			      d->name, d->block_size);
		if (d->capacity < d->block_size)
			errx_("%.67s: Backing storage must be at least 1 block (%hu bytes) in size",
			      d->name, d->block_size);
	}
}

/* The modules' setup, then every declared device must be attached. */
static void setup_modules(void)
{
#ifdef TENDER_SPT
	setup_net();
	setup_block();
#else
	setup_block();
	setup_net();
#endif
	bool fail = false;
	for (uint32_t i = 0; i < n_entries; i++) {
		if (devices[i].type >= MFT_RESERVED_FIRST || devices[i].attached)
			continue;
		warnx_("Device '%s' of type %s declared but not attached.", devices[i].name,
		       type_name(devices[i].type));
		fail = true;
	}
	if (fail)
		errx_("All declared devices must be attached. See --help for syntax.");
}

/* --- the "unikernel" ----------------------------------------------------------------------- */

/* The console is stdout: one write(2) per message, its result ignored (spt); solo5-hvt
 * asserts that the write did not fail. A gone reader raises SIGPIPE unless it is ignored. */
static void console_write(const char *buf, size_t len)
{
	ssize_t rc = write(STDOUT_FILENO, buf, len);
#ifdef TENDER_HVT
	if (rc < 0)
		assert_failed("hvt/hvt_core.c:142: hypercall_puts", "rc >= 0");
#else
	(void)rc;
#endif
}

static _printf_(1, 2) void console(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n >= 0)
		console_write(s, (size_t)n);
	free(s);
}

/* Solo5's log(): printed if the level allows, at most 319 bytes. */
static _printf_(2, 3) void solo5_log(int level, const char *fmt, ...)
{
	char buf[320];
	if (log_level < level)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf)) {
		console_write(buf, sizeof(buf) - 1);
		console_write("(truncated)\n", 12);
	} else {
		console_write(buf, (size_t)n);
	}
}

/* The banner and memory map of the Solo5 bindings. The stand-in loads no code: the layout
 * printed is that of Solo5's test_hello. */
static void banner(size_t mem_size)
{
	solo5_log(LOG_INFO, "            |      ___|\n");
	solo5_log(LOG_INFO, "  __|  _ \\  |  _ \\ __ \\\n");
	solo5_log(LOG_INFO, "\\__ \\ (   | | (   |  ) |\n");
	solo5_log(LOG_INFO, "____/\\___/ _|\\___/____/\n");
	solo5_log(LOG_INFO, "Solo5: Bindings version %s\n", SOLO5_VERSION);
	solo5_log(LOG_INFO, "Solo5: Memory map: %llu MB addressable:\n",
		  (unsigned long long)mem_size >> 20);
	solo5_log(LOG_INFO, "Solo5:   reserved @ (0x0 - 0xfffff)\n");
	solo5_log(LOG_INFO, "Solo5:       text @ (0x100000 - 0x102fff)\n");
	solo5_log(LOG_INFO, "Solo5:     rodata @ (0x103000 - 0x103fff)\n");
	solo5_log(LOG_INFO, "Solo5:       data @ (0x104000 - 0x105fff)\n");
	solo5_log(LOG_INFO, "Solo5:       heap >= 0x106000 < stack < 0x%llx\n",
		  (unsigned long long)mem_size);
}

/* A leading guest argument --solo5:LEVEL; -1 if a is none. */
static int parse_log_level(const char *a)
{
	static const struct {
		const char *word;
		int level;
	} levels[] = {
	    {"--solo5:quiet", LOG_ERROR}, {"--solo5:error", LOG_ERROR}, {"--solo5:warn", LOG_WARN},
	    {"--solo5:info", LOG_INFO},	  {"--solo5:debug", LOG_DEBUG},
	};
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(a, levels[i].word) == 0)
			return levels[i].level;
	return -1;
}

/* The rest of arg after prefix, or NULL. */
static const char *after(const char *arg, const char *prefix)
{
	size_t l = strlen(prefix);
	return strncmp(arg, prefix, l) == 0 ? arg + l : NULL;
}

/* A decimal number without sign or spaces, at most max. */
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

static bool parse_exit_code(const char *s, int *ret)
{
	bool neg = s[0] == '-';
	uint64_t v;
	if (!parse_u64(s + neg, neg ? (uint64_t)INT_MAX + 1 : INT_MAX, &v))
		return false;
	*ret = neg ? (int)(-(int64_t)v) : (int)v;
	return true;
}

static int parse_signal(const char *s)
{
	static const struct {
		const char *name;
		int signo;
	} names[] = {
	    {"HUP", SIGHUP},   {"INT", SIGINT},	    {"QUIT", SIGQUIT}, {"ILL", SIGILL},
	    {"ABRT", SIGABRT}, {"BUS", SIGBUS},	    {"FPE", SIGFPE},   {"KILL", SIGKILL},
	    {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},   {"USR2", SIGUSR2}, {"PIPE", SIGPIPE},
	    {"ALRM", SIGALRM}, {"TERM", SIGTERM},   {"SYS", SIGSYS},   {"TRAP", SIGTRAP},
	    {"CHLD", SIGCHLD}, {"WINCH", SIGWINCH}, {"URG", SIGURG},
	};
	uint64_t v;
	if (parse_u64(s, 64, &v))
		return v >= 1 && (int)v <= SIGRTMAX ? (int)v : -1;
	if (strncmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].name) == 0)
			return names[i].signo;
	return -1;
}

/* CLOCK_MONOTONIC, ms milliseconds from now. */
static struct timespec deadline_in(uint64_t ms)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += (time_t)(ms / 1000);
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec t = deadline_in(ms);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
		;
}

static _Noreturn void solo5_exit(int status)
{
	solo5_log(LOG_INFO, "Solo5: solo5_exit(%d) called\n", status);
	exit(status & 0xff);
}

/* What a unikernel sees of its devices: one line each. */
static void print_devices(void)
{
	for (uint32_t i = 0; i < n_entries; i++) {
		const struct device *d = &devices[i];
		if (d->type == MFT_NET_BASIC)
			console("device: %s NET_BASIC mac %02x:%02x:%02x:%02x:%02x:%02x mtu %d\n",
				d->name, d->mac[0], d->mac[1], d->mac[2], d->mac[3], d->mac[4],
				d->mac[5], d->mtu);
		else if (d->type == MFT_BLOCK_BASIC)
			console("device: %s BLOCK_BASIC capacity %lld block_size %u\n", d->name,
				(long long)d->capacity, (unsigned)d->block_size);
	}
}

/* --- the guest's network stack (guest-net.c) ---------------------------------------------- */

static bool net_on;

/*
 * A unikernel reads its command line at boot: the network stack's arguments (--ipv4=,
 * --ipv4-gateway=, --name=; the last of each wins) are looked for before the first argument
 * runs. With a valid --ipv4= and a net device attached, the stack runs on the first attached
 * net device of the manifest, with that device's MAC and MTU, and says so on the console.
 */
static void start_net(char **args, int n)
{
	const char *name = "tender", *v;
	uint8_t ip[4];
	unsigned prefix = 0;
	bool have_ip = false;
	for (int i = 0; i < n; i++) {
		if ((v = after(args[i], "--ipv4=")) && guest_net_parse_ipv4(v, ip, &prefix))
			have_ip = true;
		else if ((v = after(args[i], "--name=")))
			name = v;
	}
	const struct device *d = NULL;
	for (uint32_t i = 0; i < n_entries && !d; i++)
		if (devices[i].type == MFT_NET_BASIC && devices[i].attached)
			d = &devices[i];
	if (!have_ip || !d)
		return;
	struct guest_net_config c = {
	    .fd = d->hostfd, .mtu = d->mtu, .prefix = prefix, .name = name};
	memcpy(c.mac, d->mac, sizeof(c.mac));
	memcpy(c.ip, ip, sizeof(c.ip));
	console("net: %s mac %02x:%02x:%02x:%02x:%02x:%02x ipv4 %u.%u.%u.%u/%u name %.*s\n",
		d->name, d->mac[0], d->mac[1], d->mac[2], d->mac[3], d->mac[4], d->mac[5], ip[0],
		ip[1], ip[2], ip[3], prefix, GUEST_NET_NAME_MAX, name);
	guest_net_start(&c);
	net_on = true;
}

/* An argument the network stack took (only while it runs). */
static bool net_argument(const char *a)
{
	const char *v;
	uint8_t ip[4];
	unsigned prefix;
	return net_on &&
	       (((v = after(a, "--ipv4=")) && guest_net_parse_ipv4(v, ip, &prefix)) ||
		((v = after(a, "--ipv4-gateway=")) && guest_net_parse_ipv4(v, ip, NULL)) ||
		after(a, "--name="));
}

/* Milliseconds from now to t, rounded up; 0 if t has passed. */
static int ms_until(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t ns = (int64_t)(t->tv_sec - now.tv_sec) * 1000000000 + (t->tv_nsec - now.tv_nsec);
	if (ns <= 0)
		return 0;
	int64_t ms = (ns + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/*
 * The guest idles as a unikernel does in solo5_yield(): it serves its network until the
 * deadline (NULL: none) or until a signal comes on sigfd (-1: none), which is consumed.
 */
static void net_idle(const struct timespec *deadline, int sigfd)
{
	for (;;) {
		int timeout = deadline ? ms_until(deadline) : -1;
		if (timeout == 0)
			return;
		struct pollfd fds[2] = {{.fd = guest_net_fd(), .events = POLLIN},
					{.fd = sigfd, .events = POLLIN}};
		int r = poll(fds, 2, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			err_("poll");
		if (fds[0].revents)
			guest_net_input();
		if (sigfd >= 0 && (fds[1].revents & POLLIN)) {
			struct signalfd_siginfo si;
			if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				return;
		}
	}
}

/* --wait=S while the network runs: S is blocked and read from a signalfd. */
static void net_wait_signal(int signo)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, signo);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd == -1)
		err_("signalfd");
	net_idle(NULL, fd);
	close(fd);
}

/* The "unikernel": does what its arguments say, in order, then solo5_exit(0). */
static _Noreturn void run_guest(char **args, int n)
{
	start_net(args, n);
	for (int i = 0; i < n; i++) {
		const char *a = args[i], *v;
		uint64_t u;
		int code, signo;

		if (net_argument(a)) {
			continue;
		} else if ((v = after(a, "--exit=")) && parse_exit_code(v, &code)) {
			solo5_exit(code);
		} else if ((v = after(a, "--sleep=")) && parse_u64(v, SLEEP_MAX_MS, &u)) {
			if (net_on) {
				struct timespec t = deadline_in(u);
				net_idle(&t, -1);
			} else {
				sleep_ms(u);
			}
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
		} else if (strcmp(a, "--abort") == 0) {
			solo5_log(LOG_INFO, "Solo5: solo5_abort() called\n");
			exit(255);
		} else if ((v = after(a, "--wait=")) && (signo = parse_signal(v)) > 0 &&
			   signo != SIGKILL && signo != SIGSTOP) {
			/* A test's trigger: the arguments after it run when signo comes. */
			sigset_t set;
			int got;
			sigemptyset(&set);
			sigaddset(&set, signo);
			if (net_on) {
				net_wait_signal(signo);
				continue;
			}
			sigprocmask(SIG_BLOCK, &set, NULL);
			while (sigwait(&set, &got) != 0)
				;
		} else if (strcmp(a, "--run") == 0) {
			if (net_on)
				net_idle(NULL, -1);
			for (;;)
				pause();
		} else if (strcmp(a, "--devices") == 0) {
			print_devices();
		} else if ((v = after(a, "--hello="))) {
			console("%s\n", v);
		} else if ((v = after(a, "--stderr="))) {
			char *s = NULL;
			int len = asprintf(&s, "%s\n", v);
			if (len > 0) {
				ssize_t r = write(STDERR_FILENO, s, (size_t)len);
				(void)r;
			}
			free(s);
		} else {
			console("argument: %s\n", a);
		}
	}
	if (net_on) /* a unikernel with a network stack serves until it is stopped */
		net_idle(NULL, -1);
	solo5_exit(0);
}

/* --- the tender ---------------------------------------------------------------------------- */

#ifdef TENDER_HVT
/* solo5-hvt: SIGINT and SIGTERM end it with a message and exit code 1. */
static char signal_message[128];

static void on_signal(int signo)
{
	char msg[sizeof(signal_message) + 16], digits[12];
	size_t len = strlen(signal_message), nd = 0;
	memcpy(msg, signal_message, len);
	do {
		digits[nd++] = (char)('0' + signo % 10);
		signo /= 10;
	} while (signo > 0);
	while (nd > 0)
		msg[len++] = digits[--nd];
	msg[len++] = '\n';
	ssize_t r = write(STDERR_FILENO, msg, len);
	(void)r;
	_exit(1);
}

static void hvt_signals(void)
{
	snprintf(signal_message, sizeof(signal_message), "%s: Exiting on signal ", prog());
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigfillset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1)
		err_("Could not install signal handler");
}

/* hvt guest memory: whole 2 MB pages, at least one, at most 4 GB. */
static size_t hvt_mem_size(size_t mem_size)
{
	size_t mem = (mem_size / HVT_PAGE_SIZE) * HVT_PAGE_SIZE;
	if (mem == 0)
		mem = HVT_PAGE_SIZE;
	if (mem != mem_size)
		warnx_("adjusting memory to %zu bytes", mem);
	if (mem > HVT_MEM_MAX)
		errx_("guest memory size %zu bytes exceeds the max size %zu bytes", mem,
		      HVT_MEM_MAX);
	return mem;
}
#endif

/* Reserves the guest memory like the real tender (never touched here). */
static void guest_memory(size_t mem_size)
{
#ifdef TENDER_SPT
	if ((uint64_t)(mem_size - 1) >= SPT_EXECUTABLE_START)
		assert_failed("spt/spt_core.c:93: spt_init",
			      "(uint64_t)(mem_size - 1) < (uint64_t)&__executable_start");
	mem_size -= SPT_HOST_MEM_BASE;
#endif
	void *mem =
	    mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		err_("Error allocating guest memory");
}

int main(int argc, char **argv)
{
	size_t mem_size = MEM_DEFAULT;
	(void)argc;

	/* First pass: --help and --version end it; the kernel is the first non-option. */
	char **a = argv + 1;
	while (*a && (*a)[0] == '-') {
		if (strcmp(*a, "--") == 0) {
			a++;
			break;
		}
		if (strcmp(*a, "--help") == 0)
			usage();
		else if (strcmp(*a, "--version") == 0)
			version();
		a++;
	}
	if (!*a) {
		warnx_("Missing KERNEL operand");
		usage();
	}
	const char *kernel = *a;

	/* The image's notes, before the other options (they depend on the manifest). */
	int elf_fd = open(kernel, O_RDONLY);
	if (elf_fd == -1)
		err_("%s: Could not open", kernel);
	size_t size;
	uint8_t *abi =
	    load_note(elf_fd, kernel, NOTE_ABI1, ABI1_NOTE_ALIGN, ABI1_NOTE_MAX_SIZE, &size);
	if (!abi)
		errx_("%s: No Solo5 ABI information found in executable", kernel);
	if (get32(abi) != ABI_TARGET)
		errx_("%s: Executable is not for the " TENDER_NAME " target", kernel);
	if ((int64_t)get32(abi + 4) != tender_abi())
		errx_("%s: Executable requests unsupported ABI version %u", kernel, get32(abi + 4));
	free(abi);
	uint8_t *mft =
	    load_note(elf_fd, kernel, NOTE_MFT1, MFT1_NOTE_ALIGN, MFT1_NOTE_MAX_SIZE, &size);
	if (!mft)
		errx_("%s: No Solo5 manifest found in executable", kernel);
	if (!load_manifest(mft, size)) {
		free(mft);
		errx_("%s: Solo5 manifest is invalid", kernel);
	}
	free(mft);

	/* Second pass: the options, attaching devices as they come. As in the real tender, the
	 * argument after a --mem= is offered to the modules in the same round. */
	a = argv + 1;
	while (*a && (*a)[0] == '-') {
		if (strcmp(*a, "--") == 0) {
			a++;
			break;
		}
		bool matched = false;
		if (strncmp("--mem=", *a, 6) == 0) {
			mem_size = handle_mem(*a);
			matched = true;
			a++;
		}
		if (*a && module_option(*a) == 0) {
			matched = true;
			a++;
		}
		if (!matched) {
			warnx_("Invalid option: `%s'", *a);
			usage();
		}
	}
	char **args = a + 1; /* *a is the kernel again */
	int n_args = 0;
	while (args[n_args])
		n_args++;

#ifdef TENDER_HVT
	hvt_signals();
	mem_size = hvt_mem_size(mem_size);
	const char *kvm = getenv("ALB_TEST_TENDER_KVM");
	if (!kvm || !*kvm)
		kvm = "/dev/kvm";
	if (open(kvm, O_RDWR | O_CLOEXEC) == -1)
		err_("Could not open: %s", kvm);
#endif
	guest_memory(mem_size);

	/* Loading the ELF: the entry point must be inside guest memory. */
	Elf64_Ehdr eh;
	if (pread_full(elf_fd, &eh, sizeof(eh), 0) != sizeof(eh))
		errx_("%s: pread_in_full for elf header while loading elf returned %zu < 0", kernel,
		      (size_t)-1);
	uint64_t entry = eh.e_entry ? eh.e_entry : STANDIN_ENTRY;
	if (entry < GUEST_MIN_BASE || entry >= mem_size)
		errx_("%s: invalid executable: e_entry does not fall within the memory allocation "
		      "range (%llu < %llu || %llu >= %zu)",
		      kernel, (unsigned long long)entry, GUEST_MIN_BASE, (unsigned long long)entry,
		      mem_size);
	close(elf_fd);

	setup_modules();

	/* The guest command line: the arguments joined by single spaces. */
	char cmdline[CMDLINE_SIZE];
	size_t room = sizeof(cmdline);
	char *p = cmdline;
	cmdline[0] = '\0';
	for (int i = 0; i < n_args; i++) {
		int len = snprintf(p, room, "%s%s", args[i], i + 1 < n_args ? " " : "");
		if (len < 0 || (size_t)len >= room)
			errx_("Guest command line too long (max=%d characters)", CMDLINE_SIZE - 1);
		room -= (size_t)len;
		p += len;
	}

	/* The unikernel starts: leading --solo5:LEVEL arguments are Solo5's. */
	int first = 0;
	for (int l; first < n_args && (l = parse_log_level(args[first])) >= 0; first++)
		log_level = l;
	banner(mem_size);
	run_guest(args + first, n_args - first);
}
