#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Integration tests with the REAL Solo5 tenders: the real albatrossd,
albatross-console, albatross-log and albatross-tls-endpoint, driven by the real
albatross-client, run Solo5's own test images and the unikernels of tests/solo5/
(built here with tests/solo5/build.sh), as root in a private network namespace.

The tenders are found through ALB_SOLO5_DIR (a prefix with bin/solo5-spt), else
solo5-spt / solo5-hvt on $PATH; without them the suite is skipped (exit 77).
Solo5's test images come from ALB_SOLO5_TESTS (the tests/ folder of a built Solo5
tree); the cases that need them are skipped without it. Our unikernels need the
toolchain in the prefix (bin/ARCH-solo5-none-static-cc); cases that need them are
skipped without it. spt is used everywhere; hvt too where /dev/kvm exists; without
KVM, an hvt image must be refused and solo5-hvt listed as unusable.

A skip prints "1..0 # SKIP reason" and exits 77 (ALB_SKIP_STATUS if set).

usage: test-solo5.py ALBATROSSD CLIENT CONSOLE LOG ENDPOINT BUILD_SH"""
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Daemon, Skip, Tap, alive, check, kill_monitors,  # noqa: E402
                     link_exists, link_master, require_netns, taps)

# The exit status of a skip: 77 (automake's), or ALB_SKIP_STATUS (meson.build sets 0:
# meson 1.0 counts any other status of a TAP test as an error, and reports a plan of
# "1..0 # SKIP" with status 0 as skipped).
SKIP = int(os.environ.get('ALB_SKIP_STATUS', '77'))


def skip_all(reason):
    print(f'1..0 # SKIP {reason}', flush=True)
    sys.exit(SKIP)


def find_solo5():
    """(tender directory, prefix) of the real Solo5 tenders, or None."""
    prefix = os.environ.get('ALB_SOLO5_DIR')
    if prefix and os.access(os.path.join(prefix, 'bin', 'solo5-spt'), os.X_OK):
        prefix = os.path.abspath(prefix)
        return os.path.join(prefix, 'bin'), prefix
    for name in ('solo5-spt', 'solo5-hvt'):
        p = shutil.which(name)
        if p:
            d = os.path.dirname(os.path.abspath(p))
            return d, os.path.dirname(d)
    return None


_found = find_solo5()
if not _found:
    why = ('ALB_SOLO5_DIR=%s has no bin/solo5-spt, and ' % os.environ['ALB_SOLO5_DIR']
           if os.environ.get('ALB_SOLO5_DIR') else 'ALB_SOLO5_DIR is not set and ')
    skip_all(f'no real Solo5: {why}neither solo5-spt nor solo5-hvt is on PATH')
if len(sys.argv) < 7:
    print(__doc__.strip().splitlines()[-1], file=sys.stderr)
    sys.exit(2)
if os.environ.get('ALB_IN_NETNS') != '1':
    # what require_netns() would skip for, with our skip status
    if os.geteuid() != 0:
        skip_all('needs root for taps and a network namespace')
    if not shutil.which('unshare') or not shutil.which('ip'):
        skip_all('needs unshare (util-linux) and ip (iproute2)')
require_netns(sys.argv)

TENDER_DIR, PREFIX = _found
PATHS = dict(zip(('albatrossd', 'client', 'console', 'log', 'endpoint', 'build'),
                 (os.path.abspath(a) for a in sys.argv[1:7])))
PATHS['tender_dir'] = TENDER_DIR
SPT = os.path.join(TENDER_DIR, 'solo5-spt')
HVT = os.path.join(TENDER_DIR, 'solo5-hvt')
SPT = SPT if os.access(SPT, os.X_OK) else None
HVT = HVT if os.access(HVT, os.X_OK) else None
KVM = os.path.exists('/dev/kvm')
SOLO5_TESTS = os.environ.get('ALB_SOLO5_TESTS')
TARGETS = [t for t, ok in (('spt', SPT), ('hvt', HVT and KVM)) if ok]
TENDERS = {'spt': SPT, 'hvt': HVT}
FAST = ['--restart-backoff', '200', '--crash-loop', '4/60', '--stop-timeout', '3']
BANNER = '\\__ \\ (   | | (   |  ) |'  # Solo5's banner, third line, as printed
TOP = tempfile.mkdtemp(prefix='alb-solo5-', dir=os.environ.get('TMPDIR'))
os.chmod(TOP, 0o711)
tap = Tap()


def diag(text):
    for line in str(text).splitlines():
        print(f'# {line}', flush=True)


# ---- our unikernels, built now ----

OURS = os.path.join(TOP, 'unikernels')
BUILT = {}  # target -> None (built) or why not


def toolchain(target):
    """Why the prefix cannot build for target, or None."""
    import glob
    if not glob.glob(os.path.join(PREFIX, 'bin', '*-solo5-none-static-cc')):
        return f'no Solo5 toolchain in {PREFIX} (bin/ARCH-solo5-none-static-cc)'
    if not glob.glob(os.path.join(PREFIX, 'lib', '*-solo5-none-static', f'solo5_{target}.o')):
        return f'the Solo5 toolchain in {PREFIX} has no {target} bindings'
    return None


def build_ours():
    for target in ('spt', 'hvt'):
        BUILT[target] = toolchain(target)
        if BUILT[target]:
            continue
        r = subprocess.run(['sh', PATHS['build'], PREFIX, OURS, target], capture_output=True,
                           text=True, timeout=600)
        if r.returncode != 0:  # a toolchain that is there must build them
            BUILT[target] = AssertionError(f'tests/solo5/build.sh {PREFIX} {OURS} {target}: '
                                           f'exit {r.returncode}\n{r.stderr}')


def ours(name, target='spt'):
    """Our unikernel name built for target (built at first use): SKIP without the
    toolchain, fails if the build failed."""
    if target not in BUILT:
        build_ours()
    if isinstance(BUILT[target], Exception):
        raise BUILT[target]
    if BUILT[target]:
        raise Skip(BUILT[target])
    return os.path.join(OURS, f'{name}.{target}')


def solo5_test(name, target='spt'):
    if not SOLO5_TESTS:
        raise Skip("ALB_SOLO5_TESTS is not set (the tests/ folder of a built Solo5 tree)")
    p = os.path.join(SOLO5_TESTS, name, f'{name}.{target}')
    if not os.path.exists(p):
        raise Skip(f'no {p}')
    return p


def direct_console(image, target='spt', mem=32, args=()):
    """The console lines of the image run by the tender itself, as albatrossd runs it."""
    r = subprocess.run([TENDERS[target], f'--mem={mem}', '--', image] + list(args),
                       capture_output=True, timeout=60)
    out = r.stdout.decode(errors='replace').split('\n')
    if out and out[-1] == '':
        out.pop()
    return r.returncode, out


def probe_version(tender):
    r = subprocess.run([tender, '--version'], capture_output=True, text=True, timeout=30)
    text = r.stdout + r.stderr
    v = re.search(r'tender, version (\S+)', text)
    a = re.search(r'ABI version (\d+)', text)
    return (v.group(1) if v else None), (int(a.group(1)) if a else None)


# ---- waiting, with generous caps ----

def poll(fn, timeout=30.0, step=0.05):
    """Calls fn until it returns something true or timeout seconds passed; returns
    the last value (so that a failed wait can show what was seen)."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


def wait(fn, timeout, what, show=None):
    v = poll(fn, timeout)
    if not v:
        extra = f'; last seen: {show()}' if show else ''
        raise AssertionError(f'timed out after {timeout}s waiting for {what}{extra}')
    return v


# ---- the host side ----

def children(pid):
    """Pids whose parent is pid."""
    out = []
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            with open(f'/proc/{p}/stat') as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(')') + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid and fields[0] != 'Z':
            out.append(int(p))
    return out


def ip(*args):
    subprocess.run(['ip'] + list(args), check=True, capture_output=True)


class Address:
    """An address on a bridge of the namespace, removed afterwards."""

    def __init__(self, cidr, dev='br0'):
        self.cidr, self.dev = cidr, dev

    def __enter__(self):
        ip('addr', 'add', self.cidr, 'dev', self.dev)
        return self

    def __exit__(self, *exc):
        subprocess.run(['ip', 'addr', 'del', self.cidr, 'dev', self.dev], capture_output=True)
        subprocess.run(['ip', 'neigh', 'flush', 'dev', self.dev], capture_output=True)


def _checksum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack(f'!{len(b) // 2}H', b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


_seq = [0]


def ping(addr, timeout=1.0):
    """One ICMP echo request to addr (a raw socket, as root); True if the reply came."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    try:
        _seq[0] += 1
        ident, seq = os.getpid() & 0xffff, _seq[0] & 0xffff
        payload = b'albatross-solo5-test'
        h = struct.pack('!BBHHH', 8, 0, 0, ident, seq)
        s.sendto(struct.pack('!BBHHH', 8, 0, _checksum(h + payload), ident, seq) + payload,
                 (addr, 0))
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not select.select([s], [], [], max(0.0, end - time.monotonic()))[0]:
                break
            data, src = s.recvfrom(4096)
            ihl = (data[0] & 15) * 4
            t, _, _, i, sq = struct.unpack('!BBHHH', data[ihl:ihl + 8])
            if (src[0] == addr and t == 0 and i == ident and sq == seq
                    and data[ihl + 8:] == payload):
                return True
        return False
    finally:
        s.close()


def neighbour_mac(addr, dev='br0'):
    r = subprocess.run(['ip', 'neigh', 'show', addr, 'dev', dev], capture_output=True,
                       text=True)
    m = re.search(r'lladdr ([0-9a-f:]{17})', r.stdout)
    return m.group(1) if m else None


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- the daemons ----

class Setup:
    """albatrossd on the real tenders, with albatross-console and albatross-log (and
    albatross-tls-endpoint on request) sharing its --rundir, in a temporary dir."""

    def __init__(self, console=True, log=True, extra=FAST, console_args=()):
        self.d = Daemon(PATHS, extra=extra)
        self.console_args = list(console_args)
        self.dir = self.d.dir
        self.want = [n for n, on in (('console', console), ('log', log)) if on]
        self.procs = {}
        self.offsets = {}

    # helpers
    def logpath(self, name):
        return os.path.join(self.dir, f'{name}.log')

    def text(self, name):
        try:
            with open(self.logpath(name), errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def start_helper(self, name, args=(), ready=True, cwd=None):
        os.makedirs(self.d.rundir, exist_ok=True)
        extra = {'log': ['--logdir', os.path.join(self.dir, 'eventlog')],
                 'console': self.console_args}.get(name, [])
        with open(self.logpath(name), 'a') as f:
            self.offsets[name] = f.tell()
            p = subprocess.Popen([PATHS[name], '--rundir', self.d.rundir, '-vv'] + extra +
                                 list(args), stdout=f, stderr=f, cwd=cwd)
        self.procs[name] = p
        if ready:
            wait(lambda: 'notice: ready' in self.text(name)[self.offsets[name]:]
                 or p.poll() is not None, 15, f'albatross-{name} to be ready')
            check(p.poll() is None, f'albatross-{name} exited: {self.text(name)}')
        return p

    def stop_helper(self, name, sig=signal.SIGTERM):
        p = self.procs.pop(name, None)
        if p and p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                raise AssertionError(f'albatross-{name} did not stop')
        return p.returncode if p else None

    def __enter__(self):
        try:
            for name in self.want:
                self.start_helper(name)
            self.d.start()
        except BaseException:
            self.cleanup(failed=True)
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        self.cleanup(failed=exc_type is not None and exc_type is not Skip)

    def cleanup(self, failed=False):
        if failed:
            diag('albatrossd log (tail):')
            diag(self.d.log_text()[-4000:] or '(empty)')
            for name in ('console', 'log', 'endpoint'):
                if os.path.exists(self.logpath(name)):
                    diag(f'albatross-{name} log (tail):')
                    diag(self.text(name)[-2500:] or '(empty)')
            if 'console' in self.procs:
                for name in sorted(set(re.findall(r"Started '([^']+)'", self.d.log_text()))):
                    lines = self.console(name)
                    diag(f'console of {name} (tail):')
                    diag('\n'.join((lines or ['(none)'])[-25:]))
        for name in list(self.procs):
            try:
                self.stop_helper(name)
            except AssertionError:
                pass
        self.d.cleanup()

    # albatrossd
    def create(self, name, image, *args, mem=32):
        return self.d.ok('create', name, image, '--mem', str(mem), *args)

    def exits(self, name):
        """How many runs of name ended, from albatrossd's own log."""
        pat = re.compile(r"'%s' \(pid \d+\) (exited with code|was killed by signal) (\d+)"
                         % re.escape(name))
        return [('exited' if m.group(1).startswith('exited') else 'killed', int(m.group(2)))
                for m in pat.finditer(self.d.log_text())]

    def wait_exits(self, name, n=1, timeout=60):
        wait(lambda: len(self.exits(name)) >= n, timeout, f'{n} exit(s) of {name}',
             lambda: self.exits(name))
        return self.exits(name)

    def listed(self, name):
        r = self.d.cli('info', name, '--json')
        return json.loads(r.stdout) if r.returncode == 0 else None

    def images(self):
        try:
            return os.listdir(os.path.join(self.d.dbdir, 'images'))
        except FileNotFoundError:
            return []

    # albatross-console, through the CLI
    def console(self, name, *args, json_=True):
        r = subprocess.run([PATHS['client'], '--rundir', self.d.rundir, 'console', name] +
                           (['--json'] if json_ else []) + list(args), capture_output=True,
                           timeout=60)
        if r.returncode != 0:
            return None
        if not json_:
            return r.stdout.decode(errors='replace').split('\n')[:-1]
        return [e['line'] for e in json.loads(r.stdout)]

    def console_entries(self, name):
        r = subprocess.run([PATHS['client'], '--rundir', self.d.rundir, 'console', name,
                            '--json'], capture_output=True, timeout=60)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def wait_console(self, name, pred, timeout=30, what='console output'):
        last = [None]

        def probe():
            last[0] = self.console(name)
            return last[0] is not None and pred(last[0])
        if not poll(probe, timeout):
            raise AssertionError(f'timed out after {timeout}s waiting for {what} of {name}; '
                                 f'console has ({len(last[0] or [])} lines, the last 30): '
                                 f'{json.dumps((last[0] or [])[-30:], indent=0)}')
        return last[0]

    # albatross-log, through the CLI
    def events(self, name=None):
        r = subprocess.run([PATHS['client'], '--rundir', self.d.rundir, 'log', '--json'] +
                           ([name] if name else []), capture_output=True, text=True,
                           timeout=60)
        return json.loads(r.stdout) if r.returncode == 0 else []


def same_lines(got, want, what):
    if got == want:
        return
    diff = [f'line {i + 1}: got {g!r}, expected {w!r}'
            for i, (g, w) in enumerate(zip(got, want)) if g != w]
    raise AssertionError(f'{what}: {len(got)} lines, expected {len(want)}; '
                         + ('; '.join(diff[:5]) or f'got {got!r}'))


def check_hello_console(got, want, what):
    """test_hello's whole console: the 17 lines the tender prints, exactly."""
    same_lines(got, want, what)
    check(len(got) == 17, f'{what}: {len(got)} lines, test_hello prints 17')
    check(BANNER in got, f'{what}: the banner line {BANNER!r} is not there as printed: {got}')
    check('Hello, World' in got, f'{what}: no "Hello, World"')
    check(got[-1] == 'Solo5: solo5_exit(0) called', f'{what}: last line {got[-1]!r}')


def expected_hello(target):
    img = solo5_test('test_hello', target)
    rc, want = direct_console(img, target)
    check(rc == 0 and len(want) == 17 and BANNER in want,
          f'{img} run directly: exit {rc}, {len(want)} lines: {want}')
    return img, want


# ---- the cases ----

@tap.case
def test_tenders(_):
    """tenders finds the real solo5-spt: target spt, ABI 2, its version; hvt usable iff KVM"""
    if not SPT:
        raise Skip(f'no solo5-spt in {TENDER_DIR}')
    version, abi = probe_version(SPT)
    diag(f'{SPT} --version: version {version}, ABI {abi}')
    check(version and abi == 2, f'{SPT} --version says version {version}, ABI {abi}')
    if version != 'v0.12.1':
        diag(f'note: this Solo5 is {version}, the suite was written against v0.12.1')
    with Setup(console=False, log=False) as s:
        v = json.loads(s.d.ok('tenders', '--json').stdout)
        real = os.path.realpath(SPT)
        spt = [t for t in v if os.path.realpath(t['path']) == real]
        check(len(spt) == 1, f'{SPT} listed {len(spt)} times, not once: {v}')
        t = spt[0]
        check(t['name'] == 'solo5-spt' and t['target'] == 'spt', t)
        check(t['abi'] == 2, f'ABI {t["abi"]}, expected 2: {t}')
        check(t['version'] == version, f'version {t["version"]!r}, the tender says {version}')
        check(t['usable'] is True, f'solo5-spt not usable: {t}')
        text = s.d.ok('tenders').stdout
        check(re.search(r'^solo5-spt\s+spt\s+2\s+%s\s+yes\s+%s$' % (re.escape(version),
                                                                     re.escape(t['path'])),
                        text, re.M), f'text output: {text}')
        if HVT:
            real = os.path.realpath(HVT)
            hvt = [x for x in v if os.path.realpath(x['path']) == real]
            check(len(hvt) == 1, f'{HVT} listed {len(hvt)} times, not once: {v}')
            h = hvt[0]
            check(h['target'] == 'hvt' and h['abi'] == 2, h)
            if KVM:
                check(h['usable'] is True, f'solo5-hvt unusable with /dev/kvm: {h}')
            else:
                why = h.get('unusable', '')
                check(h['usable'] is False, f'solo5-hvt listed usable without KVM: {h}')
                check('KVM' in why and 'spt' in why, f'the reason does not say KVM/spt: {h}')


@tap.case
def test_hvt_without_kvm(_):
    """without /dev/kvm: an hvt image is refused at create (build for spt or enable KVM)"""
    if KVM:
        raise Skip('this host has /dev/kvm: hvt images run in the other cases')
    if not HVT:
        raise Skip(f'no solo5-hvt in {TENDER_DIR}')
    imgs = []
    for fn in (lambda: ours('hello', 'hvt'), lambda: solo5_test('test_hello', 'hvt')):
        try:
            imgs.append(fn())
        except Skip as e:
            diag(f'hvt image: {e}')
    if not imgs:
        raise Skip('no hvt image: neither our hello.hvt nor Solo5\'s test_hello.hvt')
    with Setup(console=False, log=False) as s:
        for img in imgs:
            r = s.d.cli('create', 'h', img)
            check(r.returncode == 1, f'create of {img}: exit {r.returncode}: {r.stderr}')
            check('spt' in r.stderr and 'KVM' in r.stderr,
                  f'the refusal does not say to build for spt or enable KVM: {r.stderr}')
            check(s.listed('h') is None, 'h is listed')
            check(s.images() == [], f'image left: {s.images()}')
            check(taps() == [] and children(s.d.proc.pid) == [], 'something was started')
        # asking for spt does not make an hvt image run
        r = s.d.cli('create', 'h', imgs[0], '--tender', 'spt')
        check(r.returncode == 1, f'an hvt image with --tender spt: exit {r.returncode}')
        check(s.images() == [], f'image left: {s.images()}')


@tap.case
def test_hello_console(_):
    """test_hello: its whole console (17 lines, banner as printed) after it exited"""
    for target in TARGETS:
        img, want = expected_hello(target)
        with Setup() as s:
            s.create('hello', img)
            s.wait_exits('hello')
            got = s.wait_console('hello', lambda l: len(l) >= 17, 30, '17 lines')
            check_hello_console(got, want, f'console of hello ({target})')
            # the text output prints the banner as drawn, after the timestamp
            text = s.console('hello', json_=False)
            check(any(line.split(' ', 1)[1:] == [BANNER] for line in text),
                  f'text output: {text}')


@tap.case
def test_hello_console_late(_):
    """test_hello: its whole console when albatross-console starts only after it exited"""
    for target in TARGETS:
        img, want = expected_hello(target)
        with Setup(console=False) as s:
            s.create('hello', img)
            s.wait_exits('hello')
            s.start_helper('console')
            got = s.wait_console('hello', lambda l: len(l) >= 17, 30, '17 lines')
            check_hello_console(got, want, f'console of hello ({target}), console started late')


@tap.case
def test_hello_console_restarted(_):
    """test_hello: its whole console when albatross-console is restarted between runs"""
    for target in TARGETS:
        img, want = expected_hello(target)
        with Setup() as s:
            s.create('hello', img)
            s.wait_exits('hello')
            got = s.wait_console('hello', lambda l: len(l) >= 17, 30, 'run 1')
            check_hello_console(got, want, f'run 1 ({target})')
            check(s.stop_helper('console') == 0, 'albatross-console did not stop cleanly')
            s.start_helper('console')
            s.create('hello', img)
            s.wait_exits('hello', 2)
            got = s.wait_console('hello', lambda l: len(l) >= 17 and l[-1] == want[-1], 30,
                                 'run 2')
            diag(f'{target}: {len(got)} lines after the restart of albatross-console '
                 f'(run 1 {"kept" if len(got) >= 34 else "not kept"})')
            check_hello_console(got[-17:], want, f'run 2 ({target}), after the restart')
            # and while it is down, between runs
            check(s.stop_helper('console') == 0, 'albatross-console did not stop cleanly')
            s.create('hello', img)
            s.wait_exits('hello', 3)
            s.start_helper('console')
            got = s.wait_console('hello', lambda l: len(l) >= 17 and l[-1] == want[-1], 30,
                                 'run 3')
            check_hello_console(got[-17:], want, f'run 3 ({target}), console down meanwhile')


@tap.case
def test_hello_info_after_exit(_):
    """test_hello: after it exited, the log reports exit code 0; it is removed (not restarted)"""
    for target in TARGETS:
        try:
            img, _ = expected_hello(target)
        except Skip:
            img = ours('hello', target)
        with Setup() as s:
            s.create('hello', img)
            check(s.wait_exits('hello') == [('exited', 0)], s.exits('hello'))
            ev = wait(lambda: [e for e in s.events('hello') if e['kind'] == 'unikernel-exited'],
                      30, 'the unikernel-exited event', lambda: s.events('hello'))
            check(ev[0].get('exit') == {'code': 0}, ev)
            # a unikernel that is not restarted is removed with all its resources
            # (docs/albatrossd.md): the log keeps its end
            wait(lambda: not s.listed('hello'), 30, 'hello to be removed', lambda: s.listed('hello'))
            wait(lambda: any(e['kind'] == 'unikernel-destroyed' for e in s.events('hello')),
                 30, 'the unikernel-destroyed event', lambda: s.events('hello'))


def check_chatty(entries, n, what):
    """The end of hello --lines=n: consecutive lines up to the last, where anything
    missing is marked by a note of lost output; returns the notes."""
    lines = [e['line'] for e in entries]
    check(lines[-2:] == [f'hello: exiting with 0', 'Solo5: solo5_exit(0) called'],
          f'{what}: the console does not end with the last lines: {lines[-5:]}')
    expect = n
    notes = []
    body = entries[:-2]
    for k in range(len(body) - 1, -1, -1):
        e = body[k]
        if e.get('dropped'):
            notes.append(e)
            expect = None
            continue
        m = re.fullmatch(r'hello: line (\d+) of %d' % n, e['line'])
        if not m:
            if (k > 0 and body[k - 1].get('dropped')) or \
                    (k + 1 < len(body) and body[k + 1].get('dropped')):
                expect = None  # a line cut where output was lost
                continue
            # what comes first: the banner and the command line
            check(not any(x['line'].startswith('hello: line ') for x in body[:k]),
                  f'{what}: {e["line"]!r} among the numbered lines')
            break
        i = int(m.group(1))
        check(expect is None or i == expect, f'{what}: line {i} where {expect} was due, '
              'with no note of lost output')
        expect = i - 1
    return notes


@tap.case
def test_chatty_console(_):
    """a unikernel printing megabytes: the newest lines kept in order, losses noted (with
    albatross-console up, and down while it ran)"""
    img = ours('hello')
    n = 100000
    rc, out = direct_console(img, args=[f'--lines={n}'])
    total = sum(len(x.encode()) + 1 for x in out)
    check(rc == 0 and total > 2 << 20, f'hello --lines={n}: exit {rc}, {total} bytes')
    # a ring larger than what albatrossd holds for a unikernel (1 MiB, docs/console.md)
    ring = 65536
    with Setup(console_args=['--lines', str(ring)]) as s:
        s.create('chatty', img, '--arg', f'--lines={n}')
        s.wait_exits('chatty')
        s.wait_console('chatty', lambda l: l[-1:] == ['Solo5: solo5_exit(0) called'])
        entries = s.console_entries('chatty')
        notes = check_chatty(entries, n, 'console up')
        # albatross-console may fall behind a burst: past albatrossd's bound, output is
        # dropped (and noted); without a note the ring is full and every line in order
        diag(f'console up: {len(entries)} lines kept, notes of lost output: '
             f'{[e["line"] for e in notes]}')
        check(notes or len(entries) == ring,
              f'{len(entries)} lines kept and no note of lost output, not the ring of {ring}: '
              f'{[e["line"] for e in entries[:3]]}')
        check(s.stop_helper('console') == 0, 'albatross-console did not stop cleanly')
        s.create('down', img, '--arg', f'--lines={n}')
        s.wait_exits('down')
        s.start_helper('console')
        s.wait_console('down', lambda l: l[-1:] == ['Solo5: solo5_exit(0) called'], 30,
                       'the last line')
        entries = s.console_entries('down')
        notes = check_chatty(entries, n, 'console down')
        # 2.7 MB of output while albatross-console was down: more than albatrossd holds
        check(notes, f'no note of lost output in {len(entries)} lines: '
              f'{[e["line"] for e in entries[:3]]}')
        check(len(entries) < ring, f'the ring of {ring} lines is full: cannot count bytes')
        lost = 0
        for e in notes:
            m = re.fullmatch(r'(\d+) bytes of console output lost here', e['line'])
            check(m, f'a note reads {e["line"]!r}')
            lost += int(m.group(1))
        kept = sum(len(e['line'].encode()) + 1 for e in entries if not e.get('dropped'))
        check(lost + kept == total, f'{kept} bytes kept + {lost} lost != {total} written')
        diag(f'console down: {kept} bytes kept, {lost} lost, of {total}')
        text = s.console('down', json_=False)
        check(any(re.search(r' \[albatross: \d+ bytes of console output lost here\]$', x)
                  for x in text), 'no note in the text output')


@tap.case
def test_exit_codes(_):
    """our hello --exit=N: 1 and 60-64 never restart, others restart with back-off, a crash
    loop ends in failed, --exit-code restarts the listed codes only; console kept"""
    for target in TARGETS:
        img = ours('hello', target)
        for n in (0, 1, 3, 64):
            rc, out = direct_console(img, target, args=[f'--exit={n}'])
            check(rc == n and f'hello: exiting with {n}' in out, f'--exit={n}: {rc} {out}')
        with Setup() as s:
            never = [1, 60, 61, 62, 63, 64]
            for n in never:
                s.create(f'never{n}', img, '--restart-on-fail', '--arg', f'--exit={n}')
            for n in never:
                name = f'never{n}'
                check(s.wait_exits(name) == [('exited', n)], s.exits(name))
                wait(lambda: s.listed(name) is None or s.listed(name)[0]['state'] != 'running',
                     30, f'{name} to end')
                lines = s.wait_console(name, lambda l: f'Solo5: solo5_exit({n}) called' in l)
                check(lines.count(f'hello: exiting with {n}') == 1, lines)
            check("Restarting 'never" not in s.d.log_text(), 'a never-restart code restarted')

            # a code that restarts: back-off doubling, then a crash loop ends in failed
            s.create('crashy', img, '--restart-on-fail', '--arg', '--exit=3')
            seen = set()

            def failed():
                u = s.listed('crashy')
                if u:
                    seen.add(u[0]['state'])
                return u and u[0]['state'] == 'failed'
            wait(failed, 60, 'a crash loop to end in failed', lambda: s.listed('crashy'))
            u = s.listed('crashy')[0]
            check(u['last_exit'] == {'code': 3}, u)
            check(u['restarts'] == 3, f'4 exits within the window: 3 restarts, not {u}')
            delays = [int(x) for x in re.findall(r"Restarting 'crashy' in (\d+) ms",
                                                  s.d.log_text())]
            check(delays == [200, 400, 800], f'back-off delays {delays}')
            check(s.exits('crashy') == [('exited', 3)] * 4, s.exits('crashy'))
            lines = s.wait_console('crashy',
                                   lambda l: l.count('Solo5: solo5_exit(3) called') >= 4)
            check(lines.count('hello: exiting with 3') == 4, f'console of 4 runs: {lines}')
            check(lines.count('hello: albatross test unikernel') == 4, lines)
            s.d.ok('destroy', 'crashy')

            # --exit-code: the listed codes only
            s.create('listed', img, '--exit-code', '7', '--arg', '--exit=7')
            wait(lambda: (s.listed('listed') or [{}])[0].get('restarts', 0) >= 1, 30,
                 'a restart on code 7', lambda: s.listed('listed'))
            s.d.ok('destroy', 'listed')
            s.create('other', img, '--exit-code', '7', '--arg', '--exit=8')
            check(s.wait_exits('other') == [('exited', 8)], s.exits('other'))
            wait(lambda: s.listed('other') is None or s.listed('other')[0]['state'] != 'running',
                 30, 'other to end')
            check("Restarting 'other'" not in s.d.log_text(), 'code 8 restarted')


@tap.case
def test_crash(_):
    """our crash: solo5_abort exits 255 (restarted with --exit-code 255); a fault kills the
    spt tender by SIGSEGV, never restarted"""
    for target in TARGETS:
        img = ours('crash', target)
        with Setup() as s:
            s.create('abort', img, '--exit-code', '255')
            wait(lambda: (s.listed('abort') or [{}])[0].get('restarts', 0) >= 1, 30,
                 'a restart on 255', lambda: s.listed('abort'))
            check(s.exits('abort')[0] == ('exited', 255), s.exits('abort'))
            s.wait_console('abort', lambda l: l.count('Solo5: solo5_abort() called') >= 2)
            s.d.ok('destroy', 'abort')
            s.create('fault', img, '--restart-on-fail', '--arg', '--mode=fault')
            want = ('killed', signal.SIGSEGV) if target == 'spt' else ('exited', 255)
            if target == 'spt':
                check(s.wait_exits('fault') == [want], s.exits('fault'))
                wait(lambda: s.listed('fault') is None or
                     s.listed('fault')[0]['state'] != 'running', 30, 'fault to end')
                check("Restarting 'fault'" not in s.d.log_text(), 'a SIGSEGV restarted')
                ev = wait(lambda: [e for e in s.events('fault')
                                   if e['kind'] == 'unikernel-exited'], 30, 'the event')
                check(ev[0]['exit'] == {'signal': 11}, ev)
            s.wait_console('fault', lambda l: 'crash: writing to an unmapped address' in l)


@tap.case
def test_echo_net(_):
    """our echo on br0 through our tap answers ARP and ping from the host, with its MAC"""
    img = ours('echo')
    mac = '02:a1:b2:c3:d4:e5'
    with Setup() as s, Address('10.77.0.1/24'):
        s.create('echo', img, '--net', f'service:br0@{mac}', '--arg', '--ipv4=10.77.0.2/24')
        u = s.listed('echo')[0]
        check(u['state'] == 'running' and len(u['taps']) == 1, u)
        t = u['taps'][0]
        check(link_exists(t) and link_master(t) == 'br0', f'tap {t} is not in br0')
        s.wait_console('echo', lambda l: f'echo: service {mac}, MTU 1500, address '
                       '10.77.0.2/24' in l, 30, 'its address line')
        wait(lambda: ping('10.77.0.2'), 30, 'a ping reply from 10.77.0.2')
        check(neighbour_mac('10.77.0.2') == mac, f'ARP: {neighbour_mac("10.77.0.2")}')
        lines = s.wait_console('echo', lambda l: any(x.startswith(
            'echo: ICMP echo reply to 10.77.0.1') for x in l))
        check('echo: ARP reply to 10.77.0.1' in lines or neighbour_mac('10.77.0.2') == mac,
              lines)
        # restart: a new tender on a tap in br0, the same MAC, answering again
        s.d.ok('restart', 'echo')
        u2 = s.listed('echo')[0]
        check(u2['pid'] != u['pid'] and u2['state'] == 'running', u2)
        check(link_master(u2['taps'][0]) == 'br0', 'the tap is not in br0 after restart')
        check(taps() == u2['taps'], f'taps {taps()}, in use {u2["taps"]}')
        wait(lambda: ping('10.77.0.2'), 30, 'a ping reply after the restart')
        s.d.ok('destroy', 'echo')
        check(not link_exists(t) and taps() == [], f'taps left: {taps()}')


def udp_echo(addr, port, payload, timeout=1.0):
    """One UDP datagram to addr:port; (data, source) of the answer, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(payload, (addr, port))
        if not select.select([s], [], [], timeout)[0]:
            return None
        return s.recvfrom(65536)
    finally:
        s.close()


@tap.case
def test_netecho_udp(_):
    """our netecho on br0 through our tap answers ping and echoes UDP datagrams on any port
    as 'NAME: payload', as the test tender's guest does"""
    img = ours('netecho')
    with Setup() as s, Address('10.75.0.1/24'):
        s.create('netecho', img, '--net', 'service:br0', '--arg', '--ipv4=10.75.0.2/24',
                 '--arg', '--ipv4-gateway=10.75.0.1', '--arg', '--name=one')
        s.wait_console('netecho', lambda l: any(
            x.startswith('netecho: service ') and
            x.endswith(', MTU 1500, address 10.75.0.2/24, name one') for x in l), 30,
            'its address line')
        wait(lambda: ping('10.75.0.2'), 30, 'a ping reply from 10.75.0.2')
        for port, payload in ((5000, b'payload'), (53, b'another port'), (40000, b'')):
            got = wait(lambda: udp_echo('10.75.0.2', port, payload), 30,
                       f'a UDP echo from port {port}')
            check(got == (b'one: ' + payload, ('10.75.0.2', port)), got)
        s.wait_console('netecho', lambda l: any(
            x.startswith('netecho: UDP echo to 10.75.0.1:') and x.endswith(', 12 bytes')
            for x in l), 30, 'the line of an echo')
        s.d.ok('destroy', 'netecho')
        check(taps() == [], taps())


def udp_refused(addr, port, timeout=30.0):
    """True when a datagram to addr:port is answered by ICMP port unreachable (a connected
    socket reports it), i.e. nothing listens there and no rule leads it elsewhere."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect((addr, port))
        s.send(b'anyone?')
        if not select.select([s], [], [], timeout)[0]:
            return False
        try:
            s.recv(65536)
        except ConnectionRefusedError:
            return True
        return False
    finally:
        s.close()


def nft_table():
    """The text of table ip albatross (albatrossd's DNAT rules), or None without it."""
    r = subprocess.run(['nft', 'list', 'table', 'ip', 'albatross'], capture_output=True,
                       text=True)
    return r.stdout if r.returncode == 0 else None


@tap.case
def test_netecho_service(_):
    """our netecho deployed as a service (docs/services.md) on the real solo5-spt: ready when
    it echoes the readiness probe, the host's published UDP port reaches echo.1 through
    the output chain's DNAT, an update moves it to echo.2, and remove leaves no unikernel,
    tap or rule"""
    if not SPT:
        raise Skip(f'no solo5-spt in {TENDER_DIR}')
    if not shutil.which('nft'):
        raise Skip('needs nft (nftables) to read the rules back')
    img = ours('netecho')
    # br0 is the services' gateway; 192.168.77.1 is another address of the host: the
    # output chain DNATs the host's own datagrams to it, port 5353, to the instance.
    # A bridge takes the lowest MAC of its ports unless it has its own: fixed here, so
    # that it does not change as the instances' taps come and go (netecho answers the
    # MAC a request came from).
    ip('link', 'set', 'br0', 'address', '02:00:00:00:00:01')
    with Setup() as s, Address('10.0.0.1/24'), Address('192.168.77.1/32', dev='lo'):
        deploy = ['service', 'deploy', 'echo', img, '--mem', '32', '--net', 'br0',
                  '--prefix', '10.0.0.0/24', '--arg-template', '--ipv4={cidr}',
                  '--arg-template', '--ipv4-gateway={gateway}', '--arg-template',
                  '--name={name}', '--publish', '5353:7/udp', '--ready-udp', '7',
                  '--ready-timeout', '60000', '--drain', '0']
        r = s.d.ok(*deploy)
        check(r.stdout.startswith('deployed echo.1 at 10.0.0.'), r.stdout)

        def service():
            v = json.loads(s.d.ok('service', 'info', 'echo', '--json').stdout)
            check(len(v) == 1, v)
            return v[0]

        def published():
            v = [i for i in service()['instances'] if i['state'] == 'published']
            check(len(v) == 1, service())
            return v[0]
        first = published()
        a1 = first['address']
        check(first['unikernel'] == 'echo.1' and f'deployed echo.1 at {a1} ' in r.stdout,
              (first, r))
        # forwarding is off in this namespace: the reply says what that means
        check('net.ipv4.ip_forward is off' in r.stdout, r.stdout)
        u = s.listed('echo.1')[0]
        check(u['state'] == 'running' and link_master(u['taps'][0]) == 'br0', u)
        check(u['config']['arguments'] == [f'--ipv4={a1}/24', '--ipv4-gateway=10.0.0.1',
                                           '--name=echo.1'], u['config'])
        check(f'udp dport 5353 dnat to {a1}:7' in (nft_table() or ''), nft_table())
        # the readiness probe came from the host, and was echoed
        s.wait_console('echo.1', lambda l: any(x.startswith('netecho: UDP echo to 10.0.0.1:')
                                               for x in l), 30, 'the echo of the probe')
        got = wait(lambda: udp_echo('192.168.77.1', 5353, b'hello'), 30,
                   'an answer from the published port')
        check(got == (b'echo.1: hello', ('192.168.77.1', 5353)), got)

        # the update: echo.2 is ready, published, echo.1 goes (no drain)
        r = s.d.ok(*deploy)
        check(r.stdout.startswith('deployed echo.2 at 10.0.0.'), r.stdout)
        second = published()
        a2 = second['address']
        check(second['unikernel'] == 'echo.2' and a2 != a1 and service()['generation'] == 2,
              service())
        got = wait(lambda: udp_echo('192.168.77.1', 5353, b'again'), 30,
                   'an answer from the published port after the update')
        check(got == (b'echo.2: again', ('192.168.77.1', 5353)), got)
        wait(lambda: s.listed('echo.1') is None, 30, 'echo.1 to retire')
        rules = nft_table() or ''
        check(f'dnat to {a2}:7' in rules and a1 + ':' not in rules, rules)
        check(taps() == s.listed('echo.2')[0]['taps'], taps())

        r = s.d.ok('service', 'remove', 'echo')
        check(r.stdout.strip() == 'removed echo', r.stdout)
        check(json.loads(s.d.ok('service', 'info', '--json').stdout) == [], 'no service')
        check(s.d.info() == [] and nft_table() is None, (s.d.info(), nft_table()))
        wait(lambda: taps() == [], 30, 'the taps to go', taps)
        check(udp_refused('192.168.77.1', 5353), 'the port is no longer published')


@tap.case
def test_tender_user(_):
    """tenders as --tender-user nobody: the ticker runs as nobody, block writes its device,
    echo answers ping through its tap (refused, saying why, when nobody may not use
    /dev/net/tun)"""
    import pwd
    try:
        nobody = pwd.getpwnam('nobody')
    except KeyError:
        raise Skip('no user nobody')
    ticker, echo, block = ours('ticker'), ours('echo'), ours('block')
    with Setup(extra=FAST + ['--tender-user', 'nobody']) as s, Address('10.76.0.1/24'):
        s.create('tick', ticker)
        u = s.listed('tick')[0]
        with open(f'/proc/{u["pid"]}/status') as f:
            uid = [x.split()[1] for x in f if x.startswith('Uid:')][0]
        check(uid == str(nobody.pw_uid), f'the tender runs as uid {uid}')
        s.wait_console('tick', lambda l: 'ticker: tick 1' in l)
        s.d.ok('create-block', 'disk', '1')
        s.create('blk', block, '--block', 'storage:disk')
        check(s.wait_exits('blk') == [('exited', 0)],
              f'{s.exits("blk")}: {s.console("blk")}')
        s.wait_console('blk', lambda l: 'block: OK' in l)
        st = os.stat('/dev/net/tun')
        if not (st.st_mode & 0o006 == 0o006 or
                (st.st_gid == nobody.pw_gid and st.st_mode & 0o060 == 0o060)):
            diag(f'/dev/net/tun is mode {st.st_mode & 0o777:o}: nobody cannot attach a tap; '
                 'the create must be refused, saying so')
            s.d.refused('cannot attach network devices', 'create', 'echo', echo, '--net',
                        'service:br0', '--arg', '--ipv4=10.76.0.2/24')
            check(taps() == [], taps())
            return
        s.create('echo', echo, '--net', 'service:br0', '--arg', '--ipv4=10.76.0.2/24')
        wait(lambda: ping('10.76.0.2'), 30, 'a ping reply', lambda: s.console('echo'))


@tap.case
def test_solo5_net(_):
    """Solo5's test_net on br0 (device service0) answers ping at 10.0.0.2"""
    img = solo5_test('test_net')
    with Setup() as s, Address('10.0.0.1/24'):
        s.create('testnet', img, '--net', 'service0:br0')
        s.wait_console('testnet', lambda l: any('Serving ping on 10.0.0.2' in x for x in l), 30,
                       'its banner')
        wait(lambda: ping('10.0.0.2'), 30, 'a ping reply from 10.0.0.2')
        s.d.ok('destroy', 'testnet')
        check(taps() == [], taps())


@tap.case
def test_block(_):
    """our block and Solo5's test_blk on block devices made with create-block"""
    img = ours('block')
    with Setup() as s:
        data = os.path.join(s.dir, 'data')
        with open(data, 'wb') as f:
            f.write(b'previous content\n')
        s.d.ok('create-block', 'disk', '1', '--data', data)
        s.create('blk', img, '--block', 'storage:disk', '--arg', '--pattern=albatross-it')
        check(s.wait_exits('blk') == [('exited', 0)], s.exits('blk'))
        lines = s.wait_console('blk', lambda l: 'Solo5: solo5_exit(0) called' in l)
        for want in ("block: sector 0 before: 'previous content'",
                     'block: storage: 1048576 bytes, sectors of 512 bytes',
                     "block: sector 2047 read back: 'albatross-it sector 2047'", 'block: OK'):
            check(want in lines, f'{want!r} not in {lines}')
        out = os.path.join(s.dir, 'out')
        s.d.ok('dump-block', 'disk', out)
        with open(out, 'rb') as f:
            got = f.read()
        check(len(got) == 1 << 20, len(got))
        for sector in (0, 1024, 2047):
            tag = f'albatross-it sector {sector}\n'.encode()
            check(got[sector * 512:sector * 512 + len(tag)] == tag,
                  f'sector {sector}: {got[sector * 512:sector * 512 + 40]!r}')
        # 4096-byte sectors (create --block NAME:HOST@SECTOR) reach the tender
        s.d.ok('create-block', 'disk4k', '1', '--sector-size', '4096')
        s.create('blk4k', img, '--block', 'storage:disk4k@4096')
        check(s.wait_exits('blk4k') == [('exited', 0)], s.exits('blk4k'))
        lines = s.wait_console('blk4k', lambda l: 'block: OK' in l)
        check('block: storage: 1048576 bytes, sectors of 4096 bytes' in lines, lines)
        # Solo5's own
        try:
            tblk = solo5_test('test_blk')
        except Skip as e:
            diag(f'test_blk: SKIP {e}')
            return
        s.d.ok('create-block', 'tdisk', '1')
        s.create('testblk', tblk, '--block', 'storage:tdisk')
        check(s.wait_exits('testblk') == [('exited', 0)], s.exits('testblk'))
        lines = s.wait_console('testblk', lambda l: 'Solo5: solo5_exit(0) called' in l)
        check('SUCCESS' in lines, lines)


@tap.case
def test_block_device_sector_size(_):
    """a block device made with create-block --sector-size 4096 is attached with 4096-byte
    sectors (or refused), not silently with 512"""
    img = ours('block')
    with Setup() as s:
        s.d.ok('create-block', 'disk4k', '1', '--sector-size', '4096')
        b = json.loads(s.d.ok('block', 'disk4k', '--json').stdout)
        check(b and b[0].get('sector_size') == 4096, b)
        r = s.d.cli('create', 'blk', img, '--mem', '32', '--block', 'storage:disk4k')
        if r.returncode == 1:
            check('sector' in r.stderr, f'refused without naming the sector size: {r.stderr}')
            return
        check(r.returncode == 0, f'exit {r.returncode}: {r.stderr}')
        s.wait_exits('blk')
        lines = s.wait_console('blk', lambda l: 'block: OK' in l or 'block: FAILED' in l)
        check('block: storage: 1048576 bytes, sectors of 4096 bytes' in lines,
              'the block device has 4096-byte sectors (block --json says so), the unikernel '
              'was given: ' + ''.join(x for x in lines if 'sectors of' in x))


@tap.case
def test_manifest_mismatch(_):
    """a manifest mismatch (missing, wrong or undeclared device) is refused before anything
    is made: no tap, no image, no tender"""
    echo, hello, block = ours('echo'), ours('hello'), ours('block')
    with Setup() as s:
        s.d.ok('create-block', 'disk', '1')
        cases = [(echo, []), (echo, ['--net', 'other:br0']),
                 (echo, ['--net', 'service:br0', '--net', 'extra:br0']),
                 (hello, ['--net', 'service:br0']), (block, []),
                 (block, ['--block', 'other:disk']), (echo, ['--block', 'storage:disk'])]
        if SOLO5_TESTS and os.path.exists(os.path.join(SOLO5_TESTS, 'test_net', 'test_net.spt')):
            cases.append((os.path.join(SOLO5_TESTS, 'test_net', 'test_net.spt'),
                          ['--net', 'service:br0']))
        for img, args in cases:
            r = s.d.cli('create', 'mm', img, *args)
            what = f'{os.path.basename(img)} {" ".join(args)}'
            check(r.returncode == 1, f'{what}: exit {r.returncode}: {r.stdout} {r.stderr}')
            names = re.findall(r'--(?:net|block) (\w+):', ' '.join(args)) + \
                {'echo.spt': ['service'], 'block.spt': ['storage'],
                 'test_net.spt': ['service0']}.get(os.path.basename(img), [])
            check(any(f"'{n}'" in r.stderr for n in names),
                  f'{what}: the refusal names no device: {r.stderr}')
            check(s.listed('mm') is None, f'{what}: mm is listed')
            check(taps() == [], f'{what}: taps left: {taps()}')
            check(s.images() == [], f'{what}: image left: {s.images()}')
            check(children(s.d.proc.pid) == [], f'{what}: a tender was started')
        check("Started 'mm'" not in s.d.log_text(), 'a tender was started')


class Remote:
    """A root CA, a server certificate, albatross-tls-endpoint on loopback, and alice's
    CA (2 unikernels, 64 MB, CPU 0, br0), with the real CLI (docs/tls.md)."""

    def __init__(self, s):
        self.s = s
        self.pki = os.path.join(s.dir, 'pki')
        self.alice = os.path.join(self.pki, 'alice')
        os.makedirs(self.alice)
        self.dest = f'127.0.0.1:{free_port()}'
        self.run('generate', 'root', 'certs.db', '--server', '127.0.0.1')
        self.run('revoke', 'rootcert.pem', 'root.key', '01', '--crl', 'crl.pem')
        host, port = self.dest.split(':')
        s.start_helper('endpoint', ['--ca', 'rootcert.pem', '--cert', '127.0.0.1.pem',
                                    '--key', '127.0.0.1.key', '--crl', 'crl.pem', '--listen',
                                    self.dest], ready=False, cwd=self.pki)

        def up():
            check(s.procs['endpoint'].poll() is None, f'the endpoint exited: {s.text("endpoint")}')
            c = socket.socket()
            try:
                c.connect((host, int(port)))
                return True
            except OSError:
                return False
            finally:
                c.close()
        wait(up, 15, 'albatross-tls-endpoint')
        self.run('add-policy', 'alice:', '2', '--mem', '64', '--cpu', '0', '--bridge', 'br0',
                 '--csr', cwd=self.alice)
        self.run('sign', os.path.join(self.pki, 'rootcert.pem'),
                 os.path.join(self.pki, 'certs.db'), os.path.join(self.pki, 'root.key'),
                 'alice.req', cwd=self.alice)

    def run(self, *args, cwd=None, rc=0):
        r = subprocess.run([PATHS['client']] + list(args), cwd=cwd or self.pki,
                           capture_output=True, text=True, timeout=120)
        if rc is not None and r.returncode != rc:
            raise AssertionError(f'albatross-client {" ".join(args)}: exit {r.returncode}, '
                                 f'expected {rc}\nstdout: {r.stdout}\nstderr: {r.stderr}')
        return r

    def remote(self, *args, rc=0):
        """A command signed in one step with alice's CA."""
        return self.run(*args, '--destination', self.dest, '--ca', 'alice.pem', '--ca-key',
                        'alice.key', '--server-ca', os.path.join(self.pki, 'rootcert.pem'),
                        cwd=self.alice, rc=rc)

    def leaf(self, label, image, *args):
        """The operator's walk: a request carrying the command, signed by alice's CA, sent
        with certificate."""
        d = os.path.join(self.alice, 'leaves', label)
        os.makedirs(d)
        self.run(*args, '--csr', cwd=d)
        req = [f for f in os.listdir(d) if f.endswith('.req')]
        check(len(req) == 1, req)
        self.run('sign', os.path.join(self.alice, 'alice.pem'),
                 os.path.join(self.pki, 'certs.db'), os.path.join(self.alice, 'alice.key'),
                 req[0], cwd=d)
        base = req[0][:-4]
        return self.run('certificate', f'{base}.pem', f'{base}.key', image, '--destination',
                        self.dest, '--server-ca', os.path.join(self.pki, 'rootcert.pem'),
                        cwd=d)

    def console(self, name):
        r = self.remote('console', name, '--json', rc=None)
        return [e['line'] for e in json.loads(r.stdout)] if r.returncode == 0 else None


@tap.case
def test_remote_tls(_):
    """remote deploy over TLS of real unikernels; their console and info remotely"""
    ticker = ours('ticker')
    with Setup() as s:
        rm = Remote(s)
        # the operator's walk: a leaf certificate carrying the create
        r = rm.leaf('tick', ticker, 'create', 'tick', ticker, '--mem', '32', '--arg',
                    '--interval=200')
        check('created' in r.stdout, r.stdout)
        u = s.listed('alice:tick')
        check(u and u[0]['state'] == 'running', u)
        info = json.loads(rm.remote('info', '--json').stdout)
        check([x['name'] for x in info] == ['alice:tick'] and info[0]['state'] == 'running',
              info)
        last = [None]

        def ticks():
            last[0] = rm.console('tick')
            return last[0] and 'ticker: tick 3' in last[0]
        wait(ticks, 60, 'three ticks, remotely', lambda: last[0])
        check(last[0][-1].startswith('ticker: tick ') or last[0][-1].startswith('ticker: '),
              last[0])
        # one step: a unikernel that lives a few milliseconds, its whole console remotely
        try:
            img, want = expected_hello('spt')
        except Skip as e:
            diag(f'test_hello: {e}; our hello instead')
            img = ours('hello')
            rc, want = direct_console(img)
        check('created' in rm.remote('create', 'hello', img, '--mem', '32').stdout)
        s.wait_exits('alice:hello')
        last = [None]

        def whole():
            last[0] = rm.console('hello')
            return last[0] and len(last[0]) >= len(want)
        poll(whole, 30)
        same_lines(last[0] or [], want, 'the console of alice:hello, remotely')
        # the image comes back byte for byte
        got = os.path.join(s.dir, 'tick.got')
        rm.remote('get', 'tick', got)
        with open(got, 'rb') as a, open(ticker, 'rb') as b:
            check(a.read() == b.read(), 'get returned another image')
        if not KVM and HVT:
            try:
                hvt = ours('hello', 'hvt')
            except Skip as e:
                diag(f'remote hvt refusal: {e}')
            else:
                r = rm.remote('create', 'h', hvt, '--mem', '32', rc=1)
                check('KVM' in r.stderr and 'spt' in r.stderr, f'remote hvt refusal: {r.stderr}')
        rm.remote('destroy', 'tick')
        check(s.listed('alice:tick') is None, 'alice:tick is still there')
        check(taps() == [], 'taps left behind')
        wait(lambda: children(s.d.proc.pid) == [], 15, 'the monitors to end',
             lambda: children(s.d.proc.pid))


@tap.case
def test_restore_after_restart(_):
    """kill -9, SIGTERM and a copied albatrossd: the next one adopts the same real tenders
    (same pids and tap) of three unikernels, echo answers ping all through the outage and
    the ticker's console flows on; after a host reboot (every tender killed too) all three
    start again"""
    ticker, echo = ours('ticker'), ours('echo')
    with Setup() as s, Address('10.78.0.1/24'):
        s.create('tick', ticker, '--arg', '--interval=300')
        s.create('tock', ticker, '--arg', '--interval=700')
        s.create('echo', echo, '--net', 'service:br0', '--arg', '--ipv4=10.78.0.2/24')
        s.wait_console('tick', lambda l: 'ticker: tick 2' in l)
        wait(lambda: ping('10.78.0.2'), 30, 'a ping reply')
        old = {u['name']: u for u in s.d.info()}
        copy = os.path.join(s.d.dir, 'albatrossd-copy')
        shutil.copy(PATHS['albatrossd'], copy)
        for how in ('kill -9', 'SIGTERM', 'a copied binary'):
            ticks = [x for x in s.console('tick') if x.startswith('ticker: tick')]
            if how == 'kill -9':
                s.d.stop(signal.SIGKILL)
            else:
                check(s.d.stop() == 0, f'{how}: albatrossd did not exit 0')
            # nobody supervises: the unikernels run on, and serve
            check(all(alive(u['pid']) for u in old.values()), f'{how}: a tender died')
            wait(lambda: ping('10.78.0.2'), 30, f'a ping reply while albatrossd is away ({how})')
            if how == 'a copied binary':
                s.d.paths = dict(s.d.paths, albatrossd=copy)
            s.d.start()
            new = {u['name']: u for u in s.d.info()}
            for n, u in old.items():
                check(new[n]['state'] == 'running' and new[n]['pid'] == u['pid'] and
                      new[n]['taps'] == u['taps'], f'{how}: {n} was {u}, is {new[n]}')
            check(taps() == sorted(new['echo']['taps']), f'taps {taps()}')
            check(link_master(new['echo']['taps'][0]) == 'br0', 'the tap is not in br0')
            # the ticks of the outage reach the console, in the same run
            s.wait_console('tick', lambda l: len([x for x in l if x.startswith('ticker: tick')])
                           > len(ticks) + 1, 30, f'more ticks after {how}')
            lines = s.console('tick')
            check(sum(x.startswith('ticker: started') for x in lines) == 1, lines)
            wait(lambda: ping('10.78.0.2'), 30, f'a ping reply after {how}')
        # a host reboot: no tender survives it; the state brings both back
        s.d.stop(signal.SIGKILL)
        kill_monitors(s.d.rundir)
        for u in old.values():
            wait(lambda: not alive(u['pid']), 15, f'{u["name"]} to die with its monitor')
        s.d.start()

        def all_three():
            v = s.d.info()
            return len(v) == 3 and all(u['state'] == 'running' for u in v) and v
        new = {u['name']: u for u in wait(all_three, 30, 'all to run again after a reboot',
                                           lambda: s.d.info())}
        check(all(new[n]['pid'] != old[n]['pid'] for n in old), (old, new))
        check(new['echo']['config'] == old['echo']['config'], 'echo config changed')
        check(taps() == sorted(new['echo']['taps']), f'taps {taps()} but in use '
              f'{new["echo"]["taps"]}')
        s.wait_console('tick', lambda l: sum(x.startswith('ticker: started') for x in l) == 2,
                       30, 'the ticker started again')
        wait(lambda: ping('10.78.0.2'), 30, 'a ping reply after a reboot')


@tap.case
def test_destroy_leaves_nothing(_):
    """destroy leaves nothing: no tap, no tender process, no image, not listed"""
    ticker, echo, block = ours('ticker'), ours('echo'), ours('block')
    with Setup() as s:
        s.d.ok('create-block', 'disk', '1')
        s.create('tick', ticker)
        s.create('echo', echo, '--net', 'service:br0', '--arg', '--ipv4=10.79.0.2/24')
        # block exits at once; --exit-code 0 keeps it coming back, so there is one to destroy
        s.create('blk', block, '--block', 'storage:disk', '--exit-code', '0')
        s.wait_console('tick', lambda l: 'ticker: tick 1' in l)
        v = {u['name']: u for u in s.d.info()}
        pids = [u['pid'] for u in v.values() if u.get('pid')]
        used = [t for u in v.values() for t in u['taps']]
        check(len(used) == 1 and len(s.images()) == 3, (used, s.images()))
        for name in ('tick', 'echo', 'blk'):
            r = s.d.ok('destroy', name)
            check('destroyed' in r.stdout, r.stdout)
            check(s.listed(name) is None, f'{name} still listed')
        for pid in pids:
            wait(lambda: not alive(pid), 15, f'tender {pid} to be gone')
        wait(lambda: children(s.d.proc.pid) == [], 15, 'the monitors to end',
             lambda: children(s.d.proc.pid))
        check(taps() == [] and not any(link_exists(t) for t in used), f'taps left: {taps()}')
        check(s.images() == [], f'images left: {s.images()}')
        check(s.d.info() == [], s.d.info())
        check(os.path.exists(os.path.join(s.d.dbdir, 'block', 'disk')),
              'the block device went with the unikernel')


try:
    rc = tap.run(None)
finally:
    shutil.rmtree(TOP, ignore_errors=True)
sys.exit(rc)
