#!/usr/bin/env bash
# CPU cost of `netkit drops` against `netkit top`, in one run, on the same bounded
# iperf3 transfer with 1% of its segments dropped by iptables (issue 16's target:
# drops <= 1/4 of top). Namespace A sends RATE (default 400M) for SECS (default 4)
# seconds over a veth to an iperf3 server in B, whose INPUT chain drops 1% of them
# (`-m statistic --mode random --probability 0.01`). Each monitor runs alone during
# one transfer; counted: its utime+stime over every thread during the transfer
# (schedstat), as bench/top.sh counts. For drops, the BPF program's own time in the
# kernel (which runs in softirq context and is accounted to no process) is read from
# the kernel's BPF statistics (kernel.bpf_stats_enabled, turned on for the run and put
# back) and reported beside it, and the ratio is given both ways.
#
#   sudo bench/drops.sh        # NETKIT=path/to/netkit, RATE=400M, SECS=4, ROUNDS=1
#
# Needs root, iproute2, iptables, iperf3, ethtool, python3 (bpftool for the BPF time).
# Removes everything it made, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${RATE:-400M}
SECS=${SECS:-4}
ROUNDS=${ROUNDS:-1}

if [ "$(id -u)" != 0 ]; then
  echo "drops.sh: needs root (namespaces, BPF); skipped"
  exit 0
fi
for tool in ip iptables iperf3 python3; do
  command -v "$tool" >/dev/null || { echo "drops.sh: $tool missing; skipped"; exit 0; }
done
if [ -z "${NETKIT:-}" ]; then
  if [ -x target/release/netkit ]; then NETKIT=target/release/netkit
  else cargo build -q --release --bin netkit && NETKIT=target/release/netkit; fi
fi

a="nk16b-a-$$"; b="nk16b-b-$$"; va="nk16ba$$"; vb="nk16bb$$"
va=${va:0:15}; vb=${vb:0:15}
tmp=$(mktemp -d)
pids=()
stats_before=$(cat /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || echo 0)
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del "$a" 2>/dev/null || true
  ip netns del "$b" 2>/dev/null || true
  echo "$stats_before" > /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

ip netns add "$a"; ip netns add "$b"
ip link add "$va" type veth peer name "$vb"
ip link set "$va" netns "$a"; ip link set "$vb" netns "$b"
ip -n "$a" addr add 10.166.200.1/24 dev "$va"; ip -n "$b" addr add 10.166.200.2/24 dev "$vb"
for x in "$a $va" "$b $vb"; do
  set -- $x
  ip -n "$1" link set "$2" up; ip -n "$1" link set lo up
  # MTU-sized frames, as between two hosts (about 33k frames/s at 400 Mbit/s).
  ip netns exec "$1" ethtool -K "$2" tso off gso off gro off >/dev/null 2>&1 ||
    echo "drops.sh: ethtool could not turn offloads off; frames will be large"
done
ip netns exec "$b" iptables -A INPUT -p tcp --dport 5201 -m statistic --mode random \
  --probability 0.01 -j DROP
ip netns exec "$b" iperf3 -s -D -I "$tmp/iperf3.pid" >/dev/null
sleep 0.5
pids+=("$(cat "$tmp/iperf3.pid")")

cpu_of() { # nanoseconds on CPU of a process, summed over its live threads
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {print s + 0}'
}
bpf_ns_of() { # run_time_ns of the BPF programs process $1 holds (0 without bpftool)
  command -v bpftool >/dev/null || { echo 0; return; }
  local ids
  ids=$(grep -h '^prog_id:' /proc/"$1"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -u)
  local total=0
  for id in $ids; do
    local ns
    ns=$(bpftool -j prog show id "$id" 2>/dev/null |
      python3 -c "import json,sys; print(json.load(sys.stdin).get('run_time_ns', 0))" || echo 0)
    total=$((total + ns))
  done
  echo "$total"
}
dropped() { # the rule's packet counter
  ip netns exec "$b" iptables -L INPUT -v -x -n | awk 'NR==3 {print $1}'
}

# measure NAME CMD...: starts CMD, lets it settle, runs the transfer, records the
# CPU-seconds used during it (and the BPF programs' time for drops).
measure() {
  local name=$1; shift
  "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  local pid=$!
  pids+=("$pid")
  sleep 3
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "$name: did not start: $(head -c 300 "$tmp/$name.err")"
    return
  fi
  local before bpf0 d0; before=$(cpu_of "$pid"); bpf0=$(bpf_ns_of "$pid"); d0=$(dropped)
  ip netns exec "$a" iperf3 -c 10.166.200.2 -b "$RATE" -t "$SECS" -J >"$tmp/$name.iperf.json"
  sleep 1.2 # the last interval is counted and printed
  local after bpf1 d1; after=$(cpu_of "$pid"); bpf1=$(bpf_ns_of "$pid"); d1=$(dropped)
  kill -INT "$pid" 2>/dev/null || true
  sleep 0.3; kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  python3 - "$name" "$before" "$after" "$bpf0" "$bpf1" "$tmp/$name.iperf.json" "$((d1 - d0))" <<'PY' | tee -a "$tmp/results"
import json, sys
name, c0, c1, b0, b1, iperf, dropped = sys.argv[1:]
s = json.load(open(iperf))["end"]["sum_sent"]
cpu = (int(c1) - int(c0)) / 1e9
bpf = (int(b1) - int(b0)) / 1e9
print(f"{name:<7} {cpu:.4f} {bpf:.4f}   ({cpu:.3f} CPU-s in the process, {bpf:.4f} s in its BPF "
      f"programs; transfer {s['bits_per_second']/1e6:.0f} Mbit/s, "
      f"{s.get('retransmits', 0)} retransmits, {dropped} dropped by the rule)")
PY
}

echo 1 > /proc/sys/kernel/bpf_stats_enabled 2>/dev/null ||
  echo "drops.sh: kernel.bpf_stats_enabled not writable: BPF time not measured"
echo "binary: $NETKIT; transfer: iperf3 -b $RATE -t $SECS, A -> B over a veth, 1% dropped in B"
for round in $(seq "$ROUNDS"); do
  echo "round $round"
  measure top "$NETKIT" top --json --netns "$a" --interval 1
  measure drops "$NETKIT" drops --json --all-netns --interval 1
done
python3 - "$tmp/results" "$tmp/drops.out" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    name, cpu, bpf = line.split()[:3]
    rows.setdefault(name, []).append((float(cpu), float(bpf)))
if "top" in rows and "drops" in rows:
    top = sum(c for c, _ in rows["top"])
    d = sum(c for c, _ in rows["drops"])
    db = sum(c + b for c, b in rows["drops"])
    print(f"drops/top CPU: {d / top:.3f} (process only), {db / top:.3f} "
          f"(with its BPF programs' time); target <= 0.25")
seen = sum(json.loads(l)["probe"]["seen"] for l in open(sys.argv[2]))
print(f"drops saw {seen} drops during its run (the rule's counter is in its line above)")
PY
