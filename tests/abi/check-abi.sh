#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Compares the built library's ABI with the committed dump docs/abi/libalbatross.abi
# (abidw/abidiff from Debian's abigail-tools) and fails on any change that is not
# an addition, so that an ABI break is never silent. After an intended addition,
# refresh the dump: abidw --no-corpus-path --headers-dir include/albatross \
#   build/libalbatross/libalbatross.so.0.* > docs/abi/libalbatross.abi
# usage: check-abi.sh LIBRARY HEADERS-DIR DUMP
set -u
lib=$1 headers=$2 dump=$3
if ! command -v abidiff >/dev/null; then
	echo "abidiff (abigail-tools) is not installed"
	exit 77
fi
out=$(abidiff --headers-dir1 "$headers" --headers-dir2 "$headers" "$dump" "$lib" 2>&1)
rc=$?
echo "$out"
# abidiff's status is a bit set: 1 error, 2 usage, 4 ABI change, 8 incompatible change
if ((rc & 3)); then
	echo "abidiff failed ($rc)"
	exit 1
fi
if ((rc & 8)); then
	echo "an incompatible ABI change: the soname must change, or the change must go"
	exit 1
fi
if ((rc & 4)); then
	echo "compatible ABI changes (additions): refresh docs/abi/libalbatross.abi"
fi
exit 0
