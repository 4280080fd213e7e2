#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The zsh completion of albatross-client in a real interactive zsh on a
# pseudo-terminal (zsh/zpty): compinit finds _albatross-client in fpath, a
# line is typed with a TAB, and the matches zsh offered (a compadd wrapper
# records them) and the line it then holds are compared. The names come from
# the stand-in client (fake-albatross-client) on PATH. Also: the table of the
# zsh file is the text of the bash file's.
# usage: test-zsh-completion.sh ZSH-COMPLETION BASH-COMPLETION
set -u
if ! command -v zsh >/dev/null; then
	echo "1..0 # SKIP zsh is not installed"
	exit 0
fi
zfile=$(realpath "$1")
bfile=$(realpath "$2")
here=$(dirname "$(realpath "$0")")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin" "$tmp/fpath" "$tmp/files"
cp "$here/fake-albatross-client" "$tmp/bin/albatross-client"
cp "$zfile" "$tmp/fpath/_albatross-client"
touch "$tmp/files/image.hvt"
export FAKE_LOG=$tmp/log PATH=$tmp/bin:$PATH
: >"$FAKE_LOG"
n=0 failed=0
c=albatross-client

# The matches (sorted, on one line) and the line after one TAB, as "M | L".
# The completion ends when the key bound after the TAB has run (a cap of
# 30 s, not a delay).
zsh_complete() {
	rm -f "$tmp/matches" "$tmp/done"
	(cd "$tmp/files" && zsh -f -c '
		zmodload zsh/zpty || exit 1
		zpty z zsh -f -i
		zpty -w z "PROMPT=; fpath=($1 \$fpath); autoload -U compinit; compinit -u -D"
		zpty -w z "compadd() { local -a __m; builtin compadd -O __m \"\$@\"; print -rl -- \"\${__m[@]}\" >>$2/matches; builtin compadd \"\$@\" }"
		zpty -w z "zstyle \":completion:*\" menu no; zstyle \":completion:*\" list-prompt \"\""
		zpty -w z "fin() { print -r -- \"\$BUFFER\" >$2/done.tmp; mv $2/done.tmp $2/done }; zle -N fin; bindkey \"^T\" fin"
		zpty -w -n z "$3"$'\''\t\x14'\''
		for i in {1..150}; do [[ -e $2/done ]] && break; sleep 0.2; done
		zpty -d z' zsh "$tmp/fpath" "$tmp" "$1")
	local m l
	m=$(sort -u "$tmp/matches" 2>/dev/null | tr '\n' ' ' | sed 's/ $//')
	l=$(cat "$tmp/done" 2>/dev/null || echo "(no line: zsh did not answer)")
	printf '%s | %s\n' "$m" "$l"
}

expect() { # description, expected matches, expected line after the TAB, the typed line
	local what=$1 want="$2 | $3" line=$4 got
	n=$((n + 1))
	got=$(zsh_complete "$line")
	if [ "$got" = "$want" ]; then
		echo "ok $n - $what: '$line'"
	else
		echo "not ok $n - $what: '$line': expected '$want', got '$got'" | tee /dev/stderr
		failed=1
	fi
}

n=$((n + 1))
if diff <(sed -n '/^# --- shared/,/^# --- end of shared/p' "$bfile") \
	<(sed -n '/^# --- shared/,/^# --- end of shared/p' "$zfile") >&2 &&
	grep -q '^# --- end of shared' "$zfile"; then
	echo "ok $n - the zsh table is the bash one"
else
	echo "not ok $n - the zsh table is not the bash one" | tee /dev/stderr
	failed=1
fi

expect "commands by prefix" "create create-block" "$c create" "$c cr"
expect "a name with ':'" "alice:hello" "$c info alice:hello " "$c info alice:h"
expect "destroy: unikernels only" "alice:hello alice:world" "$c destroy alice:" "$c destroy "
expect "destroy-block: block devices" "alice:disk bob:data" "$c destroy-block " "$c destroy-block "
expect "remove-policy: paths" ": alice:" "$c remove-policy " "$c remove-policy "
expect "service remove: services" "alice:web" "$c service remove alice:web " "$c service remove "
expect "options of create" "--restart-on-fail" "$c create --restart-on-fail " "$c create --rest"
expect "destroy has no --raw" "" "$c destroy --ra" "$c destroy --ra"
expect "tender types" "hvt spt" "$c create x img --tender " "$c create x img --tender "
expect "key types" "ed25519 p256 rsa" "$c generate ca db --key-type " "$c generate ca db --key-type "
expect "create IMAGE: files" "image.hvt" "$c create a:b image.hvt " "$c create a:b im"
expect "the command after --destination HOST:PORT" "info" "$c --destination host:1234 info " \
	"$c --destination host:1234 in"
: >"$FAKE_LOG"
expect "no local names for a remote command" "" "$c --destination host:1234 destroy " \
	"$c --destination host:1234 destroy "
n=$((n + 1))
if [ ! -s "$FAKE_LOG" ]; then
	echo "ok $n - the local daemon was not asked"
else
	echo "not ok $n - the local daemon was asked: $(cat "$FAKE_LOG")" | tee /dev/stderr
	failed=1
fi
: >"$FAKE_LOG"
expect "--socket on the line" "alice:hello" "$c --socket /tmp/a.sock info alice:hello " \
	"$c --socket /tmp/a.sock info alice:h"
n=$((n + 1))
if grep -qx -- "--socket /tmp/a.sock --json info" "$FAKE_LOG"; then
	echo "ok $n - asked with --socket"
else
	echo "not ok $n - not asked with --socket: $(cat "$FAKE_LOG")" | tee /dev/stderr
	failed=1
fi
echo "1..$n"
exit $failed
