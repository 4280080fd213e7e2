#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Benchmark of albatross-console's ingest (a program, not a test).

A real albatross-console in a temporary directory; FIFOs registered with
console-add as albatrossd would; writer processes write lines into them as fast
as the FIFOs take them. The time runs from the first write until the console
holds the last line of every FIFO (asked through the real albatross-client).

1. one FIFO: LINES lines of "line N" (about 12 bytes), and of 100 bytes;
2. 100 FIFOs at once, LINES/100 lines of 100 bytes each;
3. one FIFO with 5 live subscribers (--follow, reading).

usage: bench-console.py BUILDDIR [LINES]   (default 1000000)"""
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

harness_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests',
                           'integration')
sys.path.insert(0, harness_dir)
from harness import cbor, frame  # noqa: E402

build = os.path.abspath(sys.argv[1])
total = int(sys.argv[2]) if len(sys.argv) > 2 else 1000000
console = os.path.join(build, 'daemon', 'albatross-console')
client = os.path.join(build, 'cli', 'albatross-client')
work = tempfile.mkdtemp(prefix='alb-bench-console-')
rundir = os.path.join(work, 'run')
fifodir = os.path.join(rundir, 'fifo')
os.makedirs(fifodir)
sock = os.path.join(rundir, 'console.sock')

WRITER = r'''
import os, sys
path, n, width = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fd = os.open(path, os.O_WRONLY)
chunks, buf, size = [], [], 0
for i in range(1, n + 1):
    s = f"line {i}"
    if width:
        s = s.ljust(width - 1, ".")
    buf.append(s)
    size += len(s) + 1
    if size >= 65536 or i == n:
        chunks.append(("\n".join(buf) + "\n").encode())
        buf, size = [], 0
sys.stdin.read(1)  # ready: wait for the start
for c in chunks:
    os.write(fd, c)
os.close(fd)
'''


# A subscriber that reads as fast as it can (the CLI prints and flushes each line).
READER = r'''
import socket, sys
sys.path.insert(0, sys.argv[3])
from harness import cbor, frame
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(frame(cbor({"version": 1, "seq": 1, "name": sys.argv[2],
                      "command": {"op": "console-subscribe", "follow": True}})))
while s.recv(1 << 20):
    pass
'''


def add(name):
    path = os.path.join(fifodir, name)
    os.mkfifo(path, 0o600)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    s.sendall(frame(cbor({'version': 1, 'seq': 1, 'name': name,
                          'command': {'op': 'console-add', 'fifo': path}})))
    hdr = s.recv(4)
    s.recv(struct.unpack('>I', hdr)[0])
    s.close()
    return path


def last_line(name):
    r = subprocess.run([client, '--rundir', rundir, 'console', name, '--count', '1', '--json'],
                       capture_output=True, check=True)
    v = json.loads(r.stdout)
    return v[0]['line'] if v else None


def run(names, n, width, subscribers=0):
    paths = [add(x) for x in names]
    subs = [subprocess.Popen([sys.executable, '-c', READER, sock, names[0], harness_dir])
            for _ in range(subscribers)]
    writers = [subprocess.Popen([sys.executable, '-c', WRITER, p, str(n), str(width)],
                                stdin=subprocess.PIPE) for p in paths]
    time.sleep(1 + len(paths) * 0.05)  # the writers prepare their lines
    t0 = time.perf_counter()
    for w in writers:
        w.stdin.write(b'g')
        w.stdin.flush()
    for w in writers:
        w.wait()
    for x in names:
        want = f'line {n}'
        while not (last_line(x) or '').startswith(want):
            time.sleep(0.005)
    dt = time.perf_counter() - t0
    for s in subs:
        alive = s.poll() is None
        s.kill()
        s.wait()
        if not alive:
            print('  a subscriber was dropped')
    return len(names) * n / dt, dt


log = open(os.path.join(work, 'console.log'), 'w')
d = subprocess.Popen([console, '--rundir', rundir], stdout=log, stderr=log)
try:
    while not os.path.exists(sock):
        time.sleep(0.01)
    rate, dt = run(['short'], total, 0)
    print(f'one FIFO, {total} lines of ~12 bytes: {rate:,.0f} lines/s ({dt:.2f} s)')
    rate, dt = run(['wide'], total, 100)
    print(f'one FIFO, {total} lines of 100 bytes: {rate:,.0f} lines/s ({dt:.2f} s)')
    names = [f'p{i}:vm' for i in range(100)]  # 64 inactive per path
    rate, dt = run(names, total // 100, 100)
    print(f'100 FIFOs at once, {total // 100} lines of 100 bytes each: {rate:,.0f} lines/s '
          f'in all ({dt:.2f} s)')
    rate, dt = run(['watched'], total, 100, subscribers=5)
    print(f'one FIFO, {total} lines of 100 bytes, 5 live subscribers: {rate:,.0f} lines/s '
          f'({dt:.2f} s)')
    with open(f'/proc/{d.pid}/status') as f:
        rss = [x for x in f if x.startswith('VmRSS')][0].split()[1]
    print(f'albatross-console RSS after: {int(rss) / 1024:.1f} MB (103 buffers of 1024 lines)')
finally:
    d.terminate()
    d.wait()
    shutil.rmtree(work, ignore_errors=True)
