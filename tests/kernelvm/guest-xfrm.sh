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
kstep migrate
kstep migrate --encap

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

# Two ferroswan daemons (ipsec pluto) with protostack=xfrm, one per
# namespace: --up, pings through kernel ESP (the SA counters rise), --down,
# then --route and a packet: the kernel's ACQUIRE brings the tunnel up.
ipsec=/usr/local/bin/ipsec
pluto_pids=()
pluto_start() { # NS
  local ns=$1 d=/tmp/pluto-$1
  mkdir -p $d/run $d/ipsec.d $d/nss
  cat > $d/ipsec.conf <<CONF
config setup
	protostack=xfrm
	logtime=no

conn tun
	left=192.0.2.1
	leftid=@west
	leftsubnet=10.11.0.0/16
	right=192.0.2.2
	rightid=@east
	rightsubnet=10.12.0.0/16
	authby=secret
	auto=add

conn udp
	left=192.0.2.1
	leftid=@west
	leftsubnet=10.21.0.0/16
	right=192.0.2.2
	rightid=@east
	rightsubnet=10.22.0.0/16
	authby=secret
	encapsulation=yes
	auto=add
CONF
  echo '@west @east : PSK "xfrm vm test secret, not for production"' > $d/ipsec.secrets
  ip netns exec $ns $ipsec pluto --nofork --rundir $d/run --config $d/ipsec.conf \
    --secretsfile $d/ipsec.secrets --ipsecdir $d/ipsec.d --nssdir $d/nss \
    --logfile $d/pluto.log </dev/null >/dev/null 2>&1 &
  pluto_pids+=($!)
  local i
  for i in $(seq 100); do [ -S $d/run/pluto.ctl ] && return 0; sleep 0.1; done
  echo "pluto in $ns did not start"; cat $d/pluto.log; return 1
}
# ipsec_in NS ARGS...: the ipsec command against the daemon of NS.
ipsec_in() {
  local ns=$1; shift
  IPSEC_RUNDIR=/tmp/pluto-$ns/run IPSEC_CONFS=/tmp/pluto-$ns ip netns exec $ns $ipsec "$@"
}
# wait_ping: up to 10 s for one ping from west's to east's inner address.
wait_ping() {
  local i
  for i in $(seq 20); do
    ip netns exec left ping -c 1 -W 1 -I 10.11.0.1 10.12.0.1 >/dev/null 2>&1 && return 0
  done
  return 1
}
# esp_packets NS: the sum of the packet counters of NS's ESP states.
esp_packets() {
  ip -n "$1" -s xfrm state | awk '/^src/ {esp = 0} /proto esp/ {esp = 1}
    /^[[:space:]]*lifetime current:/ {cur = 1; next}
    cur && esp && /bytes/ {for (i = 1; i <= NF; i++) if ($i ~ /packets/) { split($(i), a, "("); n += a[1] } cur = 0}
    END {print n + 0}'
}
pluto_tunnel() {
  pluto_start left && pluto_start right || return 1
  ipsec_in left auto --up tun || { echo "--up failed"; return 1; }
  grep -q "using the XFRM data plane" /tmp/pluto-left/pluto.log \
    || { echo "pluto did not use the XFRM data plane"; return 1; }
  [ "$(ip -n left xfrm state | grep -c 'proto esp')" -ge 2 ] || { echo "no kernel ESP states"; return 1; }
  local before after
  before=$(esp_packets left)
  wait_ping || { echo "no ping through the tunnel"; return 1; }
  ip netns exec left ping -c 5 -i 0.2 -W 1 -I 10.11.0.1 10.12.0.1 >/dev/null || { echo "pings lost"; return 1; }
  after=$(esp_packets left)
  echo "ESP packets in west's states: $before -> $after"
  [ "$after" -ge $((before + 10)) ] || { echo "the xfrm state counters did not rise"; return 1; }
  ipsec_in left whack --trafficstatus
  ipsec_in left auto --down tun || { echo "--down failed"; return 1; }
  local i
  for i in $(seq 50); do
    [ "$(ip -n right xfrm state | grep -c 'proto esp')" = 0 ] && break; sleep 0.1
  done
  [ "$(ip -n right xfrm state | grep -c 'proto esp')" = 0 ] || { echo "--down left SAs on east"; return 1; }
}
pluto_route() {
  ipsec_in left auto --route tun || { echo "--route failed"; return 1; }
  ip -n left xfrm policy | grep -q 10.12.0.0/16 || { echo "no trap policy"; return 1; }
  ip -n left route show 10.12.0.0/16 | grep -q "via 192.0.2.2" \
    || { echo "the trap's route does not point at the peer"; ip -n left route; return 1; }
  # The first packet hits the trap: ACQUIRE, negotiation, then pings pass.
  ip netns exec left ping -c 1 -W 1 -I 10.11.0.1 10.12.0.1 >/dev/null 2>&1
  wait_ping || { echo "no ping after the ACQUIRE"; return 1; }
  grep -q "acquire for" /tmp/pluto-left/pluto.log || { echo "no acquire in the log"; return 1; }
  [ "$(ip -n left xfrm state | grep -c 'proto esp')" -ge 2 ] || { echo "no ESP states after the ACQUIRE"; return 1; }
}
# encapsulation=yes: kernel ESP-in-UDP on port 4500, received through the
# daemon's port-4500 socket (UDP_ENCAP_ESPINUDP).
pluto_udp() {
  ipsec_in left auto --up udp || { echo "--up udp failed"; return 1; }
  ip -n right xfrm state | grep -q "encap type espinudp sport 4500 dport 4500" \
    || { echo "no ESP-in-UDP states"; return 1; }
  local i ok=1
  for i in $(seq 20); do
    ip netns exec left ping -c 1 -W 1 -I 10.21.0.1 10.22.0.1 >/dev/null 2>&1 && { ok=0; break; }
  done
  [ $ok = 0 ] || { echo "no ping through ESP-in-UDP"; return 1; }
  ip netns exec left ping -c 5 -i 0.2 -W 1 -I 10.21.0.1 10.22.0.1 >/dev/null || { echo "pings lost"; return 1; }
}
pluto_step() { # LABEL FUNCTION
  echo "=== pluto $1"
  if $2; then
    passed=$((passed + 1)); echo "STEP PASS: pluto $1"
  else
    failed=$((failed + 1)); echo "STEP FAIL: pluto $1"
    for ns in left right; do
      echo "--- $ns"; ip -n $ns -s xfrm state; ip -n $ns xfrm policy; ip -n $ns route
      echo "--- $ns pluto.log"; cat /tmp/pluto-$ns/pluto.log 2>/dev/null
    done
  fi
}
if [ -x "$ipsec" ]; then
  ip -n left addr add 10.11.0.1/32 dev lo
  ip -n right addr add 10.12.0.1/32 dev lo
  ip -n left addr add 10.21.0.1/32 dev lo
  ip -n right addr add 10.22.0.1/32 dev lo
  # No default route and no route to the remote subnets: ferroswan routes
  # them toward the peer (a trap too, so its first packet reaches the
  # XFRM lookup and makes the ACQUIRE).
  pluto_step "tunnel" pluto_tunnel
  pluto_step "route" pluto_route
  pluto_step "encapsulation=yes" pluto_udp
  for p in "${pluto_pids[@]}"; do kill "$p" 2>/dev/null; done
  wait
fi

echo "XFRM VM: $passed passed, $failed failed"
[ "$failed" = 0 ]
