#!/usr/bin/env bash
# TLS decryption speed: a >= 300 MB TLS capture with its key log, analysed by
# `netkit pcap analyze --tls-keylog` and by `tshark -o tls.keylog_file -q -z expert`,
# in the same run, hot cache, best of ROUNDS (3).
#   bench/tls.sh [MB] [1.2|1.3]      (as root: tcpdump on lo; default 320 MB, TLS 1.3)
# openssl s_server -WWW serves a file of MB megabytes on 127.0.0.1; curl downloads it
# over https with SSLKEYLOGFILE; tcpdump captures loopback. Writes bench/out/tls-*.
# Needs target/release/netkit (CARGO_BUILD_JOBS=1 cargo build --release), openssl,
# curl, tcpdump, tshark.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
mb=${1:-320}
tls=${2:-1.3}
rounds=${ROUNDS:-3}
netkit=$root/target/release/netkit
out=$here/out
mkdir -p "$out"
[ -x "$netkit" ] || { echo "bench/tls.sh: build first: cargo build --release" >&2; exit 2; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 30 \
    -subj /CN=bench.example 2>/dev/null
head -c "$((mb * 1000 * 1000))" /dev/urandom >payload
port=44999
cap=$out/tls-$tls-${mb}MB.pcap
keys=$out/tls-$tls-${mb}MB.keys
rm -f "$keys"
# -WWW serves files relative to the working directory.
if [ "$tls" = 1.2 ]; then
    sargs=(-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256)
else
    sargs=(-tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256)
fi
sleep 600 | openssl s_server -accept 127.0.0.1:$port -cert cert.pem -key key.pem -WWW \
    "${sargs[@]}" >/dev/null 2>&1 &
tcpdump -i lo -s 0 -B 65536 -U -w "$cap" "tcp port $port" 2>"$work/tcpdump.err" &
dump=$!
sleep 1
SSLKEYLOGFILE=$keys curl -sk --tlsv$tls --tls-max $tls "https://127.0.0.1:$port/payload" \
    -o /dev/null -w 'curl: %{size_download} bytes in %{time_total} s\n'
sleep 1
kill $dump; wait $dump 2>/dev/null || true
grep -E "dropped" "$work/tcpdump.err" || true
bytes=$(stat -c %s "$cap")
echo "capture: $cap, $bytes bytes"

best() { # prints the best wall time of "$@" over $rounds runs
    local b=""
    for _ in $(seq "$rounds"); do
        local s e
        s=$(date +%s.%N)
        "$@" >/dev/null 2>&1
        e=$(date +%s.%N)
        b=$(python3 -c "t=$e-$s; b='$b'; print(min(t, float(b)) if b else t)")
    done
    echo "$b"
}
cat "$cap" >/dev/null # hot cache
nk=$(best "$netkit" pcap analyze --json --tls-keylog "$keys" "$cap")
ts=$(best tshark -o "tls.keylog_file:$keys" -q -z expert -r "$cap")
# The run must really decrypt: every record opened, none failing.
"$netkit" pcap analyze --json --tls-keylog "$keys" "$cap" | python3 -c '
import json, sys
c = json.load(sys.stdin)["tls"]["connections"][0]
print("netkit decrypted:", c["decrypted"], "server plaintext bytes:", c["server_plain_bytes"],
      "failures:", c["decryption_failures"])'
python3 -c "
b=$bytes; nk=$nk; ts=$ts
print(f'netkit {nk:.3f} s = {b/nk/1e9:.2f} GB/s; tshark {ts:.3f} s = {b/ts/1e9:.3f} GB/s; ratio {ts/nk:.1f}x')"
