#!/bin/sh
# Runs the whole test suite (unit, stress, hostile-worker tests and the
# fuzz corpora). Extra arguments go to bazel test.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
exec bazel test "$@" //...
