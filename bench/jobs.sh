#!/usr/bin/env bash
# Times `pcap analyze --jobs 1` and `--jobs 2` against libpcap's bare read loop and
# tshark's expert analysis on one capture, all in the same run, page cache hot, best
# and median of ROUNDS (3) interleaved rounds:
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
# Rounds interleave the three quick commands (one of each per round), so a burst of
# load on this shared machine falls on all of them alike; best and median of ROUNDS.
# tshark takes seconds to minutes: one run, after them, is enough to place it.
python3 - "$rounds" "${names[@]}" -- "${cmds[@]}" <<'PY'
import statistics, subprocess, sys, time
rounds = int(sys.argv[1])
sep = sys.argv.index("--")
names, cmds = sys.argv[2:sep], sys.argv[sep + 1:]
def timed(cmd):
    t = time.monotonic()
    subprocess.run(cmd, shell=True, check=True)
    return time.monotonic() - t
times = {n: [] for n in names}
for _ in range(rounds):
    for n, c in zip(names[:3], cmds[:3]):
        times[n].append(timed(c))
times[names[3]].append(timed(cmds[3]))
best = {n: min(v) for n, v in times.items()}
med = {n: statistics.median(v) for n, v in times.items()}
for n in names:
    print(f"{n:18} {best[n]:8.3f} s best, {med[n]:8.3f} s median of {len(times[n])}")
j1, j2, tcpdump, tshark = (best[n] for n in names)
m1, m2, mt = (med[n] for n in names[:3])
print(f"jobs 1 / jobs 2          {j1 / j2:6.2f}x (speed-up; medians {m1 / m2:.2f}x)")
print(f"jobs 2 / tcpdump         {j2 / tcpdump:6.2f} (goal: below 1; medians {m2 / mt:.2f})")
print(f"jobs 1 / tcpdump         {j1 / tcpdump:6.2f} (medians {m1 / mt:.2f})")
print(f"tshark expert / jobs 2   {tshark / j2:6.1f}x")
print(f"tshark expert / jobs 1   {tshark / j1:6.1f}x")
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
