#!/usr/bin/env bash
# Issue 8's memory bound: `netkit pcap analyze --json` on a capture of N TCP SYNs
# (default 2,000,000), each from its own source address to one server, must stay under
# 256 MB peak RSS and say that it evicted flow state.
#   bench/syn-flood.sh [N]
# The capture (54-byte frames, N * 70 bytes) is written by the generator in
# tests/memory_bounds.rs to bench/out/syn-flood-N.pcap and kept for later runs.
# NETKIT=path picks the binary (default target/release/netkit, else target/debug).
# Prints peak RSS (GNU time's %M), wall time, and the report's stream/eviction counts;
# exits 1 when the peak is 256 MB or more or nothing was evicted.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
n=${1:-2000000}
file=$here/out/syn-flood-$n.pcap
netkit=${NETKIT:-$root/target/release/netkit}
[ -x "$netkit" ] || netkit=$root/target/debug/netkit
limit_kb=$((256 * 1024))

if [ ! -x /usr/bin/time ]; then
    echo "syn-flood.sh: GNU time is needed for the peak RSS (apt-get install time)" >&2
    exit 1
fi
mkdir -p "$here/out"
if [ ! -f "$file" ]; then
    echo "syn-flood.sh: writing $n SYNs to $file" >&2
    (cd "$root" && NETKIT_SYN_FLOOD=$n NETKIT_SYN_FLOOD_FILE=$file \
        cargo test -q --test memory_bounds write_syn_flood_file >/dev/null)
fi

report=$(mktemp)
rss=$(mktemp)
trap 'rm -f "$report" "$rss"' EXIT
/usr/bin/time -f '%M %e' -o "$rss" "$netkit" pcap analyze --json "$file" >"$report"
read -r peak_kb secs <"$rss"
python3 - "$report" "$peak_kb" "$secs" "$n" "$netkit" <<'PY'
import json, sys
report, peak_kb, secs, n, netkit = sys.argv[1:]
t = json.load(open(report))["tcp"]
print(f"{int(n):,} SYNs with {netkit}: peak RSS {int(peak_kb) / 1024:.0f} MiB, {secs} s; "
      f"{t['streams']:,} streams, {t['evicted_conversations']:,} conversations evicted, "
      f"{t.get('streams_summarised', 0):,} streams summarised, "
      f"{len(t['streams_detail']):,} detailed")
PY
evicted=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tcp"]["evicted_conversations"])' "$report")
if [ "$peak_kb" -ge "$limit_kb" ] || [ "$evicted" -eq 0 ]; then
    echo "syn-flood.sh: FAILED (peak ${peak_kb} KB, limit ${limit_kb} KB; ${evicted} evicted)" >&2
    exit 1
fi
