#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The options every daemon shares: --version and --help exit 0, an unknown
# option or a stray argument exits 2 with a message.  usage: ... DAEMON...
n=0 failed=0
echo "1..$(($# * 4))"
check() { # description, expected exit code, command...
	local what=$1 want=$2 got
	shift 2
	n=$((n + 1))
	"$@" >/dev/null 2>&1
	got=$?
	if [ "$got" -eq "$want" ]; then
		echo "ok $n - $what"
	else
		echo "not ok $n - $what: exit $got, expected $want"
		failed=1
	fi
}
for d in "$@"; do
	name=$(basename "$d")
	check "$name --version" 0 "$d" --version
	check "$name --help" 0 "$d" --help
	check "$name --no-such-option" 2 "$d" --no-such-option
	check "$name stray-argument" 2 "$d" stray-argument
	if ! "$d" --version | grep -q "^$name [0-9]"; then
		echo "# $name --version does not print its name and version"
		failed=1
	fi
done
exit $failed
