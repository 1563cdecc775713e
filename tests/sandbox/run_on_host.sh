#!/bin/sh
# Runs the confinement and cgroup tests as standalone binaries on this
# host, outside any test sandbox: on a pure cgroup v2 host (memory, pids,
# cpu controllers delegated) the tests that skip elsewhere run here.
#   tests/sandbox/run_on_host.sh [gtest flags...]
# Run it as root, or inside a group delegated to you (systemd-run
# --user --scope -p Delegate=yes tests/sandbox/run_on_host.sh). From a
# group with processes of its own (a service's), name an empty delegated
# group for the limited pools: PP_TEST_CGROUP_PARENT=/path/under/cgroup2;
# PP_TEST_CGROUP_LIMITS=required turns the limit tests' skips into
# failures. On a hybrid v1/v2 host, tools/vm/sandbox_tests.sh runs the
# sandbox suites in a pure cgroup v2 guest instead.
set -eu
cd "$(dirname "$0")/../.."
bazel build //tests/sandbox:cgroup_test //tests/sandbox:confinement_test
bin=$(bazel info bazel-bin)/tests/sandbox
rc=0
for t in cgroup_test confinement_test; do
	echo "== $t"
	"$bin/$t" "$@" || rc=1
done
exit $rc
