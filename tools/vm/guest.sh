#!/bin/sh
# Runs inside the guest (started by the plan that tools/vm/run.sh writes):
# each binary in each scenario, its output in OUT/SCENARIO/NAME.log and
# its exit status in OUT/SCENARIO/NAME.rc.
#   guest.sh OUT SECONDS "SCENARIO..." BINARY...
# Scenarios:
#   root     the binaries run in the root group (a host where the pool's
#            parent may enable every controller).
#   service  a service's own, populated group with a delegated parent, as
#            systemd lays out Delegate=yes with DelegateSubgroup=main:
#            the binaries run in /pp.service/main, and
#            PP_TEST_CGROUP_PARENT=/pp.service names the delegated group
#            a pool may use (cgroup_parent).
# After each binary, a group whose cgroup.type changed or a processpool-*
# group left behind fails it, and is cleaned away for the next one.
set -u
out=$1
limit=$2
scenarios=$3
shift 3
cg=/sys/fs/cgroup

# Lets every uid reach path: workers may run under an unprivileged uid of
# their own, and the host's /root is 0700. The overlay takes the change.
# Shell expansions only: every exec costs ~0.1 s under emulation.
reach() {
	p=$1
	set --
	while [ -n "$p" ]; do
		set -- "$@" "$p"
		p=${p%/*}
	done
	chmod o+x "$@" 2>/dev/null
}

uptime() {
	read -r up _ </proc/uptime
	echo "${up%.*}"
}

# Groups whose type is no longer "domain", and processpool-* leftovers.
cgroup_damage() {
	find "$cg" -mindepth 1 -name cgroup.type | while read -r f; do
		read -r t <"$f"
		[ "$t" = domain ] || echo "$(dirname "${f#"$cg"}") is $t"
	done
	find "$cg" -mindepth 1 -type d -name 'processpool-*' |
		while read -r d; do
			echo "${d#"$cg"} left behind"
		done
}

# Removes processpool-* groups (deepest first), killing what is in them.
cgroup_clean() {
	find "$cg" -mindepth 1 -depth -type d -path '*processpool-*' |
		while read -r d; do
			echo 1 >"$d/cgroup.kill" 2>/dev/null
			rmdir "$d" 2>/dev/null || { sleep 1 && rmdir "$d"; }
		done
}

run_one() {
	scenario=$1
	bin=$2
	name=$(basename "$bin")
	dir=$out/$scenario
	log=$dir/$name.log
	tmp=/tmp/ppvm-$scenario-$name
	mkdir -p "$dir" "$tmp"
	chmod 1777 "$tmp"
	reach "$(readlink -f "$bin")"
	reach "$bin"
	start=$(uptime)
	(
		rf=$bin.runfiles
		ws=${TEST_WORKSPACE:-}
		if [ -n "$ws" ] && [ -d "$rf/$ws" ]; then
			export TEST_SRCDIR="$rf"
			cd "$rf/$ws" || exit 125
		fi
		export TEST_TMPDIR="$tmp"
		exec timeout -k 5 "$limit" "$bin"
	) >"$log" 2>&1
	rc=$?
	damage=$(cgroup_damage)
	if [ -n "$damage" ]; then
		printf 'ppvm: the cgroup tree after %s:\n%s\n' "$name" \
			"$damage" >>"$log"
		[ "$rc" -ne 0 ] || rc=200
		cgroup_clean
	fi
	echo "$rc" >"$dir/$name.rc"
	echo "ppvm: $scenario/$name exit $rc ($(($(uptime) - start)) s," \
		"guest uptime $(uptime) s)"
}

for scenario in $scenarios; do
	case $scenario in
	root)
		(
			for bin; do run_one root "$bin"; done
		)
		;;
	service)
		# systemd creates the subgroup and moves the service in; the
		# controllers reach main, so a pool there is tempted to use
		# them (a group with processes cannot).
		mkdir -p "$cg/pp.service/main"
		echo "+memory +pids +cpu" \
			>"$cg/pp.service/cgroup.subtree_control"
		(
			# This shell, and so every binary, joins main.
			echo 0 >"$cg/pp.service/main/cgroup.procs" || exit 1
			export PP_TEST_CGROUP_PARENT=/pp.service
			for bin; do run_one service "$bin"; done
		)
		;;
	*)
		echo "ppvm: unknown scenario $scenario"
		;;
	esac
done
sync
