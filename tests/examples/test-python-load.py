#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""How the Python binding (examples/python/albatross.py) finds libalbatross, and its
messages, with no daemon (any user):
- in a checkout where scripts/run built build-release/ (the quick start's layout:
  build-release/libalbatross/libalbatross.so.0) it loads that library, with neither
  ALBATROSS_LIBRARY nor LD_LIBRARY_PATH set;
- ALBATROSS_LIBRARY wins, and a wrong one is an ImportError that names it;
- an error of the library is said once ("invalid name 'bad name': ...", not twice).

usage: test-python-load.py BUILD_DIR BINDING_DIR
  BUILD_DIR: a meson build directory of libalbatross (its libalbatross/libalbatross.so.0)"""
import os
import shutil
import subprocess
import sys
import tempfile

build, binding = (os.path.abspath(a) for a in sys.argv[1:3])
lib = os.path.join(build, 'libalbatross', 'libalbatross.so.0')
n = 0
failed = 0


def result(ok, what, detail=''):
    global n, failed
    n += 1
    print(f'{"ok" if ok else "not ok"} {n} - {what}')
    if not ok:
        failed = 1
        for line in str(detail).splitlines():
            print(f'# {line}')
        print(f'not ok {n} - {what}: {detail}', file=sys.stderr)


def py(code, tree, **env):
    """Runs code with the binding of tree, in a clean environment: stdout, stderr, rc."""
    e = {k: v for k, v in os.environ.items()
         if k not in ('ALBATROSS_LIBRARY', 'LD_LIBRARY_PATH', 'PYTHONPATH')}
    e.update(env)
    p = subprocess.run([sys.executable, '-c', code], cwd='/', env=e, capture_output=True,
                       text=True, timeout=60)
    return p.stdout, p.stderr, p.returncode


print('1..5')
with tempfile.TemporaryDirectory(prefix='alb-pyload.') as tmp:
    # A checkout as scripts/run leaves it: meson.build at the top, the binding in
    # examples/python/, the release build in build-release/.
    tree = os.path.join(tmp, 'checkout')
    os.makedirs(os.path.join(tree, 'examples', 'python'))
    open(os.path.join(tree, 'meson.build'), 'w').close()
    shutil.copy(os.path.join(binding, 'albatross.py'),
                os.path.join(tree, 'examples', 'python'))
    os.symlink(build, os.path.join(tree, 'build-release'))
    pydir = os.path.join(tree, 'examples', 'python')
    imp = f'import sys; sys.path.insert(0, {pydir!r}); import albatross; '
    want = os.path.join(tree, 'build-release', 'libalbatross', 'libalbatross.so.0')

    out, err, rc = py(imp + 'print(albatross.library); print(albatross.version())', tree)
    lines = out.split()
    result(rc == 0 and len(lines) == 2 and lines[0] == want and lines[1],
           'the binding loads the checkout\'s build-release/ library by itself',
           out + err)

    out, err, rc = py(imp + 'print(albatross.library)', tree, ALBATROSS_LIBRARY=lib)
    result(rc == 0 and out.strip() == lib, 'ALBATROSS_LIBRARY is the library loaded',
           out + err)

    out, err, rc = py(imp, tree, ALBATROSS_LIBRARY=os.path.join(tmp, 'nothing.so'))
    result(rc != 0 and 'ImportError' in err and 'nothing.so' in err and
           'ALBATROSS_LIBRARY' in err, 'a wrong ALBATROSS_LIBRARY: an ImportError naming it',
           out + err)

    code = imp + '''
try:
    albatross.Name('bad name')
except albatross.AlbatrossError as e:
    print(e.errno, e.strerror)
'''
    out, err, rc = py(code, tree)
    # The library says "invalid name 'bad name': label 'bad name' has ...".
    result(rc == 0 and out.startswith("22 invalid name 'bad name': ") and
           out.count('invalid name') == 1, 'a bad name\'s error is said once', out + err)

    # A setter that takes no context: its errno's reason, not an older message.
    code = imp + '''
try:
    albatross.Name('bad name')
except albatross.AlbatrossError:
    pass
try:
    albatross.Policy(cpus=[1 << 31])
except albatross.AlbatrossError as e:
    print(e.errno, e.strerror)
'''
    out, err, rc = py(code, tree)
    result(rc == 0 and out.strip() and 'bad name' not in out and 'CPU' in out,
           'a setter\'s error is its own, not the last message of the context', out + err)
sys.exit(failed)
