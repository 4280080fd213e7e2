#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""GnuTLS, libnftables, libnl and hwloc are loaded on demand (docs/abi.md): neither
libalbatross.so nor albatross-client has them in DT_NEEDED, a local command does not
load them (LD_DEBUG=files shows what the dynamic loader opens), and a certificate
command and a remote command do load GnuTLS. With root, in a network namespace of its
own, 'info' against a real albatrossd; without, a local command that cannot connect.

usage: test-lazy-libraries.py LIBALBATROSS ALBATROSSD CLIENT TENDER_DIR MKIMAGE"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import WAIT, Daemon, Skip, Tap, check, require_netns  # noqa: E402

LIB = os.path.abspath(sys.argv[1])
PATHS = dict(zip(('albatrossd', 'client', 'tender_dir', 'mkimage'),
                 [os.path.abspath(p) for p in sys.argv[2:6]]))
CLIENT = PATHS['client']
# With root: the whole test in a network namespace of its own (albatrossd, the remote
# command); without, the cases that need it are skipped.
if os.geteuid() == 0:
    require_netns(sys.argv)
tap = Tap()

LAZY = re.compile(r'lib(gnutls|nftables|nl-[a-z-]*3|hwloc)\b')
GNUTLS = re.compile(r'libgnutls\.so')


def needed(path):
    r = subprocess.run(['readelf', '-d', path], capture_output=True, text=True, check=True)
    return re.findall(r'\(NEEDED\)\s+Shared library: \[([^\]]+)\]', r.stdout)


def loaded(*args, cwd=None, rc=None):
    """The files the dynamic loader opened for the client with args, and its result."""
    env = dict(os.environ, LD_DEBUG='files')
    r = subprocess.run([CLIENT, *args], capture_output=True, text=True, env=env, cwd=cwd,
                       timeout=2 * WAIT)
    if rc is not None:
        check(r.returncode == rc, f'{args}: exit {r.returncode}, not {rc}:\n{r.stdout}\n'
              + '\n'.join(l for l in r.stderr.splitlines() if 'file=' not in l))
    files = set(re.findall(r'\bfile=(\S+)', r.stderr))
    return files, r


@tap.case
def test_needed(_):
    """libalbatross.so and albatross-client have no DT_NEEDED on the lazy libraries"""
    for path in (LIB, CLIENT):
        libs = needed(path)
        check(libs, f'readelf found no DT_NEEDED in {path}')
        bad = [lib for lib in libs if LAZY.search(lib)]
        check(not bad, f'{path} needs {bad}')


@tap.case
def test_version(_):
    """--version loads none of them"""
    files, r = loaded('--version', rc=0)
    check('libalbatross.so.0' in files, f'LD_DEBUG shows nothing: {sorted(files)}')
    bad = [f for f in files if LAZY.search(f)]
    check(not bad, f'--version loaded {bad}')


@tap.case
def test_local_unreachable(_):
    """a local command that cannot connect loads none of them"""
    d = tempfile.mkdtemp(prefix='alb-lazy-', dir=os.environ.get('TMPDIR'))
    try:
        files, r = loaded('--socket', os.path.join(d, 'nothing.sock'), 'info')
        check(r.returncode != 0, 'info against no socket succeeded')
        bad = [f for f in files if LAZY.search(f)]
        check(not bad, f'info loaded {bad}')
    finally:
        shutil.rmtree(d, ignore_errors=True)


@tap.case
def test_certificate_command(_):
    """generate (certificates) loads GnuTLS and works"""
    d = tempfile.mkdtemp(prefix='alb-lazy-', dir=os.environ.get('TMPDIR'))
    try:
        files, r = loaded('generate', 'ca', 'db', cwd=d, rc=0)
        check(any(GNUTLS.search(f) for f in files), f'generate did not load GnuTLS: {files}')
        for f in ('cacert.pem', 'ca.key', 'server.pem', 'server.key'):
            check(os.path.exists(os.path.join(d, f)), f'{f} missing')
    finally:
        shutil.rmtree(d, ignore_errors=True)


def need_netns():
    if os.environ.get('ALB_IN_NETNS') != '1':
        raise Skip('needs root and a network namespace')


@tap.case
def test_remote_command(_):
    """a remote command loads GnuTLS (and fails cleanly: nothing listens)"""
    need_netns()
    d = tempfile.mkdtemp(prefix='alb-lazy-', dir=os.environ.get('TMPDIR'))
    try:
        loaded('generate', 'ca', 'db', cwd=d, rc=0)
        files, r = loaded('info', '--destination', '127.0.0.1:1', '--ca', 'cacert.pem',
                          '--ca-key', 'ca.key', '--server-ca', 'cacert.pem', cwd=d)
        check(r.returncode != 0, 'a remote info to a closed port succeeded')
        check(any(GNUTLS.search(f) for f in files), 'the remote info did not load GnuTLS')
        check('refused' in r.stderr.lower(), f'not the connect failure: {r.stderr[-500:]}')
    finally:
        shutil.rmtree(d, ignore_errors=True)


@tap.case
def test_local_info(_):
    """info against a real albatrossd loads none of them, and answers"""
    need_netns()
    daemon = Daemon(PATHS)
    try:
        daemon.start()
        files, r = loaded('--socket', daemon.socket, 'info', '--json', rc=0)
        check(r.stdout.strip() == '[]', f'info of no unikernels: {r.stdout}')
        bad = [f for f in files if LAZY.search(f)]
        check(not bad, f'info loaded {bad}')
    finally:
        daemon.cleanup()


sys.exit(tap.run(None))
