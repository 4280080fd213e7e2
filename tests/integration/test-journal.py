#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Integration tests of the state's journal and group commit (docs/state.md): concurrent
creates acknowledged only once durable, kill -9, a torn tail, a journal damaged in its
middle, compaction, a commit that fails; as root in a private network namespace.

usage: test-journal.py ALBATROSSD CLIENT TENDER_DIR MKIMAGE"""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (WAIT, Daemon, Tap, check, mkimage, require_netns,  # noqa: E402
                     wait_for)

require_netns(sys.argv)
PATHS = dict(zip(('albatrossd', 'client', 'tender_dir', 'mkimage'), sys.argv[1:5]))
tap = Tap()
FAST = ['--restart-backoff', '200', '--crash-loop', '4/600', '--stop-timeout', '2']
CLIENTS = 8


class Traced(Daemon):
    """albatrossd under strace (follow: -f, the commit thread too; never with unikernels,
    whose monitors strace would wait for), with syscall faults injected;
    signals go to albatrossd itself, never to strace."""

    def __init__(self, paths, strace, follow=True, **kw):
        super().__init__(paths, **kw)
        # LeakSanitizer cannot work under ptrace: it would fail albatrossd's exit (the
        # sanitizer build); the other checks of AddressSanitizer stay.
        asan = self.env.get('ASAN_OPTIONS', '')
        self.env['ASAN_OPTIONS'] = (asan + ':' if asan else '') + 'detect_leaks=0'
        self.strace = strace
        self.follow = ['-f'] if follow else []

    def wrap(self, args):
        return ['strace'] + self.follow + ['-qq', '-o', '/dev/null'] + self.strace + ['--'] + args

    def pid(self):
        p = self.proc.pid
        with open(f'/proc/{p}/task/{p}/children') as f:
            return int(f.read().split()[0])

    def stop(self, sig=signal.SIGTERM, timeout=WAIT):
        if self.proc and self.proc.poll() is None:
            try:
                os.kill(self.pid(), sig)
            except (OSError, IndexError, ValueError):
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError('albatrossd did not stop')
        rc = self.proc.returncode if self.proc else None
        if self.proc:
            self.logf.close()
        self.proc = None
        return rc


def fresh(env=None):
    d = Daemon(PATHS, extra=FAST, env=env)
    try:
        return d.start()
    except BaseException:
        d.cleanup()
        raise


def image(d):
    return mkimage(PATHS, os.path.join(d.dir, 'img.spt'))


def journal(d):
    return os.path.join(d.dbdir, 'state.journal')


def records(data):
    """The offsets and lengths of the framed records of a journal."""
    out, o = [], 0
    while o + 8 <= len(data):
        n = int.from_bytes(data[o:o + 4], 'little')
        out.append((o, 8 + n))
        o += 8 + n
    return out


def names(d):
    return sorted(u['name'] for u in d.info())


def create_parallel(d, img, prefix, per_client):
    """CLIENTS clients, each creating per_client unikernels one after the other."""
    script = ('for i in $(seq 1 {n}); do "$0" --socket "$1" create "$2$i" "$3" --arg --run '
              '>/dev/null || exit 1; echo "$2$i"; done')
    procs = [subprocess.Popen(['sh', '-c', script.format(n=per_client), PATHS['client'],
                               d.socket, f'{prefix}{c}x', img],
                              stdout=subprocess.PIPE, text=True) for c in range(CLIENTS)]
    acked = []
    for p in procs:
        out, _ = p.communicate(timeout=20 * WAIT)
        check(p.returncode == 0, f'a client failed: {d.log_text()[-2000:]}')
        acked += out.split()
    return acked


@tap.case
def test_concurrent_creates_survive_kill9(_):
    """8 clients creating at once: every create acknowledged is there after a kill -9 of
    albatrossd and a restart"""
    d = fresh()
    try:
        img = image(d)
        acked = create_parallel(d, img, 'c', 4)
        check(len(acked) == CLIENTS * 4, acked)
        d.stop(signal.SIGKILL)
        check(os.path.getsize(journal(d)) > 0, 'the creates are not in the journal')
        d.start()
        check(names(d) == sorted(acked), f'{names(d)} != {sorted(acked)}')
    finally:
        d.cleanup()


@tap.case
def test_kill9_while_creating(_):
    """a kill -9 while 8 clients create: every create acknowledged before it is there
    after the restart, the journal loads, and the creates go on"""
    d = fresh()
    try:
        img = image(d)
        for rnd in range(3):
            base = len(d.info())
            script = ('for i in $(seq 1 20); do "$0" --socket "$1" create "$2$i" "$3" '
                      '--arg --run >/dev/null 2>&1 || exit 0; echo "$2$i"; done')
            procs = [subprocess.Popen(['sh', '-c', script, PATHS['client'], d.socket,
                                       f'r{rnd}c{c}x', img], stdout=subprocess.PIPE, text=True)
                     for c in range(CLIENTS)]
            # killed once some creates were acknowledged, whatever the time that takes
            wait_for(lambda: len(d.info()) >= base + 8, 20 * WAIT, 'some creates')
            d.stop(signal.SIGKILL)
            acked = []
            for p in procs:
                out, _ = p.communicate(timeout=2 * WAIT)
                acked += out.split()
            d.start()
            lost = sorted(set(acked) - set(names(d)))
            check(not lost, f'round {rnd}: acknowledged creates lost: {lost}')
            print(f'# round {rnd}: {len(acked)} creates acknowledged before the kill',
                  flush=True)
        d.ok('create', 'after', img, '--arg', '--run')
    finally:
        d.cleanup()


@tap.case
def test_torn_tail_dropped(_):
    """a journal cut in its last record (a crash while it was written): the record is
    dropped with a notice, the rest loads, and the journal goes on after it"""
    d = fresh()
    try:
        img = image(d)
        for n in ('a', 'b', 'c'):
            d.ok('create', n, img, '--arg', '--run')
        d.stop(signal.SIGKILL)
        with open(journal(d), 'rb') as f:
            data = f.read()
        last_off, last_len = records(data)[-1]
        check(last_off + last_len == len(data), 'the journal is not whole records')
        with open(journal(d), 'wb') as f:
            f.write(data[:last_off + last_len // 2])
        d.start()
        check(f"state journal '{journal(d)}': the record at offset {last_off} was cut"
              in d.log_text(), d.log_text()[-2000:])
        check(names(d) == ['a', 'b'], names(d))
        d.ok('create', 'd', img, '--arg', '--run')
        d.stop(signal.SIGKILL)
        d.start()
        check(names(d) == ['a', 'b', 'd'], names(d))
    finally:
        d.cleanup()


@tap.case
def test_corrupt_middle_refused(_):
    """a journal damaged before its last record stops albatrossd with the file and the
    offset named, and is left byte for byte as it was"""
    d = fresh()
    try:
        img = image(d)
        for n in ('a', 'b', 'c'):
            d.ok('create', n, img, '--arg', '--run')
        d.stop(signal.SIGKILL)
        with open(journal(d), 'rb') as f:
            data = bytearray(f.read())
        off, n = records(bytes(data))[1]
        data[off + n - 3] ^= 0xff  # in the payload of the second record
        with open(journal(d), 'wb') as f:
            f.write(data)
        for _ in range(2):
            d.start(expect_ready=False)
            rc = d.proc.wait(WAIT)
            d.proc = None
            d.logf.close()
            check(rc != 0, f'exit {rc}')
            want = f"state journal '{journal(d)}' cannot be used: the record at offset {off}"
            check(want in d.log_text(), d.log_text()[-2000:])
            with open(journal(d), 'rb') as f:
                check(f.read() == bytes(data), 'the journal was changed')
        # cut before the damaged record (by hand), the journal loads
        with open(journal(d), 'wb') as f:
            f.write(bytes(data[:off]))
        d.start()
        check(names(d) == ['a'], names(d))
    finally:
        d.cleanup()


@tap.case
def test_compaction(_):
    """past its bound the journal is compacted into the state file; a kill -9 and a
    restart give the same unikernels and policies"""
    d = fresh({'ALBATROSS_JOURNAL_MAX': '2000'})
    try:
        img = image(d)
        state = os.path.join(d.dbdir, 'state')
        first = os.stat(state).st_ino
        for i in range(12):
            d.ok('create', f'u{i}', img, '--arg', '--run')
        d.ok('add-policy', 'p:', '2', '--mem', '64')
        d.ok('destroy', 'u3')
        check(os.stat(state).st_ino != first, 'the state file was never written again')
        check(os.path.getsize(journal(d)) < 2000 + 1000, 'the journal was not compacted')
        before = names(d)
        policies = sorted(p['path'] for p in json.loads(d.ok('policy', '--json').stdout))
        d.stop(signal.SIGKILL)
        d.start()
        check(names(d) == before, f'{names(d)} != {before}')
        check(sorted(p['path'] for p in json.loads(d.ok('policy', '--json').stdout)) ==
              policies, 'policies')
    finally:
        d.cleanup()


@tap.case
def test_crash_between_snapshot_and_journal_reset(_):
    """killed after a snapshot was written and before the journal started again (a test
    hook, ALBATROSS_CRASH_AT=snapshot-written): nothing lost, nothing twice"""
    d = fresh()
    try:
        img = image(d)
        d.ok('create', 'a', img, '--arg', '--run')
        d.ok('create', 'b', img, '--arg', '--run')
        d.ok('destroy', 'a')
        check(d.stop() == 0)
        d.start()  # the start makes a snapshot: the journal is empty
        check(os.path.getsize(journal(d)) == 0, 'the journal was not emptied at start')
        check(d.stop() == 0)
        d.env['ALBATROSS_CRASH_AT'] = 'snapshot-written'
        d.env['ALBATROSS_JOURNAL_MAX'] = '1'
        d.start()
        d.cli('create', 'c', img, '--arg', '--run')
        d.proc.wait(WAIT)
        check(d.proc.returncode == -signal.SIGKILL, f'no crash ({d.proc.returncode})')
        d.proc = None
        d.logf.close()
        check(os.path.getsize(journal(d)) > 0, 'the journal was already reset')
        del d.env['ALBATROSS_CRASH_AT']
        d.start()
        check(names(d) == ['b', 'c'], names(d))
    finally:
        d.cleanup()


@tap.case
def test_commit_failure(_):
    """a commit that fails (here: the snapshot cannot be written) fails the replies held
    for it with the reason; the change is in effect, and the next commit that succeeds
    makes it durable"""
    d = fresh({'ALBATROSS_JOURNAL_MAX': '1'})
    try:
        # a directory where the snapshot keeps the previous state: its write fails
        blocker = os.path.join(d.dbdir, 'state.bak.tmp')
        os.makedirs(os.path.join(blocker, 'x'))
        d.refused('could not be made durable', 'add-policy', 'b:', '1', '--mem', '8')
        paths = {p['path'] for p in json.loads(d.ok('policy', '--json').stdout)}
        check('b:' in paths, paths)
        check('snapshot of the state follows' in d.log_text(), d.log_text()[-2000:])
        os.rmdir(os.path.join(blocker, 'x'))
        os.rmdir(blocker)
        d.ok('add-policy', 'c:', '1', '--mem', '8')
        d.stop(signal.SIGKILL)
        d.start()
        paths = {p['path'] for p in json.loads(d.ok('policy', '--json').stdout)}
        check({'b:', 'c:'} <= paths, paths)
    finally:
        d.cleanup()


@tap.case
def test_damaged_first_length_refused(_):
    """three acknowledged changes, a kill -9, the first record's length damaged (past the
    bound): albatrossd refuses the journal naming offset 0 and cuts nothing"""
    d = fresh()
    try:
        for n in ('a:', 'b:', 'c:'):
            d.ok('add-policy', n, '1', '--mem', '8')
        d.stop(signal.SIGKILL)
        with open(journal(d), 'rb') as f:
            data = bytearray(f.read())
        check(len(records(bytes(data))) == 3, records(bytes(data)))
        data[3] ^= 0x10
        with open(journal(d), 'wb') as f:
            f.write(data)
        d.start(expect_ready=False)
        rc = d.proc.wait(WAIT)
        d.proc = None
        d.logf.close()
        check(rc != 0, f'exit {rc}')
        want = f"state journal '{journal(d)}' cannot be used: the record at offset 0"
        check(want in d.log_text(), d.log_text()[-2000:])
        with open(journal(d), 'rb') as f:
            check(f.read() == bytes(data), 'the journal was changed')
    finally:
        d.cleanup()


@tap.case
def test_reply_held_at_sigterm(_):
    """SIGTERM while a change waits for its sync (fdatasync delayed by 2 s): albatrossd
    syncs and gives the reply before it goes; the change survives"""
    d = Traced(PATHS, ['-e', 'trace=fdatasync', '-e', 'inject=fdatasync:delay_exit=2000000'],
               extra=FAST)
    try:
        d.start()
        p = subprocess.Popen([PATHS['client'], '--socket', d.socket, 'add-policy', 'p:', '1',
                              '--mem', '8'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        # in effect (in memory) at once, durable 2 s later
        wait_for(lambda: 'p:' in d.ok('policy', '--json').stdout or p.poll() is not None,
                 WAIT, 'the policy in effect')
        check(p.poll() is None, 'replied before the sync')
        check(d.stop(signal.SIGTERM) == 0)
        out, err = p.communicate(timeout=WAIT)
        check(p.returncode == 0, f'exit {p.returncode}: {err}')
        d2 = fresh_in(d)
        paths = {x['path'] for x in json.loads(d2.ok('policy', '--json').stdout)}
        check('p:' in paths, paths)
    finally:
        d.cleanup()


def fresh_in(d):
    """The same directories, albatrossd without strace."""
    d.wrap = lambda args: args
    d.stop = lambda sig=signal.SIGTERM, timeout=WAIT: Daemon.stop(d, sig, timeout)
    return d.start()


@tap.case
def test_commit_failure_backoff(_):
    """a snapshot that keeps failing is tried again at growing intervals: a bounded number
    of attempts and log lines, not a flood; once the obstacle goes, a change is
    acknowledged and durable, and the recovery is logged"""
    d = fresh({'ALBATROSS_JOURNAL_MAX': '1'})
    try:
        blocker = os.path.join(d.dbdir, 'state.bak.tmp')
        os.makedirs(os.path.join(blocker, 'x'))
        d.refused('could not be made durable', 'add-policy', 'b:', '1', '--mem', '8')
        # an observation window, not a synchronisation: without a backoff thousands of
        # attempts (and lines) come in it
        time.sleep(3)
        lines = [ln for ln in d.log_text().splitlines() if 'could not be written' in ln]
        check(len(lines) <= 20, f'{len(lines)} lines: {lines[-5:]}')
        os.rmdir(os.path.join(blocker, 'x'))
        os.rmdir(blocker)
        d.ok('add-policy', 'c:', '1', '--mem', '8')
        wait_for(lambda: 'durable again' in d.log_text(), 60, 'the recovery')
        d.stop(signal.SIGKILL)
        d.start()
        paths = {p['path'] for p in json.loads(d.ok('policy', '--json').stdout)}
        check({'b:', 'c:'} <= paths, paths)
    finally:
        d.cleanup()


@tap.case
def test_failed_append_needs_snapshot(_):
    """a destroy whose journal append fails (write() of the journal made to fail by
    strace) is acknowledged only once a snapshot has it: after a kill -9 it stays
    destroyed"""
    d = fresh()
    try:
        img = image(d)
        d.ok('create', 'u', img, '--arg', '--run')
        d.ok('create', 'v', img, '--arg', '--run')
        check(d.stop(signal.SIGUSR2) == 0)
        d2 = Traced(PATHS, ['-P', journal(d), '-e', 'trace=write',
                            '-e', 'inject=write:error=ENOSPC'], follow=False, workdir=d.dir,
                    extra=FAST)
        d2.start()
        d2.ok('destroy', 'u')
        d2.stop(signal.SIGKILL)
        d.start()
        check(names(d) == ['v'], names(d))
    finally:
        d.cleanup()


sys.exit(tap.run(None))
