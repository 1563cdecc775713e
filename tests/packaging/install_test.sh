#!/bin/sh
# What the README tells non-Bazel users to do: install into a prefix,
# then build a program with pkg-config, linked shared and static, and
# run it (a fork-mode and a clean-room pool; the clean-room worker is a
# fresh exec that must find the shared library again). Arguments are
# extra compiler flags: the sanitizer the libraries were built with.
set -eu
here=${TEST_SRCDIR:?}/${TEST_WORKSPACE:-processpool}
tmp=${TEST_TMPDIR:-$(mktemp -d)}
prefix=$tmp/prefix
cc=${CC:-cc}

RUNFILES_DIR=$TEST_SRCDIR sh "$here/tools/install.sh" --prefix "$prefix"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig

# shellcheck disable=SC2046 # pkg-config's output is a list of flags
"$cc" "$@" -o "$tmp/app_shared" "$here/tests/packaging/app.c" \
	$(pkg-config --cflags --libs processpool)
# shellcheck disable=SC2046
"$cc" "$@" -o "$tmp/app_static" "$here/tests/packaging/app.c" \
	$(pkg-config --cflags processpool) "$prefix/lib/libprocesspool.a" \
	$(pkg-config --libs-only-l --static processpool | sed 's/-lprocesspool//')

if nm -D "$tmp/app_static" 2>/dev/null | grep -q ' pool_create$'; then
	echo "FAIL: the static program imports pool_create" >&2
	exit 1
fi
LD_LIBRARY_PATH=$prefix/lib "$tmp/app_shared"
"$tmp/app_static"
echo "PASS: installed library links shared and static"
