# SPDX-License-Identifier: ISC
"""The transcript of the Solo5 v0.12.1 tenders: command line -> stdout, stderr, exit.

Each case is run by test-transcript.py against the test tender (tender.c) and, when a real
Solo5 is installed, against the real solo5-spt / solo5-hvt with the same expectations, so
that the stand-in cannot drift from the real thing (docs/solo5.md describes the interface).

A case names its tender ("spt" or "hvt"), its arguments and what it expects:

- args: the command line after the tender's name. "{kernel}" is the image (see K), "{NAME}"
  a file of the case's `files` (see below), "{dir}" the case's own empty directory.
- kernel: K(mk=[...]) is an image written by mkimage (target: the case's tender unless the
  options say otherwise), used by both tenders; K(real="test_blk", mk=[...]) is, for the real
  tender, the test image of a built Solo5 tree ($ALB_SOLO5_TESTS/test_blk/test_blk.spt) and,
  for the stand-in, the mkimage image. Cases that reach the guest need a real image for the
  real tender (it loads the code; mkimage images have none). K(mk=..., patch=(FIND, OFFSET,
  BYTES)) overwrites the mkimage image at OFFSET from the first FIND.
- guest: arguments after the kernel, G(real=[...], standin=[...]) when they differ (the
  stand-in's guest takes its instructions from them, README.md) or a list for both.
- files: {NAME: size or bytes}: files made in the case's directory before the run.
- stdout, stderr: None (not checked), a str (exact text), or a list of lines, each a str
  (exact), Re("regex") (the whole line), or ANY (any number of lines); the text must end with
  a newline after the last line. Placeholders are filled in (escaped inside Re).
- never: regexes no stdout line may match.
- status: the exit code; signal: the signal that must end the tender instead.
- send: (signal, Re) sends the signal once a stdout line matches; ignore: signals the tender
  starts with ignored (as from a non-interactive shell); console: "broken-pipe" (stdout a
  pipe whose reader is gone) or "closed" (no fd 1).
- argv0: the name the tender is run under; needs: "no-kvm" (the host must lack /dev/kvm),
  "overcommit" (vm.overcommit_memory must not be 1).
"""
import re

ANY = object()


class Re(str):
    """A line that must match this regular expression as a whole."""


class K:
    def __init__(self, mk=(), real=None, patch=None):
        self.mk = list(mk)
        self.real = real
        self.patch = patch  # (bytes to find, offset from them, bytes written there)


class G:
    def __init__(self, real=(), standin=()):
        self.real = list(real)
        self.standin = list(standin)


class Case:
    def __init__(self, name, tender, args, stdout="", stderr="", status=0, signal=None,
                 kernel=None, guest=(), files=None, never=(), send=None, ignore=(),
                 console=None, argv0=None, needs=()):
        self.name, self.tender, self.args = name, tender, list(args)
        self.stdout, self.stderr, self.status, self.signal = stdout, stderr, status, signal
        self.kernel = kernel
        self.guest = guest if isinstance(guest, G) else G(guest, guest)
        self.files = files or {}
        self.never = [re.compile(x) for x in never]
        self.send, self.ignore, self.console = send, list(ignore), console
        self.argv0, self.needs = argv0, list(needs)


# --- what the real tenders print --------------------------------------------------------

def usage(tender):
    """The text of --help, on stderr (trailing space after the module list included)."""
    common = ["usage: solo5-%s [ CORE OPTIONS ] %s[ -- ] KERNEL [ ARGS ]" %
              (tender, "[ MODULE OPTIONS ] " if tender == "hvt" else ""),
              "KERNEL is the filename of the unikernel to run.",
              "ARGS are optional arguments passed to the unikernel.",
              "Core options:",
              "  [ --mem=512 ] (guest memory in MB)",
              "    --help (display this help)"]
    block = ["    --block:NAME=PATH (attach block device/file at PATH as block storage NAME)",
             "  [ --block-sector-size:NAME=SECTORSIZE ] (set sector size for block device NAME;"
             " must be a power of two greater than or equal 512)"]
    net = ["    --net:NAME=IFACE | @NN (attach tap at IFACE or at fd @NN as network NAME)",
           "  [ --net-mac:NAME=HWADDR ] (set HWADDR for network NAME)"]
    if tender == "hvt":
        return common + ["    --version (display version information)",
                         "Compiled-in modules: core block net ",
                         "Compiled-in module options:"] + block + net
    return common + ["Compiled-in modules: core net block ",
                     "Compiled-in module options:",
                     "    --x-exec-heap (make the heap executable). WARNING: This option is "
                     "dangerous and not recommended as it makes the heap and stack executable."
                     ] + net + block


def fails(tender, *lines, with_usage=False):
    """stderr of a refusal: the lines, prefixed with the tender's name, then the usage."""
    return ["solo5-%s: %s" % (tender, x) if not isinstance(x, Re) else x
            for x in lines] + (usage(tender) if with_usage else [])


def banner(mb=512):
    """The Solo5 banner and memory map on the console (the layout depends on the image)."""
    return ["            |      ___|",
            "  __|  _ \\  |  _ \\ __ \\",
            "\\__ \\ (   | | (   |  ) |",
            "____/\\___/ _|\\___/____/",
            "Solo5: Bindings version v0.12.1",
            "Solo5: Memory map: %d MB addressable:" % mb,
            Re(r"Solo5:   reserved @ \(0x0 - 0x[0-9a-f]+\)"),
            Re(r"Solo5:       text @ \(0x[0-9a-f]+ - 0x[0-9a-f]+\)"),
            Re(r"Solo5:     rodata @ \(0x[0-9a-f]+ - 0x[0-9a-f]+\)"),
            Re(r"Solo5:       data @ \(0x[0-9a-f]+ - 0x[0-9a-f]+\)"),
            Re(r"Solo5:       heap >= 0x[0-9a-f]+ < stack < 0x%x" % (mb << 20))]


EXIT0 = "Solo5: solo5_exit(0) called"
HEAP = Re(r"Solo5:       heap >= .*")
NO_SOLO5 = [r"^Solo5:", r"___"]
X_EXEC_HEAP = ("solo5-spt: WARNING: The use of --x-exec-heap is dangerous and not recommended "
               "as it makes the heap and stack executable.")
KVM = "solo5-hvt: Could not open: /dev/kvm: No such file or directory"
ENTRY = (r"solo5-spt: {kernel}: invalid executable: e_entry does not fall within the memory "
         r"allocation range \(\d+ < 1048576 \|\| \d+ >= %d\)")

# The manifest note's type and owner: its descriptor is 12 bytes on, the manifest 16.
MFT1_NOTE = b"MFT1Solo5\x00\x00\x00"
HELLO = K(real="test_hello")
BLK = K(real="test_blk", mk=["--block", "storage"])
NET = K(real="test_net", mk=["--net", "service0"])
NET2 = K(real="test_net_2if", mk=["--net", "service0", "--net", "service1"])
MK = K()
MK_BLK = K(mk=["--block", "storage"])
MK_NET = K(mk=["--net", "service0"])
LONG = ["x" * 4095, "y" * 4095]        # 4095 + 1 + 4095 = 8191 characters: the most there is

CASES = [
    # --- version, help, the kernel operand ---------------------------------------------
    Case("spt --version: two lines on stderr, nothing on stdout, exit 0", "spt",
         ["--version"], stderr="solo5-spt tender, version v0.12.1\nABI version 2\n"),
    Case("hvt --version: two lines on stderr, nothing on stdout, exit 0", "hvt",
         ["--version"], stderr="solo5-hvt tender, version v0.12.1\nABI version 2\n"),
    Case("--version names the tender as it was called (a versioned name)", "spt",
         ["--version"], argv0="solo5-spt.2",
         stderr="solo5-spt.2 tender, version v0.12.1\nABI version 2\n"),
    Case("--version after options, before a kernel that is never read", "spt",
         ["--mem=64", "--bogus", "--version", "{dir}/nope"],
         stderr="solo5-spt tender, version v0.12.1\nABI version 2\n"),
    Case("--version before --help wins", "hvt", ["--version", "--help"],
         stderr="solo5-hvt tender, version v0.12.1\nABI version 2\n"),
    Case("spt --help: usage on stderr, exit 1", "spt", ["--help"],
         stderr=usage("spt"), status=1),
    Case("hvt --help: usage on stderr, exit 1", "hvt", ["--help"],
         stderr=usage("hvt"), status=1),
    Case("no arguments: Missing KERNEL operand and usage", "spt", [],
         stderr=fails("spt", "Missing KERNEL operand", with_usage=True), status=1),
    Case("hvt without a kernel", "hvt", ["--mem=64", "--"],
         stderr=fails("hvt", "Missing KERNEL operand", with_usage=True), status=1),
    Case("an unknown option and no kernel: the kernel is missed first", "spt", ["--bogus"],
         stderr=fails("spt", "Missing KERNEL operand", with_usage=True), status=1),

    # --- the image ---------------------------------------------------------------------
    Case("a kernel that does not exist", "spt", ["{dir}/nope"],
         stderr=fails("spt", "{dir}/nope: Could not open: No such file or directory"),
         status=1),
    Case("a kernel that does not exist, versioned name", "spt", ["{dir}/nope"],
         argv0="solo5-spt.2",
         stderr=["solo5-spt.2: {dir}/nope: Could not open: No such file or directory"],
         status=1),
    Case("a kernel that is a directory", "spt", ["{dir}"],
         stderr=fails("spt", "{dir}: pread_in_full for elf header while loading note "
                      "returned 18446744073709551615 < 0"), status=1),
    Case("a kernel that is a short text file", "spt", ["{text}"],
         files={"text": b"#!/bin/sh\n"},
         stderr=fails("spt", "{text}: invalid executable: elf header does not match the "
                      "expected size (10 != 64)"), status=1),
    Case("an empty kernel", "hvt", ["{empty}"], files={"empty": 0},
         stderr=fails("hvt", "{empty}: invalid executable: elf header does not match the "
                      "expected size (0 != 64)"), status=1),
    Case("an aarch64 image on x86_64", "spt", ["{kernel}"], kernel=K(mk=["--aarch64"]),
         stderr=fails("spt", "{kernel}: invalid executable: invalid or unsupported "
                      "executable (elf header invalid while loading note)"), status=1),
    Case("an image without the ABI note", "spt", ["{kernel}"], kernel=K(mk=["--no-abi"]),
         stderr=fails("spt", "{kernel}: No Solo5 ABI information found in executable"),
         status=1),
    Case("an image without the manifest note", "hvt", ["{kernel}"],
         kernel=K(mk=["--no-manifest"]),
         stderr=fails("hvt", "{kernel}: No Solo5 manifest found in executable"), status=1),
    Case("spt refuses an hvt image", "spt", ["{kernel}"], kernel=K(mk=["--target", "hvt"]),
         stderr=fails("spt", "{kernel}: Executable is not for the solo5-spt target"),
         status=1),
    Case("spt refuses Solo5's test_hello.hvt", "spt", ["{kernel}"],
         kernel=K(real="test_hello.hvt", mk=["--target", "hvt"]),
         stderr=fails("spt", "{kernel}: Executable is not for the solo5-spt target"),
         status=1),
    Case("hvt refuses an spt image", "hvt", ["{kernel}"], kernel=K(mk=["--target", "spt"]),
         stderr=fails("hvt", "{kernel}: Executable is not for the solo5-hvt target"),
         status=1),
    Case("spt refuses a virtio image", "spt", ["{kernel}"],
         kernel=K(mk=["--target", "virtio"]),
         stderr=fails("spt", "{kernel}: Executable is not for the solo5-spt target"),
         status=1),
    Case("an image of ABI version 3", "spt", ["{kernel}"], kernel=K(mk=["--abi", "3"]),
         stderr=fails("spt", "{kernel}: Executable requests unsupported ABI version 3"),
         status=1),
    Case("hvt: an image of ABI version 1", "hvt", ["{kernel}"], kernel=K(mk=["--abi", "1"]),
         stderr=fails("hvt", "{kernel}: Executable requests unsupported ABI version 1"),
         status=1),

    # --- options -----------------------------------------------------------------------
    Case("a manifest of version 2", "spt", ["{kernel}"],
         kernel=K(patch=(MFT1_NOTE, 16, b"\x02\x00\x00\x00")),
         stderr=fails("spt", "{kernel}: Solo5 manifest is invalid"), status=1),
    Case("a manifest whose first entry is not the reserved one", "hvt", ["{kernel}"],
         kernel=K(patch=(MFT1_NOTE, 24 + 68, b"\x01\x00\x00\x00")),
         stderr=fails("hvt", "{kernel}: Solo5 manifest is invalid"), status=1),
    Case("an unknown option", "spt", ["--bogus", "{kernel}"], kernel=MK,
         stderr=fails("spt", "Invalid option: `--bogus'", with_usage=True), status=1),
    Case("a single dash is an option", "spt", ["-m", "{kernel}"], kernel=MK,
         stderr=fails("spt", "Invalid option: `-m'", with_usage=True), status=1),
    Case("hvt: an unknown option", "hvt", ["--bogus", "{kernel}"], kernel=MK,
         stderr=fails("hvt", "Invalid option: `--bogus'", with_usage=True), status=1),
    Case("hvt: --x-exec-heap is spt's", "hvt", ["--x-exec-heap", "{kernel}"], kernel=MK,
         stderr=fails("hvt", "Invalid option: `--x-exec-heap'", with_usage=True), status=1),
    Case("hvt: --dumpcore is not in a release build", "hvt", ["--dumpcore={dir}", "{kernel}"],
         kernel=MK,
         stderr=fails("hvt", "Invalid option: `--dumpcore={dir}'", with_usage=True),
         status=1),
    Case("spt: --dumpcore is unknown", "spt", ["--dumpcore={dir}", "{kernel}"], kernel=MK,
         stderr=fails("spt", "Invalid option: `--dumpcore={dir}'", with_usage=True),
         status=1),
    Case("--mem= without a number", "spt", ["--mem=", "{kernel}"], kernel=MK,
         stderr=fails("spt", "Malformed argument to --mem"), status=1),
    Case("--mem=0", "hvt", ["--mem=0", "{kernel}"], kernel=MK,
         stderr=fails("hvt", "Malformed argument to --mem"), status=1),
    Case("--mem=abc", "spt", ["--mem=abc", "{kernel}"], kernel=MK,
         stderr=fails("spt", "Malformed argument to --mem"), status=1),
    Case("--mem=2^44 wraps to 0 bytes", "spt", ["--mem=17592186044416", "{kernel}"],
         kernel=MK, stderr=fails("spt", "Malformed argument to --mem"), status=1),
    Case("spt --mem=-1: an assertion fails", "spt", ["--mem=-1", "{kernel}"], kernel=MK,
         stderr=[Re(r"solo5-spt: .*Assertion .* failed\.")], signal=6),
    Case("spt --mem=40000000: no memory for the guest", "spt", ["--mem=40000000", "{kernel}"],
         kernel=MK, needs=["overcommit"],
         stderr=fails("spt", "Error allocating guest memory: Cannot allocate memory"),
         status=1),
    Case("a block device the image does not declare", "spt",
         ["--block:storage={b512}", "{kernel}"], kernel=MK, files={"b512": 512},
         stderr=fails("spt", "Resource not declared in manifest: 'storage'",
                      "Invalid option: `--block:storage={b512}'", with_usage=True), status=1),
    Case("a net device the image does not declare", "spt",
         ["--net:service0=tap0", "{kernel}"], kernel=MK,
         stderr=fails("spt", "Resource not declared in manifest: 'service0'",
                      "Invalid option: `--net:service0=tap0'", with_usage=True), status=1),
    Case("--net-mac for a device the image does not declare", "hvt",
         ["--net-mac:service0=02:00:00:00:00:01", "{kernel}"], kernel=MK,
         stderr=fails("hvt", "Resource not declared in manifest: 'service0'",
                      "Invalid option: `--net-mac:service0=02:00:00:00:00:01'",
                      with_usage=True), status=1),
    Case("a net device given to the block module", "spt",
         ["--block:service0={b512}", "{kernel}"], kernel=MK_NET, files={"b512": 512},
         stderr=fails("spt", "Resource not declared in manifest: 'service0'",
                      "Invalid option: `--block:service0={b512}'", with_usage=True), status=1),
    Case("a block device given to the net module", "spt", ["--net:storage=tap0", "{kernel}"],
         kernel=MK_BLK,
         stderr=fails("spt", "Resource not declared in manifest: 'storage'",
                      "Invalid option: `--net:storage=tap0'", with_usage=True), status=1),
    Case("a block file that does not exist: no usage", "spt",
         ["--block:storage={dir}/nope", "{kernel}"], kernel=MK_BLK,
         stderr=fails("spt", "Could not open block device: {dir}/nope: No such file or "
                      "directory"), status=1),
    Case("a sector size that is not a power of two", "spt",
         ["--block-sector-size:storage=1000", "{kernel}"], kernel=MK_BLK,
         stderr=fails("spt", "Block size must be a multiple of 2 greater than or equal 512",
                      "Invalid option: `--block-sector-size:storage=1000'", with_usage=True),
         status=1),
    Case("a sector size below 512", "hvt", ["--block-sector-size:storage=256", "{kernel}"],
         kernel=MK_BLK,
         stderr=fails("hvt", "Block size must be a multiple of 2 greater than or equal 512",
                      "Invalid option: `--block-sector-size:storage=256'", with_usage=True),
         status=1),
    Case("a sector size of 65536 (it wraps to 0)", "spt",
         ["--block-sector-size:storage=65536", "{kernel}"], kernel=MK_BLK,
         stderr=fails("spt", "Block size must be a multiple of 2 greater than or equal 512",
                      "Invalid option: `--block-sector-size:storage=65536'", with_usage=True),
         status=1),
    Case("a sector size that is not a number", "spt",
         ["--block-sector-size:storage=abc", "{kernel}"], kernel=MK_BLK,
         stderr=fails("spt", "Invalid option: `--block-sector-size:storage=abc'",
                      with_usage=True), status=1),
    Case("a sector size for an undeclared device", "spt",
         ["--block-sector-size:nosuch=512", "{kernel}"], kernel=MK_BLK,
         stderr=fails("spt", "Resource not declared in manifest: 'nosuch'",
                      "Invalid option: `--block-sector-size:nosuch=512'", with_usage=True),
         status=1),
    Case("a malformed MAC: Invalid option, no reason given", "spt",
         ["--net-mac:service0=zz", "{kernel}"], kernel=MK_NET,
         stderr=fails("spt", "Invalid option: `--net-mac:service0=zz'", with_usage=True),
         status=1),
    Case("a MAC with five bytes", "spt", ["--net-mac:service0=02:00:00:00:00", "{kernel}"],
         kernel=MK_NET,
         stderr=fails("spt", "Invalid option: `--net-mac:service0=02:00:00:00:00'",
                      with_usage=True), status=1),
    Case("a tap that does not exist", "spt", ["--net:service0=nosuchtap", "{kernel}"],
         kernel=MK_NET,
         stderr=fails("spt", "Could not attach interface: nosuchtap: No such file or directory",
                      "Invalid option: `--net:service0=nosuchtap'", with_usage=True), status=1),
    Case("after --mem=, the next option is tried twice", "spt",
         ["--mem=64", "--net:service0=nosuchtap", "{kernel}"], kernel=MK_NET,
         stderr=fails("spt", "Could not attach interface: nosuchtap: No such file or directory",
                      "Could not attach interface: nosuchtap: No such file or directory",
                      "Invalid option: `--net:service0=nosuchtap'", with_usage=True), status=1),
    Case("--net:NAME=@FD fails in v0.12.1 (fd 3 is the kernel: Success)", "spt",
         ["--net:service0=@3", "{kernel}"], kernel=MK_NET,
         stderr=fails("spt", "Could not attach interface: @3: Success",
                      "Invalid option: `--net:service0=@3'", with_usage=True), status=1),
    Case("--net:NAME=@FD of a closed fd", "hvt", ["--net:service0=@9", "{kernel}"],
         kernel=MK_NET,
         stderr=fails("hvt", "Could not attach interface: @9: Bad file descriptor",
                      "Invalid option: `--net:service0=@9'", with_usage=True), status=1),
    Case("--net:NAME=@ without a number", "spt", ["--net:service0=@x", "{kernel}"],
         kernel=MK_NET,
         stderr=fails("spt", "Could not attach interface: @x: Invalid argument",
                      "Invalid option: `--net:service0=@x'", with_usage=True), status=1),
    Case("an interface name cut at 19 characters, then too long", "spt",
         ["--net:service0=tap0123456789abcdefghij", "{kernel}"], kernel=MK_NET,
         stderr=fails("spt", "Could not attach interface: tap0123456789abcdef: File name too "
                      "long", "Invalid option: `--net:service0=tap0123456789abcdefghij'",
                      with_usage=True), status=1),
    Case("an interface that is not a tap", "spt", ["--net:service0=lo", "{kernel}"],
         kernel=MK_NET,
         stderr=fails("spt", Re(r"solo5-spt: Could not attach interface: lo: .+"),
                      "Invalid option: `--net:service0=lo'", with_usage=True), status=1),
    Case("--net without an interface", "spt", ["--net:service0=", "{kernel}"], kernel=MK_NET,
         stderr=fails("spt", "Invalid option: `--net:service0='", with_usage=True), status=1),
    Case("a device name with a dash", "spt", ["--block:stor-age={dir}/x", "{kernel}"],
         kernel=MK_BLK,
         stderr=fails("spt", "Invalid option: `--block:stor-age={dir}/x'", with_usage=True),
         status=1),
    Case("a device name of 68 characters", "spt", ["--block:%s={dir}/x" % ("a" * 68),
                                                   "{kernel}"], kernel=MK_BLK,
         stderr=fails("spt", "Invalid option: `--block:%s={dir}/x'" % ("a" * 68),
                      with_usage=True), status=1),

    # --- devices, checked once the image is loaded (real images for the real tender) -----
    Case("a declared block device not attached", "spt", ["{kernel}"], kernel=BLK,
         stderr=fails("spt", "Device 'storage' of type BLOCK_BASIC declared but not attached.",
                      "All declared devices must be attached. See --help for syntax."),
         status=1),
    Case("a declared net device not attached", "spt", ["{kernel}"], kernel=NET,
         stderr=fails("spt", "Device 'service0' of type NET_BASIC declared but not attached.",
                      "All declared devices must be attached. See --help for syntax."),
         status=1),
    Case("two nets declared, none attached (a MAC does not attach)", "spt",
         ["--net-mac:service0=02:00:00:00:00:01", "{kernel}"], kernel=NET2,
         stderr=fails("spt", "Device 'service0' of type NET_BASIC declared but not attached.",
                      "Device 'service1' of type NET_BASIC declared but not attached.",
                      "All declared devices must be attached. See --help for syntax."),
         status=1),
    Case("a MAC with one-digit bytes is taken (then the net is missing)", "spt",
         ["--net-mac:service0=2:0:0:0:0:1", "{kernel}"], kernel=NET,
         stderr=fails("spt", "Device 'service0' of type NET_BASIC declared but not attached.",
                      "All declared devices must be attached. See --help for syntax."),
         status=1),
    Case("a block file not a whole number of sectors", "spt",
         ["--block:storage={b1000}", "{kernel}"], kernel=BLK, files={"b1000": 1000},
         stderr=fails("spt", "storage: Backing storage size must be block aligned (512 bytes)"),
         status=1),
    Case("an empty block file", "spt", ["--block:storage={b0}", "{kernel}"], kernel=BLK,
         files={"b0": 0},
         stderr=fails("spt", "storage: Backing storage must be at least 1 block (512 bytes) "
                      "in size"), status=1),
    Case("a block file not a whole number of 4096-byte sectors", "spt",
         ["--block:storage={b5120}", "--block-sector-size:storage=4096", "{kernel}"],
         kernel=BLK, files={"b5120": 5120},
         stderr=fails("spt", "storage: Backing storage size must be block aligned (4096 "
                      "bytes)"), status=1),
    Case("a guest command line of 8192 characters", "spt", ["{kernel}"], kernel=HELLO,
         guest=[LONG[0], LONG[1] + "z"],
         stderr=fails("spt", "Guest command line too long (max=8191 characters)"), status=1),
    Case("spt --mem=1: the kernel's entry point is outside guest memory", "spt",
         ["--mem=1", "{kernel}"], kernel=HELLO, stderr=[Re(ENTRY % (1 << 20))], status=1),

    # --- the unikernel runs (spt) ------------------------------------------------------
    Case("a unikernel runs: banner on stdout, solo5_exit(0), exit 0", "spt", ["{kernel}"],
         kernel=HELLO, stdout=banner() + [ANY, EXIT0]),
    Case("--mem=33 gives 33 MB", "spt", ["--mem=33", "{kernel}"], kernel=HELLO,
         stdout=banner(33) + [ANY, EXIT0]),
    Case("--mem=2 is enough", "spt", ["--mem=2", "{kernel}"], kernel=HELLO,
         stdout=banner(2) + [ANY, EXIT0]),
    Case("--mem=64M is read as 64", "spt", ["--mem=64M", "{kernel}"], kernel=HELLO,
         stdout=banner(64) + [ANY, EXIT0]),
    Case("'--' ends the options", "spt", ["--mem=64", "--", "{kernel}"], kernel=HELLO,
         guest=["--mem=8"], stdout=banner(64) + [ANY, EXIT0]),
    Case("--x-exec-heap: a warning on stderr, then the unikernel", "spt",
         ["--x-exec-heap", "{kernel}"], kernel=HELLO, stderr=X_EXEC_HEAP + "\n",
         stdout=banner() + [ANY, EXIT0]),
    Case("--solo5:quiet: no banner, no exit message", "spt", ["{kernel}"], kernel=HELLO,
         guest=["--solo5:quiet"], stdout=None, never=NO_SOLO5),
    Case("--solo5:warn: no banner either", "spt", ["{kernel}"], kernel=HELLO,
         guest=["--solo5:warn", "x"], stdout=None, never=NO_SOLO5),
    Case("--solo5:debug: the banner", "spt", ["{kernel}"], kernel=HELLO,
         guest=["--solo5:debug"], stdout=banner() + [ANY, EXIT0]),
    Case("a guest command line of 8191 characters runs", "spt", ["{kernel}"], kernel=HELLO,
         guest=LONG, stdout=banner() + [ANY, EXIT0]),
    Case("a block device attached: the unikernel runs", "spt",
         ["--block:storage={b5120}", "{kernel}"], kernel=BLK, files={"b5120": 5120},
         stdout=banner() + [ANY, EXIT0]),
    Case("4096-byte sectors", "spt",
         ["--block-sector-size:storage=4096", "--block:storage={b40960}", "{kernel}"],
         kernel=BLK, files={"b40960": 40960}, stdout=banner() + [ANY, EXIT0]),
    Case("a sector size of +512 is taken", "spt",
         ["--block-sector-size:storage=+512", "--block:storage={b5120}", "{kernel}"],
         kernel=BLK, files={"b5120": 5120}, stdout=banner() + [ANY, EXIT0]),
    Case("the same block twice and the sector size twice: the last one counts", "spt",
         ["--block:storage={b5120}", "--block-sector-size:storage=4096",
          "--block:storage={b5120}", "--block-sector-size:storage=512", "{kernel}"],
         kernel=BLK, files={"b5120": 5120}, stdout=banner() + [ANY, EXIT0]),
    Case("a guest fault kills spt by SIGSEGV, silently", "spt", ["{kernel}"],
         kernel=K(real="test_exception"), guest=G(standin=["--signal=SEGV"]),
         stdout=banner() + [ANY], signal=11),
    Case("a forbidden system call kills spt by SIGSYS", "spt", ["{kernel}"],
         kernel=K(real="test_seccomp"), guest=G(standin=["--signal=SYS"]),
         stdout=banner() + [ANY], signal=31),
    Case("an abort exits 255", "spt", ["{kernel}"], kernel=K(real="test_ssp"),
         guest=G(standin=["--abort"]), stdout=None, status=255),
    Case("SIGTERM kills spt, silently", "spt", ["{kernel}"], kernel=K(real="test_time"),
         guest=G(standin=["--run"]), send=("TERM", HEAP), stdout=banner() + [ANY],
         signal=15),
    Case("SIGINT kills spt, silently", "spt", ["{kernel}"], kernel=K(real="test_time"),
         guest=G(standin=["--run"]), send=("INT", HEAP), stdout=banner() + [ANY], signal=2),
    Case("spt started with SIGTERM ignored keeps it ignored", "spt", ["{kernel}"],
         kernel=K(real="test_time"), guest=G(standin=["--sleep=1000"]), ignore=["TERM"],
         send=("TERM", HEAP), stdout=banner() + [ANY, EXIT0]),
    Case("spt started with SIGINT ignored keeps it ignored", "spt", ["{kernel}"],
         kernel=K(real="test_time"), guest=G(standin=["--sleep=1000"]), ignore=["INT"],
         send=("INT", HEAP), stdout=banner() + [ANY, EXIT0]),
    Case("a console pipe whose reader is gone: death by SIGPIPE", "spt", ["{kernel}"],
         kernel=HELLO, console="broken-pipe", stdout=None, signal=13),
    Case("the same with SIGPIPE ignored: the output is lost, exit 0", "spt", ["{kernel}"],
         kernel=HELLO, console="broken-pipe", ignore=["PIPE"], stdout=None),
    Case("no stdout at all: exit 0", "spt", ["{kernel}"], kernel=HELLO, console="closed",
         stdout=None),

    # --- hvt on a host without KVM -----------------------------------------------------
    Case("hvt without /dev/kvm: refused, exit 1", "hvt", ["{kernel}"], kernel=HELLO,
         needs=["no-kvm"], stderr=[KVM], status=1),
    Case("hvt without /dev/kvm: before the devices are checked", "hvt", ["{kernel}"],
         kernel=BLK, needs=["no-kvm"], stderr=[KVM], status=1),
    Case("hvt without /dev/kvm: before the block size is checked", "hvt",
         ["--block:storage={b1000}", "{kernel}"], kernel=BLK, files={"b1000": 1000},
         needs=["no-kvm"], stderr=[KVM], status=1),
    Case("hvt without /dev/kvm: before the command line is checked", "hvt", ["{kernel}"],
         kernel=HELLO, guest=[LONG[0], LONG[1] + "z"], needs=["no-kvm"], stderr=[KVM],
         status=1),
    Case("hvt --mem=63: adjusted to 62 MB, then no KVM", "hvt", ["--mem=63", "{kernel}"],
         kernel=HELLO, needs=["no-kvm"],
         stderr=["solo5-hvt: adjusting memory to 65011712 bytes", KVM], status=1),
    Case("hvt --mem=1: adjusted to 2 MB, then no KVM", "hvt", ["--mem=1", "{kernel}"],
         kernel=HELLO, needs=["no-kvm"],
         stderr=["solo5-hvt: adjusting memory to 2097152 bytes", KVM], status=1),
    Case("hvt --mem=4097: adjusted to 4096 MB, then no KVM", "hvt", ["--mem=4097", "{kernel}"],
         kernel=HELLO, needs=["no-kvm"],
         stderr=["solo5-hvt: adjusting memory to 4294967296 bytes", KVM], status=1),
    Case("hvt --mem=8192: more than 4096 MB is refused", "hvt", ["--mem=8192", "{kernel}"],
         kernel=HELLO,
         stderr=fails("hvt", "guest memory size 8589934592 bytes exceeds the max size "
                      "4294967296 bytes"), status=1),
    Case("hvt --mem=8193: adjusted, then refused", "hvt", ["--mem=8193", "{kernel}"],
         kernel=HELLO,
         stderr=fails("hvt", "adjusting memory to 8589934592 bytes",
                      "guest memory size 8589934592 bytes exceeds the max size 4294967296 "
                      "bytes"), status=1),
    Case("hvt: a block file that does not exist, before KVM", "hvt",
         ["--block:storage={dir}/nope", "{kernel}"], kernel=BLK,
         stderr=fails("hvt", "Could not open block device: {dir}/nope: No such file or "
                      "directory"), status=1),
]
