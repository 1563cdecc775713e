#!/bin/sh
# Installs processpool for non-Bazel builds:
#   bazel run //:install -- --prefix DIR
# puts include/process_pool.h, lib/libprocesspool.{a,so}, and
# lib/pkgconfig/processpool.pc under DIR.
set -eu

usage() {
	echo "usage: bazel run //:install -- --prefix DIR" >&2
	exit 2
}

prefix=""
while [ $# -gt 0 ]; do
	case "$1" in
	--prefix) [ $# -ge 2 ] || usage; prefix=$2; shift 2 ;;
	--prefix=*) prefix=${1#--prefix=}; shift ;;
	*) usage ;;
	esac
done
[ -n "$prefix" ] || usage
case "$prefix" in
/*) ;;
*) prefix="${BUILD_WORKING_DIRECTORY:-$PWD}/$prefix" ;;
esac

# Runfiles live next to this script under bazel run.
here=${RUNFILES_DIR:-$0.runfiles}/processpool
[ -d "$here" ] || here=$(cd "$(dirname "$0")" && pwd)

version=$(sed -n 's/^#define PROCESS_POOL_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)/\2/p' \
	"$here/include/process_pool.h" | paste -sd. -)

mkdir -p "$prefix/include" "$prefix/lib/pkgconfig"
install -m 0644 "$here/include/process_pool.h" "$prefix/include/"
install -m 0644 "$here/libprocesspool.a" "$prefix/lib/"
install -m 0755 "$here/libprocesspool.so" "$prefix/lib/libprocesspool.so.0"
ln -sf libprocesspool.so.0 "$prefix/lib/libprocesspool.so"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" \
	"$here/tools/processpool.pc.in" >"$prefix/lib/pkgconfig/processpool.pc"
echo "installed processpool $version under $prefix"
echo "use: PKG_CONFIG_PATH=$prefix/lib/pkgconfig cc app.c \$(pkg-config --cflags --libs processpool)"
