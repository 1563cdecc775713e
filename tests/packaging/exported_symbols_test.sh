#!/bin/sh
# The installed libraries export the public API and nothing else: the
# dynamic symbols of libprocesspool.so and the defined globals of
# libprocesspool.a must be exactly the functions include/process_pool.h
# declares, and tools/processpool.map (the version script) must list
# exactly those too. An internal function (pp_*) that leaks, or a public
# one the map forgot, fails it.
set -eu
here=${TEST_SRCDIR:?}/${TEST_WORKSPACE:-processpool}
tmp=${TEST_TMPDIR:-$(mktemp -d)}
fail=0

# Functions declared at the start of a line in the header: a type, then
# the name and its opening parenthesis (kernel style puts each public
# declaration there; typedefs and macros are skipped).
sed -n -e '/^typedef/d' -e '/^#/d' \
	-e 's/^[A-Za-z_][A-Za-z0-9_ ]*[ *]\{1,\}\([A-Za-z_][A-Za-z0-9_]*\)(.*/\1/p' \
	"$here/include/process_pool.h" | sort -u >"$tmp/public"
n=$(wc -l <"$tmp/public")
# A parser that finds nothing would make every check below pass.
if [ "$n" -lt 20 ] || ! grep -qx pool_create "$tmp/public" ||
	! grep -qx pool_output_alloc "$tmp/public"; then
	echo "FAIL: only $n functions found in process_pool.h" >&2
	exit 1
fi

# compare WHAT FILE: FILE must hold exactly the public names.
compare() {
	extra=$(comm -13 "$tmp/public" "$2")
	missing=$(comm -23 "$tmp/public" "$2")
	if [ -n "$extra" ]; then
		echo "FAIL: $1 exports what process_pool.h does not declare:" >&2
		echo "$extra" | sed 's/^/  /' >&2
		fail=1
	fi
	if [ -n "$missing" ]; then
		echo "FAIL: $1 lacks public functions:" >&2
		echo "$missing" | sed 's/^/  /' >&2
		fail=1
	fi
}

nm -D --defined-only "$here/libprocesspool.so" |
	awk 'NF == 3 { print $3 }' | sed 's/@.*//' | sort -u >"$tmp/so"
compare libprocesspool.so "$tmp/so"

nm -g --defined-only "$here/libprocesspool.a" |
	awk 'NF == 3 { print $3 }' | sort -u >"$tmp/a"
compare libprocesspool.a "$tmp/a"

sed -n '/global:/,/local:/s/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\);.*/\1/p' \
	"$here/tools/processpool.map" | sort -u >"$tmp/map"
compare tools/processpool.map "$tmp/map"

[ "$fail" -eq 0 ] || exit 1
echo "PASS: $n public functions, nothing else exported"
