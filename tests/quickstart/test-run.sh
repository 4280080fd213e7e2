#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The quick start, scripts/run, end to end, from a temporary copy of this working tree
# (git ls-files: tracked and new files, as they are now): a first run (the daemons in
# the network namespace albatross-run, the example's console line, info, the remote
# info over TLS), a second run that reuses everything, --status, the endpoint's CRL and
# the printed revocation steps, a third run after albatross-log was stopped (it waits
# for albatrossd to reconnect before going on), --stop, and then nothing left behind. TAP on stdout. Needs root (exit 77 otherwise), and skips when a
# scripts/run setup already runs on this machine (the namespace albatross-run exists).
#
#   tests/quickstart/test-run.sh [BUILDDIR]
#
# BUILDDIR (or ALB_RUN_BUILDDIR): a build of this tree that has the daemons, the client
# and the test tender; the copy runs those programs. Without it the copy builds its own
# build-release/ (a few minutes).
#
# First on the test tender (ALB_RUN_TENDER=test); then, when a real Solo5 is installed
# (ALB_SOLO5_DIR=PREFIX, else solo5-spt / solo5-hvt in $PATH), again with it: its tender
# runs the examples built from tests/solo5/, their consoles show Solo5's banner, and
# --stop leaves no tender behind either.
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
# A real Solo5, found as scripts/run finds it: solo5_bin, the directory of its tenders.
solo5_bin=
if [ -n "${ALB_SOLO5_DIR:-}" ]; then
	solo5_bin=$(cd "$ALB_SOLO5_DIR" 2>/dev/null && pwd)/bin ||
		{ echo "Bail out! ALB_SOLO5_DIR=$ALB_SOLO5_DIR: no such directory"; exit 1; }
	[ -x "$solo5_bin/solo5-spt" ] || [ -x "$solo5_bin/solo5-hvt" ] ||
		{ echo "Bail out! ALB_SOLO5_DIR=$ALB_SOLO5_DIR: no bin/solo5-spt or bin/solo5-hvt"; exit 1; }
	# scripts/run runs from elsewhere: the same prefix, as an absolute path.
	ALB_SOLO5_DIR=$(dirname "$solo5_bin")
	export ALB_SOLO5_DIR
elif p=$(command -v solo5-spt) || p=$(command -v solo5-hvt); then
	solo5_bin=$(dirname "$p")
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

# The user's own settings stay out; each part says which tender it wants.
run_env=(env -u ALB_RUN_IMAGE -u ALB_RUN_NET ALB_RUN_TENDER=test)
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

# Nothing of the copy is left: no .run/, no namespace, no process of the copy (daemons,
# tenders: their command lines name the copy's files), none of PIDS, no new interface.
nothing_left() { # PIDS
	local left='' procs alive p
	[ ! -e "$state" ] || left+=" .run/"
	! ip netns list | grep -q "^$NETNS\( \|$\)" || left+=" the namespace $NETNS"
	# Under the sanitizers a daemon's exit (the leak check) can take seconds: a
	# generous cap, in time (each round's scan of /proc takes a while itself).
	local end=$((SECONDS + 120))
	while :; do
		procs=$(grep -lsF "$tmp/" /proc/[0-9]*/cmdline | cut -d/ -f3 |
			while read -r p; do
				# The grep above finds itself (its pattern is in its own command
				# line) while it runs; a process gone meanwhile is gone.
				[ -d "/proc/$p" ] || continue
				[ "$(cat "/proc/$p/comm" 2>/dev/null)" != grep ] || continue
				grep -qs '^State:[[:space:]]*Z' "/proc/$p/status" || echo "$p"
			done)
		alive=
		for p in $1; do
			[ "$p" != none ] && [ -d "/proc/$p" ] &&
				! grep -qs '^State:[[:space:]]*Z' "/proc/$p/status" && alive+=" $p"
		done
		[ -z "$procs$alive" ] && break
		[ $SECONDS -lt $end ] || break
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
}

# --status exits STATUS, and says nothing of an error.
status_is() { # OUTFILE STATUS
	local rc
	run "$1" --status
	rc=$?
	echo "--status exited $rc"
	[ $rc -eq "$2" ] && ! grep -qi "error" "$1"
}

# With the real Solo5: tests 13 to 20.
real_solo5() {
	local client=${builddir:-$tree/build-release}/cli/albatross-client target=spt toolchain=
	local rc pids1 tick1 tender
	run_env=(env -u ALB_RUN_IMAGE -u ALB_RUN_NET -u ALB_RUN_TENDER)
	[ -n "$builddir" ] && run_env+=(ALB_RUN_BUILDDIR="$builddir")
	if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] &&
		{ [ -x "$solo5_bin/solo5-hvt" ] || command -v solo5-hvt >/dev/null; }; then
		target=hvt
	fi
	tender=$solo5_bin/solo5-$target
	[ -x "$tender" ] || tender=$(command -v "solo5-$target")
	# The examples are built with Solo5's toolchain, beside its tenders.
	if compgen -G "$(dirname "$solo5_bin")/bin/*-solo5-none-static-cc" >/dev/null &&
		[ -x "$tree/tests/solo5/build.sh" ]; then
		toolchain=yes
	fi
	echo "# with Solo5: $tender${toolchain:+, and its toolchain}"

	# 13. The first run.
	run "$tmp/solo5-run1.out"
	ok $? "with Solo5: the first run succeeds" "$tmp/solo5-run1.out"

	# 14. It says it uses Solo5, and albatrossd looks for tenders in its directory.
	{
		! grep -q "$LABEL_RE" "$tmp/solo5-run1.out" &&
			grep -q "^Solo5 v[0-9]" "$tmp/solo5-run1.out" &&
			[ "$(head -n 1 "$state/tender")" = solo5 ] &&
			tr '\0' '\n' <"/proc/$(cat "$state/albatrossd.pid")/cmdline" |
			grep -qxF -- "$solo5_bin" &&
			"$client" --rundir "$state/run" tenders | grep -F "$tender"
	} >"$tmp/check12" 2>&1
	rc=$?
	cat "$tmp/solo5-run1.out" >>"$tmp/check12"
	ok $rc "with Solo5: it says so, unlabelled; albatrossd finds solo5-$target in $solo5_bin" \
		"$tmp/check12"

	# 15. What it shows: the examples' consoles with Solo5's banner, info and over TLS;
	# without the toolchain, why there is no example and how to give one.
	if [ -n "$toolchain" ]; then
		{
			[ "$(grep -cF '|      ___|' "$tmp/solo5-run1.out")" -ge 2 ] &&
				[ "$(grep -c "^  .*Z Solo5: Bindings version v" "$tmp/solo5-run1.out")" -ge 2 ] &&
				grep -q "^  .*Z Solo5: solo5_exit(0) called\$" "$tmp/solo5-run1.out" &&
				grep -q "^  .*Z ticker: tick 1\$" "$tmp/solo5-run1.out" &&
				[ "$(grep -c "^  ticker  *running " "$tmp/solo5-run1.out")" -ge 2 ] &&
				grep -q -- "--destination 127.0.0.1:1025" "$tmp/solo5-run1.out"
		}
		ok $? "with Solo5: hello's and ticker's consoles show Solo5's banner, info ticker" \
			"$tmp/solo5-run1.out"
	else
		grep -q "cannot be built" "$tmp/solo5-run1.out" &&
			grep -q "ALB_RUN_IMAGE=" "$tmp/solo5-run1.out"
		ok $? "with Solo5 but no toolchain: no example, and how to give one" \
			"$tmp/solo5-run1.out"
	fi

	# 16. The unikernels run on the real tender: ticker's process is solo5-TARGET, and
	# hello's console, kept by albatross-console, ends with its solo5_exit.
	if [ -n "$toolchain" ]; then
		{
			tick1=$("$client" --rundir "$state/run" --json info ticker |
				python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["pid"])') &&
				echo "ticker: pid $tick1, $(readlink "/proc/$tick1/exe")" &&
				[ "$(readlink "/proc/$tick1/exe")" = "$(readlink -f "$tender")" ] &&
				"$client" --rundir "$state/run" console hello | tee /dev/stderr |
				tail -n 1 | grep -q "Z Solo5: solo5_exit(0) called\$"
		} >"$tmp/check14" 2>&1
		ok $? "with Solo5: ticker runs on $tender, hello's console is whole" "$tmp/check14"
	else
		n=$((n + 1))
		echo "ok $n # SKIP no Solo5 toolchain: no example unikernel"
	fi

	# 17. A second run reuses it all; hello, which ran to its end, is not run again.
	pids1=$(pids)
	run "$tmp/solo5-run2.out"
	rc=$?
	{
		[ $rc -eq 0 ] && [ "$(pids)" = "$pids1" ] &&
			[ "$(grep -c "runs already" "$tmp/solo5-run2.out")" -eq 5 ] &&
			! grep -qE '^\$ albatross-client create |: created$' "$tmp/solo5-run2.out" &&
			if [ -n "$toolchain" ]; then
				grep -q "hello: ran already" "$tmp/solo5-run2.out" &&
					grep -q "ticker: deployed already" "$tmp/solo5-run2.out" &&
					[ "$(unikernels)" = "ticker=$tick1" ] &&
					[ "$("$client" --rundir "$state/run" log hello |
						grep -c "unikernel-started hello ")" -eq 1 ]
			fi
	} >"$tmp/check15" 2>&1
	rc=$?
	[ $rc -eq 0 ] || { echo "the second run:"; cat "$tmp/solo5-run2.out"; } >>"$tmp/check15"
	ok $rc "with Solo5: a second run reuses the daemons and the examples" "$tmp/check15"

	# 18. --status.
	{
		status_is "$tmp/solo5-status.out" 0 &&
			[ "$(grep -c " runs (pid " "$tmp/solo5-status.out")" -eq 5 ] &&
			grep -q "^tender: Solo5, solo5-$target in " "$tmp/solo5-status.out"
	} >"$tmp/check16" 2>&1
	rc=$?
	cat "$tmp/solo5-status.out" >>"$tmp/check16"
	ok $rc "with Solo5: --status shows it all running, exits 0, says no error" "$tmp/check16"

	# 19. --stop.
	pids1="$(pids) ${tick1:-}"
	run "$tmp/solo5-stop.out" --stop
	ok $? "with Solo5: --stop succeeds" "$tmp/solo5-stop.out"

	# 20. Nothing left, no tender either.
	nothing_left "$pids1" >"$tmp/check18" 2>&1
	ok $? "with Solo5: nothing is left: no .run/, no $NETNS, no daemon, no tender" "$tmp/check18"
}

if [ -n "$solo5_bin" ]; then
	echo "1..20"
else
	echo "1..14"
fi

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
		{ [ -n "$solo5_bin" ] || grep -q "https://github.com/Solo5/solo5" "$tmp/run1.out"; }
}
ok $? "it shows the console line, info, and info over TLS" "$tmp/run1.out"

# 3b. The next steps are kept unlabelled, to paste from; the ones shown are the same.
{
	steps=$state/next-steps.txt
	[ -s "$steps" ] && ! grep -q "^$LABEL_RE" "$steps" &&
		grep -q '^  C=".*albatross-client --rundir ' "$steps" &&
		grep -q "^${LABEL_RE}  C=\".*albatross-client --rundir " "$tmp/run1.out" &&
		grep -q "next-steps.txt" "$tmp/run1.out" &&
		sed -n "s/^$LABEL_RE//p" "$tmp/run1.out" >"$tmp/run1.unlabelled" &&
		! grep . "$steps" | grep -vxF -f "$tmp/run1.unlabelled"
} >"$tmp/check3b" 2>&1
ok $? "the next steps are in .run/next-steps.txt, unlabelled, as shown" "$tmp/check3b"

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

# 6. --status lists the five daemons as running, exits 0, and reports no error.
{
	status_is "$tmp/status.out" 0 &&
		[ "$(grep -c " runs (pid " "$tmp/status.out")" -eq 5 ]
} >"$tmp/check6" 2>&1
rc=$?
cat "$tmp/status.out" >>"$tmp/check6"
ok $rc "--status shows the five daemons running, exits 0, says no error" "$tmp/check6"

# 6b. The endpoint checks a CRL, and the printed steps revoke a client certificate:
# sent, revoked, SIGHUP, refused (exit 6, "revoked").
client=${builddir:-$tree/build-release}/cli/albatross-client
revoke_steps() {
	local try=$state/pki/try T rc
	tr '\0' '\n' <"/proc/$(cat "$state/albatross-tls-endpoint.pid")/cmdline" |
		grep -A1 -x -- --crl | grep -qxF "$state/pki/crl.pem" ||
		{ echo "the endpoint does not run with --crl $state/pki/crl.pem"; return 1; }
	if ! grep -q "kill -HUP .*albatross-tls-endpoint.pid" "$tmp/run1.out" ||
		! grep -q "revoke ../rootcert.pem ../root.key" "$tmp/run1.out"; then
		echo "the next steps do not show revoke and SIGHUP"
		return 1
	fi
	mkdir -p "$try" && cd "$try" || return 1
	"$client" info --csr &&
		"$client" sign ../rootcert.pem ../certs.db ../root.key unikernel-info.req || return 1
	T=(unikernel-info.pem unikernel-info.key --destination 127.0.0.1:1025 --server-ca ../rootcert.pem)
	ip netns exec "$NETNS" "$client" certificate "${T[@]}" || return 1
	"$client" revoke ../rootcert.pem ../root.key "$(tail -n 1 ../certs.db | cut -d' ' -f1)" \
		--crl ../crl.pem || return 1
	kill -HUP "$(cat "$state/albatross-tls-endpoint.pid")"
	# The reload is asynchronous: refused within 30 s, and then for good.
	for _ in $(seq 300); do
		ip netns exec "$NETNS" "$client" certificate "${T[@]}" >"$tmp/refused.out" 2>&1
		rc=$?
		[ $rc -eq 0 ] || break
		sleep 0.1
	done
	cat "$tmp/refused.out"
	[ $rc -eq 6 ] && grep -q "revoked" "$tmp/refused.out"
}
(revoke_steps) >"$tmp/check6b" 2>&1
ok $? "the endpoint reads .run/pki/crl.pem: a revoked certificate is refused after SIGHUP" \
	"$tmp/check6b"

# 6c. Before it deploys, scripts/run waits until albatrossd is connected to its helper
# daemons: the first run said so before its create; a helper that is restarted (here
# albatross-log: its log is on disk) is waited for again.
{
	awk '/albatrossd: connected to albatross-console, albatross-log and albatross-stats/ { c = NR }
		/\$ albatross-client create / { d = NR } END { exit !(c && d && c < d) }' "$tmp/run1.out" ||
		{ echo "run 1: no 'connected' line before the create"; false; }
} >"$tmp/check6c" 2>&1 &&
	{
		pid=$(cat "$state/albatross-log.pid") && kill "$pid" &&
			for _ in $(seq 300); do [ -d "/proc/$pid" ] || break; sleep 0.1; done &&
			run "$tmp/run3.out" &&
			grep -q "albatross-log: started" "$tmp/run3.out" &&
			awk '/albatrossd: connected to albatross-console/ { c = NR }
				/hello: deployed already/ { d = NR } END { exit !(c && d && c < d) }' \
				"$tmp/run3.out" &&
			awk '/Lost the connection to albatross-log/ { l = NR }
				/Connected to albatross-log/ { c = NR } END { exit !(l && c > l) }' \
				"$state/albatrossd.log" &&
			check_daemons "$tmp/run3.out"
	} >>"$tmp/check6c" 2>&1
rc=$?
[ $rc -eq 0 ] || cat "$tmp/run3.out" "$state/albatrossd.log" >>"$tmp/check6c" 2>/dev/null
ok $rc "it waits for albatrossd to be connected to its helpers before it deploys" "$tmp/check6c"

# 6d. albatross-console restarted: the example's first lines went with it; the next run
# restarts the example so that they are shown again (instead of waiting 30 s for them).
{
	pid=$(cat "$state/albatross-console.pid") && kill "$pid" &&
		for _ in $(seq 300); do [ -d "/proc/$pid" ] || break; sleep 0.1; done &&
		run "$tmp/run4.out" &&
		grep -q "restarted to print them again" "$tmp/run4.out" &&
		grep -q "^${LABEL_RE}  .*Z $HELLO\$" "$tmp/run4.out" &&
		check_daemons "$tmp/run4.out"
} >"$tmp/check6d" 2>&1
rc=$?
[ $rc -eq 0 ] || cat "$tmp/run4.out" >>"$tmp/check6d" 2>/dev/null
ok $rc "after albatross-console restarted, the example is restarted to show its lines" \
	"$tmp/check6d"

# 7. --stop.
pids_all=$(pids)
run "$tmp/stop.out" --stop
ok $? "--stop succeeds" "$tmp/stop.out"

# 8. Nothing left: no .run/, no namespace, no process of the copy, no new interface.
nothing_left "$pids_all" >"$tmp/check8" 2>&1
ok $? "nothing is left: no .run/, no $NETNS, no daemon, no tap" "$tmp/check8"

# 9. --stop again, with nothing to stop, is harmless.
run "$tmp/stop2.out" --stop
ok $? "--stop with nothing to stop succeeds" "$tmp/stop2.out"

# 10. --status with nothing set up exits 3, and reports no error.
{
	status_is "$tmp/status2.out" 3
} >"$tmp/check10" 2>&1
rc=$?
cat "$tmp/status2.out" >>"$tmp/check10"
ok $rc "--status with nothing set up exits 3, says no error" "$tmp/check10"

[ -z "$solo5_bin" ] || real_solo5

echo "# $((n - failed)) of $n passed in $(($(date +%s) - t0)) s"
[ $failed -eq 0 ]
