#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The per-unikernel monitor alone (daemon/albatross-monitor.c), with the test tender:
the tender's pid on fd 3, its console output and exit status through the socket, kept
while nobody reads (bounded, losses counted), the exit held until it is taken, a newer
reader replacing an older one, the tender stopped on request ('T', 'K') and when the
monitor gets SIGTERM, a failed start reported.

usage: test-monitor.py MONITOR TENDER_DIR MKIMAGE   (TAP)"""
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

MONITOR, TENDER_DIR, MKIMAGE = sys.argv[1:4]
WAIT = 60
work = tempfile.mkdtemp(prefix='alb-monitor-', dir=os.environ.get('TMPDIR'))
img = os.path.join(work, 'img.spt')
subprocess.run([MKIMAGE, img], check=True)
SPT = [os.path.join(TENDER_DIR, 'solo5-spt'), '--mem=32', '--', img]
results = []


def case(fn):
    results.append(fn)
    return fn


def check(cond, msg=''):
    if not cond:
        raise AssertionError(msg)


def wait_for(pred, what):
    end = time.monotonic() + WAIT
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f'{what} did not happen within {WAIT} s')


def ended(pid):
    """The process is gone, or a zombie."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except OSError:
        return True


def start(d, args, extra=()):
    """Starts a monitor in DIR d as albatrossd does: fd 3 a pipe, a session of its own.
    Returns the process and what it reported on fd 3."""
    os.makedirs(d, exist_ok=True)
    r, w = os.pipe()

    def pre():
        if r != 3:
            os.close(r)
        if w != 3:
            os.dup2(w, 3)
        os.set_inheritable(3, True)
        os.setsid()
    # fd 3 must stay open into the monitor: no close_fds (the test opens nothing else)
    p = subprocess.Popen([MONITOR, os.path.join(d, 'monitor.sock'), *extra, '--', *args],
                         preexec_fn=pre,
                         stdin=subprocess.DEVNULL, close_fds=False)
    os.close(w)
    out = b''
    while True:
        b = os.read(r, 100)
        if not b:
            break
        out += b
    os.close(r)
    return p, out.decode()


class Reader:
    """An albatrossd: reads frames from the monitor's socket DIR/monitor.sock."""

    def __init__(self, d):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(os.path.join(d, 'monitor.sock'))
        self.s.settimeout(WAIT)
        self.buf = b''
        self.taken = 0  # console bytes read, acknowledged as albatrossd does

    def take(self, n):
        self.taken += n
        self.s.send(b'C' + struct.pack('>Q', self.taken))

    def frame(self):
        while True:
            if len(self.buf) >= 5:
                n = struct.unpack('>I', self.buf[1:5])[0]
                if len(self.buf) >= 5 + n:
                    t, p = chr(self.buf[0]), self.buf[5:5 + n]
                    self.buf = self.buf[5 + n:]
                    return t, p
            b = self.s.recv(65536)
            check(b, 'the monitor closed the connection')
            self.buf += b

    def until_exit(self, hello=True):
        """(hello, console bytes, lost bytes, wait status); hello=False: it was read"""
        if hello:
            t, hello = self.frame()
            check(t == 'H', f'first frame {t}')
        out, lost = b'', 0
        while True:
            t, p = self.frame()
            if t == 'D':
                out += p
                self.take(len(p))
            elif t == 'L':
                lost += struct.unpack('>Q', p)[0]
            elif t == 'X':
                status, exited_us, host_stop = struct.unpack('>IQB', p)
                check(exited_us > 0 and host_stop in (0, 1), (exited_us, host_stop))
                self.host_stop = host_stop
                return hello, out, lost, status
            else:
                raise AssertionError(f'frame {t}')

    def ack(self):
        self.s.send(b'A')

    def close(self):
        self.s.close()


def hello_fields(h):
    version, pid, started, exited, status, exited_us, host_stop = struct.unpack('>BIQBIQB', h)
    check(version == 1, f'protocol version {version}')
    check(exited or (status, exited_us, host_stop) == (0, 0, 0), (status, exited_us, host_stop))
    return pid, started, exited, status


@case
def test_run_to_exit():
    """the tender's pid on fd 3, its output and exit code through the socket; gone after 'A'"""
    d = os.path.join(work, 'a')
    p, rep = start(d, SPT + ['--lines=3', '--exit=7'])
    pid = int(rep)
    r = Reader(d)
    hello, out, lost, status = r.until_exit()
    check(hello_fields(hello)[0] == pid, hello_fields(hello))
    check(b'line 1\nline 2\nline 3\n' in out and b'solo5_exit(7)' in out, out)
    check(lost == 0 and os.WEXITSTATUS(status) == 7, (lost, status))
    r.ack()
    check(p.wait(WAIT) == 0, 'monitor exit')
    # the socket is albatrossd's to remove (before its 'A'): the monitor leaves it
    check(os.path.exists(os.path.join(d, 'monitor.sock')), 'the monitor removed its socket')


@case
def test_exit_kept_while_nobody_reads():
    """output and exit of a tender that ran while nobody was connected are kept; a reader
    that goes without 'A' leaves the exit for the next one"""
    d = os.path.join(work, 'b')
    p, rep = start(d, SPT + ['--lines=5', '--exit=3'])
    pid = int(rep)
    wait_for(lambda: ended(pid), 'the tender to end')
    time.sleep(0.2)
    check(p.poll() is None, 'the monitor ended before its exit was taken')
    r = Reader(d)
    hello, out, lost, status = r.until_exit()
    check(hello_fields(hello)[2] == 1, 'hello says it exited')
    check(out.count(b'line ') == 5 and os.WEXITSTATUS(status) == 3, (out, status))
    r.close()  # no 'A': albatrossd died before it took the exit
    r = Reader(d)
    hello, out, lost, status = r.until_exit()
    check(os.WEXITSTATUS(status) == 3 and out == b'', (out, status))
    r.ack()
    check(p.wait(WAIT) == 0, 'monitor exit')


@case
def test_unacknowledged_output_sent_again():
    """output a reader read but did not acknowledge (albatrossd died with it) goes to the
    next reader again; the exit comes once all output is acknowledged"""
    d = os.path.join(work, 'r')
    p, rep = start(d, SPT + ['--lines=20000', '--exit=4'])
    r = Reader(d)
    check(r.frame()[0] == 'H')
    got = b''
    while len(got) < 100000:  # read, never acknowledged
        t, payload = r.frame()
        check(t == 'D', t)
        got += payload
    r.close()
    r = Reader(d)
    hello, out, lost, status = r.until_exit()
    check(out.startswith(got), 'the unacknowledged output was not sent again')
    check(lost == 0 and out.count(b'line ') == 20000, (lost, out.count(b'line ')))
    check(os.WEXITSTATUS(status) == 4, status)
    r.ack()
    check(p.wait(WAIT) == 0, 'monitor exit')


@case
def test_newer_reader_replaces_older():
    """a second connection replaces the first (a new albatrossd while the old one hangs)"""
    d = os.path.join(work, 'c')
    p, rep = start(d, SPT + ['--run'])
    pid = int(rep)
    first = Reader(d)
    check(first.frame()[0] == 'H')
    second = Reader(d)
    check(hello_fields(second.frame()[1])[0] == pid)
    first.s.settimeout(WAIT)
    while first.s.recv(65536):  # what was sent to it before, then the end
        pass
    second.s.send(b'T')  # the monitor signals its tender
    while True:
        t, payload = second.frame()
        if t == 'D':
            second.take(len(payload))
        if t == 'X':
            status = struct.unpack('>I', payload[:4])[0]
            break
    check(os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM, status)
    second.ack()
    check(p.wait(WAIT) == 0, 'monitor exit')


@case
def test_kill_and_sigterm():
    """'K' kills the tender; SIGTERM to the monitor (the host shuts down) stops its tender
    and the monitor with it, when nobody is connected to take the exit"""
    d = os.path.join(work, 'k')
    p, rep = start(d, SPT + ['--run'])
    r = Reader(d)
    check(r.frame()[0] == 'H')
    r.s.send(b'K')
    hello_out, out, lost, status = r.until_exit(hello=False)
    check(os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status)
    check(r.host_stop == 0, 'a stop on request is not the host\'s')
    r.ack()
    check(p.wait(WAIT) == 0, 'monitor exit')
    # SIGTERM while a reader is connected: the exit says the monitor stopped it
    d = os.path.join(work, 'm')
    p, rep = start(d, SPT + ['--run'])
    r = Reader(d)
    check(r.frame()[0] == 'H')
    p.send_signal(signal.SIGTERM)
    hello_out, out, lost, status = r.until_exit(hello=False)
    check(r.host_stop == 1 and os.WTERMSIG(status) == signal.SIGTERM, (r.host_stop, status))
    r.ack()
    check(p.wait(WAIT) == 0, 'monitor exit')
    d = os.path.join(work, 'l')
    p, rep = start(d, SPT + ['--run'])
    pid = int(rep)
    p.send_signal(signal.SIGTERM)
    check(p.wait(WAIT) == 0, 'monitor exit')
    check(ended(pid), 'the tender outlived its monitor')
    check(not os.path.exists(os.path.join(d, 'monitor.sock')), 'socket left')


@case
def test_bound_counts_losses():
    """more than the bound while nobody reads: the oldest output goes, counted"""
    d = os.path.join(work, 'd')
    # about 3.6 MB of console output (more than the 1 MiB bound), then exit 0
    p, rep = start(d, SPT + ['--lines=300000', '--exit=0'])
    pid = int(rep)
    wait_for(lambda: ended(pid), 'the tender to end')
    time.sleep(0.2)
    r = Reader(d)
    hello, out, lost, status = r.until_exit()
    check(lost > 0, 'nothing counted as lost')
    check(len(out) <= 1 << 20, len(out))
    check(out.rstrip().endswith(b'solo5_exit(0) called'), out[-100:])
    r.ack()
    check(p.wait(WAIT) == 0, 'monitor exit')


@case
def test_failed_start_reported():
    """a tender that cannot be executed: "-ERRNO STAGE" on fd 3, exit 1, nothing left"""
    d = os.path.join(work, 'e')
    p, rep = start(d, [os.path.join(work, 'no-such-tender')])
    check(rep.strip() == f'-{2} 4', repr(rep))
    check(p.wait(WAIT) == 1)
    check(not os.path.exists(os.path.join(d, 'monitor.sock')), 'socket left')


@case
def test_usage():
    """a wrong command line is a usage error (2)"""
    for args in ([], ['dir'], ['dir', '--uid', 'x', '--gid', '0', '--', 'true'],
                 ['dir', 'true']):
        r = subprocess.run([MONITOR, *args], capture_output=True, text=True)
        check(r.returncode == 2 and 'usage' in r.stderr, (args, r.returncode, r.stderr))


print(f'1..{len(results)}')
failed = 0
for i, fn in enumerate(results, 1):
    try:
        fn()
        print(f'ok {i} - {fn.__doc__.splitlines()[0]}')
    except Exception as e:  # noqa: BLE001
        failed += 1
        print(f'not ok {i} - {fn.__doc__.splitlines()[0]}: {e}')
        print(f'# {e}', file=sys.stderr)
shutil.rmtree(work, ignore_errors=True)
sys.exit(1 if failed else 0)
