#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""How long a legitimate remote `info` takes while the endpoint is attacked (a program,
not a test): issue 13, items 4 and 5, and docs/tls.md §2.3.

albatrossd, albatross-log and albatross-tls-endpoint (its default bounds) run on
loopback with a fresh CA and two tenants, `victim` and `attacker`. The victim's `info`
(albatross-client certificate, signed beforehand: a new connection, handshake and
session each time, from 127.0.0.1) is timed ROUNDS times with no attack, then while
each attack runs, from 127.0.0.5 and kept up (a connection that the endpoint ends is
opened again):

- strangers: STRANGERS TCP connections that never start a handshake (each one that
  the endpoint closes opened again 0.1 s later);
- one tenant: 64 `log --follow` sessions of the attacker (the default --max-sessions),
  each one that the endpoint ends opened again 1 s later; and the same opened again
  0.1 s later, a flood of authenticated sessions;
- trickle: 64 uploads of the attacker sending a byte every 5 s (opened again 0.1 s
  later).

One line per case: the median and the slowest `info`, how many succeeded, and what the
attack held when it ended. The goal is under 1 s while each attack runs.

usage: bench-tls-attacks.py BUILDDIR [ROUNDS] [STRANGERS] [-- ENDPOINT OPTIONS...]
       (as root, in a network namespace with lo up:
        unshare --net sh -c 'ip link set lo up; bench/bench-tls-attacks.py build')
ENDPOINT OPTIONS are added to the endpoint's (e.g. `--tenant-rate 0`, to compare);
ALB_BENCH_ONLY=WORD runs only the attacks whose label contains WORD."""
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

args, endpoint_args = sys.argv[1:], []
if '--' in args:
    endpoint_args = args[args.index('--') + 1:]
    args = args[:args.index('--')]
build = os.path.abspath(args[0])
rounds = int(args[1]) if len(args) > 1 else 20
n_strangers = int(args[2]) if len(args) > 2 else 256
only = os.environ.get('ALB_BENCH_ONLY', '')
albatrossd = os.path.join(build, 'daemon', 'albatrossd')
albatross_log = os.path.join(build, 'daemon', 'albatross-log')
endpoint = os.path.join(build, 'daemon', 'albatross-tls-endpoint')
client = os.path.join(build, 'cli', 'albatross-client')
tender_dir = os.path.join(build, 'tests', 'tender')
# albatrossd runs every tender under the monitor of this build.
os.environ['ALBATROSS_MONITOR'] = os.path.join(build, 'daemon', 'albatross-monitor')
work = tempfile.mkdtemp(prefix='alb-bench-attacks-')
pki = os.path.join(work, 'pki')
run_dir = os.path.join(work, 'run')
os.makedirs(pki)
img = os.path.join(work, 'img.spt')
subprocess.run([os.path.join(tender_dir, 'mkimage'), img], check=True)
sock = os.path.join(run_dir, 'albatrossd.sock')
s = socket.socket()
s.bind(('127.0.0.1', 0))
port = s.getsockname()[1]
s.close()
dest = f'127.0.0.1:{port}'
ATTACKER = '127.0.0.5'


def run(*args, cwd=pki):
    subprocess.run(list(args), check=True, cwd=cwd, stdout=subprocess.DEVNULL)


def tenant(name):
    d = os.path.join(pki, name)
    os.makedirs(d)
    run(client, 'add-policy', name + ':', '4', '--mem', '256', '--cpu', '0', '--csr', cwd=d)
    run(client, 'sign', os.path.join(pki, 'rootcert.pem'), os.path.join(pki, 'certs.db'),
        os.path.join(pki, 'root.key'), name + '.req', cwd=d)
    return d


def leaf(ca_dir, sub, *args):
    """A certificate carrying a command, signed with the tenant's CA: (dir, base)."""
    ca = os.path.basename(ca_dir)
    d = os.path.join(ca_dir, sub)
    os.makedirs(d)
    run(client, *args, '--csr', cwd=d)
    req = [f for f in os.listdir(d) if f.endswith('.req')][0]
    run(client, 'sign', os.path.join(ca_dir, ca + '.pem'), os.path.join(pki, 'certs.db'),
        os.path.join(ca_dir, ca + '.key'), req, cwd=d)
    return d, req[:-4]


def cbor_chunk(name, data):
    """The CBOR of {'version': 1, 'seq': 1, 'name': name, 'data': {'kind': 'chunk',
    'chunk': data}}: a minimal encoder for this one map."""
    def head(major, n):
        if n < 24:
            return bytes([major << 5 | n])
        for ai, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
            if n < 1 << (8 * size):
                return bytes([major << 5 | ai]) + n.to_bytes(size, 'big')

    def text(t):
        b = t.encode()
        return head(3, len(b)) + b
    return (head(5, 4) + text('version') + head(0, 1) + text('seq') + head(0, 1) +
            text('name') + text(name) + text('data') + head(5, 2) + text('kind') +
            text('chunk') + text('chunk') + head(2, len(data)) + data)


def tls_context(d, base):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(os.path.join(pki, 'rootcert.pem'))
    ctx.load_cert_chain(os.path.join(d, base + '.pem'), os.path.join(d, base + '.key'))
    return ctx


class Attack:
    """n workers from ATTACKER, each running one connection after another until stop."""

    def __init__(self, n, work_fn, pause):
        self.stop = threading.Event()
        self.held = 0  # connections open now
        self.ended = 0  # connections the endpoint ended
        self.lock = threading.Lock()
        self.pause = pause
        self.threads = [threading.Thread(target=self.loop, args=(work_fn,), daemon=True)
                        for _ in range(n)]
        for t in self.threads:
            t.start()

    def count(self, held=0, ended=0):
        with self.lock:
            self.held += held
            self.ended += ended

    def loop(self, work_fn):
        while not self.stop.is_set():
            try:
                raw = socket.socket()
                raw.bind((ATTACKER, 0))
                raw.settimeout(30)
                raw.connect(('127.0.0.1', port))
            except OSError:
                time.sleep(0.1)
                continue
            self.count(held=1)
            try:
                work_fn(self, raw)
            except (OSError, ssl.SSLError):
                pass
            finally:
                raw.close()
                self.count(held=-1, ended=0 if self.stop.is_set() else 1)
            self.stop.wait(self.pause)  # a connection ended: the next one after a pause

    def end(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)


def stranger(attack, raw):
    """Connects and never starts a handshake; waits for the endpoint to close."""
    raw.settimeout(1)
    while not attack.stop.is_set():
        try:
            if raw.recv(1) == b'':
                return
        except socket.timeout:
            continue


def follower(d, base):
    ctx = tls_context(d, base)

    def work(attack, raw):
        with ctx.wrap_socket(raw, server_hostname='127.0.0.1') as t:
            t.settimeout(1)
            while not attack.stop.is_set():
                try:
                    if not t.recv(65536):
                        return
                except socket.timeout:
                    continue
    return work


def trickler(d, base, chunk):
    ctx = tls_context(d, base)

    def work(attack, raw):
        with ctx.wrap_socket(raw, server_hostname='127.0.0.1') as t:
            t.sendall(len(chunk).to_bytes(4, 'big'))
            t.settimeout(5)  # a byte every 5 s, as issue 13 says
            for i in range(len(chunk)):
                if attack.stop.is_set():
                    return
                t.sendall(chunk[i:i + 1])
                try:
                    if not t.recv(65536):
                        return
                except socket.timeout:
                    pass
    return work


def measure(label, d, base, attack=None):
    times, ok = [], 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        r = subprocess.run([client, 'certificate', base + '.pem', base + '.key',
                            '--destination', dest, '--server-ca',
                            os.path.join(pki, 'rootcert.pem')], cwd=d,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - t0)
        ok += r.returncode == 0
        if r.returncode != 0 and ok == 0 and len(times) == 1:
            print(f'# {label}: {r.stderr.strip()}', flush=True)
    held = f', the attack held {attack.held} connections ({attack.ended} ended by the ' \
           f'endpoint)' if attack else ''
    print(f'{label:<38} info: median {statistics.median(times) * 1000:7.1f} ms, slowest '
          f'{max(times) * 1000:7.1f} ms, {ok}/{rounds} ok{held}', flush=True)


procs = []
done = False
try:
    log = open(os.path.join(work, 'daemons.log'), 'w')
    procs.append(subprocess.Popen([albatrossd, '--rundir', run_dir, '--dbdir',
                                   os.path.join(work, 'db'), '--tender-dir', tender_dir],
                                  stdout=log, stderr=log))
    while not os.path.exists(sock):
        if procs[0].poll() is not None:
            sys.exit(f'albatrossd exited: see {work}/daemons.log')
        time.sleep(0.01)
    procs.append(subprocess.Popen([albatross_log, '--rundir', run_dir, '--logdir',
                                   os.path.join(work, 'log')], stdout=log, stderr=log))
    while not os.path.exists(os.path.join(run_dir, 'log.sock')):
        time.sleep(0.01)
    run(client, 'generate', 'root', 'certs.db', '--server', '127.0.0.1')
    victim, attacker = tenant('victim'), tenant('attacker')
    vdir, vbase = leaf(victim, 'info', 'info')
    fdir, fbase = leaf(attacker, 'follow', 'log', '--follow')
    tdir, tbase = leaf(attacker, 'trickle', 'create', 't', img, '--cpu', '0')
    with open(img, 'rb') as f:
        chunk = cbor_chunk('t', f.read())
    procs.append(subprocess.Popen([endpoint, '--ca', 'rootcert.pem', '--cert', '127.0.0.1.pem',
                                   '--key', '127.0.0.1.key', '--listen', dest, '--rundir',
                                   run_dir] + endpoint_args, cwd=pki, stdout=log, stderr=log))
    while subprocess.run([client, 'certificate', vbase + '.pem', vbase + '.key',
                          '--destination', dest, '--server-ca',
                          os.path.join(pki, 'rootcert.pem')], cwd=vdir,
                         capture_output=True).returncode != 0:
        time.sleep(0.05)

    measure('no attack', vdir, vbase)
    refused = 0
    for label, n, work_fn, pause in (
            (f'strangers ({n_strangers} never handshake)', n_strangers, stranger, 0.1),
            ('one tenant (64 log --follow)', 64, follower(fdir, fbase), 1),
            ('one tenant, reopening at once', 64, follower(fdir, fbase), 0.1),
            ('trickle (64 uploads, a byte every 5 s)', 64, trickler(tdir, tbase, chunk), 0.1)):
        if only not in label:
            continue
        attack = Attack(n, work_fn, pause)
        time.sleep(2)  # let it take what it can
        measure(label, vdir, vbase, attack)
        attack.end()
        log.flush()
        with open(os.path.join(work, 'daemons.log')) as f:
            n = sum('(--tenant-rate' in line for line in f)
        print(f'{"":<38} {n - refused} sessions refused for the rate (--tenant-rate)',
              flush=True)
        refused = n
    done = True
finally:
    for p in reversed(procs):
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    if done:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f'# kept {work} (daemons.log)', file=sys.stderr)
