#!/usr/bin/env bash
# TLS decryption speed: a >= 300 MB TLS capture with its key log, analysed by
# `netkit pcap analyze --tls-keylog` and by `tshark -o tls.keylog_file -q -z expert`,
# in the same run, hot cache, best of ROUNDS (3; TSHARK_ROUNDS, default 2, for tshark).
#   bench/tls.sh [MB] [1.2|1.3] [lab|lo]      (as root; default 320 MB, TLS 1.3, lab)
# lab (issue 17's "curl downloading over https from the lab proxy"): the TLS lab's
#   topology (tests/lab_tls.rs) without loss: client, proxy and server namespaces
#   (nk17b-*), veths with offloads off (1500-byte frames, as on a wire), HAProxy
#   terminating TLS in front of python3 -m http.server; curl downloads a file of MB
#   megabytes with SSLKEYLOGFILE; tcpdump captures the client's veth.
# lo: openssl s_server -WWW on 127.0.0.1, curl, tcpdump on loopback (64 KB frames).
# CAPTURE_ONLY=1 stops after making the capture; REUSE=1 analyses the capture and key
# log an earlier run left in bench/out instead of making new ones (profiling rounds).
# Writes bench/out/tls-*. Needs target/release/netkit (CARGO_BUILD_JOBS=1 cargo build
# --release), openssl, curl, tcpdump, tshark, haproxy (lab), ethtool (lab).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
mb=${1:-320}
tls=${2:-1.3}
where=${3:-lab}
rounds=${ROUNDS:-3}
tshark_rounds=${TSHARK_ROUNDS:-2}
netkit=$root/target/release/netkit
out=$here/out
mkdir -p "$out"
[ -x "$netkit" ] || [ -n "${CAPTURE_ONLY:-}" ] ||
    { echo "bench/tls.sh: build first: cargo build --release" >&2; exit 2; }
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    for ns in nk17b-cli nk17b-px nk17b-srv; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
cap=$out/tls-$where-$tls-${mb}MB.pcap
keys=$out/tls-$where-$tls-${mb}MB.keys
if [ -n "${REUSE:-}" ]; then
    [ -s "$cap" ] && [ -s "$keys" ] || { echo "bench/tls.sh: REUSE: no $cap / $keys" >&2; exit 2; }
    echo "reusing $cap"
else
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 30 \
    -subj /CN=bench.example 2>/dev/null
head -c "$((mb * 1000 * 1000))" /dev/urandom >payload
rm -f "$keys"

if [ "$where" = lab ]; then
    for ns in nk17b-cli nk17b-px nk17b-srv; do
        ip netns del "$ns" 2>/dev/null || true
        ip netns add "$ns"
        ip -n "$ns" link set lo up
    done
    ip link add nk17b-c0 netns nk17b-cli type veth peer name nk17b-p0 netns nk17b-px
    ip link add nk17b-p1 netns nk17b-px type veth peer name nk17b-s0 netns nk17b-srv
    for spec in "nk17b-cli nk17b-c0 10.118.1.2/24" "nk17b-px nk17b-p0 10.118.1.1/24" \
        "nk17b-px nk17b-p1 10.118.2.1/24" "nk17b-srv nk17b-s0 10.118.2.2/24"; do
        read -r ns dev addr <<<"$spec"
        ip -n "$ns" addr add "$addr" dev "$dev"
        ip -n "$ns" link set "$dev" up
        ip netns exec "$ns" ethtool -K "$dev" tso off gso off gro off >/dev/null 2>&1 || true
    done
    cat cert.pem key.pem >lab.pem
    v=TLSv${tls}
    cat >haproxy.cfg <<EOF
global
    maxconn 64
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
frontend bench
    bind 10.118.1.1:8443 ssl crt $work/lab.pem alpn http/1.1 ssl-min-ver $v ssl-max-ver $v
    default_backend files
backend files
    server files 10.118.2.2:8000
EOF
    ip netns exec nk17b-srv python3 -m http.server --bind 10.118.2.2 8000 >/dev/null 2>&1 &
    pids+=($!)
    ip netns exec nk17b-px haproxy -db -f haproxy.cfg >haproxy.log 2>&1 &
    pids+=($!)
    sleep 1
    ip netns exec nk17b-cli tcpdump -i nk17b-c0 -s 0 -B 262144 -U -w "$cap" "tcp port 8443" \
        2>"$work/tcpdump.err" &
    dump=$!
    pids+=($dump)
    sleep 1
    SSLKEYLOGFILE=$keys ip netns exec nk17b-cli curl -sk --tlsv$tls --tls-max $tls \
        --resolve bench.example:8443:10.118.1.1 "https://bench.example:8443/payload" \
        -o /dev/null -w 'curl: %{http_code}, %{size_download} bytes in %{time_total} s\n'
else
    port=44999
    if [ "$tls" = 1.2 ]; then
        sargs=(-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256)
    else
        sargs=(-tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256)
    fi
    # -WWW serves files relative to the working directory.
    sleep 600 | openssl s_server -accept 127.0.0.1:$port -cert cert.pem -key key.pem -WWW \
        "${sargs[@]}" >/dev/null 2>&1 &
    tcpdump -i lo -s 0 -B 65536 -U -w "$cap" "tcp port $port" 2>"$work/tcpdump.err" &
    dump=$!
    pids+=($dump)
    sleep 1
    SSLKEYLOGFILE=$keys curl -sk --tlsv$tls --tls-max $tls "https://127.0.0.1:$port/payload" \
        -o /dev/null -w 'curl: %{size_download} bytes in %{time_total} s\n'
fi
sleep 1
kill "$dump"
wait "$dump" 2>/dev/null || true
grep -E "captured|dropped" "$work/tcpdump.err" || true
fi
bytes=$(stat -c %s "$cap")
frames=$(tcpdump -r "$cap" 2>/dev/null | wc -l)
echo "capture: $cap, $bytes bytes, $frames frames"
[ -z "${CAPTURE_ONLY:-}" ] || exit 0

best() { # prints the best wall time of "$@" over N runs: best N cmd...
    local n=$1 b=""
    shift
    for _ in $(seq "$n"); do
        local s e
        s=$(date +%s.%N)
        "$@" >/dev/null 2>&1
        e=$(date +%s.%N)
        b=$(python3 -c "t=$e-$s; b='$b'; print(min(t, float(b)) if b else t)")
    done
    echo "$b"
}
cat "$cap" >/dev/null # hot cache
nk=$(best "$rounds" "$netkit" pcap analyze --json --tls-keylog "$keys" "$cap")
ts=$(best "$tshark_rounds" tshark -o "tls.keylog_file:$keys" -q -z expert -r "$cap")
# The run must really decrypt: every record opened, none failing.
"$netkit" pcap analyze --json --tls-keylog "$keys" "$cap" | python3 -c '
import json, sys
t = json.load(sys.stdin)["tls"]
for c in t["connections"]:
    print("netkit:", c["version"], c["cipher_suite"], "decrypted:", c["decrypted"],
          "server plaintext bytes:", c["server_plain_bytes"], "failures:", c["decryption_failures"])
print("sessions without keys:", t["sessions_without_keys"])'
python3 -c "
b=$bytes; nk=$nk; ts=$ts
print(f'netkit {nk:.3f} s = {b/nk/1e9:.2f} GB/s; tshark {ts:.3f} s = {b/ts/1e9:.3f} GB/s; ratio {ts/nk:.1f}x')"
