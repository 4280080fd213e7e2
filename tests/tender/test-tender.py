#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Tests of the test tender (solo5-hvt, solo5-spt) and mkimage. Prints TAP.

usage: test-tender.py SOLO5-HVT SOLO5-SPT MKIMAGE

The network cases need root: the script re-executes itself under
`unshare --net` and makes its taps in that private namespace only. Without root
they are reported as skipped.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

TIMEOUT = 20
HVT = SPT = MKIMAGE = None
WORK = None

HVT_USAGE = "usage: solo5-hvt [ CORE OPTIONS ] [ MODULE OPTIONS ] [ -- ] KERNEL [ ARGS ]"


class Result:
    def __init__(self, proc, out, err):
        self.rc = proc.returncode
        self.out = out
        self.err = err

    def __repr__(self):
        return "rc=%r stdout=%r stderr=%r" % (self.rc, self.out[-600:], self.err[-600:])


def run(tender, *args, env=None, timeout=TIMEOUT, **kw):
    e = dict(os.environ)
    e.pop("ALB_TEST_TENDER_ABI", None)
    if env:
        e.update(env)
    p = subprocess.run([tender, *args], stdin=subprocess.DEVNULL, capture_output=True,
                       env=e, timeout=timeout, **kw)
    return Result(p, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))


_images = {}


def image(*opts):
    """Path of an image made by mkimage with these options (cached)."""
    key = " ".join(opts)
    if key not in _images:
        path = os.path.join(WORK, "img%d" % len(_images))
        subprocess.run([MKIMAGE, path, *opts], check=True)
        _images[key] = path
    return _images[key]


def blockfile(size, name=None):
    path = os.path.join(WORK, name or "block%d" % size)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def check(cond, what, r=None):
    if not cond:
        raise AssertionError(what + ("" if r is None else ": %r" % (r,)))


def fails(r, *messages, usage=False, tender="solo5-hvt"):
    """The tender refused: exit 1, every message on stderr, nothing on the console."""
    check(r.rc == 1, "exit code 1 expected", r)
    for m in messages:
        check(m in r.err, "stderr lacks %r" % m, r)
    check(r.err.startswith(tender + ": ") or r.err.startswith("usage: "),
          "stderr not in the tender's style", r)
    check("Solo5: Bindings" not in r.out, "banner printed on a refusal", r)
    if usage:
        check("usage: " + tender in r.err, "no usage", r)


def succeeds(r, code=0):
    check(r.rc == code, "exit code %d expected" % code, r)
    check("Solo5: Bindings version v0.12.1\n" in r.out, "no banner", r)


CASES = []      # (description, function)
NET_CASES = []  # run as root in a private network namespace


def case(desc, net=False):
    def deco(fn):
        (NET_CASES if net else CASES).append((desc, fn))
        return fn
    return deco


# --- version and help --------------------------------------------------------

@case("hvt --version prints the version and ABI 2, exit 0")
def _():
    r = run(HVT, "--version")
    check(r.rc == 0 and r.out == "solo5-hvt tender, version v0.12.1\nABI version 2\n", "", r)


@case("spt --version prints the version and ABI 2, exit 0")
def _():
    r = run(SPT, "--version")
    check(r.rc == 0 and r.out == "solo5-spt tender, version v0.12.1\nABI version 2\n", "", r)


@case("ALB_TEST_TENDER_ABI overrides the ABI printed by --version")
def _():
    r = run(HVT, "--version", env={"ALB_TEST_TENDER_ABI": "3"})
    check(r.rc == 0 and r.out.endswith("\nABI version 3\n"), "", r)


@case("--version after options and before the kernel")
def _():
    r = run(SPT, "--mem=64", "--version", "kernel-not-read")
    check(r.rc == 0 and "ABI version 2" in r.out, "", r)


@case("--help: usage on stderr, exit 1")
def _():
    r = run(HVT, "--help")
    check(r.rc == 1 and r.err.startswith(HVT_USAGE) and r.out == "", "", r)
    check("--net:NAME=IFACE" in r.err and "--block:NAME=PATH" in r.err, "module usage", r)


@case("spt --help mentions --x-exec-heap")
def _():
    r = run(SPT, "--help")
    check(r.rc == 1 and "--x-exec-heap" in r.err, "", r)


# --- refusals: command line and image -------------------------------------------

@case("no arguments: missing kernel")
def _():
    fails(run(HVT), "solo5-hvt: Missing KERNEL operand", usage=True)


@case("options only: missing kernel")
def _():
    fails(run(HVT, "--mem=64", "--"), "solo5-hvt: Missing KERNEL operand", usage=True)


@case("a kernel that does not exist")
def _():
    k = os.path.join(WORK, "nope")
    fails(run(HVT, k), "solo5-hvt: %s: No such file or directory" % k)


@case("a kernel that is a directory")
def _():
    fails(run(HVT, WORK), "solo5-hvt: %s: Is a directory" % WORK)


@case("a kernel that is not ELF")
def _():
    k = os.path.join(WORK, "text")
    with open(k, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    fails(run(HVT, k), "solo5-hvt: %s: Exec format error" % k, "not an ELF file")


@case("an empty kernel")
def _():
    k = blockfile(0, "empty")
    fails(run(SPT, k), "solo5-spt: %s: Exec format error" % k, tender="solo5-spt")


@case("an ELF image without the Solo5 ABI note")
def _():
    k = image("--no-abi")
    fails(run(HVT, k), "%s: Exec format error" % k, "no Solo5 ABI note")


@case("an ELF image without the Solo5 manifest")
def _():
    k = image("--no-manifest")
    fails(run(HVT, k), "%s: Exec format error" % k, "no Solo5 manifest note")


@case("hvt refuses an spt image")
def _():
    k = image("--target", "spt")
    fails(run(HVT, k), "solo5-hvt: %s: Solo5 ABI target mismatch: the executable is for spt" % k)


@case("spt refuses an hvt image")
def _():
    k = image()
    fails(run(SPT, k), "solo5-spt: %s: Solo5 ABI target mismatch: the executable is for hvt" % k,
          tender="solo5-spt")


@case("hvt refuses a virtio image")
def _():
    fails(run(HVT, image("--target", "virtio")), "the executable is for virtio")


@case("an image of ABI 3 is refused by an ABI 2 tender")
def _():
    k = image("--abi", "3")
    fails(run(HVT, k), "solo5-hvt: %s: Solo5 ABI version mismatch: the executable has "
          "version 3, this tender has 2" % k)


@case("ALB_TEST_TENDER_ABI=3: refuses ABI 2 images, runs ABI 3 images")
def _():
    fails(run(HVT, image(), env={"ALB_TEST_TENDER_ABI": "3"}), "Solo5 ABI version mismatch")
    succeeds(run(HVT, image("--abi", "3"), env={"ALB_TEST_TENDER_ABI": "3"}))


@case("an unknown option")
def _():
    fails(run(HVT, "--frobnicate", image()), "solo5-hvt: Invalid option: `--frobnicate'",
          usage=True)


@case("a single dash is an unknown option")
def _():
    fails(run(SPT, "-m", image("--target", "spt")), "solo5-spt: Invalid option: `-m'",
          usage=True, tender="solo5-spt")


@case("hvt: --dumpcore is unknown (release build)")
def _():
    fails(run(HVT, "--dumpcore=" + WORK, image()), "Invalid option: `--dumpcore=", usage=True)


@case("hvt: --x-exec-heap is unknown")
def _():
    fails(run(HVT, "--x-exec-heap", image()), "Invalid option: `--x-exec-heap'", usage=True)


@case("spt: --x-exec-heap is accepted, --dumpcore is not")
def _():
    k = image("--target", "spt")
    succeeds(run(SPT, "--x-exec-heap", k))
    fails(run(SPT, "--dumpcore=/tmp", k), "Invalid option", tender="solo5-spt")


@case("--mem: malformed values")
def _():
    for v in ["", "0", "-1", "abc", "64M", " 64", "99999999999999999999"]:
        fails(run(HVT, "--mem=" + v, image()), "solo5-hvt: Malformed argument to --mem")


@case("--mem: default 512, hvt rounds down to even and caps at 4096, spt does not")
def _():
    check("Memory map: 512 MB" in run(HVT, image()).out, "default")
    check("Memory map: 62 MB" in run(HVT, "--mem=63", image()).out, "round")
    check("Memory map: 4096 MB" in run(HVT, "--mem=8192", image()).out, "cap")
    check("Memory map: 63 MB" in run(SPT, "--mem=63", image("--target", "spt")).out, "spt")


@case("hvt --mem=1 rounds to nothing and is refused")
def _():
    fails(run(HVT, "--mem=1", image()), "Guest memory size too small")


@case("a declared block device not attached")
def _():
    fails(run(HVT, image("--block", "storage")),
          "solo5-hvt: Device 'storage' of type BLOCK_BASIC declared but not attached.")


@case("a declared net device not attached")
def _():
    fails(run(HVT, image("--net", "service0")),
          "solo5-hvt: Device 'service0' of type NET_BASIC declared but not attached.")


@case("one of two declared devices not attached")
def _():
    k = image("--block", "a", "--block", "b")
    fails(run(HVT, "--block:a=" + blockfile(512), k),
          "Device 'b' of type BLOCK_BASIC declared but not attached.")


@case("a block device the image does not declare")
def _():
    fails(run(HVT, "--block:storage=" + blockfile(512), image()),
          "solo5-hvt: Resource not declared in manifest: 'storage'",
          "Invalid option: `--block:storage=", usage=True)


@case("a net device the image does not declare")
def _():
    fails(run(HVT, "--net:service0=tap0", image()),
          "Resource not declared in manifest: 'service0'", usage=True)


@case("a net device attached with the block module")
def _():
    fails(run(HVT, "--block:service0=" + blockfile(512), image("--net", "service0")),
          "Resource not declared in manifest: 'service0'")


@case("a block device attached with the net module")
def _():
    fails(run(HVT, "--net:storage=tap0", image("--block", "storage")),
          "Resource not declared in manifest: 'storage'")


@case("the same block device given twice")
def _():
    b = blockfile(512)
    fails(run(HVT, "--block:storage=" + b, "--block:storage=" + b, image("--block", "storage")),
          "Resource already attached: 'storage'", usage=True)


@case("--block-sector-size given twice")
def _():
    b = blockfile(4096)
    fails(run(HVT, "--block:storage=" + b, "--block-sector-size:storage=512",
              "--block-sector-size:storage=1024", image("--block", "storage")),
          "Option given twice for 'storage'")


@case("--net-mac given twice")
def _():
    fails(run(HVT, "--net-mac:service0=02:00:00:00:00:01", "--net-mac:service0=02:00:00:00:00:02",
              image("--net", "service0")), "Option given twice for 'service0'")


@case("--net-mac for a net that is not given")
def _():
    fails(run(HVT, "--net-mac:service0=02:00:00:00:00:01", image("--net", "service0")),
          "Device 'service0' of type NET_BASIC declared but not attached.")


@case("--net-mac for a device the image does not declare")
def _():
    fails(run(HVT, "--net-mac:service0=02:00:00:00:00:01", image()),
          "Resource not declared in manifest: 'service0'")


@case("--block-sector-size for a block that is not given")
def _():
    fails(run(HVT, "--block-sector-size:storage=4096", image("--block", "storage")),
          "Device 'storage' of type BLOCK_BASIC declared but not attached.")


@case("bad MAC addresses")
def _():
    k = image("--net", "service0")
    for mac in ["zz:00:00:00:00:01", "02:00:00:00:00", "2:0:0:0:0:1", "02:00:00:00:00:01:02",
                "02-00-00-00-00-01", "02:00:00:00:00:0", "02:00:00:00:00:01 ", "0x:00:00:00:00:01"]:
        fails(run(HVT, "--net-mac:service0=" + mac, k),
              "solo5-hvt: Malformed MAC address: " + mac, "Invalid option", usage=True)


@case("bad sector sizes")
def _():
    k = image("--block", "storage")
    b = blockfile(8192)
    for s in ["0", "256", "1000", "4097", "abc", "-512", "+512", "99999999999"]:
        fails(run(HVT, "--block:storage=" + b, "--block-sector-size:storage=" + s, k),
              "solo5-hvt: Malformed sector size: " + s, "Invalid option")


@case("malformed device options")
def _():
    k = image("--block", "storage")
    b = blockfile(512)
    for opt in ["--block:=" + b, "--block:stor-age=" + b, "--block:storage=", "--block:storage",
                "--block:" + "a" * 68 + "=" + b, "--block-sector-size:storage", "--net:",
                "--net-mac:service0"]:
        fails(run(HVT, opt, k), "Invalid option: `%s'" % opt, usage=True)


@case("--net:NAME=@FD fails like Solo5 v0.12.1")
def _():
    fails(run(HVT, "--net:service0=@3", image("--net", "service0")),
          "solo5-hvt: Could not attach interface: @3: Success")
    fails(run(SPT, "--net:service0=@3", image("--net", "service0", "--target", "spt")),
          "solo5-spt: Could not attach interface: @3: Success", tender="solo5-spt")


@case("a block path that does not exist")
def _():
    p = os.path.join(WORK, "nope.img")
    fails(run(HVT, "--block:storage=" + p, image("--block", "storage")),
          "solo5-hvt: Could not open block device: %s: No such file or directory" % p)


@case("a block that is not a whole number of 512-byte sectors")
def _():
    p = blockfile(1000)
    fails(run(HVT, "--block:storage=" + p, image("--block", "storage")),
          "solo5-hvt: %s: Backing storage size must be block aligned (512 bytes)" % p)


@case("a block that is not a whole number of 4096-byte sectors")
def _():
    p = blockfile(4096 + 512)
    fails(run(HVT, "--block:storage=" + p, "--block-sector-size:storage=4096",
              image("--block", "storage")),
          "%s: Backing storage size must be block aligned (4096 bytes)" % p)


@case("blocks attached: sector counts in the banner, file kept intact")
def _():
    a, b = blockfile(8192, "a.img"), blockfile(1 << 20, "b.img")
    with open(a, "wb") as f:
        f.write(b"x" * 8192)
    k = image("--block", "a", "--block", "b")
    r = run(HVT, "--block-sector-size:a=4096", "--block:a=" + a, "--block:b=" + b, k)
    succeeds(r)
    check("Solo5: Device 'a' BLOCK_BASIC: %s, 2 sectors of 4096 bytes\n" % a in r.out, "a", r)
    check("Solo5: Device 'b' BLOCK_BASIC: %s, 2048 sectors of 512 bytes\n" % b in r.out, "b", r)
    with open(a, "rb") as f:
        check(f.read() == b"x" * 8192, "block content changed")


@case("an empty block file is a whole number of sectors")
def _():
    p = blockfile(0, "zero.img")
    succeeds(run(SPT, "--block:storage=" + p, image("--block", "storage", "--target", "spt")))


@case("a read-only block file is refused")
def _():
    if os.geteuid() == 0:
        return "SKIP root opens read-only files"
    p = blockfile(512, "ro.img")
    os.chmod(p, 0o444)
    fails(run(HVT, "--block:storage=" + p, image("--block", "storage")),
          "Could not open block device: %s: Permission denied" % p)


@case("guest command line of 8191 characters accepted, 8192 refused")
def _():
    k = image()
    a = ["x" * 4095, "y" * 4095]  # 4095 + 1 + 4095 = 8191
    r = run(HVT, k, *a)
    succeeds(r)
    check("Solo5: Application arguments: %s %s\n" % tuple(a) in r.out, "args line", r)
    fails(run(HVT, k, a[0], a[1] + "z"),
          "solo5-hvt: Guest command line too long (max=8191 characters)")


# --- the guest ------------------------------------------------------------------

@case("banner: bindings version, memory, arguments joined by spaces")
def _():
    k = image()
    r = run(HVT, "--mem=64", k, "a", "b c", "--d")
    succeeds(r)
    check("Solo5: Memory map: 64 MB addressable\n" in r.out, "memory", r)
    check("Solo5: Application arguments: a b c --d\n" in r.out, "arguments", r)
    check(r.err == "", "stderr", r)


@case("'--' ends the options; everything after the kernel goes to the guest")
def _():
    k = image()
    r = run(HVT, "--mem=64", "--", k, "--mem=8", "--exit=3")
    succeeds(r, 3)
    check("Solo5: Memory map: 64 MB" in r.out, "memory", r)
    check("Solo5: Application arguments: --mem=8 --exit=3\n" in r.out, "arguments", r)


@case("no instruction: solo5_exit(0)")
def _():
    r = run(HVT, image())
    succeeds(r)
    check(r.out.endswith("Solo5: Application arguments: \nSolo5: solo5_exit(0) called\n"), "", r)


@case("--exit=N exits N & 0xff and says so")
def _():
    k = image()
    for n, code in [(0, 0), (3, 3), (60, 60), (255, 255), (256, 0), (300, 44), (-1, 255)]:
        r = run(HVT, k, "--exit=%d" % n)
        succeeds(r, code)
        check(r.out.endswith("Solo5: solo5_exit(%d) called\n" % n), "message", r)


@case("--exit stops the guest: later instructions are not run")
def _():
    r = run(SPT, image("--target", "spt"), "--exit=5", "--hello=after")
    succeeds(r, 5)
    check("after" not in r.out.split("Application arguments")[1].split("\n", 1)[1], "", r)


@case("--lines=N prints N numbered lines")
def _():
    r = run(HVT, image(), "--lines=5")
    succeeds(r)
    body = r.out.split("Solo5: Application arguments: --lines=5\n")[1]
    check(body == "".join("line %d\n" % i for i in range(1, 6)) +
          "Solo5: solo5_exit(0) called\n", "", r)


@case("--lines=100000 all arrive, in order")
def _():
    r = run(HVT, image(), "--lines=100000")
    lines = [x for x in r.out.splitlines() if x.startswith("line ")]
    check(lines == ["line %d" % i for i in range(1, 100001)], "lines")


@case("--sleep=MS waits, then the next instruction runs")
def _():
    t = time.monotonic()
    r = run(HVT, image(), "--sleep=400", "--exit=2")
    dt = time.monotonic() - t
    succeeds(r, 2)
    check(0.4 <= dt < 10, "slept %.3f s" % dt)


@case("instructions run in order")
def _():
    r = run(HVT, image(), "--hello=one", "--lines=1", "--hello=two", "--exit=9")
    succeeds(r, 9)
    check(r.out.endswith("one\nline 1\ntwo\nSolo5: solo5_exit(9) called\n"), "", r)


@case("--hello prints on the console, --stderr on stderr")
def _():
    r = run(SPT, image("--target", "spt"), "--hello=hi there", "--stderr=oops")
    succeeds(r)
    lines = r.out.splitlines()
    check("hi there" in lines and r.err == "oops\n" and "oops" not in lines, "", r)


@case("unknown guest arguments are only printed")
def _():
    r = run(HVT, image(), "foo", "--exit=abc", "--bar")
    succeeds(r, 0)
    for a in ["foo", "--exit=abc", "--bar"]:
        check("argument: %s\n" % a in r.out, a, r)


@case("--abort exits 255 and says so")
def _():
    r = run(HVT, image(), "--abort", "--exit=3")
    succeeds(r, 255)
    check(r.out.endswith("Solo5: solo5_abort() called\n"), "", r)


@case("--signal=S: hvt and spt die by signal S (number or name)")
def _():
    for tender, k in [(HVT, image()), (SPT, image("--target", "spt"))]:
        for s, signo in [("9", 9), ("SEGV", 11), ("SIGSYS", 31), ("15", 15), ("INT", 2),
                         ("6", 6)]:
            r = run(tender, k, "--lines=2", "--signal=" + s)
            check(r.rc == -signo, "%s --signal=%s" % (tender, s), r)
            check("line 2\n" in r.out, "lines before the signal", r)


@case("--signal of a signal ignored by default continues")
def _():
    r = run(HVT, image(), "--signal=CHLD", "--signal=28", "--exit=4")
    succeeds(r, 4)


@case("--solo5:quiet: no banner, no exit message; --solo5:debug keeps them")
def _():
    r = run(HVT, image(), "--solo5:quiet", "--lines=1", "--exit=3")
    check(r.rc == 3 and r.out == "line 1\n", "", r)
    r = run(HVT, image(), "--solo5:warn", "--abort")
    check(r.rc == 255 and r.out == "Solo5: solo5_abort() called\n", "", r)
    r = run(HVT, image(), "--solo5:debug", "--exit=3")
    succeeds(r, 3)
    check("Application arguments: --solo5:debug --exit=3\n" in r.out, "", r)


def start(tender, *args, **kw):
    p = subprocess.Popen([tender, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, **kw)
    # Wait for the banner's last line: the guest is running.
    buf = b""
    deadline = time.monotonic() + TIMEOUT
    while b"Application arguments" not in buf and time.monotonic() < deadline:
        chunk = os.read(p.stdout.fileno(), 4096)
        if not chunk:
            break
        buf += chunk
    return p, buf


def finish(p, buf=b""):
    out, err = p.communicate(timeout=TIMEOUT)
    return Result(p, (buf + out).decode(), err.decode())


@case("--run: hvt exits 1 on SIGTERM, printing the signal")
def _():
    p, buf = start(HVT, image(), "--run")
    time.sleep(0.1)
    p.send_signal(signal.SIGTERM)
    r = finish(p, buf)
    check(r.rc == 1 and r.err == "solo5-hvt: Exiting on signal 15\n", "", r)


@case("--run: hvt exits 1 on SIGINT, printing the signal")
def _():
    p, buf = start(HVT, image(), "--run")
    p.send_signal(signal.SIGINT)
    r = finish(p, buf)
    check(r.rc == 1 and r.err == "solo5-hvt: Exiting on signal 2\n", "", r)


@case("hvt SIGTERM during --sleep")
def _():
    p, buf = start(HVT, image(), "--sleep=60000", "--exit=0")
    p.send_signal(signal.SIGTERM)
    r = finish(p, buf)
    check(r.rc == 1 and "Exiting on signal 15" in r.err, "", r)


@case("--run: spt dies by SIGTERM and SIGINT")
def _():
    k = image("--target", "spt")
    for s in [signal.SIGTERM, signal.SIGINT]:
        p, buf = start(SPT, k, "--run")
        p.send_signal(s)
        r = finish(p, buf)
        check(r.rc == -s and r.err == "", str(s), r)


@case("spt dies by SIGTERM even when started with SIGTERM ignored")
def _():
    def ignore():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    p, buf = start(SPT, image("--target", "spt"), "--run", preexec_fn=ignore)
    p.send_signal(signal.SIGTERM)
    r = finish(p, buf)
    check(r.rc == -signal.SIGTERM, "", r)


@case("SIGKILL kills either")
def _():
    for tender, k in [(HVT, image()), (SPT, image("--target", "spt"))]:
        p, buf = start(tender, k, "--run")
        p.kill()
        r = finish(p, buf)
        check(r.rc == -9, tender, r)


@case("--run keeps running")
def _():
    p, buf = start(HVT, image(), "--run")
    time.sleep(0.5)
    check(p.poll() is None, "exited: %r" % p.poll())
    p.kill()
    p.wait()


@case("a console FIFO whose reader is gone: SIGPIPE ignored, the guest goes on")
def _():
    fifo = os.path.join(WORK, "console")
    os.mkfifo(fifo)
    rd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    wr = os.open(fifo, os.O_WRONLY)
    os.close(rd)
    try:
        p = subprocess.run([HVT, image(), "--lines=1000", "--exit=7"], stdin=subprocess.DEVNULL,
                           stdout=wr, stderr=subprocess.PIPE, timeout=TIMEOUT)
    finally:
        os.close(wr)
        os.unlink(fifo)
    check(p.returncode == 7, "rc %r stderr %r" % (p.returncode, p.stderr))


@case("a console FIFO read by someone: everything arrives")
def _():
    fifo = os.path.join(WORK, "console2")
    os.mkfifo(fifo)
    rd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    wr = os.open(fifo, os.O_WRONLY)
    os.set_blocking(rd, True)
    p = subprocess.Popen([HVT, image(), "--lines=3000", "--exit=0"], stdin=subprocess.DEVNULL,
                         stdout=wr, stderr=subprocess.DEVNULL)
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


# --- network (root, private namespace) ----------------------------------------------

def ip(*args, check_rc=True):
    return subprocess.run(["ip", *args], check=check_rc, capture_output=True)


def tap(name, up=True):
    ip("tuntap", "add", "dev", name, "mode", "tap")
    if up:
        ip("link", "set", name, "up")


def net_image(*names, target="hvt"):
    opts = ["--target", target]
    for n in names:
        opts += ["--net", n]
    return image(*opts)


@case("a tap that exists and is up is attached; the banner names it", net=True)
def _():
    tap("tap0")
    r = run(HVT, "--net:service0=tap0", net_image("service0"))
    succeeds(r)
    check("Solo5: Device 'service0' NET_BASIC: tap0, mac " in r.out, "banner", r)


@case("spt attaches a tap too", net=True)
def _():
    tap("tapspt")
    succeeds(run(SPT, "--net:service0=tapspt", net_image("service0", target="spt")))


@case("--net-mac sets the MAC, before or after --net", net=True)
def _():
    tap("tapmac")
    k = net_image("service0")
    for opts in [["--net-mac:service0=02:AB:cd:00:00:01", "--net:service0=tapmac"],
                 ["--net:service0=tapmac", "--net-mac:service0=02:AB:cd:00:00:01"]]:
        r = run(HVT, *opts, k)
        succeeds(r)
        check("NET_BASIC: tapmac, mac 02:ab:cd:00:00:01\n" in r.out, "mac", r)


@case("without --net-mac the MAC is random at every start", net=True)
def _():
    tap("taprnd")
    k = net_image("service0")
    macs = set()
    for _ in range(3):
        r = run(HVT, "--net:service0=taprnd", k)
        succeeds(r)
        macs.add(r.out.split("NET_BASIC: taprnd, mac ")[1].split("\n")[0])
    check(len(macs) == 3, "macs %r" % macs)


@case("a tap that does not exist", net=True)
def _():
    fails(run(HVT, "--net:service0=tapnone", net_image("service0")),
          "solo5-hvt: Could not attach interface: tapnone: No such file or directory")
    check(ip("link", "show", "tapnone", check_rc=False).returncode != 0, "tap created")


@case("a tap that is down", net=True)
def _():
    tap("tapdown", up=False)
    fails(run(HVT, "--net:service0=tapdown", net_image("service0")),
          "solo5-hvt: Could not attach interface: tapdown: Network is down")


@case("an interface that is not a tap", net=True)
def _():
    ip("link", "set", "lo", "up")
    fails(run(HVT, "--net:service0=lo", net_image("service0")),
          "solo5-hvt: Could not attach interface: lo: ")


@case("an interface name longer than IFNAMSIZ", net=True)
def _():
    fails(run(HVT, "--net:service0=tap0123456789abcd", net_image("service0")),
          "Could not attach interface: tap0123456789abcd: File name too long")


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
        r = run(HVT, "--net:service0=tapperm", k, preexec_fn=drop)
        fails(r, "solo5-hvt: Could not attach interface: tapperm: ")
    finally:
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)


@case("the same net given twice", net=True)
def _():
    tap("tapdup")
    fails(run(HVT, "--net:service0=tapdup", "--net:service0=tapdup", net_image("service0")),
          "Resource already attached: 'service0'", usage=True)


@case("two nets declared, one attached", net=True)
def _():
    tap("tapone")
    fails(run(HVT, "--net:a=tapone", net_image("a", "b")),
          "Device 'b' of type NET_BASIC declared but not attached.")


@case("nets and blocks together", net=True)
def _():
    tap("tapmix1")
    tap("tapmix2")
    k = image("--net", "a", "--block", "disk", "--net", "b")
    r = run(HVT, "--net:b=tapmix2", "--block:disk=" + blockfile(4096), "--net:a=tapmix1", k,
            "--exit=6")
    succeeds(r, 6)
    for s in ["'a' NET_BASIC: tapmix1", "'b' NET_BASIC: tapmix2", "'disk' BLOCK_BASIC: "]:
        check(s in r.out, s, r)


@case("the tap has carrier while the tender runs, none after SIGTERM", net=True)
def _():
    tap("tapcar")

    def carrier():
        # /sys shows the host's namespace: ask the kernel through ip instead.
        out = ip("-o", "link", "show", "tapcar").stdout.decode()
        return "0" if "NO-CARRIER" in out else "1"
    p, buf = start(HVT, "--net:service0=tapcar", net_image("service0"), "--run")
    c = carrier()
    p.send_signal(signal.SIGTERM)
    r = finish(p, buf)
    check(c == "1", "carrier while running: %r" % c)
    check(r.rc == 1 and "Exiting on signal 15" in r.err, "", r)
    check(carrier() == "0", "carrier after SIGTERM")


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
                           capture_output=True, timeout=300)
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
    with tempfile.TemporaryDirectory(prefix="test-tender-") as work:
        WORK = work
        print("1..%d" % (len(CASES) + len(NET_CASES)), flush=True)
        i = 0
        for desc, fn in CASES:
            i += 1
            report(i, desc, outcome(fn))
        for (desc, _), res in zip(NET_CASES, net_results()):
            i += 1
            report(i, desc, res)
    return 0


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
