#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The client as an operator meets it: its replies and exit codes, sorted listings, the
--json output (null for "none", every key documented in albatross-client(1)), and the
progress bar on a terminal, locally and over TLS (the real albatross-tls-endpoint in front
of the real albatrossd). As root in a private network namespace (exit 77 otherwise).

usage: test-cli.py ALBATROSSD CLIENT TENDER_DIR MKIMAGE ENDPOINT MANPAGE"""
import json
import os
import re
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (WAIT, Tap, check, mkimage, started,  # noqa: E402
                     require_netns, wait_for, watch_log)

require_netns(sys.argv)
PATHS = dict(zip(('albatrossd', 'client', 'tender_dir', 'mkimage', 'endpoint', 'man'),
                 (os.path.abspath(a) for a in sys.argv[1:7])))
tap = Tap()
EXIT_FAILED, EXIT_USAGE = 1, 2
# Quick restarts; a crash loop after 3 exits within a window that any machine fits in.
FAST = ['--restart-backoff', '100', '--crash-loop', '3/600', '--stop-timeout', '2']


def fresh():
    return started(PATHS, FAST)


def image(d, name='img.spt', nets=(), blocks=()):
    return mkimage(PATHS, os.path.join(d.dir, name), nets, blocks)


def usage(d, needle, *args):
    r = d.cli(*args)
    check(r.returncode == EXIT_USAGE, f'expected exit 2 for {args}, got {r.returncode}: '
          f'{r.stderr}')
    check(needle in r.stderr, f'expected "{needle}" in: {r.stderr}')
    return r


def args_of(d, name):
    """The guest arguments of name's tender (after its '--')."""
    pid = d.one(name)['pid']
    with open(f'/proc/{pid}/cmdline', 'rb') as f:
        argv = [a.decode() for a in f.read().split(b'\0')[:-1]]
    return argv[argv.index('--') + 2:]


@tap.case
def test_replies_and_exit_codes(_):
    """create --force replies "replaced"; restart --replace-arguments needs --arg ('' clears
    them); data too large for a block device exits 1"""
    d = fresh()
    try:
        # Restarted when it exits 0 (as it does without --run): a crash loop then keeps it,
        # failed, with its configuration.
        img = image(d)
        net = ('--exit-code', '0')
        r = d.ok('create', 'u', img, *net, '--arg', '--run')
        check(r.stdout.strip() == 'created', r.stdout)
        r = d.ok('create', 'u', img, *net, '--force', '--arg', '--run', '--arg', '--x=1')
        check(r.stdout.strip() == 'replaced', f'create --force said {r.stdout!r}')
        check(args_of(d, 'u') == ['--run', '--x=1'], args_of(d, 'u'))
        r = d.ok('restart', 'u')
        check(r.stdout.strip() == 'restarted', r.stdout)
        check(args_of(d, 'u') == ['--run', '--x=1'], 'a plain restart changed the arguments')
        usage(d, "--arg ''", 'restart', 'u', '--replace-arguments')
        check(args_of(d, 'u') == ['--run', '--x=1'], 'a refused restart changed them')
        d.ok('restart', 'u', '--replace-arguments', '--arg', '--run')
        check(args_of(d, 'u') == ['--run'], args_of(d, 'u'))
        # A sole --arg '' clears them: it exits at once, again and again, then fails.
        d.ok('restart', 'u', '--arg', '')
        wait_for(lambda: d.one('u')['state'] == 'failed', WAIT, 'a crash loop')
        check(d.one('u')['config']['arguments'] == [], d.one('u'))
        d.ok('destroy', 'u')
        # 2 MB of data for a 1 MB device: the command cannot be done (1), no usage error.
        data = os.path.join(d.dir, 'big.img')
        with open(data, 'wb') as f:
            f.truncate(2 << 20)
        r = d.refused('does not fit', 'create-block', 'disk', '1', '--data', data)
        check(d.ok('block', '--json').stdout.strip() == '[]', 'a block device was made')
        d.ok('create-block', 'disk', '1')
        d.refused('', 'set-block', 'disk', data)
        # a local file that cannot be read: exit 1, the command named
        missing = os.path.join(d.dir, 'missing.spt')
        d.refused(f"create: Failed to open '{missing}'", 'create', 'x', missing)
        d.refused(f"set-block: cannot open '{missing}'", 'set-block', 'disk', missing)
        d.refused(f"create-block: '{d.dir}' is not a regular file", 'create-block', 'y', '1',
                  '--data', d.dir)
    finally:
        d.cleanup()



@tap.case
def test_listings_sorted(_):
    """block, info, policy and tenders list by name, whatever the order things were made
    in (and after a restart of albatrossd, which restores them)"""
    d = fresh()
    try:
        names = ['zulu', 'alpha', 'mike', 'bravo']
        for n in names:
            d.ok('create-block', n, '1')
        img = image(d)
        for n in names:
            d.ok('create', n, img, '--arg', '--run')
        for n in names:
            d.ok('add-policy', n + ':', '1', '--mem', '64')

        def check_sorted():
            blocks = [b['name'] for b in json.loads(d.ok('block', '--json').stdout)]
            check(blocks == sorted(names), f'block --json: {blocks}')
            text = [line.split()[0] for line in d.ok('block').stdout.splitlines()[1:]]
            check(text == sorted(names), f'block: {text}')
            uks = [u['name'] for u in d.info()]
            check(uks == sorted(names), f'info --json: {uks}')
            text = [line.split()[0] for line in d.ok('info').stdout.splitlines()[1:]]
            check(text == sorted(names), f'info: {text}')
            pols = [p['path'] for p in json.loads(d.ok('policy', '--json').stdout)]
            mine = [p for p in pols if p != ':']
            check(mine == sorted(n + ':' for n in names), f'policy --json: {pols}')
            tenders = [t['name'] for t in json.loads(d.ok('tenders', '--json').stdout)]
            check(tenders == sorted(tenders) and tenders, f'tenders --json: {tenders}')

        check_sorted()
        d.stop()
        d.start()
        check_sorted()
    finally:
        d.cleanup()



def json_section():
    with open(PATHS['man']) as f:
        text = f.read()
    m = re.search(r'^# JSON OUTPUT\n(.*?)^# ', text, re.S | re.M)
    check(m, 'no JSON OUTPUT section in albatross-client.1.scd')
    return m.group(1)


def keys_of(v, out=None):
    """Every key of every object in v."""
    out = set() if out is None else out
    if isinstance(v, dict):
        for k, x in v.items():
            out.add(k)
            keys_of(x, out)
    elif isinstance(v, list):
        for x in v:
            keys_of(x, out)
    return out


@tap.case
def test_json_null_and_documented(_):
    """--json: null for "none" (pid and started of a failed unikernel, a MAC not given);
    every key of info, policy, block, tenders and a message in the man page's JSON OUTPUT"""
    d = fresh()
    try:
        img = image(d, nets=['service'], blocks=['disk'])
        d.ok('create-block', 'disk', '1')
        d.ok('add-policy', 'team:', '2', '--mem', '64', '--block', '10', '--bridge', 'br0',
             '--ports', '8000-8010')
        d.ok('create', 'crashy', img, '--net', 'service:br0', '--block', 'disk',
             '--restart-on-fail', '--arg', '--exit=3')
        wait_for(lambda: d.one('crashy')['state'] == 'failed', 2 * WAIT, 'a crash loop')
        u = d.one('crashy')
        check(u['pid'] is None and u['started'] is None, f'pid/started of a failed one: {u}')
        check(u['last_exit'] == {'code': 3}, u)
        # why it failed: in --json info and below the table of info
        check((u['failure'] or '').startswith('crash loop: '), u)
        r = d.ok('info')
        check(f"crashy failed: {u['failure']}\n" in r.stdout, r.stdout)
        check('failed: crash loop' in d.log_text(), 'not the reason of the log')
        check(u['config']['nets'][0]['mac'] is None, u['config'])
        check(u['config']['blocks'][0]['sector_size'] == 512, u['config'])
        text = d.ok('info', 'crashy').stdout.splitlines()[1].split()
        check(text[2] == '-', f'the text shows a pid: {text}')
        docs = json_section()
        seen = set()
        for args in (['info'], ['policy'], ['block'], ['tenders'],
                     ['create-block', 'x', '1']):
            v = json.loads(d.ok(*args, '--json').stdout)
            seen |= keys_of(v)
        missing = sorted(k for k in seen if f'*{k}*' not in docs)
        check(not missing, f'keys not in the man page\'s JSON OUTPUT: {missing}')
        for k in ('pid', 'started', 'last_exit', 'unusable', 'used_by', 'mac', 'block'):
            check(k in seen, f'{k} was not seen: the test covers too little')
    finally:
        d.cleanup()


sys.exit(tap.run(None))
