#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Every C file of the tree as .clang-format wants it.
# usage: check-format.sh SRCDIR CLANG-FORMAT
set -euo pipefail
cd "$1"
mapfile -d '' files < <(find include libalbatross cli daemon tests examples -name '*.[ch]' -print0)
# Many files per clang-format run: its start-up is most of the cost of one file.
out=$(printf '%s\0' "${files[@]}" | xargs -0 -n 64 "$2" --dry-run --Werror 2>&1 >/dev/null) || true
bad=$(grep -o '^[^:]*\.[ch]:[0-9]*:[0-9]*: error' <<<"$out" | cut -d: -f1 | sort -u || true)
for f in $bad; do
	echo "not formatted: $f (run: clang-format -i $f)"
done
n_bad=$(grep -c . <<<"$bad" || true)
echo "${#files[@]} files, $n_bad not formatted"
[ "$n_bad" -eq 0 ]
