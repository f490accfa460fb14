#!/usr/bin/env bash
# Times netkit against tshark and tcpdump on one capture, page cache hot, best of 3:
#   netkit pcap analyze --json FILE
#   tshark -q -z io,phs -r FILE     (TSHARK_Z=expert: tshark -q -z expert, issue 3's peer)
#   tcpdump -r FILE -w /dev/null 'tcp[13] & 4 != 0'
# and prints the three times, netkit's GB/s and the ratios.
#   bench/census.sh [FILE]      (default bench/out/iperf3-loss.pcap, from make-capture.sh)
#   BASELINE=old/netkit bench/census.sh   also times another netkit build in the same run
# Uses hyperfine when installed (HYPERFINE=0 skips it), else the shell's clock; best of
# 3 either way.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
file=${1:-$here/out/iperf3-loss.pcap}
netkit=${NETKIT:-$root/target/release/netkit}
runs=3

if [ ! -x "$netkit" ]; then
    echo "census.sh: $netkit is not built yet (cargo build --release)" >&2
    exit 1
fi
if [ ! -f "$file" ]; then
    echo "census.sh: no capture $file (sudo bench/make-capture.sh makes one)" >&2
    exit 1
fi
missing=()
for pair in tshark:tshark tcpdump:tcpdump hyperfine:hyperfine; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
    echo "census.sh: installing ${missing[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null || true
fi
for tool in tshark tcpdump python3; do
    if ! command -v "$tool" >/dev/null; then
        echo "census.sh: $tool not found (apt-get install tshark tcpdump python3)" >&2
        exit 1
    fi
done

# The commands must work before they are timed: a failing command is fast.
"$netkit" pcap analyze --json "$file" >/dev/null
cat "$file" >/dev/null # page cache hot for all three

q=$(printf %q "$file")
tz=${TSHARK_Z:-io,phs}
# Peak memory of one analysis (GNU time's maximum resident set size, KB).
rss_kb=$( { /usr/bin/time -f %M "$netkit" pcap analyze --json "$file" >/dev/null; } 2>&1 | tail -1)
names=(netkit tshark tcpdump)
cmds=(
    "$(printf %q "$netkit") pcap analyze --json $q >/dev/null"
    "tshark -q -z $tz -r $q >/dev/null 2>&1"
    "tcpdump -r $q -w /dev/null 'tcp[13] & 4 != 0' 2>/dev/null"
)
base_rss_kb=0
if [ -n "${BASELINE:-}" ]; then
    names+=(baseline)
    cmds+=("$(printf %q "$BASELINE") pcap analyze --json $q >/dev/null")
    base_rss_kb=$( { /usr/bin/time -f %M "$BASELINE" pcap analyze --json "$file" >/dev/null; } 2>&1 | tail -1)
fi

best=()
if [ "${HYPERFINE:-1}" != 0 ] && command -v hyperfine >/dev/null; then
    json=$(mktemp)
    trap 'rm -f "$json"' EXIT
    named=()
    for i in "${!cmds[@]}"; do named+=(-n "${names[$i]}" "${cmds[$i]}"); done
    hyperfine --style basic --warmup 0 --runs "$runs" --export-json "$json" "${named[@]}" >&2
    mapfile -t best < <(python3 -c '
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("%.3f" % min(r["times"]))' "$json")
else
    for cmd in "${cmds[@]}"; do
        fastest=""
        for _ in $(seq "$runs"); do
            start=$(date +%s.%N)
            bash -c "$cmd"
            took=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$start" "$(date +%s.%N)")
            if [ -z "$fastest" ] || python3 -c "import sys; sys.exit(not float(sys.argv[1]) < float(sys.argv[2]))" "$took" "$fastest"; then
                fastest=$took
            fi
        done
        best+=("$fastest")
    done
fi

python3 - "$file" "$tz" "$rss_kb" "$base_rss_kb" "${best[@]}" <<'PY'
import os, sys
path, tz, rss_kb, base_rss_kb = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
netkit, tshark, tcpdump = map(float, sys.argv[5:8])
size = os.path.getsize(path)
print(f"capture  {path} ({size / 1e9:.3f} GB)")
print(f"netkit   pcap analyze --json           {netkit:8.3f} s  {size / 1e9 / netkit:6.2f} GB/s  peak RSS {rss_kb / 1024:.0f} MB")
print(f"tshark   -q -z {tz:<23} {tshark:8.3f} s  {size / 1e9 / tshark:6.2f} GB/s")
print(f"tcpdump  -w /dev/null 'tcp[13] & 4 != 0' {tcpdump:6.3f} s  {size / 1e9 / tcpdump:6.2f} GB/s")
print(f"netkit is {tshark / netkit:.1f}x faster than tshark and "
      f"{tcpdump / netkit:.2f}x the speed of tcpdump (best of 3, hot cache)")
if len(sys.argv) > 8:
    base = float(sys.argv[8])
    print(f"baseline pcap analyze --json           {base:8.3f} s  {size / 1e9 / base:6.2f} GB/s  peak RSS {base_rss_kb / 1024:.0f} MB")
    print(f"netkit takes {netkit / base:.3f}x the baseline's time")
PY
