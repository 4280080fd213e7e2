#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The certificate commands of albatross-client (generate, sign, revoke) on
local files, with requests made by GnuTLS's certtool (not our code).

usage: test-certs.py CLIENT"""
import base64
import os
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import WAIT, Skip, Tap, cbor, check  # noqa: E402

CLIENT = os.path.abspath(sys.argv[1])
OID = '2.25.2050259381022744719'
tap = Tap()


def run(*args, cwd, ok=True):
    r = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=2 * WAIT)
    if ok is not None and (r.returncode == 0) != ok:
        raise AssertionError(f'{args}: exit {r.returncode}\n{r.stdout}\n{r.stderr}')
    return r


def client(*args, cwd, ok=True):
    return run(CLIENT, *args, cwd=cwd, ok=ok)


def certtool_request(d, name, extension_hex=None, ca=False):
    if not shutil.which('certtool'):
        raise Skip('certtool (gnutls-bin) is not installed')
    tmpl = os.path.join(d, name + '.tmpl')
    with open(tmpl, 'w') as f:
        f.write(f'cn = "{name}"\n')
        if ca:
            f.write('ca\ncert_signing_key\n')
        if extension_hex:
            f.write(f'add_extension = "{OID} octet_string(0x{extension_hex})"\n')
    run('certtool', '--generate-privkey', '--key-type', 'ed25519', '--outfile', name + '.key',
        cwd=d)
    run('certtool', '--generate-request', '--load-privkey', name + '.key', '--template', tmpl,
        '--outfile', name + '.req', cwd=d)


def verify(d, cert, ca='cacert.pem'):
    if not shutil.which('certtool'):
        raise Skip('certtool (gnutls-bin) is not installed')
    with open(os.path.join(d, cert)) as f, open(os.path.join(d, ca)) as g:
        chain = f.read() + g.read()
    r = subprocess.run(['certtool', '--verify-chain'], input=chain, capture_output=True,
                       text=True, cwd=d)
    check(r.returncode == 0 and 'Verified' in r.stdout, f'{cert} does not verify: {r.stdout}')


def policy_hex(unikernels, memory, cpus, bridges):
    value = {'version': 1, 'policy': {'unikernels': unikernels, 'memory': memory,
                                      'cpuids': cpus, 'bridges': bridges}}
    return cbor(value).hex()


def pem_der(path):
    """The DER of the first certificate in a PEM file."""
    with open(path) as f:
        lines = f.read().splitlines()
    start = lines.index('-----BEGIN CERTIFICATE-----')
    end = lines.index('-----END CERTIFICATE-----', start)
    return base64.b64decode(''.join(lines[start + 1:end]))


def workdir():
    return tempfile.mkdtemp(prefix='alb-certs-', dir=os.environ.get('TMPDIR'))


@tap.case
def test_generate(_):
    """generate writes a CA and a server certificate, keys 0600, never overwrites"""
    d = workdir()
    try:
        r = client('generate', 'ca', 'db', cwd=d)
        for f in ('cacert.pem', 'ca.key', 'server.pem', 'server.key'):
            check(os.path.exists(os.path.join(d, f)), f'{f} missing: {r.stdout}')
        for k in ('ca.key', 'server.key'):
            check(stat.S_IMODE(os.stat(os.path.join(d, k)).st_mode) == 0o600, f'{k} mode')
        verify(d, 'server.pem')
        with open(os.path.join(d, 'db')) as f:
            check(len(f.read().splitlines()) == 1, 'db: one serial for the server')
        with open(os.path.join(d, 'ca.key'), 'rb') as f:
            key = f.read()
        r = client('generate', 'ca', 'db', cwd=d, ok=False)
        check(r.returncode == 1 and 'not overwriting' in r.stderr, r.stderr)
        with open(os.path.join(d, 'ca.key'), 'rb') as f:
            check(f.read() == key, 'the CA key was overwritten')
        r = client('generate', 'Bad_Name', 'db', cwd=d, ok=False)
        check(r.returncode == 2, r.stderr)
        r = client('generate', 'ca2', 'db', '--key-type', 'dsa', cwd=d, ok=False)
        check(r.returncode == 2, r.stderr)
        client('generate', 'ca3', 'db', '--key-type', 'p256', '--server', 'host3', cwd=d)
        verify(d, 'host3.pem', 'ca3cert.pem')
    finally:
        shutil.rmtree(d, ignore_errors=True)


@tap.case
def test_sign_server_and_policy(_):
    """sign: a request without the extension becomes a server certificate, one with a
    policy an intermediate CA; a policy beyond the CA's is refused"""
    d = workdir()
    try:
        client('generate', 'ca', 'db', cwd=d)
        certtool_request(d, 'www')
        r = client('sign', 'cacert.pem', 'db', 'ca.key', 'www.req', cwd=d)
        check('server certificate' in r.stdout, r.stdout)
        verify(d, 'www.pem')
        certtool_request(d, 'alice', policy_hex(2, 64, [0], ['br0']), ca=True)
        r = client('sign', 'cacert.pem', 'db', 'ca.key', 'alice.req', cwd=d)
        check('CA certificate' in r.stdout, r.stdout)
        verify(d, 'alice.pem')
        # alice's CA signs a smaller policy, refuses a bigger one
        certtool_request(d, 'team', policy_hex(1, 32, [0], ['br0']), ca=True)
        client('sign', 'alice.pem', 'db', 'alice.key', 'team.req', cwd=d)
        certtool_request(d, 'greedy', policy_hex(3, 32, [0], ['br0']), ca=True)
        r = client('sign', 'alice.pem', 'db', 'alice.key', 'greedy.req', cwd=d, ok=False)
        check(r.returncode == 1 and 'unikernels' in r.stderr, r.stderr)
        check(not os.path.exists(os.path.join(d, 'greedy.pem')), 'refused but written')
        with open(os.path.join(d, 'db')) as f:
            check(len(f.read().splitlines()) == 4, 'db lines')
    finally:
        shutil.rmtree(d, ignore_errors=True)


@tap.case
def test_sign_refusals(_):
    """sign refuses a wrong CA key, a garbage extension, a missing request"""
    d = workdir()
    try:
        client('generate', 'ca', 'db', cwd=d)
        client('generate', 'other', 'db2', '--server', 'srv2', cwd=d)
        certtool_request(d, 'www')
        r = client('sign', 'cacert.pem', 'db', 'other.key', 'www.req', cwd=d, ok=False)
        check(r.returncode == 1, r.stderr)
        certtool_request(d, 'junk', 'a1636675636b01')
        r = client('sign', 'cacert.pem', 'db', 'ca.key', 'junk.req', cwd=d, ok=False)
        check(r.returncode == 1, r.stderr)
        r = client('sign', 'cacert.pem', 'db', 'ca.key', 'missing.req', cwd=d, ok=False)
        check(r.returncode == 1 and 'missing.req' in r.stderr, r.stderr)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@tap.case
def test_revoke(_):
    """revoke writes and extends a CRL with the serials; without a serial it writes a CRL
    that revokes nothing"""
    d = workdir()
    try:
        client('generate', 'ca', 'db', cwd=d)
        client('revoke', 'cacert.pem', 'ca.key', '--crl', 'empty.pem', cwd=d)
        if shutil.which('certtool'):
            r = run('certtool', '--crl-info', '--infile', 'empty.pem', cwd=d)
            check('Revoked certificates (0)' in r.stdout or 'Revoked certificates' not in
                  r.stdout, r.stdout)
            r = run('certtool', '--verify-crl', '--load-ca-certificate', 'cacert.pem',
                    '--infile', 'empty.pem', cwd=d)
            check(r.returncode == 0, r.stdout + r.stderr)
        r = client('revoke', 'cacert.pem', cwd=d, ok=False)
        check(r.returncode == 2 and 'missing CAKEY' in r.stderr, r.stderr)
        certtool_request(d, 'www')
        client('sign', 'cacert.pem', 'db', 'ca.key', 'www.req', cwd=d)
        with open(os.path.join(d, 'db')) as f:
            serials = [line.split()[0] for line in f.read().splitlines()]
        client('revoke', 'cacert.pem', 'ca.key', serials[0], cwd=d)
        client('revoke', 'cacert.pem', 'ca.key', serials[1], cwd=d)
        if shutil.which('certtool'):
            r = run('certtool', '--crl-info', '--infile', 'crl.pem', cwd=d)
            for s in serials:
                check(s.lower() in r.stdout.replace(':', '').lower(), f'{s} not in the CRL')
        r = client('revoke', 'cacert.pem', 'ca.key', 'zz', cwd=d, ok=False)
        check(r.returncode == 1, r.stderr)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@tap.case
def test_policy_services(_):
    """a CA request made by add-policy --csr carries --ports and --prefix; the signed CA
    certificate holds them (its extension is the CBOR of protocol.md, encoded here
    independently); requests outside them are refused naming the limit, inside signed"""
    d = workdir()
    try:
        client('generate', 'ca', 'db', cwd=d)
        client('add-policy', 'alice:', '2', '--mem', '64', '--cpu', '0', '--bridge', 'br1',
               '--prefix', 'br1=192.168.1.0/24', '--bridge', 'br0', '--ports', '8000-8080',
               '--prefix', 'br0=10.0.0.0/16', '--csr', cwd=d)
        r = client('sign', 'cacert.pem', 'db', 'ca.key', 'alice.req', cwd=d)
        check('CA certificate' in r.stdout, r.stdout)
        verify(d, 'alice.pem')
        expected = cbor({'version': 1, 'policy': {
            'unikernels': 2, 'memory': 64, 'cpuids': [0], 'bridges': ['br0', 'br1'],
            'ports': [8000, 8080],
            'prefixes': [{'bridge': 'br0', 'prefix': '10.0.0.0/16'},
                         {'bridge': 'br1', 'prefix': '192.168.1.0/24'}]}})
        n = len(expected)  # an OCTET STRING around it, DER length (docs/x509.md)
        octets = bytes([0x04] + ([n] if n < 128 else [0x81, n] if n < 256 else
                                 [0x82, n >> 8, n & 0xff])) + expected
        check(octets in pem_der(os.path.join(d, 'alice.pem')),
              'alice.pem does not carry the policy with its ports and prefixes')

        def request(name, **extra):
            pol = {'unikernels': 1, 'memory': 32, 'cpuids': [0], 'bridges': ['br0', 'br1']}
            pol.update(extra)
            certtool_request(d, name, cbor({'version': 1, 'policy': pol}).hex(), ca=True)
            return client('sign', 'alice.pem', 'db', 'alice.key', name + '.req', cwd=d,
                          ok=None)

        refusals = [
            ('wide', {'ports': [7999, 8080]}, 'ports 7999-8080 exceed 8000-8080'),
            ('other', {'prefixes': [{'bridge': 'br0', 'prefix': '10.1.0.0/24'}]},
             "prefix 10.1.0.0/24 on bridge 'br0' is not allowed"),
            ('swapped', {'prefixes': [{'bridge': 'br1', 'prefix': '10.0.0.0/24'}]},
             "prefix 10.0.0.0/24 on bridge 'br1' is not allowed"),
        ]
        for name, extra, needle in refusals:
            r = request(name, **extra)
            check(r.returncode == 1 and needle in r.stderr, f'{name}: {r.stderr}')
            check(not os.path.exists(os.path.join(d, name + '.pem')), f'{name}: written')
        # a malformed one: the prefix's bridge is not among the policy's bridges
        r = request('stray', bridges=['br0'],
                    prefixes=[{'bridge': 'br1', 'prefix': '192.168.1.0/24'}])
        check(r.returncode == 1 and "bridge 'br1' is not one of the policy's bridges"
              in r.stderr, r.stderr)
        # inside: signed; no ports nor prefixes fits too
        r = request('team', ports=[8080, 8080],
                    prefixes=[{'bridge': 'br0', 'prefix': '10.0.3.0/24'}])
        check(r.returncode == 0 and 'CA certificate' in r.stdout, r.stderr)
        r = request('plain')
        check(r.returncode == 0 and 'CA certificate' in r.stdout, r.stderr)
    finally:
        shutil.rmtree(d, ignore_errors=True)


sys.exit(tap.run(None))
