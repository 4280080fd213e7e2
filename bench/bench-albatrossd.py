#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Benchmarks of albatrossd (a program, not a test).

1. create + destroy of a unikernel through the socket (the real CLI) against
   spawning and stopping the same tender directly: the ratio of the medians of
   CYCLES cycles each.
2. albatrossd's RSS with 0, 100 and 1000 unikernels (the test tender in
   run-until-SIGTERM mode), and what each unikernel's monitor costs (RSS, PSS,
   anonymous memory: /proc/PID/smaps_rollup).
3. albatrossd stopped (SIGTERM: the unikernels keep running) and started again:
   the time until every unikernel is adopted.
4. `info` of every unikernel (the whole client process, text and --json).
5. a host reboot: albatrossd, every monitor and every tender killed (SIGKILL),
   the rundir removed, albatrossd started again on the same dbdir: the time
   until every unikernel runs again (polled with `info --json`), and the RSS;
   then SIGUSR2, which stops them all.

usage: bench-albatrossd.py BUILDDIR [CYCLES [ALBATROSSD-OPTION...]]
       (as root; default 200 cycles)"""
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
# more albatrossd options for the start after the reboot (e.g. --start-parallel=8)
restore_args = sys.argv[3:]
albatrossd = os.path.join(build, 'daemon', 'albatrossd')
monitor = os.path.join(build, 'daemon', 'albatross-monitor')
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


def rollup(pid):
    """{Rss, Pss, Anonymous} of a process in kB."""
    out = {}
    with open(f'/proc/{pid}/smaps_rollup') as f:
        for line in f:
            k = line.split(':')[0]
            if k in ('Rss', 'Pss', 'Anonymous'):
                out[k] = int(line.split()[1])
    return out


def monitors():
    """Pids of the monitors of this run."""
    out = []
    for p in os.listdir('/proc'):
        try:
            with open(f'/proc/{p}/cmdline', 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if len(argv) > 1 and argv[0].endswith(b'albatross-monitor') and \
                argv[1].startswith(work.encode()):
            out.append(int(p))
    return out


def tenders():
    """Pids of the tenders of this run."""
    out = []
    for p in os.listdir('/proc'):
        try:
            with open(f'/proc/{p}/cmdline', 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if argv and argv[0] == spt.encode() and len(argv) > 1 and \
                any(a.startswith(work.encode()) for a in argv):
            out.append(int(p))
    return out


def start(*extra):
    p = subprocess.Popen([albatrossd, *extra, '--rundir', os.path.join(work, 'run'), '--dbdir',
                          os.path.join(work, 'db'), '--tender-dir', tender_dir, '--monitor',
                          monitor], stdout=log, stderr=log)
    while not os.path.exists(sock):
        time.sleep(0.01)
    return p


def cli(*args):
    subprocess.run([client, '--socket', sock] + list(args), check=True,
                   stdout=subprocess.DEVNULL)


log = open(os.path.join(work, 'albatrossd.log'), 'w')
d = start()
try:
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
        m = [rollup(p) for p in monitors()]
        if m:
            avg = {k: sum(x[k] for x in m) / len(m) for k in m[0]}
            print(f'per monitor ({len(m)}): RSS {avg["Rss"]:.0f} kB, PSS {avg["Pss"]:.0f} kB, '
                  f'anonymous {avg["Anonymous"]:.0f} kB')
    running = subprocess.run([client, '--socket', sock, 'info', '--json'], check=True,
                             capture_output=True, text=True).stdout.count('"running"')
    print(f'running: {running}')

    # 3. stopped and started again: the unikernels are adopted
    t0 = time.perf_counter()
    d.send_signal(signal.SIGTERM)
    d.wait(120)
    print(f'SIGTERM with {n} unikernels: albatrossd gone in {time.perf_counter() - t0:.2f} s, '
          f'{len(monitors())} monitors left running')
    t0 = time.perf_counter()
    d = start()
    adopted = subprocess.run([client, '--socket', sock, 'info', '--json'], check=True,
                             capture_output=True, text=True).stdout.count('"running"')
    print(f'start adopting {adopted} unikernels: serving in {time.perf_counter() - t0:.2f} s')

    # 4. info of them all, the whole client process
    for args in (['info'], ['--json', 'info']):
        ts = []
        for i in range(10):
            t0 = time.perf_counter()
            subprocess.run([client, '--socket', sock] + args, check=True,
                           stdout=subprocess.DEVNULL)
            ts.append(time.perf_counter() - t0)
        print(f'{" ".join(args)} of {n}: median {statistics.median(ts) * 1000:.1f} ms')

    # 5. a host reboot: everything killed, the rundir gone, started again
    d.kill()
    d.wait()
    for p in monitors() + tenders():
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    while monitors() or tenders():
        time.sleep(0.05)
    shutil.rmtree(os.path.join(work, 'run'), ignore_errors=True)
    t0 = time.perf_counter()
    d = start(*restore_args)
    running = 0
    while running < n and time.perf_counter() - t0 < 300:
        running = subprocess.run([client, '--socket', sock, '--json', 'info'], check=True,
                                 capture_output=True, text=True).stdout.count('"running"')
        time.sleep(0.05)
    print(f'after a reboot: {running} of {n} running in {time.perf_counter() - t0:.2f} s')
    time.sleep(1)
    print(f'albatrossd RSS after the restore of {n}: {rss_kb(d.pid)} kB')
    t0 = time.perf_counter()
    d.send_signal(signal.SIGUSR2)
    d.wait(300)
    print(f'SIGUSR2 with {n} unikernels: all stopped in {time.perf_counter() - t0:.2f} s')
finally:
    if d.poll() is None:
        d.send_signal(signal.SIGUSR2)
        try:
            d.wait(300)
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait()
    for p in monitors():
        os.kill(p, signal.SIGKILL)
    shutil.rmtree(work, ignore_errors=True)
