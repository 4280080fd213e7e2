#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# systemd-analyze verify on every unit, with ExecStart pointing at the built
# daemons.  usage: verify.sh UNITDIR SBINDIR
set -euo pipefail
units=$(realpath "$1") sbindir=$(realpath "$2")
if ! command -v systemd-analyze >/dev/null; then
	echo "1..0 # SKIP systemd-analyze is not installed"
	exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for f in "$units"/*.service.in; do
	sed "s|@SBINDIR@|$sbindir|g" "$f" >"$work/$(basename "${f%.in}")"
done
cp "$units"/*.socket "$work/"
n=0 failed=0
echo "1..$(ls "$work" | wc -l)"
for u in "$work"/*; do
	n=$((n + 1))
	# Only our own units' findings count (verify also loads their dependencies).
	out=$(cd "$work" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
		"$(basename "$u")" 2>&1 | grep -F "$(basename "$u")" || true)
	if [ -z "$out" ]; then
		echo "ok $n - $(basename "$u")"
	else
		echo "not ok $n - $(basename "$u")"
		echo "$out" | sed 's/^/# /'
		# meson shows a TAP test's stderr only
		{ echo "not ok $n - $(basename "$u"):"; echo "$out"; } >&2
		failed=1
	fi
done
exit $failed
