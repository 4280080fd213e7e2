#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# shellcheck disable=SC2317 # the checks are functions that check() calls
# The Debian packages, end to end, on this machine (root):
#   - copies the checkout (git ls-files: tracked and new, not ignored, files)
#     to a temporary directory and builds it with dpkg-buildpackage -us -uc -b;
#   - installs libalbatross0, libalbatross-dev and albatross with apt-get;
#   - checks where the files are, the system user, pkg-config;
#   - starts albatrossd with the ExecStart line of the installed unit, its
#     --rundir and --dbdir pointed to the temporary directory (nothing touches
#     /run/albatross or /var/lib/albatross), and runs the installed
#     albatross-client info against it;
#   - compiles and runs a program against the installed -dev package;
#   - stops albatrossd, purges the packages and leaves the machine as it was:
#     the user and group albatross, /run/albatross and the packages apt-get
#     pulled in go too when they were not there before (a trap does it also
#     when a step fails or the test is interrupted).
# ALB_DEB_KEEP=DIR: the built .debs are copied to DIR (its older .debs replaced),
# which stays; without it they go with the temporary directory.
# Output: TAP, one line per check. Exit 0 passed, 1 failed, 77 skipped (not
# root, no dpkg-buildpackage or debhelper, or these packages are already
# installed: the test never purges an installation it did not make).
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
packages=(libalbatross0 libalbatross-dev albatross)
[ -z "${ALB_DEB_KEEP:-}" ] || ALB_DEB_KEEP=$(realpath -m "$ALB_DEB_KEEP")

skip() {
	echo "1..0 # SKIP $*"
	exit 77
}

[ "$(id -u)" -eq 0 ] || skip "not root"
command -v dpkg-buildpackage >/dev/null || skip "dpkg-buildpackage not installed (dpkg-dev)"
command -v dh >/dev/null || skip "dh not installed (debhelper)"
command -v apt-get >/dev/null || skip "apt-get not installed"

installed() { # package: true when dpkg has anything of it, even its configuration files
	dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -qv 'not-installed$'
}
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -qvE 'not-installed$|config-files$' &&
		skip "$p is already installed on this machine"
done

export DEBIAN_FRONTEND=noninteractive
# A lean build: no test suite, no debug symbol packages.
DEB_BUILD_OPTIONS="nocheck noddebs parallel=$(nproc)"
export DEB_BUILD_OPTIONS
unset PKG_CONFIG_PATH PKG_CONFIG_LIBDIR

# What is there before, to leave it so.
installed_packages() {
	dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Architecture}\n' |
		awk '$1 == "ii" { print ($3 == "all" ? $2 : $2 ":" $3) }' | sort
}
pkgs_before=$(installed_packages)
# What apt-get installs along with the packages (dependencies), to purge too;
# only what appeared during that command: this machine may be shared.
pulled_in=()
had_user=no
had_group=no
had_rundir=no
getent passwd albatross >/dev/null && had_user=yes
getent group albatross >/dev/null && had_group=yes
[ -e /run/albatross ] && had_rundir=yes

tmp=$(mktemp -d /tmp/albatross-deb.XXXXXX)
chmod 755 "$tmp"
daemon_pid=
policy_rc_d=
cleaned=no

n=0
failed=0
ok() { # description
	n=$((n + 1))
	echo "ok $n - $*"
}
not_ok() { # description
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $*"
}
check() { # description command...: one TAP line for the command's status
	local what=$1
	shift
	if "$@" >"$tmp/check.log" 2>&1; then
		ok "$what"
		return 0
	fi
	not_ok "$what"
	sed 's/^/# /' "$tmp/check.log" | tail -30
	return 1
}
diag() { sed 's/^/# /'; }

# The cap of a wait for something that takes a moment: generous, never reached on a
# busy machine (seconds).
WAIT=60
stop_daemon() {
	[ -n "$daemon_pid" ] || return 0
	kill -TERM "$daemon_pid" 2>/dev/null
	local end=$((SECONDS + WAIT))
	while kill -0 "$daemon_pid" 2>/dev/null && [ $SECONDS -lt $end ]; do
		sleep 0.1
	done
	kill -KILL "$daemon_pid" 2>/dev/null
	wait "$daemon_pid" 2>/dev/null
	daemon_status=$?
	daemon_pid=
	return 0
}

# Everything this test changed on the machine, undone; safe to run twice.
# Prints what it could not undo.
restore_machine() {
	local p left=() deps=()
	stop_daemon
	for p in "${packages[@]}"; do
		installed "$p" && left+=("$p")
	done
	if [ ${#left[@]} -gt 0 ]; then
		apt-get purge -y -qq "${left[@]}" >"$tmp/purge.log" 2>&1 || cat "$tmp/purge.log"
	fi
	for p in "${pulled_in[@]}"; do
		installed "$p" && deps+=("$p")
	done
	if [ ${#deps[@]} -gt 0 ]; then
		apt-get purge -y -qq "${deps[@]}" >"$tmp/purge-deps.log" 2>&1 || cat "$tmp/purge-deps.log"
	fi
	# Debian never removes a system user on purge; this test made it, so it goes.
	if [ $had_user = no ] && getent passwd albatross >/dev/null; then
		userdel albatross
	fi
	if [ $had_group = no ] && getent group albatross >/dev/null; then
		groupdel albatross
	fi
	if [ $had_rundir = no ] && [ -d /run/albatross ]; then
		rmdir /run/albatross
	fi
	if [ -n "$policy_rc_d" ]; then
		rm -f "$policy_rc_d"
		policy_rc_d=
	fi
}

cleanup() {
	[ $cleaned = yes ] && return
	cleaned=yes
	restore_machine 2>&1 | diag
	cd /
	rm -rf "$tmp"
}
trap cleanup EXIT
finish() {
	echo "1..$n"
	[ $failed -eq 0 ] && exit 0
	exit 1
}
trap 'not_ok "interrupted"; finish' INT TERM HUP

# When systemd runs this machine, installing the packages would start the
# real sockets in /run/albatross: a policy-rc.d (the trap removes it) keeps
# deb-systemd-invoke from starting anything while the test runs.
if [ -d /run/systemd/system ] && [ ! -e /usr/sbin/policy-rc.d ]; then
	policy_rc_d=/usr/sbin/policy-rc.d
	printf '#!/bin/sh\n# tests/debian/test-package.sh: start nothing\nexit 101\n' >"$policy_rc_d"
	chmod 755 "$policy_rc_d"
fi

# 1. The source tree.
version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
src=$tmp/build/libalbatross-$version
mkdir -p "$src"
copy_tree() {
	if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		(cd "$top" && git ls-files -z --cached --others --exclude-standard |
			while IFS= read -r -d '' f; do
				[ -e "$f" ] && printf '%s\0' "$f"
			done | tar --null -T - -cf -) | tar -xf - -C "$src"
	else
		(cd "$top" && tar --exclude='./build*' --exclude=./.git --exclude=./.run -cf - .) |
			tar -xf - -C "$src"
	fi
	[ -x "$src/debian/rules" ] && [ -f "$src/meson.build" ]
}
check "copy the source tree to $src" copy_tree || finish

# 2. The packages.
build_start=$(date +%s)
if (cd "$src" && dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b ($(($(date +%s) - build_start)) s)"
else
	not_ok "dpkg-buildpackage -us -uc -b"
	tail -40 "$tmp/build.log" | diag
	finish
fi
debs=()
for p in "${packages[@]}"; do
	debs+=("$tmp/build/${p}_${version}_$(dpkg --print-architecture).deb")
done
check "built ${packages[*]}" ls "${debs[@]}" || finish
# Kept when asked (scripts/test: build/debs/): the temporary directory goes at the end.
if [ -n "${ALB_DEB_KEEP:-}" ]; then
	keep_debs() {
		mkdir -p "$ALB_DEB_KEEP" && rm -f "$ALB_DEB_KEEP"/*.deb &&
			cp "${debs[@]}" "$ALB_DEB_KEEP/"
	}
	check "the packages kept in $ALB_DEB_KEEP" keep_debs
fi

# 3. Installed.
apt-get install -y -q --no-install-recommends "${debs[@]}" >"$tmp/install.log" 2>&1
install_status=$?
mapfile -t pulled_in < <(comm -13 <(echo "$pkgs_before") <(installed_packages) |
	grep -vE "^($(IFS='|'; echo "${packages[*]}"))(:|$)")
[ ${#pulled_in[@]} -eq 0 ] || echo "# apt-get installed as dependencies: ${pulled_in[*]}"
if [ $install_status -eq 0 ]; then
	ok "apt-get install the three packages"
else
	not_ok "apt-get install the three packages"
	tail -30 "$tmp/install.log" | diag
	finish
fi
configured() {
	local p
	for p in "${packages[@]}"; do
		dpkg-query -W -f='${db:Status-Abbrev}\n' "$p" | grep -q '^ii' || { echo "$p: not configured"; return 1; }
	done
}
check "the maintainer scripts ran (the packages are configured)" configured

# 4. Files where they belong.
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
arch=$(dpkg --print-architecture)
owned_by() { # package file...: each file exists and belongs to the package
	local p=$1 f
	shift
	for f in "$@"; do
		[ -e "$f" ] || { echo "missing: $f"; return 1; }
		# Multi-Arch: same packages are named with their architecture
		dpkg -S "$f" 2>/dev/null | grep -Eq "^$p(:$arch)?: " || { echo "$f: not from $p"; return 1; }
	done
}
lib_ok() {
	local f=/usr/lib/$multiarch/libalbatross.so.0 info=/var/lib/dpkg/info
	if [ ! -L "$f" ] || [ ! -f "$(readlink -f "$f")" ]; then
		echo "no $f"
		return 1
	fi
	owned_by libalbatross0 "$f" || return 1
	grep -q '^ alb_version@LIBALBATROSS_0.1 ' "$info/libalbatross0:$arch.symbols" \
		"$info/libalbatross0.symbols" 2>/dev/null || { echo "no symbols file"; return 1; }
	grep -q '^libalbatross 0 libalbatross0' "$info/libalbatross0:$arch.shlibs" \
		"$info/libalbatross0.shlibs" 2>/dev/null || { echo "no shlibs file"; return 1; }
}
check "libalbatross0: /usr/lib/$multiarch/libalbatross.so.0, its symbols and shlibs files" lib_ok
check "libalbatross-dev: headers in /usr/include/albatross, the .so link, libalbatross.pc" \
	owned_by libalbatross-dev /usr/include/albatross/albatross.h /usr/include/albatross/ctx.h \
	"/usr/lib/$multiarch/libalbatross.so" "/usr/lib/$multiarch/pkgconfig/libalbatross.pc"
modversion_ok() {
	local v
	v=$(pkg-config --modversion libalbatross) || return 1
	[ "$v" = "$version" ] || { echo "got '$v'"; return 1; }
}
check "pkg-config --modversion libalbatross is $version" modversion_ok
check "albatross: daemons in /usr/sbin, albatross-client in /usr/bin" \
	owned_by albatross /usr/sbin/albatrossd /usr/sbin/albatross-console /usr/sbin/albatross-log \
	/usr/sbin/albatross-stats /usr/sbin/albatross-tls-endpoint /usr/bin/albatross-client
links_ok() {
	local p lib
	dpkg-query -W -f='${Depends}' albatross | grep -q 'libalbatross0' ||
		{ echo "albatross does not depend on libalbatross0"; return 1; }
	for p in /usr/sbin/albatrossd /usr/sbin/albatross-console /usr/sbin/albatross-log \
		/usr/sbin/albatross-stats /usr/sbin/albatross-tls-endpoint /usr/bin/albatross-client; do
		lib=$(ldd "$p" | awk '$1 == "libalbatross.so.0" {print $3}')
		[ -n "$lib" ] &&
			[ "$(readlink -f "$lib")" = "$(readlink -f "/usr/lib/$multiarch/libalbatross.so.0")" ] ||
			{ echo "$p does not link the installed libalbatross.so.0: $(ldd "$p")"; return 1; }
	done
}
check "albatross depends on libalbatross0; every program links its libalbatross.so.0" links_ok
monitor_ok() {
	local f=/usr/libexec/albatross/albatross-monitor
	owned_by albatross "$f" || return 1
	[ -x "$f" ] || { echo "$f is not executable"; return 1; }
}
check "albatross: the monitor /usr/libexec/albatross/albatross-monitor" monitor_ok
check "libalbatross-dev: the extension tier (albatross/sys/)" \
	owned_by libalbatross-dev /usr/include/albatross/sys/wire.h /usr/include/albatross/sys/services.h
man_ok() {
	owned_by albatross /usr/share/man/man1/albatross-client.1.gz \
		/usr/share/man/man8/albatrossd.8.gz /usr/share/man/man8/albatross-console.8.gz \
		/usr/share/man/man8/albatross-log.8.gz /usr/share/man/man8/albatross-stats.8.gz &&
		owned_by libalbatross-dev /usr/share/man/man7/libalbatross.7.gz &&
		zcat /usr/share/man/man8/albatrossd.8.gz | grep -q '^\.TH'
}
check "man pages: albatross-client(1), albatrossd(8) and the other daemons', libalbatross(7)" man_ok
unitdir=
for d in /lib/systemd/system /usr/lib/systemd/system; do
	[ -f "$d/albatrossd.service" ] && unitdir=$d && break
done
units=()
for u in albatrossd albatross-console albatross-log albatross-stats albatross-tls-endpoint; do
	units+=("$unitdir/$u.service" "$unitdir/$u.socket")
done
units+=("$unitdir/albatross-unikernels.service") # no socket: it stops the unikernels
check "systemd units (${#units[@]}) in ${unitdir:-/lib/systemd/system}" owned_by albatross "${units[@]}"
check "sysusers.d, tmpfiles.d, bash and zsh completion" owned_by albatross \
	/usr/lib/sysusers.d/albatross.conf /usr/lib/tmpfiles.d/albatross.conf \
	/usr/share/bash-completion/completions/albatross-client \
	/usr/share/zsh/vendor-completions/_albatross-client
user_ok() {
	local gid
	gid=$(getent group albatross | cut -d: -f3)
	[ -n "$gid" ] || { echo "no group albatross"; return 1; }
	[ "$(getent passwd albatross | cut -d: -f4)" = "$gid" ] || { echo "no user albatross in it"; return 1; }
}
check "postinst made the system user and group albatross (sysusers)" user_ok

# 5. albatrossd as its unit starts it, in the temporary directory.
exec_start=$(sed -n 's/^ExecStart=//p' "$unitdir/albatrossd.service" | head -1)
read -ra cmd <<<"$exec_start"
have_rundir=no
have_dbdir=no
for i in "${!cmd[@]}"; do
	case ${cmd[$i]} in
	--rundir) cmd[i + 1]=$tmp/run have_rundir=yes ;;
	--dbdir) cmd[i + 1]=$tmp/db have_dbdir=yes ;;
	esac
done
echo "# ExecStart=$exec_start"
if [ "${cmd[0]:-}" = /usr/sbin/albatrossd ] && [ $have_rundir = yes ] && [ $have_dbdir = yes ]; then
	ok "albatrossd.service: ExecStart runs /usr/sbin/albatrossd with --rundir and --dbdir"
else
	not_ok "albatrossd.service: ExecStart runs /usr/sbin/albatrossd with --rundir and --dbdir"
	finish
fi
# What systemd makes first: RuntimeDirectory (tmpfiles) and StateDirectory.
mkdir -p "$tmp/run" "$tmp/db"
"${cmd[@]}" >"$tmp/albatrossd.log" 2>&1 &
daemon_pid=$!
wait_socket() {
	local end=$((SECONDS + WAIT))
	while [ $SECONDS -lt $end ]; do
		[ -S "$tmp/run/albatrossd.sock" ] && return 0
		kill -0 "$daemon_pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
if wait_socket; then
	ok "albatrossd (${cmd[*]:1}) serves $tmp/run/albatrossd.sock"
else
	not_ok "albatrossd (${cmd[*]:1}) serves $tmp/run/albatrossd.sock"
	diag <"$tmp/albatrossd.log"
	finish
fi
check "the socket belongs to the group albatross (--group albatross)" \
	test "$(stat -c %G "$tmp/run/albatrossd.sock")" = albatross
check "/usr/bin/albatross-client --rundir $tmp/run info" \
	/usr/bin/albatross-client --rundir "$tmp/run" info
check "/usr/bin/albatross-client --version" /usr/bin/albatross-client --version

# 6. A program built against the installed -dev package.
cat >"$tmp/version.c" <<'EOF'
#include <stdio.h>
#include <albatross/albatross.h>

int main(void)
{
	const char *v = alb_version();

	if (v == NULL || v[0] == '\0')
		return 1;
	printf("%s\n", v);
	return 0;
}
EOF
compile() {
	local flags
	flags=$(pkg-config --cflags --libs libalbatross) || return 1
	echo "cc flags: $flags"
	# shellcheck disable=SC2086 # the flags are words
	cc -std=c99 -Wall -Wextra -Werror -o "$tmp/version" "$tmp/version.c" $flags
}
run_version() {
	local v lib
	lib=$(ldd "$tmp/version" | awk '$1 == "libalbatross.so.0" {print $3}')
	echo "libalbatross.so.0 => $lib"
	# /lib is /usr/lib on a merged /usr
	[ -n "$lib" ] && [ "$(readlink -f "$lib")" = "$(readlink -f "/usr/lib/$multiarch/libalbatross.so.0")" ] ||
		return 1
	v=$("$tmp/version") || return 1
	[ "$v" = "$version" ] || { echo "alb_version() is '$v'"; return 1; }
}
check "cc version.c \$(pkg-config --cflags --libs libalbatross)" compile
check "it runs on /usr/lib/$multiarch/libalbatross.so.0 and alb_version() is $version" run_version

# 7. Stopped, purged, and the machine as it was.
daemon_status=
stop_daemon
if [ "$daemon_status" = 0 ]; then
	ok "albatrossd stops on SIGTERM (exit 0)"
else
	not_ok "albatrossd stops on SIGTERM (exit $daemon_status)"
	diag <"$tmp/albatrossd.log"
fi
check "apt-get purge -y ${packages[*]}" apt-get purge -y -q "${packages[@]}"
gone() {
	local p
	for p in "${packages[@]}"; do
		# not even "rc": purged, configuration files and all
		if installed "$p"; then
			dpkg -l "$p" | tail -1
			return 1
		fi
	done
}
check "dpkg knows none of the packages any more" gone
no_files() {
	! compgen -G '/etc/systemd/system/*/albatross*' &&
		! compgen -G '/var/lib/systemd/deb-systemd-helper-enabled/*albatross*' &&
		! compgen -G '/lib/systemd/system/albatross*' &&
		! compgen -G '/usr/lib/systemd/system/albatross*' &&
		! compgen -G '/usr/lib/*/libalbatross*' &&
		! compgen -G '/usr/sbin/albatross*' && [ ! -e /usr/libexec/albatross ] &&
		[ ! -e /usr/bin/albatross-client ] && [ ! -e /usr/include/albatross ]
}
check "no file of the packages left (units enabled by postinst, libraries, headers)" no_files
as_before() {
	local p
	restore_machine >"$tmp/restore.log" 2>&1
	[ -s "$tmp/restore.log" ] && { cat "$tmp/restore.log"; return 1; }
	for p in "${pulled_in[@]}"; do
		installed "$p" && { echo "$p (a dependency apt-get installed) is left"; return 1; }
	done
	[ "$had_user" = yes ] || ! getent passwd albatross || return 1
	[ "$had_group" = yes ] || ! getent group albatross || return 1
	[ "$had_rundir" = yes ] || [ ! -e /run/albatross ] || { echo "/run/albatross left"; return 1; }
}
check "the machine as before: packages, user and group albatross, /run/albatross" as_before
cleanup
if [ ! -e "$tmp" ]; then
	ok "the temporary directory is gone"
else
	not_ok "the temporary directory is gone"
fi
finish
