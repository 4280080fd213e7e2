#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Runs examples/embed with the test tender: it must report the unikernel's
exit code and exit with it.  usage: run-embed.py EMBED TENDER_DIR MKIMAGE"""
import os
import shutil
import subprocess
import sys
import tempfile

embed, tender_dir, mkimage = sys.argv[1:4]
d = tempfile.mkdtemp(prefix='alb-embed-', dir=os.environ.get('TMPDIR'))
try:
    img = os.path.join(d, 'img.spt')
    subprocess.run([mkimage, img], check=True)
    r = subprocess.run([embed, os.path.join(d, 'db'), os.path.join(d, 'run'), tender_dir, img,
                        '--sleep=100', '--exit=42'], capture_output=True, text=True, timeout=120)
    print(r.stdout, r.stderr, end='')
    assert r.returncode == 42, f'exit status {r.returncode}'
    assert 'embedded exited with code 42' in r.stdout, r.stdout
    # the completions: created, then restarted (or it had ended already: 100 ms)
    assert 'embedded: create: created' in r.stdout, r.stdout
    assert ('embedded: restart: restarted' in r.stdout or
            'embedded: not restarted: it ended already' in r.stdout), r.stdout
    # nothing left running, the image store empty again
    assert os.listdir(os.path.join(d, 'db', 'images')) == [], 'image left'
finally:
    shutil.rmtree(d, ignore_errors=True)
