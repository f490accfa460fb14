#!/usr/bin/env bash
# Times `pcap analyze --jobs 1` and `--jobs 2` against libpcap's bare read loop and
# tshark's expert analysis on one capture, all in the same run, page cache hot, best
# of ROUNDS (3):
#   netkit pcap analyze --json --jobs 1 FILE
#   netkit pcap analyze --json --jobs 2 FILE
#   tcpdump -r FILE -w /dev/null 'tcp[13] & 4 != 0'
#   tshark -q -z expert -r FILE
# and prints the wall times and the ratios (issue 19's goal: jobs 2 below tcpdump).
#   bench/jobs.sh [FILE]     (default bench/out/iperf3-loss.pcap, from make-capture.sh)
# Also checks that --jobs 2's report is byte for byte --jobs 1's.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
file=${1:-$here/out/iperf3-loss.pcap}
netkit=${NETKIT:-$root/target/release/netkit}
rounds=${ROUNDS:-3}

if [ ! -x "$netkit" ]; then
    echo "jobs.sh: $netkit is not built yet (cargo build --release)" >&2
    exit 1
fi
if [ ! -f "$file" ]; then
    echo "jobs.sh: no capture $file (sudo bench/make-capture.sh makes one)" >&2
    exit 1
fi
missing=()
for pair in tshark:tshark tcpdump:tcpdump; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
    echo "jobs.sh: installing ${missing[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null || true
fi
for tool in tshark tcpdump python3; do
    command -v "$tool" >/dev/null || { echo "jobs.sh: $tool not found" >&2; exit 1; }
done

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# The same report whatever the jobs, checked before anything is timed.
"$netkit" pcap analyze --json --jobs 1 "$file" >"$out/j1.json"
"$netkit" pcap analyze --json --jobs 2 "$file" >"$out/j2.json"
if cmp -s "$out/j1.json" "$out/j2.json"; then
    echo "reports of --jobs 1 and --jobs 2: identical ($(wc -c <"$out/j1.json") bytes)"
else
    echo "jobs.sh: --jobs 2's report differs from --jobs 1's" >&2
    exit 1
fi
cat "$file" >/dev/null # page cache hot for all

q=$(printf %q "$file")
n=$(printf %q "$netkit")
names=("netkit --jobs 1" "netkit --jobs 2" tcpdump "tshark -z expert")
cmds=(
    "$n pcap analyze --json --jobs 1 $q >/dev/null"
    "$n pcap analyze --json --jobs 2 $q >/dev/null"
    "tcpdump -r $q -w /dev/null 'tcp[13] & 4 != 0' 2>/dev/null"
    "tshark -q -z expert -r $q >/dev/null 2>&1"
)
best=()
for i in "${!cmds[@]}"; do
    b=""
    # tshark takes minutes on this file: one round is enough to place it.
    r=$rounds
    [ "$i" = 3 ] && r=1
    for _ in $(seq "$r"); do
        t=$(python3 - "${cmds[$i]}" <<'PY'
import subprocess, sys, time
t = time.monotonic()
subprocess.run(sys.argv[1], shell=True, check=True)
print(f"{time.monotonic() - t:.3f}")
PY
)
        if [ -z "$b" ] || python3 -c "import sys; sys.exit(0 if $t < $b else 1)"; then b=$t; fi
    done
    best+=("$b")
    printf '%-18s %8.3f s\n' "${names[$i]}" "$b"
done
python3 - "${best[@]}" <<'PY'
import sys
j1, j2, tcpdump, tshark = map(float, sys.argv[1:])
print(f"jobs 1 / jobs 2          {j1 / j2:6.2f}x (speed-up)")
print(f"jobs 2 / tcpdump         {j2 / tcpdump:6.2f} (goal: below 1)")
print(f"jobs 1 / tcpdump         {j1 / tcpdump:6.2f}")
print(f"tshark expert / jobs 2   {tshark / j2:6.1f}x")
print(f"tshark expert / jobs 1   {tshark / j1:6.1f}x")
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
