#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Integration tests of albatross-stats with albatrossd, the real CLI, the test
tender, InfluxDB (Debian's influxdb) and promtool (Debian's prometheus), as
root in a private network namespace (exit 77 otherwise).

usage: test-stats.py ALBATROSSD CLIENT TENDER_DIR MKIMAGE CONSOLE LOG STATS"""
import json
import os
import re
import shutil
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (WAIT, Daemon, Skip, Tap, cbor, check, frame, mkimage,  # noqa: E402
                     require_netns, wait_for, watch_log)

require_netns(sys.argv)
PATHS = dict(zip(('albatrossd', 'client', 'tender_dir', 'mkimage', 'console', 'log', 'stats'),
                 sys.argv[1:8]))
tap = Tap()
INTERVAL_MS = 200


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Stats:
    """A real albatross-stats with --rundir."""

    def __init__(self, rundir, extra=()):
        self.rundir = rundir
        os.makedirs(rundir, exist_ok=True)
        self.socket = os.path.join(rundir, 'stats.sock')
        self.log = os.path.abspath(os.path.join(rundir, '..', 'stats.log'))
        watch_log('albatross-stats', self.log)
        self.extra = list(extra)
        self.proc = None
        self.port = None

    def start(self):
        self.logf = open(self.log, 'a')
        self.start_at = self.logf.tell()
        self.proc = subprocess.Popen([PATHS['stats'], '--rundir', self.rundir, '--interval-ms',
                                      str(INTERVAL_MS), '-vv'] + self.extra,
                                     stdout=self.logf, stderr=self.logf)
        wait_for(lambda: 'notice: ready' in self.text() or self.proc.poll() is not None, WAIT,
                 'albatross-stats')
        check(self.proc.poll() is None, f'albatross-stats exited: {self.text()}')
        m = re.search(r'prometheus port (\d+)', self.text())
        self.port = int(m.group(1)) if m else None
        return self

    def text(self):
        try:
            with open(self.log) as f:
                return f.read()[self.start_at:]
        except OSError:
            return ''

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(WAIT)
        if self.proc:
            self.logf.close()
        self.proc = None

    def request(self, name, command):
        """A raw command; returns the raw reply bytes."""
        msg = {'version': 1, 'seq': 1, 'name': name, 'command': command}
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(WAIT)
        s.connect(self.socket)
        s.sendall(frame(cbor(msg)))
        out = b''
        while len(out) < 4 or len(out) < 4 + struct.unpack('>I', out[:4])[0]:
            b = s.recv(65536)
            if not b:
                break
            out += b
        s.close()
        return out

    def add(self, name, pid, taps=()):
        r = self.request(name, {'op': 'stats-add', 'pid': pid, 'taps': list(taps)})
        check(b'success' in r, f'stats-add refused: {r}')

    def remove(self, name):
        return self.request(name, {'op': 'stats-remove'})

    def cli(self, *args, rc=0):
        r = subprocess.run([PATHS['client'], '--rundir', self.rundir, 'stats'] + list(args),
                           capture_output=True, text=True, timeout=2 * WAIT)
        check(rc is None or r.returncode == rc,
              f'stats {args}: exit {r.returncode}\n{r.stdout}\n{r.stderr}\n{self.text()[-2000:]}')
        return r

    def sample(self, name):
        v = json.loads(self.cli(name, '--json').stdout)
        check(len(v) == 1, v)
        return v[0]

    def metrics(self):
        with urllib.request.urlopen(f'http://127.0.0.1:{self.port}/metrics', timeout=WAIT) as r:
            check(r.headers['Content-Type'].startswith('text/plain; version=0.0.4'),
                  r.headers['Content-Type'])
            return r.read().decode()


def metric(text, name, **labels):
    want = ','.join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(name + ('{' + want + '}' if want else ' ')):
            return float(line.rsplit(' ', 1)[1])
    return None


def burner():
    """A process that burns CPU (the test tender only sleeps)."""
    return subprocess.Popen([sys.executable, '-c', 'while True: pass'])


def read_lines(f, n):
    """n lines of the pipe f, each within a generous cap (never blocks for good)."""
    out, buf = [], b''
    fd = f.fileno()
    while len(out) < n:
        while b'\n' not in buf:
            r, _, _ = select.select([fd], [], [], WAIT)
            check(r, f'no line within {WAIT} s')
            b = os.read(fd, 65536)
            check(b, 'the stream ended')
            buf += b
        line, buf = buf.split(b'\n', 1)
        out.append(line.decode())
    return out


def workdir():
    return tempfile.mkdtemp(prefix='alb-stats-', dir=os.environ.get('TMPDIR'))


@tap.case
def test_register_and_subscribe(_):
    """stats-add, rising CPU time, path subscriptions with relative names, stats-remove"""
    d = workdir()
    st = Stats(os.path.join(d, 'run')).start()
    b = burner()
    try:
        st.add('alice:burn', b.pid)
        st.add('alice:x:other', os.getpid())
        st.add('bob', os.getpid())
        first = st.sample('alice:burn')
        check(first['pid'] == b.pid and first['rss'] > 0 and first['start_time'] > 0, first)
        # it burns: a later round shows more CPU time (as soon as it has had some)
        cpu = first['utime'] + first['stime']
        seen = []

        def risen():
            seen.append(st.sample('alice:burn'))
            return seen[-1]['utime'] + seen[-1]['stime'] > cpu
        try:
            wait_for(risen, WAIT, 'the CPU time to rise')
        except AssertionError as e:
            raise AssertionError(f'{e}: {first}, then {seen[-1]}')
        # A path: every unikernel below it, full names in the CLI's output.
        names = sorted(s['name'] for s in json.loads(st.cli('alice:', '--json').stdout))
        check(names == ['alice:burn', 'alice:x:other'], names)
        names = sorted(s['name'] for s in json.loads(st.cli('--json').stdout))
        check(names == ['alice:burn', 'alice:x:other', 'bob'], names)
        text = st.cli('bob').stdout
        check(text.startswith('bob: pid ') and 'cpu: user' in text, text)
        # On the wire, names are relative to the subscribed path.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(WAIT)
        s.connect(st.socket)
        s.sendall(frame(cbor({'version': 1, 'seq': 9, 'name': 'alice:',
                              'command': {'op': 'stats-subscribe'}})))
        data = b''
        # a round has a sample of each: until both came (a round's, or two rounds')
        end = time.monotonic() + WAIT
        while time.monotonic() < end and not (b'dname\x64burn' in data and
                                              b'dname\x67x:other' in data):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        check(b'dname\x64burn' in data and b'dname\x67x:other' in data, data[:400])
        check(b'alice:burn' not in data, 'a name not relative to the path')
        # Follow: several rounds.
        p = subprocess.Popen([PATHS['client'], '--rundir', st.rundir, 'stats', 'bob', '--follow',
                              '--json'], stdout=subprocess.PIPE)
        try:
            lines = read_lines(p.stdout, 3)
        finally:
            p.kill()
            p.wait()
        times = [json.loads(x)['time'] for x in lines]
        check(times == sorted(times) and len(set(times)) == 3, times)
        # Unknown names and removal.
        r = st.cli('nobody', rc=1)
        check('not registered' in r.stderr, r.stderr)
        check(b'success' in st.remove('alice:burn'), 'stats-remove refused')
        check(b'failure' in st.remove('alice:burn'), 'a second stats-remove accepted')
        st.cli('alice:burn', rc=1)
        # A vanished process is skipped, the daemon goes on.
        b.kill()
        b.wait()
        t = st.sample('bob')['time']
        st.add('gone', b.pid)
        # two rounds later, 'gone' was tried in a whole round: the others go on
        wait_for(lambda: st.sample('bob')['time'] > t, WAIT, 'a round with gone')
        t = st.sample('bob')['time']
        wait_for(lambda: st.sample('bob')['time'] > t, WAIT, 'a round after that')
        check('No statistics for \'gone\'' in st.text(), 'gone was not tried')
        check(st.proc.poll() is None, 'albatross-stats died')
    finally:
        b.kill()
        b.wait()
        st.stop()
        shutil.rmtree(d, ignore_errors=True)


def send_frames(ifname, count):
    """Broadcast Ethernet frames out of ifname (a bridge floods them to its ports)."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    payload = b'albatross-stats test frame'.ljust(100, b'.')
    for _ in range(count):
        s.send(b'\xff' * 6 + b'\x02\x00\x00\x00\x00\x01' + b'\x88\xb5' + payload)
    s.close()


@tap.case
def test_albatrossd_tap_counters(_):
    """a unikernel started by albatrossd: its tap's counters rise after traffic into the bridge"""
    d = Daemon(PATHS, extra=['--stop-timeout', '2'])
    st = None
    try:
        d.start()
        st = Stats(d.rundir).start()
        img = mkimage(PATHS, os.path.join(d.dir, 'net.spt'), nets=['service'])
        d.ok('create', 'netvm', img, '--mem', '16', '--net', 'service:br0', '--arg', '--run')
        u = d.one('netvm')
        t = u['taps'][0]
        # albatrossd registers the unikernel itself (stats-add on start), once it has
        # connected to albatross-stats (which started after it: a reconnect back-off)
        wait_for(lambda: st.cli('netvm', rc=None).returncode == 0, WAIT,
                 'albatrossd to register netvm')
        s0 = st.sample('netvm')
        check(s0['pid'] == u['pid'], s0)
        check([i['name'] for i in s0['ifs']] == [t], s0)
        # tun counts a frame as transmitted when the tender reads it, and the test
        # tender never reads: past the tap's queue (1000 frames) they are dropped.
        send_frames('br0', 1500)

        def risen():
            s1 = st.sample('netvm')['ifs'][0]
            i0 = s0['ifs'][0]
            return (s1['tx_packets'] + s1['tx_drops'] >= i0['tx_packets'] + i0['tx_drops'] + 400
                    ) and s1
        s1 = wait_for(risen, WAIT, 'tap counters to rise')
        print(f'# tap {t}: {s0["ifs"][0]} -> {s1}', flush=True)
        # albatrossd killed and started again: it adopts netvm and registers it again
        # (albatross-stats forgets it when the connection of its registrar ends)
        d.stop(signal.SIGKILL)
        d.start()
        check(d.one('netvm')['pid'] == u['pid'], 'not adopted')
        s2 = wait_for(lambda: st.cli('netvm', rc=None).returncode == 0 and
                      st.sample('netvm'), WAIT, 'albatrossd to register netvm again')
        check(s2['pid'] == u['pid'] and [i['name'] for i in s2['ifs']] == [t], s2)
        d.ok('destroy', 'netvm')
    finally:
        if st:
            st.stop()
        d.cleanup()


class Influx:
    """influxd (Debian's influxdb, InfluxDB 1.x) on loopback ports, data in a temporary dir."""

    def __init__(self, base):
        self.dir = os.path.join(base, 'influx')
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.conf = os.path.join(self.dir, 'influxd.conf')
        with open(self.conf, 'w') as f:
            f.write(f'''reporting-disabled = true
bind-address = "127.0.0.1:{free_port()}"
[meta]
  dir = "{self.dir}/meta"
[data]
  dir = "{self.dir}/data"
  wal-dir = "{self.dir}/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
[monitor]
  store-enabled = false
''')
        self.proc = None

    def start(self):
        self.logf = open(os.path.join(self.dir, 'influxd.log'), 'a')
        self.proc = subprocess.Popen(['influxd', '-config', self.conf], stdout=self.logf,
                                     stderr=self.logf)
        wait_for(self.ping, 2 * WAIT, 'influxd')
        return self

    def ping(self):
        try:
            with urllib.request.urlopen(f'http://127.0.0.1:{self.port}/ping', timeout=5) as r:
                return r.status == 204
        except OSError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(2 * WAIT)
            self.logf.close()
        self.proc = None

    def query(self, q, db='albatross'):
        data = urllib.parse.urlencode({'q': q, 'db': db}).encode()
        with urllib.request.urlopen(f'http://127.0.0.1:{self.port}/query', data=data,
                                    timeout=WAIT) as r:
            return json.loads(r.read())

    def count(self, q):
        res = self.query(q)['results'][0]
        if 'series' not in res:
            return 0
        return res['series'][0]['values'][0][1]


def need_influxd():
    if not shutil.which('influxd'):
        subprocess.run(['apt-get', 'install', '-y', 'influxdb'], capture_output=True)
    if not shutil.which('influxd'):
        raise Skip('influxd is not installed and apt-get install influxdb failed')


@tap.case
def test_influx_http(_):
    """InfluxDB over HTTP: points read back, queue bound while it is down, reconnect"""
    need_influxd()
    d = workdir()
    inf = Influx(d).start()
    st = None
    b = burner()
    try:
        inf.query('CREATE DATABASE albatross')
        st = Stats(os.path.join(d, 'run'), [
            '--influx', f'http://127.0.0.1:{inf.port}/write?db=albatross',
            '--influx-queue', '20', '--influx-retry-max', '1',
            '--prometheus', '127.0.0.1:0']).start()
        st.add('alice:burn', b.pid, ['lo'])
        q = "SELECT count(utime_us) FROM albatross_process WHERE unikernel='alice:burn'"
        wait_for(lambda: inf.count(q) >= 3, WAIT, 'points in InfluxDB')
        res = inf.query("SELECT last(utime_us), last(stime_us), last(rss_bytes), last(pid) "
                        "FROM albatross_process WHERE unikernel='alice:burn'")
        row = res['results'][0]['series'][0]['values'][0]
        check(row[1] + row[2] > 0 and row[3] > 0 and row[4] == b.pid, row)
        # a round's lines go together, but make no assumption: wait for each kind
        wait_for(lambda: inf.count("SELECT count(rx_bytes) FROM albatross_interface WHERE "
                                   "unikernel='alice:burn' AND interface='lo'") >= 1, WAIT,
                 'interface points')
        wait_for(lambda: inf.count('SELECT count(unikernels) FROM albatross_stats') >= 1, WAIT,
                 'self points')

        # Down: the queue (20 lines, 3 per round) overflows, drops are counted.
        inf.stop()
        wait_for(lambda: (metric(st.metrics(), 'albatross_stats_influx_dropped_lines_total')
                          or 0) > 0, WAIT, 'dropped lines')
        m = st.metrics()
        check(metric(m, 'albatross_stats_influx_up') == 0, 'influx_up while down')
        check(metric(m, 'albatross_stats_influx_queued_lines') <= 20, 'queue over its bound')
        check('lines dropped so far' in st.text(), 'the drops were not logged')

        # Up again: reconnects, the queued lines (the newest 20) arrive.
        inf.start()
        wait_for(lambda: metric(st.metrics(), 'albatross_stats_influx_up') == 1, WAIT,
                 'the reconnect')
        n0 = inf.count(q)
        wait_for(lambda: inf.count(q) > n0, WAIT, 'new points after the reconnect')
        wait_for(lambda: inf.count('SELECT max(influx_dropped) FROM albatross_stats') > 0, WAIT,
                 'the drop count to reach InfluxDB')
    finally:
        b.kill()
        b.wait()
        if st:
            st.stop()
        inf.stop()
        shutil.rmtree(d, ignore_errors=True)


@tap.case
def test_influx_tcp(_):
    """line protocol over tcp://: lines arrive, reconnect after the listener comes back"""
    d = workdir()
    port = free_port()
    st = None

    def listen():
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('127.0.0.1', port))
        s.listen(4)
        s.settimeout(2 * WAIT)
        return s

    def read_lines(srv, want):
        c, _ = srv.accept()
        c.settimeout(2 * WAIT)
        buf = b''
        while buf.count(b'\n') < want:
            b = c.recv(65536)
            if not b:
                break
            buf += b
        return c, buf.decode()

    srv = listen()
    try:
        st = Stats(os.path.join(d, 'run'), ['--influx', f'tcp://127.0.0.1:{port}',
                                            '--influx-retry-max', '1']).start()
        st.add('vm1', os.getpid())
        c, text = read_lines(srv, 4)
        check(re.search(r'^albatross_process,unikernel=vm1 pid=\d+i,.* \d{19}$', text, re.M),
              text)
        c.close()
        srv.close()
        # it notices, and fails to reconnect while nothing listens: then listen again
        wait_for(lambda: 'closed the connection' in st.text() or 'retrying in' in st.text(),
                 WAIT, 'albatross-stats to notice the listener went away')
        srv = listen()
        c, text = read_lines(srv, 2)
        check('albatross_process,unikernel=vm1 ' in text, text)
        c.close()
    finally:
        srv.close()
        if st:
            st.stop()
        shutil.rmtree(d, ignore_errors=True)


def need_promtool():
    if not shutil.which('promtool'):
        subprocess.run(['apt-get', 'install', '-y', 'prometheus'], capture_output=True)
    if not shutil.which('promtool'):
        raise Skip('promtool is not installed and apt-get install prometheus failed')


def http_raw(port, data):
    s = socket.create_connection(('127.0.0.1', port), timeout=WAIT)
    s.sendall(data)
    out = b''
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    return out


@tap.case
def test_prometheus(_):
    """/metrics: policies' usage and limits from albatrossd, promtool check metrics, 404, 405"""
    d = Daemon(PATHS, extra=['--stop-timeout', '2'])
    st = None
    try:
        d.start()
        st = Stats(d.rundir, ['--prometheus', '127.0.0.1:0']).start()
        d.ok('add-policy', 'alice:', '3', '--mem', '64', '--cpu', '0', '--bridge', 'br0',
             '--block', '10')
        img = mkimage(PATHS, os.path.join(d.dir, 'p.spt'))
        d.ok('create', 'alice:vm', img, '--mem', '16', '--cpu', '0', '--arg', '--run')
        d.ok('create-block', 'alice:disk', '2')
        u = d.one('alice:vm')
        st.add('alice:vm', u['pid'])

        def ready():
            m = st.metrics()
            # albatross-stats asks albatrossd at its own pace: wait for an answer
            # taken after both the create and the create-block.
            return metric(m, 'albatross_policy_unikernels', path='alice:') == 1 and \
                metric(m, 'albatross_policy_block_bytes', path='alice:') == 2 << 20 and \
                metric(m, 'albatross_unikernel_pid', unikernel='alice:vm') and m
        m = wait_for(ready, WAIT, 'policy usage in /metrics')
        check(metric(m, 'albatross_policy_unikernels_limit', path='alice:') == 3, m)
        check(metric(m, 'albatross_policy_memory_limit_bytes', path='alice:') == 64 << 20, m)
        check(metric(m, 'albatross_policy_memory_bytes', path='alice:') == 16 << 20, m)
        check(metric(m, 'albatross_policy_block_limit_bytes', path='alice:') == 10 << 20, m)
        check(metric(m, 'albatross_stats_albatrossd_up') == 1, m)
        check('# TYPE albatross_unikernel_cpu_user_seconds_total counter' in m, m)
        need_promtool()
        r = subprocess.run(['promtool', 'check', 'metrics'], input=m, capture_output=True,
                           text=True)
        check(r.returncode == 0, f'promtool: {r.stdout} {r.stderr}')
        # albatrossd down: still served, albatrossd_up 0.
        d.stop()
        wait_for(lambda: metric(st.metrics(), 'albatross_stats_albatrossd_up') == 0, WAIT,
                 'albatrossd_up 0')
        # HTTP edges.
        check(http_raw(st.port, b'GET /other HTTP/1.1\r\nHost: x\r\n\r\n')
              .startswith(b'HTTP/1.1 404 '), '404')
        check(http_raw(st.port, b'POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n')
              .startswith(b'HTTP/1.1 405 '), '405')
        check(http_raw(st.port, b'GET /metrics HTTP/1.1\r\n' + b'X: ' + b'a' * 10000 + b'\r\n\r\n')
              .startswith(b'HTTP/1.1 431 '), '431 for a huge request')
        check(http_raw(st.port, b'garbage\r\n\r\n').startswith(b'HTTP/1.1 400 '), '400')
        head = http_raw(st.port, b'HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n')
        check(head.startswith(b'HTTP/1.1 200 ') and head.endswith(b'\r\n\r\n'), head[:200])
        # Bounded connections: idle ones do not stop new scrapes for long.
        idle = [socket.create_connection(('127.0.0.1', st.port)) for _ in range(40)]
        # past the bound (32): it refused some, so it has taken the others
        wait_for(lambda: 'refusing a connection' in st.text(), WAIT, 'the bound to be reached')
        for s in idle:
            s.close()

        def scrape():
            try:
                return st.metrics()
            except OSError:  # refused while it has not yet seen the idle ones close
                return None
        wait_for(scrape, WAIT, 'a scrape after many idle connections')
        check(st.proc.poll() is None, 'albatross-stats died')
    finally:
        if st:
            st.stop()
        d.cleanup()


sys.exit(tap.run(None))
