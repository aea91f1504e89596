#!/bin/bash
# Interoperability check of the ike engine against Libreswan 4.10's pluto
# (extracted to /opt/ph-libreswan, see ../shared/reference/peers), each in
# its own network namespace. This kernel has no ESP, so pluto cannot
# install a Child SA: the check is that the IKE SA is established on both
# ends (pluto's log and ferroswan's event), for PSK, authby=null and raw
# RSA keys (leftrsasigkey=, RFC 7427 signatures), with ferroswan as
# initiator and as responder.
#
# usage: libreswan.sh   (needs root and the peers harness packages)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
export PH_W=fli-w-$$ PH_E=fli-e-$$ PH_STATE=/tmp/fs-ike-lsw-$$
# shellcheck source=/dev/null
. "$SHARED/reference/peers/lib.sh"
ED=$PH_STATE/east
BIN=${BIN:-$ROOT/target/debug/examples/udp_peer}

cleanup() {
    [ -n "${PEER_PID:-}" ] && kill "$PEER_PID" 2>/dev/null || true
    ph_lsw_stop "$ED" || true
    ph_ns_down || true
    [ -n "${KEEP:-}" ] || rm -rf "$PH_STATE"
}
trap cleanup EXIT

[ -x "$BIN" ] || (cd "$ROOT" && cargo build -q -p ike --example udp_peer)
ph_lsw_extract

conf() {
    local auth=$1
    if [ "$auth" = psk ]; then
        ids="	leftid=east@ph
	rightid=west@ph
	authby=secret"
    elif [ "$auth" = rsa ]; then
        ids="	authby=rsasig
	leftid=@east
	rightid=@west
	leftrsasigkey=$EAST_KEY
	rightrsasigkey=$WEST_KEY"
    else
        ids="	authby=null
	leftid=%null
	rightid=%null"
    fi
    cat >"$ED/ipsec.conf" <<EOC
config setup
	logappend=no
conn ph-net
	ikev2=yes
$ids
	left=$PH_E_OUT
	leftsubnet=$PH_E_NET
	right=$PH_W_OUT
	rightsubnet=$PH_W_NET
	ike=aes_gcm256-sha2_384-dh31
	esp=aes_gcm256
	auto=ignore
EOC
    printf ': PSK "%s"\n' "$PH_PSK" >"$ED/ipsec.secrets"
    chmod 600 "$ED/ipsec.secrets"
}

fail=0
for auth in psk null rsa; do
  for role in initiator responder; do
    mkdir -p "$ED"
    ph_ns_up
    ph_lsw_prepare "$PH_E" "$ED"
    if [ "$auth" = rsa ]; then
        # pluto's RSA key in its NSS database, ours in a PEM file.
        ckaid=$(ph_lsw_ipsec "$PH_E" "$ED" newhostkey --nssdir "$ED/nss" 2>&1 |
            sed -n 's/.*CKAID \([0-9a-f]*\).*/\1/p' | head -1)
        EAST_KEY=$(ph_lsw_ipsec "$PH_E" "$ED" showhostkey --nssdir "$ED/nss" --left --ckaid "$ckaid" |
            sed -n 's/.*leftrsasigkey=//p')
        rm -f "$PH_STATE/west.pem"
        "$BIN" --local "$PH_W_OUT" --remote "$PH_E_OUT" --auth rsa --key "$PH_STATE/west.pem"
        WEST_KEY=$(cat "$PH_STATE/west.pem.pub")
    fi
    conf "$auth"
    ph_lsw_start "$PH_E" "$ED"
    ph_lsw_ipsec "$PH_E" "$ED" auto --add ph-net >/dev/null
    out=$PH_STATE/ferroswan-$auth-$role.log
    args=(--local "$PH_W_OUT" --remote "$PH_E_OUT" --local-ts "$PH_W_NET" --remote-ts "$PH_E_NET"
          --suite gcm --ike-only)
    case $auth in
    psk) args+=(--psk "$PH_PSK" --local-id west@ph --remote-id east@ph) ;;
    rsa) args+=(--auth rsa --key "$PH_STATE/west.pem" --peer-key "$EAST_KEY"
                --local-id @west --remote-id @east) ;;
    *) args+=(--auth null) ;;
    esac
    if [ "$role" = initiator ]; then
        ip netns exec "$PH_W" "$BIN" "${args[@]}" --initiate --seconds 20 --linger 1 >"$out" 2>&1 || true
    else
        ip netns exec "$PH_W" "$BIN" "${args[@]}" --seconds 20 --linger 2 >"$out" 2>&1 &
        PEER_PID=$!
        timeout 20 ip netns exec "$PH_E" true
        ph_lsw_ipsec "$PH_E" "$ED" auto --up ph-net >"$PH_STATE/up.log" 2>&1 || true
        wait "$PEER_PID" || true
        PEER_PID=
    fi
    if grep -q "established IKE SA" "$ED/pluto.log" && grep -q ESTABLISHED "$out"; then
        echo "PASS $auth ferroswan-$role"
    else
        echo "FAIL $auth ferroswan-$role"; fail=1
        echo "--- ferroswan"; cat "$out"
        echo "--- pluto"; tail -30 "$ED/pluto.log"
    fi
    [ -n "${KEEP:-}" ] && cp "$ED/pluto.log" "$PH_STATE/pluto-$auth-$role.log"
    ph_lsw_stop "$ED"
    ph_ns_down
    rm -rf "$ED"
  done
done
exit $fail
