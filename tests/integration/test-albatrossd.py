#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Integration tests of albatrossd with the real albatross-client and the test
tender, as root in a private network namespace (exit 77 otherwise).

usage: test-albatrossd.py ALBATROSSD CLIENT TENDER_DIR MKIMAGE"""
import ipaddress
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (WAIT, Daemon, Skip, Tap, alive, cbor, check, frame,  # noqa: E402
                     kill_monitors, link_exists, link_master, mkimage, monitors,
                     proc_status, raw_exchange, require_netns, started, taps, wait_for)

require_netns(sys.argv)
PATHS = dict(zip(('albatrossd', 'client', 'tender_dir', 'mkimage'), sys.argv[1:5]))
tap = Tap()
# Quick restarts; a crash-loop window long enough that however slow the machine, the
# restarts of a crash loop fall within it.
FAST = ['--restart-backoff', '200', '--crash-loop', '4/600', '--stop-timeout', '2']
# For the cases that hold a tender stopped (SIGSTOP) while albatrossd waits for it:
# no SIGKILL may end the wait before the test lets the tender go.
PATIENT = FAST[:-2] + ['--stop-timeout', '600']


def fresh(extra=FAST):
    return started(PATHS, extra)


def image(d, name='img.spt', nets=(), blocks=()):
    return mkimage(PATHS, os.path.join(d.dir, name), nets, blocks)


def fds(pid, sockets=True):
    """What the open fds of pid point at (a set of readlink results); without sockets,
    which come and go with clients and the reconnects to the helper daemons."""
    out = set()
    for fd in os.listdir(f'/proc/{pid}/fd'):
        try:
            out.add(os.readlink(f'/proc/{pid}/fd/{fd}'))
        except OSError:
            pass
    return out if sockets else {f for f in out if not f.startswith('socket:')}


def sigterm_pending(pid):
    """True when a SIGTERM waits for the (stopped) process pid: albatrossd asked it to
    stop."""
    st = proc_status(pid) or {}
    return any(int(st.get(k, '0'), 16) & (1 << (signal.SIGTERM - 1))
               for k in ('ShdPnd', 'SigPnd'))


def gone(d, name):
    r = d.cli('info', name, '--json')
    return r.returncode == 1


@tap.case
def test_lifecycle(_):
    """create: running under its monitor, pinned, tap in the bridge, console pipe; destroy
    leaves nothing"""
    d = fresh()
    try:
        img = image(d, nets=['service'])
        cpu = '1' if os.cpu_count() > 1 else '0'
        d.ok('create', 'hello', img, '--mem', '32', '--cpu', cpu, '--net', 'service:br0',
             '--arg', '--run')
        u = d.one('hello')
        check(u['state'] == 'running', u)
        pid = u['pid']
        check(alive(pid), f'tender {pid} is not running')
        st = proc_status(pid)
        check(st['Cpus_allowed_list'] == cpu, f'pinned to {st["Cpus_allowed_list"]}, not {cpu}')
        check(len(u['taps']) == 1, u)
        t = u['taps'][0]
        check(link_exists(t) and link_master(t) == 'br0', f'tap {t} is not in br0')
        # its parent is its monitor, in a session of its own, pinned as the tender is;
        # stdout and stderr: one pipe, whose read end the monitor holds
        mon = int(st['PPid'])
        check(mon != d.proc.pid and list(monitors(d.rundir)) == [mon], (mon, monitors(d.rundir)))
        check(os.getsid(mon) == mon, 'the monitor is not in a session of its own')
        check(proc_status(mon)['Cpus_allowed_list'] == cpu, 'the monitor is not pinned')
        out = os.readlink(f'/proc/{pid}/fd/1')
        check(out.startswith('pipe:') and os.readlink(f'/proc/{pid}/fd/2') == out, out)
        check(out in fds(mon), f'the monitor does not hold the read end of {out}')
        check(out not in fds(d.proc.pid), f'albatrossd holds {out}')
        images = os.listdir(os.path.join(d.dbdir, 'images'))
        check(len(images) == 1 and images[0] == u['digest'], images)
        # the tender got exactly the documented command line
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            argv = f.read().split(b'\0')[:-1]
        check(argv[1] == b'--mem=32', argv)
        check(argv[2] == f'--net:service={t}'.encode(), argv)
        check(argv[3].startswith(b'--net-mac:service='), argv)
        first = int(argv[3].split(b'=')[1][:2], 16)
        check(first & 1 == 0 and first & 2 == 2, f'not a local unicast MAC: {argv[3]}')
        check(argv[4] == b'--' and argv[6] == b'--run', argv)

        r = d.ok('destroy', 'hello')
        check('destroyed' in r.stdout, f'destroy said: {r.stdout!r}')
        check(gone(d, 'hello'), 'still listed')
        check(not alive(pid), 'tender still running')
        check(not link_exists(t), f'tap {t} left')
        # the monitor ends once albatrossd took the exit; its directory goes
        wait_for(lambda: not alive(mon), WAIT, 'the monitor to end')
        left = os.listdir(os.path.join(d.rundir, 'u'))
        check(left == [], f'monitor directories left: {left}')
        check(not os.path.exists(os.path.join(d.rundir, 'fifo')), 'FIFO directory made')
        check(os.listdir(os.path.join(d.dbdir, 'images')) == [], 'image left')
        check(taps() == [], f'taps left: {taps()}')
    finally:
        d.cleanup()


@tap.case
def test_mac_is_stable(_):
    """the derived MAC is the same at every start"""
    d = fresh()
    try:
        img = image(d, nets=['service'])
        d.ok('create', 'm', img, '--net', 'service:br0', '--arg', '--run')

        def mac():
            pid = d.one('m')['pid']
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                return [a for a in f.read().split(b'\0') if a.startswith(b'--net-mac')][0]
        first = mac()
        d.ok('restart', 'm')
        check(mac() == first, 'the MAC changed across a restart')
        d.ok('destroy', 'm')
    finally:
        d.cleanup()


@tap.case
def test_restart_and_crash_loop(_):
    """restart on failure with back-off, then a crash loop ends in failed; destroy works"""
    d = fresh()
    try:
        img = image(d)
        d.ok('create', 'crashy', img, '--restart-on-fail', '--arg', '--sleep=50', '--arg',
             '--exit=3')
        wait_for(lambda: d.one('crashy')['state'] == 'failed', 2 * WAIT, 'a crash loop')
        # each restart came after its back-off (the log says so; a poll of the state
        # could miss a short one), doubled each time
        delays = [int(x) for x in re.findall(r"Restarting 'crashy' in (\d+) ms", d.log_text())]
        check(len(delays) >= 3 and delays[:3] == [200, 400, 800], f'back-offs: {delays}')
        u = d.one('crashy')
        check(u['restarts'] >= 3, u)
        check(u['last_exit'] == {'code': 3} or u['last_exit'].get('code') == 3, u)
        d.ok('destroy', 'crashy')
        check(gone(d, 'crashy'))
    finally:
        d.cleanup()


@tap.case
def test_never_restart_codes(_):
    """exit codes 1 and 60-64 and signals never restart, even with --restart-on-fail"""
    d = fresh()
    try:
        img = image(d)
        for i, arg in enumerate(['--exit=1', '--exit=60', '--exit=64', '--signal=9',
                                 '--signal=15']):
            name = f'never{i}'
            d.ok('create', name, img, '--restart-on-fail', '--arg', '--sleep=100', '--arg', arg)
            wait_for(lambda: gone(d, name), WAIT, f'{name} ({arg}) to be gone')
        check('Restarting' not in d.log_text(), 'something was restarted')
    finally:
        d.cleanup()


@tap.case
def test_restart_on_listed_codes(_):
    """--exit-code restarts on the listed codes only"""
    d = fresh()
    try:
        img = image(d)
        d.ok('create', 'listed', img, '--exit-code', '7', '--arg', '--sleep=100', '--arg',
             '--exit=7')
        wait_for(lambda: d.one('listed')['restarts'] >= 1, WAIT, 'a restart on code 7')
        d.ok('destroy', 'listed')
        d.ok('create', 'other', img, '--exit-code', '7', '--arg', '--sleep=100', '--arg',
             '--exit=8')
        wait_for(lambda: gone(d, 'other'), WAIT, 'exit 8 to end it')
    finally:
        d.cleanup()


@tap.case
def test_destroy_during_backoff(_):
    """destroy works while a restart waits for its back-off"""
    # The longest back-off there is: a destroy that waited for it would see the
    # restart happen first (a second start), whatever the speed of the machine.
    d = fresh(['--restart-backoff', '60000'])
    try:
        img = image(d)
        d.ok('create', 'slow', img, '--restart-on-fail', '--arg', '--exit=5')
        wait_for(lambda: d.one('slow')['state'] == 'restarting', WAIT, 'restarting')
        d.ok('destroy', 'slow')
        check(gone(d, 'slow'))
        starts = d.log_text().count("Started 'slow'")
        check(starts == 1, f'started {starts} times: destroy waited for the back-off')
    finally:
        d.cleanup()


@tap.case
def test_restart_with_new_arguments(_):
    """restart --replace-arguments runs the new arguments"""
    d = fresh()
    try:
        img = image(d)
        d.ok('create', 'args', img, '--arg', '--run')
        pid = d.one('args')['pid']
        d.ok('restart', 'args', '--replace-arguments', '--arg', '--run', '--arg', '--hello=x')
        u = d.one('args')
        check(u['pid'] != pid and not alive(pid), 'not restarted')
        with open(f'/proc/{u["pid"]}/cmdline', 'rb') as f:
            check(b'--hello=x' in f.read().split(b'\0'), 'new argument missing')
        d.ok('destroy', 'args')
    finally:
        d.cleanup()


@tap.case
def test_outage_keeps_unikernels(_):
    """kill -9, SIGTERM and a copied binary: the next albatrossd adopts the same tenders
    (same pids and taps, one monitor each, restart counts kept), starts none again, and
    serves them as before; traffic through a tap flows during each outage, and a block
    device stays marked in use"""
    d = fresh()
    # br0 as a host's bridge: an address to talk to a:one from, and a MAC of its own (one
    # taken from its ports would change as taps come and go)
    subprocess.run(['ip', 'link', 'set', 'br0', 'address', '02:00:00:00:00:01'], check=True)
    subprocess.run(['ip', 'addr', 'add', '10.0.0.1/24', 'dev', 'br0'], check=True)

    def echo(payload):
        """a:one's answer (its test tender's UDP echo) to a datagram through its tap"""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.settimeout(WAIT)
            s.sendto(payload, ('10.0.0.2', 7))
            return s.recv(2048)
        finally:
            s.close()
    try:
        img = image(d, nets=['service'])
        d.ok('create', 'a:one', img, '--net', 'service:br0', '--arg', '--run', '--startup',
             '20', '--arg', '--ipv4=10.0.0.2/24', '--arg', '--name=one')
        d.ok('create', 'c:three', img, '--net', 'service:br0', '--arg', '--run', '--startup',
             '15')
        d.ok('create-block', 'b:disk', '1')
        d.ok('create', 'b:two', image(d, 'imgb.spt', nets=['service'], blocks=['storage']),
             '--net', 'service:br0', '--block', 'storage:disk', '--arg', '--run', '--startup',
             '10')
        check(echo(b'before') == b'one: before', 'no echo through the tap')
        # one that restarted once already: its count survives the outages
        d.ok('create', 'd:again', img, '--net', 'service:br0', '--exit-code', '3', '--arg',
             '--wait=USR1', '--arg', '--exit=3')
        first = d.one('d:again')['pid']
        os.kill(first, signal.SIGUSR1)
        # one look at a time: between two, it may be restarting (pid 0)
        wait_for(lambda: (lambda u: u['state'] == 'running' and u['pid'] not in (0, first))(
            d.one('d:again')), WAIT, 'd:again to restart')
        old = {u['name']: u for u in d.info()}
        check(old['d:again']['restarts'] == 1, old['d:again'])
        used = sorted(t for u in old.values() for t in u['taps'])
        mons = monitors(d.rundir)
        check(len(mons) == 4, mons)
        copy = os.path.join(d.dir, 'albatrossd-copy')
        shutil.copy(PATHS['albatrossd'], copy)
        for how in ('kill -9', 'SIGTERM', 'a copied binary'):
            if how == 'kill -9':
                d.stop(signal.SIGKILL)
            else:
                check(d.stop() == 0, f'{how}: albatrossd did not exit 0')
            check(all(alive(u['pid']) for u in old.values()), f'{how}: a tender died')
            # nobody supervises: the unikernel serves on
            check(echo(how.encode()) == b'one: ' + how.encode(), f'{how}: no echo meanwhile')
            if how == 'a copied binary':
                d.paths = dict(d.paths, albatrossd=copy)
            d.start()
            new = {u['name']: u for u in d.info()}
            for n, u in old.items():
                check(new[n]['state'] == 'running' and new[n]['pid'] == u['pid'] and
                      new[n]['taps'] == u['taps'] and new[n]['restarts'] == u['restarts'],
                      f'{how}: {n} was {u}, is {new[n]}')
            check(taps() == used, f'{how}: taps {taps()}, in use {used}')
            check(monitors(d.rundir) == mons, f'{how}: monitors {monitors(d.rundir)}')
            log = d.log_text()[d.log_start:]
            check(log.count('Adopted ') == 4 and 'Started ' not in log, log)
            check(echo(b'after') == b'one: after', f'{how}: no echo after')
            check(new['b:two']['block_files'] == old['b:two']['block_files'], new['b:two'])
            d.refused("used by 'b:two'", 'destroy-block', 'b:disk')
        # served as any other: restart (a new pid), destroy (nothing left)
        d.ok('restart', 'a:one')
        check(d.one('a:one')['pid'] != old['a:one']['pid'], 'not restarted')
        check(not alive(old['a:one']['pid']), 'the old tender lives on')
        for n in old:
            d.ok('destroy', n)
        check(taps() == [], taps())
        # a monitor ends once albatrossd took its tender's exit (after the reply, perhaps)
        wait_for(lambda: monitors(d.rundir) == {}, WAIT, 'the monitors to end')
        wait_for(lambda: os.listdir(os.path.join(d.rundir, 'u')) == [], WAIT,
                 'the monitors\' directories to go')
        d.ok('destroy-block', 'b:disk')
    finally:
        d.cleanup()
        subprocess.run(['ip', 'addr', 'del', '10.0.0.1/24', 'dev', 'br0'])


@tap.case
def test_host_reboot_restores_by_priority(_):
    """after a host reboot (albatrossd and every tender killed) every unikernel of the
    state starts again, lowest startup priority first, and no tap is left"""
    d = fresh()
    try:
        img = image(d, nets=['service'])
        d.ok('create', 'a:one', img, '--net', 'service:br0', '--arg', '--run', '--startup', '20')
        d.ok('create', 'b:two', img, '--net', 'service:br0', '--arg', '--run', '--startup', '10')
        old = {u['name']: u for u in d.info()}
        d.stop(signal.SIGKILL)
        kill_monitors(d.rundir)
        for u in old.values():
            wait_for(lambda: not alive(u['pid']), WAIT, 'the tenders to follow their monitors')
        d.start()

        def both_running():
            running = [u for u in d.info() if u['state'] == 'running']
            return running if len(running) == 2 else None
        new = wait_for(both_running, WAIT, 'both to run again')
        check({u['name'] for u in new} == {'a:one', 'b:two'}, new)
        check(not {u['pid'] for u in new} & {u['pid'] for u in old.values()}, 'same pids')
        used = sorted(t for u in new for t in u['taps'])
        check(taps() == used, f'taps {taps()} but in use {used}')
        # the lower startup priority came first
        log = d.log_text()
        check(log.rfind("Started 'b:two'") < log.rfind("Started 'a:one'"), 'startup order')
        check(os.path.exists(os.path.join(d.dbdir, 'state.started')))
    finally:
        d.cleanup()


@tap.case
def test_host_reboot_bounded_parallel_restore(_):
    """after a host reboot, 60 unikernels of various startup priorities are started again by
    priority, never more than --start-parallel (2) being started at once, and albatrossd
    answers info while it restores them"""
    d = fresh()
    try:
        img = image(d)
        rng = random.Random(15)
        prio = {}
        for i in range(60):
            # names in another order than their priorities
            name = f'r{i:02d}'
            prio[name] = rng.choice((0, 10, 20, 30, 40, 50))
            d.ok('create', name, img, '--arg', '--run', '--startup', str(prio[name]))
        old = {u['name']: u for u in d.info()}
        d.stop(signal.SIGKILL)
        kill_monitors(d.rundir)
        for u in old.values():
            wait_for(lambda: not alive(u['pid']), WAIT, 'the tenders to follow their monitors')
        # Each monitor's start is written down (the time, us since the epoch, as the started
        # time of info), then takes a while. The starts go by priority, so the last ones are
        # those of priority 50: each of them takes a second, which leaves the restore going on
        # for seconds after the others (an info is asked meanwhile, between two slices).
        begins = os.path.join(d.dir, 'begins')
        wrapper = os.path.join(d.dir, 'slow-monitor')
        first_slow = sum(1 for p in prio.values() if p < 50)
        check(first_slow <= 56, 'too few unikernels of priority 50 for this test')
        with open(wrapper, 'w') as f:
            f.write('#!/bin/sh\n'
                    f'echo "$(date +%s%6N)" >> {begins}\n'
                    f'if [ "$(wc -l < {begins})" -gt {first_slow} ]; then sleep 1; '
                    'else sleep 0.05; fi\n'
                    f'exec {os.environ["ALBATROSS_MONITOR"]} "$@"\n')
        os.chmod(wrapper, 0o755)
        d.extra += ['--start-parallel', '2', '--monitor', wrapper]
        d.start()
        # Answered while the restore goes on: some run already, others wait to start.
        seen = []

        def mixed():
            states = {u['state'] for u in d.info()}
            seen.append(states)
            if 'running' in states and 'restarting' in states:
                return states
            check('restarting' in states, f'the restore ended before an info: {seen}')
            return None
        wait_for(mixed, WAIT, 'an info during the restore')

        def all_running():
            us = d.info()
            return us if all(u['state'] == 'running' for u in us) and len(us) == 60 else None
        new = wait_for(all_running, WAIT * 4, 'all 60 to run again')
        started = {u['name']: u['started'] for u in new}
        # By priority: every unikernel of a priority started before any of the next began.
        for p in (0, 10, 20, 30, 40):
            last = max((started[n] for n in started if prio[n] == p), default=0)
            later = [started[n] for n in started if prio[n] > p]
            check(not later or last < min(later), f'priority {p} not first')
        # Never more than 2 being started: a start runs from its monitor's start to its
        # started time; at no time more than 2 had begun and not yet ended.
        with open(begins) as f:
            b = sorted(int(x) for x in f.read().split())
        check(len(b) == 60, f'{len(b)} monitors started')
        events = sorted([(t, 1) for t in b] + [(t, -1) for t in started.values()],
                        key=lambda e: (e[0], e[1]))
        under_way = most = 0
        for _, k in events:
            under_way += k
            most = max(most, under_way)
        check(most <= 2, f'{most} starts under way at once')
        check(most == 2, 'the starts never ran side by side')
        log = d.log_text()
        slices = [(int(n), int(p)) for n, p in re.findall(
            r'Restoring: (\d+) unikernels? of startup priority (\d+) being started', log)]
        check(sum(n for n, _ in slices) == 60 and all(n <= 2 for n, _ in slices), slices)
        check([p for _, p in slices] == sorted(p for _, p in slices), 'slices out of order')
        check('Restored: 60 unikernels started' in log, 'no end of the restore logged')
    finally:
        d.cleanup()


@tap.case
def test_exit_during_outage(_):
    """a unikernel that exits while albatrossd is down is handled by its fail behaviour
    when albatrossd is back (restarted for a restart code, gone for a quit); the event
    log's record of it is test-log.py's test_exit_while_albatrossd_away"""
    d = fresh()
    try:
        img = image(d)
        d.ok('create', 'again', img, '--arg', '--wait=USR1', '--arg', '--exit=3',
             '--exit-code', '3')
        d.ok('create', 'quits', img, '--arg', '--wait=USR1', '--arg', '--exit=0')
        old = {u['name']: u for u in d.info()}
        check(d.stop() == 0)
        # they exit with 3 and 0 while nobody supervises: the monitors keep the exits
        for u in old.values():
            os.kill(u['pid'], signal.SIGUSR1)
        for u in old.values():
            wait_for(lambda: not alive(u['pid']), WAIT, 'the tenders to exit')
        check(len(monitors(d.rundir)) == 2, 'a monitor went with its tender')
        d.start()
        u = wait_for(lambda: [v for v in d.info() if v['name'] == 'again' and
                              v['state'] == 'running' and v['pid'] != old['again']['pid']],
                     WAIT, 'again to be restarted')[0]
        check(u['restarts'] == 1 and u['last_exit'] == {'code': 3}, u)
        wait_for(lambda: gone(d, 'quits'), WAIT, 'quits to be gone')
        wait_for(lambda: len(monitors(d.rundir)) == 1, WAIT, "quits' monitor to end")
    finally:
        d.cleanup()


@tap.case
def test_backoff_and_failure_outlive_albatrossd(_):
    """a unikernel waiting out its restart back-off when albatrossd is killed waits the
    rest out after the next start and goes on with its tally (the next back-off doubles,
    its restarts are kept); one failed by a crash loop stays failed across a SIGTERM and a
    start, until a restart command"""
    d = fresh(['--restart-backoff', '4000', '--crash-loop', '3/600', '--stop-timeout', '2'])
    try:
        img = image(d)
        d.ok('create', 'loop', img, '--arg', '--exit=3', '--exit-code', '3')
        wait_for(lambda: "Restarting 'loop' in 4000 ms" in d.log_text(), WAIT,
                 'the first back-off')
        check(d.stop(signal.SIGKILL) is not None)
        mark = len(d.log_text())
        d.start()
        since = lambda: d.log_text()[mark:]
        wait_for(lambda: "'loop' restarts in" in since(), WAIT, 'the back-off taken back')
        check('(restarts so far: 0)' in since(), since())
        # the tally went on: the next back-off is the doubled one, not a fresh 4000 ms
        wait_for(lambda: "Restarting 'loop' in 8000 ms" in since(), 3 * WAIT,
                 'the second back-off')
        check("Restarting 'loop' in 4000 ms" not in since(), since())
        wait_for(lambda: d.one('loop')['state'] == 'failed', 3 * WAIT, 'a crash loop')
        u = d.one('loop')
        check(u['restarts'] == 2, u)
        check(d.stop() == 0)
        mark = len(d.log_text())
        d.start()
        # what a start restores is queued before albatrossd is ready: nothing was
        check('Restoring' not in since(), since())
        check("'loop' stays failed, as it was before albatrossd went: crash loop" in since(),
              since())
        u = d.one('loop')
        check(u['state'] == 'failed' and u['restarts'] == 2 and u['pid'] is None and
              u['last_exit'] == {'code': 3} and u['failure'].startswith('crash loop'), u)
        check(len(monitors(d.rundir)) == 0, 'a failed unikernel was started again')
        mark = len(d.log_text())
        d.ok('restart', 'loop')
        wait_for(lambda: "Started 'loop'" in since(), WAIT, 'the restart command to run it')
    finally:
        d.cleanup()


@tap.case
def test_monitor_trouble(_):
    """another connection to a monitor (which replaces albatrossd's) changes nothing; a
    SIGTERM to a monitor while albatrossd runs stops the unikernel but keeps it; a killed
    monitor takes its tender with it and leaves the unikernel failed, kept, restartable;
    no tap is left behind"""
    d = fresh()
    try:
        img = image(d, nets=['service'])
        for n in ('a', 'b', 'c'):
            d.ok('create', n, img, '--net', 'service:br0', '--restart-on-fail', '--arg',
                 '--run')
        us = {u['name']: u for u in d.info()}
        mons = {pid: argv[1] for pid, argv in monitors(d.rundir).items()}
        by_tender = {t: m for t, m in tenders_of(d.rundir).items()}
        # a: someone else connects to its monitor, albatrossd's connection is dropped
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(mons[by_tender[us['a']['pid']]])
        s.settimeout(WAIT)
        check(s.recv(1) == b'H', 'the monitor did not greet the intruder')
        wait_for(lambda: "Connected again to the monitor of 'a'" in d.log_text(), WAIT,
                 'albatrossd to connect again')
        while s.recv(65536):  # replaced in turn
            pass
        s.close()
        check('is gone' not in d.log_text(), 'albatrossd took a replaced connection for a '
              'gone monitor')
        check(alive(us['a']['pid']) and d.one('a')['state'] == 'running' and
              d.one('a')['pid'] == us['a']['pid'], d.one('a'))
        # b: its monitor gets SIGTERM (the host shuts down): stopped, kept in the state
        os.kill(by_tender[us['b']['pid']], signal.SIGTERM)
        wait_for(lambda: d.one('b')['state'] == 'stopped', WAIT, 'b to stop')
        check(not alive(us['b']['pid']) and d.one('b')['restarts'] == 0, d.one('b'))
        # c: its monitor is killed: its tender dies with it; c is failed, and kept
        os.kill(by_tender[us['c']['pid']], signal.SIGKILL)
        wait_for(lambda: d.one('c')['state'] == 'failed', WAIT, 'c to fail')
        wait_for(lambda: not alive(us['c']['pid']), WAIT, "c's tender to die")
        check('monitor ended unexpectedly' in d.log_text(), 'no reason given')
        wait_for(lambda: taps() == sorted(us['a']['taps']), WAIT, 'the taps of b and c to go')
        # both run again on a restart
        for n in ('b', 'c'):
            d.ok('restart', n)
            check(d.one(n)['state'] == 'running', d.one(n))
        check(len(monitors(d.rundir)) == 3, monitors(d.rundir))
    finally:
        d.cleanup()


@tap.case
def test_monitor_lost_while_stopping(_):
    """a monitor killed while albatrossd stops every unikernel: albatrossd still ends, and
    the unikernel stays in the state (the next start runs it again)"""
    d = fresh()
    try:
        img = image(d, nets=['service'])
        d.ok('create', 'x', img, '--net', 'service:br0', '--arg', '--run')
        pid = d.one('x')['pid']
        mon = int(proc_status(pid)['PPid'])
        os.kill(mon, signal.SIGSTOP)  # it takes no request now
        d.proc.send_signal(signal.SIGUSR2)
        wait_for(lambda: 'stopping every unikernel' in d.log_text(), WAIT, 'the stop')
        os.kill(mon, signal.SIGKILL)
        check(d.proc.wait(WAIT) == 0, 'albatrossd did not end')
        d.proc = None
        d.logf.close()
        wait_for(lambda: not alive(pid), WAIT, 'the tender to die with its monitor')
        d.start()
        wait_for(lambda: (lambda u: u['state'] == 'running' and u['pid'] not in (0, pid))(
            d.one('x')), WAIT, 'x to run again')
        wait_for(lambda: taps() == d.one('x')['taps'], WAIT, 'the old tap to go')
    finally:
        d.cleanup()


def tenders_of(rundir):
    """{tender pid: monitor pid} of the monitors of rundir (a monitor's only child)."""
    mons = monitors(rundir)
    out = {}
    for p in os.listdir('/proc'):
        if p.isdigit():
            st = proc_status(int(p)) or {}
            if int(st.get('PPid', '0')) in mons:
                out[int(p)] = int(st['PPid'])
    return out


def settled(d):
    """What albatrossd runs, once it has settled after a start: every unikernel listed
    running or failed, exactly one tender for each running one and none for the others,
    the taps those of the running ones, a directory below <rundir>/u only for listed
    ones, the stored images theirs. [{name: info}] or None."""
    us = d.info()
    if any(u['state'] not in ('running', 'failed') for u in us):
        return None
    running = {u['name']: u['pid'] for u in us if u['state'] == 'running'}
    tenders = tenders_of(d.rundir)
    if sorted(running.values()) != sorted(tenders) or len(monitors(d.rundir)) != len(running):
        return None
    if taps() != sorted(t for u in us if u['state'] == 'running' for t in u['taps']):
        return None
    udir = os.path.join(d.rundir, 'u')
    if os.path.isdir(udir) and len(os.listdir(udir)) > len(us):
        return None
    if not set(os.listdir(os.path.join(d.dbdir, 'images'))) <= {u['digest'] for u in us}:
        return None
    return [{u['name']: u for u in us}]


CRASH_POINTS = {
    # point: (operation, what may come of it after the restart)
    'tap-reserved': ('create', ('absent', 'running')),
    'tap-created': ('create', ('absent', 'running')),
    'spawn-run-file': ('create', ('absent', 'running')),
    'spawn-forked': ('create', ('absent', 'running')),
    'create-started': ('create', ('absent', 'running')),
    'journal-appended': ('create', ('running',)),  # written, not yet synced: a kill keeps it
    'create-saved': ('create', ('running',)),
    'destroy-intent': ('destroy', ('absent',)),
    'restart-saved': ('restart', ('new',)),
    'restart-intent': ('restart', ('new',)),
    'exit-handled': ('exit', ('absent',)),
    'exit-acknowledged': ('exit', ('absent',)),
}


@tap.case
def test_crash_points(_):
    """albatrossd killed at each point of a create, destroy, restart and exit (a test
    hook, ALBATROSS_CRASH_AT): after the next start the operation is done or not done,
    never half: one tender per unikernel, no tap, monitor, directory or image left"""
    for point, (op, outcomes) in CRASH_POINTS.items():
        d = fresh()
        try:
            img = image(d, nets=['service'])
            if op != 'create':
                args = ['--arg', '--run'] if op != 'exit' else \
                    ['--arg', '--wait=USR1', '--arg', '--exit=0']
                d.ok('create', 'x', img, '--net', 'service:br0', *args)
                before = d.one('x')
            check(d.stop() == 0)  # a unikernel keeps running
            d.env['ALBATROSS_CRASH_AT'] = point
            d.start()
            if op == 'create':
                d.cli('create', 'x', img, '--net', 'service:br0', '--arg', '--run')
            elif op == 'destroy':
                d.cli('destroy', 'x')
            elif op == 'restart':
                d.cli('restart', 'x', '--replace-arguments', '--arg', '--run', '--arg',
                      '--hello=new')
            else:
                os.kill(before['pid'], signal.SIGUSR1)
            d.proc.wait(WAIT)
            check(d.proc.returncode == -signal.SIGKILL,
                  f'{point}: albatrossd did not crash there ({d.proc.returncode})')
            d.proc = None
            d.logf.close()
            del d.env['ALBATROSS_CRASH_AT']
            d.start()
            try:
                now = wait_for(lambda: settled(d), WAIT, f'{point}: albatrossd to settle')[0]
            except AssertionError:
                udir = os.path.join(d.rundir, 'u')
                raise AssertionError(f'{point}: info {d.info()}, tenders '
                                     f'{tenders_of(d.rundir)}, taps {taps()}, dirs '
                                     f'{os.listdir(udir) if os.path.isdir(udir) else None}, '
                                     f'images {os.listdir(os.path.join(d.dbdir, "images"))}')
            x = now.get('x')
            got = 'absent' if x is None else \
                'new' if op == 'restart' and x['pid'] != before['pid'] else x['state']
            if op == 'restart' and got == 'new':
                with open(f'/proc/{x["pid"]}/cmdline', 'rb') as f:
                    check(b'--hello=new' in f.read().split(b'\0'), f'{point}: old arguments')
            check(got in outcomes, f'{point}: x is {got}, expected one of {outcomes}')
            print(f'# {point}: {op} -> {got}', flush=True)
        finally:
            d.cleanup()


@tap.case
def test_exit_counted_once(_):
    """albatrossd killed after it handled a restarting exit but before its monitor knew
    (crash point exit-handled): the next albatrossd waits out the back-off it recorded,
    and does not count the exit the monitor still holds a second time"""
    d = fresh()
    try:
        img = image(d)
        d.ok('create', 'x', img, '--arg', '--wait=USR1', '--arg', '--exit=3', '--exit-code',
             '3')
        before = d.one('x')
        check(d.stop() == 0)
        d.env['ALBATROSS_CRASH_AT'] = 'exit-handled'
        d.start()
        os.kill(before['pid'], signal.SIGUSR1)
        d.proc.wait(WAIT)
        check(d.proc.returncode == -signal.SIGKILL, f'no crash ({d.proc.returncode})')
        d.proc = None
        d.logf.close()
        del d.env['ALBATROSS_CRASH_AT']
        mark = len(d.log_text())
        d.start()
        u = wait_for(lambda: (lambda v: v if v['state'] == 'running' and
                              v['pid'] not in (None, before['pid']) else None)(d.one('x')),
                     WAIT, 'x to be restarted')
        log = d.log_text()
        check("'x' restarts in" in log[mark:], log[mark:])
        check(log.count("exited with code 3") == 1, log)
        check(u['restarts'] == 1 and u['last_exit'] == {'code': 3}, u)
        check(len(monitors(d.rundir)) == 1, monitors(d.rundir))
    finally:
        d.cleanup()


@tap.case
def test_kill9_during_operations(_):
    """kill -9 at random points of 200 create, destroy, restart and force-create
    operations: afterwards exactly one tender per unikernel of the state, none for the
    others, no tap, monitor or image left over"""
    d = fresh()
    try:
        rnd = random.Random(20261206)
        img = image(d, nets=['service'])
        names = [f'k{i}' for i in range(5)]
        ops = kills = 0

        def consistent():
            us = d.info()
            running = {u['name']: u['pid'] for u in us if u['state'] == 'running'}
            if any(u['state'] not in ('running', 'failed') for u in us):
                return None  # an exit or a restart is being handled
            tenders = tenders_of(d.rundir)
            if sorted(running.values()) != sorted(tenders) or \
                    len(monitors(d.rundir)) != len(running):
                return None
            used = sorted(t for u in us if u['state'] == 'running' for t in u['taps'])
            return (us, used) if taps() == used else None

        while ops < 200:
            batch = []
            for _ in range(rnd.randint(1, 4)):
                n, op = rnd.choice(names), rnd.choice(['create', 'destroy', 'restart', 'force'])
                args = {'create': ['create', n, img, '--net', 'service:br0', '--arg', '--run'],
                        'force': ['create', n, img, '--net', 'service:br0', '--arg', '--run',
                                  '--arg', f'--hello={ops}', '--force'],
                        'destroy': ['destroy', n], 'restart': ['restart', n]}[op]
                batch.append(subprocess.Popen([PATHS['client'], '--socket', d.socket] + args,
                                              stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL))
            ops += len(batch)
            # the kill comes after a random number of them ended (0: at once)
            k = rnd.randint(0, len(batch))
            wait_for(lambda: sum(p.poll() is not None for p in batch) >= k, 2 * WAIT,
                     f'{k} operations to end')
            d.stop(signal.SIGKILL)
            kills += 1
            for p in batch:
                p.wait(WAIT)
            d.start()
            try:
                us, used = wait_for(consistent, WAIT, f'one tender per unikernel (kill {kills})')
            except AssertionError:
                raise AssertionError(f'kill {kills}: info {d.info()}, tenders '
                                     f'{tenders_of(d.rundir)}, monitors {monitors(d.rundir)}, '
                                     f'taps {taps()}')
        # images: exactly those of the unikernels; the monitors' directories: theirs
        digests = {u['digest'] for u in us}
        check(set(os.listdir(os.path.join(d.dbdir, 'images'))) == digests, 'images')
        for n in names:
            d.cli('destroy', n)
        udir = os.path.join(d.rundir, 'u')
        left = lambda: (monitors(d.rundir), taps(),  # noqa: E731
                        [(n, os.listdir(os.path.join(udir, n))) for n in os.listdir(udir)])
        try:
            wait_for(lambda: left() == ({}, [], []), WAIT, 'nothing left')
        except AssertionError:
            raise AssertionError(f'left: {left()}')
        print(f'# {ops} operations, {kills} kills, {len(us)} unikernels at the end')
    finally:
        d.cleanup()


@tap.case
def test_second_albatrossd_refused(_):
    """a second albatrossd on the same dbdir or rundir exits naming the first's pid and
    changes nothing; after a kill -9 of the first the next start is not blocked"""
    d = fresh()
    try:
        img = image(d, nets=['service'])
        d.ok('create', 'one', img, '--net', 'service:br0', '--arg', '--run')
        before = d.one('one')
        with open(os.path.join(d.dbdir, 'state'), 'rb') as f:
            state = f.read()
        sock = os.stat(d.socket).st_ino
        used = taps()
        other_run = os.path.join(d.dir, 'run2')
        other_db = os.path.join(d.dir, 'db2')
        for db, run in ((d.dbdir, d.rundir), (d.dbdir, other_run), (other_db, d.rundir)):
            r = subprocess.run([PATHS['albatrossd'], '--rundir', run, '--dbdir', db,
                                '--tender-dir', PATHS['tender_dir']],
                               capture_output=True, text=True, timeout=WAIT)
            check(r.returncode == 1, f'exit {r.returncode}: {r.stderr}')
            want = f'another albatrossd (pid {d.proc.pid}) uses'
            check(want in r.stderr, r.stderr)
        # nothing changed: the same tender, taps, socket and state; still served
        after = d.one('one')
        check(after['pid'] == before['pid'] and alive(before['pid']), after)
        check(taps() == used, f'taps {taps()}, were {used}')
        check(os.stat(d.socket).st_ino == sock, 'the socket was replaced')
        with open(os.path.join(d.dbdir, 'state'), 'rb') as f:
            check(f.read() == state, 'the state file changed')
        with open(os.path.join(d.dbdir, 'albatrossd.lock')) as f:
            check(f.read().strip() == str(d.proc.pid), 'the lock names the first')
        # the kernel releases the lock of a killed albatrossd
        d.stop(signal.SIGKILL)
        d.start()
        wait_for(lambda: d.one('one')['state'] == 'running', WAIT, 'one to run again')
    finally:
        d.cleanup()


@tap.case
def test_sigterm_stops_and_keeps(_):
    """SIGTERM leaves the unikernels running; SIGUSR2, and SIGTERM with
    --stop-unikernels, stop every one first; the next start brings them back"""
    d = fresh()
    try:
        img = image(d)
        d.ok('create', 'keep', img, '--arg', '--run')
        pid = d.one('keep')['pid']
        check(d.stop() == 0, 'albatrossd did not exit 0')
        check(alive(pid), 'SIGTERM stopped the tender')
        check(not os.path.exists(d.socket), 'socket left')
        for how in ('SIGUSR2', '--stop-unikernels'):
            if how == 'SIGUSR2':
                d.start()
                check(d.one('keep')['pid'] == pid, 'not adopted')
                check(d.stop(signal.SIGUSR2) == 0, 'albatrossd did not exit 0')
            else:
                check(d.stop() == 0 and alive(pid), 'SIGTERM stopped the tender')
                d.extra.append('--stop-unikernels')
                d.start()
                check(d.one('keep')['pid'] == pid, 'not adopted')
                check(d.stop() == 0, 'albatrossd did not exit 0')
                d.extra.remove('--stop-unikernels')
            check(not alive(pid), f'{how}: tender still running')
            wait_for(lambda: monitors(d.rundir) == {}, WAIT, f'{how}: the monitors to end')
            check(not os.path.exists(d.socket), 'socket left')
            d.start()
            wait_for(lambda: d.one('keep')['state'] == 'running', WAIT, 'keep to run again')
            check(d.one('keep')['pid'] != pid, 'the same tender')
            pid = d.one('keep')['pid']
    finally:
        d.cleanup()


STATE_WRITE = ('', ('state.tmp.', 'state.bak.tmp'))
UPLOAD = ('images', ('.upload-', '.image-'))


def in_flight(d, kinds=(STATE_WRITE, UPLOAD)):
    """The temporary files of the state writes and image uploads under way (or that a
    kill interrupted), relative to the dbdir."""
    out = []
    for sub, prefixes in kinds:
        try:
            names = os.listdir(os.path.join(d.dbdir, sub))
        except FileNotFoundError:
            continue
        out += [os.path.join(sub, n) for n in names if n.startswith(prefixes)]
    return out


def file_id(path):
    try:
        st = os.stat(path)
        return (st.st_ino, st.st_mtime_ns, st.st_size)
    except FileNotFoundError:
        return None


# When the kill comes, relative to what albatrossd has done of a round of three creates
# (whatever the time that takes): each round waits for one of these, in turn.
KILL_MOMENTS = ('a state write under way', 'an upload under way', 'the state file replaced',
                'the first create acknowledged', 'every create acknowledged')


@tap.case
def test_state_survives_kill_loop(_):
    """killing albatrossd while it writes its state never leaves a bad state file"""
    d = fresh()
    try:
        img = image(d)
        state = os.path.join(d.dbdir, 'state')
        had_state = False
        acknowledged = []   # creates that succeeded: each was persisted before its reply
        interrupted = {'state write': 0, 'upload': 0}  # what the kills cut short
        for i in range(20):
            moment = i % len(KILL_MOMENTS)
            before = file_id(state)
            procs = {f'p:u{i}x{k}': subprocess.Popen(
                [PATHS['client'], '--socket', d.socket, 'create', f'p:u{i}x{k}', img,
                 '--arg', '--run'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for k in range(3)}

            def reached():
                ended = [p.poll() for p in procs.values()]
                if None not in ended:
                    return True  # all ended: nothing more to wait for
                if moment == 0:
                    return bool(in_flight(d, [STATE_WRITE]))
                if moment == 1:
                    return bool(in_flight(d, [UPLOAD]))
                if moment == 2:
                    return file_id(state) != before
                if moment == 3:
                    return 0 in ended
                return False
            # polled closely: a write lasts a few milliseconds
            wait_for(reached, 2 * WAIT, f'{KILL_MOMENTS[moment]} (round {i})',
                     interval=0.0005)
            d.stop(signal.SIGKILL)
            left = in_flight(d)
            interrupted['state write'] += bool(in_flight(d, [STATE_WRITE]))
            interrupted['upload'] += bool(in_flight(d, [UPLOAD]))
            for p in procs.values():
                p.wait(WAIT)
            ok = [n for n, p in procs.items() if p.returncode == 0]
            acknowledged += ok
            if moment == 4:
                check(len(ok) == 3, f'round {i}: only {ok} of three creates succeeded')
            # once there is a state file, it never goes missing
            check(os.path.exists(state) or not had_state, f'state file missing after kill {i}')
            had_state = os.path.exists(state)
            if not left and had_state:
                # No write was under way at the kill: leave what one interrupted at its
                # worst, a temporary file cut short, as the kill could have.
                with open(state, 'rb') as f:
                    data = f.read()
                with open(state + f'.tmp.torn{i:02d}', 'wb') as f:
                    f.write(data[:len(data) // 2])
            d.start()  # fails unless the state file decodes
            check(not in_flight(d),
                  f'a start left the temporary files of an interrupted write: {in_flight(d)}')
            listed = {u['name']: u for u in d.info()}
            lost = [n for n in acknowledged if n not in listed]
            check(not lost, f'kill {i} lost acknowledged creates: {lost}')
            # every stored image belongs to a unikernel that is listed, and back
            digests = {u['digest'] for u in listed.values()}
            stored = set(os.listdir(os.path.join(d.dbdir, 'images')))
            check(stored <= digests, 'an image without a unikernel was kept')
            check(digests <= stored, f'a unikernel without its image: {digests - stored}')
        check(had_state and acknowledged, 'no create ever completed')
        print(f'# {len(acknowledged)} creates acknowledged; of 20 kills, '
              f'{interrupted["state write"]} cut a state write short, '
              f'{interrupted["upload"]} an upload', flush=True)
    finally:
        d.cleanup()


@tap.case
def test_corrupt_state_refused(_):
    """a corrupt state file stops albatrossd with a clear message and is left untouched"""
    d = Daemon(PATHS)
    try:
        os.makedirs(d.dbdir)
        state = os.path.join(d.dbdir, 'state')
        with open(state, 'wb') as f:
            f.write(b'\xa1\x61garbage')
        d.start(expect_ready=False)
        rc = d.proc.wait(WAIT)
        d.proc = None
        check(rc == 3, f'exit {rc}')
        check("state file" in d.log_text() and state in d.log_text(), d.log_text())
        with open(state, 'rb') as f:
            check(f.read() == b'\xa1\x61garbage', 'the state file was changed')
    finally:
        d.cleanup()


@tap.case
def test_policy_refusals(_):
    """refusals name the limit: memory, count, cpu, bridge, block size, siblings' sum"""
    d = fresh()
    try:
        img = image(d, nets=['service'])
        plain = image(d, 'plain.spt')
        d.ok('add-policy', 'alice:', '2', '--mem', '64', '--cpu', '0', '--bridge', 'br0',
             '--block', '10')
        d.refused('memory 65 MB', 'create', 'alice:big', plain, '--mem', '65', '--cpu', '0')
        d.refused('cpuid 1', 'create', 'alice:cpu', plain, '--mem', '8', '--cpu', '1')
        d.refused("bridge 'br1'", 'create', 'alice:br', img, '--mem', '8', '--cpu', '0',
                  '--net', 'service:br1')
        d.ok('create', 'alice:one', plain, '--mem', '8', '--cpu', '0', '--arg', '--run')
        d.ok('create', 'alice:two', plain, '--mem', '8', '--cpu', '0', '--arg', '--run')
        d.refused('3 unikernels exceed 2', 'create', 'alice:three', plain, '--mem', '8',
                  '--cpu', '0')
        d.refused('block 11 MB', 'create-block', 'alice:disk', '11')
        d.ok('create-block', 'alice:disk', '10')
        # siblings that each fit their own policy, but not together their parent's
        d.ok('add-policy', 'bob:', '10', '--mem', '100', '--cpu', '0')
        d.ok('add-policy', 'bob:x:', '10', '--mem', '64', '--cpu', '0')
        d.ok('add-policy', 'bob:y:', '10', '--mem', '64', '--cpu', '0')
        d.ok('create', 'bob:x:a', plain, '--mem', '60', '--cpu', '0', '--arg', '--run')
        d.refused("policy of 'bob:'", 'create', 'bob:y:b', plain, '--mem', '60', '--cpu', '0')
        # a child policy bigger than its parent
        d.refused('memory 128 MB exceeds 100 MB', 'add-policy', 'bob:z:', '1', '--mem', '128')
        # nothing of the refused ones is there, and info lists by name
        names = [u['name'] for u in d.info()]
        check(names == ['alice:one', 'alice:two', 'bob:x:a'], names)
        check(len(os.listdir(os.path.join(d.dbdir, 'images'))) == 1, 'images left')
    finally:
        d.cleanup()


def root_allows_services(root, first, last, bridge, prefix):
    """Whether the root policy (its JSON) admits the port range and the prefix."""
    ports = root.get('ports')
    net = ipaddress.ip_network(prefix)
    return (ports is not None and ports['first'] <= first and last <= ports['last']
            and any(p['bridge'] == bridge and net.subnet_of(ipaddress.ip_network(p['prefix']))
                    for p in root.get('prefixes', [])))


@tap.case
def test_policy_services(_):
    """add-policy --ports/--prefix: shown by policy (text and --json), kept across a
    restart; a child outside its parent's ports or prefixes is refused naming the limit"""
    d = fresh()
    try:
        policies = json.loads(d.ok('policy', '--json').stdout)
        root = [p['policy'] for p in policies if p['path'] == ':'][0]
        check('ports' in root and 'prefixes' in root, root)
        # a prefix's bridge must be one of the policy's: refused by the client already
        r = d.cli('add-policy', 'alice:', '1', '--ports', '8000', '--prefix', 'br1=10.0.0.0/24')
        check(r.returncode == 2 and "bridge 'br1' is not one of the policy's bridges"
              in r.stderr, r.stderr)
        args = ('add-policy', 'alice:', '2', '--mem', '64', '--cpu', '0', '--bridge', 'br0',
                '--ports', '8000-8080', '--prefix', 'br0=10.0.0.0/16')
        if not root_allows_services(root, 8000, 8080, 'br0', '10.0.0.0/16'):
            # the host's root policy bounds every domain: refused, naming the limit
            d.refused('does not fit inside the policy of', *args)
            needle = ('ports 8000-8080 exceed' if not root.get('ports') or
                      root['ports']['first'] > 8000 or root['ports']['last'] < 8080
                      else "prefix 10.0.0.0/16 on bridge 'br0' is not allowed")
            d.refused(needle, *args)
            raise Skip(f'the root policy admits no ports 8000-8080 and br0=10.0.0.0/16: {root}')
        d.ok(*args)

        def shown():
            pol = [p['policy'] for p in json.loads(d.ok('policy', 'alice:', '--json').stdout)
                   if p['path'] == 'alice:'][0]
            check(pol['ports'] == {'first': 8000, 'last': 8080}, pol)
            check(pol['prefixes'] == [{'bridge': 'br0', 'prefix': '10.0.0.0/16'}], pol)
            text = d.ok('policy', 'alice:').stdout
            check('PORTS' in text and 'PREFIXES' in text, text)
            check('8000-8080' in text and 'br0=10.0.0.0/16' in text, text)
        shown()
        # children: inside is fine, outside refused with the limit named
        d.ok('add-policy', 'alice:web:', '1', '--mem', '8', '--cpu', '0', '--bridge', 'br0',
             '--ports', '8080', '--prefix', 'br0=10.0.3.0/24')
        d.ok('add-policy', 'alice:plain:', '1', '--mem', '8', '--cpu', '0')
        d.refused('ports 80-80 exceed 8000-8080', 'add-policy', 'alice:x:', '1', '--ports',
                  '80')
        d.refused("prefix 10.1.0.0/24 on bridge 'br0' is not allowed", 'add-policy',
                  'alice:y:', '1', '--bridge', 'br0', '--prefix', 'br0=10.1.0.0/24')
        # a parent narrowed below its child is refused too
        d.refused('ports 8080-8080 exceed 8000-8010', *args[:-4], '--ports', '8000-8010',
                  '--prefix', 'br0=10.0.0.0/16')
        # the state file keeps them
        check(d.stop() == 0, 'albatrossd did not exit 0')
        d.start()
        shown()
        pol = [p['policy'] for p in json.loads(d.ok('policy', 'alice:web:', '--json').stdout)
               if p['path'] == 'alice:web:'][0]
        check(pol['ports'] == {'first': 8080, 'last': 8080}, pol)
        plain = [p['policy'] for p in json.loads(d.ok('policy', 'alice:plain:', '--json').stdout)
                 if p['path'] == 'alice:plain:'][0]
        check(plain['ports'] is None and plain['prefixes'] == [], plain)
    finally:
        d.cleanup()


@tap.case
def test_manifest_mismatch(_):
    """a manifest mismatch is refused before any resource is created"""
    d = fresh()
    try:
        img = image(d, nets=['service'])
        before = fds(d.proc.pid, sockets=False)
        d.refused("declares the network device 'service'", 'create', 'mm', img)
        d.refused("declares the network device 'service'", 'create', 'mm', img, '--net',
                  'other:br0')
        plain = image(d, 'plain.spt')
        d.refused('does not declare it', 'create', 'mm', plain, '--net', 'service:br0')
        check(taps() == [], taps())
        check(fds(d.proc.pid, sockets=False) == before,
              f'fds left: {fds(d.proc.pid, sockets=False) - before}')
        check(os.listdir(os.path.join(d.dbdir, 'images')) == [], 'image or upload left')
        check(gone(d, 'mm'))
    finally:
        d.cleanup()


@tap.case
def test_bad_input_keeps_serving(_):
    """garbage, an oversized frame, an unknown command, a bad name: an error, and it serves on"""
    d = fresh()
    try:
        def failure_text(reply):
            check(len(reply) > 4, f'no reply: {reply!r}')
            return reply[4:]
        r = raw_exchange(d.socket, frame(b'\xff\x00garbage'))
        check(b'failure' in failure_text(r), r)
        r = raw_exchange(d.socket, struct.pack('>I', 0x7fffffff) + b'x')
        check(b'failure' in failure_text(r) and b'bound' in r or b'larger' in r or b'max' in r,
              r)
        msg = {'version': 1, 'seq': 1, 'name': ':', 'command': {'op': 'bogus'}}
        r = raw_exchange(d.socket, frame(cbor(msg)))
        check(b'bogus' in failure_text(r), r)
        msg = {'version': 1, 'seq': 1, 'name': 'a::b', 'command': {'op': 'unikernel-info'}}
        r = raw_exchange(d.socket, frame(cbor(msg)))
        check(b'name' in failure_text(r), r)
        msg = {'version': 2, 'seq': 1, 'name': ':', 'command': {'op': 'unikernel-info'}}
        r = raw_exchange(d.socket, frame(cbor(msg)))
        check(b'version' in failure_text(r), r)
        r = d.cli('info', 'Bad_Name')
        check(r.returncode == 2, r)
        check(d.proc.poll() is None, 'albatrossd died')
        check(d.info() == [], 'not serving')
    finally:
        d.cleanup()


@tap.case
def test_upload_chunks_carry_their_command(_):
    """a data chunk of another sequence number or name in an upload: refused, saying why,
    nothing stored, and albatrossd serves on"""
    d = fresh()
    try:
        d.ok('create-block', 'disk', '1')
        d.ok('create-block', 'other', '1')
        for seq, name in ((8, 'disk'), (7, 'other')):
            cmd = {'version': 1, 'seq': 7, 'name': 'disk',
                   'command': {'op': 'block-set', 'data-size': 4, 'compressed': False}}
            chunk = {'version': 1, 'seq': seq, 'name': name,
                     'data': {'kind': 'chunk', 'chunk': b'abcd'}}
            r = raw_exchange(d.socket, frame(cbor(cmd)) + frame(cbor(chunk)) +
                             struct.pack('>I', 0))
            check(b'failure' in r and b"carries its command's" in r, r)
        for n in ('disk', 'other'):
            out = os.path.join(d.dir, n)
            d.ok('dump-block', n, out)
            with open(out, 'rb') as f:
                check(f.read(4) == b'\0' * 4, f'{n} was written')
        check(d.proc.poll() is None and d.info() == [], 'albatrossd does not serve')
    finally:
        d.cleanup()


@tap.case
def test_blocks(_):
    """blocks: create, set, dump identical, refused while in use, size limits"""
    d = fresh()
    try:
        data = os.path.join(d.dir, 'data')
        with open(data, 'wb') as f:
            f.write(os.urandom(512 * 1024) + b'end')
        d.ok('create-block', 'disk', '1')
        d.ok('set-block', 'disk', data)
        out = os.path.join(d.dir, 'out')
        d.ok('dump-block', 'disk', out)
        with open(out, 'rb') as a, open(data, 'rb') as b:
            got, want = a.read(), b.read()
        check(got[:len(want)] == want and len(got) == 1 << 20, 'dump differs')
        check(got[len(want):] == b'\0' * ((1 << 20) - len(want)), 'tail not zero')
        big = os.path.join(d.dir, 'big')
        with open(big, 'wb') as f:
            f.write(b'x' * ((1 << 20) + 1))
        d.refused('larger than the block device', 'set-block', 'disk', big)
        img = image(d, blocks=['storage'])
        d.ok('create', 'db', img, '--block', 'storage:disk', '--arg', '--run')
        u = d.one('db')
        check(u['block_files'] == [os.path.join(d.dbdir, 'block', 'disk')], u)
        d.refused("used by 'db'", 'destroy-block', 'disk')
        d.refused("used by 'db'", 'set-block', 'disk', data)
        d.ok('destroy', 'db')
        d.ok('destroy-block', 'disk')
        check(not os.path.exists(os.path.join(d.dbdir, 'block', 'disk')), 'block file left')
        d.ok('create-block', 'seeded', '1', '--data', data)
        d.ok('dump-block', 'seeded', out)
        with open(out, 'rb') as a:
            check(a.read()[:len(want)] == want, 'seeded data differs')
    finally:
        d.cleanup()


# ---- compressed uploads: bombs, bounds, what is left behind ----

MIB = 1 << 20
ZEROS = bytes(MIB)


def zlib_bomb(head, mib):
    """A zlib stream of head, then mib MiB of zeros (about 1 KB per MiB), made without
    compressing them: after a full flush, every MiB of zeros compresses to the same bytes."""
    c = zlib.compressobj(9)
    first = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    one = c.compress(ZEROS) + c.flush(zlib.Z_FULL_FLUSH)
    adler = zlib.adler32(head)
    for _ in range(mib):
        adler = zlib.adler32(ZEROS, adler)
    # a final empty block (fixed Huffman, end of block), then the checksum
    return first + one * mib + b'\x03\x00' + struct.pack('>I', adler)


def create_command(name, size, memory, compressed=True, seq=1):
    config = {'tender': 'spt', 'memory': memory, 'cpuids': [0], 'fail-behaviour': 'quit',
              'exit-codes': [], 'startup': 50, 'image-size': size, 'compressed': compressed,
              'blocks': [], 'nets': [], 'arguments': ['--run']}
    return {'version': 1, 'seq': seq, 'name': name,
            'command': {'op': 'unikernel-create', 'config': config}}


class Raw:
    """A connection to albatrossd that speaks the protocol itself, as a client that
    crafts its upload would."""

    def __init__(self, d):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(2 * WAIT)
        self.s.connect(d.socket)

    def send(self, msg):
        self.s.sendall(frame(cbor(msg)))

    def upload(self, cmd, data, end=True):
        """The command, its data in chunks of 1 MiB, the end frame."""
        self.send(cmd)
        for i in range(0, len(data), MIB):
            self.send({'version': 1, 'seq': cmd['seq'], 'name': cmd['name'],
                       'data': {'kind': 'chunk', 'chunk': data[i:i + MIB]}})
        if end:
            self.s.sendall(struct.pack('>I', 0))

    def reply(self):
        """The payload of the next frame."""
        def exactly(n):
            b = b''
            while len(b) < n:
                got = self.s.recv(n - len(b))
                check(got, f'albatrossd closed the connection after {b!r}')
                b += got
            return b
        return exactly(struct.unpack('>I', exactly(4))[0])

    def info(self, seq):
        self.send({'version': 1, 'seq': seq, 'name': ':', 'command': {'op': 'unikernel-info'}})
        r = self.reply()
        check(b'success' in r, r)

    def close(self):
        self.s.close()


def refused_upload(d, cmd, data, needle):
    """Uploads on a connection of its own: refused with needle in the reason, and the
    connection still serves."""
    c = Raw(d)
    try:
        c.upload(cmd, data)
        r = c.reply()
        check(b'failure' in r and needle.encode() in r, f'expected "{needle}" in {r!r}')
        c.info(cmd['seq'] + 1)
    finally:
        c.close()
    return r


def left_over(d):
    """Temporary files of uploads, in the image store and the block directory."""
    out = []
    for sub in ('images', 'block'):
        try:
            out += [f'{sub}/{n}' for n in os.listdir(os.path.join(d.dbdir, sub))
                    if n.startswith('.')]
        except FileNotFoundError:
            pass
    return out


def root_memory(d):
    return [p['policy']['memory'] for p in json.loads(d.ok('policy', '--json').stdout)
            if p['path'] == ':'][0]


@tap.case
def test_zlib_bombs_refused_early(_):
    """a zlib bomb is refused on its first bytes when they are not an ELF header, and at
    the unikernel's memory when they are; an image larger than its memory is refused
    before its data; nothing is left behind, and the connection serves on"""
    d = fresh()
    try:
        before = fds(d.proc.pid, sockets=False)
        # 1 GiB of zeros (1 MB compressed): not an ELF file, refused on the first bytes,
        # before the memory bound (32 MB) would stop it
        bomb = zlib_bomb(b'', 1024)
        check(len(bomb) < 2 * MIB, len(bomb))
        refused_upload(d, create_command('bomb', len(bomb), 32), bomb,
                       'the image is not an ELF file')
        # an ELF header, then zeros: a valid image inflated to 1 GiB; the memory bounds it
        with open(image(d), 'rb') as f:
            head = f.read()
        bomb = zlib_bomb(head, 1024)
        refused_upload(d, create_command('bomb', len(bomb), 32), bomb,
                       "the image inflates past 32 MB, the unikernel's memory")
        # the same image, a little larger than its memory: refused as it goes, too
        bomb = zlib_bomb(head, 33)
        refused_upload(d, create_command('bomb', len(bomb), 32), bomb,
                       "the image inflates past 32 MB, the unikernel's memory")
        # and just within it: it runs
        fits = zlib_bomb(head, 31)
        c = Raw(d)
        c.upload(create_command('fits', len(fits), 32), fits)
        r = c.reply()
        check(b'success' in r and b'created' in r, r)
        c.close()
        check(d.one('fits')['state'] == 'running')
        d.ok('destroy', 'fits')
        # uncompressed and larger than the memory: refused before its data comes
        plain = head + bytes(2 * MIB)
        refused_upload(d, create_command('big', len(plain), 1, compressed=False), plain,
                       "the image is larger than 1 MB, the unikernel's memory")
        # a compressed file that is no image at all, shorter than an ELF header
        junk = zlib.compress(b'#!/bin/sh\necho hello\n')
        refused_upload(d, create_command('junk', len(junk), 32), junk,
                       'the image is not an ELF file')
        # an ELF header of another machine
        other = bytearray(head[:64])
        other[18] = 40  # EM_ARM
        other = zlib.compress(bytes(other) + bytes(MIB))
        refused_upload(d, create_command('arm', len(other), 32), other, 'ELF machine 40')
        # corrupt compressed data
        bad = bytearray(zlib.compress(head))
        bad[len(bad) // 2] ^= 0xff
        refused_upload(d, create_command('bad', len(bad), 32), bytes(bad),
                       'the compressed image is')
        check(left_over(d) == [], f'left behind: {left_over(d)}')
        check(os.listdir(os.path.join(d.dbdir, 'images')) == [], 'an image was kept')
        check(fds(d.proc.pid, sockets=False) == before,
              f'fds left: {fds(d.proc.pid, sockets=False) - before}')
        check(d.info() == [], 'not serving')
    finally:
        d.cleanup()


@tap.case
def test_zlib_bomb_off_the_loop(_):
    """while a bomb with a valid start is inflated (up to the unikernel's memory), other
    clients are served: their infos are answered before the bomb's refusal comes"""
    d = fresh()
    try:
        with open(image(d), 'rb') as f:
            head = f.read()
        # A bound that takes the thread a while, however fast the machine: 1 GiB (less on
        # a host with less memory, whose root policy would refuse the create).
        mem = min(1024, root_memory(d) - 1)
        bomb = zlib_bomb(head, mem + 64)
        c = Raw(d)
        replied = threading.Event()
        got = []

        def bomb_client():
            try:
                c.upload(create_command('bomb', len(bomb), mem), bomb)
                got.append(c.reply())
            finally:
                replied.set()
        t = threading.Thread(target=bomb_client, daemon=True)
        t.start()
        images = os.path.join(d.dbdir, 'images')

        def inflated():
            n = 0
            for name in os.listdir(images):
                try:
                    n += os.stat(os.path.join(images, name)).st_size
                except FileNotFoundError:
                    pass
            return n
        # The thread has begun: part of the image is written.
        wait_for(lambda: inflated() >= MIB or replied.is_set(), WAIT, 'the inflation to begin')
        check(not replied.is_set(), f'the bomb was answered at once: {got}')
        # Other clients are served meanwhile (albatrossd blocked in the inflation would
        # answer them only after the bomb).
        other = Raw(d)
        for seq in range(1, 6):
            other.info(seq)
        other.close()
        served_during = not replied.is_set()
        replied.wait(2 * WAIT)
        t.join(WAIT)
        check(served_during, 'the infos were answered only after the bomb')
        check(got and b'failure' in got[0] and
              f"the image inflates past {mem} MB, the unikernel's memory".encode() in got[0],
              got)
        c.close()
        check(left_over(d) == [], f'left behind: {left_over(d)}')
        check(os.listdir(images) == [], 'an image was kept')
    finally:
        d.cleanup()


@tap.case
def test_compressed_blocks_bounded(_):
    """compressed block data larger than the device is refused (a bomb too, as it
    inflates), leaves no device or file behind; a block device being written is not
    used, set, dumped or removed meanwhile"""
    d = fresh()
    try:
        d.ok('create-block', 'disk', '1')
        # a bomb: 1 GiB of zeros for a device of 1 MB
        bomb = zlib_bomb(b'', 1024)
        cmd = {'version': 1, 'seq': 1, 'name': 'disk',
               'command': {'op': 'block-set', 'data-size': len(bomb), 'compressed': True}}
        refused_upload(d, cmd, bomb, 'larger than the block device (1 MB)')
        cmd = {'version': 1, 'seq': 1, 'name': 'new',
               'command': {'op': 'block-add', 'size': 1, 'data-size': len(bomb),
                           'compressed': True}}
        refused_upload(d, cmd, bomb, 'larger than the block device (1 MB)')
        check(d.cli('block', 'new', '--json').returncode == 1, 'the new device was kept')
        check(not os.path.exists(os.path.join(d.dbdir, 'block', 'new')), 'its file was kept')
        # through the client: compressed data that inflates past the device
        big = os.path.join(d.dir, 'big')
        with open(big, 'wb') as f:
            f.write(b'x' * (MIB + 1))
        d.refused('larger than the block device', 'set-block', 'disk', big, '--compress')
        # compressed data that fits: written, and dumped back
        data = os.path.join(d.dir, 'data')
        with open(data, 'wb') as f:
            f.write(os.urandom(1000) + bytes(300000) + b'end')
        d.ok('set-block', 'disk', data, '--compress')
        d.ok('create-block', 'seeded', '1', '--data', data, '--compress')
        for n in ('disk', 'seeded'):
            out = os.path.join(d.dir, n + '.out')
            d.ok('dump-block', n, out)
            with open(out, 'rb') as a, open(data, 'rb') as b:
                want = b.read()
                check(a.read()[:len(want)] == want, f'{n}: the data differs')
        # a set under way (its end not sent yet) keeps the device to itself
        c = Raw(d)
        part = zlib.compress(b'y' * 1000)
        cmd = {'version': 1, 'seq': 1, 'name': 'disk',
               'command': {'op': 'block-set', 'data-size': len(part) + 1, 'compressed': True}}
        c.upload(cmd, part, end=False)
        img = image(d, blocks=['storage'])
        # another connection may be served before that command: wait for the mark (with
        # a command that changes nothing when it is not there yet)
        wait_for(lambda: 'being written' in d.cli('dump-block', 'disk',
                                                  os.path.join(d.dir, 'x')).stderr,
                 WAIT, 'the device to be marked')
        d.refused('being written', 'destroy-block', 'disk')
        d.refused('being written', 'set-block', 'disk', data)
        d.refused('being written', 'create', 'db', img, '--block', 'storage:disk')
        c.close()  # the upload goes, and the mark with it
        wait_for(lambda: d.cli('dump-block', 'disk', os.path.join(d.dir, 'x')).returncode == 0,
                 WAIT, 'the mark to go')
        d.ok('create', 'db', img, '--block', 'storage:disk', '--arg', '--run')
        d.ok('destroy', 'db')
        check(left_over(d) == [], f'left behind: {left_over(d)}')
    finally:
        d.cleanup()


@tap.case
def test_block_set_cut_short(_):
    """a block-set whose client leaves half-way, or sends less than it announced, leaves
    the device as it was (its data goes into a copy that replaces it only when complete)"""
    d = fresh()
    try:
        data = os.path.join(d.dir, 'data')
        with open(data, 'wb') as f:
            f.write(b'A' * (2 * MIB))
        d.ok('create-block', 'disk', '2', '--data', data)
        cmd = {'version': 1, 'seq': 1, 'name': 'disk',
               'command': {'op': 'block-set', 'data-size': 2 * MIB, 'compressed': False}}
        c = Raw(d)
        c.upload(cmd, b'B' * MIB, end=False)  # half, then gone
        wait_for(lambda: left_over(d), WAIT, 'the upload to begin')
        c.close()
        # the device is "being written" until albatrossd has seen the client go
        wait_for(lambda: not left_over(d), WAIT, 'the first copy to go')
        c = Raw(d)
        c.upload(cmd, b'B' * MIB)  # half, then the end frame
        r = c.reply()
        check(b'failure' in r and b'announced' in r, r)
        c.close()
        wait_for(lambda: not left_over(d), WAIT, 'the copies to go')
        out = os.path.join(d.dir, 'out')
        d.ok('dump-block', 'disk', out)
        with open(out, 'rb') as f:
            check(f.read() == b'A' * (2 * MIB), 'the device was written')
        # a whole one replaces it
        with open(data, 'wb') as f:
            f.write(b'C' * MIB)
        d.ok('set-block', 'disk', data)
        d.ok('dump-block', 'disk', out)
        with open(out, 'rb') as f:
            check(f.read() == b'C' * MIB + b'A' * MIB, 'set-block')
    finally:
        d.cleanup()


@tap.case
def test_compressed_downloads(_):
    """get and dump-block --compress (compressed by a thread, off the loop) give back the
    data as it was; a client that leaves while its download is being compressed leaves
    albatrossd serving, with no thread or file behind"""
    d = fresh()
    try:
        data = os.path.join(d.dir, 'data')
        with open(data, 'wb') as f:
            f.write(os.urandom(3 * MIB) + b'\0' * (5 * MIB))
        d.ok('create-block', 'disk', '8', '--data', data)
        out = os.path.join(d.dir, 'out')
        d.ok('dump-block', 'disk', out, '--compress')
        with open(data, 'rb') as a, open(out, 'rb') as b:
            check(a.read() == b.read(), 'the compressed dump differs')
        img = image(d)
        d.ok('create', 'z', img, '--arg', '--run')
        got = os.path.join(d.dir, 'got')
        d.ok('get', 'z', got, '--compress')
        with open(img, 'rb') as a, open(got, 'rb') as b:
            check(a.read() == b.read(), 'the compressed image differs')
        threads = len(os.listdir(f'/proc/{d.proc.pid}/task'))
        for seq in range(5):  # gone at once: the compression is stopped, nothing kept
            c = Raw(d)
            c.send({'version': 1, 'seq': seq + 1, 'name': 'disk',
                    'command': {'op': 'block-dump', 'compress': True}})
            c.close()
        c = Raw(d)
        c.info(9)
        c.close()
        wait_for(lambda: len(os.listdir(f'/proc/{d.proc.pid}/task')) == threads, WAIT,
                 'the compressing threads to end')
        check(d.proc.poll() is None and d.one('z')['state'] == 'running', 'albatrossd')
    finally:
        d.cleanup()


@tap.case
def test_compressed_image_and_cut_uploads(_):
    """an honest compressed image runs and is got back as it was; an upload cut short
    (the client leaves, or sends less than it announced) leaves nothing behind"""
    d = fresh()
    try:
        img = image(d)
        d.ok('create', 'z', img, '--compress', '--arg', '--run')
        check(d.one('z')['state'] == 'running')
        out = os.path.join(d.dir, 'got')
        d.ok('get', 'z', out)
        with open(img, 'rb') as a, open(out, 'rb') as b:
            check(a.read() == b.read(), 'image differs')
        d.ok('destroy', 'z')
        with open(img, 'rb') as f:
            head = f.read()
        data = zlib_bomb(head, 8)
        # fewer bytes than announced
        c = Raw(d)
        cmd = create_command('short', len(data) + 10, 32)
        c.upload(cmd, data)
        r = c.reply()
        check(b'failure' in r and b'announced' in r, r)
        c.info(2)
        c.close()
        # a client that leaves in the middle
        c = Raw(d)
        c.upload(create_command('gone', len(data), 32), data[:len(data) // 2], end=False)
        wait_for(lambda: left_over(d), WAIT, 'the upload to begin')
        c.close()
        wait_for(lambda: left_over(d) == [], WAIT, 'what the upload wrote to go')
        check(os.listdir(os.path.join(d.dbdir, 'images')) == [], 'an image was kept')
        check(d.info() == [], 'not serving')
    finally:
        d.cleanup()


@tap.case
def test_get_image(_):
    """get returns the image byte for byte"""
    d = fresh()
    try:
        img = image(d)
        d.ok('create', 'g', img, '--arg', '--run')
        out = os.path.join(d.dir, 'got')
        d.ok('get', 'g', out)
        with open(img, 'rb') as a, open(out, 'rb') as b:
            check(a.read() == b.read(), 'image differs')
        d.ok('destroy', 'g')
    finally:
        d.cleanup()


@tap.case
def test_tender_user(_):
    """--tender-user runs tenders as that user, with their block files handed over"""
    d = fresh(FAST + ['--tender-user', 'nobody'])
    try:
        img = image(d, blocks=['storage'])
        d.ok('create-block', 'disk', '1')
        d.ok('create', 'unpriv', img, '--block', 'storage:disk', '--arg', '--run')
        u = d.one('unpriv')
        check(u['state'] == 'running', u)
        st = proc_status(u['pid'])
        check(st['Uid'].split()[0] == '65534' and st['Gid'].split()[0] == '65534', st['Uid'])
        check(os.stat(u['block_files'][0]).st_uid == 65534, 'block file not handed over')
        # it opens the block file after reading its image: both worked as nobody
        block = os.path.realpath(u['block_files'][0])
        wait_for(lambda: not alive(u['pid']) or block in fds(u['pid']), WAIT,
                 'the tender to open its block file')
        check(alive(u['pid']), 'the tender could not open its image or block as nobody')
        d.ok('destroy', 'unpriv')
    finally:
        d.cleanup()


@tap.case
def test_tenders(_):
    """tenders lists the tender binaries found and their ABI"""
    d = fresh()
    try:
        v = json.loads(d.ok('tenders', '--json').stdout)
        found = {(t['name'], t['target'], t['abi']) for t in v
                 if t['path'].startswith(PATHS['tender_dir'])}
        check({('solo5-hvt', 'hvt', 2), ('solo5-spt', 'spt', 2)} <= found, v)
        paths = [os.path.realpath(t['path']) for t in v]
        check(len(paths) == len(set(paths)), f'a tender listed twice: {paths}')
        # whether each can run here, and why not: hvt needs a usable /dev/kvm
        kvm = os.access('/dev/kvm', os.R_OK | os.W_OK)
        for t in v:
            if t['target'] == 'spt':
                check(t['usable'] and t['unusable'] is None, t)
            else:
                check(t['usable'] == kvm, t)
                check(kvm or ('/dev/kvm' in t['unusable'] and
                              'build the unikernel for spt' in t['unusable']), t)
        out = d.ok('tenders').stdout
        check('USABLE' in out.splitlines()[0], out)
        if not kvm:
            check('solo5-hvt cannot run on this host' in out, out)
            # an hvt image is refused before anything is made, saying what to do
            img = mkimage(PATHS, os.path.join(d.dir, 'img.hvt'), target='hvt')
            d.refused('build the unikernel for spt', 'create', 'h', img)
            check(os.listdir(os.path.join(d.dbdir, 'images')) == [], 'image left')
            check(gone(d, 'h'))
    finally:
        d.cleanup()


@tap.case
def test_block_sector_size(_):
    """the tender gets the block device's sector size; another one asked for is refused"""
    d = fresh()
    try:
        img = image(d, blocks=['storage'])
        d.ok('create-block', 'big', '1', '--sector-size', '4096')
        d.refused('has sectors of 4096 bytes, not 512', 'create', 'b', img, '--block',
                  'storage:big@512')
        d.ok('create', 'b', img, '--block', 'storage:big', '--arg', '--run')
        pid = d.one('b')['pid']
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            argv = f.read().split(b'\0')
        check(b'--block-sector-size:storage=4096' in argv, argv)
        d.ok('destroy', 'b')
        d.ok('create', 'b', img, '--block', 'storage:big@4096', '--arg', '--exit=0')
    finally:
        d.cleanup()


@tap.case
def test_tender_user_tun(_):
    """with --tender-user, a network device needs /dev/net/tun usable by that user"""
    d = fresh(FAST + ['--tender-user', 'nobody'])
    try:
        img = image(d, nets=['service'])
        st = os.stat('/dev/net/tun')
        usable = st.st_mode & 0o006 == 0o006 or (st.st_uid == 65534 and st.st_mode & 0o600 ==
                                                 0o600)
        if usable:
            d.ok('create', 'n', img, '--net', 'service:br0', '--arg', '--run')
            check(d.one('n')['state'] == 'running')
            d.ok('destroy', 'n')
        else:
            d.refused('cannot attach network devices', 'create', 'n', img, '--net',
                      'service:br0')
            check(taps() == [], taps())
            check(os.listdir(os.path.join(d.dbdir, 'images')) == [], 'image left')
    finally:
        d.cleanup()


@tap.case
def test_tender_abi_mismatch(_):
    """a tender reporting another ABI version is not used: the create is refused"""
    d = Daemon(PATHS, extra=FAST, env={'ALB_TEST_TENDER_ABI': '3'})
    try:
        d.start()
        img = image(d)
        d.refused('ABI version 2', 'create', 'abi', img)
        check(os.listdir(os.path.join(d.dbdir, 'images')) == [], 'image left')
    finally:
        d.cleanup()


@tap.case
def test_force_create(_):
    """create --force replaces a running unikernel and its image"""
    d = fresh()
    try:
        a = image(d, 'a.spt')
        b = image(d, 'b.spt', nets=['service'])
        d.ok('create', 'f', a, '--arg', '--run')
        old = d.one('f')
        d.refused('exists', 'create', 'f', b, '--net', 'service:br0', '--arg', '--run')
        d.ok('create', 'f', b, '--net', 'service:br0', '--arg', '--run', '--force')
        new = d.one('f')
        check(new['pid'] != old['pid'] and not alive(old['pid']), 'not replaced')
        check(new['digest'] != old['digest'] and len(new['taps']) == 1, new)
        check(os.listdir(os.path.join(d.dbdir, 'images')) == [new['digest']], 'old image kept')
        d.ok('destroy', 'f')
    finally:
        d.cleanup()


def cpu_seconds(pid):
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def runnable_seconds(pid):
    """The time the threads of pid ran or waited to run (schedstat), or None: a busy
    loop is runnable all the time however busy the machine, an idle daemon not at
    all."""
    total = 0
    try:
        for tid in os.listdir(f'/proc/{pid}/task'):
            with open(f'/proc/{pid}/task/{tid}/schedstat') as f:
                on_cpu, waiting = f.read().split()[:2]
            total += int(on_cpu) + int(waiting)
    except (OSError, ValueError):
        return None
    return total / 1e9


@tap.case
def test_sigterm_during_destroy_and_restart(_):
    """SIGTERM while a destroy or a restart waits for its tender: albatrossd still stops"""
    for command in (['destroy', 'x'], ['restart', 'x']):
        d = fresh(PATIENT)
        try:
            img = image(d)
            d.ok('create', 'x', img, '--arg', '--run')
            pid = d.one('x')['pid']
            os.kill(pid, signal.SIGSTOP)  # it cannot act on SIGTERM yet
            waiting = subprocess.Popen([PATHS['client'], '--socket', d.socket] + command,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # the destroy or restart waits for the tender: albatrossd sent it SIGTERM
            wait_for(lambda: sigterm_pending(pid), WAIT, f'{command[0]} to stop the tender')
            d.proc.send_signal(signal.SIGTERM)
            wait_for(lambda: 'stopping on signal' in d.log_text()[d.log_start:], WAIT,
                     'albatrossd to begin stopping')
            os.kill(pid, signal.SIGCONT)
            rc = d.proc.wait(WAIT)
            check(rc == 0, f'{command[0]}: albatrossd exited {rc}')
            waiting.wait(WAIT)
            check('Started' not in d.log_text().split('stopping on signal')[-1],
                  f'{command[0]}: a tender was started while stopping')
            d.proc = None
            d.logf.close()
        finally:
            d.cleanup()


@tap.case
def test_pending_force_create_keeps_its_image(_):
    """a refused create does not delete the image a pending force-create waits for"""
    d = fresh(PATIENT)
    try:
        a = image(d, 'a.spt')
        b = image(d, 'b.spt', blocks=['storage'])
        d.ok('create-block', 'disk', '1')
        d.ok('create', 'x', a, '--arg', '--run')
        pid = d.one('x')['pid']
        os.kill(pid, signal.SIGSTOP)
        force = subprocess.Popen([PATHS['client'], '--socket', d.socket, 'create', 'x', b,
                                  '--block', 'storage:disk', '--arg', '--run', '--force'],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # pending: its image is stored and it waits for the old tender to stop
        wait_for(lambda: sigterm_pending(pid), WAIT, 'the force-create to stop the old x')
        # the same image, refused after its upload (no block device 'nosuch')
        d.refused("no block device 'nosuch'", 'create', 'y', b, '--block', 'storage:nosuch')
        os.kill(pid, signal.SIGCONT)
        check(force.wait(WAIT) == 0, f'force-create failed: {force.stderr.read()}')
        u = d.one('x')
        check(u['state'] == 'running', f'x is {u["state"]}: its image was deleted')
        d.ok('destroy', 'x')
    finally:
        d.cleanup()


@tap.case
def test_client_gone_while_waiting(_):
    """a client that leaves while its destroy waits costs no CPU (no busy loop)"""
    d = fresh(PATIENT)
    try:
        img = image(d)
        d.ok('create', 'x', img, '--arg', '--run')
        pid = d.one('x')['pid']
        os.kill(pid, signal.SIGSTOP)
        waiting = subprocess.Popen([PATHS['client'], '--socket', d.socket, 'destroy', 'x'],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: sigterm_pending(pid), WAIT, 'the destroy to stop the tender')
        waiting.kill()
        waiting.wait()
        # The destroy waits (the stop timeout is long), its client is gone. Over a
        # window, a busy loop would be runnable all the time, however busy the machine
        # is: measured in what albatrossd ran or waited to run, not in wall time.
        pid_d = d.proc.pid
        r0, c0, t0 = runnable_seconds(pid_d), cpu_seconds(pid_d), time.monotonic()
        time.sleep(3)  # the window of the measurement, not a wait for anything
        r1, c1, t1 = runnable_seconds(pid_d), cpu_seconds(pid_d), time.monotonic()
        if r0 is not None and r1 is not None:
            share = (r1 - r0) / (t1 - t0)
            check(share < 0.3, f'albatrossd was runnable {share:.0%} of {t1 - t0:.1f} s '
                  f'while waiting ({c1 - c0:.2f} s of CPU): a busy loop')
        else:  # no schedstat: CPU time, which a busy machine can only lower
            check(c1 - c0 < 0.3, f'albatrossd used {c1 - c0:.2f} s of CPU in '
                  f'{t1 - t0:.1f} s while waiting')
        os.kill(pid, signal.SIGCONT)
        wait_for(lambda: gone(d, 'x'), WAIT, 'the destroy to finish')
        check(d.info() == [], 'not serving')
    finally:
        d.cleanup()


# A change whose state cannot be written: test-journal.py, test_commit_failure (the
# journal append that fails is undone as before: tests/unit/test-journal.c).


class ActivatedDaemon(Daemon):
    """albatrossd given its listening socket as systemd does (LISTEN_FDS, fd 3)."""

    def start(self, expect_ready=True):
        os.makedirs(self.rundir, exist_ok=True)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.socket)
        self.listener.listen(16)
        return super().start(expect_ready)

    def popen_extra(self):
        fd = self.listener.fileno()
        self.env.update(LISTEN_FDS='1')
        return {'pass_fds': (fd,), 'preexec_fn': lambda: os.dup2(fd, 3)}

    def wrap(self, args):
        # LISTEN_PID is the daemon's own pid: the shell's, which exec keeps.
        return ['sh', '-c', 'LISTEN_PID=$$ exec "$@"', 'sh'] + args


@tap.case
def test_socket_activation(_):
    """albatrossd serves a socket passed by systemd (LISTEN_FDS)"""
    d = ActivatedDaemon(PATHS, extra=FAST)
    try:
        d.start()
        inode = os.stat(d.socket).st_ino
        d.listener.close()
        check(d.info() == [], 'not serving the passed socket')
        check(os.stat(d.socket).st_ino == inode, 'albatrossd made its own socket')
        img = image(d)
        d.ok('create', 'sa', img, '--arg', '--run')
        check(d.one('sa')['state'] == 'running')
        d.ok('destroy', 'sa')
    finally:
        d.cleanup()


sys.exit(tap.run(None))
