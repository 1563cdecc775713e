#!/bin/sh
# merge_archives.sh OUT.a IN... : merge the static archives among IN (.a,
# or .lo for alwayslink libraries; shared objects are ignored) into OUT.a. Prefers the PIC
# archives when Bazel built both, so the result links into PIE programs.
set -eu
out=$1
shift
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
script="CREATE $out"
for f in $libs; do
	script="$script
ADDLIB $f"
done
script="$script
SAVE
END"
rm -f "$out"
printf '%s\n' "$script" | ar -M
ranlib "$out"
