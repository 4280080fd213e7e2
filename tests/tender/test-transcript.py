#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Runs the transcript (transcript.py) against the test tender and a real Solo5. Prints TAP.

usage: test-transcript.py SOLO5-HVT SOLO5-SPT MKIMAGE

test-tender.py (the meson test `tender`) runs it too, after its own cases.

Every case runs twice: against the test tender given here, and against the real tenders of
Solo5 v0.12.1 when they are installed: $ALB_SOLO5_DIR/bin/solo5-spt and solo5-hvt (a prefix
Solo5 was installed into), else solo5-spt and solo5-hvt on $PATH. Cases whose unikernel must
run use Solo5's own test images, from $ALB_SOLO5_TESTS (the tests/ folder of a built Solo5
tree). What is missing is reported as a TAP skip, with the reason.
"""
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from transcript import ANY, CASES, Re  # noqa: E402

TIMEOUT = 60  # seconds: a cap, never a pace
REAL_VERSION = "v0.12.1"

MKIMAGE = None
WORK = None


class Side:
    """One set of tenders: the stand-in or the real Solo5. why[tender]: why it cannot run."""

    def __init__(self, label, tenders, why=None, tests=None, tests_why=None):
        self.label, self.tenders, self.tests = label, tenders, tests
        self.why, self.tests_why = why or {}, tests_why


def find_real():
    prefix = os.environ.get("ALB_SOLO5_DIR")
    if prefix:
        tenders = {t: os.path.join(prefix, "bin", "solo5-" + t) for t in ("spt", "hvt")}
        where = "in ALB_SOLO5_DIR=%s" % prefix
    else:
        tenders = {t: shutil.which("solo5-" + t) for t in ("spt", "hvt")}
        where = "on $PATH and ALB_SOLO5_DIR is not set"
    why = {}
    for t, path in tenders.items():
        if not path or not os.access(path, os.X_OK):
            why[t] = "no real Solo5: solo5-%s is not %s" % (t, where)
            continue
        try:
            p = subprocess.run([path, "--version"], capture_output=True, timeout=TIMEOUT)
            text = (p.stdout + p.stderr).decode(errors="replace")
        except (OSError, subprocess.TimeoutExpired) as e:
            why[t] = "%s --version: %s" % (path, e)
            continue
        if "version %s" % REAL_VERSION not in text or "ABI version 2" not in text:
            why[t] = "%s is not Solo5 %s, ABI 2 (the transcript's): %r" % (
                path, REAL_VERSION, text.strip())
    tests = os.environ.get("ALB_SOLO5_TESTS")
    tests_why = None
    if not tests:
        tests_why = "no Solo5 test images (set ALB_SOLO5_TESTS to a built Solo5's tests/)"
    elif not os.path.isdir(tests):
        tests_why = "ALB_SOLO5_TESTS=%s is not a directory" % tests
    return Side("real", tenders, why, None if tests_why else tests, tests_why)


_images = {}


def mkimage(target, opts, patch=None):
    if "--target" not in opts:
        opts = ["--target", target] + opts
    key = (" ".join(opts), patch)
    if key not in _images:
        path = os.path.join(WORK, "img%d" % len(_images))
        subprocess.run([MKIMAGE, path, *opts], check=True)
        if patch:
            find, offset, data = patch
            with open(path, "r+b") as f:
                image = f.read()
                at = image.index(find) + offset
                f.seek(at)
                f.write(data)
        _images[key] = path
    return _images[key]


def real_image(tests, name, target):
    base, _, ext = name.partition(".")
    return os.path.join(tests, base, "%s.%s" % (base, ext or target))


def fill(s, values, regex=False):
    for k, v in values.items():
        s = s.replace("{%s}" % k, re.escape(v) if regex else v)
    return s


def expect_stream(what, text, spec, values):
    """None if text fits spec, else why not."""
    if spec is None:
        return None
    if isinstance(spec, str) and not isinstance(spec, Re):
        want = fill(spec, values)
        return None if text == want else "%s: want %r, got %r" % (what, want[-800:], text[-800:])
    if text and not text.endswith("\n"):
        return "%s: does not end with a newline: %r" % (what, text[-300:])
    lines = text.split("\n")[:-1] if text else []
    pats = []
    for item in spec:
        if item is ANY:
            pats.append(ANY)
        elif isinstance(item, Re):
            pats.append(re.compile(fill(item, values, regex=True) + r"\Z"))
        else:
            pats.append(fill(item, values))

    def match(i, j):
        if j == len(pats):
            return i == len(lines)
        p = pats[j]
        if p is ANY:
            return any(match(k, j + 1) for k in range(i, len(lines) + 1))
        if i == len(lines):
            return False
        ok = p.match(lines[i]) if hasattr(p, "match") else lines[i] == p
        return bool(ok) and match(i + 1, j + 1)

    if match(0, 0):
        return None
    show = [x if x is not ANY else "..." for x in spec]
    return "%s: want lines %r, got %r" % (what, show[-20:], lines[-40:])


def needs_why(case):
    for n in case.needs:
        if n == "no-kvm" and os.path.exists("/dev/kvm"):
            return "this host has /dev/kvm: the case expects a host without KVM"
        if n == "overcommit":
            try:
                with open("/proc/sys/vm/overcommit_memory") as f:
                    if f.read().strip() == "1":
                        return "vm.overcommit_memory is 1: any guest memory is granted"
            except OSError:
                pass
    return None


def run_case(case, side, n):
    """None if the case passes on this side, "SKIP why" or the failure."""
    if case.tender in side.why:
        return "SKIP " + side.why[case.tender]
    why = needs_why(case)
    if why:
        return "SKIP " + why
    d = os.path.join(WORK, "%s-%d" % (side.label, n))
    os.mkdir(d)
    values = {"dir": d}
    for name, content in case.files.items():
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            if isinstance(content, int):
                f.truncate(content)
            else:
                f.write(content)
        values[name] = path
    real = side.label == "real"
    if case.kernel is not None:
        if real and case.kernel.real:
            if not side.tests:
                return "SKIP " + side.tests_why
            values["kernel"] = real_image(side.tests, case.kernel.real, case.tender)
            if not os.path.exists(values["kernel"]):
                return "SKIP %s is not in %s" % (os.path.basename(values["kernel"]), side.tests)
        else:
            values["kernel"] = mkimage(case.tender, case.kernel.mk, case.kernel.patch)
    args = [fill(a, values) for a in case.args] + (case.guest.real if real else
                                                  case.guest.standin)
    tender = side.tenders[case.tender]
    argv = [case.argv0 or tender] + args

    env = dict(os.environ)
    for k in ("ALB_TEST_TENDER_ABI", "ALB_TEST_TENDER_KVM"):
        env.pop(k, None)
    ignore = [getattr(signal, "SIG" + s) for s in case.ignore]

    def child():
        # A clean start whatever this script inherited (a background job of a
        # non-interactive shell has SIGINT ignored), then what the case asks for.
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(s, signal.SIG_DFL)
        for s in ignore:
            signal.signal(s, signal.SIG_IGN)
        if case.console == "closed":
            os.close(1)

    stdout = subprocess.PIPE
    broken = None
    if case.console == "broken-pipe":
        r, broken = os.pipe()
        os.close(r)
        stdout = broken
    elif case.console == "closed":
        stdout = subprocess.DEVNULL
    try:
        p = subprocess.Popen(argv, executable=tender, stdin=subprocess.DEVNULL, stdout=stdout,
                             stderr=subprocess.PIPE, env=env, preexec_fn=child, cwd=d)
    finally:
        if broken is not None:
            os.close(broken)
    out = b""
    try:
        if case.send:
            sig, pat = case.send
            pat = re.compile(fill(pat, values, regex=True))
            deadline = time.monotonic() + TIMEOUT
            while not any(pat.match(x) for x in out.decode(errors="replace").split("\n")):
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([p.stdout], [], [], left)[0]:
                    p.kill()
                    p.communicate()
                    return "no stdout line matching %r within %d s: %r" % (
                        pat.pattern, TIMEOUT, out[-500:])
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
            p.send_signal(getattr(signal, "SIG" + sig))
        more, err = p.communicate(timeout=TIMEOUT)
        out += more or b""
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return "did not finish in %d s" % TIMEOUT
    out_s, err_s = out.decode(errors="replace"), err.decode(errors="replace")
    problems = []
    if case.signal is not None:
        if p.returncode != -case.signal:
            problems.append("want death by signal %d, got status %r" % (case.signal,
                                                                         p.returncode))
    elif p.returncode != case.status:
        problems.append("want exit %d, got %r" % (case.status, p.returncode))
    for what, text, spec in (("stdout", out_s, case.stdout if case.console is None else None),
                             ("stderr", err_s, case.stderr)):
        why = expect_stream(what, text, spec, values)
        if why:
            problems.append(why)
    for pat in case.never:
        bad = [x for x in out_s.split("\n") if pat.search(x)]
        if bad:
            problems.append("stdout has %r: %r" % (pat.pattern, bad[:3]))
    return "\n".join(problems) or None


COUNT = 2 * len(CASES)  # each case: the stand-in, then the real tenders


def results(hvt, spt, mkimage, work):
    """Yields (description, None | "SKIP why" | what failed) for every case, both sides."""
    global MKIMAGE, WORK
    MKIMAGE, WORK = mkimage, tempfile.mkdtemp(prefix="transcript-", dir=work)
    sides = [Side("stand-in", {"hvt": hvt, "spt": spt}), find_real()]
    for n, case in enumerate(CASES):
        for side in sides:
            name = case.name
            if not name.startswith(case.tender):
                name = "%s: %s" % (case.tender, name)
            try:
                res = run_case(case, side, n)
            except Exception as e:  # noqa: BLE001 - a test error is a failure
                res = "%s: %s" % (type(e).__name__, e)
            yield "transcript, %s: %s" % (side.label, name), res


def main():
    if len(sys.argv) != 4:
        print("usage: test-transcript.py SOLO5-HVT SOLO5-SPT MKIMAGE", file=sys.stderr)
        return 2
    hvt, spt, mkimage = (os.path.abspath(x) for x in sys.argv[1:4])
    with tempfile.TemporaryDirectory(prefix="test-transcript-") as work:
        print("1..%d" % COUNT, flush=True)
        for i, (desc, res) in enumerate(results(hvt, spt, mkimage, work), 1):
            if res is None:
                print("ok %d - %s" % (i, desc), flush=True)
            elif res.startswith("SKIP "):
                print("ok %d - %s # SKIP %s" % (i, desc, res[5:]), flush=True)
            else:
                print("not ok %d - %s" % (i, desc), flush=True)
                for line in res.splitlines():
                    print("# " + line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
