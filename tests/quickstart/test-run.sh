#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The quick start, scripts/run, end to end, from a temporary copy of this working tree
# (git ls-files: tracked and new files, as they are now): a first run (the daemons in
# the network namespace albatross-run, the example's console line, info, the remote
# info over TLS), a second run that reuses everything, --status, --stop, and then
# nothing left behind. TAP on stdout. Needs root (exit 77 otherwise), and skips when a
# scripts/run setup already runs on this machine (the namespace albatross-run exists).
#
#   tests/quickstart/test-run.sh [BUILDDIR]
#
# BUILDDIR (or ALB_RUN_BUILDDIR): a build of this tree that has the daemons, the client
# and the test tender; the copy runs those programs. Without it the copy builds its own
# build-release/ (a few minutes).
set -uo pipefail

NETNS=albatross-run
HELLO="Hello from the albatross quick start"
LABEL="[test tender] "
LABEL_RE="\\[test tender\\] "
src=$(cd "$(dirname "$0")/../.." && pwd)
builddir=${1:-${ALB_RUN_BUILDDIR:-}}

skip() {
	echo "1..0 # SKIP $*"
	exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root (a network namespace, a bridge, taps)"
command -v ip >/dev/null || skip "needs ip (iproute2)"
if ip netns list | grep -q "^$NETNS\( \|$\)"; then
	skip "the network namespace $NETNS exists: a scripts/run setup runs here" \
		"(scripts/run --stop in its checkout first)"
fi
if [ -n "$builddir" ]; then
	builddir=$(cd "$builddir" && pwd) || skip "no build directory $1"
	for p in daemon/albatrossd daemon/albatross-tls-endpoint cli/albatross-client \
		tests/tender/solo5-hvt tests/tender/mkimage; do
		[ -x "$builddir/$p" ] || skip "$builddir/$p is not built"
	done
fi

t0=$(date +%s)
# In /tmp, not a deep TMPDIR: the sockets' paths must stay under 108 bytes.
tmp=$(mktemp -d /tmp/alb-quickstart.XXXXXX)
tree=$tmp/tree
mkdir "$tree"
# Whatever happens, nothing of the copy stays behind.
cleanup() {
	if [ -x "$tree/scripts/run" ] && [ -d "$tree/.run" ]; then
		"$tree/scripts/run" --stop >"$tmp/cleanup.out" 2>&1 ||
			sed 's/^/# cleanup: /' "$tmp/cleanup.out"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The copy: the working tree's files as they are, without builds or .run/.
if git -C "$src" rev-parse --show-toplevel >/dev/null 2>&1; then
	git -C "$src" ls-files -z --cached --others --exclude-standard |
		tar -C "$src" --null --ignore-failed-read -T - -cf - 2>/dev/null |
		tar -C "$tree" -xf -
else
	tar -C "$src" --exclude='./build*' --exclude=./.run -cf - . | tar -C "$tree" -xf -
fi
[ -x "$tree/scripts/run" ] || { echo "Bail out! could not copy the tree into $tree"; exit 1; }

run_env=(env ALB_RUN_TENDER=test)
[ -n "$builddir" ] && run_env+=(ALB_RUN_BUILDDIR="$builddir")
state=$tree/.run
links_before=$(ip -o link show | awk -F': ' '{print $2}' | sort)

n=0
failed=0
ok() { # COND-STATUS DESCRIPTION [DIAGNOSTIC-FILE]
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
		[ -z "${3:-}" ] || sed 's/^/# /' "$3" | tail -n 60
	fi
}

# Runs scripts/run of the copy; its output goes to a file (so a daemon that kept the
# script's stdout could not hang the test).
run() { # OUTFILE ARGS...
	local out=$1
	shift
	(cd / && timeout 900 "${run_env[@]}" "$tree/scripts/run" "$@") >"$out" 2>&1
}

daemons=(albatross-console albatross-log albatross-stats albatrossd albatross-tls-endpoint)
pids() {
	local d
	for d in "${daemons[@]}"; do
		cat "$state/$d.pid" 2>/dev/null || echo none
	done
}

# Every daemon runs, in the namespace, from its pid file, and keeps none of the
# script's output open.
check_daemons() { # OUTFILE
	local d pid fd
	for d in "${daemons[@]}"; do
		pid=$(cat "$state/$d.pid" 2>/dev/null) || { echo "no pid file for $d"; return 1; }
		[ -d "/proc/$pid" ] || { echo "$d (pid $pid) does not run"; return 1; }
		[ "$(ip netns identify "$pid")" = "$NETNS" ] ||
			{ echo "$d (pid $pid) is not in $NETNS"; return 1; }
		for fd in "/proc/$pid/fd/"*; do
			if [ "$(readlink "$fd")" = "$1" ]; then
				echo "$d (pid $pid) holds the script's output $1"
				return 1
			fi
		done
	done
}

echo "1..9"

# 1. The first run.
run "$tmp/run1.out"
rc=$?
ok $rc "the first run succeeds" "$tmp/run1.out"

# 2. With the test tender, every line says so.
unlabelled=$(grep -vc "^$LABEL_RE" "$tmp/run1.out")
[ "$unlabelled" -eq 0 ] && [ -s "$tmp/run1.out" ]
ok $? "every line of its output is labelled '$LABEL'" "$tmp/run1.out"

# 3. The console line, info, and the same info over TLS; the test tender is explained.
{
	grep -q "^${LABEL_RE}  .*Z $HELLO\$" "$tmp/run1.out" &&
		[ "$(grep -c "^${LABEL_RE}  hello  *running " "$tmp/run1.out")" -ge 2 ] &&
		grep -q -- "--destination 127.0.0.1:1025" "$tmp/run1.out" &&
		grep -q "TEST TENDER" "$tmp/run1.out" &&
		{ command -v solo5-hvt >/dev/null || command -v solo5-spt >/dev/null ||
			grep -q "https://github.com/Solo5/solo5" "$tmp/run1.out"; }
}
ok $? "it shows the console line, info, and info over TLS" "$tmp/run1.out"

# 4. Every daemon runs in the namespace after the script returned; br0 has the tap.
{
	check_daemons "$tmp/run1.out" &&
		ip netns exec "$NETNS" ip -o link show master br0 | grep . &&
		[ -S "$state/run/albatrossd.sock" ]
} >"$tmp/check4" 2>&1
ok $? "the five daemons run in $NETNS, the example's tap is on br0" "$tmp/check4"

# 5. A second run reuses it all: same CA, same daemons, one unikernel, not restarted.
# The unikernels, as name=pid.
unikernels() {
	"${builddir:-$tree/build-release}/cli/albatross-client" --rundir "$state/run" --json info |
		python3 -c 'import json, sys; print(*("%s=%s" % (u["name"], u["pid"]) for u in json.load(sys.stdin)))'
}
ca1=$(sha256sum <"$state/pki/rootcert.pem")
pids1=$(pids)
uk1=$(unikernels)
run "$tmp/run2.out"
rc=$?
{
	[ $rc -eq 0 ] &&
		[ "$(sha256sum <"$state/pki/rootcert.pem")" = "$ca1" ] &&
		[ "$(pids)" = "$pids1" ] &&
		[ "$(grep -c "runs already" "$tmp/run2.out")" -eq 5 ] &&
		grep -q "hello: deployed already" "$tmp/run2.out" &&
		! grep -q "created" "$tmp/run2.out" &&
		[ "$(unikernels)" = "$uk1" ] && [[ $uk1 =~ ^hello=[0-9]+$ ]] &&
		grep -q "^${LABEL_RE}  .*Z $HELLO\$" "$tmp/run2.out" &&
		check_daemons "$tmp/run2.out"
} >"$tmp/check5" 2>&1
rc=$?
[ $rc -eq 0 ] || cat "$tmp/run2.out" >>"$tmp/check5"
ok $rc "a second run reuses the CA, the daemons and the one example" "$tmp/check5"

# 6. --status lists the five daemons as running.
run "$tmp/status.out" --status
rc=$?
[ $rc -eq 0 ] && [ "$(grep -c " runs (pid " "$tmp/status.out")" -eq 5 ]
ok $? "--status shows the five daemons running" "$tmp/status.out"

# 7. --stop.
pids_all=$(pids)
run "$tmp/stop.out" --stop
ok $? "--stop succeeds" "$tmp/stop.out"

# 8. Nothing left: no .run/, no namespace, no process of the copy, no new interface.
{
	left=
	[ ! -e "$state" ] || left+=" .run/"
	! ip netns list | grep -q "^$NETNS\( \|$\)" || left+=" the namespace $NETNS"
	# Under the sanitizers a daemon's exit (the leak check) can take seconds.
	for _ in $(seq 300); do
		procs=$(grep -lsF "$tmp/" /proc/[0-9]*/cmdline | cut -d/ -f3 |
			while read -r p; do
				# The grep above finds itself (its pattern is in its own command
				# line) while it runs; a process gone meanwhile is gone.
				[ -d "/proc/$p" ] || continue
				[ "$(cat "/proc/$p/comm" 2>/dev/null)" != grep ] || continue
				grep -qs '^State:[[:space:]]*Z' "/proc/$p/status" || echo "$p"
			done)
		alive=
		for p in $pids_all; do
			[ "$p" != none ] && [ -d "/proc/$p" ] &&
				! grep -qs '^State:[[:space:]]*Z' "/proc/$p/status" && alive+=" $p"
		done
		[ -z "$procs$alive" ] && break
		sleep 0.1
	done
	[ -z "$procs$alive" ] || left+=" processes:$(for p in $procs $alive; do
		printf ' [%s: %s %s]' "$p" "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" \
			"$(grep -s '^State' "/proc/$p/status" | tr -s '\t ' ' ')"; done)"
	links_after=$(ip -o link show | awk -F': ' '{print $2}' | sort)
	[ "$links_after" = "$links_before" ] ||
		left+=" interfaces: $(comm -13 <(echo "$links_before") <(echo "$links_after") | tr '\n' ' ')"
	echo "left behind:${left:- nothing}"
	[ -z "$left" ]
} >"$tmp/check8" 2>&1
ok $? "nothing is left: no .run/, no $NETNS, no daemon, no tap" "$tmp/check8"

# 9. --stop again, with nothing to stop, is harmless.
run "$tmp/stop2.out" --stop
ok $? "--stop with nothing to stop succeeds" "$tmp/stop2.out"

echo "# $((n - failed)) of $n passed in $(($(date +%s) - t0)) s"
[ $failed -eq 0 ]
