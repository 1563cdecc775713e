#!/bin/sh
# The monitoring example runs for a second, serves its metrics on
# localhost, scrapes them itself in both formats and checks every task
# completed (its exit status says so).
set -eu
bin=$1
out=${TEST_TMPDIR:-/tmp}/monitoring_example.out
if ! "$bin" --duration 1 --plain >"$out" 2>&1; then
	cat "$out"
	if grep -q "metrics endpoint on 127.0.0.1" "$out"; then
		echo "no loopback network here: cannot serve" >&2
	fi
	exit 1
fi
grep -q "^scraped /metrics: " "$out"
grep -q "^scraped /metrics.json: " "$out"
grep -q "^slot    pid  state" "$out"
grep -q "^monitoring example done" "$out"
echo "monitoring_example_test: passed"
