#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Compiles every public header alone, as C99 -pedantic and as C++.

usage: check-headers.py INCLUDEDIR CC CXX
"""
import subprocess
import sys
import tempfile
from pathlib import Path

incdir, cc, cxx = sys.argv[1:4]
headers = sorted(Path(incdir, 'albatross').glob('*.h'))
failed = 0
with tempfile.TemporaryDirectory() as tmp:
    for h in headers:
        for lang, compiler, flags in (
                ('c', cc, ['-std=c99', '-pedantic-errors', '-Wall', '-Wextra', '-Werror', '-x', 'c']),
                ('c++', cxx, ['-std=c++11', '-pedantic-errors', '-Wall', '-Wextra', '-Werror', '-x', 'c++'])):
            src = Path(tmp, f'{h.stem}.{lang}.src')
            # Including twice checks the include guard.
            src.write_text(f'#include <albatross/{h.name}>\n#include <albatross/{h.name}>\n'
                           'int main(void) { return 0; }\n' if lang == 'c' else
                           f'#include <albatross/{h.name}>\n#include <albatross/{h.name}>\n'
                           'int main() { return 0; }\n')
            r = subprocess.run([compiler, *flags, '-I', incdir, '-c', str(src), '-o',
                                str(Path(tmp, 'out.o'))], capture_output=True, text=True)
            status = 'ok' if r.returncode == 0 else 'FAILED'
            print(f'{h.name} as {lang}: {status}')
            if r.returncode != 0:
                print(r.stderr)
                failed += 1
print(f'{len(headers)} headers, {failed} failures')
sys.exit(1 if failed else 0)
