#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Benchmark of albatross-stats (a program, not a test): the CPU time of one
sampling round (tick) with N registered processes (default 1000 sleeping
processes, registered with raw stats-add messages), without taps and with one
tap (lo) each, and with a Prometheus scrape and an Influx line queue.

usage: bench-stats.py BUILDDIR [N] [TICKS]"""
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

build = os.path.abspath(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
ticks = int(sys.argv[3]) if len(sys.argv) > 3 else 20
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests',
                                'integration'))
from harness import cbor, frame  # noqa: E402

stats = os.path.join(build, 'daemon', 'albatross-stats')
INTERVAL_MS = 250


def cpu_us(pid):
    with open(f'/proc/{pid}/stat') as f:
        v = f.read().rsplit(')', 1)[1].split()
    return (int(v[11]) + int(v[12])) * 1000000 // os.sysconf('SC_CLK_TCK')


def register(sock_path, procs, taps):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    for i, p in enumerate(procs):
        s.sendall(frame(cbor({'version': 1, 'seq': i + 1, 'name': f'bench:vm{i}',
                              'command': {'op': 'stats-add', 'pid': p.pid, 'taps': taps}})))
    got = b''
    want = len(procs)
    while got.count(b'success') < want:
        b = s.recv(1 << 20)
        if not b:
            raise SystemExit('albatross-stats closed the connection')
        got += b
    s.close()


def run(label, taps, extra=()):
    work = tempfile.mkdtemp(prefix='alb-bench-stats-')
    rundir = os.path.join(work, 'run')
    os.makedirs(rundir)
    log = open(os.path.join(work, 'log'), 'w+')
    d = subprocess.Popen([stats, '--rundir', rundir, '--interval-ms', str(INTERVAL_MS), '-vv',
                          '--prometheus', '127.0.0.1:0'] + list(extra), stdout=log, stderr=log)
    procs = []
    try:
        while 'notice: ready' not in open(log.name).read():
            time.sleep(0.02)
        port = int(re.search(r'prometheus port (\d+)', open(log.name).read()).group(1))
        procs = [subprocess.Popen(['sleep', '3600']) for _ in range(n)]
        register(os.path.join(rundir, 'stats.sock'), procs, taps)
        time.sleep(2 * INTERVAL_MS / 1000)  # rounds with all of them
        c0, t0 = cpu_us(d.pid), time.monotonic()
        text0 = open(log.name).read()
        time.sleep(ticks * INTERVAL_MS / 1000)
        c1, t1 = cpu_us(d.pid), time.monotonic()
        text1 = open(log.name).read()[len(text0):]
        rounds = [int(x) for x in re.findall(rf'tick \d+: {n} unikernels, (\d+) µs CPU', text1)]
        t = time.monotonic()
        with urllib.request.urlopen(f'http://127.0.0.1:{port}/metrics') as r:
            body = r.read()
        scrape = time.monotonic() - t
        done = max(1, len(rounds))
        print(f'{label}: {n} processes, {len(rounds)} rounds: '
              f'median {statistics.median(rounds) / 1000:.2f} ms CPU per round (self-measured), '
              f'{(c1 - c0) / done / 1000:.2f} ms CPU per round (/proc, incl. idle), '
              f'{(c1 - c0) / 1000 / (t1 - t0) / 10:.2f}% of a CPU at {INTERVAL_MS} ms; '
              f'/metrics {len(body) // 1024} KiB in {scrape * 1000:.1f} ms')
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
        d.send_signal(signal.SIGTERM)
        d.wait()
        shutil.rmtree(work, ignore_errors=True)


run('no taps', [])
run('one tap (lo) each', ['lo'])
run('one tap each + influx queue', ['lo'], ['--influx', 'tcp://127.0.0.1:9',
                                          '--influx-queue', '100000'])
