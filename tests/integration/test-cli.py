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
from harness import (WAIT, Daemon, Tap, check, mkimage,  # noqa: E402
                     require_netns, wait_for, watch_log)

require_netns(sys.argv)
PATHS = dict(zip(('albatrossd', 'client', 'tender_dir', 'mkimage', 'endpoint', 'man'),
                 (os.path.abspath(a) for a in sys.argv[1:7])))
tap = Tap()
EXIT_FAILED, EXIT_USAGE = 1, 2
# Quick restarts; a crash loop after 3 exits within a window that any machine fits in.
FAST = ['--restart-backoff', '100', '--crash-loop', '3/600', '--stop-timeout', '2']


def fresh():
    d = Daemon(PATHS, extra=FAST)
    try:
        return d.start()
    except BaseException:
        d.cleanup()
        raise


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


sys.exit(tap.run(None))
