#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Integration tests of albatross-log with the real albatrossd, albatross-client and the test
tender, as root in a private network namespace (exit 77 otherwise).

usage: test-log.py ALBATROSSD CLIENT TENDER_DIR MKIMAGE CONSOLE LOG STATS"""
import json
import os
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
from harness import (WAIT, Daemon, Tap, cbor, check, frame, mkimage,  # noqa: E402
                     require_netns, wait_for, watch_log)

require_netns(sys.argv)
PATHS = dict(zip(('albatrossd', 'client', 'tender_dir', 'mkimage', 'console', 'log', 'stats'),
                 sys.argv[1:8]))
tap = Tap()
# Quick restarts; a crash-loop window that the restarts fall within however slow.
FAST = ['--restart-backoff', '200', '--crash-loop', '3/600', '--stop-timeout', '2']
KINDS = ['daemon-start', 'policy-added', 'block-added', 'unikernel-created', 'unikernel-started',
         'unikernel-exited', 'unikernel-restarting', 'unikernel-failed', 'unikernel-destroyed',
         'block-removed', 'policy-removed', 'daemon-stop']


class LogDaemon:
    """A real albatross-log serving RUNDIR/log.sock, its log in LOGDIR."""

    def __init__(self, rundir, logdir, extra=()):
        self.rundir, self.logdir, self.extra = rundir, logdir, list(extra)
        self.out = os.path.join(os.path.dirname(logdir.rstrip('/')),
                                os.path.basename(logdir.rstrip('/')) + '-daemon.log')
        watch_log('albatross-log', self.out)
        self.proc = None

    def start(self):
        with open(self.out, 'a') as f:
            self.start_at = f.tell()
        self.f = open(self.out, 'a')
        self.proc = subprocess.Popen([PATHS['log'], '--rundir', self.rundir, '--logdir',
                                      self.logdir, '-vv'] + self.extra,
                                     stdout=self.f, stderr=self.f)
        wait_for(lambda: 'notice: ready' in self.text()[self.start_at:] or
                 self.proc.poll() is not None, WAIT, 'albatross-log')
        check(self.proc.poll() is None, f'albatross-log exited: {self.text()}')
        return self

    def text(self):
        try:
            with open(self.out) as f:
                return f.read()
        except OSError:
            return ''

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(WAIT)
        if self.proc:
            self.f.close()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    @property
    def socket(self):
        return os.path.join(self.rundir, 'log.sock')


def client(rundir, *args, check_rc=0):
    r = subprocess.run([PATHS['client'], '--rundir', rundir] + list(args), capture_output=True,
                       text=True, timeout=2 * WAIT)
    if check_rc is not None and r.returncode != check_rc:
        raise AssertionError(f'albatross-client {" ".join(args)}: exit {r.returncode}, '
                             f'expected {check_rc}\nstdout: {r.stdout}\nstderr: {r.stderr}')
    return r


def events(rundir, *args):
    return json.loads(client(rundir, 'log', '--json', *args).stdout)


def workdir():
    d = tempfile.mkdtemp(prefix='alb-log-', dir=os.environ.get('TMPDIR'))
    os.chmod(d, 0o711)
    return d


def event_msg(seq, kind, name=None, **kw):
    e = {'kind': kind, 'time': int(time.time() * 1e6)}
    if name:
        e['name'] = name
    e.update(kw)
    return frame(cbor({'version': 1, 'seq': seq, 'name': name or ':',
                       'command': {'op': 'log-event', 'event': e}}))


def recv_frame(s):
    hdr = b''
    while len(hdr) < 4:
        b = s.recv(4 - len(hdr))
        if not b:
            return None
        hdr += b
    n = struct.unpack('>I', hdr)[0]
    body = b''
    while len(body) < n:
        b = s.recv(n - len(body))
        if not b:
            return None
        body += b
    return body


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2 * WAIT)
    s.connect(path)
    return s


def send_events(path, msgs):
    """Sends log-event frames on one connection; returns the raw replies."""
    s = connect(path)
    s.sendall(b''.join(msgs))
    replies = [recv_frame(s) for _ in msgs]
    s.close()
    return replies


@tap.case
def test_raw_events_and_bad_input():
    """log-event by hand: stored in order; bad input is refused and the daemon goes on"""
    w = workdir()
    run, logdir = os.path.join(w, 'run'), os.path.join(w, 'logs')
    lg = LogDaemon(run, logdir).start()
    try:
        msgs = [event_msg(i, k, None if k.startswith('daemon') else
                          ('alice:' if k.startswith('policy') else
                           'alice:disk' if k.startswith('block') else 'alice:vm'),
                          identity='uid 0') for i, k in enumerate(KINDS)]
        replies = send_events(lg.socket, msgs)
        check(all(r and b'success' in r for r in replies), replies)
        got = events(run)
        check([e['kind'] for e in got] == KINDS, got)
        check(all(e.get('identity') == 'uid 0' for e in got), got)

        # malformed: an unknown event kind (the decoder refuses; the connection closes)
        s = connect(lg.socket)
        s.sendall(event_msg(1, 'unikernel-exploded', 'a:vm'))
        r = recv_frame(s)
        check(r and b'failure' in r, r)
        s.close()
        # a command albatross-log does not serve
        s = connect(lg.socket)
        s.sendall(frame(cbor({'version': 1, 'seq': 2, 'name': ':',
                              'command': {'op': 'unikernel-info'}})))
        r = recv_frame(s)
        check(r and b'failure' in r and b'not a command of albatross-log' in r, r)
        # the same connection still serves
        s.sendall(event_msg(3, 'daemon-start'))
        r = recv_frame(s)
        check(r and b'success' in r, r)
        s.close()
        # subscriptions: since in the future, count out of range, both
        for cmd, needle in (({'since': int(time.time() * 1e6) + 3600_000_000}, b'future'),
                            ({'count': 0}, b'out of range'),
                            ({'count': 65537}, b'out of range'),
                            ({'count': 1, 'since': 1}, b'not allowed together')):
            s = connect(lg.socket)
            c = {'op': 'log-subscribe'}
            c.update(cmd)
            s.sendall(frame(cbor({'version': 1, 'seq': 4, 'name': ':', 'command': c})))
            r = recv_frame(s)
            check(r and b'failure' in r and needle in r, (cmd, r))
            s.close()
        # garbage bytes
        s = connect(lg.socket)
        s.sendall(b'\x00\x00\x00\x03abc')
        r = recv_frame(s)
        check(r and b'failure' in r, r)
        s.close()
        check(lg.proc.poll() is None, 'albatross-log died')
        check(len(events(run)) == len(KINDS) + 1)
        # the CLI's own checks
        r = client(run, 'log', '--count', '0', check_rc=2)
        r = client(run, 'log', '--since', '2999-01-01T00:00:00Z', check_rc=2)
        r = client(run, 'log', '--since', '1', '--count', '1', check_rc=2)
        r = client(run, 'log', 'Not_A_Name', check_rc=2)
    finally:
        lg.stop()
        shutil.rmtree(w, ignore_errors=True)


def with_daemons(fn, extra_log=()):
    d = Daemon(PATHS, extra=FAST)
    lg = LogDaemon(d.rundir, os.path.join(d.dir, 'logs'), extra_log)
    try:
        os.makedirs(d.rundir, exist_ok=True)
        lg.start()
        d.start()
        fn(d, lg)
    finally:
        d.cleanup()
        lg.stop()
        shutil.rmtree(d.dir, ignore_errors=True)


def events_when(rundir, pred, what, *args):
    """The events once pred(events) holds: albatrossd sends its events to albatross-log
    on its own time, after its reply to the command that made them."""
    return wait_for(lambda: (lambda evs: pred(evs) and evs)(events(rundir, *args)), WAIT,
                    what)


def first_index(evs, kind, name=None):
    for i, e in enumerate(evs):
        if e['kind'] == kind and (name is None or e.get('name') == name):
            return i
    raise AssertionError(f'no {kind} in {[e["kind"] for e in evs]}')


@tap.case
def test_every_kind_in_order():
    """a scripted sequence with the real albatrossd: every event kind in order, with details"""
    def run(d, lg):
        img = mkimage(PATHS, os.path.join(d.dir, 'img.spt'), nets=['service'])
        wait_for(lambda: events(d.rundir), WAIT, 'daemon-start')
        d.ok('add-policy', 'alice:', '2', '--mem', '64', '--cpu', '0', '--bridge', 'br0',
             '--block', '10')
        d.ok('create-block', 'alice:disk', '1')
        d.ok('create', 'alice:crashy', img, '--mem', '8', '--cpu', '0', '--net', 'service:br0',
             '--restart-on-fail', '--arg', '--sleep=50', '--arg', '--exit=3')
        wait_for(lambda: d.one('alice:crashy')['state'] == 'failed', 2 * WAIT, 'a crash loop')
        d.ok('destroy', 'alice:crashy')
        # a running one's start after its restart is the command's, said with whose
        d.ok('create', 'alice:steady', img, '--mem', '8', '--cpu', '0', '--net',
             'service:br0', '--arg', '--run')
        d.ok('restart', 'alice:steady')
        d.ok('destroy', 'alice:steady')
        d.ok('destroy-block', 'alice:disk')
        d.ok('remove-policy', 'alice:')
        check(d.stop() == 0)
        try:
            wait_for(lambda: any(e['kind'] == 'daemon-stop' for e in events(d.rundir)), WAIT,
                     'daemon-stop')
        except AssertionError:
            raise AssertionError(f'no daemon-stop: albatrossd:\n{d.log_text()[-3000:]}\n'
                                 f'albatross-log:\n{lg.text()[-3000:]}')
        evs = events(d.rundir)
        kinds = [e['kind'] for e in evs]
        idx = [first_index(evs, k) for k in KINDS]
        check(idx == sorted(idx), f'out of order: {kinds}')
        started = evs[first_index(evs, 'unikernel-started')]
        check(started['name'] == 'alice:crashy' and started['pid'] > 0, started)
        check(len(started['digest']) == 64 and len(started['taps']) == 1, started)
        exited = evs[first_index(evs, 'unikernel-exited')]
        check(exited['exit'] == {'code': 3}, exited)
        restarting = evs[first_index(evs, 'unikernel-restarting')]
        check(restarting['attempt'] >= 1 and restarting['delay'] > 0, restarting)
        check(evs[first_index(evs, 'unikernel-created')].get('identity') == 'uid 0', evs)
        starts = [e for e in evs if e['kind'] == 'unikernel-started' and
                  e['name'] == 'alice:steady']
        check(len(starts) == 2 and starts[-1].get('identity') == 'uid 0', starts)
        check(evs[first_index(evs, 'policy-added')]['name'] == 'alice:', evs)
        check(evs[first_index(evs, 'block-added')]['name'] == 'alice:disk', evs)
        # the human-readable form has a line per event
        # nothing below a path: said so (as info and block say it); --json gives []
        check(client(d.rundir, 'log', 'nobody:').stdout == '(none)\n', 'no (none)')
        check(client(d.rundir, 'log', '--json', 'nobody:').stdout.strip() == '[]', 'not []')
        text = client(d.rundir, 'log').stdout.splitlines()
        check(len(text) == len(evs), text)
        check(any(' unikernel-exited alice:crashy ' in t and ' exit=3' in t for t in text), text)
    with_daemons(run)


@tap.case
def test_exit_while_albatrossd_away():
    """albatrossd stops (its unikernels keep running), one exits with a restart code while
    it is away: the next albatrossd logs that exit and the restart, and its own stop says
    how many unikernels kept running"""
    def run(d, lg):
        img = mkimage(PATHS, os.path.join(d.dir, 'img.spt'))
        d.ok('create', 'away', img, '--exit-code', '4', '--arg', '--wait=USR1', '--arg',
             '--exit=4')
        pid = d.one('away')['pid']
        check(d.stop() == 0)
        stop = events_when(d.rundir, lambda evs: any(e['kind'] == 'daemon-stop' for e in evs),
                           'daemon-stop')
        check([e.get('message') for e in stop if e['kind'] == 'daemon-stop'] ==
              ['1 unikernel keeps running'], stop)
        os.kill(pid, signal.SIGUSR1)
        wait_for(lambda: not os.path.exists(f'/proc/{pid}/stat') or
                 open(f'/proc/{pid}/stat').read().split()[2] == 'Z', WAIT, 'the exit')
        d.start()
        evs = events_when(d.rundir, lambda evs: any(e['kind'] == 'unikernel-restarting'
                                                   for e in evs), 'the restart')
        kinds = [e['kind'] for e in evs]
        exited = evs[first_index(evs, 'unikernel-exited', 'away')]
        check(exited['pid'] == pid and exited['exit'] == {'code': 4}, exited)
        check(kinds.index('daemon-stop') < kinds.index('daemon-start', kinds.index('daemon-stop'))
              < kinds.index('unikernel-exited') < kinds.index('unikernel-restarting'), kinds)
        # started once by the create, once by the restart: never by the adoption
        wait_for(lambda: d.one('away')['state'] == 'running', WAIT, 'the restart')
        evs = events(d.rundir)
        check([e['kind'] for e in evs].count('unikernel-started') == 2, evs)
    with_daemons(run)


@tap.case
def test_queries():
    """--count, --since (µs and RFC 3339), a path filter, a name"""
    def run(d, lg):
        img = mkimage(PATHS, os.path.join(d.dir, 'img.spt'))
        for name in ('alice:a', 'alice:b', 'bob:c'):
            d.ok('create', name, img, '--arg', '--run')
            d.ok('destroy', name)
        # daemon-start, then created, started, exited and destroyed of each
        evs = events_when(d.rundir, lambda evs: len(evs) >= 13, 'the 13 events')
        check(len(evs) == 13, evs)
        check(events(d.rundir, '--count', '3') == evs[-3:])
        check(events(d.rundir, '--count', '65536') == evs)
        t = evs[5]['time']
        since = events(d.rundir, '--since', str(t))
        check(since == [e for e in evs if e['time'] >= t], since)
        iso = time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(t // 1000000)) + \
            '.%06dZ' % (t % 1000000)
        check(events(d.rundir, '--since', iso) == since)
        alice = events(d.rundir, 'alice:')
        check(alice == [e for e in evs if (e.get('name') or '').startswith('alice:')], alice)
        check(len(alice) == 8, alice)
        check([e['kind'] for e in events(d.rundir, 'bob:c')] ==
              [e['kind'] for e in evs if e.get('name') == 'bob:c'])
        check(events(d.rundir, 'nobody:') == [])
        check(events(d.rundir, 'alice:', '--count', '1') == alice[-1:])
    with_daemons(run)


@tap.case
def test_follow():
    """--follow gets the history asked for, then live events; a slow subscriber is dropped"""
    def run(d, lg):
        d.ok('add-policy', 'alice:', '2', '--mem', '64', '--cpu', '0')
        # in the log (albatrossd sends it after its reply): the history asked for below
        events_when(d.rundir, lambda evs: evs, 'policy-added', 'alice:')
        p = subprocess.Popen([PATHS['client'], '--rundir', d.rundir, 'log', '--json',
                              '--follow', '--count', '1', 'alice:'],
                             stdout=subprocess.PIPE)
        buf = [b'']
        try:
            def line():
                while b'\n' not in buf[0]:
                    r, _, _ = select.select([p.stdout], [], [], WAIT)
                    check(r, f'no event within {WAIT} s')
                    b = os.read(p.stdout.fileno(), 65536)
                    check(b, 'log --follow ended')
                    buf[0] += b
                first, buf[0] = buf[0].split(b'\n', 1)
                return json.loads(first)
            # The history; it is subscribed from then on.
            e = line()
            check(e['kind'] == 'policy-added' and e['name'] == 'alice:', e)
            d.ok('add-policy', 'bob:', '2', '--mem', '64', '--cpu', '0')
            d.ok('remove-policy', 'alice:')
            e = line()
            check(e['kind'] == 'policy-removed' and e['name'] == 'alice:', e)
            check(p.poll() is None, 'log --follow ended')
        finally:
            p.terminate()
            p.wait()

        # A subscriber that never reads: it is dropped, the daemon goes on.
        s = connect(lg.socket)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(frame(cbor({'version': 1, 'seq': 1, 'name': ':',
                              'command': {'op': 'log-subscribe', 'follow': True}})))
        r = recv_frame(s)  # subscribed (new events only: nothing else comes first)
        check(r and b'success' in r, r)
        long_text = 'x' * 4000
        for batch in range(3):
            replies = send_events(lg.socket, [event_msg(i, 'unikernel-failed', 'z:vm',
                                                        message=long_text)
                                              for i in range(1000)])
            check(all(r and b'success' in r for r in replies))
        wait_for(lambda: 'Dropping a subscriber' in lg.text(), WAIT, 'the slow one dropped')
        s.close()
        check(len(events(d.rundir, '--count', '10')) == 10)
    with_daemons(run)


def snapshot_events(logdir, w):
    """The events of a copy of logdir, read by a second albatross-log."""
    copy = os.path.join(w, 'copy-logs')
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(logdir, copy)
    run = os.path.join(w, 'copy-run')
    lg = LogDaemon(run, copy).start()
    try:
        return events(run, '--count', '65536')
    finally:
        lg.stop()


@tap.case
def test_kill_during_writes():
    """kill -9 while events are written, a torn record: nothing before it lost"""
    def run(d, lg):
        img = mkimage(PATHS, os.path.join(d.dir, 'img.spt'))
        # events, until the test ends it
        proc = subprocess.Popen(['sh', '-c', 'i=0; while :; do '
                                 '"$0" --socket "$1" create "loop$i" "$2" --arg --run '
                                 '>/dev/null 2>&1; "$0" --socket "$1" destroy "loop$i" '
                                 '>/dev/null 2>&1; i=$((i+1)); done',
                                 PATHS['client'], d.socket, img])
        try:
            wait_for(lambda: len(events(d.rundir, '--count', '100')) >= 20, 2 * WAIT, 'events')
            lg.stop(signal.SIGKILL)
            path = os.path.join(lg.logdir, 'events.log')
            before = snapshot_events(lg.logdir, d.dir)
            check(len(before) >= 20, before)
            # A record cut short, as a crash in the middle of a write leaves it.
            with open(path, 'rb') as f:
                data = f.read()
            with open(path, 'ab') as f:
                f.write(data[-30:-7])
            lg.start()
            check('dropping a torn or corrupt last record' in lg.text(), lg.text()[-2000:])
            after = events(d.rundir, '--count', '65536')
            check(after[:len(before)] == before, 'events before the kill were lost')
            # albatrossd reconnected: new events arrive after the restart
            n = len(after)
            wait_for(lambda: len(events(d.rundir, '--count', '65536')) > n + 4, 2 * WAIT,
                     'new events after the restart')
        finally:
            proc.kill()
            proc.wait()
        # and the log stays readable from the start
        evs = events(d.rundir, '--count', '65536')
        check(evs[0]['kind'] == 'daemon-start', evs[:3])
        check(lg.proc.poll() is None)
    with_daemons(run)


@tap.case
def test_rotation_and_restart():
    """a small --max-size rotates to events.log.1, and queries read both"""
    def run(d, lg):
        for i in range(200):
            d.ok('add-policy', f'p{i}:', '1', '--mem', '8', '--cpu', '0')
        # the last one in the log (albatrossd sends it after its reply)
        evs = events_when(d.rundir, lambda evs: evs and evs[-1].get('name') == 'p199:',
                          'the last policy-added', '--count', '65536')
        logdir = lg.logdir
        check(os.path.exists(os.path.join(logdir, 'events.log.1')), os.listdir(logdir))
        check(os.path.getsize(os.path.join(logdir, 'events.log')) <= 4096)
        names = [e['name'] for e in evs if e['kind'] == 'policy-added']
        check(names and names[-1] == 'p199:', names)
        first = int(names[0][1:-1])
        check(first > 0 and names == [f'p{i}:' for i in range(first, 200)], names)
        lg.stop()
        lg.start()
        check(events(d.rundir, '--count', '65536') == evs)
    with_daemons(run, ['--max-size', '4K'])


sys.exit(tap.run())
