#!/usr/bin/env bash
# The map example end to end: every record hashed right, a crash in the
# middle of a map costs only the task that crashed, a cancelled map ends
# every task. The example exits non-zero on any wrong result.
set -euo pipefail
err="${TEST_TMPDIR:-/tmp}/map_example.err"
out=$("$1" 2>"$err") || { echo "$out"; tail -20 "$err"; exit 1; }
echo "$out"
grep -q "records hashed in .*, 0 wrong" <<<"$out"
grep -q "task 777 ended CRASHED .*, 0 of the other 9999 wrong" <<<"$out"
grep -q "cancelled map: .* 0 other" <<<"$out"
