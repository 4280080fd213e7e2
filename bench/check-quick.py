#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The meson test bench-quick: runs albatross-bench.py --quick --json FILE and checks
only that it finished and that every figure is in the JSON, a positive number (a difference to
/bin/true: any finite number). It
never looks at a time or a goal (no test depends on the machine's speed).

usage: check-quick.py BENCH BUILDDIR   (skipped, exit 77, when not root)"""
import json
import math
import os
import subprocess
import sys
import tempfile

FIGURES = [
    'direct_cycle_ms', 'direct_first_line_ms', 'cli_cycle_ms', 'cli_cycle_ratio',
    'create_first_line_ms', 'create_first_line_ratio', 'create_return_ms',
    'parallel_creates_per_s', 'parallel_creates_per_s_per_core', 'rss_idle_kb', 'rss_many_kb',
    'info_many_ms', 'stats_tick_cpu_ms', 'stats_tick_cpu_proc_ms', 'restore_s', 'true_ms',
    'client_version_ms', 'client_info_ms', 'client_version_diff_ms', 'client_info_diff_ms',
    'upload_mb_per_s',
]

if os.geteuid() != 0:
    print('bench-quick: skipped, needs root (the tenders, the monitors)')
    sys.exit(77)
bench, build = sys.argv[1], sys.argv[2]
with tempfile.TemporaryDirectory(prefix='alb-bench-quick-', dir=os.environ.get('TMPDIR')) as d:
    out = os.path.join(d, 'bench.json')
    r = subprocess.run([sys.executable, bench, build, '--quick', '--json', out], timeout=600)
    if r.returncode != 0:
        sys.exit(f'bench-quick: albatross-bench.py exited {r.returncode}')
    with open(out) as f:
        doc = json.load(f)
figures = doc.get('figures', {})
# Differences to /bin/true may be below zero (a client as fast as /bin/true, and noise).
bad = [k for k in FIGURES
       if not isinstance(figures.get(k), (int, float)) or isinstance(figures.get(k), bool)
       or not math.isfinite(figures[k]) or (figures[k] <= 0 and not k.endswith('_diff_ms'))]
if bad:
    sys.exit(f'bench-quick: missing or not positive: {", ".join(bad)}\n{json.dumps(figures)}')
print(f'bench-quick: {len(FIGURES)} figures present and positive')
