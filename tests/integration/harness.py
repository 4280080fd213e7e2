# SPDX-License-Identifier: ISC
"""Shared pieces of the integration tests: TAP output, a private network
namespace with bridges, a real albatrossd in a temporary directory, the real
albatross-client, test images, and a minimal CBOR encoder for raw frames."""
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

SKIP = 77


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


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0
        self.tests = []

    def case(self, fn):
        self.tests.append(fn)
        return fn

    def run(self, *args):
        print(f'1..{len(self.tests)}', flush=True)
        for fn in self.tests:
            self.n += 1
            desc = (fn.__doc__ or fn.__name__).strip().splitlines()[0]
            try:
                fn(*args)
                print(f'ok {self.n} - {desc}', flush=True)
            except Skip as e:
                print(f'ok {self.n} - {desc} # SKIP {e}', flush=True)
            except Exception:
                self.failed += 1
                print(f'not ok {self.n} - {desc}', flush=True)
                for line in traceback.format_exc().splitlines():
                    print(f'# {line}', flush=True)
        return 1 if self.failed else 0


def check(cond, msg=''):
    if not cond:
        raise AssertionError(msg)


def wait_for(pred, timeout=10.0, what='condition'):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f'timed out after {timeout}s waiting for {what}')


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

    def start(self, expect_ready=True):
        args = self.wrap([self.paths['albatrossd'], '--rundir', self.rundir, '--dbdir',
                          self.dbdir, '--tender-dir', self.paths['tender_dir'], '-vv'] +
                         self.extra)
        self.logf = open(self.log, 'a')
        self.log_start = self.logf.tell()
        self.proc = subprocess.Popen(args, stdout=self.logf, stderr=self.logf, env=self.env,
                                     **self.popen_extra())
        if expect_ready:
            wait_for(lambda: self.ready() or self.proc.poll() is not None, 10, 'albatrossd')
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

    def stop(self, sig=signal.SIGTERM, timeout=20):
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
            self.stop(signal.SIGTERM)  # releases taps; SIGKILL would leave them
        except AssertionError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def cli(self, *args, check_rc=None, input=None):
        r = subprocess.run([self.paths['client'], '--socket', self.socket] + list(args),
                           capture_output=True, text=True, input=input, timeout=60)
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


def mkimage(paths, path, nets=(), blocks=(), target='hvt'):
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


def raw_exchange(sock_path, data, timeout=5):
    """Sends bytes, returns everything the daemon answers until it closes or goes quiet."""
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
