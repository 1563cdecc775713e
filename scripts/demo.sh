#!/bin/sh
# Builds and runs the demo: a pool hashing buffers across its worker
# processes, then a crash, a timeout, a cancel and priorities, each one
# checked. Exits non-zero when a check fails.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
exec bazel run --config=bench //examples:demo
