#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Builds a tiny meson project that uses libalbatross as a subproject through
# dependency('libalbatross') and runs it.  usage: check-subproject.sh SRCDIR
set -euo pipefail
src=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/subprojects"
# A copy without build directories, as a consumer would vendor it.
tar -C "$src" --exclude='./build*' --exclude=./.git -cf - . | (mkdir "$work/subprojects/libalbatross" && tar -C "$work/subprojects/libalbatross" -xf -)
cat >"$work/meson.build" <<'MESON'
project('consumer', 'c', default_options: ['libalbatross:tests=false'])
alb = dependency('libalbatross')
executable('consumer', 'consumer.c', dependencies: alb)
MESON
cat >"$work/consumer.c" <<'C'
#include <stdio.h>
#include <albatross/albatross.h>
int main(void)
{
	alb_ctx *ctx;
	alb_name *n;
	if (alb_ctx_new(&ctx) < 0 || alb_name_parse(ctx, "Consumer:VM", &n) < 0)
		return 1;
	char *s = alb_name_to_string(n);
	printf("%s %s\n", alb_version(), s);
	alb_free(s);
	alb_name_free(n);
	alb_ctx_unref(ctx);
	return 0;
}
C
cd "$work"
meson setup build >setup.log 2>&1 || { cat setup.log; exit 1; }
ninja -C build >build.log 2>&1 || { cat build.log; exit 1; }
out=$(build/consumer)
echo "consumer printed: $out"
[ "${out#* }" = "consumer:vm" ]
