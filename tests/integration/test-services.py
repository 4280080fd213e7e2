#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Integration tests of services (docs/services.md): the real albatrossd, albatross-log
and albatross-client, the test tender's network stack, real nftables rules and real
traffic, as root in a private network namespace (exit 77 otherwise).

The namespace is the host: br0 carries 10.0.0.1/24 (the services' gateway) and a veth
pair leads to a second namespace, the outside client (192.168.50.2), which reaches the
published ports at 192.168.50.1.

usage: test-services.py ALBATROSSD CLIENT TENDER_DIR MKIMAGE CONSOLE LOG STATS"""
import ctypes
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (WAIT, Daemon, Tap, check, mkimage, require_netns, taps,  # noqa: E402
                     wait_for, watch_log)

require_netns(sys.argv)
PATHS = dict(zip(('albatrossd', 'client', 'tender_dir', 'mkimage', 'console', 'log', 'stats'),
                 sys.argv[1:8]))
tap = Tap()
FAST = ['--restart-backoff', '200', '--crash-loop', '4/600', '--stop-timeout', '2']
HOST, CLIENT = '192.168.50.1', '192.168.50.2'
NETNS = f'alb-client-{os.getpid()}'  # unique: runs never collide
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def sh(*args):
    subprocess.run(args, check=True)


def setup_network():
    """br0 as the services' gateway, forwarding on, and the outside client's namespace."""
    if not shutil.which('nft'):
        print('1..0 # SKIP needs nft (nftables) to read the rules back')
        sys.exit(77)
    # A bridge takes the lowest MAC address of its ports unless it has its own: without
    # one, its address changes as instances' taps come and go, and the datagrams an
    # instance sends to the old one are lost (a host's bridge has an uplink, or a set MAC).
    sh('ip', 'link', 'set', 'br0', 'address', '02:00:00:00:00:01')
    sh('ip', 'addr', 'add', '10.0.0.1/24', 'dev', 'br0')
    with open('/proc/sys/net/ipv4/ip_forward', 'w') as f:
        f.write('1')
    sh('ip', 'netns', 'add', NETNS)
    sh('ip', 'link', 'add', 'vhost', 'type', 'veth', 'peer', 'name', 'vclient')
    sh('ip', 'link', 'set', 'vclient', 'netns', NETNS)
    sh('ip', 'addr', 'add', HOST + '/24', 'dev', 'vhost')
    sh('ip', 'link', 'set', 'vhost', 'up')
    for cmd in (['ip', 'link', 'set', 'lo', 'up'],
                ['ip', 'addr', 'add', CLIENT + '/24', 'dev', 'vclient'],
                ['ip', 'link', 'set', 'vclient', 'up'],
                ['ip', 'route', 'add', 'default', 'via', HOST]):
        sh('ip', 'netns', 'exec', NETNS, *cmd)


def teardown_network():
    subprocess.run(['ip', 'netns', 'del', NETNS])


def outside(fn, *args):
    """fn(*args) in a thread that entered the client's namespace: sockets it makes live
    there (a socket keeps the namespace it was made in)."""
    out = {}

    def run():
        try:
            fd = os.open(f'/run/netns/{NETNS}', os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), 'setns')
            finally:
                os.close(fd)
            out['value'] = fn(*args)
        except BaseException as e:  # noqa: B036 - passed to the caller
            out['error'] = e
    t = threading.Thread(target=run)
    t.start()
    t.join()
    if 'error' in out:
        raise out['error']
    return out['value']


def client_socket(kind):
    return outside(socket.socket, socket.AF_INET, kind)


def udp_ask(port, payload=b'ping', timeout=WAIT):
    """One datagram to the published port from the outside; the answer's text."""
    s = client_socket(socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(payload, (HOST, port))
        return s.recv(2048).decode()
    finally:
        s.close()


def tcp_connect(port):
    s = client_socket(socket.SOCK_STREAM)
    s.settimeout(WAIT)
    s.connect((HOST, port))
    return s


def tcp_ask(s, payload):
    s.sendall(payload)
    return s.recv(2048).decode()


def image(d):
    return mkimage(PATHS, os.path.join(d.dir, 'svc.spt'), nets=('service',))


def fresh(env=None):
    d = Daemon(PATHS, extra=FAST, env=env)
    try:
        return d.start()
    except BaseException:
        d.cleanup()
        raise


def deploy_args(d, name, *extra, ready=('--ready-udp', '53'), drain='2000'):
    return ['service', 'deploy', name, image(d), '--net', 'br0', '--prefix', '10.0.0.0/24',
            '--arg-template', '--ipv4={cidr}', '--arg-template', '--name={name}',
            '--arg', '--run', *ready, '--drain', drain, '--ready-timeout', str(int(WAIT * 1000)),
            *extra]


def services(d, name=None):
    r = d.ok('service', 'info', *([name] if name else []), '--json')
    return json.loads(r.stdout)


def one_service(d, name):
    v = services(d, name)
    check(len(v) == 1, f'one service {name}: {v}')
    return v[0]


def published(svc):
    v = [i for i in svc['instances'] if i['state'] == 'published']
    check(len(v) == 1, f'one published instance: {svc}')
    return v[0]


def nft_rules():
    """The DNAT rules of table ip albatross as (proto, host port, destination), read with
    the nft program (albatrossd itself goes through libnftables)."""
    r = subprocess.run(['nft', '-j', 'list', 'table', 'ip', 'albatross'], capture_output=True,
                       text=True)
    if r.returncode != 0:
        return None
    out = set()
    for item in json.loads(r.stdout)['nftables']:
        rule = item.get('rule')
        if not rule or rule['chain'] != 'prerouting':
            continue
        proto = port = dest = None
        for e in rule['expr']:
            if 'match' in e and isinstance(e['match'].get('left'), dict) and \
                    'payload' in e['match']['left']:
                p = e['match']['left']['payload']
                if p.get('field') == 'dport':
                    proto, port = p['protocol'], e['match']['right']
            if 'dnat' in e:
                dest = f"{e['dnat']['addr']}:{e['dnat']['port']}"
        out.add((proto, port, dest))
    return out


def unikernels(d):
    return {u['name'] for u in d.info()}


class Prober:
    """From the outside, a datagram every 10 ms to the published UDP port, each from a new
    source port, and one long-lived flow (one source port) every 50 ms; every answer is
    kept, by probe, with the instance that gave it."""

    def __init__(self, port):
        self.port = port
        self.stop = threading.Event()
        self.sent = 0
        self.answers = {}  # probe number -> instance name
        self.flow = []     # instance names that answered the flow, in order
        self.error = None
        self.thread = threading.Thread(target=lambda: outside(self.run))
        self.thread.start()

    def run(self):
        try:
            self._run()
        except BaseException as e:  # noqa: B036 - reported by finish()
            self.error = e

    def _run(self):
        flow = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        flow.setblocking(False)
        pending = {}  # socket -> probe number
        next_probe = next_flow = time.monotonic()
        deadline = None
        while True:
            now = time.monotonic()
            if self.stop.is_set() and deadline is None:
                deadline = now + WAIT  # the answers still under way
            if deadline is not None and (not pending or now > deadline):
                break
            if deadline is None and now >= next_probe:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setblocking(False)
                s.sendto(b'probe-%d' % self.sent, (HOST, self.port))
                pending[s] = self.sent
                self.sent += 1
                next_probe = now + 0.010
            if deadline is None and now >= next_flow:
                flow.sendto(b'flow', (HOST, self.port))
                next_flow = now + 0.050
            ready, _, _ = select.select(list(pending) + [flow], [], [], 0.005)
            for s in ready:
                try:
                    data = s.recv(2048).decode()
                except OSError:
                    continue
                who = data.split(':', 1)[0]
                if s is flow:
                    self.flow.append(who)
                else:
                    self.answers[pending.pop(s)] = who
                    s.close()
        for s in pending:
            s.close()
        flow.close()

    def finish(self):
        self.stop.set()
        self.thread.join()
        if self.error:
            raise self.error
        return self


@tap.case
def test_publish_and_update_udp():
    """a published UDP port answers from the service's instance; an update switches it to
    the new instance with no probe lost (each from a new source port, every 10 ms), a
    long-lived flow moves to the new instance, and the old one goes after its drain"""
    d = fresh()
    try:
        r = d.ok(*deploy_args(d, 'web', '--publish', '5353:53/udp'))
        check('deployed web.1 at 10.0.0.' in r.stdout and 'ip_forward' not in r.stdout,
              r.stdout)
        svc = one_service(d, 'web')
        first = published(svc)
        check(first['unikernel'] == 'web.1' and first['address'].startswith('10.0.0.') and
              first['address'] not in ('10.0.0.0', '10.0.0.1', '10.0.0.255'), svc)
        check(nft_rules() == {('udp', 5353, first['address'] + ':53')}, nft_rules())
        check(udp_ask(5353) == 'web.1: ping', 'the published port')

        p = Prober(5353)
        wait_for(lambda: len(p.answers) >= 5, WAIT, 'the first probes answered')
        r = d.ok(*deploy_args(d, 'web', '--publish', '5353:53/udp', '--arg', '--v2',
                              drain='3000'))
        check('deployed web.2' in r.stdout, r.stdout)
        sent_at_switch = p.sent
        wait_for(lambda: p.flow[-1:] == ['web.2'], WAIT, 'the long-lived flow to move')
        wait_for(lambda: 'web.1' not in unikernels(d), WAIT, 'the old instance to retire')
        sent_at_retire = p.sent
        wait_for(lambda: len(p.answers) > sent_at_retire + 20, WAIT, 'probes after the retirement')
        p.finish()
        lost = [i for i in range(p.sent) if i not in p.answers]
        check(not lost, f'{len(lost)} of {p.sent} probes lost: {lost[:20]} (switch at '
              f'{sent_at_switch}, retirement at {sent_at_retire})')
        check(p.answers[p.sent - 1] == 'web.2' and p.answers[0] == 'web.1', 'who answered')
        # every probe sent after the switch was answered by the new instance
        late = {p.answers[i] for i in range(sent_at_switch + 1, p.sent)}
        check(late == {'web.2'}, f'after the switch: {late}')

        svc = one_service(d, 'web')
        second = published(svc)
        check(len(svc['instances']) == 1 and second['unikernel'] == 'web.2' and
              second['address'] != first['address'] and svc['generation'] == 2, svc)
        check(nft_rules() == {('udp', 5353, second['address'] + ':53')}, nft_rules())
        check(udp_ask(5353) == 'web.2: ping', 'after the update')
    finally:
        d.cleanup()


@tap.case
def test_tcp_drain():
    """a TCP connection to a published port established before an update keeps working,
    with the old instance, until the drain ends; new connections reach the new one"""
    d = fresh()
    try:
        d.ok(*deploy_args(d, 'web', '--publish', '8080:80', ready=('--ready-tcp', '80')))
        old = tcp_connect(8080)
        check(tcp_ask(old, b'a') == 'web.1: a', 'before the update')
        d.ok(*deploy_args(d, 'web', '--publish', '8080:80', '--arg', '--v2',
                          ready=('--ready-tcp', '80'), drain='10000'))
        check(tcp_ask(old, b'b') == 'web.1: b', 'the old connection during the drain')
        new = tcp_connect(8080)
        check(tcp_ask(new, b'c') == 'web.2: c', 'a new connection')
        check(tcp_ask(old, b'd') == 'web.1: d', 'the old connection still')
        draining = [i for i in one_service(d, 'web')['instances'] if i['state'] == 'draining']
        check([i['unikernel'] for i in draining] == ['web.1'] and draining[0]['until'], draining)
        wait_for(lambda: 'web.1' not in unikernels(d), WAIT, 'the drain to end')
        # the old instance is gone: its connection gets no more echo from it
        try:
            old.settimeout(5)
            got = tcp_ask(old, b'e')
        except OSError:
            got = ''
        check(not got.startswith('web.1'), f'the retired instance answered: {got}')
        check(tcp_ask(new, b'f') == 'web.2: f', 'the new connection')
        old.close()
        new.close()
    finally:
        d.cleanup()


@tap.case
def test_ready_line_and_timeout():
    """a console line is a readiness rule; an update whose instance is never ready is
    refused after its readiness timeout, its instance destroyed and its address freed,
    the previous instance still published and answering"""
    d = fresh()
    try:
        d.ok(*deploy_args(d, 'web', '--publish', '5353:53/udp',
                          ready=('--ready-line', 'name web.1')))
        first = published(one_service(d, 'web'))
        args = deploy_args(d, 'web', '--publish', '5353:53/udp',
                           ready=('--ready-line', 'a line never printed'))
        args[args.index('--ready-timeout') + 1] = '1500'
        r = d.cli(*args)
        check(r.returncode == 1 and 'not ready within 1500 ms' in r.stderr and
              'previous instance stays published' in r.stderr and
              'its output: albatross-client console web.2' in r.stderr, r)
        svc = one_service(d, 'web')
        check(published(svc) == first and len(svc['instances']) == 1 and
              'not ready' in (svc['last_error'] or ''), svc)
        check(unikernels(d) == {'web.1'}, unikernels(d))
        check(udp_ask(5353) == 'web.1: ping', 'the previous instance answers')
        check(nft_rules() == {('udp', 5353, first['address'] + ':53')}, nft_rules())
        # a new instance that exits before it is ready fails the update at once
        args = deploy_args(d, 'web', '--publish', '5353:53/udp')
        args[args.index('--run')] = '--exit=3'
        r = d.cli(*args)
        check(r.returncode == 1 and 'exited (code 3) before it was ready' in r.stderr, r)
        check(unikernels(d) == {'web.1'}, unikernels(d))
        # a first deploy that fails leaves no service
        args = deploy_args(d, 'api', '--publish', '5354:53/udp')
        args[args.index('--run')] = '--exit=3'
        check(d.cli(*args).returncode == 1, 'a failed first deploy')
        check([s['name'] for s in services(d)] == ['web'], services(d))
    finally:
        d.cleanup()


@tap.case
def test_crash_during_update():
    """albatrossd killed in the middle of an update (after the new instance started, or
    after the switch): at its next start exactly one instance is published, the other is
    gone, and the addresses are consistent"""
    for point, survivor in (('service-started', 'web.1'), ('service-switched', 'web.2')):
        d = fresh()
        try:
            d.ok(*deploy_args(d, 'web', '--publish', '5353:53/udp'))
            first = published(one_service(d, 'web'))
            d.stop()  # SIGTERM: the unikernels stay
            d.env['ALBATROSS_CRASH_AT'] = point
            d.start()
            r = d.cli(*deploy_args(d, 'web', '--publish', '5353:53/udp', '--arg', '--v2',
                                   drain='1000'))
            check(r.returncode != 0, f'{point}: the client saw the crash')
            d.proc.wait(WAIT)
            d.stop()
            del d.env['ALBATROSS_CRASH_AT']
            # as after a reboot of the host, no rule is left: the start restores them
            sh('nft', 'delete', 'table', 'ip', 'albatross')
            d.start()
            wait_for(lambda: unikernels(d) == {survivor}, WAIT, f'{point}: only {survivor}')
            svc = one_service(d, 'web')
            pub = published(svc)
            check(pub['unikernel'] == survivor and len(svc['instances']) == 1, svc)
            if survivor == 'web.1':
                check(pub == first and 'restart' in (svc['last_error'] or ''), svc)
            check(nft_rules() == {('udp', 5353, pub['address'] + ':53')}, nft_rules())
            check(udp_ask(5353) == f'{survivor}: ping', f'{point}: who answers')
            check(d.ok('collect', '--json').stdout.strip() == '[]', 'nothing to collect')
        finally:
            d.cleanup()


@tap.case
def test_remove_or_stop_while_retiring():
    """a service removed, or albatrossd stopped, while its previous instance is still being
    destroyed (its tender held stopped): nothing is lost, nothing runs twice, and the next
    start finishes the retirement"""
    for how in ('remove', 'stop'):
        d = Daemon(PATHS, extra=FAST[:-2] + ['--stop-timeout', '600'])
        d.start()
        try:
            d.ok(*deploy_args(d, 'web', '--publish', '5353:53/udp'))
            pid = d.one('web.1')['pid']
            os.kill(pid, signal.SIGSTOP)
            try:
                d.ok(*deploy_args(d, 'web', '--publish', '5353:53/udp', '--arg', '--v2',
                                  drain='0'))
                wait_for(lambda: 'web.1' in d.log_text() and 'was killed' not in
                         d.log_text() and d.one('web.1')['state'] == 'running', WAIT,
                         'web.1 held')
                if how == 'remove':
                    p = subprocess.Popen([PATHS['client'], '--socket', d.socket, 'service',
                                          'remove', 'web'], stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
                    wait_for(lambda: services(d) == [], WAIT, 'the service to go')
                    check(nft_rules() is None, 'its rules went at once')
                else:
                    check(d.stop() == 0, 'albatrossd stops cleanly')
            finally:
                os.kill(pid, signal.SIGCONT)
            if how == 'remove':
                out, err = p.communicate(timeout=2 * WAIT)
                check(p.returncode == 0 and 'removed web' in out, f'{p.returncode} {err}')
                wait_for(lambda: unikernels(d) == set(), WAIT, 'every instance to go')
            else:
                d.start()
                wait_for(lambda: unikernels(d) == {'web.2'}, WAIT, 'web.1 retired')
                svc = one_service(d, 'web')
                check(len(svc['instances']) == 1 and published(svc)['unikernel'] == 'web.2',
                      svc)
                check(udp_ask(5353) == 'web.2: ping', 'web.2 answers')
            check(d.proc.poll() is None, 'albatrossd runs')
        finally:
            d.cleanup()


@tap.case
def test_policy_and_addresses():
    """policies bound the host ports and the prefixes (refusals name the limit); a host
    port is published by one service only; addresses are never shared, never excluded"""
    d = fresh()
    try:
        d.ok('add-policy', 'alice:', '4', '--mem', '256', '--cpu', '0', '--bridge', 'br0', '--ports',
             '8000-8099', '--prefix', 'br0=10.0.0.0/24')
        img = image(d)
        base = ['service', 'deploy', 'alice:web', img, '--net', 'br0', '--arg', '--run']
        r = d.cli(*base, '--prefix', '10.0.0.0/24', '--publish', '9000:80')
        check(r.returncode == 1 and 'host port 9000 is outside the ports of alice:' in r.stderr,
              r.stderr)
        r = d.cli(*base, '--prefix', '10.0.1.0/24', '--publish', '8000:80')
        check(r.returncode == 1 and 'prefix 10.0.1.0/24 on bridge br0 is not allowed by the '
              'policy of alice:' in r.stderr, r.stderr)
        d.ok(*base, '--prefix', '10.0.0.0/24', '--publish', '8000:80', '--ready-delay', '50',
             '--exclude', '10.0.0.2', '--exclude', '10.0.0.3')
        r = d.cli(*deploy_args(d, 'bob', '--publish', '8000:80'))
        check(r.returncode == 1 and "host port 8000/tcp is published by service 'alice:web'"
              in r.stderr, r.stderr)
        for i in range(3):
            d.ok(*deploy_args(d, f's{i}', '--publish', f'{7000 + i}:53/udp',
                              '--exclude', '10.0.0.2', '--exclude', '10.0.0.3'))
        addrs = [i['address'] for s in services(d) for i in s['instances']]
        check(len(addrs) == 4 and len(set(addrs)) == 4, f'addresses shared: {addrs}')
        check(not set(addrs) & {'10.0.0.0', '10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.255'},
              addrs)
        # the same service and generation get the same address again once it is free
        s0 = published(one_service(d, 's0'))['address']
        d.ok('service', 'remove', 's0')
        d.ok(*deploy_args(d, 's0', '--publish', '7000:53/udp',
                          '--exclude', '10.0.0.2', '--exclude', '10.0.0.3'))
        check(published(one_service(d, 's0'))['address'] == s0, 'deterministic address')
    finally:
        d.cleanup()


@tap.case
def test_remove_and_collect():
    """removing a service removes its rules, instances, taps and addresses; collect
    removes a unikernel named as a service's instance that the service does not list;
    the event log records allocations, switches, retirements and removals"""
    d = Daemon(PATHS, extra=FAST)
    logd = None
    try:
        logdir = os.path.join(d.dir, 'log')
        out = os.path.join(d.dir, 'log-daemon.log')
        watch_log('albatross-log', out)
        logf = open(out, 'a')
        logd = subprocess.Popen([PATHS['log'], '--rundir', d.rundir, '--logdir', logdir, '-vv'],
                                stdout=logf, stderr=logf)
        wait_for(lambda: os.path.exists(os.path.join(d.rundir, 'log.sock')), WAIT,
                 'albatross-log')
        d.start()
        before = set(taps())
        d.ok(*deploy_args(d, 'web', '--publish', '5353:53/udp'))
        d.ok(*deploy_args(d, 'api', '--publish', '8080:80', ready=('--ready-tcp', '80')))
        d.ok(*deploy_args(d, 'api', '--publish', '8080:80', '--arg', '--v2',
                          ready=('--ready-tcp', '80'), drain='0'))
        wait_for(lambda: unikernels(d) == {'web.1', 'api.2'}, WAIT, 'api.1 to retire')
        # not an instance of web: a generation it never made, or not on its bridge
        d.ok('create', 'web.7', image(d), '--net', 'service:br0', '--arg', '--run')
        d.ok('create', 'api.1', image(d), '--net', 'service:br1', '--arg', '--run')
        check(d.ok('collect', '--json').stdout.strip() == '[]', 'unrelated unikernels')
        d.ok('destroy', 'web.7')
        d.ok('destroy', 'api.1')
        # one that looks like an instance api no longer lists (its file restored from a copy)
        d.ok('create', 'api.1', image(d), '--net', 'service:br0', '--arg', '--run',
             '--arg', '--ipv4=10.0.0.99/24')
        r = d.ok('collect', '--json')
        check(json.loads(r.stdout) == [{'unikernel': 'api.1', 'bridge': 'br0',
                                        'address': '10.0.0.99'}], r.stdout)
        check(unikernels(d) == {'web.1', 'api.2'}, unikernels(d))
        check(d.ok('collect').stdout.strip() == 'nothing to collect', 'collect again')
        d.ok('service', 'remove', 'web')
        check(unikernels(d) == {'api.2'}, unikernels(d))
        check({r[1] for r in nft_rules()} == {8080}, nft_rules())
        d.ok('service', 'remove', 'api')
        check(services(d) == [] and unikernels(d) == set(), 'everything removed')
        check(nft_rules() is None, 'the table is gone')
        wait_for(lambda: set(taps()) == before, WAIT, 'the taps to go')
        r = d.refused("no service 'web'", 'service', 'remove', 'web')

        def kinds():
            r = d.ok('--rundir', d.rundir, 'log', '--count', '1000', '--json')
            return [e['kind'] for e in json.loads(r.stdout)]
        want = ['service-allocated', 'service-switched', 'service-retired', 'service-removed']
        wait_for(lambda: all(k in kinds() for k in want), WAIT, f'the events {want}')
    finally:
        if logd:
            logd.terminate()
            logd.wait(WAIT)
        d.cleanup()


@tap.case
def test_bad_input():
    """bad services are refused with a reason, albatrossd keeps running and its state
    intact"""
    d = fresh()
    try:
        d.ok(*deploy_args(d, 'web', '--publish', '5353:53/udp'))
        img = image(d)
        base = ['service', 'deploy', 'x', img, '--net', 'br0']
        for args, rc, needle in (
                (['--prefix', '10.0.0.1/24'], 2, 'host bits are set'),
                (['--prefix', '10.0.0.0/31'], 2, 'length must be 8 to 30'),
                (['--prefix', '10.0.0.0/24', '--publish', '80'], 2, 'HOSTPORT:PORT'),
                (['--prefix', '10.0.0.0/24', '--publish', '81:80/sctp'], 2, 'tcp or udp'),
                (['--prefix', '10.0.0.0/24', '--gateway', '10.0.1.1'], 2, 'not a host address'),
                (['--prefix', '10.0.0.0/24', '--arg-template', '--ip={ipv4}'], 1,
                 "unknown placeholder '{ipv4}'"),
                (['--prefix', '10.0.0.0/24', '--publish', '5353:53/udp'], 1,
                 "published by service 'web'"),
                (['--prefix', '10.0.0.0/25', '--publish', '5400:53/udp'], 1,
                 'overlaps 10.0.0.0/24'),
                (['--prefix', '10.0.0.0/24', '--ready-tcp', '1', '--ready-udp', '2'], 2,
                 'one readiness rule'),
        ):
            r = d.cli(*base, *args)
            check(r.returncode == rc and needle in r.stderr, f'{args}: {r.returncode} {r.stderr}')
        r = d.cli('service', 'deploy', 'x', img, '--prefix', '10.0.0.0/24')
        check(r.returncode == 2 and '--net BRIDGE' in r.stderr, r.stderr)
        # a unikernel of the name its first instance would get is not the service's
        d.ok('create', 'api.1', img, '--net', 'service:br0', '--arg', '--run')
        r = d.cli(*deploy_args(d, 'api', '--publish', '5400:53/udp'))
        check(r.returncode == 1 and "unikernel 'api.1' exists but service 'api' does not "
              "list it: destroy it first" in r.stderr, r.stderr)
        check(d.one('api.1')['state'] == 'running', 'api.1 left alone')
        check(d.ok('collect', '--json').stdout.strip() == '[]', 'not a stray of anything')
        check(d.proc.poll() is None, 'albatrossd runs')
        check(udp_ask(5353) == 'web.1: ping' and [s['name'] for s in services(d)] == ['web'],
              'its state')
    finally:
        d.cleanup()


setup_network()
try:
    rc = tap.run()
finally:
    teardown_network()
sys.exit(rc)
