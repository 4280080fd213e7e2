#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""--help of every program matches its man page: the same long options, and for
albatross-client the same commands and exit codes.
usage: check-help-man.py MANDIR PROGRAM..."""
import os
import re
import subprocess
import sys

mandir = sys.argv[1]
programs = sys.argv[2:]
print(f'1..{len(programs)}')
failed = 0
OPT = re.compile(r'(?<![\w-])--[a-z][a-z0-9-]*')


def page_of(prog):
    name = os.path.basename(prog)
    for section in ('1', '8'):
        p = os.path.join(mandir, f'{name}.{section}.scd')
        if os.path.exists(p):
            return p
    return None


for i, prog in enumerate(programs, 1):
    name = os.path.basename(prog)
    page = page_of(prog)
    if not page:
        print(f'not ok {i} - {name}: no man page in {mandir}')
        print(f'not ok {i} - {name}: no man page in {mandir}', file=sys.stderr)
        failed = 1
        continue
    help_text = subprocess.run([prog, '--help'], capture_output=True, text=True,
                               check=True).stdout
    with open(page) as f:
        man = f.read()
    problems = []
    # The options each defines: --help lines that begin with an option, page lines
    # (definitions and synopses) that begin with *.
    h = {o for line in help_text.splitlines() if line.strip().startswith('-')
         for o in OPT.findall(line)}
    m = {o for line in man.splitlines() if line.lstrip('\t').startswith('*')
         for o in OPT.findall(line)}
    if h - m:
        problems.append(f'in --help, not in the page: {sorted(h - m)}')
    if m - h:
        problems.append(f'in the page, not in --help: {sorted(m - h)}')
    if name == 'albatross-client':
        # Commands: two-space indented words at the start of a --help line; the page
        # lists each as a definition "*command* ...".
        hc = set(re.findall(r'^  ([a-z][a-z-]+)(?: [A-Z\[]|  |$)', help_text, re.M))
        mc = set(re.findall(r'^\*([a-z][a-z-]+)\*', man, re.M))
        if len(hc) < 20:
            problems.append(f'only {len(hc)} commands found in --help: {sorted(hc)}')
        if hc - mc:
            problems.append(f'commands in --help, not in the page: {sorted(hc - mc)}')
        he = set(re.findall(r'^  ([0-9])  ', help_text, re.M))
        me = set(re.findall(r'^\*([0-9])\*', man, re.M))
        if he != me:
            problems.append(f'exit codes: --help {sorted(he)}, page {sorted(me)}')
    if problems:
        failed = 1
        print(f'not ok {i} - {name}')
        for p in problems:
            print(f'# {p}')
        # meson shows a TAP test's stderr only: say why there too
        print(f'not ok {i} - {name}: ' + '; '.join(problems), file=sys.stderr)
    else:
        print(f'ok {i} - {name}: {len(h)} options agree')
sys.exit(failed)
