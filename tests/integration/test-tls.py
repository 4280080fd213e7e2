#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Remote management over real TLS on loopback: albatross-tls-endpoint in front of
the real albatrossd, albatross-console and albatross-log, driven by the real
albatross-client (and by certtool, gnutls-cli and raw sockets), as root in a
private network namespace (exit 77 otherwise).

usage: test-tls.py ALBATROSSD CLIENT TENDER_DIR MKIMAGE CONSOLE LOG STATS ENDPOINT"""
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (WAIT, Daemon, Skip, Tap, cbor, check, mkimage,  # noqa: E402
                     require_netns, wait_for, watch_log)

require_netns(sys.argv)
PATHS = dict(zip(('albatrossd', 'client', 'tender_dir', 'mkimage', 'console', 'log', 'stats',
                  'endpoint'), (os.path.abspath(a) for a in sys.argv[1:9])))
OID = '2.25.2050259381022744719'
tap = Tap()

EXIT_FAILED, EXIT_CONNECT, EXIT_TLS, EXIT_REFUSED = 1, 3, 5, 6
# The endpoint's timeouts: generous, so that no session that is only slow (a busy
# machine, a sanitizer build, 100 at once) is ended by them. The test that idle
# clients are dropped waits for the handshake timeout.
HANDSHAKE_TIMEOUT, IDLE_TIMEOUT = 30, 60


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(args, cwd, rc=0, timeout=2 * WAIT, input=None):
    r = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                       input=input)
    if rc is not None and r.returncode != rc:
        raise AssertionError(f'{" ".join(args)}: exit {r.returncode}, expected {rc}\n'
                             f'stdout: {r.stdout}\nstderr: {r.stderr}\n'
                             f'endpoint log tail:\n{S.endpoint_log()[-2500:]}')
    return r


class Setup:
    """albatrossd, albatross-console, albatross-log and the endpoint; a root CA."""

    def __init__(self):
        self.d = Daemon(PATHS, extra=['--restart-backoff', '200', '--stop-timeout', '2'])
        self.dir = self.d.dir
        self.pki = os.path.join(self.dir, 'pki')
        os.makedirs(self.pki)
        self.helpers = []
        self.endpoints = []
        self.port = free_port()
        self.dest = f'127.0.0.1:{self.port}'
        self.image = mkimage(PATHS, os.path.join(self.dir, 'hello.spt'), nets=['service'])

    def start(self):
        os.makedirs(self.d.rundir, exist_ok=True)
        extra = {'log': ['--logdir', os.path.join(self.dir, 'log')],
                 'stats': ['--interval-ms', '300']}
        for name in ('console', 'log', 'stats'):
            log = os.path.join(self.dir, name + '.log')
            watch_log(f'albatross-{name}', log)
            logf = open(log, 'a')
            p = subprocess.Popen([PATHS[name], '--rundir', self.d.rundir] + extra.get(name, []),
                                 stdout=logf, stderr=logf)
            self.helpers.append(p)
            sock = os.path.join(self.d.rundir, name + '.sock')
            wait_for(lambda: os.path.exists(sock), WAIT, f'albatross-{name}')
        self.d.start()
        self.client('generate', 'root', 'certs.db', '--server', '127.0.0.1')
        # An empty CRL to start with: revoking a serial nobody has.
        self.client('revoke', 'rootcert.pem', 'root.key', '01', '--crl', 'crl.pem')
        self.endpoint = self.start_endpoint(['--listen', self.dest])

    def start_endpoint(self, extra, wrap=None, pass_fds=(), cert='127.0.0.1'):
        watch_log('albatross-tls-endpoint', self.endpoint_log_path())
        mark = len(self.endpoint_log())
        logf = open(self.endpoint_log_path(), 'a')
        args = [PATHS['endpoint'], '--ca', 'rootcert.pem', '--cert', cert + '.pem',
                '--key', cert + '.key', '--crl', 'crl.pem', '--rundir', self.d.rundir,
                '--handshake-timeout', str(HANDSHAKE_TIMEOUT), '--idle-timeout',
                str(IDLE_TIMEOUT), '-vv'] + extra
        p = subprocess.Popen((wrap or []) + args, cwd=self.pki, stdout=logf, stderr=logf,
                             pass_fds=pass_fds)
        logf.close()
        self.endpoints.append(p)

        # Ready once it says so: it listens, and has dropped its privileges (--user).
        def ready():
            check(p.poll() is None, f'the endpoint exited: {self.endpoint_log()[mark:]}')
            return 'notice: ready' in self.endpoint_log()[mark:]
        wait_for(ready, WAIT, 'albatross-tls-endpoint')
        return p

    def endpoint_log_path(self):
        return os.path.join(self.dir, 'endpoint.log')

    def endpoint_log(self):
        try:
            with open(self.endpoint_log_path()) as f:
                return f.read()
        except OSError:
            return ''

    def client(self, *args, cwd=None, rc=0, timeout=60):
        return run([PATHS['client']] + list(args), cwd or self.pki, rc=rc, timeout=timeout)

    def local_log(self, name):
        return run([PATHS['client'], '--rundir', self.d.rundir, 'log', name, '--json'],
                   self.dir).stdout

    def local(self, *args, rc=0):
        return run([PATHS['client'], '--socket', self.d.socket] + list(args), self.dir, rc=rc)

    def user_ca(self, name, *policy, issuer=('rootcert.pem', 'root.key')):
        """A CA for name, signed by issuer, made the way an operator does: --csr, sign."""
        d = os.path.join(self.pki, name)
        os.makedirs(d, exist_ok=True)
        self.client('add-policy', name + ':', *policy, '--csr', cwd=d)
        self.client('sign', os.path.abspath(os.path.join(self.pki, issuer[0])),
                    os.path.join(self.pki, 'certs.db'),
                     os.path.abspath(os.path.join(self.pki, issuer[1])), f'{name}.req', cwd=d)
        return d

    def remote(self, ca_dir, name, *args, rc=0, timeout=60):
        """A command in one step, signed with the CA of ca_dir."""
        ca = os.path.basename(ca_dir)
        return self.client(*args, '--destination', self.dest, '--ca', f'{ca}.pem', '--ca-key',
                           f'{ca}.key', '--server-ca', os.path.join(self.pki, 'rootcert.pem'),
                           cwd=ca_dir, rc=rc, timeout=timeout)

    def serving(self):
        """The endpoint still answers a good session."""
        r = self.remote(self.alice, None, 'info', '--json')
        json.loads(r.stdout)
        check(self.endpoint.poll() is None, 'the endpoint exited')

    def cleanup(self):
        for p in self.endpoints + self.helpers:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(WAIT)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.d.cleanup()


def certtool(*args, cwd):
    if not shutil.which('certtool'):
        raise Skip('certtool (gnutls-bin) is not installed')
    return run(['certtool'] + list(args), cwd)


def certtool_sign(d, name, issuer_dir, issuer, template_lines, chain_extra=()):
    """A key and a certificate for name made by certtool from a template, signed by issuer;
    writes name.pem (with the issuer's chain, as our sign does) and name.key."""
    tmpl = os.path.join(d, name + '.tmpl')
    with open(tmpl, 'w') as f:
        f.write('\n'.join(template_lines) + '\n')
    certtool('--generate-privkey', '--key-type', 'ed25519', '--outfile', name + '.key', cwd=d)
    certtool('--generate-certificate', '--load-privkey', name + '.key', '--load-ca-certificate',
             os.path.join(issuer_dir, issuer + '.pem'), '--load-ca-privkey',
             os.path.join(issuer_dir, issuer + '.key'), '--template', tmpl, '--outfile',
             name + '.crt', cwd=d)
    with open(os.path.join(d, name + '.crt')) as f:
        chain = f.read()
    # The issuer's certificate and its chain (without the root), as alb's sign writes.
    with open(os.path.join(issuer_dir, issuer + '.pem')) as f:
        chain += f.read() if issuer != 'rootcert' else ''
    with open(os.path.join(d, name + '.pem'), 'w') as f:
        f.write(chain)


def ext_hex(value):
    return cbor(value).hex()


S = Setup()


def alice_leaf(name, *args):
    """A leaf of alice for a command, made with --csr and signed with alice's CA."""
    d = os.path.join(S.alice, 'leaves', name)
    os.makedirs(d, exist_ok=True)
    S.client(*args, '--csr', cwd=d)
    S.client('sign', os.path.join(S.alice, 'alice.pem'), os.path.join(S.pki, 'certs.db'),
             os.path.join(S.alice, 'alice.key'), _req_name(d), cwd=d)
    return d


def _req_name(d):
    reqs = [f for f in os.listdir(d) if f.endswith('.req')]
    check(len(reqs) == 1, f'one request in {d}: {reqs}')
    return reqs[0]


def certificate(d, *args, rc=0, timeout=60):
    req = _req_name(d)
    base = req[:-4]
    return S.client('certificate', f'{base}.pem', f'{base}.key', *args, '--destination', S.dest,
                    '--server-ca', os.path.join(S.pki, 'rootcert.pem'), cwd=d, rc=rc,
                    timeout=timeout)


@tap.case
def delegation_walk():
    """The seeds' walk: root CA and server certificate; alice's CA (2 unikernels, 64 MB,
    CPU 0, br0); a leaf of alice creates hello remotely, then info, console, destroy."""
    S.alice = S.user_ca('alice', '2', '--mem', '64', '--cpu', '0', '--bridge', 'br0')
    leaf = alice_leaf('hello', 'create', 'hello', S.image, '--mem', '32', '--net',
                      'service:br0', '--arg', '--hello=hello-from-alice', '--arg', '--run')
    r = certificate(leaf, S.image)
    check('created' in r.stdout, r.stdout)
    # It runs as alice:hello, within alice's policy, which the endpoint installed.
    u = json.loads(S.local('info', 'alice:hello', '--json').stdout)
    check(len(u) == 1 and u[0]['name'] == 'alice:hello' and u[0]['state'] == 'running', u)
    pol = json.loads(S.local('policy', 'alice:', '--json').stdout)
    check(pol[0]['policy']['unikernels'] == 2 and pol[0]['policy']['memory'] == 64, pol)
    # info, console and destroy, each signed in one step with alice's CA.
    info = json.loads(S.remote(S.alice, None, 'info', '--json').stdout)
    check([u['name'] for u in info] == ['alice:hello'], info)
    wait_for(lambda: 'hello-from-alice' in S.remote(S.alice, None, 'console', 'hello').stdout,
             WAIT, 'the console line, remotely')
    S.remote(S.alice, None, 'destroy', 'hello')
    check(json.loads(S.local('info', 'alice:', '--json').stdout) == [], 'hello is gone')
    check(json.loads(S.remote(S.alice, None, 'info', '--json').stdout) == [], 'remote info')
    # The endpoint's log names the client and what it ran; albatrossd's event log says
    # which certificate (name and serial, as a CRL would) created and destroyed hello.
    check('unikernel-create alice:hello' in S.endpoint_log(), S.endpoint_log()[-1000:])
    events = json.loads(S.local_log('alice:hello'))
    ids = {e['kind']: e.get('identity', '') for e in events}
    with open(os.path.join(S.pki, 'certs.db')) as f:
        serial = [line.split()[0] for line in f if line.split()[1:] == ['hello']][-1]
    check(f"certificate 'hello' serial {serial.lower()}" in ids.get('unikernel-created', ''),
          (ids, serial))
    check("certificate 'hello'" in ids.get('unikernel-destroyed', ''), ids)


@tap.case
def create_over_limits():
    """A create that fits alice's policy alone but not with what runs: refused by
    albatrossd's dynamic check, reported as a remote failure (exit 1)."""
    S.remote(S.alice, None, 'create', 'a', S.image, '--mem', '40', '--net', 'service:br0',
             '--arg', '--run')
    r = S.remote(S.alice, None, 'create', 'b', S.image, '--mem', '30', '--net', 'service:br0',
                 '--arg', '--run', rc=EXIT_FAILED)
    check('remote command failed' in r.stderr and 'memory' in r.stderr, r.stderr)
    # One that does not fit alone is refused when signing, before anything is sent.
    r = S.remote(S.alice, None, 'create', 'c', S.image, '--mem', '128', '--net',
                 'service:br0', rc=EXIT_FAILED)
    check('exceeds 64 MB' in r.stderr, r.stderr)
    # Nor may it use a bridge or CPU outside the policy.
    check([u['name'] for u in json.loads(S.local('info', 'alice:', '--json').stdout)] ==
          ['alice:a'], 'only a runs')
    S.remote(S.alice, None, 'destroy', 'a')
    S.serving()


@tap.case
def image_bound_by_digest():
    """A create certificate is good for its image only: another file is refused before a
    connection, and a forged upload of another image by albatrossd."""
    leaf = alice_leaf('bound', 'create', 'bound', S.image, '--net', 'service:br0')
    other = mkimage(PATHS, os.path.join(S.dir, 'other.spt'), nets=['service', 'x'])
    r = certificate(leaf, other, rc=EXIT_FAILED)
    check('not the image the certificate was made for' in r.stderr, r.stderr)
    r = certificate(leaf, rc=2)
    check('needs its FILE' in r.stderr, r.stderr)
    check(json.loads(S.local('info', 'alice:', '--json').stdout) == [], 'nothing created')


@tap.case
def other_ca_refused():
    """A chain from another CA: refused with a clear error (exit 6)."""
    d = os.path.join(S.dir, 'evil')
    os.makedirs(d)
    S.client('generate', 'evil', 'certs.db', cwd=d)
    S.client('add-policy', 'alice:', '2', '--mem', '64', '--cpu', '0', '--bridge', 'br0',
             '--csr', cwd=d)
    S.client('sign', 'evilcert.pem', 'certs.db', 'evil.key', 'alice.req', cwd=d)
    r = S.client('info', '--destination', S.dest, '--ca', 'alice.pem', '--ca-key', 'alice.key',
                 '--server-ca', os.path.join(S.pki, 'rootcert.pem'), cwd=d, rc=EXIT_REFUSED)
    check("not issued by this endpoint's CA" in r.stderr, r.stderr)
    # A signed leaf of that chain, kept for gnutls-cli below.
    r = S.client('info', '--csr', cwd=d)
    check("(unikernel-info, on the signing CA's whole domain)" in r.stdout, r.stdout)
    S.client('sign', 'alice.pem', 'certs.db', 'alice.key', 'unikernel-info.req', cwd=d)
    S.serving()


@tap.case
def expired_leaf_refused():
    """A leaf of alice whose validity ended (made by certtool): refused (exit 6)."""
    d = os.path.join(S.alice, 'expired')
    os.makedirs(d)
    certtool_sign(d, 'old', S.alice, 'alice', [
        'cn = "old"', 'activation_date = "2020-01-01 00:00:00"',
        'expiration_date = "2020-01-02 00:00:00"', 'tls_www_client', 'signing_key',
        f'add_extension = "{OID} octet_string(0x{ext_hex({"version": 1, "command": {"op": "unikernel-info"}})})"'])
    r = S.client('certificate', 'old.pem', 'old.key', '--destination', S.dest, '--server-ca',
                 os.path.join(S.pki, 'rootcert.pem'), cwd=d, rc=EXIT_REFUSED)
    check('expired' in r.stderr, r.stderr)
    S.serving()


@tap.case
def revoked_intermediate_refused():
    """mallory's CA works, then the root revokes it in the CRL; after SIGHUP the endpoint
    refuses its chain (exit 6) and still serves alice."""
    S.mallory = S.user_ca('mallory', '1', '--mem', '32', '--cpu', '0', '--bridge', 'br0')
    S.remote(S.mallory, None, 'info')
    with open(os.path.join(S.pki, 'certs.db')) as f:
        serial = [line.split()[0] for line in f if line.split()[1:] == ['mallory']][-1]
    S.client('revoke', 'rootcert.pem', 'root.key', serial, '--crl', 'crl.pem')
    mark = len(S.endpoint_log())
    S.endpoint.send_signal(signal.SIGHUP)
    wait_for(lambda: 'Reloaded' in S.endpoint_log()[mark:], WAIT, 'the reload')
    r = S.remote(S.mallory, None, 'info', rc=EXIT_REFUSED)
    check('revoked' in r.stderr, r.stderr)
    S.serving()


@tap.case
def oversized_intermediate_refused():
    """A CA below alice whose policy exceeds alice's (our sign refuses to make it, so
    certtool does): the endpoint refuses the chain (exit 6)."""
    d = os.path.join(S.alice, 'team')
    os.makedirs(d)
    pol = {'version': 1, 'policy': {'unikernels': 2, 'memory': 128, 'cpuids': [0],
                                    'bridges': ['br0']}}
    certtool_sign(d, 'team', S.alice, 'alice', [
        'cn = "team"', 'ca', 'cert_signing_key', 'crl_signing_key', 'expiration_days = 30',
        f'add_extension = "{OID} octet_string(0x{ext_hex(pol)})"'])
    r = S.client('info', '--destination', S.dest, '--ca', 'team.pem', '--ca-key', 'team.key',
                 '--server-ca', os.path.join(S.pki, 'rootcert.pem'), cwd=d, rc=EXIT_REFUSED)
    check('128' in r.stderr and '64' in r.stderr, r.stderr)
    check(json.loads(S.local('policy', ':', '--json').stdout)[-1]['path'] != 'alice:team:',
          'the oversized policy was not installed')
    S.serving()


@tap.case
def leaf_adding_policy_refused():
    """A leaf whose command is policy-add (certtool; our sign refuses): exit 6."""
    d = os.path.join(S.alice, 'sneaky')
    os.makedirs(d)
    cmd = {'version': 1, 'command': {'op': 'policy-add', 'policy': {
        'unikernels': 100, 'memory': 100000, 'cpuids': [0, 1], 'bridges': ['br0']}}}
    certtool_sign(d, 'sneaky', S.alice, 'alice', [
        'cn = "."', 'tls_www_client', 'signing_key', 'expiration_days = 1',
        f'add_extension = "{OID} octet_string(0x{ext_hex(cmd)})"'])
    r = S.client('certificate', 'sneaky.pem', 'sneaky.key', '--destination', S.dest,
                 '--server-ca', os.path.join(S.pki, 'rootcert.pem'), cwd=d, rc=EXIT_REFUSED)
    check('policy-add is not allowed in a certificate' in r.stderr, r.stderr)
    pol = json.loads(S.local('policy', 'alice:', '--json').stdout)
    check(pol[0]['policy']['unikernels'] == 2, pol)
    S.serving()


@tap.case
def garbage_extension_refused():
    """A leaf whose extension is not CBOR: refused as malformed (exit 6)."""
    d = os.path.join(S.alice, 'garbage')
    os.makedirs(d)
    certtool_sign(d, 'g', S.alice, 'alice', [
        'cn = "g"', 'tls_www_client', 'signing_key', 'expiration_days = 1',
        f'add_extension = "{OID} octet_string(0xdeadbeefff00)"'])
    r = S.client('certificate', 'g.pem', 'g.key', '--destination', S.dest,
                 '--server-ca', os.path.join(S.pki, 'rootcert.pem'), cwd=d, rc=EXIT_FAILED)
    check("'g.pem'" in r.stderr, 'our client cannot read it either: ' + r.stderr)
    r = gnutls_cli(d, 'g.pem', 'g.key')
    check('Handshake was completed' in r.stdout and 'extension' in r.stdout,
          r.stdout + r.stderr)
    # A leaf whose name is not a label: refused, with the name in the message.
    certtool_sign(d, 'badname', S.alice, 'alice', [
        'cn = "bad name!"', 'tls_www_client', 'signing_key', 'expiration_days = 1',
        f'add_extension = "{OID} octet_string(0x{ext_hex({"version": 1, "command": {"op": "unikernel-info"}})})"'])
    got = raw_session(d, 'badname', b'')
    check(b'bad name!' in got and b'label' in got, got)
    S.serving()


def gnutls_cli(d, cert, key, priority=None, extra=()):
    if not shutil.which('gnutls-cli'):
        raise Skip('gnutls-cli (gnutls-bin) is not installed')
    args = ['gnutls-cli', '--x509cafile', os.path.join(S.pki, 'rootcert.pem'), '-p',
            str(S.port), '127.0.0.1']
    if cert:
        args += ['--x509certfile', cert, '--x509keyfile', key]
    if priority:
        args += ['--priority', priority]
    args += list(extra)
    # It ends at EOF on stdin: keep that open until it ends by itself, when the endpoint
    # has answered and closed (or refused), however long that takes.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(args, cwd=d, stdin=subprocess.PIPE, stdout=out, stderr=err)
        try:
            p.wait(2 * WAIT)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdin.close()
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(args, p.returncode,
                                           out.read().decode(errors='replace'),
                                           err.read().decode(errors='replace'))


@tap.case
def certtool_made_chain_accepted():
    """carol's CA and leaf made entirely by certtool, our extension added from a template,
    are accepted the same as ours; gnutls-cli with a good certificate completes the
    handshake and receives the reply, with a bad one is refused."""
    d = os.path.join(S.pki, 'carol')
    os.makedirs(d)
    pol = {'version': 1, 'policy': {'unikernels': 1, 'memory': 32, 'cpuids': [0],
                                    'bridges': ['br0']}}
    certtool_sign(d, 'carol', S.pki, 'rootcert', [
        'cn = "carol"', 'ca', 'cert_signing_key', 'crl_signing_key', 'expiration_days = 30',
        f'add_extension = "{OID} octet_string(0x{ext_hex(pol)})"'])
    cmd = {'version': 1, 'command': {'op': 'unikernel-info'}}
    certtool_sign(d, 'leaf', d, 'carol', [
        'cn = "."', 'tls_www_client', 'signing_key', 'expiration_days = 1',
        f'add_extension = "{OID} octet_string(0x{ext_hex(cmd)})"'])
    r = S.client('certificate', 'leaf.pem', 'leaf.key', '--destination', S.dest, '--server-ca',
                 os.path.join(S.pki, 'rootcert.pem'), '--json', cwd=d)
    check(json.loads(r.stdout) == [], r.stdout)
    pol_now = json.loads(S.local('policy', 'carol:', '--json').stdout)
    check(pol_now[0]['policy']['memory'] == 32, pol_now)
    r = gnutls_cli(d, 'leaf.pem', 'leaf.key')
    check('Handshake was completed' in r.stdout, r.stdout + r.stderr)
    check('unikernels' in r.stdout, 'the reply came: ' + r.stdout)
    evil = os.path.join(S.dir, 'evil')
    r = gnutls_cli(evil, 'unikernel-info.pem', 'unikernel-info.key')
    check("not issued by this endpoint's CA" in r.stdout, r.stdout + r.stderr)
    S.serving()


# certtool_sign reads ISSUER.pem and ISSUER.key; the root's are rootcert.pem and root.key.
def _root_links():
    for src, dst in (('root.key', 'rootcert.key'),):
        p = os.path.join(S.pki, dst)
        if not os.path.exists(p):
            os.symlink(src, p)


@tap.case
def no_client_certificate():
    """A client sending no certificate fails the handshake; the endpoint serves on."""
    r = gnutls_cli(S.pki, None, None)
    # TLS 1.3: the client's side of the handshake ends before the server judges it.
    check(r.returncode != 0 and 'unikernels' not in r.stdout, r.stdout + r.stderr)
    check('Certificate is required' in r.stdout + r.stderr or
          'certificate' in (r.stdout + r.stderr).lower(), r.stdout + r.stderr)
    check('TLS handshake failed: No certificate was found' in S.endpoint_log()
          or 'TLS handshake failed' in S.endpoint_log(), 'the endpoint logged it')
    S.serving()


@tap.case
def tls12_client_refused():
    """A client that speaks TLS 1.2 at most is refused; the endpoint serves on."""
    leaf = alice_leaf('info12', 'info')
    base = _req_name(leaf)[:-4]
    r = gnutls_cli(leaf, base + '.pem', base + '.key', priority='NORMAL:-VERS-ALL:+VERS-TLS1.2')
    check(r.returncode != 0 and 'Handshake was completed' not in r.stdout,
          r.stdout + r.stderr)
    r = gnutls_cli(leaf, base + '.pem', base + '.key')
    check('Handshake was completed' in r.stdout and '(TLS1.3' in r.stdout, r.stdout)
    S.serving()


@tap.case
def not_tls_and_wrong_server_ca():
    """Garbage instead of a handshake, and a client that does not trust the server's CA
    (exit 5); then a destination where nothing listens (exit 3)."""
    s = socket.create_connection(('127.0.0.1', S.port))
    s.sendall(b'\x00\x00\x00\x10' + b'x' * 16 + b'GET / HTTP/1.0\r\n\r\n')
    s.settimeout(2 * WAIT)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    s.close()
    r = S.client('info', '--destination', S.dest, '--ca', 'alice.pem', '--ca-key', 'alice.key',
                 '--server-ca', os.path.join(S.dir, 'evil', 'evilcert.pem'), cwd=S.alice,
                 rc=EXIT_TLS)
    check("server's certificate is not accepted" in r.stderr, r.stderr)
    # GnuTLS's verification text ends in a space: trimmed, no line of ours ends in one
    check(not any(line.endswith(' ') for line in r.stderr.splitlines()), repr(r.stderr))
    r = S.client('info', '--destination', f'127.0.0.1:{free_port()}', '--ca', 'alice.pem',
                 '--ca-key', 'alice.key', '--server-ca', os.path.join(S.pki, 'rootcert.pem'),
                 cwd=S.alice, rc=EXIT_CONNECT)
    check('Connection refused' in r.stderr, r.stderr)
    r = S.client('info', '--destination', 'nonsense', '--ca', 'alice.pem', '--ca-key',
                 'alice.key', '--server-ca', 'x', cwd=S.alice, rc=2)
    # a --ca-key that is not the key of --ca: a key file that cannot be used (exit 5),
    # said before anything is sent
    other = os.path.join(S.pki, 'root.key')
    r = S.client('info', '--destination', S.dest, '--ca', 'alice.pem', '--ca-key', other,
                 '--server-ca', os.path.join(S.pki, 'rootcert.pem'), cwd=S.alice,
                 rc=EXIT_TLS)
    check('does not belong to the certificate' in r.stderr, r.stderr)
    S.serving()


def raw_session(d, base, payload, timeout=2 * WAIT):
    """A TLS 1.3 session of our own (Python's ssl) with a client certificate: sends
    payload after the handshake, returns everything received until the endpoint closes."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(os.path.join(S.pki, 'rootcert.pem'))
    ctx.load_cert_chain(os.path.join(d, base + '.pem'), os.path.join(d, base + '.key'))
    raw = socket.create_connection(('127.0.0.1', S.port), timeout=timeout)
    with ctx.wrap_socket(raw, server_hostname='127.0.0.1') as t:
        t.sendall(payload)
        got = b''
        try:
            while True:
                b = t.recv(65536)
                if not b:
                    break
                got += b
        except (ssl.SSLError, ConnectionResetError):
            pass
    return got


@tap.case
def hostile_uploads():
    """Over a good session, an upload that is not one: a frame header announcing 4 GiB, a
    command where chunks belong, bytes sent for a command that takes none. Each gets a
    failure message naming the fault; nothing is created; the endpoint serves on."""
    leaf = alice_leaf('hostile', 'create', 'hostile', S.image, '--net', 'service:br0')
    base = _req_name(leaf)[:-4]
    got = raw_session(leaf, base, b'\xff\xff\xff\xff')
    check(b'exceeds the bound' in got, got)
    cmd = {'version': 1, 'seq': 1, 'name': 'hostile', 'command': {'op': 'unikernel-destroy'}}
    body = cbor(cmd)
    got = raw_session(leaf, base, len(body).to_bytes(4, 'big') + body)
    check(b'other than data chunks' in got, got)
    info = alice_leaf('quiet', 'info')
    got = raw_session(info, _req_name(info)[:-4], b'\x00\x00\x00\x00' * 64)
    # Either the reply came first, or the endpoint refused the stray bytes.
    check(b'unikernels' in got or b'takes no upload' in got, got)
    check(json.loads(S.local('info', 'alice:', '--json').stdout) == [], 'nothing created')
    S.serving()


@tap.case
def forged_chain_links():
    """The review's attack: alice's info leaf with forged certificates appended, which
    the TLS verification skips (a self-signed 'root' with its own key and a policy of
    the attacker's). Refused (no policy installed at 'root:'); and a CA 'bob' naming
    the root as issuer but signed by another key is refused too."""
    leaf = alice_leaf('forge', 'info')
    base = _req_name(leaf)[:-4]
    d = os.path.join(S.dir, 'forger')
    os.makedirs(d)
    pol = {'version': 1, 'policy': {'unikernels': 999, 'memory': 4000, 'cpuids': [0],
                                    'bridges': ['br0']}}
    certtool('--generate-privkey', '--key-type', 'ed25519', '--outfile', 'fakeroot.key', cwd=d)
    with open(os.path.join(d, 'fake.tmpl'), 'w') as f:
        f.write(f'cn = "root"\nca\ncert_signing_key\nexpiration_days = 30\n'
                f'add_extension = "{OID} octet_string(0x{ext_hex(pol)})"\n')
    certtool('--generate-self-signed', '--load-privkey', 'fakeroot.key', '--template',
             'fake.tmpl', '--outfile', 'fakeroot.pem', cwd=d)
    with open(os.path.join(leaf, base + '.pem')) as f, \
            open(os.path.join(d, 'fakeroot.pem')) as g, \
            open(os.path.join(leaf, 'forged.pem'), 'w') as out:
        out.write(f.read() + g.read())
    shutil.copy(os.path.join(leaf, base + '.key'), os.path.join(leaf, 'forged.key'))
    got = raw_session(leaf, 'forged', b'')
    check(b"bears the trust anchor's name" in got, got)
    paths = [p['path'] for p in json.loads(S.local('policy', ':', '--json').stdout)]
    check('root:' not in paths and 'root:alice:' not in paths, paths)
    # bob: issued in the root's name by the fake root's key, alice-like policy
    certtool_sign(d, 'bob', d, 'fakeroot', [
        'cn = "bob"', 'ca', 'cert_signing_key', 'expiration_days = 30',
        f'add_extension = "{OID} octet_string(0x{ext_hex(pol)})"'])
    r = S.client('info', '--destination', S.dest, '--ca', 'bob.pem', '--ca-key', 'bob.key',
                 '--server-ca', os.path.join(S.pki, 'rootcert.pem'), cwd=d, rc=EXIT_REFUSED)
    check('not accepted' in r.stderr or 'does not verify' in r.stderr, r.stderr)
    S.serving()


@tap.case
def tenant_server_certificate_refused():
    """A server certificate issued by a tenant's CA (alice's) chains to the root too: the
    client refuses such a server (exit 5), so a tenant cannot pose as the endpoint."""
    d = os.path.join(S.alice, 'impostor')
    os.makedirs(d)
    certtool('--generate-privkey', '--key-type', 'ed25519', '--outfile', 'srv.key', cwd=d)
    with open(os.path.join(d, 'srv.tmpl'), 'w') as f:
        f.write('cn = "127.0.0.1"\nip_address = "127.0.0.1"\n')
    certtool('--generate-request', '--load-privkey', 'srv.key', '--template', 'srv.tmpl',
             '--outfile', 'srv.req', cwd=d)
    S.client('sign', os.path.join(S.alice, 'alice.pem'), os.path.join(S.pki, 'certs.db'),
             os.path.join(S.alice, 'alice.key'), 'srv.req', cwd=d)
    port = free_port()
    p = S.start_endpoint(['--listen', f'127.0.0.1:{port}'], cert=os.path.join(d, 'srv'))
    r = S.client('info', '--destination', f'127.0.0.1:{port}', '--ca', 'alice.pem',
                 '--ca-key', 'alice.key', '--server-ca', os.path.join(S.pki, 'rootcert.pem'),
                 cwd=S.alice, rc=EXIT_TLS)
    check("is not issued by" in r.stderr, r.stderr)
    p.send_signal(signal.SIGTERM)
    check(p.wait(WAIT) == 0, 'stopped cleanly')


@tap.case
def frames_in_one_record_and_half_close():
    """A client of our own (Python's ssl) that sends a whole upload, chunk and end
    frame, in one write; and gnutls-cli closing its side at once (EOF on stdin) after a
    command without upload: both get their reply."""
    leaf = alice_leaf('onewrite', 'create', 'onewrite', S.image, '--net', 'service:br0',
                      '--arg', '--run')
    base = _req_name(leaf)[:-4]
    with open(S.image, 'rb') as f:
        image = f.read()
    chunk = cbor({'version': 1, 'seq': 1, 'name': 'onewrite',
                  'data': {'kind': 'chunk', 'chunk': image}})
    got = raw_session(leaf, base, len(chunk).to_bytes(4, 'big') + chunk + b'\0\0\0\0')
    check(b'created' in got, got)
    check([u['name'] for u in json.loads(S.local('info', 'alice:', '--json').stdout)] ==
          ['alice:onewrite'], 'created')
    leaf = alice_leaf('halfclose', 'destroy', 'onewrite')
    base = _req_name(leaf)[:-4]
    r = subprocess.run(['gnutls-cli', '--x509cafile', os.path.join(S.pki, 'rootcert.pem'),
                        '-p', str(S.port), '127.0.0.1', '--x509certfile', base + '.pem',
                        '--x509keyfile', base + '.key'], cwd=leaf, capture_output=True,
                       text=True, errors='replace', timeout=2 * WAIT, stdin=subprocess.DEVNULL)
    wait_for(lambda: json.loads(S.local('info', 'alice:', '--json').stdout) == [], WAIT,
             'the destroy')
    S.serving()


@tap.case
def unprivileged_endpoint():
    """--user nobody --group nogroup: the endpoint reads its files as root, then runs
    as nobody; it reaches albatrossd through a socket of the group nogroup (as with
    albatrossd --group); SIGHUP after the drop still reloads the CA and CRLs, keeping
    the server key (root's, mode 0600) read at the start."""
    import grp
    import pwd
    try:
        nobody, nogroup = pwd.getpwnam('nobody').pw_uid, grp.getgrnam('nogroup').gr_gid
    except KeyError:
        raise Skip('no user nobody or group nogroup')
    os.chown(S.d.socket, -1, nogroup)
    os.chmod(S.d.socket, 0o660)
    port = free_port()
    mark = len(S.endpoint_log())
    p = S.start_endpoint(['--listen', f'127.0.0.1:{port}', '--user', 'nobody', '--group',
                          'nogroup'])
    with open(f'/proc/{p.pid}/status') as f:
        uids = [line.split()[1:] for line in f if line.startswith(('Uid:', 'Gid:'))]
    check(uids[0] == [str(nobody)] * 4 and uids[1] == [str(nogroup)] * 4, uids)
    args = ['info', '--json', '--destination', f'127.0.0.1:{port}', '--ca', 'alice.pem',
            '--ca-key', 'alice.key', '--server-ca', os.path.join(S.pki, 'rootcert.pem')]
    check(isinstance(json.loads(S.client(*args, cwd=S.alice).stdout), list), 'served')
    p.send_signal(signal.SIGHUP)
    wait_for(lambda: 'Reloaded' in S.endpoint_log()[mark:], WAIT, 'the reload as nobody')
    check('keeping the certificate and key read at the start' in S.endpoint_log()[mark:],
          S.endpoint_log()[mark:])
    check(isinstance(json.loads(S.client(*args, cwd=S.alice).stdout), list), 'still served')
    p.send_signal(signal.SIGTERM)
    check(p.wait(WAIT) == 0, 'stopped cleanly')


@tap.case
def remote_stats_and_log():
    """Remote stats of alice's whole domain without --follow print one round and end (a
    read timeout over TLS, as locally); remote log shows alice's events only."""
    S.remote(S.alice, None, 'create', 'st', S.image, '--net', 'service:br0', '--arg', '--run')
    try:
        def one_round():
            r = S.remote(S.alice, None, 'stats', '--json')
            v = json.loads(r.stdout)
            return v if v else None
        v = wait_for(one_round, WAIT, 'a round of samples, remotely')
        # Names as in remote info: the domain's own, from the reply.
        check([x['name'] for x in v] == ['alice:st'], v)
        r = S.remote(S.alice, None, 'log', '--json', '--count', '50')
        events = json.loads(r.stdout)
        check(events and all(e.get('name', 'alice:').startswith('alice:') for e in events),
              events)
    finally:
        S.remote(S.alice, None, 'destroy', 'st')


@tap.case
def concurrent_sessions():
    """100 concurrent remote info sessions and 10 clients that connect and send nothing:
    every good session gets its reply; the idle ones are dropped at the handshake timeout."""
    leaf = alice_leaf('many', 'info')
    base = _req_name(leaf)[:-4]
    mark = len(S.endpoint_log())
    idle = [socket.create_connection(('127.0.0.1', S.port)) for _ in range(10)]
    procs = [subprocess.Popen([PATHS['client'], 'certificate', base + '.pem', base + '.key',
                               '--json', '--destination', S.dest, '--server-ca',
                               os.path.join(S.pki, 'rootcert.pem')], cwd=leaf,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(100)]
    bad = []
    for p in procs:
        out, err = p.communicate(timeout=5 * WAIT)
        if p.returncode != 0 or json.loads(out) != []:
            bad.append((p.returncode, out, err))
    check(not bad, f'{len(bad)} of 100 failed, e.g. {bad[:2]}')
    # Dropped, by the endpoint: each ends (EOF or reset) within the handshake timeout
    # and a generous margin, and the endpoint says why.
    for s in idle:
        s.settimeout(HANDSHAKE_TIMEOUT + 2 * WAIT)
        try:
            check(s.recv(1) == b'', 'an idle client got something')
        except ConnectionResetError:
            pass
        s.close()
    wait_for(lambda: S.endpoint_log()[mark:].count('TLS handshake failed') >= 10, WAIT,
             'the endpoint to log the 10 handshakes that timed out')
    S.serving()

    # Every session's process is gone (reaped), and no one-step signing left its
    # temporary key behind.
    def children(pid):
        out = []
        for d in os.listdir('/proc'):
            try:
                with open(f'/proc/{d}/stat') as f:
                    if int(f.read().rsplit(')', 1)[1].split()[1]) == pid:
                        out.append(d)
            except (OSError, ValueError, IndexError):
                pass
        return out
    wait_for(lambda: not children(S.endpoint.pid), WAIT, 'the sessions to be reaped')
    tmp = os.environ.get('TMPDIR', '/tmp')
    check(not [f for f in os.listdir(tmp) if f.startswith('albatross-client.')],
          'a temporary key directory was left')


@tap.case
def inetd_and_socket_activation():
    """--inetd serves one session on stdin/stdout; a socket passed by systemd's protocol
    (LISTEN_FDS) is served like --listen."""
    leaf = alice_leaf('modes', 'info')
    base = _req_name(leaf)[:-4]
    # inetd: accept here, hand the connection to the endpoint as stdin and stdout.
    lsock = socket.socket()
    lsock.bind(('127.0.0.1', 0))
    lsock.listen(1)
    port = lsock.getsockname()[1]
    cp = subprocess.Popen([PATHS['client'], 'certificate', base + '.pem', base + '.key',
                           '--json', '--destination', f'127.0.0.1:{port}', '--server-ca',
                           os.path.join(S.pki, 'rootcert.pem')], cwd=leaf,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    conn, _ = lsock.accept()
    ep = subprocess.Popen([PATHS['endpoint'], '--inetd', '--ca', 'rootcert.pem', '--cert',
                           '127.0.0.1.pem', '--key', '127.0.0.1.key', '--rundir', S.d.rundir],
                          cwd=S.pki, stdin=conn, stdout=conn, stderr=subprocess.PIPE)
    conn.close()
    out, err = cp.communicate(timeout=2 * WAIT)
    check(cp.returncode == 0 and json.loads(out) == [], out + err)
    check(ep.wait(WAIT) == 0, ep.stderr.read())
    ep.stderr.close()
    lsock.close()
    # Socket activation: fd 3, LISTEN_PID of the process that execs the endpoint.
    lsock = socket.socket()
    lsock.bind(('127.0.0.1', 0))
    lsock.listen(16)
    port = lsock.getsockname()[1]
    fd = lsock.fileno()
    move = '' if fd == 3 else f'exec 3<&{fd} {fd}<&-; '
    p = S.start_endpoint([], wrap=['sh', '-c', move + 'LISTEN_FDS=1 LISTEN_PID=$$ '
                                   'exec "$0" "$@"'], pass_fds=(fd,))
    lsock.close()
    check('socket activation' in S.endpoint_log(), 'the endpoint')
    r = S.client('certificate', base + '.pem', base + '.key', '--json', '--destination',
                 f'127.0.0.1:{port}', '--server-ca', os.path.join(S.pki, 'rootcert.pem'),
                 cwd=leaf)
    check(json.loads(r.stdout) == [], r.stdout)
    p.send_signal(signal.SIGTERM)
    check(p.wait(WAIT) == 0, 'stopped cleanly')


@tap.case
def ipv6_listen():
    """--listen [::1]:PORT serves IPv6."""
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(('::1', 0))
        port = s.getsockname()[1]
        s.close()
    except OSError:
        raise Skip('no IPv6 on loopback')
    # A server certificate for ::1 from the same root, made by certtool.
    certtool_sign(S.pki, 'v6', S.pki, 'rootcert', [
        'cn = "::1"', 'ip_address = "::1"', 'tls_www_server', 'signing_key',
        'expiration_days = 30'])
    p = S.start_endpoint(['--listen', f'[::1]:{port}'], cert='v6')
    r = S.client('info', '--json', '--destination', f'[::1]:{port}', '--ca', 'alice.pem',
                 '--ca-key', 'alice.key', '--server-ca', os.path.join(S.pki, 'rootcert.pem'),
                 cwd=S.alice)
    check(isinstance(json.loads(r.stdout), list), r.stdout)
    # The certificate of 127.0.0.1 does not name ::1: the client refuses the server.
    q = S.start_endpoint(['--listen', f'[::1]:{port + 1}'])
    r = S.client('info', '--destination', f'[::1]:{port + 1}', '--ca', 'alice.pem', '--ca-key',
                 'alice.key', '--server-ca', os.path.join(S.pki, 'rootcert.pem'), cwd=S.alice,
                 rc=EXIT_TLS)
    check("server's certificate is not accepted" in r.stderr, r.stderr)
    q.send_signal(signal.SIGTERM)
    check(q.wait(10) == 0, 'stopped cleanly')
    check(p.poll() is None, 'the IPv6 endpoint runs')
    s = socket.create_connection(('::1', port))
    s.close()
    p.send_signal(signal.SIGTERM)
    check(p.wait(WAIT) == 0, 'stopped cleanly')


# ---- issue 13: fairness, pre-authentication bounds, minimum rate ----

def tenant(name):
    """A tenant's CA below the root (made once), with room for a unikernel of 32 MB."""
    if not hasattr(S, 'tenants'):
        S.tenants = {}
    if name not in S.tenants:
        S.tenants[name] = S.user_ca(name, '2', '--mem', '64', '--cpu', '0', '--bridge', 'br0')
    return S.tenants[name]


def endpoint_at(*extra):
    """Another endpoint on a port of its own: (process, destination)."""
    port = free_port()
    dest = f'127.0.0.1:{port}'
    return S.start_endpoint(['--listen', dest] + list(extra)), dest


def remote_at(dest, ca_dir, *args, rc=0, timeout=60):
    """A command in one step, signed with the CA of ca_dir, sent to dest."""
    ca = os.path.basename(ca_dir)
    return S.client(*args, '--destination', dest, '--ca', f'{ca}.pem', '--ca-key', f'{ca}.key',
                    '--server-ca', os.path.join(S.pki, 'rootcert.pem'), cwd=ca_dir, rc=rc,
                    timeout=timeout)


class Follow:
    """`log --follow --count 1` of a tenant, in the background: streaming once it printed
    the tenant's last event (its policy was installed: there is one)."""

    def __init__(self, dest, ca_dir):
        ca = os.path.basename(ca_dir)
        self.err = tempfile.TemporaryFile()
        self.p = subprocess.Popen(
            [PATHS['client'], 'log', '--follow', '--count', '1', '--destination', dest,
             '--ca', f'{ca}.pem', '--ca-key', f'{ca}.key', '--server-ca',
             os.path.join(S.pki, 'rootcert.pem')], cwd=ca_dir, stdout=subprocess.PIPE,
            stderr=self.err)
        os.set_blocking(self.p.stdout.fileno(), False)
        self.out = b''

    def read(self):
        try:
            b = self.p.stdout.read()
        except (BlockingIOError, ValueError):
            b = None
        if b:
            self.out += b
        return self.out

    def streaming(self):
        check(self.p.poll() is None or self.read(),
              f'the follow exited: {self.stderr()}')
        return b'\n' in self.read()

    def stderr(self):
        self.err.seek(0)
        return self.err.read().decode(errors='replace')

    def ended(self):
        return self.p.poll() is not None

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            self.p.wait(WAIT)
        self.p.stdout.close()
        self.err.close()


def follows(dest, ca_dir, n):
    """n follows of the tenant, started one after the other, each streaming before the
    next starts (so that their age is their order)."""
    out = []
    for _ in range(n):
        f = Follow(dest, ca_dir)
        out.append(f)
        wait_for(f.streaming, 2 * WAIT, 'a follow to stream')
    return out


@tap.case
def one_tenant_cannot_hold_every_session():
    """One tenant holding every session: its oldest stream ends, told why; others served.

    Issue 13.4: with --max-sessions 8 (2 per tenant by default), 8 `log --follow` of
    ann: each new one ends ann's oldest stream, which is told the bound; ben's info is
    served. With a tenant share as large as the endpoint, ann holds all 8 streams, and
    ben's info ends her oldest one, naming --max-sessions."""
    ann, ben = tenant('ann'), tenant('ben')
    p, dest = endpoint_at('--max-sessions', '8')
    try:
        remote_at(dest, ann, 'info')  # her policy installed: an event in her log
        fs = follows(dest, ann, 8)
        for f in fs[:6]:
            wait_for(f.ended, 2 * WAIT, 'an older follow of ann to end')
            err = f.stderr()
            check(f.p.returncode == EXIT_FAILED and
                  "ended: tenant 'ann' holds 2 sessions, the bound "
                  "(--max-sessions-per-tenant)" in err, (f.p.returncode, err))
        check(not fs[6].ended() and not fs[7].ended(), 'her two newest streams go on')
        check(json.loads(remote_at(dest, ben, 'info', '--json').stdout) == [], 'ben served')
        check(not fs[6].ended() and not fs[7].ended(), 'ben took nothing of hers')
    finally:
        for f in locals().get('fs', []):
            f.stop()
        p.send_signal(signal.SIGTERM)
        check(p.wait(WAIT) == 0, 'stopped cleanly')
    p, dest = endpoint_at('--max-sessions', '8', '--max-sessions-per-tenant', '8',
                          '--max-sessions-per-source', '16')
    try:
        fs = follows(dest, ann, 8)
        check(not any(f.ended() for f in fs), 'ann holds all 8')
        check(json.loads(remote_at(dest, ben, 'info', '--json').stdout) == [], 'ben served')
        wait_for(fs[0].ended, 2 * WAIT, "ann's oldest stream to end")
        err = fs[0].stderr()
        check(fs[0].p.returncode == EXIT_FAILED and
              "ended: the endpoint holds 8 sessions, the bound (--max-sessions), tenant "
              "'ann' 8 of them" in err, (fs[0].p.returncode, err))
        check(not any(f.ended() for f in fs[1:]), 'only her oldest ended')
    finally:
        for f in locals().get('fs', []):
            f.stop()
        p.send_signal(signal.SIGTERM)
        check(p.wait(WAIT) == 0, 'stopped cleanly')


def tenant_leaf(ca_dir, name, *args):
    """A leaf of the tenant of ca_dir for a command, signed beforehand: (dir, base)."""
    ca = os.path.basename(ca_dir)
    d = os.path.join(ca_dir, 'leaves', name)
    os.makedirs(d, exist_ok=True)
    S.client(*args, '--csr', cwd=d)
    S.client('sign', os.path.join(ca_dir, f'{ca}.pem'), os.path.join(S.pki, 'certs.db'),
             os.path.join(ca_dir, f'{ca}.key'), _req_name(d), cwd=d)
    return d, _req_name(d)[:-4]


@tap.case
def tenant_rate_is_bounded():
    """A tenant that opens sessions in a fast loop is refused past its bucket.

    With --tenant-rate 1 --tenant-burst 3, six clients of dot run `info` one after the
    other as fast as they can: past its bucket each new session is refused at once
    (exit 1, "busy: ...", naming the bound), and what it got is within the bucket's
    bound, 3 + 1 a second. Meanwhile eve's info is served, and a sequence of 3 of her
    commands (her own bucket) is never refused; after the flood, dot's bucket refills
    and her commands a second apart are never refused."""
    rate, burst = 1, 3
    dot, eve = tenant('dot'), tenant('eve')
    p, dest = endpoint_at('--tenant-rate', str(rate), '--tenant-burst', str(burst))
    ldir, base = tenant_leaf(dot, 'rate-info', 'info')
    cmd = [PATHS['client'], 'certificate', base + '.pem', base + '.key', '--json',
           '--destination', dest, '--server-ca', os.path.join(S.pki, 'rootcert.pem')]
    results, lock, stop = [], threading.Lock(), threading.Event()

    def loop():
        while not stop.is_set():
            r = subprocess.run(cmd, cwd=ldir, capture_output=True, text=True,
                               timeout=2 * WAIT)
            with lock:
                results.append((r.returncode, r.stdout, r.stderr))

    def refused():
        with lock:
            return sum(1 for rc, _, _ in results if rc != 0)
    bound = (f"busy: tenant 'dot' opens sessions faster than {rate} a second, {burst} at "
             "once, the bound (--tenant-rate, --tenant-burst); try again in ")
    try:
        t0 = time.monotonic()
        threads = [threading.Thread(target=loop, daemon=True) for _ in range(6)]
        for t in threads:
            t.start()
        wait_for(lambda: refused() >= 5, 2 * WAIT, 'dot to be refused 5 times')
        # Eve, while dot floods: served, each of a sequence within her bucket.
        for _ in range(burst):
            r = remote_at(dest, eve, 'info', '--json')
            check(json.loads(r.stdout) == [], r.stdout)
        check(refused() >= 5 and p.poll() is None, 'the flood goes on')
    finally:
        stop.set()
        for t in locals().get('threads', []):
            t.join(3 * WAIT)
    elapsed = time.monotonic() - t0
    ok = [r for r in results if r[0] == 0]
    bad = [r for r in results if r[0] != 0]
    check(all(json.loads(out) == [] for _, out, _ in ok), ok[:2])
    check(all(rc == EXIT_FAILED and bound in err for rc, _, err in bad), bad[:3])
    print(f'# dot: {len(ok)} served, {len(bad)} refused in {elapsed:.1f} s', flush=True)
    # A token bucket: at most its burst and the rate over the time the flood ran.
    check(len(ok) <= burst + rate * elapsed + 1, (len(ok), len(bad), elapsed))
    check(f"(tenant 'dot'): refused: tenant 'dot' opens sessions faster" in S.endpoint_log(),
          'the endpoint logs the refusals')
    # Dot's bucket full again (burst / rate seconds, and a margin): commands a second
    # apart, the rate, are never refused.
    time.sleep(burst / rate + 0.5)
    for _ in range(burst + 2):
        r = subprocess.run(cmd, cwd=ldir, capture_output=True, text=True, timeout=2 * WAIT)
        check(r.returncode == 0 and json.loads(r.stdout) == [], (r.returncode, r.stderr))
        time.sleep(1 / rate)
    p.send_signal(signal.SIGTERM)
    check(p.wait(WAIT) == 0, 'stopped cleanly')


def session_processes(pid):
    """The session processes of the endpoint pid."""
    out = []
    for d in os.listdir('/proc'):
        try:
            with open(f'/proc/{d}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
                if int(fields[1]) == pid and fields[0] != 'Z':  # a zombie is gone
                    out.append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    return out


@tap.case
def strangers_cannot_starve_the_endpoint():
    """Strangers that never handshake do not keep a client of another address waiting.

    Issue 13.5: three times --max-handshakes connections from 127.0.0.5 that never
    start a handshake, held open: the endpoint takes them all (a process for as many as
    the handshake pool holds, the rest waiting without one), and a client from 127.0.0.1
    is served meanwhile, within its own handshake bound."""
    cid = tenant('cid')
    p, dest = endpoint_at('--max-handshakes', '8', '--handshake-timeout', str(2 * int(WAIT)))
    port = int(dest.rsplit(':', 1)[1])
    strangers = []
    try:
        for _ in range(24):
            s = socket.socket()
            s.bind(('127.0.0.5', 0))
            s.connect(('127.0.0.1', port))
            strangers.append(s)
        # All taken: 8 in the pool, each in a process; 16 waiting without one.
        wait_for(lambda: len(session_processes(p.pid)) == 8, WAIT, 'the pool to fill')
        r = remote_at(dest, cid, 'info', '--json')
        check(json.loads(r.stdout) == [], r.stdout)

        def held(s):
            try:
                return s.recv(1, socket.MSG_DONTWAIT) != b''
            except BlockingIOError:
                return True
            except OSError:
                return False
        # Still held (their deadline is far): the client did not wait for them to go.
        check(sum(held(s) for s in strangers) >= 16,
              f'{sum(held(s) for s in strangers)} of the 24 strangers held')
        wait_for(lambda: len(session_processes(p.pid)) <= 8 + 1, WAIT,
                 'the pool to bound the processes')
    finally:
        for s in strangers:
            s.close()
        p.send_signal(signal.SIGTERM)
        check(p.wait(WAIT) == 0, 'stopped cleanly')


def trickle(dest, d, base, head, body, every=0.25, cap=2 * WAIT):
    """A session of our own that sends head at once, then body a byte at a time every
    `every` seconds; returns what it received until the endpoint closed."""
    import ssl
    import time
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(os.path.join(S.pki, 'rootcert.pem'))
    ctx.load_cert_chain(os.path.join(d, base + '.pem'), os.path.join(d, base + '.key'))
    host, port = dest.rsplit(':', 1)
    raw = socket.create_connection((host, int(port)), timeout=cap)
    got = b''
    end = time.monotonic() + cap
    with ctx.wrap_socket(raw, server_hostname=host) as t:
        t.sendall(head)
        t.settimeout(every)
        i = 0
        while time.monotonic() < end:
            if i < len(body):
                try:
                    t.sendall(body[i:i + 1])
                    i += 1
                except OSError:
                    i = len(body)  # it closed: read what it said
            try:
                b = t.recv(65536)
                if not b:
                    break
                got += b
            except (socket.timeout, TimeoutError):
                continue
            except (ssl.SSLError, OSError):
                break
    return got


@tap.case
def trickling_upload_is_ended():
    """A trickling upload is ended, naming --min-rate; an honest one is not.

    Issue 13.4: an upload that trickles (a byte every 0.25 s) is ended after a rate
    window (here --min-rate 200 over --rate-window 4) with a failure naming the bound;
    an honest upload through the same endpoint is not."""
    dee = tenant('dee')
    p, dest = endpoint_at('--min-rate', '200', '--rate-window', '4')
    try:
        d = os.path.join(dee, 'leaves', 'trickle')
        os.makedirs(d, exist_ok=True)
        S.client('create', 'trickle', S.image, '--net', 'service:br0', '--csr', cwd=d)
        S.client('sign', os.path.join(dee, 'dee.pem'), os.path.join(S.pki, 'certs.db'),
                 os.path.join(dee, 'dee.key'), 'trickle.req', cwd=d)
        with open(S.image, 'rb') as f:
            image = f.read()
        chunk = cbor({'version': 1, 'seq': 1, 'name': 'trickle',
                      'data': {'kind': 'chunk', 'chunk': image}})
        got = trickle(dest, d, 'trickle', len(chunk).to_bytes(4, 'big'), chunk)
        check(b'the upload trickles' in got and b'the minimum is 200 bytes/s (--min-rate)'
              in got, got[-300:])
        check(json.loads(S.local('info', 'dee:', '--json').stdout) == [], 'nothing created')
        # An honest client on the same endpoint.
        remote_at(dest, dee, 'create', 'honest', S.image, '--net', 'service:br0', '--arg',
                  '--run')
        remote_at(dest, dee, 'destroy', 'honest')
    finally:
        p.send_signal(signal.SIGTERM)
        check(p.wait(WAIT) == 0, 'stopped cleanly')


@tap.case
def client_handshake_timeout_option():
    """albatross-client --handshake-timeout: a small bound fails with a timeout message.

    Against a listener that never answers, --handshake-timeout 1 fails with the timeout
    message (exit 5); a bad value, or the option without --destination, is a usage
    error."""
    eve = tenant('eve')
    l = socket.socket()
    l.bind(('127.0.0.1', 0))
    l.listen(8)  # never accepted: the kernel completes the connection, nobody answers
    try:
        dest = f'127.0.0.1:{l.getsockname()[1]}'
        r = remote_at(dest, eve, 'info', '--handshake-timeout', '1', rc=EXIT_TLS)
        check('timed out' in r.stderr and 'within 1000 ms' in r.stderr, r.stderr)
        r = remote_at(dest, eve, 'info', '--handshake-timeout', '0', rc=2)
        check('--handshake-timeout' in r.stderr, r.stderr)
        r = S.client('info', '--handshake-timeout', '3', rc=2)
        check('go with --destination' in r.stderr, r.stderr)
    finally:
        l.close()


# ---- issue 14: services over TLS ----

def sam():
    """A tenant's CA whose policy lets its services publish the host ports 8000-8099 and
    use 10.0.0.0/24 on br0, with room for two instances (an update runs both)."""
    if not hasattr(S, 'sam'):
        S.sam = S.user_ca('sam', '2', '--mem', '64', '--cpu', '0', '--bridge', 'br0',
                          '--ports', '8000-8099', '--prefix', 'br0=10.0.0.0/24')
    return S.sam


def deploy_args(name, *extra, publish='8000:80', prefix='10.0.0.0/24', image=None):
    """service deploy NAME on br0 with the default readiness (none: ready when it runs)
    and no drain, so that an update's old instance goes at once."""
    return ['service', 'deploy', name, image or S.image, '--mem', '32', '--net', 'br0',
            '--prefix', prefix, '--publish', publish, '--arg-template', '--ipv4={cidr}',
            '--arg-template', '--name={name}', '--arg', '--run', '--drain', '0', *extra]


def local_services(name=None):
    return json.loads(S.local('service', 'info', *([name] if name else []), '--json').stdout)


def local_unikernels(path):
    return [u['name'] for u in json.loads(S.local('info', path, '--json').stdout)]


def nft_table():
    """The text of table ip albatross (albatrossd's DNAT rules), or None without it."""
    if not shutil.which('nft'):
        raise Skip('nft (nftables) is not installed to read the rules back')
    r = subprocess.run(['nft', 'list', 'table', 'ip', 'albatross'], capture_output=True,
                       text=True)
    return r.stdout if r.returncode == 0 else None


def published_of(svc):
    v = [i for i in svc['instances'] if i['state'] == 'published']
    check(len(v) == 1, f'one published instance: {svc}')
    return v[0]


def sam_leaf(sub, *args):
    """A leaf of sam for a command, made with --csr and signed with sam's CA."""
    d = os.path.join(sam(), 'leaves', sub)
    os.makedirs(d, exist_ok=True)
    S.client(*args, '--csr', cwd=d)
    S.client('sign', os.path.join(S.sam, 'sam.pem'), os.path.join(S.pki, 'certs.db'),
             os.path.join(S.sam, 'sam.key'), _req_name(d), cwd=d)
    return d


@tap.case
def service_deploy_update_remove_remotely():
    """A tenant whose CA allows ports 8000-8099 and 10.0.0.0/24 on br0 deploys a service
    remotely (signed in one step), sees it with service info (named in its domain),
    updates it (a second instance, then only it) and removes it, all remotely."""
    d = sam()
    r = S.remote(d, None, *deploy_args('web'))
    check('deployed sam:web.1 at 10.0.0.' in r.stdout, r.stdout)
    svc = local_services('sam:web')
    check(len(svc) == 1, svc)
    first = published_of(svc[0])
    check(first['unikernel'] == 'sam:web.1' and svc[0]['publish'] ==
          [{'proto': 'tcp', 'host_address': None, 'host_port': 8000, 'port': 80}], svc)
    check(local_unikernels('sam:') == ['sam:web.1'], local_unikernels('sam:'))
    rules = nft_table()
    check(rules and 'tcp dport 8000' in rules and f"dnat to {first['address']}:80" in rules,
          rules)
    # Remote service info, of the domain and of the service: as albatrossd has it.
    for args in ((), ('web',)):
        v = json.loads(S.remote(d, None, 'service', 'info', *args, '--json').stdout)
        check([s['name'] for s in v] == ['sam:web'] and
              [i['unikernel'] for i in v[0]['instances']] == ['sam:web.1'] and
              published_of(v[0])['address'] == first['address'], (args, v))
    r = S.remote(d, None, 'service', 'info', 'web')
    check(r.stdout.startswith('sam:web: generation 1, 10.0.0.0/24 on br0') and
          '8000:80/tcp' in r.stdout and f"sam:web.1 {first['address']} published" in r.stdout,
          r.stdout)
    # The update: its instance starts beside the first (the policy's 2 unikernels, 64 MB),
    # is published, and the first goes (no drain).
    r = S.remote(d, None, *deploy_args('web', '--arg', '--v2'))
    check('deployed sam:web.2 at 10.0.0.' in r.stdout, r.stdout)
    wait_for(lambda: local_unikernels('sam:') == ['sam:web.2'], WAIT,
             'the first instance to retire')
    v = json.loads(S.remote(d, None, 'service', 'info', 'web', '--json').stdout)
    second = published_of(v[0])
    check(v[0]['generation'] == 2 and len(v[0]['instances']) == 1 and
          second['unikernel'] == 'sam:web.2' and second['address'] != first['address'] and
          v[0]['last_error'] is None, v)
    check('--v2' in v[0]['config']['arguments'], v[0]['config'])
    rules = nft_table()
    check(rules and f"dnat to {second['address']}:80" in rules and
          f"dnat to {first['address']}:" not in rules, rules)
    # Remote remove: the service and its instance are gone.
    r = S.remote(d, None, 'service', 'remove', 'web')
    check(r.stdout.strip() == 'removed sam:web', r.stdout)
    check(local_services() == [] and local_unikernels('sam:') == [], 'all gone')
    check(nft_table() is None, 'the table is gone')
    check(json.loads(S.remote(d, None, 'service', 'info', '--json').stdout) == [], 'remote')
    check("service-deploy sam:web" in S.endpoint_log(), S.endpoint_log()[-1000:])
    S.serving()


@tap.case
def service_deploy_outside_policy_refused_remotely():
    """A remote deploy publishing a host port outside the CA's range (9000), or in a prefix
    outside it (10.0.1.0/24), is refused naming the limit; nothing is deployed."""
    d = sam()
    # Refused when signing (the CA's policy), before a connection.
    r = S.remote(d, None, *deploy_args('web', publish='9000:80'), rc=EXIT_FAILED)
    check("does not fit inside the CA's policy: host port 9000 is outside its ports"
          in r.stderr, r.stderr)
    r = S.remote(d, None, *deploy_args('web', prefix='10.0.1.0/24'), rc=EXIT_FAILED)
    check("does not fit inside the CA's policy: prefix 10.0.1.0/24 on bridge br0 is not "
          "allowed" in r.stderr, r.stderr)
    # Nor a bridge the CA does not have (br1): refused when signing, before a connection.
    r = S.remote(d, None, 'service', 'deploy', 'web', S.image, '--mem', '32', '--net', 'br1',
                 '--prefix', '10.0.0.0/24', '--publish', '8000:80', rc=EXIT_FAILED)
    check("does not fit inside the CA's policy" in r.stderr, r.stderr)
    check(local_services() == [] and local_unikernels('sam:') == [], 'nothing deployed')
    S.serving()


@tap.case
def service_deploy_by_certificate():
    """The two steps: --csr writes a request for a service deploy, sign signs it, and
    certificate CERT KEY IMAGE deploys it (another image is refused); service info and
    remove go the same way."""
    leaf = sam_leaf('api', *deploy_args('api', publish='8001:53/udp'))
    check(_req_name(leaf) == 'api.req', os.listdir(leaf))
    other = mkimage(PATHS, os.path.join(S.dir, 'other-svc.spt'), nets=['service', 'x'])
    r = certificate(leaf, other, rc=EXIT_FAILED)
    check('not the image the certificate was made for' in r.stderr, r.stderr)
    check(local_services() == [], 'nothing deployed')
    r = certificate(leaf, S.image)
    check('deployed sam:api.1 at 10.0.0.' in r.stdout, r.stdout)
    svc = local_services('sam:api')
    check(len(svc) == 1 and published_of(svc[0])['unikernel'] == 'sam:api.1' and
          svc[0]['publish'][0]['proto'] == 'udp', svc)
    # The same certificate again is an update (a new generation), as a second create of
    # the same certificate would be a second create.
    r = certificate(leaf, S.image)
    check('deployed sam:api.2 at 10.0.0.' in r.stdout, r.stdout)
    wait_for(lambda: local_unikernels('sam:') == ['sam:api.2'], WAIT, 'api.1 to retire')
    info = sam_leaf('api-info', 'service', 'info')
    check(_req_name(info) == 'service-info.req', os.listdir(info))
    v = json.loads(certificate(info, '--json').stdout)
    check([s['name'] for s in v] == ['sam:api'] and v[0]['generation'] == 2, v)
    rm = sam_leaf('api-remove', 'service', 'remove', 'api')
    r = certificate(rm)
    check(r.stdout.strip() == 'removed sam:api', r.stdout)
    check(local_services() == [] and local_unikernels('sam:') == [], 'all gone')
    S.serving()


# ---- issue 16: progress over TLS, policies are local, no tender paths remotely ----

def on_pty(args, cwd, cap=2 * WAIT):
    """Runs args with stderr on a pseudo-terminal (stdin and stdout not): (exit status,
    stdout, what the terminal got). The terminal is read while the command runs, so that
    it never blocks on a full terminal."""
    master, slave = os.openpty()
    out = tempfile.TemporaryFile()
    try:
        p = subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=slave)
    finally:
        os.close(slave)
    term = b''
    deadline = time.monotonic() + cap
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    b = os.read(master, 65536)
                except OSError:  # EIO: every end of the terminal is closed
                    b = b''
                if not b:
                    break
                term += b
            elif p.poll() is not None:
                break
        else:
            p.kill()
            raise AssertionError(f'{" ".join(args)}: still running after {cap} s')
        p.wait(WAIT)
    finally:
        os.close(master)
    out.seek(0)
    stdout = out.read().decode(errors='replace')
    out.close()
    return p.returncode, stdout, term.decode(errors='replace')


def remote_args(ca_dir, *args):
    ca = os.path.basename(ca_dir)
    return [PATHS['client']] + list(args) + [
        '--destination', S.dest, '--ca', f'{ca}.pem', '--ca-key', f'{ca}.key',
        '--server-ca', os.path.join(S.pki, 'rootcert.pem')]


def big_file(path, mib=5, image=None):
    """A file of mib MiB and a bit: an image (the test image with bytes after its ELF
    data, which the image check ignores as any loader does) or data."""
    data = b''
    if image:
        with open(image, 'rb') as f:
            data = f.read()
    with open(path, 'wb') as f:
        f.write(data + os.urandom((mib << 20) + 12345 - len(data)))
    return path


def progress_drawn(term, label, mib):
    """The local progress bar's lines for label: drawn more than once, ends at 100 %."""
    bars = re.findall(r'\r' + re.escape(label) +
                      r'  \[([#-]{30})\] +(\d+)%  ([\d.]+)/([\d.]+) MiB', term)
    check(len(bars) >= 2, f'a progress bar for {label!r}: {term!r}')
    check(bars[-1][0] == '#' * 30 and bars[-1][1] == '100' and
          float(bars[-1][3]) == round(mib, 1), bars[-1])
    return bars


@tap.case
def progress_on_a_terminal():
    """Transfers over 4 MB with stderr on a terminal show the local progress bar, over TLS
    too: create, get, create-block --data, set-block, dump-block; without a terminal,
    nothing but the result."""
    img = big_file(os.path.join(S.dir, 'big.spt'), image=S.image)
    size = os.path.getsize(img) / (1 << 20)
    # Locally first: the format a remote transfer must show as well.
    rc, out, term = on_pty([PATHS['client'], '--socket', S.d.socket, 'create', 'alice:big',
                            img, '--mem', '16', '--net', 'service:br0', '--arg', '--run'],
                           S.dir)
    check(rc == 0 and out.strip() == 'created', (rc, out, term))
    progress_drawn(term, 'upload alice:big', size)
    S.local('destroy', 'alice:big')
    # Remotely: create and get of an image.
    rc, out, term = on_pty(remote_args(S.alice, 'create', 'big', img, '--mem', '16', '--net',
                                       'service:br0', '--arg', '--run'), S.alice)
    check(rc == 0 and out.strip() == 'created', (rc, out, term))
    progress_drawn(term, 'upload big', size)
    got = os.path.join(S.dir, 'big.got')
    rc, out, term = on_pty(remote_args(S.alice, 'get', 'big', got), S.alice)
    check(rc == 0, (rc, out, term))
    progress_drawn(term, 'download big', size)
    with open(img, 'rb') as a, open(got, 'rb') as b:
        check(a.read() == b.read(), 'the image came back as it was')
    # Without a terminal: the result alone, nothing on stderr.
    S.remote(S.alice, None, 'destroy', 'big')
    r = S.remote(S.alice, None, 'create', 'big', img, '--mem', '16', '--net', 'service:br0',
                 '--arg', '--run')
    check(r.stderr == '' and r.stdout.strip() == 'created', (r.stdout, r.stderr))
    os.unlink(got)
    r = S.remote(S.alice, None, 'get', 'big', got)
    check(r.stderr == '', r.stderr)
    S.remote(S.alice, None, 'destroy', 'big')

    # Block devices: a tenant with room for one of 8 MB.
    pat = S.user_ca('pat', '1', '--mem', '32', '--cpu', '0', '--bridge', 'br0', '--block',
                    '16')
    data = big_file(os.path.join(S.dir, 'big.data'), mib=6)
    size = os.path.getsize(data) / (1 << 20)
    rc, out, term = on_pty(remote_args(pat, 'create-block', 'disk', '8', '--data', data), pat)
    check(rc == 0 and out.strip() == 'block device created', (rc, out, term))
    progress_drawn(term, 'upload disk', size)
    rc, out, term = on_pty(remote_args(pat, 'set-block', 'disk', data), pat)
    check(rc == 0 and out.strip() == 'block device written', (rc, out, term))
    progress_drawn(term, 'upload disk', size)
    dump = os.path.join(S.dir, 'disk.dump')
    rc, out, term = on_pty(remote_args(pat, 'dump-block', 'disk', dump), pat)
    check(rc == 0, (rc, out, term))
    progress_drawn(term, 'download disk', 8)
    with open(data, 'rb') as a, open(dump, 'rb') as b:
        d = b.read()
        check(len(d) == 8 << 20 and d.startswith(a.read()), 'the data came back')
    r = S.remote(pat, None, 'set-block', 'disk', data)
    check(r.stderr == '', r.stderr)
    os.unlink(dump)
    r = S.remote(pat, None, 'dump-block', 'disk', dump)
    check(r.stderr == '', r.stderr)
    # A small transfer (under 4 MB) draws nothing, even on a terminal.
    rc, out, term = on_pty(remote_args(S.alice, 'create', 'small', S.image, '--mem', '16',
                                       '--net', 'service:br0', '--arg', '--run'), S.alice)
    check(rc == 0 and '[' not in term and 'MiB' not in term, (rc, out, term))
    S.remote(S.alice, None, 'destroy', 'small')
    S.remote(pat, None, 'destroy-block', 'disk')
    for f in (img, got, data, dump):
        os.unlink(f)
    S.serving()


@tap.case
def policies_are_local():
    """Remote remove-policy and add-policy (without --csr) say that policies are managed
    on the host and come from the chain's CA certificates, before any connection;
    add-policy --csr still makes a CA request."""
    nobody = f'127.0.0.1:{free_port()}'  # no endpoint there: nothing may connect
    cases = [('remove-policy', 'alice:'), ('remove-policy', 'sub:'),
             ('add-policy', 'sub:', '1', '--mem', '16')]
    for args in cases:
        for dest in (S.dest, nobody):
            r = remote_at(dest, S.alice, *args, rc=2)
            check('policies are managed locally' in r.stderr and
                  'albatross-client add-policy / remove-policy' in r.stderr and
                  'CA certificates of your chain' in r.stderr and
                  'label' not in r.stderr, (args, r.stderr))
    # Not a certificate's command either.
    d = os.path.join(S.dir, 'policy-csr')
    os.makedirs(d)
    r = S.client('remove-policy', 'sub:', '--csr', cwd=d, rc=2)
    check('policies are managed locally' in r.stderr, r.stderr)
    # A CA request for a policy is what a tenant makes.
    r = S.client('add-policy', 'sub:', '1', '--mem', '16', '--csr', cwd=d)
    check('a CA request for a policy' in r.stdout and
          sorted(os.listdir(d)) == ['sub.key', 'sub.req'], (r.stdout, os.listdir(d)))
    # Locally both work as ever.
    S.local('add-policy', 'alice:sub:', '1', '--mem', '16')
    S.local('remove-policy', 'alice:sub:')
    S.serving()


@tap.case
def tenders_without_paths_remotely():
    """A remote tenders shows each tender's target, ABI and version, not where it is on
    the host: no PATH column, and path null in --json; locally the paths are there."""
    local = json.loads(S.local('tenders', '--json').stdout)
    check(local and all(t['path'].startswith('/') for t in local), local)
    remote = json.loads(S.remote(S.alice, None, 'tenders', '--json').stdout)
    check([t['path'] for t in remote] == [None] * len(local), remote)
    check([dict(t, path=None) for t in local] == remote, (local, remote))
    text = S.remote(S.alice, None, 'tenders').stdout
    lines = text.splitlines()
    check(lines[0].split() == ['NAME', 'TARGET', 'ABI', 'VERSION', 'USABLE'], text)
    for t in local:
        check(t['path'] not in text and os.path.dirname(t['path']) not in text, text)
        check(any(line.split()[:3] == [t['name'], t['target'], str(t['abi'])]
                  for line in lines[1:]), (t, text))
    text = S.local('tenders').stdout
    check(text.splitlines()[0].split()[-1] == 'PATH', text)
    check(all(t['path'] in text for t in local), text)


try:
    S.start()
    _root_links()
    rc = tap.run()
finally:
    S.cleanup()
sys.exit(rc)
