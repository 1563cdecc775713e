#!/bin/sh
# merge_archives.sh OUT.a MAP IN... : one static library from the static
# archives among IN (.a, or .lo for alwayslink libraries; shared objects
# are ignored), exporting only the names MAP (a linker version script,
# its global: list) declares.
#
# The objects are linked into one relocatable object (ld -r, every
# member), in which every defined global symbol outside the list is made
# local, so that a program linking OUT.a sees the public API and nothing
# of the engine behind it. Prefers the PIC archives when Bazel built
# both, so the result links into PIE programs.
set -eu
out=$1
map=$2
shift 2
pic=""
plain=""
for f in "$@"; do
	case "$f" in
	*.pic.a | *.pic.lo) pic="$pic $f" ;;
	*.a | *.lo) plain="$plain $f" ;;
	esac
done
libs=${pic:-$plain}
[ -n "$libs" ] || { echo "merge_archives: no archives given" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The names of the global: block, one per line.
sed -n '/global:/,/local:/s/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\);.*/\1/p' \
	"$map" >"$tmp/keep"
[ -s "$tmp/keep" ] || { echo "merge_archives: no names in $map" >&2; exit 1; }

# shellcheck disable=SC2086 # $libs is a list of paths
ld -r -o "$tmp/libprocesspool.o" --whole-archive $libs --no-whole-archive
objcopy --localize-hidden --keep-global-symbols="$tmp/keep" \
	"$tmp/libprocesspool.o"

# Every public name must still be defined: a missing one is a build error.
nm -g --defined-only "$tmp/libprocesspool.o" | awk 'NF == 3 { print $3 }' |
	sort >"$tmp/defined"
missing=$(sort "$tmp/keep" | comm -23 - "$tmp/defined")
if [ -n "$missing" ]; then
	echo "merge_archives: not defined: $missing" >&2
	exit 1
fi

rm -f "$out"
ar rcs "$out" "$tmp/libprocesspool.o"
