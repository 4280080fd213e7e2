#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Fair share under hostile load, on the local sockets (docs/protocol.md, "Fair share"):
attacks on the real albatrossd and albatross-log (some by a second uid, 65534), each while a
legitimate client is served by the real albatross-client. As root in a private network namespace (exit 77 otherwise).

usage: test-fairness.py ALBATROSSD CLIENT TENDER_DIR MKIMAGE CONSOLE LOG STATS"""
import glob
import json
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (WAIT, Daemon, Tap, cbor, check, frame,  # noqa: E402
                     require_netns, wait_for, watch_log)

require_netns(sys.argv)
PATHS = dict(zip(('albatrossd', 'client', 'tender_dir', 'mkimage', 'console', 'log', 'stats'),
                 sys.argv[1:8]))
tap = Tap()


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)  # blocking: it waits while the backlog is full
    s.settimeout(WAIT)
    return s


def recv_frame(s):
    """One whole frame's payload, or None at the end."""
    head = b''
    while len(head) < 4:
        b = s.recv(4 - len(head))
        if not b:
            return None
        head += b
    n = struct.unpack('>I', head)[0]
    out = b''
    while len(out) < n:
        b = s.recv(n - len(out))
        if not b:
            return None
        out += b
    return out


def closed_with(s):
    """What came on s before the server closed it (s is readable): the failure, or b''."""
    out = b''
    s.settimeout(WAIT)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return out
            out += b
    except OSError:
        return out


def readable(socks):
    r, _, _ = select.select(socks, [], [], 0)
    return r


class LogDaemon:
    """A real albatross-log serving RUNDIR/log.sock."""

    def __init__(self, rundir, logdir, env=None, extra=()):
        self.rundir, self.logdir, self.extra = rundir, logdir, list(extra)
        self.env = dict(os.environ, **(env or {}))
        self.out = logdir.rstrip('/') + '-daemon.log'
        watch_log('albatross-log', self.out)

    def start(self):
        self.f = open(self.out, 'a')
        self.proc = subprocess.Popen([PATHS['log'], '--rundir', self.rundir, '--logdir',
                                      self.logdir, '-vv'] + self.extra, stdout=self.f,
                                     stderr=self.f, env=self.env)
        wait_for(lambda: 'notice: ready' in self.text() or self.proc.poll() is not None,
                 WAIT, 'albatross-log')
        check(self.proc.poll() is None, f'albatross-log exited: {self.text()}')
        return self

    def text(self):
        with open(self.out) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(WAIT)
        self.f.close()

    @property
    def socket(self):
        return os.path.join(self.rundir, 'log.sock')


@tap.case
def test_idle_connections():
    """300 idle connections to albatrossd (more than its 256 slots): the real client is
    served all along, each newcomer taking the slot of the idlest, which is told why"""
    d = Daemon(PATHS).start()  # the idle timeout is 60 s: none goes for that here
    held = []
    try:
        for _ in range(300):
            held.append(connect(d.socket))
        for _ in range(5):
            check(d.info() == [], 'info')
        # 300 came for 256 slots, then the client's: 45 of the idle ones went, told why.
        wait_for(lambda: len(readable(held)) >= 300 - 256 + 1, WAIT, 'the idlest to go')
        for s in readable(held):
            r = closed_with(s)
            check(b'closed to make room: 256 connections are open (the bound), uid 0 holds'
                  in r, r)
        check('Closing a connection of uid 0 for one of uid 0' in d.log_text(), 'not logged')
        check(d.proc.poll() is None and d.info() == [], 'albatrossd does not serve')
    finally:
        for s in held:
            s.close()
        d.cleanup()


@tap.case
def test_idle_timeout():
    """a connection with nothing under way is closed after the idle timeout, saying so; one
    that sends a command in time is served"""
    d = Daemon(PATHS, env={'ALBATROSS_IDLE_TIMEOUT': '1'}).start()
    try:
        s = connect(d.socket)
        wait_for(lambda: readable([s]), WAIT, 'the idle timeout')
        r = closed_with(s)
        check(b'closed: idle for 1000 ms' in r, r)
        s.close()
        check(d.info() == [], 'info')
    finally:
        d.cleanup()


def blocks_under(d):
    """Temporary files of uploads."""
    return (glob.glob(os.path.join(d.dir, '**', '.upload-*'), recursive=True) +
            glob.glob(os.path.join(d.dir, '**', '.image-*'), recursive=True))


@tap.case
def test_trickling_upload():
    """an upload that trickles (a byte every 0.2 s) below the minimum rate is cut off with a
    failure naming the rate, nothing left behind; the block device keeps its data, and
    others are served meanwhile"""
    d = Daemon(PATHS, env={'ALBATROSS_IDLE_TIMEOUT': '3',
                           'ALBATROSS_MIN_RATE': '100'}).start()
    try:
        d.ok('create-block', 'disk', '1')
        s = connect(d.socket)
        cmd = {'version': 1, 'seq': 3, 'name': 'disk',
               'command': {'op': 'block-set', 'data-size': 4096, 'compressed': False}}
        chunk = frame(cbor({'version': 1, 'seq': 3, 'name': 'disk',
                            'data': {'kind': 'chunk', 'chunk': b'x' * 4096}}))
        s.sendall(frame(cbor(cmd)) + chunk[:100])
        # A byte every 0.2 s: 5 bytes/s, the minimum is 100. It is cut off; meanwhile the
        # real client is served.
        sent = 100
        while not readable([s]) and sent < len(chunk):
            check(d.info() == [], 'info')
            try:
                s.sendall(chunk[sent:sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                break  # cut off since the look above
            sent += 1
            time.sleep(0.2)  # the trickle itself: the pace of the attack, not a wait
        check(sent < len(chunk), 'the trickle went through')
        r = closed_with(s)
        check(b'failure' in r and b'of a message, 300 at least are expected (100 bytes/s)'
              in r, r)
        s.close()
        wait_for(lambda: not blocks_under(d), WAIT, 'the spool file to go')
        out = os.path.join(d.dir, 'out')
        d.ok('dump-block', 'disk', out)
        with open(out, 'rb') as f:
            check(f.read(4096) == b'\0' * 4096, 'the block device was written')
        # An honest upload of the same size goes through.
        data = os.path.join(d.dir, 'data')
        with open(data, 'wb') as f:
            f.write(b'y' * 4096)
        d.ok('set-block', 'disk', data)
        check('it trickles' in d.log_text(), 'not logged')
    finally:
        d.cleanup()


@tap.case
def test_log_subscribers():
    """64 idle `log --follow` subscribers of tenant mallory (albatross-log's bound): one-shot
    reads are served; alice's follower is served, and when mallory subscribes 64 more it is
    mallory's oldest that go, told why, never alice's"""
    d = Daemon(PATHS)
    os.makedirs(d.rundir, exist_ok=True)
    lg = LogDaemon(d.rundir, os.path.join(d.dir, 'logs')).start()
    mallory = []
    try:
        d.start()

        def follow(name):
            s = connect(lg.socket)
            s.sendall(frame(cbor({'version': 1, 'seq': 1, 'name': name,
                                  'command': {'op': 'log-subscribe', 'follow': True}})))
            r = recv_frame(s)
            check(r and b'success' in r, r)
            return s

        for _ in range(64):
            mallory.append(follow('mallory:'))
        for _ in range(3):
            r = subprocess.run([PATHS['client'], '--rundir', d.rundir, 'log', '--count', '1'],
                               capture_output=True, text=True, timeout=2 * WAIT)
            check(r.returncode == 0 and 'daemon-start' in r.stdout, r)
        alice = follow('alice:')
        for _ in range(64):
            mallory.append(follow('mallory:'))
        check(not readable([alice]), "alice's subscription was dropped")
        gone = [s for s in mallory if readable([s])]
        check(len(gone) >= 64, f'{len(gone)} of mallory\'s went')
        r = closed_with(gone[0])
        check(b"dropped: a newer subscriber came, and 64 at most are served; uid 0 for "
              b"'mallory' holds 64 of them" in r, r)
        # alice still gets live events.
        d.ok('add-policy', 'alice:', '1', '--mem', '64', '--cpu', '0')
        alice.settimeout(WAIT)
        r = recv_frame(alice)
        check(r and b'policy-added' in r, r)
        check(lg.proc.poll() is None, 'albatross-log exited')
        alice.close()
    finally:
        for s in mallory:
            s.close()
        d.cleanup()
        lg.stop()
        shutil.rmtree(d.dir, ignore_errors=True)


class Helper(LogDaemon):
    """albatross-console or albatross-stats serving RUNDIR."""

    def __init__(self, which, rundir, env=None, extra=()):
        self.which, self.rundir, self.extra = which, rundir, list(extra)
        self.env = dict(os.environ, **(env or {}))
        self.out = os.path.join(os.path.dirname(rundir), which + '-daemon.log')
        watch_log('albatross-' + which, self.out)

    def start(self):
        self.f = open(self.out, 'a')
        self.proc = subprocess.Popen([PATHS[self.which], '--rundir', self.rundir, '-vv'] +
                                     self.extra, stdout=self.f, stderr=self.f, env=self.env)
        wait_for(lambda: 'notice: ready' in self.text() or self.proc.poll() is not None,
                 WAIT, 'albatross-' + self.which)
        check(self.proc.poll() is None, f'albatross-{self.which} exited: {self.text()}')
        return self

    @property
    def socket(self):
        return os.path.join(self.rundir, self.which + '.sock')


@tap.case
def test_feeds_last():
    """albatrossd's own connections to albatross-console, -log and -stats are never closed
    as idle, even with nothing to send (no unikernel): past the idle timeout of each, a
    client's idle connection is closed, albatrossd's are not, and events still flow"""
    d = Daemon(PATHS)
    os.makedirs(d.rundir, exist_ok=True)
    env = {'ALBATROSS_IDLE_TIMEOUT': '3'}
    helpers = [LogDaemon(d.rundir, os.path.join(d.dir, 'logs'), env=env),
               Helper('console', d.rundir, env),
               Helper('stats', d.rundir, env, ['--group', 'nogroup'])]  # nobody may connect
    try:
        for h in helpers:
            h.start()
        d.start()
        wait_for(lambda: d.log_text().count('Connected to albatross-') == 3, WAIT,
                 'albatrossd to connect to its helpers')
        # A client's idle connection to each is closed after 3 s; albatrossd's, idle since,
        # are not.
        for h in helpers:
            s = connect(h.socket)
            wait_for(lambda: readable([s]), WAIT, 'the idle timeout')
            check(b'closed: idle for 3000 ms' in closed_with(s), 'not closed as idle')
            s.close()
        # feed from another uid is refused (EPERM).
        r = feed_as_nobody(helpers[2].socket)
        check(r and b'failure' in r and b'only albatrossd may feed this daemon (uid 65534)'
              in r, r)
        d.ok('add-policy', 'alice:', '1', '--mem', '64', '--cpu', '0')
        wait_for(lambda: 'policy-added' in client_log(d), WAIT, 'the event')
        check(d.log_text().count('Connected to albatross-') == 3 and
              'Lost the connection' not in d.log_text(), d.log_text())
    finally:
        d.cleanup()
        for h in helpers:
            h.stop()
        shutil.rmtree(d.dir, ignore_errors=True)


def feed_as_nobody(path):
    """The reply to a feed command sent as uid 65534, or None if it cannot connect."""
    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rd)
        try:
            os.setgid(65534)
            os.setuid(65534)
            s = connect(path)
            s.sendall(frame(cbor({'version': 1, 'seq': 1, 'name': ':',
                                  'command': {'op': 'feed'}})))
            os.write(wr, recv_frame(s) or b'')
        except OSError:
            pass
        os._exit(0)
    os.close(wr)
    out = b''
    while True:
        b = os.read(rd, 65536)
        if not b:
            break
        out += b
    os.close(rd)
    os.waitpid(pid, 0)
    return out or None


def _hold(path, sends, ready, release, wait_s=0, min_ready=0):
    """In a child of uid 65534: the connections, then what came on each (JSON, hex); with
    wait_s, what came once each had something to read (up to wait_s seconds for each); with
    min_ready, once that many had (up to WAIT seconds in all)."""
    held = []
    for data in sends:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.sendall(data)
        held.append(s)
    os.write(ready, b'ready\n')
    while os.read(release, 1):
        pass
    deadline = time.monotonic() + WAIT
    while min_ready and time.monotonic() < deadline:
        r, _, _ = select.select(held, [], [], max(0, deadline - time.monotonic()))
        if len(r) >= min_ready:
            break
        time.sleep(0.05)  # more may come: look again (bounded by the deadline)
    out = []
    for s in held:
        got = b''
        if wait_s:
            select.select([s], [], [], wait_s)
        s.setblocking(False)
        while True:
            try:
                b = s.recv(65536)
            except BlockingIOError:
                break
            if not b:
                break
            got += b
        out.append(got.hex())
    os.write(ready, json.dumps(out).encode())


class Holder:
    """Connections of uid 65534 (group nogroup) to path, each sent its bytes, held by a
    child process (forked and setuid, as feed_as_nobody) until release(), which says what
    came on each."""

    def __init__(self, path, sends, wait_s=0, min_ready=0):
        rd, self.wr_ready = os.pipe()
        self.rd_release, wr = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(rd)
            os.close(wr)
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                _hold(path, sends, self.wr_ready, self.rd_release, wait_s, min_ready)
            except BaseException as e:
                os.write(self.wr_ready, f'failed: {e!r}\n'.encode())
            os._exit(0)
        os.close(self.wr_ready)
        os.close(self.rd_release)
        self.rd, self.wr = os.fdopen(rd, 'rb'), wr
        line = self.rd.readline()  # blocks until it holds them (or failed)
        check(line.strip() == b'ready', f'the holder of uid 65534 failed: {line!r}')

    def release(self):
        os.close(self.wr)
        out = self.rd.read()
        self.rd.close()
        os.waitpid(self.pid, 0)
        return [bytes.fromhex(h) for h in json.loads(out)]


@tap.case
def test_second_uid_holds_most():
    """uid 65534 holds 250 idle connections, root 10: as root's client is served past the
    256 slots, the connections that go are all of uid 65534 (the biggest holder), told why,
    and root's are kept"""
    d = Daemon(PATHS, extra=['--group', 'nogroup']).start()
    mine = []
    nobody = None
    try:
        # (each closed one has its failure to read: the 5 are waited for at the release)
        nobody = Holder(d.socket, [b''] * 250, min_ready=5)
        for _ in range(10):
            mine.append(connect(d.socket))
        # 260 came for 256 slots: 4 of uid 65534's went; the first info of the client takes
        # one more (the next ones may find the slot its predecessor left).
        for _ in range(5):
            check(d.info() == [], 'root is not served')
        wait_for(lambda: d.log_text().count('Closing a connection of uid 65534 for one of '
                                            'uid 0') >= 4 + 1, WAIT, 'the biggest to lose')
        check(not readable(mine), "root's connections were closed")
        check('Closing a connection of uid 0' not in d.log_text(), 'root lost one')
        got = nobody.release()
        nobody = None
        closed = [g for g in got if g]
        check(len(closed) >= 5, f'{len(closed)} of uid 65534\'s went')
        check(all(b'closed to make room: 256 connections are open (the bound), uid 65534 '
                  b'holds' in g for g in closed), closed[0])
        check(d.proc.poll() is None and d.info() == [], 'albatrossd does not serve')
    finally:
        if nobody:
            nobody.release()
        for s in mine:
            s.close()
        d.cleanup()


@tap.case
def test_second_uid_subscribes_most():
    """albatross-log's 64 subscriptions: uid 65534 holds 60 followers of tenant mallory,
    then root subscribes 10 of the same tenant: the ones that go are uid 65534's (the
    biggest holder by uid, before the tenant), told why; root's are all kept and served"""
    d = Daemon(PATHS)
    os.makedirs(d.rundir, exist_ok=True)
    lg = LogDaemon(d.rundir, os.path.join(d.dir, 'logs'), extra=['--group', 'nogroup'])
    lg.start()
    mine, nobody = [], None
    follow = frame(cbor({'version': 1, 'seq': 1, 'name': 'mallory:',
                         'command': {'op': 'log-subscribe', 'follow': True}}))
    try:
        d.start()
        nobody = Holder(lg.socket, [follow] * 60)
        for _ in range(10):
            s = connect(lg.socket)
            s.sendall(follow)
            r = recv_frame(s)
            check(r and b'success' in r, r)
            mine.append(s)
        check(not readable(mine), "root's subscriptions were dropped")
        # root's are served: a new event reaches every one of them
        d.ok('add-policy', 'mallory:', '1', '--mem', '64', '--cpu', '0')
        for s in mine:
            s.settimeout(WAIT)
            r = recv_frame(s)
            while r and b'policy-added' not in r:
                r = recv_frame(s)
            check(r and b'policy-added' in r, r)
        got = nobody.release()
        nobody = None
        dropped = [g for g in got if b'dropped' in g]
        check(len(dropped) == 6, f'{len(dropped)} of uid 65534\'s went, 6 expected')
        check(all(b"uid 65534 for 'mallory' holds" in g for g in dropped), dropped[0])
        check(lg.proc.poll() is None, 'albatross-log exited')
    finally:
        if nobody:
            nobody.release()
        for s in mine:
            s.close()
        d.cleanup()
        lg.stop()
        shutil.rmtree(d.dir, ignore_errors=True)


def block_add(seq, name, size=4096):
    """A block-add of 1 MB with size bytes of data to come."""
    return frame(cbor({'version': 1, 'seq': seq, 'name': name,
                       'command': {'op': 'block-add', 'size': 1, 'data-size': size,
                                   'compressed': False}}))


def chunk(seq, name, data):
    return frame(cbor({'version': 1, 'seq': seq, 'name': name,
                       'data': {'kind': 'chunk', 'chunk': data}}))


@tap.case
def test_upload_bound():
    """with --max-uploads-per-peer 2, root holds 2 uploads in progress (their commands
    sent, their data not yet): a third of root's is refused at once naming the bound,
    nothing left behind; uid 65534's upload goes through meanwhile, and so do root's
    once one of its uploads ended; the held ones complete"""
    d = Daemon(PATHS, extra=['--group', 'nogroup', '--max-uploads-per-peer', '2']).start()
    held = []
    try:
        for i in (1, 2):
            s = connect(d.socket)
            s.sendall(block_add(i, f'held{i}'))
            held.append(s)
        wait_for(lambda: len(blocks_under(d)) == 2, WAIT, 'the two uploads to begin')
        # A third of root's, by the real client: refused, naming the bound.
        data = os.path.join(d.dir, 'data')
        with open(data, 'wb') as f:
            f.write(b'y' * 4096)
        r = d.refused('refused: uid 0 has 2 uploads in progress, the bound '
                      '(--max-uploads-per-peer); try again when one of them ended',
                      'create-block', 'third', '1', '--data', data)
        check(len(blocks_under(d)) == 2, 'the refused upload left a file')
        check(all(b['name'] != 'third' for b in blocks(d)), 'the refused block exists')
        # Another peer (uid 65534) is served meanwhile: its upload goes through.
        # (its reply may come after the block is listed: it waits for the state's commit)
        nobody = Holder(d.socket, [block_add(7, 'nobodys') + chunk(7, 'nobodys', b'z' * 4096)
                                   + frame(b'')], wait_s=WAIT)
        wait_for(lambda: any(b['name'] == 'nobodys' for b in blocks(d)), WAIT,
                 "uid 65534's block")
        got = nobody.release()
        check(b'success' in got[0], got)
        # One of root's ends: root's next upload is served (an honest client, one at a
        # time, never meets the bound).
        held[0].sendall(chunk(1, 'held1', b'x' * 4096) + frame(b''))
        r = recv_frame(held[0])
        check(r and b'success' in r, r)
        d.ok('create-block', 'third', '1', '--data', data)
        d.ok('set-block', 'third', data)
        held[1].sendall(chunk(2, 'held2', b'x' * 4096) + frame(b''))
        r = recv_frame(held[1])
        check(r and b'success' in r, r)
        wait_for(lambda: not blocks_under(d), WAIT, 'the spool files to go')
        check({'held1', 'held2', 'third', 'nobodys'} <= {b['name'] for b in blocks(d)},
              blocks(d))
        check('Refusing an upload of uid 0: 2 in progress' in d.log_text(), 'not logged')
    finally:
        for s in held:
            s.close()
        d.cleanup()


def blocks(d):
    return json.loads(d.ok('block', ':', '--json').stdout)


def client_log(d):
    r = subprocess.run([PATHS['client'], '--rundir', d.rundir, 'log', '--count', '100'],
                       capture_output=True, text=True, timeout=2 * WAIT)
    return r.stdout


sys.exit(tap.run())
