# SPDX-License-Identifier: ISC
"""Shared pieces of the integration tests: TAP output, a private network
namespace with bridges, a real albatrossd in a temporary directory, the real
albatross-client, test images, and a minimal CBOR encoder for raw frames.

Nothing here depends on the machine's speed: every wait is for a condition, with a
generous cap (WAIT, 60 s by default), never a fixed delay. A failing case is
reported in the TAP stream (stdout) and, because meson shows only a TAP test's
stderr, on stderr too: the case, its assertion and traceback, and the tail of the
logs of the daemons it ran (watch_log())."""
import faulthandler
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

# The exit status of a skip ("1..0 # SKIP why"): 77 (automake's), or ALB_SKIP_STATUS
# (0 for meson, which counts a TAP test's 77 as an error), as tests/integration/
# test-solo5.py does.
SKIP = int(os.environ.get('ALB_SKIP_STATUS', '77'))
# The cap of a wait for something that normally takes milliseconds: generous, so that
# a busy machine or a sanitizer build (3-5 times slower) never reaches it.
WAIT = 60.0
# A case still running after this long prints where every thread is (stderr).
CASE_WATCHDOG = 600


class Skip(Exception):
    pass


def require_netns(script_args):
    """Re-executes this script in a new network namespace (as root), where it
    makes the bridges br0 and br1. Exits 77 when that is impossible."""
    if os.environ.get('ALB_IN_NETNS') == '1':
        # sysfs shows the namespace it was mounted in: mount our own (the mount
        # namespace is private, the host's /sys is untouched).
        subprocess.run(['mount', '-t', 'sysfs', 'sysfs', '/sys'], check=True)
        subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
        for br in ('br0', 'br1'):
            subprocess.run(['ip', 'link', 'add', br, 'type', 'bridge'], check=True)
            subprocess.run(['ip', 'link', 'set', br, 'up'], check=True)
        return
    if os.geteuid() != 0:
        print('1..0 # SKIP needs root for taps and a network namespace')
        sys.exit(SKIP)
    if not shutil.which('unshare') or not shutil.which('ip'):
        print('1..0 # SKIP needs unshare (util-linux) and ip (iproute2)')
        sys.exit(SKIP)
    env = dict(os.environ, ALB_IN_NETNS='1')
    r = subprocess.run(['unshare', '--net', '--mount', '--', sys.executable] + script_args,
                       env=env)
    sys.exit(r.returncode)


# ---- the logs of the daemons a case runs, for the report of a failure ----

_watched = []    # [label, path] of every log a daemon of this run writes
_snapshots = []  # (label, path, tail) kept before a directory was removed, this case


def watch_log(label, path):
    """Names a daemon's log: a failing case shows its tail (on stderr)."""
    path = os.path.abspath(path)
    if [label, path] not in _watched:
        _watched.append([label, path])


def _tail(path, lines=20, max_bytes=32768):
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - max_bytes))
            text = f.read().decode(errors='replace')
    except OSError:
        return None
    return '\n'.join(text.splitlines()[-lines:])


def snapshot_logs(under):
    """Keeps the tails of the watched logs below the directory under, which is about
    to be removed: a case that fails after its cleanup still shows them."""
    under = os.path.abspath(under).rstrip('/') + '/'
    for label, path in _watched:
        if path.startswith(under):
            t = _tail(path)
            if t:
                _snapshots.append((label, path, t))


def _logs_of_case(since):
    """(label, path, tail) of the logs written during the case that began at since."""
    out = list(_snapshots)
    kept = {p for _, p, _ in out}
    for label, path in _watched:
        try:
            if path in kept or os.stat(path).st_mtime < since:
                continue
        except OSError:
            continue
        t = _tail(path)
        if t:
            out.append((label, path, t))
    return out


def _err(text=''):
    print(text, file=sys.stderr, flush=True)


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0
        self.failures = []
        self.tests = []

    def case(self, fn):
        self.tests.append(fn)
        return fn

    def report(self, desc, fn, started):
        """A failure on stderr, for meson's --print-errorlogs (which shows a TAP test's
        stderr only, its last 100 lines): logs first, the traceback and the
        assertion last."""
        exc = traceback.format_exc().rstrip('\n').splitlines()
        _err(f'===== not ok {self.n} - {desc} ({fn.__name__})')
        for label, path, tail in _logs_of_case(started):
            _err(f'----- {label}: the end of {path}')
            _err(tail)
        _err('----- traceback')
        if len(exc) > 60:  # a long message (a log inside it): its start and its end
            exc = exc[:20] + [f'[... {len(exc) - 50} lines ...]'] + exc[-30:]
        _err('\n'.join(exc))
        e = sys.exc_info()[1]
        first = (str(e).strip().splitlines() or [''])[0]
        _err(f'===== FAIL {self.n} - {fn.__name__}: {type(e).__name__}: {first[:300]}')

    def run(self, *args):
        # ALB_TEST_ONLY=name,name: only those cases (by function name), to chase one.
        only = [n for n in os.environ.get('ALB_TEST_ONLY', '').split(',') if n]
        if only:
            self.tests = [fn for fn in self.tests if fn.__name__ in only]
        print(f'1..{len(self.tests)}', flush=True)
        # meson's timeout sends SIGTERM: say where the case hung, then die of it.
        faulthandler.register(signal.SIGTERM, all_threads=True, chain=True)
        for fn in self.tests:
            self.n += 1
            desc = (fn.__doc__ or fn.__name__).strip().splitlines()[0]
            started = time.time()
            _snapshots.clear()
            faulthandler.dump_traceback_later(CASE_WATCHDOG, exit=False)
            try:
                fn(*args)
                print(f'ok {self.n} - {desc}', flush=True)
            except Skip as e:
                print(f'ok {self.n} - {desc} # SKIP {e}', flush=True)
            except Exception:
                self.failed += 1
                self.failures.append(f'{self.n} - {fn.__name__}')
                print(f'not ok {self.n} - {desc}', flush=True)
                for line in traceback.format_exc().splitlines():
                    print(f'# {line}', flush=True)
                self.report(desc, fn, started)
            finally:
                faulthandler.cancel_dump_traceback_later()
            print(f'# {fn.__name__}: {time.time() - started:.1f} s', flush=True)
        if self.failed:
            _err(f'{os.path.basename(sys.argv[0])}: {self.failed} of {self.n} failed: '
                 + ', '.join(self.failures))
        return 1 if self.failed else 0


def check(cond, msg=''):
    if not cond:
        raise AssertionError(msg)


def wait_for(pred, timeout=WAIT, what='condition', interval=0.02):
    """Waits until pred() is true (returns its value), checking every interval
    seconds, for at most timeout seconds: a cap, not an expected duration."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            raise AssertionError(f'timed out after {timeout}s waiting for {what}')
        time.sleep(interval)


def monitors(rundir):
    """{monitor pid: its argv} of the monitors of the unikernels of rundir."""
    prefix = os.path.join(rundir, 'u') + '/'
    found = {}
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            with open(f'/proc/{p}/cmdline', 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if len(argv) > 2 and argv[0].endswith(b'albatross-monitor') and \
                argv[1].decode(errors='replace').startswith(prefix):
            found[int(p)] = [a.decode(errors='replace') for a in argv if a]
    return found


def kill_monitors(rundir):
    """Kills what a test left running below rundir: the monitors, and their tenders
    with them (PR_SET_PDEATHSIG)."""
    for pid in monitors(rundir):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


class Daemon:
    """A real albatrossd in a temporary directory."""

    def __init__(self, paths, workdir=None, extra=(), env=None):
        self.env = dict(os.environ, **(env or {}))
        self.paths = paths
        self.dir = workdir or tempfile.mkdtemp(prefix='alb-it-', dir=os.environ.get('TMPDIR'))
        os.chmod(self.dir, 0o711)  # a --tender-user must reach the dbdir below it
        self.rundir = os.path.join(self.dir, 'run')
        self.dbdir = os.path.join(self.dir, 'db')
        self.socket = os.path.join(self.rundir, 'albatrossd.sock')
        self.extra = list(extra)
        self.proc = None
        self.log = os.path.join(self.dir, 'albatrossd.log')
        watch_log('albatrossd', self.log)

    def start(self, expect_ready=True):
        args = self.wrap([self.paths['albatrossd'], '--rundir', self.rundir, '--dbdir',
                          self.dbdir, '--tender-dir', self.paths['tender_dir'], '-vv'] +
                         self.extra)
        self.logf = open(self.log, 'a')
        self.log_start = self.logf.tell()
        self.proc = subprocess.Popen(args, stdout=self.logf, stderr=self.logf, env=self.env,
                                     **self.popen_extra())
        if expect_ready:
            wait_for(lambda: self.ready() or self.proc.poll() is not None, WAIT, 'albatrossd')
            check(self.proc.poll() is None, f'albatrossd exited: {self.log_text()}')
        return self

    def popen_extra(self):
        return {}

    def wrap(self, args):
        return args

    def ready(self):
        return 'notice: ready' in self.log_text()[self.log_start:]

    def log_text(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ''

    def stop(self, sig=signal.SIGTERM, timeout=WAIT):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError('albatrossd did not stop')
        rc = self.proc.returncode if self.proc else None
        if self.proc:
            self.logf.close()
        self.proc = None
        return rc

    def cleanup(self):
        try:
            # SIGUSR2 stops the unikernels and releases their taps; SIGTERM would leave
            # them running under their monitors, SIGKILL their taps too.
            self.stop(signal.SIGUSR2)
        except AssertionError:
            pass
        kill_monitors(self.rundir)
        snapshot_logs(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)

    def cli(self, *args, check_rc=None, input=None):
        r = subprocess.run([self.paths['client'], '--socket', self.socket] + list(args),
                           capture_output=True, text=True, input=input, timeout=2 * WAIT)
        if check_rc is not None and r.returncode != check_rc:
            raise AssertionError(f'albatross-client {" ".join(args)}: exit {r.returncode}, '
                                 f'expected {check_rc}\nstdout: {r.stdout}\nstderr: {r.stderr}'
                                 f'\nalbatrossd log tail:\n{self.log_text()[-3000:]}')
        return r

    def ok(self, *args):
        return self.cli(*args, check_rc=0)

    def refused(self, needle, *args):
        r = self.cli(*args)
        check(r.returncode == 1, f'expected exit 1 for {args}, got {r.returncode}: {r.stderr}')
        check(needle in r.stderr, f'expected "{needle}" in: {r.stderr}')
        return r

    def info(self, name=':'):
        r = self.ok('info', name, '--json')
        return json.loads(r.stdout)

    def one(self, name):
        v = self.info(name)
        check(len(v) == 1, f'expected one unikernel {name}: {v}')
        return v[0]


def started(paths, extra=()):
    """A Daemon of paths with the extra options, started (cleaned up if it fails to)."""
    d = Daemon(paths, extra=list(extra))
    try:
        return d.start()
    except BaseException:
        d.cleanup()
        raise


def mkimage(paths, path, nets=(), blocks=(), target='spt'):
    args = [paths['mkimage'], path, '--target', target]
    for n in nets:
        args += ['--net', n]
    for b in blocks:
        args += ['--block', b]
    subprocess.run(args, check=True)
    return path


def proc_status(pid):
    try:
        with open(f'/proc/{pid}/status') as f:
            return dict(line.rstrip('\n').split(':\t', 1) for line in f if ':\t' in line)
    except OSError:
        return None


def alive(pid):
    st = proc_status(pid)
    return st is not None and not st.get('State', '').startswith('Z')


def link_exists(name):
    return os.path.exists(f'/sys/class/net/{name}')


def link_master(name):
    try:
        return os.path.basename(os.readlink(f'/sys/class/net/{name}/master'))
    except OSError:
        return None


def taps():
    return sorted(n for n in os.listdir('/sys/class/net') if n.startswith('alb'))


# ---- a minimal CBOR encoder for raw frames ----

def _head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for ai, fmt in ((24, '>B'), (25, '>H'), (26, '>I'), (27, '>Q')):
        if n < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | ai]) + struct.pack(fmt, n)
    raise ValueError(n)


def cbor(v):
    if isinstance(v, bool):
        return b'\xf5' if v else b'\xf4'
    if isinstance(v, int):
        return _head(0, v)
    if isinstance(v, bytes):
        return _head(2, len(v)) + v
    if isinstance(v, str):
        b = v.encode()
        return _head(3, len(b)) + b
    if isinstance(v, list):
        return _head(4, len(v)) + b''.join(cbor(x) for x in v)
    if isinstance(v, dict):
        return _head(5, len(v)) + b''.join(cbor(k) + cbor(x) for k, x in v.items())
    raise TypeError(v)


def frame(payload):
    return struct.pack('>I', len(payload)) + payload


def raw_exchange(sock_path, data, timeout=WAIT):
    """Sends bytes, returns the daemon's answer: one whole frame, or what came until it
    closed (or, at worst, went quiet for timeout seconds)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    s.sendall(data)
    out = b''
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
            if len(out) >= 4 and len(out) >= 4 + struct.unpack('>I', out[:4])[0]:
                break
    except socket.timeout:
        pass
    s.close()
    return out
