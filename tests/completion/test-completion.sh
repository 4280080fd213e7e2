#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Sources the bash completion of albatross-client and completes a few words.
# usage: test-completion.sh COMPLETION-FILE CLIENT
set -u
source "$1"
client=$2
n=0 failed=0

complete_words() { # the words of the command line; prints the completions
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_albatross_client
	printf '%s\n' "${COMPREPLY[@]}"
}

expect() { # description, expected words (space separated), then the command line
	local what=$1 want=$2
	shift 2
	n=$((n + 1))
	local got
	got=$(complete_words "$@" | sort | tr '\n' ' ' | sed 's/ $//')
	if [ "$got" = "$want" ]; then
		echo "ok $n - $what"
	else
		echo "not ok $n - $what"
		echo "# expected '$want', got '$got'"
		# meson shows a TAP test's stderr only
		echo "not ok $n - $what: expected '$want', got '$got'" >&2
		failed=1
	fi
}

echo "1..10"
expect "commands by prefix" "create create-block" "$client" cr
expect "stats" "stats" "$client" st
expect "global options" "--rundir" "$client" --ru
expect "options of create" "--restart-on-fail" "$client" create --rest
expect "after a global option" "destroy destroy-block" "$client" --rundir /tmp de
expect "tender types" "hvt spt" "$client" create x img --tender ""
expect "key types" "ed25519 p256 rsa" "$client" generate ca db --key-type ""
expect "the certificate command" "certificate" "$client" cert
expect "remote options of a command" "--destination" "$client" info --dest
expect "no remote options for sign" "" "$client" sign --dest
exit $failed
