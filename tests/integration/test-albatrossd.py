#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Integration tests of albatrossd with the real albatross-client and the test
tender, as root in a private network namespace (exit 77 otherwise).

usage: test-albatrossd.py ALBATROSSD CLIENT TENDER_DIR MKIMAGE"""
import glob
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Daemon, Skip, Tap, alive, cbor, check, frame, link_exists,  # noqa: E402
                     link_master, mkimage, proc_status, raw_exchange, require_netns, taps,
                     wait_for)

require_netns(sys.argv)
PATHS = dict(zip(('albatrossd', 'client', 'tender_dir', 'mkimage'), sys.argv[1:5]))
tap = Tap()
FAST = ['--restart-backoff', '200', '--crash-loop', '4/30', '--stop-timeout', '2']


def fresh(extra=FAST):
    d = Daemon(PATHS, extra=extra)
    try:
        return d.start()
    except BaseException:
        d.cleanup()
        raise


def image(d, name='img.hvt', nets=(), blocks=()):
    return mkimage(PATHS, os.path.join(d.dir, name), nets, blocks)


def gone(d, name):
    r = d.cli('info', name, '--json')
    return r.returncode == 1


@tap.case
def test_lifecycle(_):
    """create: running, pinned, tap in the bridge, FIFO; destroy leaves nothing"""
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
        fifo = os.path.join(d.rundir, 'fifo', 'hello')
        check(os.path.exists(fifo), 'no FIFO')
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
        check(not os.path.exists(fifo), 'FIFO left')
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
        seen = set()

        def failed():
            u = d.one('crashy')
            seen.add(u['state'])
            return u['state'] == 'failed'
        wait_for(failed, 30, 'a crash loop')
        check('restarting' in seen, f'no back-off seen: {seen}')
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
            wait_for(lambda: gone(d, name), 10, f'{name} ({arg}) to be gone')
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
        wait_for(lambda: d.one('listed')['restarts'] >= 1, 15, 'a restart on code 7')
        d.ok('destroy', 'listed')
        d.ok('create', 'other', img, '--exit-code', '7', '--arg', '--sleep=100', '--arg',
             '--exit=8')
        wait_for(lambda: gone(d, 'other'), 10, 'exit 8 to end it')
    finally:
        d.cleanup()


@tap.case
def test_destroy_during_backoff(_):
    """destroy works while a restart waits for its back-off"""
    d = fresh(['--restart-backoff', '30000'])
    try:
        img = image(d)
        d.ok('create', 'slow', img, '--restart-on-fail', '--arg', '--exit=5')
        wait_for(lambda: d.one('slow')['state'] == 'restarting', 10, 'restarting')
        t0 = time.monotonic()
        d.ok('destroy', 'slow')
        check(time.monotonic() - t0 < 5, 'destroy waited for the back-off')
        check(gone(d, 'slow'))
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
def test_kill9_restore(_):
    """after kill -9 of albatrossd every persisted unikernel comes back, no tap is left"""
    d = fresh()
    try:
        img = image(d, nets=['service'])
        d.ok('create', 'a:one', img, '--net', 'service:br0', '--arg', '--run', '--startup', '20')
        d.ok('create', 'b:two', img, '--net', 'service:br0', '--arg', '--run', '--startup', '10')
        old = {u['name']: u for u in d.info()}
        d.stop(signal.SIGKILL)
        for u in old.values():
            wait_for(lambda: not alive(u['pid']), 5, 'the tenders to follow albatrossd')
        d.start()
        new = wait_for(lambda: [u for u in d.info() if u['state'] == 'running'] if
                       len([u for u in d.info() if u['state'] == 'running']) == 2 else None,
                       10, 'both to run again')
        check({u['name'] for u in new} == {'a:one', 'b:two'}, new)
        used = sorted(t for u in new for t in u['taps'])
        check(taps() == used, f'taps {taps()} but in use {used}')
        # the lower startup priority came first
        log = d.log_text()
        check(log.rfind("Started 'b:two'") < log.rfind("Started 'a:one'"), 'startup order')
        check(os.path.exists(os.path.join(d.dbdir, 'state.started')))
    finally:
        d.cleanup()


@tap.case
def test_sigterm_stops_and_keeps(_):
    """SIGTERM stops every unikernel; the next start brings them back"""
    d = fresh()
    try:
        img = image(d)
        d.ok('create', 'keep', img, '--arg', '--run')
        pid = d.one('keep')['pid']
        check(d.stop() == 0, 'albatrossd did not exit 0')
        check(not alive(pid), 'tender still running')
        check(not os.path.exists(d.socket), 'socket left')
        d.start()
        wait_for(lambda: d.one('keep')['state'] == 'running', 10, 'keep to run again')
    finally:
        d.cleanup()


@tap.case
def test_state_survives_kill_loop(_):
    """killing albatrossd while it writes its state never leaves a bad state file"""
    d = fresh()
    try:
        img = image(d)
        random.seed(7)
        state = os.path.join(d.dbdir, 'state')
        had_state = False
        for i in range(15):
            procs = [subprocess.Popen([PATHS['client'], '--socket', d.socket, 'create',
                                       f'p:u{i}x{k}', img, '--arg', '--run'],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for k in range(3)]
            time.sleep(random.uniform(0.0, 0.05))
            d.stop(signal.SIGKILL)
            for p in procs:
                p.wait()
            # once there is a state file, it never goes missing
            check(os.path.exists(state) or not had_state, f'state file missing after kill {i}')
            had_state = os.path.exists(state)
            d.start()  # fails unless the state file decodes
            check(not glob.glob(os.path.join(d.dbdir, 'state.tmp.*')),
                  'a start left the temporary files of an interrupted write')
            # every stored image belongs to a unikernel that is listed
            digests = {u['digest'] for u in d.info()}
            check(set(os.listdir(os.path.join(d.dbdir, 'images'))) <= digests,
                  'an image without a unikernel was kept')
        check(had_state, 'no create ever completed')
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
        rc = d.proc.wait(10)
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
        plain = image(d, 'plain.hvt')
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


@tap.case
def test_manifest_mismatch(_):
    """a manifest mismatch is refused before any resource is created"""
    d = fresh()
    try:
        img = image(d, nets=['service'])
        d.refused("declares the network device 'service'", 'create', 'mm', img)
        d.refused("declares the network device 'service'", 'create', 'mm', img, '--net',
                  'other:br0')
        plain = image(d, 'plain.hvt')
        d.refused('does not declare it', 'create', 'mm', plain, '--net', 'service:br0')
        check(taps() == [], taps())
        check(os.listdir(os.path.join(d.rundir, 'fifo')) == [], 'FIFO left')
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
        fifo = os.path.join(d.rundir, 'fifo', 'unpriv')
        check(os.stat(fifo).st_uid == 65534, 'FIFO not handed over')
        time.sleep(0.3)
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
        a = image(d, 'a.hvt')
        b = image(d, 'b.hvt', nets=['service'])
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


@tap.case
def test_sigterm_during_destroy_and_restart(_):
    """SIGTERM while a destroy or a restart waits for its tender: albatrossd still stops"""
    for command in (['destroy', 'x'], ['restart', 'x']):
        d = fresh()
        try:
            img = image(d)
            d.ok('create', 'x', img, '--arg', '--run')
            pid = d.one('x')['pid']
            os.kill(pid, signal.SIGSTOP)  # it cannot act on SIGTERM yet
            waiting = subprocess.Popen([PATHS['client'], '--socket', d.socket] + command,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.3)
            d.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            os.kill(pid, signal.SIGCONT)
            rc = d.proc.wait(15)
            check(rc == 0, f'{command[0]}: albatrossd exited {rc}')
            waiting.wait(10)
            check('Started' not in d.log_text().split('stopping on signal')[-1],
                  f'{command[0]}: a tender was started while stopping')
            d.proc = None
            d.logf.close()
        finally:
            d.cleanup()


@tap.case
def test_pending_force_create_keeps_its_image(_):
    """a refused create does not delete the image a pending force-create waits for"""
    d = fresh()
    try:
        a = image(d, 'a.hvt')
        b = image(d, 'b.hvt', blocks=['storage'])
        d.ok('create-block', 'disk', '1')
        d.ok('create', 'x', a, '--arg', '--run')
        pid = d.one('x')['pid']
        os.kill(pid, signal.SIGSTOP)
        force = subprocess.Popen([PATHS['client'], '--socket', d.socket, 'create', 'x', b,
                                  '--block', 'storage:disk', '--arg', '--run', '--force'],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        # the same image, refused after its upload (no block device 'nosuch')
        d.refused("no block device 'nosuch'", 'create', 'y', b, '--block', 'storage:nosuch')
        os.kill(pid, signal.SIGCONT)
        check(force.wait(15) == 0, f'force-create failed: {force.stderr.read()}')
        u = d.one('x')
        check(u['state'] == 'running', f'x is {u["state"]}: its image was deleted')
        d.ok('destroy', 'x')
    finally:
        d.cleanup()


@tap.case
def test_client_gone_while_waiting(_):
    """a client that leaves while its destroy waits costs no CPU (no busy loop)"""
    d = fresh(FAST[:-2] + ['--stop-timeout', '5'])
    try:
        img = image(d)
        d.ok('create', 'x', img, '--arg', '--run')
        pid = d.one('x')['pid']
        os.kill(pid, signal.SIGSTOP)
        waiting = subprocess.Popen([PATHS['client'], '--socket', d.socket, 'destroy', 'x'],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        waiting.kill()
        waiting.wait()
        time.sleep(0.2)
        before = cpu_seconds(d.proc.pid)
        time.sleep(1.5)
        used = cpu_seconds(d.proc.pid) - before
        check(used < 0.3, f'albatrossd used {used:.2f} s of CPU in 1.5 s while waiting')
        os.kill(pid, signal.SIGCONT)
        wait_for(lambda: gone(d, 'x'), 15, 'the destroy to finish')
        check(d.info() == [], 'not serving')
    finally:
        d.cleanup()


@tap.case
def test_state_write_failure_undoes(_):
    """a change whose state cannot be written is refused and undone"""
    d = fresh()
    try:
        d.ok('add-policy', 'a:', '1', '--mem', '8')
        # a directory where the write keeps the previous state: the next write fails
        blocker = os.path.join(d.dbdir, 'state.bak.tmp')
        os.makedirs(os.path.join(blocker, 'x'))
        d.refused('state file could not be written', 'add-policy', 'b:', '1', '--mem', '8')
        d.refused('state file could not be written', 'remove-policy', 'a:')
        d.refused('state file could not be written', 'create-block', 'disk', '1')
        img = image(d)
        d.refused('state file could not be written', 'create', 'u', img, '--arg', '--run')
        paths = {p['path'] for p in json.loads(d.ok('policy', '--json').stdout)}
        check('a:' in paths and 'b:' not in paths, paths)
        wait_for(lambda: d.info() == [], 10, 'the unpersisted unikernel to be stopped')
        check(json.loads(d.ok('block', '--json').stdout) == [], 'block kept')
        check(not os.path.exists(os.path.join(d.dbdir, 'block', 'disk')), 'block file kept')
        os.rmdir(os.path.join(blocker, 'x'))
        os.rmdir(blocker)
        d.ok('add-policy', 'b:', '1', '--mem', '8')
    finally:
        d.cleanup()


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
