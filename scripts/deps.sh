# SPDX-License-Identifier: ISC
# Sourced by scripts/run and scripts/test: installs the Debian packages the
# build and the tests need, and nothing when they are all there already.
# ALB_PACKAGES: the build, and scripts/run (ip, ss and setsid for its network
# namespace and daemons).

ALB_PACKAGES=(
	build-essential meson ninja-build pkg-config python3
	libcbor-dev libgnutls28-dev libnl-3-dev libnl-route-3-dev libhwloc-dev zlib1g-dev
	libnftables-dev libnl-nf-3-dev nettle-dev
	check
	iproute2 util-linux
	scdoc
)
# The fuzz smoke run of scripts/test: clang with the libFuzzer runtime.
# tests/debian/test-package.sh: dpkg-buildpackage, debhelper (scdoc, for the man pages, is above).
# tests/completion: zsh and bash-completion (each is tried when there).
ALB_TEST_PACKAGES=(abigail-tools clang clang-format libclang-rt-dev influxdb prometheus util-linux iproute2 gnutls-bin
	dpkg-dev debhelper scdoc nftables zsh bash-completion)

alb_install_packages() {
	local missing=() p
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
			missing+=("$p")
		fi
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "Installing Debian packages: ${missing[*]}"
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null; then
			sudo=(sudo)
		else
			echo "error: packages missing (${missing[*]}) and not root; run as root" >&2
			return 1
		fi
	fi
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}"
}

# meson setup that also works on an existing build directory.
alb_meson_setup() {
	local dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@"
	else
		rm -rf "$dir"
		meson setup "$dir" "$@"
	fi
}
