#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Group commit of the state (docs/state.md, "The journal"): CLIENTS clients create
TOTAL unikernels at once (the test tender), then destroy them at once, with albatrossd
under `strace -f -e trace=fsync,fdatasync`: the creates per second and the syncs per
operation.

usage: bench-journal.py BUILDDIR [TOTAL [CLIENTS]]   (as root; default 100 and 8)
BUILDDIR may be the build of another version, for a comparison."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

build = os.path.abspath(sys.argv[1])
total = int(sys.argv[2]) if len(sys.argv) > 2 else 100
clients = int(sys.argv[3]) if len(sys.argv) > 3 else 8
albatrossd = os.path.join(build, 'daemon', 'albatrossd')
monitor = os.path.join(build, 'daemon', 'albatross-monitor')
client = os.path.join(build, 'cli', 'albatross-client')
tender_dir = os.path.join(os.path.abspath(sys.argv[4] if len(sys.argv) > 4 else build),
                          'tests', 'tender')
work = tempfile.mkdtemp(prefix='alb-bench-journal-')
img = os.path.join(work, 'img.spt')
subprocess.run([os.path.join(tender_dir, 'mkimage'), img], check=True)
sock = os.path.join(work, 'run', 'albatrossd.sock')
trace = os.path.join(work, 'strace.txt')


def phase(verb, names):
    """Runs verb on the names from `clients` clients at once; the wall time."""
    chunks = [names[i::clients] for i in range(clients)]
    script = 'for n in "$@"; do "$CLIENT" --socket "$SOCK" ' + verb + ' || exit 1; done'
    t0 = time.perf_counter()
    procs = [subprocess.Popen(['sh', '-c', script, 'sh'] + c, stdout=subprocess.DEVNULL,
                              env=dict(os.environ, CLIENT=client, SOCK=sock)) for c in chunks]
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f'a client failed ({verb})')
    return time.perf_counter() - t0


def syncs():
    """fsync and fdatasync calls begun so far (strace writes a line as each begins)."""
    time.sleep(0.2)
    with open(trace) as f:
        return sum(1 for line in f if re.search(r'\b(fsync|fdatasync)\(', line))


try:
    names = [f'u{i}' for i in range(total)]
    log = open(os.path.join(work, 'albatrossd.log'), 'a')
    # BENCH_NO_STRACE=1: the rates without strace's cost (no counts then)
    traced = [] if os.environ.get('BENCH_NO_STRACE') else \
        ['strace', '-f', '-y', '-o', trace, '-e', 'trace=fsync,fdatasync']
    open(trace, 'w').close()
    d = subprocess.Popen(traced + [albatrossd, '--rundir', os.path.join(work, 'run'), '--dbdir',
                          os.path.join(work, 'db'), '--tender-dir', tender_dir, '--monitor',
                          monitor], stdout=log, stderr=log)
    while not os.path.exists(sock):
        time.sleep(0.01)
    s0 = syncs()
    tc = phase('create "$n" ' + img + ' --arg --run', names)
    s1 = syncs()
    td = phase('destroy "$n"', names)
    s2 = syncs()
    # a change that costs little else: policies, where the sync is most of the cost
    tp = phase('add-policy "p$n:" 1 --mem 8', names)
    s3 = syncs()
    # SIGUSR2 to albatrossd itself (strace would die of it and leave albatrossd running)
    pid = d.pid
    if traced:
        pid = int(subprocess.run(['pgrep', '-P', str(d.pid)], capture_output=True,
                                 text=True, check=True).stdout.split()[0])
    os.kill(pid, signal.SIGUSR2)
    d.wait()
    creates, destroys, policies = s1 - s0, s2 - s1, s3 - s2
    print(f'{build}: {total} creates from {clients} clients in {tc:.2f} s: '
          f'{total / tc:.1f} creates/s; {creates} syncs ({creates / total:.2f} per create)')
    print(f'{build}: {total} destroys from {clients} clients in {td:.2f} s: '
          f'{total / td:.1f} destroys/s; {destroys} syncs ({destroys / total:.2f} per destroy)')
    print(f'{build}: {total} add-policy from {clients} clients in {tp:.2f} s: '
          f'{total / tp:.1f} /s; {policies} syncs ({policies / total:.2f} per add-policy)')
finally:
    if os.environ.get('BENCH_KEEP_TRACE'):
        shutil.copy(trace, os.environ['BENCH_KEEP_TRACE'])
    shutil.rmtree(work, ignore_errors=True)
