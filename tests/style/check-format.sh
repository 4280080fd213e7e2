#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Every C file of the tree as .clang-format wants it.
# usage: check-format.sh SRCDIR CLANG-FORMAT
set -euo pipefail
cd "$1"
n=0 bad=0
while IFS= read -r -d '' f; do
	n=$((n + 1))
	if ! "$2" --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (run: clang-format -i $f)"
		bad=$((bad + 1))
	fi
done < <(find include libalbatross cli daemon tests examples -name '*.[ch]' -print0)
echo "$n files, $bad not formatted"
[ "$bad" -eq 0 ]
