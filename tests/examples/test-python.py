#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The Python binding (examples/python/albatross.py, ctypes over the installed
libalbatross.so.0) driving a real albatrossd with the test tender, as root in a
private network namespace (exit 77 otherwise).

usage: test-python.py LIBDIR ALBATROSSD TENDER_DIR MKIMAGE BINDING_DIR"""
import errno
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                                'integration'))
from harness import Daemon, Tap, check, mkimage, require_netns  # noqa: E402

require_netns(sys.argv)
libdir, albatrossd, tender_dir, mk, binding = (os.path.abspath(a) for a in sys.argv[1:6])
os.environ['ALBATROSS_LIBRARY'] = os.path.join(libdir, 'libalbatross.so.0')
sys.path.insert(0, binding)
import albatross  # noqa: E402

PATHS = {'albatrossd': albatrossd, 'tender_dir': tender_dir, 'mkimage': mk, 'client': None}
tap = Tap()
D = Daemon(PATHS, extra=['--stop-timeout', '2'])


@tap.case
def names_and_policies():
    """Names parse and print as the library says; policies nest (the static check)."""
    check(str(albatross.Name('Alice:Web')) == 'alice:web', 'lowercased')
    check(albatross.Name('alice:').is_path, 'a path')
    try:
        albatross.Name('bad name!')
        raise AssertionError('a bad name was accepted')
    except albatross.AlbatrossError as e:
        # Said once: not "invalid name 'bad name!': invalid name 'bad name!': ...".
        check(e.errno == errno.EINVAL and 'bad name!' in str(e) and
              str(e).count('invalid name') == 1, str(e))
    outer = albatross.Policy(unikernels=2, memory=64, cpus=[0], bridges=['br0'])
    inner = albatross.Policy(unikernels=1, memory=32, cpus=[0], bridges=['br0'])
    big = albatross.Policy(unikernels=1, memory=128, cpus=[0])
    check(inner.fits_in(outer), 'inner fits')
    check(not big.fits_in(outer) and '128' in big.why, big.why)
    check('64' in str(outer), str(outer))
    check(albatross.version(), 'a version')


@tap.case
def client_lifecycle():
    """connect, create, info, destroy against the real albatrossd."""
    img = mkimage(PATHS, os.path.join(D.dir, 'py.spt'), nets=['service'])
    with albatross.Client(D.socket) as c:
        check(c.info() == [], 'nothing runs yet')
        c.create('py', img, memory=16, nets=[('service', 'br0')],
                 arguments=['--hello=from-python', '--run'])
        u = c.info('py')
        check(len(u) == 1 and u[0]['name'] == 'py' and u[0]['state'] == 'running' and
              u[0]['pid'] > 0 and u[0]['memory'] == 16, u)
        try:
            c.create('py', img, nets=[('service', 'br0')])
            raise AssertionError('created twice')
        except albatross.AlbatrossError as e:
            check(e.errno == errno.EEXIST and 'exists' in str(e), str(e))
        c.destroy('py')
        check(c.info() == [], 'gone')
        try:
            c.destroy('py')
            raise AssertionError('destroyed twice')
        except albatross.AlbatrossError as e:
            check(e.errno == errno.ENOENT, str(e))


@tap.case
def connect_refused():
    """No albatrossd at a path: a clear error."""
    try:
        albatross.Client(os.path.join(D.dir, 'nothing.sock'))
        raise AssertionError('connected to nothing')
    except albatross.AlbatrossError as e:
        check(e.errno == errno.ENOENT and 'is albatrossd running' in str(e), str(e))


try:
    D.start()
    rc = tap.run()
finally:
    D.cleanup()
sys.exit(rc)
