#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Tests of the test tender (solo5-hvt, solo5-spt) and mkimage. Prints TAP.

usage: test-tender.py SOLO5-HVT SOLO5-SPT MKIMAGE

What a real tender prints is pinned by the transcript (transcript.py), whose cases this
script runs last (test-transcript.py), against the stand-in and, when one is installed,
against a real Solo5 (ALB_SOLO5_DIR, ALB_SOLO5_TESTS). The cases before cover the rest:
the stand-in's guest language, its test knobs, and the details of the real behaviour that
take more than one command line to show.

solo5-hvt needs /dev/kvm like the real one; the cases that get an hvt guest running point
it at /dev/null instead (ALB_TEST_TENDER_KVM). The network cases need root: the script
re-executes itself under `unshare --net` and makes its taps in that private namespace
only. Without root they are reported as skipped.
"""
import importlib.util
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

TIMEOUT = 60  # seconds: a cap on waiting for an event, never a pace
HVT = SPT = MKIMAGE = None
WORK = None

KVM = {"ALB_TEST_TENDER_KVM": "/dev/null"}  # an hvt stand-in that gets past /dev/kvm
HEAP = b"Solo5:       heap >= "               # the banner's last line: the guest runs
EXIT0 = "Solo5: solo5_exit(0) called\n"
ALL_ATTACHED = "All declared devices must be attached. See --help for syntax."


class Result:
    def __init__(self, proc, out, err):
        self.rc = proc.returncode
        self.out = out
        self.err = err

    def __repr__(self):
        return "rc=%r stdout=%r stderr=%r" % (self.rc, self.out[-600:], self.err[-600:])


def clean_start(then=None):
    """A preexec_fn: the signals as a shell's foreground job gets them (this script may run
    with SIGINT ignored, as a background job of a non-interactive shell), then `then`."""
    def fn():
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(s, signal.SIG_DFL)
        if then:
            then()
    return fn


def run(tender, *args, env=None, timeout=TIMEOUT, preexec_fn=None, **kw):
    e = dict(os.environ)
    e.pop("ALB_TEST_TENDER_ABI", None)
    e.pop("ALB_TEST_TENDER_KVM", None)
    if env:
        e.update(env)
    p = subprocess.run([tender, *args], stdin=subprocess.DEVNULL, capture_output=True,
                       env=e, timeout=timeout, preexec_fn=clean_start(preexec_fn), **kw)
    return Result(p, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))


_images = {}


def image(*opts):
    """Path of an image made by mkimage with these options (cached); spt by default."""
    key = " ".join(opts)
    if key not in _images:
        path = os.path.join(WORK, "img%d" % len(_images))
        subprocess.run([MKIMAGE, path, *opts], check=True)
        _images[key] = path
    return _images[key]


def himage(*opts):
    return image("--target", "hvt", *opts)


def blockfile(size, name=None):
    path = os.path.join(WORK, name or "block%d" % size)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def check(cond, what, r=None):
    if not cond:
        raise AssertionError(what + ("" if r is None else ": %r" % (r,)))


def usage_line(tender):
    return "usage: %s [ CORE OPTIONS ] %s[ -- ] KERNEL [ ARGS ]\n" % (
        tender, "[ MODULE OPTIONS ] " if tender == "solo5-hvt" else "")


def fails(r, *messages, usage=False, tender="solo5-spt"):
    """The tender refused: exit 1, these lines on stderr in this order, nothing on stdout."""
    check(r.rc == 1, "exit code 1 expected", r)
    check(r.out == "", "stdout on a refusal", r)
    want = "".join("%s: %s\n" % (tender, m) for m in messages)
    if usage:
        want += usage_line(tender)
        check(r.err.startswith(want), "stderr", r)
    else:
        check(r.err == want, "stderr", r)


def banner(mb=512):
    return ("            |      ___|\n"
            "  __|  _ \\  |  _ \\ __ \\\n"
            "\\__ \\ (   | | (   |  ) |\n"
            "____/\\___/ _|\\___/____/\n"
            "Solo5: Bindings version v0.12.1\n"
            "Solo5: Memory map: %d MB addressable:\n"
            "Solo5:   reserved @ (0x0 - 0xfffff)\n"
            "Solo5:       text @ (0x100000 - 0x102fff)\n"
            "Solo5:     rodata @ (0x103000 - 0x103fff)\n"
            "Solo5:       data @ (0x104000 - 0x105fff)\n"
            "Solo5:       heap >= 0x106000 < stack < 0x%x\n" % (mb, mb << 20))


def succeeds(r, code=0, mb=512):
    """The guest ran: the banner first, exit code as said."""
    check(r.rc == code, "exit code %d expected" % code, r)
    check(r.out.startswith(banner(mb)), "no banner", r)


def guest_out(r):
    """What the guest printed after the banner."""
    return r.out.split("\n", 11)[11] if r.out.count("\n") >= 11 else ""


CASES = []      # (description, function)
NET_CASES = []  # run as root in a private network namespace


def case(desc, net=False):
    def deco(fn):
        (NET_CASES if net else CASES).append((desc, fn))
        return fn
    return deco


# --- the test knobs -----------------------------------------------------------------------

@case("ALB_TEST_TENDER_ABI=3 changes the ABI --version prints")
def _():
    r = run(HVT, "--version", env={"ALB_TEST_TENDER_ABI": "3"})
    check(r.rc == 0 and r.out == "" and
          r.err == "solo5-hvt tender, version v0.12.1\nABI version 3\n", "", r)


@case("ALB_TEST_TENDER_ABI=3: refuses ABI 2 images, runs ABI 3 images")
def _():
    env = {"ALB_TEST_TENDER_ABI": "3"}
    k = image()
    fails(run(SPT, k, env=env), "%s: Executable requests unsupported ABI version 2" % k)
    succeeds(run(SPT, image("--abi", "3"), env=env))


@case("ALB_TEST_TENDER_ABI=x matches no image")
def _():
    k = image()
    fails(run(SPT, k, env={"ALB_TEST_TENDER_ABI": "x"}),
          "%s: Executable requests unsupported ABI version 2" % k)


@case("hvt without KVM refuses after the options are checked")
def _():
    if os.path.exists("/dev/kvm"):
        return "SKIP this host has /dev/kvm"
    k = himage("--block", "storage")
    fails(run(HVT, k), "Could not open: /dev/kvm: No such file or directory",
          tender="solo5-hvt")
    fails(run(HVT, "--bogus", k), "Invalid option: `--bogus'", usage=True, tender="solo5-hvt")


@case("ALB_TEST_TENDER_KVM names the device hvt opens in place of /dev/kvm")
def _():
    p = os.path.join(WORK, "no-kvm")
    fails(run(HVT, himage(), env={"ALB_TEST_TENDER_KVM": p}),
          "Could not open: %s: No such file or directory" % p, tender="solo5-hvt")
    succeeds(run(HVT, himage(), env=KVM))


# --- details of the real behaviour ----------------------------------------------------

@case("--mem: what sscanf takes is taken (64M, +64, ' 64')")
def _():
    for v in ["64M", "+64", " 64"]:
        succeeds(run(SPT, "--mem=" + v, image()), mb=64)


@case("--mem: spt takes odd sizes; hvt rounds down to 2 MB, saying so on stderr")
def _():
    succeeds(run(SPT, "--mem=63", image()), mb=63)
    r = run(HVT, "--mem=63", himage(), env=KVM)
    succeeds(r, mb=62)
    check(r.err == "solo5-hvt: adjusting memory to 65011712 bytes\n", "", r)
    r = run(HVT, "--mem=1", himage(), env=KVM)
    succeeds(r, mb=2)
    check(r.err == "solo5-hvt: adjusting memory to 2097152 bytes\n", "", r)
    r = run(HVT, "--mem=4096", himage(), env=KVM)
    succeeds(r, mb=4096)
    check(r.err == "", "", r)


@case("--mem: hvt refuses more than 4096 MB, spt a value past its address space")
def _():
    fails(run(HVT, "--mem=4098", himage(), env=KVM),
          "guest memory size 4297064448 bytes exceeds the max size 4294967296 bytes",
          tender="solo5-hvt")
    r = run(SPT, "--mem=99999999999999999999", image())
    check(r.rc == -signal.SIGABRT and "Assertion" in r.err, "", r)


@case("spt --mem=1: the entry point is outside guest memory")
def _():
    k = image()
    fails(run(SPT, "--mem=1", k), "%s: invalid executable: e_entry does not fall within the "
          "memory allocation range (1048608 < 1048576 || 1048608 >= 1048576)" % k)


@case("a device attached twice, a MAC or sector size given twice: the last one counts")
def _():
    a, b = blockfile(4096, "twice-a"), blockfile(8192, "twice-b")
    k = image("--block", "storage")
    r = run(SPT, "--block:storage=" + a, "--block-sector-size:storage=512",
            "--block:storage=" + b, "--block-sector-size:storage=4096", k, "--devices")
    succeeds(r)
    check(guest_out(r) == "device: storage BLOCK_BASIC capacity 8192 block_size 4096\n" +
          EXIT0, "", r)
    fails(run(SPT, "--net-mac:service0=02:00:00:00:00:01", "--net-mac:service0=02:00:00:00:00:02",
              image("--net", "service0")),
          "Device 'service0' of type NET_BASIC declared but not attached.", ALL_ATTACHED)


@case("MACs: what sscanf takes is taken; the rest is an Invalid option without a reason")
def _():
    k = image("--net", "service0")
    for mac in ["2:0:0:0:0:1", "02:00:00:00:00:01:02", "02:00:00:00:00:0", "02:00:00:00:00:01 "]:
        fails(run(SPT, "--net-mac:service0=" + mac, k),
              "Device 'service0' of type NET_BASIC declared but not attached.", ALL_ATTACHED)
    for mac in ["zz:00:00:00:00:01", "02:00:00:00:00", "02-00-00-00-00-01", ""]:
        fails(run(SPT, "--net-mac:service0=" + mac, k),
              "Invalid option: `--net-mac:service0=%s'" % mac, usage=True)


@case("sector sizes: a 16-bit number that is a power of two, at least 512")
def _():
    k = image("--block", "storage")
    b = blockfile(65536)
    for s in ["0", "256", "1000", "4097", "-512", "99999999999", "65536"]:
        fails(run(SPT, "--block:storage=" + b, "--block-sector-size:storage=" + s, k),
              "Block size must be a multiple of 2 greater than or equal 512",
              "Invalid option: `--block-sector-size:storage=%s'" % s, usage=True)
    fails(run(SPT, "--block:storage=" + b, "--block-sector-size:storage=abc", k),
          "Invalid option: `--block-sector-size:storage=abc'", usage=True)
    for s, size in [("+512", 512), (" 1024", 1024), ("66048", 512), ("32768", 32768)]:
        r = run(SPT, "--block:storage=" + b, "--block-sector-size:storage=" + s, k, "--devices")
        succeeds(r)
        check("block_size %d\n" % size in r.out, s, r)


@case("malformed device options are Invalid options")
def _():
    k = image("--block", "storage")
    b = blockfile(512)
    for opt in ["--block:=" + b, "--block:stor-age=" + b, "--block:storage=", "--block:storage",
                "--block:" + "a" * 68 + "=" + b, "--block-sector-size:storage", "--net:",
                "--net-mac:service0", "--blockstorage=" + b]:
        fails(run(SPT, opt, k), "Invalid option: `%s'" % opt, usage=True)


@case("a read-only block file is refused")
def _():
    if os.geteuid() == 0:
        return "SKIP root opens read-only files"
    p = blockfile(512, "ro.img")
    os.chmod(p, 0o444)
    fails(run(SPT, "--block:storage=" + p, image("--block", "storage")),
          "Could not open block device: %s: Permission denied" % p)


@case("the devices are checked in the modules' order, then all attached")
def _():
    k = image("--block", "a", "--block", "b", "--net", "n")
    fails(run(SPT, "--block:a=" + blockfile(1000), k),
          "a: Backing storage size must be block aligned (512 bytes)")
    fails(run(SPT, "--block:b=" + blockfile(512), k),
          "Device 'a' of type BLOCK_BASIC declared but not attached.",
          "Device 'n' of type NET_BASIC declared but not attached.", ALL_ATTACHED)


@case("blocks attached: the guest sees their sizes, the files are kept intact")
def _():
    a, b = blockfile(8192, "a.img"), blockfile(1 << 20, "b.img")
    with open(a, "wb") as f:
        f.write(b"x" * 8192)
    k = image("--block", "a", "--block", "b")
    r = run(SPT, "--block-sector-size:a=4096", "--block:a=" + a, "--block:b=" + b, k,
            "--devices")
    succeeds(r)
    check(guest_out(r) == "device: a BLOCK_BASIC capacity 8192 block_size 4096\n"
          "device: b BLOCK_BASIC capacity 1048576 block_size 512\n" + EXIT0, "", r)
    with open(a, "rb") as f:
        check(f.read() == b"x" * 8192, "block content changed")


@case("hvt checks the devices after KVM too")
def _():
    k = himage("--block", "storage")
    fails(run(HVT, k, env=KVM), "Device 'storage' of type BLOCK_BASIC declared but not attached.",
          ALL_ATTACHED, tender="solo5-hvt")
    fails(run(HVT, "--block:storage=" + blockfile(1000), k, env=KVM),
          "storage: Backing storage size must be block aligned (512 bytes)", tender="solo5-hvt")
    succeeds(run(HVT, "--block:storage=" + blockfile(512), k, env=KVM))


@case("guest command line: 8191 characters run, 8192 are refused (hvt too)")
def _():
    a = ["x" * 4095, "y" * 4095]  # 4095 + 1 + 4095 = 8191
    r = run(SPT, image(), *a)
    succeeds(r)
    check(guest_out(r) == "argument: %s\nargument: %s\n%s" % (a[0], a[1], EXIT0), "", r)
    fails(run(SPT, image(), a[0], a[1] + "z"),
          "Guest command line too long (max=8191 characters)")
    fails(run(HVT, himage(), a[0], a[1] + "z", env=KVM),
          "Guest command line too long (max=8191 characters)", tender="solo5-hvt")


# --- the guest ------------------------------------------------------------------------

@case("no instruction: the banner, then solo5_exit(0); nothing on stderr")
def _():
    for tender, k, env in [(SPT, image(), None), (HVT, himage(), KVM)]:
        r = run(tender, k, env=env)
        check(r.rc == 0 and r.out == banner() + EXIT0 and r.err == "", tender, r)


@case("'--' ends the options; everything after the kernel goes to the guest")
def _():
    r = run(SPT, "--mem=64", "--", image(), "--mem=8", "--exit=3")
    succeeds(r, 3, mb=64)
    check(guest_out(r) == "argument: --mem=8\nSolo5: solo5_exit(3) called\n", "", r)


@case("--exit=N exits N & 0xff and says so")
def _():
    k = image()
    for n, code in [(0, 0), (3, 3), (60, 60), (255, 255), (256, 0), (300, 44), (-1, 255)]:
        r = run(SPT, k, "--exit=%d" % n)
        succeeds(r, code)
        check(r.out.endswith("Solo5: solo5_exit(%d) called\n" % n), "message", r)


@case("--exit stops the guest: later instructions are not run")
def _():
    r = run(SPT, image(), "--exit=5", "--hello=after")
    succeeds(r, 5)
    check(guest_out(r) == "Solo5: solo5_exit(5) called\n", "", r)


@case("--lines=N prints N numbered lines")
def _():
    r = run(SPT, image(), "--lines=5")
    succeeds(r)
    check(guest_out(r) == "".join("line %d\n" % i for i in range(1, 6)) + EXIT0, "", r)


@case("--lines=100000 all arrive, in order")
def _():
    r = run(SPT, image(), "--lines=100000")
    lines = [x for x in r.out.splitlines() if x.startswith("line ")]
    check(lines == ["line %d" % i for i in range(1, 100001)], "lines")


@case("--sleep=MS waits, then the next instruction runs")
def _():
    t = time.monotonic()
    r = run(SPT, image(), "--sleep=400", "--exit=2")
    dt = time.monotonic() - t
    succeeds(r, 2)
    check(dt >= 0.4, "slept %.3f s" % dt)


@case("instructions run in order")
def _():
    r = run(SPT, image(), "--hello=one", "--lines=1", "--hello=two", "--exit=9")
    succeeds(r, 9)
    check(guest_out(r) == "one\nline 1\ntwo\nSolo5: solo5_exit(9) called\n", "", r)


@case("--hello prints on the console, --stderr on stderr")
def _():
    r = run(SPT, image(), "--hello=hi there", "--stderr=oops")
    succeeds(r)
    check(guest_out(r) == "hi there\n" + EXIT0 and r.err == "oops\n", "", r)


@case("unknown guest arguments are only printed")
def _():
    r = run(SPT, image(), "foo", "--exit=abc", "--bar")
    succeeds(r, 0)
    check(guest_out(r) == "argument: foo\nargument: --exit=abc\nargument: --bar\n" + EXIT0,
          "", r)


@case("the network arguments without a net device are only printed")
def _():
    r = run(SPT, image(), "--ipv4=10.0.0.2/24", "--ipv4-gateway=10.0.0.1", "--name=x")
    succeeds(r)
    check(guest_out(r) == "argument: --ipv4=10.0.0.2/24\nargument: --ipv4-gateway=10.0.0.1\n"
          "argument: --name=x\n" + EXIT0, "", r)


@case("--abort exits 255 and says so")
def _():
    r = run(SPT, image(), "--abort", "--exit=3")
    succeeds(r, 255)
    check(guest_out(r) == "Solo5: solo5_abort() called\n", "", r)


@case("--devices without devices prints nothing")
def _():
    r = run(SPT, image(), "--devices")
    check(r.rc == 0 and guest_out(r) == EXIT0, "", r)


@case("--signal=S: hvt and spt die by signal S (number or name)")
def _():
    for tender, k, env in [(HVT, himage(), KVM), (SPT, image(), None)]:
        for s, signo in [("9", 9), ("SEGV", 11), ("SIGSYS", 31), ("15", 15), ("INT", 2),
                         ("6", 6)]:
            r = run(tender, k, "--lines=2", "--signal=" + s, env=env)
            check(r.rc == -signo, "%s --signal=%s" % (tender, s), r)
            check("line 2\n" in r.out, "lines before the signal", r)


@case("--signal of a signal ignored by default continues")
def _():
    succeeds(run(SPT, image(), "--signal=CHLD", "--signal=28", "--exit=4"), 4)


@case("log levels: quiet, error and warn drop the banner and the exit messages")
def _():
    for level in ["quiet", "error", "warn"]:
        r = run(SPT, image(), "--solo5:" + level, "--lines=1", "--exit=3")
        check(r.rc == 3 and r.out == "line 1\n", level, r)
        r = run(SPT, image(), "--solo5:" + level, "--abort")
        check(r.rc == 255 and r.out == "", level, r)
    for level in ["info", "debug"]:
        r = run(SPT, image(), "--solo5:" + level, "--exit=3")
        succeeds(r, 3)
        check(guest_out(r) == "Solo5: solo5_exit(3) called\n", level, r)
    r = run(SPT, image(), "--solo5:quiet", "--solo5:info", "--hello=x", "--solo5:quiet")
    succeeds(r)
    check(guest_out(r) == "x\nargument: --solo5:quiet\n" + EXIT0, "only leading ones", r)


def start(tender, *args, env=None, marker=HEAP, preexec_fn=None, **kw):
    """Starts a tender; returns once its stdout shows marker (the guest runs)."""
    e = dict(os.environ)
    e.pop("ALB_TEST_TENDER_ABI", None)
    e.pop("ALB_TEST_TENDER_KVM", None)
    e.update(env or {})
    p = subprocess.Popen([tender, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=e, preexec_fn=clean_start(preexec_fn),
                         **kw)
    buf = b""
    deadline = time.monotonic() + TIMEOUT
    while marker not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([p.stdout], [], [], left)[0]:
            break
        chunk = os.read(p.stdout.fileno(), 4096)
        if not chunk:
            break
        buf += chunk
    return p, buf


def finish(p, buf=b""):
    try:
        out, err = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise
    return Result(p, (buf + out).decode(), err.decode())


@case("--run: hvt exits 1 on SIGTERM and on SIGINT, printing the signal")
def _():
    for s in [signal.SIGTERM, signal.SIGINT]:
        p, buf = start(HVT, himage(), "--run", env=KVM)
        p.send_signal(s)
        r = finish(p, buf)
        check(r.rc == 1 and r.err == "solo5-hvt: Exiting on signal %d\n" % s, str(s), r)


@case("hvt handles SIGTERM even when started with it ignored, and during --sleep")
def _():
    p, buf = start(HVT, himage(), "--sleep=60000", "--exit=0", env=KVM,
                   preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
    p.send_signal(signal.SIGTERM)
    r = finish(p, buf)
    check(r.rc == 1 and r.err == "solo5-hvt: Exiting on signal 15\n", "", r)


@case("--run: spt dies by SIGTERM and SIGINT, silently")
def _():
    for s in [signal.SIGTERM, signal.SIGINT]:
        p, buf = start(SPT, image(), "--run")
        p.send_signal(s)
        r = finish(p, buf)
        check(r.rc == -s and r.err == "", str(s), r)


@case("spt started with SIGTERM ignored keeps it ignored, as the real one does")
def _():
    p, buf = start(SPT, image(), "--sleep=1000", "--exit=7",
                   preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
    p.send_signal(signal.SIGTERM)
    r = finish(p, buf)
    check(r.rc == 7 and r.out.endswith("Solo5: solo5_exit(7) called\n"), "", r)


@case("spt started with SIGTERM blocked keeps it blocked")
def _():
    def block():
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
    p, buf = start(SPT, image(), "--sleep=1000", "--exit=7", preexec_fn=block)
    p.send_signal(signal.SIGTERM)
    r = finish(p, buf)
    check(r.rc == 7, "", r)


@case("SIGKILL kills either")
def _():
    for tender, k, env in [(HVT, himage(), KVM), (SPT, image(), None)]:
        p, buf = start(tender, k, "--run", env=env)
        p.kill()
        r = finish(p, buf)
        check(r.rc == -9, tender, r)


@case("--run keeps running")
def _():
    p, buf = start(SPT, image(), "--run")
    try:
        p.wait(timeout=0.5)
    except subprocess.TimeoutExpired:
        pass
    check(p.poll() is None, "exited: %r" % p.poll())
    p.kill()
    p.wait()


def fifo_run(tender, args, env=None, ignore_pipe=False):
    """Runs the tender with stdout a FIFO whose reader has gone; returns (rc, stderr)."""
    fifo = os.path.join(WORK, "console")
    os.mkfifo(fifo)
    rd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    wr = os.open(fifo, os.O_WRONLY)
    os.close(rd)
    e = dict(os.environ)
    e.update(env or {})
    try:
        p = subprocess.run([tender, *args], stdin=subprocess.DEVNULL, stdout=wr,
                           stderr=subprocess.PIPE, env=e, timeout=TIMEOUT,
                           preexec_fn=clean_start(
                               (lambda: signal.signal(signal.SIGPIPE, signal.SIG_IGN))
                               if ignore_pipe else None))
    finally:
        os.close(wr)
        os.unlink(fifo)
    return p.returncode, p.stderr.decode()


@case("a console FIFO whose reader is gone: SIGPIPE kills the tender, as the real one")
def _():
    rc, err = fifo_run(SPT, [image(), "--lines=1000", "--exit=7"])
    check(rc == -signal.SIGPIPE and err == "", "spt rc %r stderr %r" % (rc, err))
    rc, err = fifo_run(HVT, [himage(), "--exit=7"], env=KVM)
    check(rc == -signal.SIGPIPE and err == "", "hvt rc %r stderr %r" % (rc, err))


@case("... with SIGPIPE ignored: spt loses the output, hvt fails an assertion")
def _():
    rc, err = fifo_run(SPT, [image(), "--lines=1000", "--exit=7"], ignore_pipe=True)
    check(rc == 7 and err == "", "spt rc %r stderr %r" % (rc, err))
    rc, err = fifo_run(HVT, [himage(), "--exit=7"], env=KVM, ignore_pipe=True)
    check(rc == -signal.SIGABRT and "hypercall_puts: Assertion `rc >= 0' failed." in err,
          "hvt rc %r stderr %r" % (rc, err))


@case("a console FIFO read by someone: everything arrives")
def _():
    fifo = os.path.join(WORK, "console2")
    os.mkfifo(fifo)
    rd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    wr = os.open(fifo, os.O_WRONLY)
    os.set_blocking(rd, True)
    p = subprocess.Popen([SPT, image(), "--lines=3000", "--exit=0"], stdin=subprocess.DEVNULL,
                         stdout=wr, stderr=subprocess.DEVNULL, preexec_fn=clean_start())
    os.close(wr)
    data = b""
    while True:
        chunk = os.read(rd, 65536)
        if not chunk:
            break
        data += chunk
    os.close(rd)
    os.unlink(fifo)
    check(p.wait(timeout=TIMEOUT) == 0, "rc")
    check(data.decode().count("\nline ") == 3000 and b"line 3000\n" in data, "lines")


@case("mkimage: usage errors exit 2")
def _():
    for args in [[], ["--net", "x"], [os.path.join(WORK, "i"), "--target", "foo"],
                 [os.path.join(WORK, "i"), "--abi", "x"], [os.path.join(WORK, "i"), "--net"]]:
        p = subprocess.run([MKIMAGE, *args], capture_output=True)
        check(p.returncode == 2, "%r: %r" % (args, p))


@case("mkimage: the default target is spt")
def _():
    succeeds(run(SPT, image()))
    fails(run(HVT, image()), "%s: Executable is not for the solo5-hvt target" % image(),
          tender="solo5-hvt")


# --- network (root, private namespace) ----------------------------------------------

def ip(*args, check_rc=True):
    return subprocess.run(["ip", *args], check=check_rc, capture_output=True)


def tap(name, up=True):
    ip("tuntap", "add", "dev", name, "mode", "tap")
    if up:
        ip("link", "set", name, "up")


def net_image(*names, target="spt"):
    opts = ["--target", target]
    for n in names:
        opts += ["--net", n]
    return image(*opts)


def mac_of(r, name):
    line = [x for x in r.out.splitlines() if x.startswith("device: %s NET_BASIC " % name)]
    check(len(line) == 1, "no device line for " + name, r)
    return line[0].split(" mac ")[1].split(" ")[0]


@case("a tap that exists and is up is attached; the guest sees a MAC and the MTU", net=True)
def _():
    tap("tap0")
    r = run(SPT, "--net:service0=tap0", net_image("service0"), "--devices")
    succeeds(r)
    check(guest_out(r).startswith("device: service0 NET_BASIC mac ") and
          " mtu 1500\n" in guest_out(r), "devices", r)
    mac = int(mac_of(r, "service0").split(":")[0], 16)
    check(mac & 3 == 2, "a random MAC is unicast and locally administered", r)


@case("hvt attaches a tap too", net=True)
def _():
    tap("taphvt")
    succeeds(run(HVT, "--net:service0=taphvt", net_image("service0", target="hvt"), env=KVM))


@case("--net-mac sets the MAC, before or after --net; 00:...:00 is no MAC", net=True)
def _():
    tap("tapmac")
    k = net_image("service0")
    for opts in [["--net-mac:service0=02:AB:cd:00:00:01", "--net:service0=tapmac"],
                 ["--net:service0=tapmac", "--net-mac:service0=02:AB:cd:00:00:01"]]:
        r = run(SPT, *opts, k, "--devices")
        succeeds(r)
        check(mac_of(r, "service0") == "02:ab:cd:00:00:01", "mac", r)
    r = run(SPT, "--net-mac:service0=00:00:00:00:00:00", "--net:service0=tapmac", k, "--devices")
    check(mac_of(r, "service0") != "00:00:00:00:00:00", "zero MAC kept", r)


@case("without --net-mac the MAC is random at every start", net=True)
def _():
    tap("taprnd")
    k = net_image("service0")
    macs = set()
    for _ in range(3):
        r = run(SPT, "--net:service0=taprnd", k, "--devices")
        succeeds(r)
        macs.add(mac_of(r, "service0"))
    check(len(macs) == 3, "macs %r" % macs)


@case("a tap that does not exist", net=True)
def _():
    fails(run(SPT, "--net:service0=tapnone", net_image("service0")),
          "Could not attach interface: tapnone: No such file or directory",
          "Invalid option: `--net:service0=tapnone'", usage=True)
    check(ip("link", "show", "tapnone", check_rc=False).returncode != 0, "tap created")


@case("a tap that is down", net=True)
def _():
    tap("tapdown", up=False)
    fails(run(SPT, "--net:service0=tapdown", net_image("service0")),
          "Could not attach interface: tapdown: Network is down",
          "Invalid option: `--net:service0=tapdown'", usage=True)


@case("an interface that is not a tap", net=True)
def _():
    ip("link", "set", "lo", "up")
    fails(run(SPT, "--net:service0=lo", net_image("service0")),
          "Could not attach interface: lo: Invalid argument",
          "Invalid option: `--net:service0=lo'", usage=True)


@case("an interface name longer than IFNAMSIZ", net=True)
def _():
    fails(run(SPT, "--net:service0=tap0123456789abcd", net_image("service0")),
          "Could not attach interface: tap0123456789abcd: File name too long",
          "Invalid option: `--net:service0=tap0123456789abcd'", usage=True)


@case("a tap of root attached without CAP_NET_ADMIN", net=True)
def _():
    tap("tapperm")
    d = tempfile.mkdtemp(dir="/tmp")
    try:
        os.chmod(d, 0o755)
        k = os.path.join(d, "img")
        subprocess.run([MKIMAGE, k, "--net", "service0"], check=True)
        os.chmod(k, 0o644)

        def drop():
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        r = run(SPT, "--net:service0=tapperm", k, preexec_fn=drop)
        # EACCES where /dev/net/tun is 0600, EPERM from TUNSETIFF where it is 0666
        lines = r.err.splitlines()
        check(r.rc == 1 and len(lines) > 2 and lines[0] in (
            "solo5-spt: Could not attach interface: tapperm: Permission denied",
            "solo5-spt: Could not attach interface: tapperm: Operation not permitted") and
            lines[1] == "solo5-spt: Invalid option: `--net:service0=tapperm'", "", r)
    finally:
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)


@case("the same tap given twice: the second attach finds it busy", net=True)
def _():
    tap("tapdup")
    fails(run(SPT, "--net:service0=tapdup", "--net:service0=tapdup", net_image("service0")),
          "Could not attach interface: tapdup: Device or resource busy",
          "Invalid option: `--net:service0=tapdup'", usage=True)


@case("two nets declared, one attached", net=True)
def _():
    tap("tapone")
    fails(run(SPT, "--net:a=tapone", net_image("a", "b")),
          "Device 'b' of type NET_BASIC declared but not attached.", ALL_ATTACHED)


@case("nets and blocks together", net=True)
def _():
    tap("tapmix1")
    tap("tapmix2")
    k = image("--net", "a", "--block", "disk", "--net", "b")
    r = run(SPT, "--net:b=tapmix2", "--block:disk=" + blockfile(4096), "--net:a=tapmix1", k,
            "--devices", "--exit=6")
    succeeds(r, 6)
    lines = guest_out(r).splitlines()
    check(len(lines) == 4 and lines[0].startswith("device: a NET_BASIC mac ") and
          lines[1] == "device: disk BLOCK_BASIC capacity 4096 block_size 512" and
          lines[2].startswith("device: b NET_BASIC mac "), "devices", r)


@case("the tap has carrier while the tender runs, none after SIGTERM", net=True)
def _():
    tap("tapcar")

    def carrier():
        # /sys shows the host's namespace: ask the kernel through ip instead.
        out = ip("-o", "link", "show", "tapcar").stdout.decode()
        return "0" if "NO-CARRIER" in out else "1"
    p, buf = start(SPT, "--net:service0=tapcar", net_image("service0"), "--run")
    c = carrier()
    p.send_signal(signal.SIGTERM)
    r = finish(p, buf)
    check(c == "1", "carrier while running: %r" % c)
    check(r.rc == -signal.SIGTERM and r.err == "", "", r)
    check(carrier() == "0", "carrier after SIGTERM")


# --- the guest's network stack (root, private namespace) ----------------------------------

GUEST = "10.0.0.2"


class Lan:
    """A bridge with 10.0.0.1/24 and a tap on it (both removed at the end), and a tender
    running an image with the net device service0 on that tap."""

    def __init__(self, tender, *guest, pre=(), env=None, name="one"):
        self.tap, self.br = "tapg", "brg"
        self.p = None
        ip("link", "add", self.br, "type", "bridge")
        ip("addr", "add", "10.0.0.1/24", "dev", self.br)
        ip("link", "set", self.br, "up")
        tap(self.tap)
        ip("link", "set", self.tap, "master", self.br)
        try:
            k = net_image("service0", target="hvt" if tender == HVT else "spt")
            marker = ("name %s\n" % name).encode()
            self.p, self.buf = start(tender, *pre, "--net:service0=" + self.tap, k, *guest,
                                     env=env, marker=marker)
            check(marker in self.buf, "the stack did not start: %r" % self.buf)
        except BaseException:
            self.__exit__()
            raise
        line = [x for x in self.buf.decode().splitlines() if x.startswith("net: ")]
        self.mac = line[0].split(" mac ")[1].split(" ")[0]
        self.line = line[0]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.p and self.p.poll() is None:
            self.p.kill()
            self.p.communicate()
        ip("link", "del", self.tap, check_rc=False)
        ip("link", "del", self.br, check_rc=False)

    def finish(self, sig=None):
        if sig:
            self.p.send_signal(sig)
        r = finish(self.p, self.buf)
        self.p = None
        return r


def icmp_checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ping(addr, payload=b"albatross ping"):
    """An ICMP echo request every half second until the matching reply comes (TIMEOUT)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    try:
        ident = os.getpid() & 0xffff
        deadline = time.monotonic() + TIMEOUT
        seq = 0
        while time.monotonic() < deadline:
            seq += 1
            req = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + payload
            req = req[:2] + struct.pack("!H", icmp_checksum(req)) + req[4:]
            s.sendto(req, (addr, 0))
            until = time.monotonic() + 0.5
            while (left := until - time.monotonic()) > 0:
                if not select.select([s], [], [], left)[0]:
                    break
                data, src = s.recvfrom(65536)
                m = data[(data[0] & 15) * 4:]
                if (src[0] == addr and m[0] == 0 and m[4:8] == req[4:8] and
                        m[8:] == payload and icmp_checksum(m) == 0):
                    return seq
        return None
    finally:
        s.close()


def udp_echo(addr, port, payload):
    """Sends payload every half second until an answer comes (TIMEOUT): (data, source)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            s.sendto(payload, (addr, port))
            if select.select([s], [], [], 0.5)[0]:
                return s.recvfrom(65536)
        return None, None
    finally:
        s.close()


def tcp_connect(port=80):
    c = socket.create_connection((GUEST, port), timeout=TIMEOUT)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def recv_exactly(c, n):
    buf = b""
    while len(buf) < n:
        chunk = c.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def tcp_echo(c, data, name="one"):
    c.sendall(data)
    want = name.encode() + b": " + data
    got = recv_exactly(c, len(want))
    check(got == want, "TCP echo %r, got %r" % (want, got))


@case("guest network: the console line, ARP with the device's MAC, ping", net=True)
def _():
    with Lan(SPT, "--ipv4=10.0.0.2/24", "--name=one",
             pre=["--net-mac:service0=02:00:00:00:00:0a"]) as lan:
        check(lan.line == "net: service0 mac 02:00:00:00:00:0a ipv4 10.0.0.2/24 name one",
              lan.line)
        check(ping(GUEST) is not None, "no answer to ping")
        check(ping(GUEST, b"x" * 1400) is not None, "no answer to a large ping")
        neigh = ip("neigh", "show", GUEST, "dev", lan.br).stdout.decode()
        check("lladdr 02:00:00:00:00:0a" in neigh, "ARP: %r" % neigh)
        r = lan.finish(signal.SIGTERM)
        check(r.rc == -signal.SIGTERM and r.err == "", "spt dies by SIGTERM", r)


@case("guest network: the random MAC of the device is the one used", net=True)
def _():
    with Lan(SPT, "--devices", "--ipv4=10.0.0.2/24", "--name=one") as lan:
        check(ping(GUEST) is not None, "no answer to ping")
        neigh = ip("neigh", "show", GUEST, "dev", lan.br).stdout.decode()
        check("lladdr " + lan.mac in neigh, "ARP: %r, %s" % (neigh, lan.mac))
        r = lan.finish(signal.SIGTERM)
        check(mac_of(r, "service0") == lan.mac, "the MAC the guest sees", r)


@case("guest network: UDP echo on any port, prefixed by the name", net=True)
def _():
    with Lan(SPT, "--ipv4=10.0.0.2/24", "--name=one") as lan:
        for port, payload in [(5000, b"payload"), (53, b"other port"), (40000, b"")]:
            data, src = udp_echo(GUEST, port, payload)
            check(data == b"one: " + payload and src == (GUEST, port),
                  "UDP %d: %r from %r" % (port, data, src))
        data, _ = udp_echo(GUEST, 7, b"y" * 1472)
        check(data == b"one: " + b"y" * 1467, "a full datagram is cut to the MTU: %r" % data)
        lan.finish(signal.SIGKILL)


@case("guest network: TCP echo, two connections at once, half-close", net=True)
def _():
    with Lan(SPT, "--ipv4=10.0.0.2/24", "--name=one") as lan:
        c1 = tcp_connect(80)
        c2 = tcp_connect(80)
        tcp_echo(c1, b"hello")
        tcp_echo(c2, b"world")
        tcp_echo(c1, b"again")
        tcp_echo(c2, b"x" * 1400)
        c1.shutdown(socket.SHUT_WR)
        check(c1.recv(100) == b"", "the guest closes after our FIN")
        c1.close()
        tcp_echo(c2, b"still there")
        c2.close()
        c3 = tcp_connect(8080)
        c3.sendall(b"z" * 20000)
        got = b""
        while got.replace(b"one: ", b"") != b"z" * 20000:
            chunk = c3.recv(65536)
            check(chunk, "stream cut short: %d bytes" % len(got))
            got += chunk
        check(got.startswith(b"one: z"), "stream")
        c3.close()
        lan.finish(signal.SIGKILL)


@case("guest network: 64 TCP connections; closed and reset ones free their slot", net=True)
def _():
    with Lan(SPT, "--ipv4=10.0.0.2/24", "--name=one") as lan:
        for i in range(100):  # more than the table: each one closed frees its slot
            c = tcp_connect(80)
            tcp_echo(c, b"conn %d" % i)
            c.shutdown(socket.SHUT_WR)
            check(c.recv(100) == b"", "FIN %d" % i)
            c.close()
        conns = []
        for i in range(64):
            conns.append(tcp_connect(80))
            tcp_echo(conns[-1], b"open %d" % i)
        try:
            extra = tcp_connect(80)
            extra.close()
            check(False, "a 65th connection was accepted")
        except ConnectionRefusedError:
            pass
        for c in conns:  # closed by RST
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
        conns = []
        for i in range(64):
            conns.append(tcp_connect(80))
            tcp_echo(conns[-1], b"again %d" % i)
        for c in conns:
            c.close()
        lan.finish(signal.SIGKILL)


@case("guest network: served during --wait, then the arguments go on; default name", net=True)
def _():
    with Lan(SPT, "--ipv4-gateway=10.0.0.1", "--hello=up", "--wait=USR1", "--hello=after",
             "--exit=3", "--ipv4=10.0.0.2/24", name="tender") as lan:
        data, _ = udp_echo(GUEST, 5000, b"x")
        check(data == b"tender: x", "UDP %r" % data)
        tcp_echo(tcp_connect(80), b"y", name="tender")
        r = lan.finish(signal.SIGUSR1)
        succeeds(r, 3)
        check(guest_out(r) == "net: service0 mac %s ipv4 10.0.0.2/24 name tender\nup\n"
              "after\nSolo5: solo5_exit(3) called\n" % lan.mac, "", r)


@case("guest network: served during --sleep", net=True)
def _():
    with Lan(SPT, "--ipv4=10.0.0.2/24", "--name=one", "--sleep=600000", "--hello=slept") as lan:
        data, _ = udp_echo(GUEST, 5000, b"x")
        check(data == b"one: x", "UDP %r" % data)
        r = lan.finish(signal.SIGTERM)
        check(r.rc == -signal.SIGTERM and "slept" not in r.out, "", r)


@case("guest network: hvt serves too, and exits 1 on SIGTERM", net=True)
def _():
    with Lan(HVT, "--ipv4=10.0.0.2/24", "--name=two", "--run", env=KVM, name="two") as lan:
        data, _ = udp_echo(GUEST, 5000, b"x")
        check(data == b"two: x", "UDP %r" % data)
        tcp_echo(tcp_connect(443), b"hello", name="two")
        r = lan.finish(signal.SIGTERM)
        check(r.rc == 1 and r.err == "solo5-hvt: Exiting on signal 15\n", "", r)


@case("guest network: a malformed --ipv4 starts no stack", net=True)
def _():
    tap("tapnoip")
    r = run(SPT, "--net:service0=tapnoip", net_image("service0"), "--ipv4=10.0.0.300/24",
            "--name=x")
    succeeds(r)
    check(guest_out(r) == "argument: --ipv4=10.0.0.300/24\nargument: --name=x\n" + EXIT0,
          "", r)


def netns_child(host_ns):
    """Runs the network cases inside the namespace; one JSON line per case."""
    if os.stat("/proc/self/ns/net").st_ino == host_ns:
        for desc, _ in NET_CASES:
            print(json.dumps({"ok": False, "msg": "not in a private network namespace"}))
        return
    for desc, fn in NET_CASES:
        print(json.dumps(outcome(fn)), flush=True)


def outcome(fn):
    try:
        skip = fn()
        if isinstance(skip, str) and skip.startswith("SKIP"):
            return {"ok": True, "skip": skip[5:]}
        return {"ok": True}
    except AssertionError as e:
        return {"ok": False, "msg": str(e)}
    except Exception as e:  # noqa: BLE001 - a test error is a failure
        return {"ok": False, "msg": "%s: %s" % (type(e).__name__, e)}


def net_results():
    """The outcomes of NET_CASES, run as root in a private network namespace."""
    n = len(NET_CASES)
    if os.geteuid() != 0:
        return [{"ok": True, "skip": "not root"}] * n
    host_ns = os.stat("/proc/self/ns/net").st_ino
    try:
        p = subprocess.run(["unshare", "--net", "--", sys.executable, os.path.abspath(__file__),
                            "--netns", str(host_ns), HVT, SPT, MKIMAGE, WORK],
                           capture_output=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        return [{"ok": True, "skip": "cannot run unshare --net: %s" % e}] * n
    lines = p.stdout.decode().splitlines()
    if p.returncode != 0 and not lines:
        why = p.stderr.decode().strip().splitlines()
        return [{"ok": True, "skip": "cannot create a network namespace: %s" %
                 (why[-1] if why else p.returncode)}] * n
    results = [json.loads(x) for x in lines]
    while len(results) < n:
        results.append({"ok": False, "msg": "no result (rc %d): %s" %
                        (p.returncode, p.stderr.decode()[-500:])})
    return results


def main():
    global HVT, SPT, MKIMAGE, WORK
    if len(sys.argv) >= 2 and sys.argv[1] == "--netns":
        host_ns = int(sys.argv[2])
        HVT, SPT, MKIMAGE, WORK = sys.argv[3:7]
        WORK = tempfile.mkdtemp(prefix="netns-", dir=WORK)
        netns_child(host_ns)
        return 0
    if len(sys.argv) != 4:
        print("usage: test-tender.py SOLO5-HVT SOLO5-SPT MKIMAGE", file=sys.stderr)
        return 2
    HVT, SPT, MKIMAGE = (os.path.abspath(x) for x in sys.argv[1:4])
    transcript = load_transcript()
    with tempfile.TemporaryDirectory(prefix="test-tender-") as work:
        WORK = work
        print("1..%d" % (len(CASES) + len(NET_CASES) + transcript.COUNT), flush=True)
        i = 0
        for desc, fn in CASES:
            i += 1
            report(i, desc, outcome(fn))
        for (desc, _), res in zip(NET_CASES, net_results()):
            i += 1
            report(i, desc, res)
        for desc, res in transcript.results(HVT, SPT, MKIMAGE, WORK):
            i += 1
            if res is None:
                report(i, desc, {"ok": True})
            elif res.startswith("SKIP "):
                report(i, desc, {"ok": True, "skip": res[5:]})
            else:
                report(i, desc, {"ok": False, "msg": res})
    return 0


def load_transcript():
    """test-transcript.py: the transcript's cases, against the stand-in and a real Solo5."""
    sys.dont_write_bytecode = True
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test-transcript.py")
    spec = importlib.util.spec_from_file_location("test_transcript", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def report(i, desc, res):
    if res.get("skip"):
        print("ok %d - %s # SKIP %s" % (i, desc, res["skip"]), flush=True)
    elif res["ok"]:
        print("ok %d - %s" % (i, desc), flush=True)
    else:
        print("not ok %d - %s" % (i, desc), flush=True)
        for line in res["msg"].splitlines():
            print("# " + line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
