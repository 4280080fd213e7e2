#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The bash completion of albatross-client in real bash: each command line is
# split into COMP_WORDS as bash splits it (at blanks and at the characters of
# COMP_WORDBREAKS, ':' among them), the completion function is called, and the
# words the line would then hold are compared. Every case runs twice: without
# bash-completion (the completion's own handling of ':') and, when it is
# installed, with it loaded (_init_completion, __ltrim_colon_completions).
# The names come from a stand-in albatross-client on PATH that prints fixed
# --json replies in the real client's format and logs its arguments: what is
# under test is the completion, not the daemon. The table of options is
# checked against the real client's help (CLIENT CMD --help).
# usage: test-completion.sh COMPLETION-FILE CLIENT
set -u
completion=$(realpath "$1")
here=$(dirname "$(realpath "$0")")
client=$(realpath "$2")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The stand-in client (fake-albatross-client).
mkdir "$tmp/bin" "$tmp/files"
cp "$here/fake-albatross-client" "$tmp/bin/albatross-client"
export FAKE_LOG=$tmp/log
: >"$FAKE_LOG"
touch "$tmp/files/image.hvt" "$tmp/files/out.img"
cd "$tmp/files" || exit 1
PATH=$tmp/bin:$PATH

source "$completion"
n=0 failed=0

# COMP_WORDS, COMP_CWORD, COMP_LINE and COMP_POINT of the line $1 as bash sets
# them with the cursor at its end: words end at blanks; a run of the
# characters of COMP_WORDBREAKS (other than blanks and quotes) is a word.
split_line() {
	local line=$1 breaks=${COMP_WORDBREAKS//[[:space:]\"\']/} w= c i kind=0 # 1 text, 2 breaks
	COMP_WORDS=()
	for ((i = 0; i < ${#line}; i++)); do
		c=${line:i:1}
		if [[ $c == [[:space:]] ]]; then
			[[ $kind != 0 ]] && COMP_WORDS+=("$w")
			w= kind=0
		elif [[ $breaks == *"$c"* ]]; then
			[[ $kind == 1 ]] && COMP_WORDS+=("$w") && w=
			w+=$c kind=2
		else
			[[ $kind == 2 ]] && COMP_WORDS+=("$w") && w=
			w+=$c kind=1
		fi
	done
	COMP_WORDS+=("$w") # the current word, maybe empty
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE=$line
	COMP_POINT=${#line}
}

# The words the completions would make of the line's last word: readline
# replaces what follows the last blank or break character with a reply.
complete_line() {
	split_line "$1"
	COMPREPLY=()
	_albatross_client
	local line=$1 keep r
	keep=${line%%+([^[:space:]:=])}
	keep=${keep##*[[:space:]]}
	for r in "${COMPREPLY[@]}"; do
		printf '%s\n' "$keep$r"
	done
}

expect() { # description, the expected words (space separated), the command line
	local what=$1 want=$2 line=$3
	n=$((n + 1))
	local got
	got=$(complete_line "$line" | sort | tr '\n' ' ' | sed 's/ $//')
	if [ "$got" = "$want" ]; then
		echo "ok $n - $what ($mode): '$line'"
	else
		echo "not ok $n - $what ($mode): '$line'"
		echo "# expected '$want', got '$got'"
		# meson shows a TAP test's stderr only
		echo "not ok $n - $what ($mode): '$line': expected '$want', got '$got'" >&2
		failed=1
	fi
}

check() { # description, then a command that succeeds
	local what=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $what ($mode)"
	else
		echo "not ok $n - $what ($mode)"
		echo "not ok $n - $what ($mode)" >&2
		failed=1
	fi
}

shopt -s extglob
c=albatross-client
cases() {
	expect "commands by prefix" "create create-block" "$c cr"
	expect "stats" "stats" "$c st"
	expect "global options" "--rundir" "$c --ru"
	expect "options of create" "--restart-on-fail" "$c create --rest"
	expect "options of get" "--raw" "$c get --ra"
	expect "destroy has no --raw" "" "$c destroy --ra"
	expect "options of service deploy" "--ready-tcp --ready-timeout" "$c service deploy --ready-t"
	expect "no create options for destroy" "" "$c destroy --mem"
	expect "after a global option" "destroy destroy-block" "$c --rundir /tmp de"
	expect "tender types" "hvt spt" "$c create x img --tender "
	expect "key types" "ed25519 p256 rsa" "$c generate ca db --key-type "
	expect "sector sizes" "512" "$c create-block a 1 --sector-size 5"
	expect "the certificate command" "certificate" "$c cert"
	expect "remote options of a command" "--destination" "$c info --dest"
	expect "no remote options for sign" "" "$c sign --dest"
	# names with ':'
	expect "a name with ':'" "alice:hello" "$c info alice:h"
	expect "after the ':'" "alice:hello alice:world" "$c info alice:"
	expect "before the ':'" "alice:hello alice:world" "$c destroy ali"
	expect "an option between" "alice:hello" "$c info --json alice:h"
	expect "destroy: unikernels only" "alice:hello alice:world" "$c destroy "
	expect "restart: unikernels only" "alice:hello alice:world" "$c restart "
	expect "console: unikernels only" "alice:hello alice:world" "$c console "
	expect "get NAME: unikernels" "alice:hello alice:world" "$c get "
	expect "get NAME FILE: files" "out.img" "$c get alice:hello ou"
	expect "nothing after the last argument" "" "$c destroy alice:hello "
	expect "destroy-block: block devices" "alice:disk bob:data" "$c destroy-block "
	expect "set-block: block devices" "bob:data" "$c set-block b"
	expect "dump-block: with a ':'" "bob:data" "$c dump-block bob:"
	expect "remove-policy: paths" ": alice:" "$c remove-policy "
	expect "add-policy: paths" "alice:" "$c add-policy a"
	expect "policy: paths" "alice:" "$c policy alice:"
	expect "service subcommands" "info" "$c service i"
	expect "service remove: services" "alice:web" "$c service remove "
	expect "service info: services" "alice:web" "$c service info alice:"
	expect "service deploy IMAGE: files" "image.hvt" "$c service deploy alice:web im"
	expect "create NAME: nothing" "" "$c create "
	expect "create IMAGE: files" "image.hvt" "$c create alice:x --mem 64 im"
	expect "a file value" "image.hvt" "$c create-block a 1 --data im"
	# global options with values, HOST:PORT among them
	expect "the command after --destination HOST:PORT" "info" "$c --destination host:1234 in"
	expect "the command after --destination [::1]:PORT" "info" "$c --destination [::1]:1234 --ca ca.pem --ca-key ca.key in"
	expect "the command after --handshake-timeout" "destroy destroy-block" "$c --handshake-timeout 3 --server-ca x.pem de"
	: >"$FAKE_LOG"
	expect "no local names for a remote command" "" "$c --destination host:1234 destroy "
	expect "nor after the command" "" "$c destroy --destination host:1234 --ca a --ca-key b "
	expect "nor with --csr" "" "$c --csr destroy "
	check "the local daemon was not asked" test ! -s "$FAKE_LOG"
	expect "remote files are still files" "image.hvt" "$c --destination host:1234 create a:b im"
	: >"$FAKE_LOG"
	expect "--socket on the line" "alice:hello" "$c --socket /tmp/a.sock info alice:h"
	check "asked with --socket" grep -qx -- "--socket /tmp/a.sock --json info" "$FAKE_LOG"
	: >"$FAKE_LOG"
	expect "--rundir after the command" "alice:disk" "$c destroy-block --rundir /r/x ali"
	check "asked with --rundir" grep -qx -- "--rundir /r/x --json block" "$FAKE_LOG"
}

# The words bash makes of a line (the splitting above must be bash's: ':'
# splits).
mode="no bash-completion"
split_line "$c --destination host:1234 info alice:h"
check "bash splits at ':'" test "${COMP_WORDS[*]}" = "$c --destination host : 1234 info alice : h"

# The table against the client's help: every option a command's help names is
# offered for it, and none it does not name (but the global ones).
help_options() { # the options a command's --help, or its part of --help, lists (a line each)
	{
		"$client" $1 --help 2>&1
		"$client" --help | awk -v cmd="  $1 " '
			index($0, cmd) == 1 { on = 1; print; next }
			on && (/^  [a-z]/ || !/^  /) { on = 0 }
			on { print }'
	} | grep -E -- '^ +--' | grep -oE -- '(^ +|, )--[a-z][a-z-]*' | tr -d ' ,' | sort -u
}
table_check() {
	local cmd=$1 o missing= extra=
	local help=" $(help_options "$cmd" | tr '\n' ' ') "
	local table=" $(_albatross_client_opts "$cmd" | tr -d '=') "
	local common=" $(_albatross_client_opts "" | tr -d '=') "
	for o in $help; do
		[[ $table == *" $o "* ]] || missing+=" $o"
	done
	for o in $table; do
		[[ $help == *" $o "* || $common == *" $o "* ]] || extra+=" $o"
	done
	[[ -z $missing && -z $extra ]] && return 0
	echo "# $cmd: in its help but not completed:${missing:- none}; completed but not in its help:${extra:- none}"
	return 1
}
for cmd in $_albatross_client_commands "service deploy"; do
	[[ $cmd == service ]] && continue
	check "the options of '$cmd' are those of its help" table_check "$cmd"
done

# The same in a real interactive bash: readline splits, completes and inserts.
readline_expect() { # description, the line expected after one TAB, the typed line
	local what=$1 want=$2 line=$3 got
	n=$((n + 1))
	rm -f "$tmp/rl"
	got=$(python3 "$here/readline-complete.py" "${setup[*]}" "$line" "$tmp/rl" 2>&1)
	if [ "$got" = "$want" ]; then
		echo "ok $n - $what (readline, $mode): '$line'"
	else
		echo "not ok $n - $what (readline, $mode): '$line': expected '$want', got '$got'" | tee /dev/stderr
		failed=1
	fi
}
readline_cases() {
	readline_expect "a name with ':'" "$c info alice:hello " "$c info alice:h"
	readline_expect "after the ':'" "$c info alice:" "$c info alice:"
	readline_expect "a block device" "$c dump-block bob:data " "$c dump-block bob:d"
	readline_expect "the command after HOST:PORT" "$c --destination host:1234 info " \
		"$c --destination host:1234 inf"
}

cases
setup=("source '$completion';")
readline_cases
if [ -f /usr/share/bash-completion/bash_completion ]; then
	mode="bash-completion"
	source /usr/share/bash-completion/bash_completion
	declare -F _init_completion >/dev/null && declare -F __ltrim_colon_completions >/dev/null
	check "bash-completion's helpers are loaded" test $? = 0
	cases
	setup=("source /usr/share/bash-completion/bash_completion; source '$completion';")
	readline_cases
else
	echo "# bash-completion is not installed: its case is not tried"
fi
echo "1..$n"
exit $failed
