#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The examples as an embedder builds them: libalbatross installed by `meson install`
# into a temporary prefix, the examples compiled against the installed headers with
# the flags of the installed pkg-config file, and run: policy-check, embed (the
# supervisor in its own loop, with the test tender) and the Python binding: how it
# finds the library of a checkout's build (tests/examples/test-python-load.py), and,
# as root, ctypes over the installed libalbatross.so.0 driving a real albatrossd.
#   usage: test-installed.sh SOURCE_ROOT TENDER_DIR MKIMAGE ALBATROSSD
set -uo pipefail
src=$(realpath "$1") tender_dir=$(realpath "$2") mkimage=$(realpath "$3")
albatrossd=$(realpath "$4")
work=$(mktemp -d "${TMPDIR:-/tmp}/alb-installed.XXXXXX")
trap 'rm -rf "$work"' EXIT
n=0 failed=0
echo "1..7"
ok() { n=$((n + 1)); echo "ok $n - $1"; }
fail() { # in the TAP stream, and on stderr: meson shows a TAP test's stderr only
	n=$((n + 1)); echo "not ok $n - $1"; failed=1
	[ -f "$work/out" ] && sed 's/^/# /' "$work/out" | tail -40
	{
		echo "not ok $n - $1:"
		[ -f "$work/out" ] && tail -40 "$work/out"
	} >&2
}
step() { # description, command...
	local what=$1; shift
	if "$@" >"$work/out" 2>&1; then ok "$what"; else fail "$what"; fi
}

prefix=$work/prefix
step "meson setup and install into a temporary prefix" bash -c "
	meson setup '$work/build' '$src' --prefix '$prefix' --libdir lib -Dtests=false \
		-Ddocs=disabled --buildtype=debugoptimized &&
	ninja -C '$work/build' && meson install -C '$work/build' --quiet"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
export LD_LIBRARY_PATH=$prefix/lib
step "pkg-config finds the installed libalbatross" bash -c "
	pkg-config --exists libalbatross &&
	pkg-config --cflags libalbatross | grep -q -- '-I$prefix/include' &&
	test -f '$prefix/include/albatross/albatross.h' &&
	test -f '$prefix/include/albatross/client.h'"
cc=${CC:-cc}
step "the examples compile against the installed headers and library" bash -c "
	$cc -std=c99 -Wall -Wextra -Werror -o '$work/policy-check' '$src/examples/policy-check.c' \
		\$(pkg-config --cflags --libs libalbatross) &&
	$cc -std=c99 -Wall -Wextra -Werror -D_GNU_SOURCE -o '$work/embed' '$src/examples/embed.c' \
		\$(pkg-config --cflags --libs libalbatross) &&
	! ldd '$work/embed' | grep -q 'not found' &&
	ldd '$work/embed' | grep -q '$prefix/lib/libalbatross.so.0'"
step "policy-check: fits, and refuses what does not" bash -c "
	'$work/policy-check' ':=10,1024,0,1' 'a:=2,64,0' -- 'a:web=32,0' 'a:db=32,0' &&
	! '$work/policy-check' ':=10,1024,0,1' 'a:=2,64,0' -- 'a:web=32,0' 'a:db=33,0'"
step "embed: the supervisor in its own loop reports the exit code" \
	python3 "$src/tests/examples/run-embed.py" "$work/embed" "$tender_dir" "$mkimage"
# The binding in a checkout's layout: build-release/ (the quick start's build) next to
# examples/python/, no ALBATROSS_LIBRARY; its errors said once.
step "the Python binding loads a checkout's build, and says its errors once" \
	python3 "$src/tests/examples/test-python-load.py" "$work/build" "$src/examples/python"
if [ "$(id -u)" -ne 0 ]; then
	n=$((n + 1)); echo "ok $n - # SKIP the Python binding test needs root"
else
	step "the Python binding drives albatrossd" python3 "$src/tests/examples/test-python.py" \
		"$prefix/lib" "$albatrossd" "$tender_dir" "$mkimage" "$src/examples/python"
fi
exit $failed
