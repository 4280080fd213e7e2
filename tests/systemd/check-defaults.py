#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The directories a daemon uses by default are those its systemd unit gives it: for
every option with a path that a unit's ExecStart passes (--rundir, --dbdir, --logdir),
the built daemon's --help says the same default, and so does its man page; a unit's
StateDirectory=NAME is /var/lib/NAME, the directory it passes (albatross-log's
--logdir /var/lib/albatross-log, albatrossd's --dbdir /var/lib/albatross).

usage: check-defaults.py UNITDIR MANDIR DAEMON...   (TAP)"""
import os
import re
import subprocess
import sys

units, mandir, daemons = sys.argv[1], sys.argv[2], sys.argv[3:]
OPTIONS = ('--rundir', '--dbdir', '--logdir')
cases = []


def help_default(text, opt):
    """The "(default X)" of opt in a --help text: the option's line and the lines of
    its description, up to the next option."""
    m = re.search(r'^\s+' + re.escape(opt) + r'\b(.*?)(?=^\s+-|\Z)', text, re.M | re.S)
    if not m:
        return None
    d = re.search(r'\(default ([^)\s]+)\)', m.group(1))
    return d.group(1) if d else None


def man_default(text, opt):
    """The "(default _X_)" of *opt* in an scdoc man page."""
    m = re.search(r'^\*' + re.escape(opt) + r'\*(.*?)(?=^\*-|^#|\Z)', text, re.M | re.S)
    if not m:
        return None
    d = re.search(r'\(default _([^_]+)_\)', m.group(1))
    return d.group(1) if d else None


for daemon in daemons:
    name = os.path.basename(daemon)
    unit = open(os.path.join(units, name + '.service.in')).read()
    exec_start = re.search(r'^ExecStart=(.*)$', unit, re.M).group(1).split()
    given = {exec_start[i]: exec_start[i + 1] for i in range(len(exec_start) - 1)
             if exec_start[i] in OPTIONS}
    help_text = subprocess.run([daemon, '--help'], capture_output=True, text=True,
                               timeout=30).stdout
    man_path = os.path.join(mandir, name + '.8.scd')
    man = open(man_path).read() if os.path.exists(man_path) else None
    for opt, value in sorted(given.items()):
        h = help_default(help_text, opt)
        cases.append((h == value, f'{name} {opt}: --help says (default {h}), the unit '
                      f'gives {value}'))
        if man is not None:
            m = man_default(man, opt)
            cases.append((m == value, f'{name} {opt}: the man page says (default {m}), '
                          f'the unit gives {value}'))
    for state in re.findall(r'^StateDirectory=(.*)$', unit, re.M):
        path = '/var/lib/' + state.split()[0]
        cases.append((path in given.values(),
                      f'{name}: StateDirectory={state} ({path}) is a directory its '
                      f'ExecStart passes ({" ".join(sorted(given.values()))})'))

print(f'1..{len(cases)}')
failed = 0
for i, (ok, what) in enumerate(cases, 1):
    print(f'{"ok" if ok else "not ok"} {i} - {what}')
    if not ok:
        failed = 1
        print(f'not ok {i} - {what}', file=sys.stderr)
sys.exit(failed)
