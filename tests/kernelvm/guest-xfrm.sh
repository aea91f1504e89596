#!/bin/bash
# Guest script for run-vm.sh: ferroswan's XFRM backend with real kernel ESP.
# Two namespaces joined by a veth pair; xfrm_probe (crates/dataplane/examples)
# installs SAs and policies through dataplane::xfrm and checks that pings
# pass through ESP and the SA counters rise; xfrm_kernel does the same
# through the Kernel trait (dataplane::XfrmKernel), one instance per
# namespace. `ip` here only builds the
# topology and wipes XFRM state between steps.
set -u
probe=/usr/local/bin/xfrm_probe
kernel=/usr/local/bin/xfrm_kernel
passed=0
failed=0

ip netns add left
ip netns add right
ip link add vl netns left type veth peer name vr netns right
for ns in left right; do ip -n $ns link set lo up; done
ip -n left addr add 192.0.2.1/24 dev vl
ip -n right addr add 192.0.2.2/24 dev vr
ip -n left addr add 2001:db8::1/64 dev vl nodad
ip -n right addr add 2001:db8::2/64 dev vr nodad
ip -n left link set vl up
ip -n right link set vr up
ip -n left addr add 198.51.100.1/32 dev lo
ip -n right addr add 198.51.100.2/32 dev lo
ip -n left addr add 2001:db8:1::1/128 dev lo
ip -n right addr add 2001:db8:1::2/128 dev lo
ip -n left route add 198.51.100.2/32 via 192.0.2.2 src 198.51.100.1
ip -n right route add 198.51.100.1/32 via 192.0.2.1 src 198.51.100.2
ip -n left -6 route add 2001:db8:1::2/128 via 2001:db8::2 src 2001:db8:1::1
ip -n right -6 route add 2001:db8:1::1/128 via 2001:db8::1 src 2001:db8:1::2

# run_step PROGRAM LABEL ARGS...
run_step() {
  local prog=$1 label=$2; shift 2
  echo "=== $(basename "$prog") $*"
  local t0 t1
  t0=$(cut -d' ' -f1 /proc/uptime)
  if "$prog" "$@"; then
    passed=$((passed + 1)); echo "STEP PASS: $label$*"
  else
    failed=$((failed + 1)); echo "STEP FAIL: $label$*"
    for ns in left right; do echo "--- $ns"; ip -n $ns -s xfrm state; ip -n $ns xfrm policy; done
  fi
  t1=$(cut -d' ' -f1 /proc/uptime)
  echo "    ($(awk "BEGIN{print $t1-$t0}") s)"
  for ns in left right; do ip -n $ns xfrm state flush; ip -n $ns xfrm policy flush; done
}
step() { run_step "$probe" "" "$@"; }
kstep() { run_step "$kernel" "kernel " "$@"; }

for b in "$probe" "$kernel"; do
  [ -x "$b" ] || { echo "FAIL: $b was not packed into the guest"; exit 1; }
done
echo "== outer ping without IPsec"
ip netns exec left ping -c 1 -W 2 192.0.2.2 >/dev/null || { echo "FAIL: veth does not work"; exit 1; }

step probe
step tunnel aes-gcm --soft-packets 2
step tunnel aes-cbc-sha256 --window 64
step tunnel chacha20-poly1305 --esn
step tunnel aes-cbc-sha512 --v6
step tunnel aes-gcm --encap
step tunnel aes-gcm --transport
step ondemand
step lifetimes
kstep tunnel aes-gcm
kstep tunnel aes-cbc-sha256
kstep tunnel chacha20-poly1305
kstep tunnel aes-gcm --encap
kstep tunnel aes-cbc-sha256 --transport
kstep ondemand

# The host's netlink and XfrmKernel integration tests, when packed, on
# this kernel too (with ESP, the SA paths of xfrm_kernel's tests run).
for t in /usr/local/bin/xfrm_netlink-* /usr/local/bin/xfrm_kernel-*; do
  [ -x "$t" ] || continue
  name=$(basename "$t"); name=${name%-*}
  echo "=== $t"
  if "$t" --test-threads=2; then
    passed=$((passed + 1)); echo "STEP PASS: $name tests"
  else
    failed=$((failed + 1)); echo "STEP FAIL: $name tests"
  fi
done

echo "XFRM VM: $passed passed, $failed failed"
[ "$failed" = 0 ]
