#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Counts test results from meson's testlog.json files (every TAP test case of
a check executable counts on its own) and the fuzz results file, and prints
the final "N passed, N failed" line."""
import json
import re
import sys

fuzz_file, logs = sys.argv[1], sys.argv[2:]
passed = failed = skipped = 0
for log in logs:
    try:
        lines = open(log).read().splitlines()
    except OSError as e:
        print(f'missing test log {log}: {e}')
        failed += 1
        continue
    for line in lines:
        t = json.loads(line)
        result = t['result']
        out = t.get('stdout') or ''
        skips = len(re.findall(r'^ok \d+.*#\s*SKIP', out, re.M | re.I))
        oks = len(re.findall(r'^ok \d+', out, re.M)) - skips
        not_oks = len(re.findall(r'^not ok \d+', out, re.M))
        is_tap = re.search(r'^1\.\.\d+$', out, re.M) is not None
        if is_tap:
            passed += oks
            failed += not_oks
            skipped += skips
            # a crash after some cases passed still fails the executable
            if result not in ('OK', 'EXPECTEDFAIL') and not not_oks:
                failed += 1
        elif result in ('OK', 'EXPECTEDFAIL'):
            passed += 1
        elif result == 'SKIP':
            skipped += 1
        else:
            failed += 1
for line in open(fuzz_file).read().splitlines():
    if ' ok' in line:
        passed += 1
    elif line.strip():
        failed += 1
print(f'{passed} passed, {failed} failed, {skipped} skipped')
sys.exit(1 if failed or passed == 0 else 0)
