#!/bin/sh
# Each C test given holds a README region (between README:begin and
# README:end): it must be one of README.md's ```c blocks, verbatim once
# the region's own indentation is taken off, and every ```c block must be
# one of the regions. So the README's C is code that compiles and runs.
# Usage: readme_sync_test.sh README.md TEST.c...
set -u
readme=$1
shift
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/readme.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
awk -v dir="$tmp" '
	/^```c$/ { n++; on = 1; printf "" > (dir "/block" n); next }
	/^```$/ { on = 0; next }
	on { print > (dir "/block" n) }
' "$readme"
status=0
n=0
for f in "$@"; do
	n=$((n + 1))
	awk '
		/README:end/ { on = 0 }
		on {
			if (index($0, ind) == 1)
				print substr($0, length(ind) + 1)
			else
				print
		}
		/README:begin/ {
			match($0, /^[ \t]*/)
			ind = substr($0, 1, RLENGTH)
			on = 1
		}
	' "$f" >"$tmp/region$n"
	if [ ! -s "$tmp/region$n" ]; then
		echo "$f: no README region"
		status=1
		continue
	fi
	found=0
	for b in "$tmp"/block*; do
		[ -e "$b" ] || continue
		cmp -s "$tmp/region$n" "$b" && found=1
	done
	if [ "$found" = 0 ]; then
		echo "$f: its README region is not a \`\`\`c block of README.md:"
		cat "$tmp/region$n"
		status=1
	fi
done
for b in "$tmp"/block*; do
	[ -e "$b" ] || continue
	found=0
	for r in "$tmp"/region*; do
		[ -e "$r" ] || continue
		cmp -s "$r" "$b" && found=1
	done
	if [ "$found" = 0 ]; then
		echo "a \`\`\`c block of README.md is in no test:"
		cat "$b"
		status=1
	fi
done
exit $status
