#!/usr/bin/env bash
# run-vm.sh - run one guest script inside a small qemu VM that boots Debian's
# stock kernel (which has ESP, unlike some CI hosts), and exit with the guest
# script's status. ferroswan's XFRM backend is tested with kernel ESP this way.
#
# Usage: run-vm.sh [options] GUEST_SCRIPT [ARGS...]
#   --bin PATH        put a host binary (plus the shared libraries ldd lists)
#                     into the guest at /usr/local/bin/NAME; repeatable
#   --file PATH       put a host file at the same path in the guest, with the
#                     shared libraries it needs when it is an ELF file (e.g.
#                     NSS modules that programs dlopen); repeatable
#   --tree SRC=DEST   copy the host directory SRC to DEST in the guest, with
#                     the shared libraries of every ELF file in it (e.g. an
#                     unpacked Libreswan's usr/libexec/ipsec); repeatable
#   --cache DIR       kernel cache (default: $KERNELVM_CACHE, else
#                     <repo>/target/kernelvm)
#   --timeout SEC     stop qemu after SEC seconds (default 240; exit 124)
#   --mem MIB         guest memory (default 512)
#   --smp N           guest CPUs (default 2)
#   --accel tcg|kvm   qemu accelerator (default tcg: CI hosts' /dev/kvm may be
#                     a nested hypervisor that cannot run a stock kernel)
#   --log FILE        also save the guest console to FILE
#
# Exit status: the guest script's; 124 on timeout; 125 when the guest never
# reported a status (boot failure, kernel panic); 77 when the host tools
# (qemu, busybox-static, cpio, kmod) are missing and cannot be installed.
#
# The guest: busybox for the shell tools, the host's bash and iproute2 `ip`
# with their libraries, the XFRM/ESP/crypto/veth modules loaded, /proc /sys
# /dev /tmp /run mounted, cwd /guest, running as root. Nothing is installed
# into the host's /boot: the kernel package is fetched with `apt-get download`
# and unpacked with `dpkg -x` into the cache.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${KERNELVM_CACHE:-$repo/target/kernelvm}
timeout_s=240
mem=512
smp=2
accel=tcg
log_file=""
bins=()
files=()
trees=()

say() { echo "run-vm: $*" >&2; }
die() { say "$*"; exit 125; }
skip() { say "SKIP: $*"; exit 77; }

while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bins+=("$2"); shift 2 ;;
    --file) files+=("$2"); shift 2 ;;
    --tree) trees+=("$2"); shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --smp) smp=$2; shift 2 ;;
    --accel) accel=$2; shift 2 ;;
    --log) log_file=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    -*) die "unknown option $1" ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || die "usage: run-vm.sh [options] GUEST_SCRIPT [ARGS...]"
guest_script=$1; shift
[ -f "$guest_script" ] || die "no guest script $guest_script"

# ------------------------------------------------------------ host tools
static_busybox() { [ -x /bin/busybox ] && { ldd /bin/busybox 2>&1 || true; } | grep -q 'not a dynamic'; }
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
static_busybox || missing+=(busybox-static)
command -v cpio >/dev/null || missing+=(cpio)
command -v depmod >/dev/null || missing+=(kmod)
command -v ip >/dev/null || missing+=(iproute2)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || skip "need root to install ${missing[*]}"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_install() { apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}" >&2; }
  apt_install || { apt-get update -q >&2 && apt_install; } || skip "cannot install ${missing[*]}"
  command -v qemu-system-x86_64 >/dev/null && static_busybox || skip "host tools still missing after install"
fi

# ------------------------------------------------------------ kernel
mkdir -p "$cache"
# One fetch/unpack at a time when several runs share the cache.
exec 9> "$cache/.lock"
command -v flock >/dev/null && flock 9
deb=$(ls "$cache"/linux-image-*-amd64_*_amd64.deb 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$deb" ]; then
  pick() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'; }
  pkg=$(pick)
  [ -n "$pkg" ] || { apt-get update -q >&2 || true; pkg=$(pick); }
  [ -n "$pkg" ] || skip "apt cannot resolve linux-image-amd64"
  say "downloading $pkg into $cache"
  (cd "$cache" && apt-get download -q "$pkg" >&2) || skip "apt-get download $pkg failed"
  deb=$(ls "$cache"/linux-image-*-amd64_*_amd64.deb | sort -V | tail -n1)
fi
kroot=$cache/$(basename "$deb" .deb)
if [ ! -d "$kroot/lib/modules" ]; then
  say "unpacking $(basename "$deb")"
  rm -rf "$kroot.part"
  dpkg -x "$deb" "$kroot.part"
  depmod -b "$kroot.part" "$(ls "$kroot.part/lib/modules")"
  rm -rf "$kroot"
  mv "$kroot.part" "$kroot"
fi
kver=$(ls "$kroot/lib/modules")
kernel=$kroot/boot/vmlinuz-$kver
[ -f "$kernel" ] || die "no kernel image in $kroot"
# qemu can boot the uncompressed ELF vmlinux through its PVH entry point,
# which skips the bzImage's self-decompression (slow under TCG). Extract it
# once from the xz/gzip payload of the bzImage; fall back to the bzImage.
elf=$kroot/boot/vmlinux-$kver.elf
if [ ! -s "$elf" ] && command -v python3 >/dev/null; then
  python3 - "$kernel" "$elf.part" <<'PY' && mv "$elf.part" "$elf" || say "cannot extract an ELF kernel; booting the bzImage"
import lzma, sys, zlib
image = open(sys.argv[1], "rb").read()
elf = None
at = image.find(b"\xfd7zXZ\x00")
if at >= 0:
    elf = lzma.LZMADecompressor().decompress(image[at:])
else:
    at = image.find(b"\x1f\x8b\x08\x00")
    if at >= 0:
        elf = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(image[at:])
if not elf or not elf.startswith(b"\x7fELF"):
    sys.exit(1)
open(sys.argv[2], "wb").write(elf)
PY
fi
[ -s "$elf" ] && kernel=$elf
exec 9>&-

# ------------------------------------------------------------ initramfs
t_build=$(date +%s%N)
work=$(mktemp -d /tmp/ferroswan-vm.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc/kernelvm,proc,sys,dev,tmp,run,guest,root,var}
ln -s ../run "$root/var/run"
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
  case "$applet" in busybox|ip|sh|bash) continue ;; esac
  [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
ln -s ../bin/busybox "$root/sbin/modprobe"

# add_binary SRC DEST: a host binary with every library ldd names, at the
# same absolute paths (libgcc_s too: glibc loads it at run time for unwinding).
add_binary() {
  local src=$1 dest=$2 lib
  mkdir -p "$root$(dirname "$dest")"
  # Without debug info: a debug build of ipsec is >100 MB, and the
  # initramfs lives in the guest's RAM.
  strip -o "$root$dest" "$src" 2>/dev/null || cp -L "$src" "$root$dest"
  for lib in $(ldd "$src" 2>/dev/null | awk '/=> \// {print $3} /^[[:space:]]*\// {print $1}') \
             /lib/x86_64-linux-gnu/libgcc_s.so.1; do
    [ -e "$lib" ] && [ ! -e "$root$lib" ] || continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}
# add_libs FILE: the libraries ldd names for FILE (nothing for non-ELF files).
add_libs() {
  local lib
  for lib in $(ldd "$1" 2>/dev/null | awk '/=> \// {print $3} /^[[:space:]]*\// {print $1}'); do
    [ -e "$lib" ] && [ ! -e "$root$lib" ] || continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}
is_elf() { [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; }
# bash as /bin/sh: busybox's ash runs its own applets (a tiny `ip`) first.
add_binary /bin/bash /bin/bash
ln -sf bash "$root/bin/sh"
add_binary "$(command -v ip)" /sbin/ip
ln -s ../../sbin/ip "$root/usr/sbin/ip"
for b in "${bins[@]}"; do
  [ -f "$b" ] || die "--bin $b: no such file"
  add_binary "$b" "/usr/local/bin/$(basename "$b")"
done
for f in "${files[@]}"; do
  [ -f "$f" ] || die "--file $f: no such file"
  mkdir -p "$root$(dirname "$f")"
  cp -L "$f" "$root$f"
  is_elf "$f" && add_libs "$f"
done
for t in "${trees[@]}"; do
  src=${t%%=*} dest=${t#*=}
  [ -d "$src" ] && [ "$src" != "$t" ] || die "--tree $t: expected SRC=DEST with a directory SRC"
  mkdir -p "$root$dest"
  cp -a "$src/." "$root$dest/"
  while IFS= read -r -d '' f; do
    is_elf "$f" && add_libs "$f"
  done < <(find "$src" -type f -print0)
done
[ -d /etc/iproute2 ] && cp -a /etc/iproute2 "$root/etc/"
[ -d /usr/share/iproute2 ] && { mkdir -p "$root/usr/share"; cp -a /usr/share/iproute2 "$root/usr/share/"; }
for f in /etc/protocols /etc/services; do [ -f "$f" ] && cp "$f" "$root/etc/"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
echo 'root:x:0:' > "$root/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' > "$root/etc/hosts"

# Kernel modules: XFRM + ESP, the crypto ESP uses, veth. seqiv/echainiv
# need a default RNG (drbg + jitterentropy) or SAs fail to initialise.
modules=(
  xfrm_user xfrm_algo esp4 esp6 veth ip_vti nf_tables nft_log nfnetlink_log
  aesni-intel ghash-clmulni-intel gcm ghash-generic ctr seqiv echainiv
  drbg jitterentropy_rng authenc authencesn cbc hmac sha256_generic sha512_generic
  chacha20poly1305 chacha_generic poly1305_generic
)
moddir=lib/modules/$kver
mkdir -p "$root/$moddir"
for m in "${modules[@]}"; do
  deps=$(modprobe -d "$kroot" -S "$kver" --show-depends "$m" 2>/dev/null) || continue
  while read -r verb path _; do
    [ "$verb" = insmod ] || continue
    rel=${path#"$kroot"/}
    [ -e "$root/$rel" ] && continue
    mkdir -p "$root/$(dirname "$rel")"
    cp "$path" "$root/$rel"
  done <<< "$deps"
done
cp "$kroot/$moddir"/modules.{builtin,builtin.modinfo,order} "$root/$moddir/"
depmod -b "$root" "$kver"
printf '%s\n' "${modules[@]}" > "$root/etc/kernelvm/modules"

# The guest script and its arguments; a random tag marks the status line
# so that nothing the script prints can fake it.
cp "$guest_script" "$root/guest/script"
{
  printf 'exec bash /guest/script'
  for a in "$@"; do printf ' %q' "$a"; done
  printf '\n'
} > "$root/guest/run"
tag=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
echo "$tag" > "$root/etc/kernelvm/tag"

cat > "$root/init" <<'INIT'
#!/bin/busybox ash
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
stty -onlcr 2>/dev/null
tag=$(cat /etc/kernelvm/tag)
ip link set lo up
echo /sbin/modprobe > /proc/sys/kernel/modprobe
for m in $(cat /etc/kernelvm/modules); do
  modprobe "$m" 2>/dev/null || echo "kernelvm: module $m not loaded"
done
echo "kernelvm: guest ready at $(cut -d' ' -f1 /proc/uptime)s"
cd /guest
bash /guest/run </dev/console
rc=$?
echo "KERNELVM_STATUS_${tag}=${rc}"
sync
poweroff -f
INIT
chmod +x "$root/init"

initrd=$work/initrd.gz
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 > "$initrd"
say "initramfs $(( $(stat -c %s "$initrd") / 1024 )) KiB built in $(( ($(date +%s%N) - t_build) / 1000000 )) ms"

# ------------------------------------------------------------ boot
console=$work/console.log
cmdline="console=ttyS0 quiet loglevel=3 panic=-1 oops=panic 8250.nr_uarts=1 i8042.noaux i8042.nokbd random.trust_cpu=on tsc=reliable no_timer_check"
cpu=max; [ "$accel" = kvm ] && cpu=host
t_boot=$(date +%s%N)
set +e
timeout -k 5 "$timeout_s" qemu-system-x86_64 \
  -machine q35 -accel "$accel" -cpu "$cpu" -smp "$smp" -m "$mem" \
  -nodefaults -no-user-config -display none -vga none -monitor none -nic none -no-reboot \
  -kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
  -chardev stdio,id=con,signal=off -serial chardev:con < /dev/null 2> "$work/qemu.err" \
  | tr -d '\r' | tee "$console"
qemu_rc=${PIPESTATUS[0]}
set -e
say "qemu ($accel) ran $(( ($(date +%s%N) - t_boot) / 1000000 )) ms, exit $qemu_rc"
[ -n "$log_file" ] && cp "$console" "$log_file"
[ -s "$work/qemu.err" ] && { say "qemu stderr:"; cat "$work/qemu.err" >&2; }
if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
  say "timed out after ${timeout_s}s"
  exit 124
fi
status=$(grep -a -o "KERNELVM_STATUS_${tag}=[0-9]*" "$console" | tail -n1 | cut -d= -f2)
[ -n "$status" ] || { say "the guest reported no status"; exit 125; }
exit "$status"
