#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Compiles every public header and every header of the extension tier (sys/)
alone, as C99 -pedantic and as C++.

usage: check-headers.py INCLUDEDIR CC CXX
"""
import subprocess
import sys
import tempfile
from pathlib import Path

incdir, cc, cxx = sys.argv[1:4]


def rel(h):
    return h.relative_to(Path(incdir, 'albatross')).as_posix()

headers = sorted(Path(incdir, 'albatross').glob('*.h')) + sorted(
    Path(incdir, 'albatross', 'sys').glob('*.h'))
failed = 0
with tempfile.TemporaryDirectory() as tmp:
    for h in headers:
        for lang, compiler, flags in (
                ('c', cc, ['-std=c99', '-pedantic-errors', '-Wall', '-Wextra', '-Werror', '-x', 'c']),
                ('c++', cxx, ['-std=c++11', '-pedantic-errors', '-Wall', '-Wextra', '-Werror', '-x', 'c++'])):
            src = Path(tmp, f'{rel(h).replace("/", "-")}.{lang}.src')
            # Including twice checks the include guard.
            src.write_text(f'#include <albatross/{rel(h)}>\n#include <albatross/{rel(h)}>\n'
                           'int main(void) { return 0; }\n' if lang == 'c' else
                           f'#include <albatross/{rel(h)}>\n#include <albatross/{rel(h)}>\n'
                           'int main() { return 0; }\n')
            r = subprocess.run([compiler, *flags, '-I', incdir, '-c', str(src), '-o',
                                str(Path(tmp, 'out.o'))], capture_output=True, text=True)
            status = 'ok' if r.returncode == 0 else 'FAILED'
            print(f'{rel(h)} as {lang}: {status}')
            if r.returncode != 0:
                print(r.stderr)
                failed += 1
print(f'{len(headers)} headers, {failed} failures')
sys.exit(1 if failed else 0)
