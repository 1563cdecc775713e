#!/usr/bin/env bash
# Continuous fuzzing of one target, the documented way:
#
#   fuzz/run.sh TARGET SECONDS [extra libFuzzer flags...]
#
# TARGET is ring, frame, channel or frame_check (or ring_fuzzer, ...). Builds the target
# with --config=fuzz (clang, libFuzzer, ASan, UBSan), grows the work corpus
# fuzz/corpus-work/NAME (seeded from fuzz/corpus/NAME, kept between runs),
# and runs one fuzzing process for SECONDS with the target's dictionary.
# Crashes, leaks and timeouts land in fuzz/artifacts/NAME/, and so does the
# log of the last run. Exits non-zero when the fuzzer found something.
set -euo pipefail

if [ $# -lt 2 ]; then
	echo "usage: $0 ring|frame|channel|frame_check SECONDS [libFuzzer flags...]" >&2
	exit 2
fi
name=${1%_fuzzer}
seconds=$2
shift 2

cd "$(dirname "$0")/.."
if [ ! -f "fuzz/${name}_fuzzer.c" ]; then
	echo "$0: no fuzz target named '$name'" >&2
	exit 2
fi

bazel build --config=fuzz "//fuzz:${name}_fuzzer"
bin="$(bazel info --config=fuzz bazel-bin)/fuzz/${name}_fuzzer"

work="fuzz/corpus-work/$name"
artifacts="fuzz/artifacts/$name"
mkdir -p "$work" "$artifacts"
cp -n "fuzz/corpus/$name"/* "$work"/
log="$artifacts/last.log"
before=$(find "$artifacts" -type f ! -name last.log | wc -l)

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
set +e
"$bin" -max_total_time="$seconds" -dict="fuzz/$name.dict" \
	-artifact_prefix="$artifacts/" -print_final_stats=1 -timeout=25 \
	-rss_limit_mb=2048 "$@" "$work" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

after=$(find "$artifacts" -type f ! -name last.log | wc -l)
echo "== $name: $(grep -h 'stat::number_of_executed_units' "$log" |
	awk '{print $2}') executions," \
	"$(grep -h 'stat::average_exec_per_sec' "$log" | awk '{print $2}')" \
	"exec/s, corpus $(find "$work" -type f | wc -l) files," \
	"exit status $rc"
if [ "$rc" -ne 0 ] || [ "$after" -gt "$before" ]; then
	echo "== $name: FOUND SOMETHING, see $artifacts/ and $log" >&2
	exit 1
fi
