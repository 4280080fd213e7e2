#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Checks that the symbol map, the public headers and those of the extension
tier (sys/), the ALB_EXPORT definitions
and the shared library's dynamic symbols all name the same functions.

usage: check-symbols.py SYMFILE LIBRARY INCLUDEDIR SRCDIR
"""
import re
import subprocess
import sys
from pathlib import Path

symfile, library, incdir, srcdir = sys.argv[1:5]

text = Path(symfile).read_text()
# Comments out, then every "name;" inside "global:" sections.
text = re.sub(r'#[^\n]*', '', text)
mapped = set()
for block in re.findall(r'global:(.*?)(?:local:|\})', text, re.S):
    mapped |= set(re.findall(r'\b(alb_\w+)\s*;', block))

declared = set()
for h in sorted(Path(incdir).glob('*.h')) + sorted(Path(incdir, 'sys').glob('*.h')):
    src = re.sub(r'/\*.*?\*/', '', h.read_text(), flags=re.S)
    # header-only helpers (sys/cleanup.h) are no symbols
    src = re.sub(r'static inline[^{;]*\{.*?\n\}', '', src, flags=re.S)
    # function declarations: "type alb_name(" at the start of a declaration
    declared |= set(re.findall(r'^[A-Za-z_][\w \*]*?\b(alb_\w+)\s*\(', src, re.M))

exported = set()
for c in sorted(Path(srcdir).glob('*.c')):
    src = c.read_text()
    exported |= set(re.findall(r'ALB_EXPORT\b[^;{(]*?\b(alb_\w+)\s*\(', src))

out = subprocess.run(['nm', '-D', '--defined-only', library], check=True,
                     capture_output=True, text=True).stdout
dynamic = set()
for line in out.splitlines():
    parts = line.split()
    if len(parts) >= 3 and parts[1] in 'TtWw':
        dynamic.add(parts[2].split('@')[0])
dynamic = {s for s in dynamic if s.startswith('alb_')}
others = set()
for line in out.splitlines():
    parts = line.split()
    if len(parts) >= 3 and parts[1] in 'TtDdBbRr' and not parts[2].startswith('alb_') \
            and not parts[2].startswith('LIBALBATROSS'):
        others.add(parts[2])

failed = False
def diff(a_name, a, b_name, b):
    global failed
    for s in sorted(a - b):
        print(f'{s}: in {a_name} but not in {b_name}')
        failed = True

diff('the symbol map', mapped, 'the public headers', declared)
diff('the public headers', declared, 'the symbol map', mapped)
diff('the ALB_EXPORT definitions', exported, 'the symbol map', mapped)
diff('the symbol map', mapped, 'the ALB_EXPORT definitions', exported)
diff('the library', dynamic, 'the symbol map', mapped)
diff('the symbol map', mapped, 'the library', dynamic)
for s in sorted(others):
    print(f'{s}: exported by the library but not an alb_ symbol')
    failed = True

print(f'{len(mapped)} symbols in the map, {len(declared)} declared, '
      f'{len(exported)} defined with ALB_EXPORT, {len(dynamic)} exported')
sys.exit(1 if failed else 0)
