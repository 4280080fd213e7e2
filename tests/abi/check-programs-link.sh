#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Every program links the shared library (docs/architecture.md): its dynamic
# section needs libalbatross.so.0, and it defines none of the library's
# functions itself (no static copy of the library inside).  usage: ... PROGRAM...
n=0 failed=0
echo "1..$(($# * 2))"
for p in "$@"; do
	name=$(basename "$p")
	n=$((n + 1))
	if readelf -d "$p" | grep -q 'NEEDED.*\[libalbatross\.so\.0\]'; then
		echo "ok $n - $name needs libalbatross.so.0"
	else
		echo "not ok $n - $name needs libalbatross.so.0"
		failed=1
	fi
	n=$((n + 1))
	own=$(nm --defined-only "$p" 2>/dev/null | awk '$2 ~ /^[Tt]$/ && $3 ~ /^alb_/ {print $3}' | head -5)
	if [ -z "$own" ]; then
		echo "ok $n - $name has no copy of the library's functions"
	else
		echo "not ok $n - $name defines" $own
		failed=1
	fi
done
exit $failed
