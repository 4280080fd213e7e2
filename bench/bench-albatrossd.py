#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Benchmarks of albatrossd (a program, not a test).

1. create + destroy of a unikernel through the socket (the real CLI) against
   spawning and stopping the same tender directly: the ratio of the medians of
   CYCLES cycles each.
2. albatrossd's RSS with 0, 100 and 1000 unikernels (the test tender in
   run-until-SIGTERM mode).

usage: bench-albatrossd.py BUILDDIR [CYCLES]   (as root; default 200 cycles)"""
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

build = os.path.abspath(sys.argv[1])
cycles = int(sys.argv[2]) if len(sys.argv) > 2 else 200
albatrossd = os.path.join(build, 'daemon', 'albatrossd')
client = os.path.join(build, 'cli', 'albatross-client')
tender_dir = os.path.join(build, 'tests', 'tender')
spt = os.path.join(tender_dir, 'solo5-spt')
work = tempfile.mkdtemp(prefix='alb-bench-')
img = os.path.join(work, 'img.spt')
subprocess.run([os.path.join(tender_dir, 'mkimage'), img], check=True)
sock = os.path.join(work, 'run', 'albatrossd.sock')


def rss_kb(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])


def cli(*args):
    subprocess.run([client, '--socket', sock] + list(args), check=True,
                   stdout=subprocess.DEVNULL)


log = open(os.path.join(work, 'albatrossd.log'), 'w')
d = subprocess.Popen([albatrossd, '--rundir', os.path.join(work, 'run'), '--dbdir',
                      os.path.join(work, 'db'), '--tender-dir', tender_dir],
                     stdout=log, stderr=log)
try:
    while not os.path.exists(sock):
        time.sleep(0.01)
    time.sleep(0.1)

    # 1. create + destroy through the socket, against the tender spawned directly
    via, direct = [], []
    for i in range(cycles):
        t0 = time.perf_counter()
        cli('create', 'b', img, '--cpu', '0', '--arg', '--run')
        cli('destroy', 'b')
        via.append(time.perf_counter() - t0)
    for i in range(cycles):
        t0 = time.perf_counter()
        p = subprocess.Popen([spt, '--mem=32', '--', img, '--run'], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        # up once it has printed its first console line; then stopped as destroy does
        p.stdout.readline()
        p.send_signal(signal.SIGTERM)
        p.wait()
        p.stdout.close()
        direct.append(time.perf_counter() - t0)
    mv, md = statistics.median(via), statistics.median(direct)
    print(f'create+destroy via albatrossd: median {mv * 1000:.2f} ms over {cycles} cycles')
    print(f'tender spawned and stopped directly: median {md * 1000:.2f} ms')
    print(f'ratio of medians: {mv / md:.1f}')

    # 2. RSS of albatrossd with 0, 100 and 1000 unikernels
    print(f'albatrossd RSS with 0 unikernels: {rss_kb(d.pid)} kB')
    n = 0
    for target in (100, 1000):
        while n < target:
            cli('create', f'r{n}', img, '--mem', '2', '--cpu', '0', '--arg', '--run')
            n += 1
        print(f'albatrossd RSS with {target} unikernels: {rss_kb(d.pid)} kB')
    running = subprocess.run([client, '--socket', sock, 'info', '--json'], check=True,
                             capture_output=True, text=True).stdout.count('"running"')
    print(f'running: {running}')
    t0 = time.perf_counter()
    d.send_signal(signal.SIGTERM)
    d.wait(120)
    print(f'SIGTERM with {n} unikernels: stopped in {time.perf_counter() - t0:.2f} s')
finally:
    if d.poll() is None:
        d.kill()
        d.wait()
    shutil.rmtree(work, ignore_errors=True)
