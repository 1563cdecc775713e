#!/bin/sh
# Builds the sandbox suites (//tests/sandbox) and runs them in the pure
# cgroup v2 guest (tools/vm/run.sh), in both scenarios: from the root
# group, and from a service's populated group with a delegated parent.
# The cgroup tests may not skip for want of limits there
# (PP_TEST_CGROUP_LIMITS=required). Arguments go to bazel (flags only).
#   tools/vm/sandbox_tests.sh [--color=no ...]
set -eu
cd "$(dirname "$0")/../.."
bazel build "$@" //tests/sandbox/...
bin=$(bazel info "$@" bazel-bin)
set --
for t in $(bazel query 'tests(//tests/sandbox/...)' 2>/dev/null | sort); do
	set -- "$@" "$bin/tests/sandbox/${t##*:}"
done
exec tools/vm/run.sh -t 120 -T "${PP_VM_SECONDS:-600}" \
	-e TEST_WORKSPACE=processpool -e PP_TEST_CGROUP_LIMITS=required "$@"
