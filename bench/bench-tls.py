#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Benchmarks of remote management (a program, not a test).

1. create + destroy of a unikernel over TLS (albatross-tls-endpoint on loopback;
   a new connection and mutual TLS 1.3 handshake for each command, the command
   in a certificate signed beforehand) against the same through albatrossd's
   Unix socket: the ratio of the medians of CYCLES cycles each.
2. Image upload throughput over loopback TLS: a create with an image of SIZE
   MiB (the test tender's image padded), against the same through the socket.

usage: bench-tls.py BUILDDIR [CYCLES] [SIZE]   (as root; default 50 cycles, 64 MiB)"""
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

build = os.path.abspath(sys.argv[1])
cycles = int(sys.argv[2]) if len(sys.argv) > 2 else 50
size_mb = int(sys.argv[3]) if len(sys.argv) > 3 else 64
albatrossd = os.path.join(build, 'daemon', 'albatrossd')
endpoint = os.path.join(build, 'daemon', 'albatross-tls-endpoint')
client = os.path.join(build, 'cli', 'albatross-client')
tender_dir = os.path.join(build, 'tests', 'tender')
work = tempfile.mkdtemp(prefix='alb-bench-tls-')
pki = os.path.join(work, 'pki')
os.makedirs(pki)
img = os.path.join(work, 'img.spt')
subprocess.run([os.path.join(tender_dir, 'mkimage'), img], check=True)
big = os.path.join(work, 'big.spt')
with open(img, 'rb') as f, open(big, 'wb') as g:
    g.write(f.read())
    g.write(os.urandom(size_mb << 20))  # ELF notes first; the rest is payload
sock = os.path.join(work, 'run', 'albatrossd.sock')
s = socket.socket()
s.bind(('127.0.0.1', 0))
port = s.getsockname()[1]
s.close()
dest = f'127.0.0.1:{port}'


def run(*args, cwd=pki):
    subprocess.run(list(args), check=True, cwd=cwd, stdout=subprocess.DEVNULL)


def local(*args):
    run(client, '--socket', sock, *args)


def leaf(name, *args):
    """A certificate carrying a command, made and signed before timing."""
    d = os.path.join(pki, 'leaves', f'{name}-{args[0]}')
    os.makedirs(d, exist_ok=True)
    run(client, *args, '--csr', cwd=d)
    req = [f for f in os.listdir(d) if f.endswith('.req')][0]
    run(client, 'sign', os.path.join(pki, 'rootcert.pem'), os.path.join(pki, 'certs.db'),
        os.path.join(pki, 'root.key'), req, '--days', '1', cwd=d)
    return d, req[:-4]


def remote(d, base, *extra):
    run(client, 'certificate', base + '.pem', base + '.key', *extra, '--destination', dest,
        '--server-ca', os.path.join(pki, 'rootcert.pem'), cwd=d)


procs = []
try:
    log = open(os.path.join(work, 'daemons.log'), 'w')
    procs.append(subprocess.Popen([albatrossd, '--rundir', os.path.join(work, 'run'), '--dbdir',
                                   os.path.join(work, 'db'), '--tender-dir', tender_dir],
                                  stdout=log, stderr=log))
    while not os.path.exists(sock):
        time.sleep(0.01)
    run(client, 'generate', 'root', 'certs.db', '--server', '127.0.0.1')
    procs.append(subprocess.Popen([endpoint, '--ca', 'rootcert.pem', '--cert', '127.0.0.1.pem',
                                   '--key', '127.0.0.1.key', '--listen', dest, '--rundir',
                                   os.path.join(work, 'run')], cwd=pki, stdout=log, stderr=log))
    time.sleep(0.3)

    # 1. create + destroy, remote (new TLS session each) against local
    cdir, cbase = leaf('b', 'create', 'b', img, '--cpu', '0', '--arg', '--run')
    ddir, dbase = leaf('b', 'destroy', 'b')
    via_tls, via_sock = [], []
    for i in range(cycles):
        t0 = time.perf_counter()
        remote(cdir, cbase, img)
        remote(ddir, dbase)
        via_tls.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        local('create', 'b', img, '--cpu', '0', '--arg', '--run')
        local('destroy', 'b')
        via_sock.append(time.perf_counter() - t0)
    mt, ms = statistics.median(via_tls), statistics.median(via_sock)
    print(f'create+destroy over TLS: median {mt * 1000:.2f} ms, p90 '
          f'{sorted(via_tls)[int(cycles * 0.9)] * 1000:.2f} ms')
    print(f'create+destroy via the Unix socket: median {ms * 1000:.2f} ms')
    print(f'ratio TLS / socket: {mt / ms:.2f}')

    # 2. upload throughput
    bdir, bbase = leaf('big', 'create', 'big', big, '--cpu', '0', '--arg', '--run')
    ddir, dbase = leaf('big', 'destroy', 'big')
    n = os.path.getsize(big)
    tls_t, sock_t = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        remote(bdir, bbase, big)
        tls_t.append(time.perf_counter() - t0)
        remote(ddir, dbase)
        t0 = time.perf_counter()
        local('create', 'big', big, '--cpu', '0', '--arg', '--run')
        sock_t.append(time.perf_counter() - t0)
        local('destroy', 'big')
    print(f'upload of {n / 2**20:.0f} MiB over TLS: {n / min(tls_t) / 2**20:.0f} MiB/s '
          f'(best of 3, create included)')
    print(f'upload of {n / 2**20:.0f} MiB via the socket: {n / min(sock_t) / 2**20:.0f} MiB/s')
finally:
    for p in reversed(procs):
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    shutil.rmtree(work, ignore_errors=True)
