#!/usr/bin/env bash
# CPU cost of `netkit top --json` against tcpdump's bare capture (and nethogs and
# bandwhich when installed), all on the same bounded iperf3 transfer between two
# namespaces joined by a veth, in one run. Each monitor watches namespace A while
# `iperf3 -c` there sends RATE (default 400M) for SECS (default 4) seconds to a server
# in B; the CPU-seconds counted are the monitor's utime+stime (all threads) during the
# transfer only (schedstat nanoseconds of every thread), so start-up costs are left out
# for every tool alike.
#
#   sudo bench/top.sh          # NETKIT=path/to/netkit, RATE=400M, SECS=4, ROUNDS=1
#   UDP=1 sudo bench/top.sh    # the same rate as UDP datagrams of 1400 bytes
#   UDP=1 LEN=64 RATE=140M sudo bench/top.sh  # small datagrams: ~8x the packet rate
#                              # of the 400 Mbit/s TCP run (about 270k datagrams/s)
#                              # asked of iperf3, which here sends about half of it
#   FLOOD=280000 sudo bench/top.sh  # FLOOD datagrams/s of LEN (64) bytes for SECS from
#                              # bench/udpflood.rs (sendmmsg, built with rustc) to a
#                              # socket in B that never reads: 8x the TCP run's rate
#   netkit runs twice: --attribution bpf (netkit-bpf: the kernel counts, only DNS is
#   captured) and --attribution sock-diag (netkit-sd: every frame captured, as before)
#   WRITE=4 sudo bench/top.sh  # netkit with --write and a 4 MiB ring (the cost of --write)
#   BASELINE=old/netkit sudo bench/top.sh   # also measures another build, same rounds
#                              # (its top, and with WATCH=1 its watch too)
#   WATCH=1 sudo bench/top.sh  # also netkit watch (watch: --attribution bpf, watch-sd:
#                              # sock-diag) and tshark -q -z expert (issue 14's peers)
#
# Needs root, iproute2, iperf3, tcpdump; nethogs/bandwhich are measured when found
# (BANDWHICH=path to pick one). Removes everything it made, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${RATE:-400M}
SECS=${SECS:-4}
ROUNDS=${ROUNDS:-1}
UDP_ARGS=()
if [ -n "${UDP:-}" ]; then UDP_ARGS=(-u -l "${LEN:-1400}"); fi

if [ "$(id -u)" != 0 ]; then
  echo "top.sh: needs root (namespaces, packet capture); skipped"
  exit 0
fi
tools=(ip iperf3 tcpdump python3)
if [ -n "${FLOOD:-}" ]; then tools+=(rustc); fi
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || { echo "top.sh: $tool missing; skipped"; exit 0; }
done
if [ -z "${NETKIT:-}" ]; then
  if [ -x target/release/netkit ]; then NETKIT=target/release/netkit
  else cargo build -q --release --bin netkit && NETKIT=target/release/netkit; fi
fi
BANDWHICH=${BANDWHICH:-$(command -v bandwhich || true)}
NETHOGS=$(command -v nethogs || true)

a="nktb-a-$$"; b="nktb-b-$$"; va="nkba$$"; vb="nkbb$$"
va=${va:0:15}; vb=${vb:0:15}
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del "$a" 2>/dev/null || true
  ip netns del "$b" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

ip netns add "$a"; ip netns add "$b"
ip link add "$va" type veth peer name "$vb"
ip link set "$va" netns "$a"; ip link set "$vb" netns "$b"
ip -n "$a" addr add 10.232.0.1/24 dev "$va"; ip -n "$b" addr add 10.232.0.2/24 dev "$vb"
for x in "$a $va" "$b $vb"; do
  set -- $x
  ip -n "$1" link set "$2" up; ip -n "$1" link set lo up
  # MTU-sized frames on the wire, as between two hosts (about 33k frames/s at 400
  # Mbit/s), instead of the 64 KB segments a veth passes with offloads on.
  ip netns exec "$1" ethtool -K "$2" tso off gso off gro off >/dev/null 2>&1 ||
    echo "top.sh: ethtool could not turn offloads off; frames will be large"
done
ip netns exec "$b" iperf3 -s -D -I "$tmp/iperf3.pid" >/dev/null
sleep 0.5
pids+=("$(cat "$tmp/iperf3.pid")")
if [ -n "${FLOOD:-}" ]; then
  rustc -O --edition 2021 -o "$tmp/udpflood" bench/udpflood.rs
  # Outlives every round; killed by cleanup.
  ip netns exec "$b" "$tmp/udpflood" sink 9000 86400 &
  pids+=("$!")
fi

# transfer NAME: the traffic every monitor is measured on (iperf3, or the flooder).
transfer() {
  if [ -n "${FLOOD:-}" ]; then
    ip netns exec "$a" "$tmp/udpflood" send 10.232.0.2:9000 "${LEN:-64}" "$FLOOD" "$SECS" >"$tmp/$1.flood"
  else
    ip netns exec "$a" iperf3 -c 10.232.0.2 "${UDP_ARGS[@]}" -b "$RATE" -t "$SECS" -J >"$tmp/$1.iperf.json"
  fi
}
# rate_of NAME: what the transfer sent, for the result line.
rate_of() {
  if [ -n "${FLOOD:-}" ]; then
    awk -v secs="$SECS" '{printf "%.0f datagrams/s", $1 / secs}' "$tmp/$1.flood"
  else
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); s=d['end']['sum_sent']; print(f\"{s['bits_per_second']/1e6:.0f} Mbit/s\")" "$tmp/$1.iperf.json"
  fi
}

clk=$(getconf CLK_TCK)
frames() { # frames through A's veth, both directions
  ip -n "$a" -s -j link show "$va" |
    python3 -c "import json,sys; s=json.load(sys.stdin)[0]['stats64']; print(s['tx']['packets']+s['rx']['packets'])"
}
cpu_of() { # nanoseconds on CPU of a process, summed over its live threads
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%d\n", s}'
}

# measure NAME CMD...: starts CMD (inside namespace A), lets it settle, runs the
# transfer, prints CPU-seconds used during the transfer.
measure() {
  local name=$1; shift
  "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  local pid=$!
  pids+=("$pid")
  sleep 2
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "$name: did not start: $(head -c 300 "$tmp/$name.err")"
    return
  fi
  local before; before=$(cpu_of "$pid")
  local f0; f0=$(frames)
  transfer "$name"
  sleep 1.2 # the last interval is counted and printed
  local after; after=$(cpu_of "$pid")
  local f1; f1=$(frames)
  kill -INT "$pid" 2>/dev/null || true
  sleep 0.3; kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local pps
  pps=$(rate_of "$name")
  cpu[$name]=$(python3 -c "import sys; print(f'{(int(sys.argv[2])-int(sys.argv[1]))/1e9:.3f}')" "$before" "$after")
  printf '%-10s %6s CPU-s   (transfer %s, %d frames)\n' "$name" "${cpu[$name]}" "$pps" "$((f1 - f0))" |
    tee -a "$tmp/results"
}
declare -A cpu

# watch's own account of the run (its last summary): the frames it analysed and those
# lost before analysis (in the kernel's ring; a build before 2026-12-06 also counted
# its queue), which must be 0 for the figure to count; then its CPU against the peers
# measured in the same round.
watch_figures() {
  python3 - "$tmp/watch.out" <<'PY'
import json, sys
last = None
for line in open(sys.argv[1]):
    try:
        v = json.loads(line)
    except ValueError:
        continue
    if isinstance(v, dict) and "dropped" in v and "frames" in v:
        last = v
if last is None:
    print("watch      no summary in its output")
else:
    d = last["dropped"]
    queue = f", {d['queue']} in its queue" if "queue" in d else ""
    print(f"watch      analysed {last['frames']} frames; lost {d['kernel']} in the kernel's ring{queue}")
PY
  python3 - "${cpu[watch]:-}" "${cpu[netkit-sd]:-}" "${cpu[netkit-bpf]:-}" "${cpu[tcpdump]:-}" "${cpu[tshark]:-}" "${cpu[base-watch]:-}" <<'PY'
import sys
w, sd, bpf, td, ts, bw = (float(x) if x else None for x in sys.argv[1:])
if w:
    parts = [f"{w / p:.1f}x {n}" for p, n in ((sd, "top sock-diag"), (bpf, "top bpf"), (td, "tcpdump")) if p]
    tail = f"; tshark uses {ts / w:.1f}x watch" if ts else ""
    if bw:
        tail += f"; baseline's watch uses {bw / w:.2f}x this one"
    print("ratios     watch uses " + ", ".join(parts) + tail)
PY
}

if [ -n "${FLOOD:-}" ]; then what="udpflood ${LEN:-64}-byte datagrams at $FLOOD/s for $SECS s"
else what="iperf3 ${UDP_ARGS[*]} -b $RATE -t $SECS"; fi
echo "binary: $NETKIT; transfer: $what, namespace A -> B over a veth"
for round in $(seq "$ROUNDS"); do
  echo "round $round"
  measure tcpdump ip netns exec "$a" tcpdump -i any -s 128 -w /dev/null -q
  write_args=()
  if [ -n "${WRITE:-}" ]; then write_args=(--write "$tmp/ring.pcapng" --write-ring-mb "$WRITE"); fi
  measure netkit-bpf "$NETKIT" top --json --netns "$a" --interval 1 --attribution bpf "${write_args[@]}"
  measure netkit-sd "$NETKIT" top --json --netns "$a" --interval 1 --attribution sock-diag "${write_args[@]}"
  if [ -n "${WATCH:-}" ]; then
    # Both owner paths: --attribution bpf adds the socket-owner probe (no program
    # on the packet path), sock-diag is watch without it.
    measure watch "$NETKIT" watch --json --netns "$a" -i "$va" --summary-every 1 --attribution bpf
    measure watch-sd "$NETKIT" watch --json --netns "$a" -i "$va" --summary-every 1 --attribution sock-diag
    if [ -n "${BASELINE:-}" ]; then
      measure base-watch "$BASELINE" watch --json --netns "$a" -i "$va" --summary-every 1
    fi
    if command -v tshark >/dev/null; then
      measure tshark ip netns exec "$a" tshark -i "$va" -q -z expert
    else
      echo "tshark     not installed (apt-get install tshark)"
    fi
    watch_figures
  fi
  if [ -n "${BASELINE:-}" ]; then
    measure baseline "$BASELINE" top --json --netns "$a" --interval 1 "${write_args[@]}"
  fi
  if [ -n "$NETHOGS" ]; then
    measure nethogs ip netns exec "$a" "$NETHOGS" -t -d 1 "$va"
  else
    echo "nethogs    not installed (apt-get install nethogs)"
  fi
  if [ -n "$BANDWHICH" ]; then
    measure bandwhich ip netns exec "$a" "$BANDWHICH" --raw -i "$va"
  else
    echo "bandwhich  not installed (cargo install bandwhich)"
  fi
done

# How much of the transfer netkit attributed to its sender, and how much it counted.
sender=iperf3
if [ -n "${FLOOD:-}" ]; then sender=udpflood; fi
for name in netkit-bpf netkit-sd; do
python3 - "$name" "$tmp/$name.out" "$sender" "$tmp/$name" <<'EOF'
import json, os, sys
name, out, sender, stem = sys.argv[1:]
att = una = 0
path = "?"
for line in open(out):
    v = json.loads(line)
    path = v.get("attribution", path)
    for p in v["processes"]:
        if p["comm"] == sender:
            att += p["tx_bytes"] + p["rx_bytes"]
    una += v["unattributed"]["tx_bytes"] + v["unattributed"]["rx_bytes"]
if os.path.exists(stem + ".flood"):
    sent = int(open(stem + ".flood").read().split()[2])
else:
    sent = json.load(open(stem + ".iperf.json"))["end"]["sum_sent"]["bytes"]
print(f"{name} (attribution {path}): {att} wire bytes attributed to {sender} "
      f"(payload sent {sent}), {una} unattributed")
EOF
done
