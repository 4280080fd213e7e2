#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""How long a legitimate local client waits while the daemons are attacked (a program,
not a test).

A real albatrossd and albatross-log in a temporary directory; for each attack, the attack
is mounted and held, and the real albatross-client runs `info` (albatross-log: `log
--count 1`) ROUNDS times meanwhile. One line per attack: the median and the worst wall
time of those commands, whole processes (the goal: under 100 ms).

usage: bench-attacks.py BUILDDIR [ROUNDS]   (as root; default 20 rounds)"""
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests',
                                'integration'))
from harness import cbor, frame  # noqa: E402

build = os.path.abspath(sys.argv[1])
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
albatrossd = os.path.join(build, 'daemon', 'albatrossd')
albatross_log = os.path.join(build, 'daemon', 'albatross-log')
monitor = os.path.join(build, 'daemon', 'albatross-monitor')
client = os.path.join(build, 'cli', 'albatross-client')
mkimage = os.path.join(build, 'tests', 'tender', 'mkimage')
tender_dir = os.path.join(build, 'tests', 'tender')
work = tempfile.mkdtemp(prefix='alb-bench-')
rundir = os.path.join(work, 'run')
sock = os.path.join(rundir, 'albatrossd.sock')
log_sock = os.path.join(rundir, 'log.sock')
out = open(os.path.join(work, 'daemons.log'), 'w')


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def wait_path(path):
    while not os.path.exists(path):
        time.sleep(0.01)


def zlib_bomb(head, mib):
    """A zlib stream of head, then mib MiB of zeros (about 1 KB per MiB), made without
    compressing them: after a full flush, every MiB of zeros compresses to the same bytes."""
    zeros = bytes(1 << 20)
    c = zlib.compressobj(9)
    first = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    one = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    adler = zlib.adler32(head)
    for _ in range(mib):
        adler = zlib.adler32(zeros, adler)
    return first + one * mib + b'\x03\x00' + struct.pack('>I', adler)


def chunks(seq, name, data, size=65536):
    return b''.join(frame(cbor({'version': 1, 'seq': seq, 'name': name,
                                'data': {'kind': 'chunk', 'chunk': data[i:i + size]}}))
                    for i in range(0, len(data), size))


def measure(*args):
    times, failed = [], 0
    for _ in range(rounds):
        t = time.monotonic()
        r = subprocess.run([client, '--rundir', rundir] + list(args),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append((time.monotonic() - t) * 1000)
        failed += r.returncode != 0
    return statistics.median(times), max(times), failed


def report(what, args=('info',)):
    med, worst, failed = measure(*args)
    print(f'{what:<58} {" ".join(args):<12} median {med:6.1f} ms, worst {worst:6.1f} ms'
          + (f', {failed} of {rounds} FAILED' if failed else ''), flush=True)


class Background:
    """A loop run in a thread until stopped."""

    def __init__(self, fn):
        self.stop = False
        self.t = threading.Thread(target=self.run, args=(fn,), daemon=True)
        self.t.start()

    def run(self, fn):
        while not self.stop:
            try:
                fn(self)
            except OSError:
                time.sleep(0.01)

    def end(self):
        self.stop = True
        self.t.join()


os.makedirs(rundir)
lg = subprocess.Popen([albatross_log, '--rundir', rundir, '--logdir',
                       os.path.join(work, 'logs')], stdout=out, stderr=out)
# --max-uploads-per-peer 4 (the default is 16): the 16 uploaders of attack 7 go past it.
d = subprocess.Popen([albatrossd, '--rundir', rundir, '--dbdir', os.path.join(work, 'db'),
                      '--tender-dir', tender_dir, '--monitor', monitor,
                      '--max-uploads-per-peer', '4'], stdout=out, stderr=out)
try:
    wait_path(sock)
    wait_path(log_sock)
    subprocess.run([client, '--rundir', rundir, 'create-block', 'disk', '64'], check=True,
                   stdout=subprocess.DEVNULL)
    report('no attack')
    report('no attack', ('log', '--count', '1'))

    # 1. 300 idle connections (more than the 256 slots), opened once: those closed to make
    # room for the client's are not opened again.
    held = [connect(sock) for _ in range(300)]
    report('300 idle connections to albatrossd')
    for s in held:
        s.close()

    # 2. A client that sends commands as fast as it can (and reads the replies).
    info = frame(cbor({'version': 1, 'seq': 1, 'name': ':',
                       'command': {'op': 'unikernel-info'}}))

    def drain(s):
        try:
            while s.recv(1 << 16):
                pass
        except OSError:
            pass

    def burst(bg):
        s = connect(sock)
        threading.Thread(target=drain, args=(s,), daemon=True).start()
        while not bg.stop:
            s.sendall(info * 1000)
        s.close()
    bg = [Background(burst) for _ in range(2)]
    report('2 clients pipelining info commands without pause')
    for b in bg:
        b.end()

    # 3. 50 uploads that trickle (a byte every 0.5 s), renewed when cut off (all of one
    # peer: --max-uploads-per-peer lets 4 of them in at once, the others are refused).
    cmd = frame(cbor({'version': 1, 'seq': 1, 'name': 'disk',
                      'command': {'op': 'block-set', 'data-size': 1 << 20,
                                  'compressed': False}}))
    chunk = frame(cbor({'version': 1, 'seq': 1, 'name': 'disk',
                        'data': {'kind': 'chunk', 'chunk': b'x' * 65536}}))

    def trickle(bg):
        s = connect(sock)
        s.sendall(cmd)
        for b in chunk:
            if bg.stop:
                break
            s.sendall(bytes([b]))
            time.sleep(0.5)
        s.close()
    bg = [Background(trickle) for _ in range(50)]
    time.sleep(1)  # the attack in place
    report('50 uploads trickling a byte every 0.5 s')
    for b in bg:
        b.stop = True

    # 4. A zlib bomb: block data of 1 MiB compressed, 64 MiB inflated (the device), again
    # and again, from two clients.
    bomb = zlib.compress(b'\0' * (64 << 20), 9)
    bomb_cmd = frame(cbor({'version': 1, 'seq': 1, 'name': 'disk',
                           'command': {'op': 'block-set', 'data-size': len(bomb),
                                       'compressed': True}}))
    bomb_data = chunks(1, 'disk', bomb) + struct.pack('>I', 0)

    def bomber(bg):
        s = connect(sock)
        s.sendall(bomb_cmd + bomb_data)
        s.recv(65536)
        s.close()
    bg = [Background(bomber) for _ in range(2)]
    time.sleep(1)
    report(f'2 clients writing a zlib bomb ({len(bomb) >> 10} KiB -> 64 MiB) in a loop')
    for b in bg:
        b.end()

    # 6. Finding 3 of issue 13: an ELF header then 1 GiB of zeros, compressed (about 1 MB),
    # for a unikernel of 2048 MB: the bound is the image itself, all of it is inflated
    # (and written) before the full check refuses it; again and again, from one client.
    with open(os.path.join(work, 'image'), 'wb'):
        pass
    subprocess.run([mkimage, os.path.join(work, 'image'), '--target', 'spt'], check=True,
                   stdout=subprocess.DEVNULL)
    with open(os.path.join(work, 'image'), 'rb') as f:
        head = f.read(64)
    elf_bomb = zlib_bomb(head, 1024)
    elf_cmd = {'version': 1, 'seq': 1, 'name': 'bomb',
               'command': {'op': 'unikernel-create',
                           'config': {'tender': 'spt', 'memory': 2048, 'cpuids': [0],
                                      'fail-behaviour': 'quit', 'exit-codes': [],
                                      'startup': 50, 'image-size': len(elf_bomb),
                                      'compressed': True, 'blocks': [], 'nets': [],
                                      'arguments': []}}}
    elf_upload = frame(cbor(elf_cmd)) + chunks(1, 'bomb', elf_bomb) + struct.pack('>I', 0)
    bombs = [0]

    def elf_bomber(bg):
        s = connect(sock)
        s.sendall(elf_upload)
        s.recv(65536)
        s.close()
        bombs[0] += 1
    bg = Background(elf_bomber)
    time.sleep(1)
    report(f'an ELF header + 1 GiB of zeros ({len(elf_bomb) >> 10} KiB), --mem 2048, looped')
    bg.end()
    print(f'    ({bombs[0]} such uploads were inflated meanwhile)', flush=True)

    # 7. The bound of uploads per peer: 16 clients of one peer each uploading a new block
    # device's data (1 MiB compressed, 64 MiB inflated) in a loop; 4 are in progress at
    # once, the others refused at their command.
    outcomes = {'refused': 0, 'written': 0}

    def uploader(bg, i=[0]):
        i[0] += 1
        name = f'u{i[0]}'
        s = connect(sock)
        c = frame(cbor({'version': 1, 'seq': 1, 'name': name,
                        'command': {'op': 'block-add', 'size': 64, 'data-size': len(bomb),
                                    'compressed': True}}))
        s.sendall(c + chunks(1, name, bomb) + struct.pack('>I', 0))
        r = s.recv(65536)
        s.close()
        if b'uploads in progress' in r:
            outcomes['refused'] += 1
        elif b'success' in r:
            outcomes['written'] += 1
            subprocess.run([client, '--rundir', rundir, 'destroy-block', name],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bg = [Background(uploader) for _ in range(16)]
    time.sleep(1)
    report('16 clients of one peer uploading 64 MiB block data in a loop')
    for b in bg:
        b.end()
    print(f'    ({outcomes["written"]} written, {outcomes["refused"]} refused by the bound)',
          flush=True)

    # 5. 200 log followers of one tenant (albatross-log takes 64), renewed when dropped.
    sub = frame(cbor({'version': 1, 'seq': 1, 'name': 'mallory:',
                      'command': {'op': 'log-subscribe', 'follow': True}}))

    def follower(bg):
        s = connect(log_sock)
        s.sendall(sub)
        while not bg.stop and s.recv(65536):
            pass
        s.close()
    bg = [Background(follower) for _ in range(200)]
    time.sleep(1)
    report('200 log followers of one tenant (64 are served)', ('log', '--count', '1'))
    for b in bg:
        b.stop = True
finally:
    d.terminate()
    d.wait()
    lg.terminate()
    lg.wait()
    subprocess.run(['pkill', '-f', f'albatross-monitor {work}'])
    shutil.rmtree(work, ignore_errors=True)
