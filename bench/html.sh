#!/usr/bin/env bash
# What `pcap analyze --html` costs on the bench capture (bench/make-capture.sh makes
# bench/out/iperf3-loss.pcap): the report's size, and the analysis time with and
# without --html, measured in the same run (best of ROUNDS each, alternating so both
# see the same page cache and machine load). Targets: report <= 5 MB, time ratio
# <= 1.5.
#
#   bench/html.sh [CAPTURE] [ROUNDS]      (default bench/out/iperf3-loss.pcap, 3)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
pcap=${1:-$here/out/iperf3-loss.pcap}
rounds=${2:-3}
out=$here/out
bin=$root/target/release/netkit

if [ ! -f "$pcap" ]; then
    echo "html.sh: $pcap not found (sudo bench/make-capture.sh makes it)" >&2
    exit 1
fi
# NETKIT_BENCH_NO_BUILD=1 times the release binary as it is (no rebuild first).
[ -n "${NETKIT_BENCH_NO_BUILD:-}" ] || (cd "$root" && cargo build --release --quiet)
mkdir -p "$out"
report=$out/iperf3-loss.html

now() { date +%s.%N; }
best_plain=
best_html=
for i in $(seq "$rounds"); do
    t0=$(now)
    "$bin" pcap analyze "$pcap" >/dev/null
    t1=$(now)
    "$bin" pcap analyze "$pcap" --html "$report" >/dev/null
    t2=$(now)
    plain=$(echo "$t1 - $t0" | bc -l)
    html=$(echo "$t2 - $t1" | bc -l)
    printf 'round %d: plain %.3f s, --html %.3f s\n' "$i" "$plain" "$html"
    if [ -z "$best_plain" ] || [ "$(echo "$plain < $best_plain" | bc -l)" = 1 ]; then best_plain=$plain; fi
    if [ -z "$best_html" ] || [ "$(echo "$html < $best_html" | bc -l)" = 1 ]; then best_html=$html; fi
done
size=$(stat -c %s "$report")
ratio=$(echo "$best_html / $best_plain" | bc -l)
graphs=$(grep -o '<svg class="graph"' "$report" | wc -l)
printf 'capture %s (%s bytes)\n' "$pcap" "$(stat -c %s "$pcap")"
printf 'report %s: %d bytes (%.2f MB), %d graphs\n' "$report" "$size" "$(echo "$size / 1000000" | bc -l)" "$graphs"
printf 'best of %d: plain %.3f s, --html %.3f s, ratio %.3f\n' "$rounds" "$best_plain" "$best_html" "$ratio"
fail=0
[ "$size" -le 5000000 ] || { echo "FAIL: report over 5 MB" >&2; fail=1; }
[ "$(echo "$ratio <= 1.5" | bc -l)" = 1 ] || { echo "FAIL: --html adds more than 50%" >&2; fail=1; }
exit $fail
