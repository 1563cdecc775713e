#!/bin/sh
# Installs the Debian/Ubuntu packages the build and the tests need (QEMU
# and busybox boot the cgroup v2 guest of tools/vm). Idempotent: does
# nothing when they are all present. Uses sudo when not run as root.
set -eu

PACKAGES="bazel-bootstrap bazel-rules-java default-jdk-headless
libseccomp-dev libcap-ng-dev libnuma-dev libgtest-dev
clang libclang-rt-14-dev gcc g++ pkg-config libzmq3-dev python3
qemu-system-x86 busybox-static xz-utils prometheus python3-jsonschema
systemtap-sdt-dev"

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
		grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "setup: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the list is intended
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "setup: done" >&2
