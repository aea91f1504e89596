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
	nflog-all=7

conn tun
	left=192.0.2.1
	leftid=@west
	leftsubnet=10.11.0.0/16
	right=192.0.2.2
	rightid=@east
	rightsubnet=10.12.0.0/16
	authby=secret
	nflog-group=5
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

conn vti
	left=192.0.2.1
	leftid=@west
	leftsubnet=10.31.0.0/16
	leftvti=10.33.0.1/30
	right=192.0.2.2
	rightid=@east
	rightsubnet=10.32.0.0/16
	rightvti=10.33.0.2/30
	authby=secret
	mark-in=20
	mark-out=21/0xffffffff
	vti-interface=vti1
	vti-routing=yes
	auto=add

conn tcp
	left=192.0.2.1
	leftid=@west
	leftsubnet=10.41.0.0/16
	right=192.0.2.2
	rightid=@east
	rightsubnet=10.42.0.0/16
	authby=secret
	enable-tcp=yes
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
# mark-in=/mark-out= and vti-interface=: the SAs and policies carry the
# marks, each daemon creates vti1 (okey 21, ikey 20, leftvti= address),
# routes the peer's subnet into it, and pings pass through the device
# (its counters rise); --down deletes the device (not shared).
vti_packets() { # NS DIRECTION
  ip netns exec "$1" cat /sys/class/net/vti1/statistics/$2_packets 2>/dev/null || echo 0
}
pluto_vti() {
  ipsec_in left auto --up vti || { echo "--up vti failed"; return 1; }
  local ns
  for ns in left right; do
    ip -n $ns xfrm state | grep -q "mark 0x15/0xffffffff" || { echo "$ns: no SA with mark 21"; return 1; }
    ip -n $ns xfrm state | grep -q "mark 0x14/0xffffffff" || { echo "$ns: no SA with mark 20"; return 1; }
    ip -n $ns xfrm policy | grep -A3 "dir out" | grep -q "mark 0x15/0xffffffff" \
      || { echo "$ns: no out policy with mark 21"; return 1; }
  done
  local i
  for i in $(seq 50); do ip -n right link show vti1 >/dev/null 2>&1 && break; sleep 0.1; done
  ip -n left -d link show vti1 | grep -q "ikey 0.0.0.20" && ip -n left -d link show vti1 | grep -q "okey 0.0.0.21" \
    || { echo "vti1 keys"; ip -n left -d link show vti1; return 1; }
  ip -n left addr show vti1 | grep -q "10.33.0.1/30" || { echo "no leftvti address"; return 1; }
  ip -n left route show 10.32.0.0/16 | grep -q "dev vti1" || { echo "no route into vti1"; ip -n left route; return 1; }
  local before after ok=1
  before=$(vti_packets left tx)
  for i in $(seq 20); do
    ip netns exec left ping -c 1 -W 1 -I 10.31.0.1 10.32.0.1 >/dev/null 2>&1 && { ok=0; break; }
  done
  [ $ok = 0 ] || { echo "no ping through vti1"; return 1; }
  ip netns exec left ping -c 5 -i 0.2 -W 1 -I 10.31.0.1 10.32.0.1 >/dev/null || { echo "pings lost"; return 1; }
  after=$(vti_packets left tx)
  echo "vti1 packets sent by west: $before -> $after, received: $(vti_packets left rx)"
  [ "$after" -ge $((before + 6)) ] && [ "$(vti_packets left rx)" -ge 6 ] \
    || { echo "vti1's counters did not rise"; return 1; }
  ipsec_in left auto --down vti || { echo "--down vti failed"; return 1; }
  for i in $(seq 50); do ip -n left link show vti1 >/dev/null 2>&1 || break; sleep 0.1; done
  ! ip -n left link show vti1 >/dev/null 2>&1 || { echo "vti1 not deleted at down"; return 1; }
}
# nflog-group=5 on conn tun (up since the route step) and nflog-all=7:
# nftables tables whose rules count the tunnel's cleartext packets (out:
# rt ipsec exists, in: meta ipsec exists).
nft_counted() { # TABLE MATCH: packets counted by the rules containing MATCH
  ip netns exec left nft list table inet "$1" 2>/dev/null | grep -F "$2" \
    | sed -n 's/.*counter packets \([0-9]*\).*/\1/p' | awk '{n += $1} END {print n + 0}'
}
pluto_nflog() {
  command -v nft >/dev/null || { echo "nft was not packed"; return 1; }
  ip netns exec left nft list table inet ferroswan_nflog_all | grep -q 'rt ipsec exists' \
    || { echo "no nflog-all table"; ip netns exec left nft list ruleset; return 1; }
  ip netns exec left nft list table inet ferroswan_nflog_1 \
    | grep -q 'ip saddr 10.11.0.0/16 ip daddr 10.12.0.0/16 rt ipsec exists' \
    || { echo "no nflog-group table for tun"; ip netns exec left nft list ruleset; return 1; }
  local out0 in0 all0 out1 in1 all1
  out0=$(nft_counted ferroswan_nflog_1 'rt ipsec exists')
  in0=$(nft_counted ferroswan_nflog_1 'meta ipsec exists')
  all0=$(nft_counted ferroswan_nflog_all 'rt ipsec exists')
  ip netns exec left ping -c 5 -i 0.2 -W 1 -I 10.11.0.1 10.12.0.1 >/dev/null || { echo "pings lost"; return 1; }
  out1=$(nft_counted ferroswan_nflog_1 'rt ipsec exists')
  in1=$(nft_counted ferroswan_nflog_1 'meta ipsec exists')
  all1=$(nft_counted ferroswan_nflog_all 'rt ipsec exists')
  echo "NFLOG rules counted: tun out $out0 -> $out1, in $in0 -> $in1; nflog-all out $all0 -> $all1"
  [ "$out1" -ge $((out0 + 5)) ] && [ "$in1" -ge $((in0 + 5)) ] && [ "$all1" -ge $((all0 + 5)) ] \
    || { echo "the NFLOG rules did not count the pings"; ip netns exec left nft list ruleset; return 1; }
  # A ping outside the tunnel is not counted.
  ip netns exec left ping -c 1 -W 1 192.0.2.2 >/dev/null
  [ "$(nft_counted ferroswan_nflog_1 'rt ipsec exists')" = "$out1" ] || { echo "clear traffic counted"; return 1; }
}
# enable-tcp=yes with protostack=xfrm: TCP encapsulation needs the
# userspace data plane in ferroswan; --up fails at once and says so.
pluto_tcp() {
  local out
  if out=$(ipsec_in left auto --up tcp 2>&1); then
    echo "--up tcp succeeded on XFRM: $out"; return 1
  fi
  echo "$out" | grep -q "needs the userspace data plane" \
    || { echo "no clear refusal: $out"; return 1; }
}
pluto_step() { # LABEL FUNCTION
  echo "=== pluto $1"
  local t0 t1
  t0=$(cut -d' ' -f1 /proc/uptime)
  if $2; then
    passed=$((passed + 1)); echo "STEP PASS: pluto $1"
  else
    failed=$((failed + 1)); echo "STEP FAIL: pluto $1"
    for ns in left right; do
      echo "--- $ns"; ip -n $ns -s xfrm state; ip -n $ns xfrm policy; ip -n $ns route
      echo "--- $ns pluto.log"; cat /tmp/pluto-$ns/pluto.log 2>/dev/null
    done
  fi
  t1=$(cut -d' ' -f1 /proc/uptime)
  echo "    ($(awk "BEGIN{print $t1-$t0}") s)"
}
if [ -x "$ipsec" ]; then
  ip -n left addr add 10.11.0.1/32 dev lo
  ip -n right addr add 10.12.0.1/32 dev lo
  ip -n left addr add 10.21.0.1/32 dev lo
  ip -n right addr add 10.22.0.1/32 dev lo
  ip -n left addr add 10.31.0.1/32 dev lo
  ip -n right addr add 10.32.0.1/32 dev lo
  # No default route and no route to the remote subnets: ferroswan routes
  # them toward the peer (a trap too, so its first packet reaches the
  # XFRM lookup and makes the ACQUIRE).
  pluto_step "tunnel" pluto_tunnel
  pluto_step "route" pluto_route
  command -v nft >/dev/null && pluto_step "nflog-group and nflog-all" pluto_nflog
  pluto_step "encapsulation=yes" pluto_udp
  pluto_step "mark and vti-interface" pluto_vti
  pluto_step "enable-tcp=yes refused" pluto_tcp
  for p in "${pluto_pids[@]}"; do kill "$p" 2>/dev/null; done
  wait
fi

# Libreswan 4.10's pluto (packed from the host's unpacked package at its
# real paths) in `right`, a ferroswan daemon with protostack=xfrm in
# `left`. Both load THE SAME /etc/ipsec.conf and /etc/ipsec.secrets; each
# orients the connection by its addresses. IKE SA + Child SA through kernel
# ESP, each side initiating once: pings pass, the ESP states' counters rise
# in both namespaces, both kernels hold the same SPIs, and --down from the
# initiator clears the other side's SAs.
lsw_ipsec=/usr/sbin/ipsec
lsw_pluto=/usr/libexec/ipsec/pluto
# Libreswan's programs run without /usr/local/bin on PATH: its updown
# script calls `ipsec _updown`, which must be Libreswan's ipsec, not the
# ferroswan binary packed there.
lsw_path=/usr/sbin:/usr/bin:/sbin:/bin
fs_dir=/tmp/fs-lsw
lsw_start() {
  for ns in left right; do ip -n $ns xfrm state flush; ip -n $ns xfrm policy flush; done
  # Libreswan's _updown routes the remote subnet through the gateway the
  # kernel uses toward the peer: give each side a default route, as a
  # host has (ferroswan's steps above run without one).
  ip -n left route replace default via 192.0.2.2
  ip -n right route replace default via 192.0.2.1
  mkdir -p /etc/ipsec.d/policies /etc/ipsec.d/cacerts /etc/ipsec.d/crls /var/lib/ipsec/nss /run/pluto /tmp/lsw
  cat > /etc/ipsec.conf <<CONF
config setup
	protostack=xfrm
	logappend=no
	dnssec-enable=no

conn lsw
	ikev2=yes
	left=192.0.2.1
	leftid=@west
	leftsubnet=10.11.0.0/16
	right=192.0.2.2
	rightid=@east
	rightsubnet=10.12.0.0/16
	authby=secret
	ike=aes_gcm256-sha2_384-dh31
	esp=aes_gcm256
	auto=add
CONF
  echo '@west @east : PSK "libreswan vm interop secret, not for production"' > /etc/ipsec.secrets
  chmod 600 /etc/ipsec.secrets
  # Libreswan's NSS database, as its packaging makes it.
  if [ ! -f /var/lib/ipsec/nss/cert9.db ]; then
    PATH=$lsw_path $lsw_ipsec initnss --nssdir /var/lib/ipsec/nss || { echo "ipsec initnss failed"; return 1; }
  fi
  touch /etc/resolv.conf
  ip netns exec right env PATH=$lsw_path $lsw_pluto --nofork --no-dnssec --config /etc/ipsec.conf \
    --secretsfile /etc/ipsec.secrets --ipsecdir /etc/ipsec.d --nssdir /var/lib/ipsec/nss \
    --rundir /run/pluto --logfile /tmp/lsw/pluto.log </dev/null >/tmp/lsw/pluto.out 2>&1 &
  pluto_pids+=($!)
  mkdir -p $fs_dir/run $fs_dir/ipsec.d $fs_dir/nss
  ip netns exec left $ipsec pluto --nofork --rundir $fs_dir/run --config /etc/ipsec.conf \
    --secretsfile /etc/ipsec.secrets --ipsecdir $fs_dir/ipsec.d --nssdir $fs_dir/nss \
    --logfile $fs_dir/pluto.log </dev/null >/dev/null 2>&1 &
  pluto_pids+=($!)
  local i
  for i in $(seq 150); do
    [ -S /run/pluto/pluto.ctl ] && [ -S $fs_dir/run/pluto.ctl ] && break; sleep 0.1
  done
  [ -S /run/pluto/pluto.ctl ] || { echo "Libreswan's pluto did not start"; cat /tmp/lsw/pluto.out /tmp/lsw/pluto.log; return 1; }
  [ -S $fs_dir/run/pluto.ctl ] || { echo "ferroswan did not start"; cat $fs_dir/pluto.log; return 1; }
  lsw_in auto --add lsw || { echo "Libreswan: --add failed"; return 1; }
  echo "Libreswan: $($lsw_ipsec --version)"
}
# lsw_in ARGS: Libreswan's ipsec in `right`; fs_in ARGS: ferroswan's in `left`.
lsw_in() { ip netns exec right env PATH=$lsw_path $lsw_ipsec "$@"; }
fs_in() { IPSEC_RUNDIR=$fs_dir/run ip netns exec left $ipsec "$@"; }
esp_spis() { ip -n "$1" xfrm state | awk '/proto esp/ {for (i = 1; i <= NF; i++) if ($i == "spi") print $(i + 1)}' | sort; }
# lsw_status: both daemons' `ipsec auto --status` from the connection
# list on, into $fs_st and $lsw_st, printed side by side.
lsw_status() {
  fs_st=$(fs_in auto --status | sed -n '/Connection list/,$p' | sed 's/[[:space:]]*$//')
  lsw_st=$(lsw_in auto --status | sed -n '/Connection list/,$p' | sed 's/[[:space:]]*$//')
  echo "$fs_st" | fold -w 72 > /tmp/lsw/fs-status
  echo "$lsw_st" | fold -w 72 > /tmp/lsw/lsw-status
  printf '%-72s | %s\n' "ferroswan (left): ipsec auto --status" "Libreswan 4.10 (right): ipsec auto --status"
  awk 'NR == FNR { a[FNR] = $0; n = FNR; next } { b[FNR] = $0; m = FNR }
    END { if (m > n) n = m; for (i = 1; i <= n; i++) printf "%-72s | %s\n", a[i], b[i] }' \
    /tmp/lsw/fs-status /tmp/lsw/lsw-status
}
# lsw_traffic FROM_NS SRC DST: pings through the tunnel, counters rising in
# both namespaces, and the same ESP SPIs in both kernels.
lsw_traffic() {
  local ns=$1 src=$2 dst=$3 i ok=1
  local lb rb la ra
  lb=$(esp_packets left); rb=$(esp_packets right)
  for i in $(seq 20); do
    ip netns exec $ns ping -c 1 -W 1 -I $src $dst >/dev/null 2>&1 && { ok=0; break; }
  done
  [ $ok = 0 ] || { echo "no ping $src -> $dst through the tunnel"; return 1; }
  ip netns exec $ns ping -c 5 -i 0.2 -W 1 -I $src $dst >/dev/null || { echo "pings lost"; return 1; }
  la=$(esp_packets left); ra=$(esp_packets right)
  echo "ESP packets: ferroswan's states $lb -> $la, Libreswan's states $rb -> $ra"
  [ "$la" -ge $((lb + 10)) ] || { echo "ferroswan's xfrm state counters did not rise"; return 1; }
  [ "$ra" -ge $((rb + 10)) ] || { echo "Libreswan's xfrm state counters did not rise"; return 1; }
  local ls rs
  ls=$(esp_spis left); rs=$(esp_spis right)
  echo "ESP SPIs: ferroswan's kernel" $ls "/ Libreswan's kernel" $rs
  [ "$(echo "$ls" | grep -c .)" -ge 2 ] && [ "$ls" = "$rs" ] || { echo "the two kernels hold different ESP SAs"; return 1; }
  lsw_status
  # Both status outputs name the same pair, each its outbound SA first:
  # ferroswan's "esp.A esp.B" is Libreswan's "esp.B@west esp.A@east".
  local fs_pair lsw_pair what fl ll
  fs_pair=$(echo "$fs_st" | awk '$3 == "\"lsw\"" && $4 ~ /^esp\./ {print $4, $5; exit}')
  lsw_pair=$(echo "$lsw_st" | awk '$3 == "\"lsw\"" && $4 ~ /^esp\./ {sub(/@.*/, "", $4); sub(/@.*/, "", $5); print $5, $4; exit}')
  echo "Child SA in status: ferroswan [$fs_pair] Libreswan (mirrored) [$lsw_pair]"
  [ -n "$fs_pair" ] && [ "$fs_pair" = "$lsw_pair" ] || { echo "the two status outputs name different SPIs"; return 1; }
  # The same algorithms, configured and negotiated, in the same words
  # (up to "; pfsgroup=": Libreswan 4.10 prints <Phase1> for every IKEv2
  # Child SA, also one rekeyed with a key exchange; ferroswan names the
  # group).
  for what in "IKE algorithms" "IKEv2 algorithm newest" "ESP algorithms" "ESP algorithm newest"; do
    fl=$(echo "$fs_st" | grep -F "\"lsw\":   $what:" | sed 's/; pfsgroup=.*//')
    ll=$(echo "$lsw_st" | grep -F "\"lsw\":   $what:" | sed 's/; pfsgroup=.*//')
    [ -n "$fl" ] && [ "$fl" = "$ll" ] || { echo "the status lines differ: [$fl] [$ll]"; return 1; }
  done
}
# wait_no_esp NS: up to 5 s for NS's ESP states to go away.
wait_no_esp() {
  local i
  for i in $(seq 50); do
    [ "$(ip -n "$1" xfrm state | grep -c 'proto esp')" = 0 ] && return 0; sleep 0.1
  done
  return 1
}
lsw_ferroswan_initiates() {
  local out
  out=$(fs_in auto --up lsw) || { echo "ferroswan --up failed:"; echo "$out"; return 1; }
  echo "$out"
  echo "$out" | grep -q "established Child SA" || { echo "no Child SA"; return 1; }
  lsw_traffic left 10.11.0.1 10.12.0.1 || return 1
  fs_in auto --down lsw || { echo "ferroswan --down failed"; return 1; }
  wait_no_esp right || { echo "ferroswan's --down left SAs on Libreswan's side"; return 1; }
}
lsw_libreswan_initiates() {
  local out
  out=$(lsw_in auto --up lsw 2>&1) || { echo "Libreswan --up failed:"; echo "$out"; return 1; }
  echo "$out"
  echo "$out" | grep -Eq "established Child SA|IPsec SA established" || { echo "no IPsec SA on Libreswan's side"; return 1; }
  lsw_traffic right 10.12.0.1 10.11.0.1 || return 1
}
# newest_ike NS_STATUS: the "newest IKE SA: #N" serial of a status text.
newest_ike() { echo "$1" | sed -n 's/.*"lsw":   newest IKE SA: #\([0-9]*\);.*/\1/p'; }
# lsw_rekeys fs|lsw: that side rekeys the Child SA (`ipsec whack --name lsw
# --rekey-ipsec`, CREATE_CHILD_SA with PFS): new SPIs in both kernels, the
# old ones gone, traffic on the new pair; then the IKE SA (--rekey-ike):
# ferroswan ends with the new IKE SA alone, traffic still flowing.
lsw_rekeys() {
  local who=$1 old new i fs_ike
  old=$(esp_spis left)
  echo "$old" > /tmp/lsw/old-spis
  ${who}_in whack --name lsw --rekey-ipsec || { echo "$who: --rekey-ipsec failed"; return 1; }
  for i in $(seq 100); do
    new=$(esp_spis left)
    if [ "$(echo "$new" | grep -c .)" = 2 ] && [ -z "$(echo "$new" | grep -Fx -f /tmp/lsw/old-spis)" ] \
       && [ "$(esp_spis right)" = "$new" ]; then break; fi
    sleep 0.1
  done
  echo "Child SA rekey by $who: SPIs" $old "->" $new
  [ -z "$(echo "$new" | grep -Fx -f /tmp/lsw/old-spis)" ] && [ "$(esp_spis right)" = "$new" ] \
    || { echo "the Child SA was not rekeyed on both sides"; return 1; }
  lsw_traffic right 10.12.0.1 10.11.0.1 || return 1
  fs_ike=$(newest_ike "$fs_st")
  ${who}_in whack --name lsw --rekey-ike || { echo "$who: --rekey-ike failed"; return 1; }
  for i in $(seq 100); do
    fs_st=$(fs_in auto --status)
    [ -n "$(newest_ike "$fs_st")" ] && [ "$(newest_ike "$fs_st")" != "$fs_ike" ] \
      && [ "$(newest_ike "$fs_st")" != 0 ] && echo "$fs_st" | grep -q "IKE SAs: total(1)," && break
    sleep 0.1
  done
  echo "IKE SA rekey by $who: ferroswan's newest IKE SA #$fs_ike -> #$(newest_ike "$fs_st")"
  [ "$(newest_ike "$fs_st")" != "$fs_ike" ] || { echo "ferroswan does not show the rekeyed IKE SA"; return 1; }
  echo "$fs_st" | grep -q "IKE SAs: total(1)," || { echo "ferroswan kept the old IKE SA:"; echo "$fs_st"; return 1; }
  lsw_traffic right 10.12.0.1 10.11.0.1 || return 1
}
lsw_ferroswan_rekeys() { lsw_rekeys fs; }
# Libreswan rekeys, then its --down clears ferroswan's side.
lsw_libreswan_rekeys() {
  lsw_rekeys lsw || return 1
  lsw_in auto --down lsw || { echo "Libreswan --down failed"; return 1; }
  wait_no_esp left || { echo "Libreswan's --down left SAs on ferroswan's side"; return 1; }
}
lsw_step() { # LABEL FUNCTION
  echo "=== libreswan $1"
  if $2; then
    passed=$((passed + 1)); echo "STEP PASS: libreswan $1"
  else
    failed=$((failed + 1)); echo "STEP FAIL: libreswan $1"
    for ns in left right; do echo "--- $ns"; ip -n $ns -s xfrm state; ip -n $ns xfrm policy; done
    echo "--- ferroswan log"; cat $fs_dir/pluto.log 2>/dev/null
    echo "--- Libreswan log"; cat /tmp/lsw/pluto.out /tmp/lsw/pluto.log 2>/dev/null
  fi
}
if [ -x "$ipsec" ] && [ -x "$lsw_pluto" ] && [ -x "$lsw_ipsec" ]; then
  pluto_pids=()
  if lsw_start; then
    lsw_step "ferroswan initiates" lsw_ferroswan_initiates
    lsw_step "libreswan initiates" lsw_libreswan_initiates
    lsw_step "ferroswan rekeys" lsw_ferroswan_rekeys
    lsw_step "libreswan rekeys" lsw_libreswan_rekeys
  else
    failed=$((failed + 1)); echo "STEP FAIL: libreswan start"
  fi
  for p in "${pluto_pids[@]}"; do kill "$p" 2>/dev/null; done
  wait
fi

echo "XFRM VM: $passed passed, $failed failed"
[ "$failed" = 0 ]
