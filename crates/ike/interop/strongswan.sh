#!/bin/bash
# Interoperability check of the ike engine against strongSwan's charon
# (5.9.8, Debian), each in its own network namespace: ferroswan as
# initiator and as responder, for PSK with AES-GCM-256/Curve25519 and
# AES-CBC-256/HMAC-SHA2-256/MODP2048. strongSwan's log must show the IKE SA
# and the Child SA established.
#
# Roles: initiator, responder, and initiator-rekey / responder-rekey (the
# Child SA and then the IKE SA rekeyed by ferroswan resp. by strongSwan,
# then the IKE SA deleted). Not in the default set: null-initiator
# (authby=null), which strongSwan 5.9.8 answers with AUTHENTICATION_FAILED
# right after selecting its peer config (not understood yet).
#
# usage: [ROLES="..."] strongswan.sh [gcm|cbc|default ...]   (needs root, strongswan-charon,
#        strongswan-swanctl, libcharon-extra-plugins; see
#        ../shared/reference/peers)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
export PH_W=fsi-w-$$ PH_E=fsi-e-$$ PH_STATE=/tmp/fs-ike-interop-$$
# shellcheck source=/dev/null
. "$SHARED/reference/peers/lib.sh"
ED=$PH_STATE/east
BIN=${BIN:-$ROOT/target/debug/examples/udp_peer}

cleanup() {
    [ -n "${PEER_PID:-}" ] && kill "$PEER_PID" 2>/dev/null || true
    ph_sw_stop "$ED" || true
    ph_ns_down || true
    [ -n "${KEEP:-}" ] || rm -rf "$PH_STATE"
}
trap cleanup EXIT

[ -x "$BIN" ] || (cd "$ROOT" && cargo build -q -p ike --example udp_peer)

declare -A IKE=([gcm]=aes256gcm16-prfsha384-x25519 [cbc]=aes256-sha256-modp2048 [default]=default)
declare -A ESP=([gcm]=aes256gcm16 [cbc]=aes256-sha256 [default]=default)
# With PFS (ferroswan's pfs=yes default proposes the IKE group on rekey).
declare -A ESP_PFS=([gcm]=aes256gcm16-x25519 [cbc]=aes256-sha256-modp2048 [default]=aes256gcm16-aes128gcm16-x25519)

fail=0
for suite in "${@:-gcm cbc}"; do
  for role in ${ROLES:-initiator responder initiator-rekey responder-rekey}; do
    mkdir -p "$ED"
    ph_ns_up
    ph_sw_conf "$ED" "${PH_LOGLEVEL:-1}"
    esp=${ESP[$suite]}
    case $role in *-rekey) esp=${ESP_PFS[$suite]} ;; esac
    PH_IKE_PROPOSAL=${IKE[$suite]} PH_ESP_PROPOSAL=$esp \
        ph_sw_conn_conf "$ED/swanctl/swanctl.conf" "$PH_E_OUT" "$PH_W_OUT" east@ph west@ph "$PH_E_NET" "$PH_W_NET"
    ph_sw_start "$PH_E" "$ED"
    ph_swanctl "$ED" --load-all --noprompt --file "$ED/swanctl/swanctl.conf" >/dev/null
    if [ "$role" = null-initiator ]; then
        # authby=null both ways (RFC 7619), ID_NULL.
        sed -i 's/auth = psk/auth = null/; s/id = east@ph/id = %null/; s/id = west@ph/id = %any/' \
            "$ED/swanctl/swanctl.conf"
    fi
    out=$PH_STATE/ferroswan-$suite-$role.log
    args=(--local "$PH_W_OUT" --remote "$PH_E_OUT" --psk "$PH_PSK" --local-id west@ph
          --remote-id east@ph --local-ts "$PH_W_NET" --remote-ts "$PH_E_NET" --suite "$suite")
    extra_ok=true
    case $role in
    initiator)
        ip netns exec "$PH_W" "$BIN" "${args[@]}" --initiate --seconds 20 --linger 1 >"$out" 2>&1 || true
        ;;
    null-initiator)
        args=(--local "$PH_W_OUT" --remote "$PH_E_OUT" --auth null --local-id west@ph
              --local-ts "$PH_W_NET" --remote-ts "$PH_E_NET" --suite "$suite")
        ip netns exec "$PH_W" "$BIN" "${args[@]}" --initiate --seconds 20 --linger 1 >"$out" 2>&1 || true
        ;;
    initiator-rekey)
        # ferroswan rekeys the Child SA, then the IKE SA, then deletes it.
        ip netns exec "$PH_W" "$BIN" "${args[@]}" --initiate --rekey --seconds 30 --linger 1 >"$out" 2>&1 || true
        # (strongSwan numbers its SAs; a retried IKE_SA_INIT shifts them.)
        grep -q REKEYED "$out" && grep -q DELETED "$out" &&
            [ "$(grep -c "CHILD_SA ph-net{[0-9]*} established" "$ED/charon.log")" -ge 2 ] &&
            grep -q "IKE_SA ph-net\[[0-9]*\] rekeyed" "$ED/charon.log" &&
            [ "$(grep -c "received DELETE for IKE_SA ph-net" "$ED/charon.log")" -ge 2 ] ||
            extra_ok=false
        ;;
    responder|responder-rekey)
        linger=1
        [ "$role" = responder-rekey ] && linger=8
        ip netns exec "$PH_W" "$BIN" "${args[@]}" --seconds 30 --linger $linger >"$out" 2>&1 &
        PEER_PID=$!
        ph_swanctl "$ED" --initiate --ike ph-net --child ph-net --timeout 15 >"$PH_STATE/swanctl.log" 2>&1 || true
        if [ "$role" = responder-rekey ]; then
            ph_swanctl "$ED" --rekey --child ph-net >>"$PH_STATE/swanctl.log" 2>&1 || true
            for _ in $(seq 30); do grep -q ChildSaRekeyed "$out" && break; sleep 0.1; done
            ph_swanctl "$ED" --rekey --ike ph-net >>"$PH_STATE/swanctl.log" 2>&1 || true
            for _ in $(seq 30); do grep -q IkeSaRekeyed "$out" && break; sleep 0.1; done
        fi
        wait "$PEER_PID" || true
        PEER_PID=
        if [ "$role" = responder-rekey ]; then
            grep -q ChildSaRekeyed "$out" && grep -q IkeSaRekeyed "$out" &&
                [ "$(grep -c "CHILD_SA ph-net{[0-9]*} established" "$ED/charon.log")" -ge 2 ] ||
                extra_ok=false
        fi
        ;;
    esac
    if grep -q "IKE_SA ph-net\[[0-9]*\] established" "$ED/charon.log" &&
       grep -q "CHILD_SA ph-net{[0-9]*} established" "$ED/charon.log" &&
       grep -q ESTABLISHED "$out" && $extra_ok; then
        echo "PASS $suite ferroswan-$role"
    else
        echo "FAIL $suite ferroswan-$role"; fail=1
        echo "--- ferroswan"; cat "$out"
        echo "--- charon"; grep -v "^\s*$" "$ED/charon.log" | tail -40
    fi
    ph_sw_stop "$ED"
    ph_ns_down
    mkdir -p "$PH_STATE/keep" && cp "$ED/charon.log" "$PH_STATE/keep/charon-$suite-$role.log"; rm -rf "$ED"
  done
done
exit $fail
