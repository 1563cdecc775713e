#!/bin/sh
# Runs test binaries inside a guest booting a pure cgroup v2 kernel, for
# the cgroup tests that a hybrid v1/v2 host can only skip.
#   tools/vm/run.sh [options] BINARY...
#   -s SCENARIO  root or service (see guest.sh); repeatable; default both
#   -e NAME=VAL  environment for the binaries; repeatable
#   -t SECONDS   limit for one binary (default 300)
#   -T SECONDS   limit for the whole guest, boot included (default: 60 +
#                the binaries' limits)
#   -m MIB       guest memory (default 2048)
#   -c CPUS      guest CPUs (default: this host's, at most 4)
#   -o DIR       results folder (default: a new one under /tmp)
# QEMU emulates the CPU (TCG): KVM here runs only specially built guests.
# The guest is Debian's linux-image-amd64 (tools/vm/kernel.sh, fetched
# with apt-get download, never installed) with a busybox initramfs
# (tools/vm/init); it sees this host's / read-only under a tmpfs overlay,
# so binaries built here run there unchanged, and it writes each
# binary's output and exit status to the results folder, shared over 9p.
# Prints "vm: PASS|FAIL SCENARIO/NAME" per binary, then the failures'
# output. Exits 0 when every binary passed, 1 when one failed, 2 when the
# guest did not run them. The guest reads this host's files with the
# rights of the user running this script (as root under CI).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
scenarios=""
envs=""
limit=300
total=""
mem=2048
cpus=$(nproc)
[ "$cpus" -le 4 ] || cpus=4
out=""

# Quotes a word for the plan (a shell script).
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

while getopts s:e:t:T:m:c:o: opt; do
	case $opt in
	s) scenarios="$scenarios $OPTARG" ;;
	e) envs="$envs export $(q "$OPTARG");" ;;
	t) limit=$OPTARG ;;
	T) total=$OPTARG ;;
	m) mem=$OPTARG ;;
	c) cpus=$OPTARG ;;
	o) out=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || {
	echo "usage: $0 [-s SCENARIO] [-e NAME=VAL] [-t S] [-T S] [-m MIB]" \
		"[-c N] [-o DIR] BINARY..." >&2
	exit 2
}
scenarios=${scenarios:-root service}
for t in qemu-system-x86_64 busybox; do
	command -v "$t" >/dev/null || {
		echo "vm: $t missing (scripts/setup.sh installs it)" >&2
		exit 2
	}
done

kdir=$("$here/kernel.sh") || exit 2
kernel=$kdir/vmlinux
[ -f "$kernel" ] || kernel=$kdir/vmlinuz
if [ -z "$out" ]; then
	out=$(mktemp -d /tmp/ppvm.XXXXXX)
else
	mkdir -p "$out"
	out=$(cd "$out" && pwd)
fi
rm -rf "$out/initramfs" "$out/plan.rc" "$out/init-failed"

# The initramfs: busybox, the init script, the modules.
ir=$out/initramfs
mkdir -p "$ir/bin" "$ir/lib/modules" "$ir/dev" "$ir/proc" "$ir/sys"
cp "$(command -v busybox)" "$ir/bin/busybox"
for a in $(busybox --list); do
	[ -e "$ir/bin/$a" ] || ln -s busybox "$ir/bin/$a"
done
cp "$here/init" "$ir/init"
chmod 755 "$ir/init"
cp "$kdir"/modules/*.ko "$ir/lib/modules/" 2>/dev/null || true
(cd "$ir" && find . | busybox cpio -o -H newc 2>/dev/null) \
	>"$out/initramfs.cpio"
rm -rf "$ir"

# The plan the guest runs, with absolute paths that are the same there.
{
	echo "$envs"
	printf 'exec /bin/sh %s %s %s %s' "$(q "$here/guest.sh")" \
		"$(q "$out")" "$limit" "$(q "$scenarios")"
	for b; do
		case $b in
		/*) ;;
		*) b=$(pwd)/$b ;;
		esac
		printf ' %s' "$(q "$b")"
	done
	echo
} >"$out/plan"

n_bins=$#
n_scen=$(echo $scenarios | wc -w)
budget=${total:-$((60 + limit * n_bins * n_scen))}
echo "vm: booting $(basename "$kdir") ($cpus CPUs, $mem MiB), results in $out"
t0=$(date +%s)
rc=0
cmdline="console=ttyS0 quiet loglevel=4 panic=-1 cgroup_no_v1=all"
fs=security_model=none,multidevs=remap
timeout -k 10 "$budget" qemu-system-x86_64 \
	-nodefaults -no-reboot -display none -monitor none \
	-machine pc -accel "${PP_VM_ACCEL:-tcg,thread=multi}" -cpu max \
	-smp "$cpus" -m "$mem" \
	-kernel "$kernel" -initrd "$out/initramfs.cpio" \
	-append "$cmdline ppvm_out=$out" \
	-chardev "file,id=con,path=$out/console.log" -serial chardev:con \
	-fsdev "local,id=hostroot,path=/,readonly=on,$fs" \
	-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
	-fsdev "local,id=results,path=$out,$fs" \
	-device virtio-9p-pci,fsdev=results,mount_tag=results || rc=$?
echo "vm: the guest ran for $(($(date +%s) - t0)) s (qemu exit $rc)"
rm -f "$out/initramfs.cpio"
grep -E '^ppvm' "$out/console.log" 2>/dev/null | sed 's/^/vm: /'

status=0
[ -f "$out/plan.rc" ] || {
	echo "vm: the guest did not finish its plan; its console:"
	tail -n 40 "$out/console.log" 2>/dev/null
	status=2
}
failed=""
for s in $scenarios; do
	for b; do
		name=$(basename "$b")
		r=$(cat "$out/$s/$name.rc" 2>/dev/null || echo none)
		if [ "$r" = 0 ]; then
			echo "vm: PASS $s/$name"
		else
			echo "vm: FAIL $s/$name (exit $r)"
			failed="$failed $s/$name"
			[ $status -ne 0 ] || status=1
		fi
		grep -oE '^\[  SKIPPED \] [A-Za-z0-9_/]+\.[A-Za-z0-9_/]+' \
			"$out/$s/$name.log" 2>/dev/null | sort -u |
			sed "s|^\[  SKIPPED \]|vm:   skipped in $s/$name:|"
	done
done
for f in $failed; do
	echo
	echo "vm: ---- output of $f (last 150 lines)"
	tail -n 150 "$out/$f.log" 2>/dev/null
done
exit $status
