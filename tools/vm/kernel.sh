#!/bin/sh
# Fetches Debian's current linux-image-amd64 kernel with apt-get download
# (nothing is installed) and unpacks what the guest needs into a cache:
#   DIR/vmlinux     the uncompressed kernel, booted through its PVH entry
#   DIR/vmlinuz     the packaged kernel, used when vmlinux cannot be had
#   DIR/modules/    virtio, 9p and overlay modules, loaded by the initramfs
# Prints DIR. The cache is reused while the package stays the same.
#   tools/vm/kernel.sh [CACHE]
# CACHE defaults to $PP_VM_CACHE, else ~/.cache/processpool-vm.
set -eu

cache=${1:-${PP_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/processpool-vm}}
meta=${PP_VM_KERNEL_PACKAGE:-linux-image-amd64}
# The modules the initramfs loads, in dependency order (see init).
MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev
virtio_pci netfs fscache 9pnet 9pnet_virtio 9p overlay"

say() { echo "vm-kernel: $*" >&2; }

# The versioned package the metapackage points at.
resolve() {
	apt-cache depends "$meta" 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}

pkg=$(resolve)
if [ -z "$pkg" ]; then
	say "no package list for $meta: running apt-get update"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq >&2 || true
	pkg=$(resolve)
fi
if [ -z "$pkg" ]; then
	# Offline, but a kernel is already here: use the newest one.
	dir=$(ls -d "$cache"/linux-image-* 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$dir" ] && [ -f "$dir/ok" ]; then
		say "apt cannot resolve $meta; using the cached $dir"
		echo "$dir"
		exit 0
	fi
	say "cannot resolve $meta to a kernel package"
	exit 1
fi
ver=$(apt-cache policy "$pkg" 2>/dev/null |
	awk '/Candidate:/ { print $2; exit }')
dir=$cache/$pkg-$ver
if [ -f "$dir/ok" ]; then
	echo "$dir"
	exit 0
fi

say "fetching $pkg $ver"
rm -rf "$dir"
mkdir -p "$dir/modules"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# apt-get download fetches as _apt when run as root.
[ "$(id -u)" -ne 0 ] || chown _apt "$tmp" 2>/dev/null || chmod 777 "$tmp"
(cd "$tmp" && apt-get download -q "$pkg=$ver" >&2)
deb=$(ls "$tmp"/*.deb)

patterns="./boot/vmlinuz-*"
for m in $MODULES; do
	patterns="$patterns */$m.ko */$m.ko.xz */$m.ko.zst"
done
# shellcheck disable=SC2086 # the patterns are words, quoted for tar
dpkg-deb --fsys-tarfile "$deb" |
	tar -x -C "$tmp" --wildcards --no-anchored $patterns 2>/dev/null || true
cp "$tmp"/boot/vmlinuz-* "$dir/vmlinuz"
find "$tmp/lib" "$tmp/usr/lib" -name '*.ko*' 2>/dev/null | while read -r f; do
	case $f in
	*.ko.xz) xz -dc "$f" >"$dir/modules/$(basename "$f" .xz)" ;;
	*.ko.zst) zstd -qdc "$f" >"$dir/modules/$(basename "$f" .zst)" ;;
	*) cp "$f" "$dir/modules/" ;;
	esac
done

# bzImage holds the kernel compressed; the ELF inside boots ~5 s faster
# under emulation (no decompression) through QEMU's PVH entry.
off=$(LC_ALL=C grep -obUaP '\xFD7zXZ\x00' "$dir/vmlinuz" | head -n 1 |
	cut -d: -f1)
if [ -n "$off" ] &&
	tail -c +$((off + 1)) "$dir/vmlinuz" |
	xz -dc --single-stream >"$dir/vmlinux" 2>/dev/null &&
	readelf -n "$dir/vmlinux" 2>/dev/null | grep -q Xen; then
	:
else
	say "no PVH ELF inside $pkg: booting the bzImage"
	rm -f "$dir/vmlinux"
fi
touch "$dir/ok"
# Older kernels in the cache (~75 MB each) are not needed any more.
for old in "$cache"/linux-image-*; do
	[ "$old" = "$dir" ] || rm -rf "$old"
done
say "kernel ready in $dir"
echo "$dir"
