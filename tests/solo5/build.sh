#!/bin/sh
# SPDX-License-Identifier: ISC
# Builds the test unikernels of this folder (README.md) with an installed Solo5
# toolchain, for each target given (default: spt), as OUTDIR/NAME.spt and
# OUTDIR/NAME.hvt, each with its manifest (NAME.json) in its ELF notes.
#
#   usage: build.sh SOLO5_PREFIX OUTDIR [spt|hvt]...
#
# SOLO5_PREFIX is where Solo5 is installed: bin/ARCH-solo5-none-static-cc,
# bin/solo5-elftool, lib/ARCH-solo5-none-static/solo5_TARGET.o. Needs the host's
# C compiler (cc), which the toolchain wraps. No network. Exits 1 with a message
# when something is missing, 2 on a usage error.
set -eu

UNIKERNELS="hello ticker echo netecho block crash"
CFLAGS="-std=c11 -O2 -Wall -Wextra -Werror"

die() {
	echo "tests/solo5/build.sh: error: $*" >&2
	exit 1
}

if [ $# -lt 2 ]; then
	echo "usage: $0 SOLO5_PREFIX OUTDIR [spt|hvt]..." >&2
	exit 2
fi
prefix=$1
out=$2
shift 2
[ $# -gt 0 ] || set -- spt
for t in "$@"; do
	case $t in
	spt | hvt) ;;
	*)
		echo "tests/solo5/build.sh: unknown target '$t' (spt or hvt)" >&2
		exit 2
		;;
	esac
done
src=$(cd "$(dirname "$0")" && pwd)

[ -d "$prefix" ] || die "no such directory: $prefix (the prefix where Solo5 is installed)"
cc=
arch=
for a in "$(uname -m)" x86_64 aarch64; do
	if [ -x "$prefix/bin/$a-solo5-none-static-cc" ]; then
		cc=$prefix/bin/$a-solo5-none-static-cc
		arch=$a
		break
	fi
done
[ -n "$cc" ] || die "no Solo5 toolchain in $prefix: $prefix/bin/$(uname -m)-solo5-none-static-cc" \
	"not found (install Solo5 with its toolchain, and give its prefix)"
elftool=$prefix/bin/solo5-elftool
[ -x "$elftool" ] || die "no $elftool (it generates the manifests)"
[ -f "$prefix/include/solo5/solo5.h" ] || die "no $prefix/include/solo5/solo5.h"
for t in "$@"; do
	[ -f "$prefix/lib/$arch-solo5-none-static/solo5_$t.o" ] ||
		die "the Solo5 toolchain in $prefix has no $t bindings" \
			"($prefix/lib/$arch-solo5-none-static/solo5_$t.o)"
done
command -v cc >/dev/null 2>&1 || die "no host C compiler 'cc' (the Solo5 toolchain runs it)"

mkdir -p "$out" || die "cannot make $out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/alb-solo5-build.XXXXXX") || die "cannot make a temporary directory"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# shellcheck disable=SC2086 # CFLAGS is a list of words
"$cc" $CFLAGS -c "$src/util.c" -o "$tmp/util.o" || die "cannot compile util.c"
for name in $UNIKERNELS; do
	"$elftool" gen-manifest "$src/$name.json" "$tmp/$name-manifest.c" ||
		die "cannot generate the manifest of $name"
	"$cc" -std=c11 -O2 -c "$tmp/$name-manifest.c" -o "$tmp/$name-manifest.o" ||
		die "cannot compile the manifest of $name"
	# shellcheck disable=SC2086
	"$cc" $CFLAGS -I "$src" -c "$src/$name.c" -o "$tmp/$name.o" || die "cannot compile $name.c"
	for t in "$@"; do
		"$cc" -z "solo5-abi=$t" "$tmp/$name.o" "$tmp/util.o" "$tmp/$name-manifest.o" \
			-o "$tmp/$name.$t" || die "cannot link $name.$t"
		mv -f "$tmp/$name.$t" "$out/$name.$t" || die "cannot write $out/$name.$t"
		echo "built $out/$name.$t"
	done
done
