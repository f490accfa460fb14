#!/usr/bin/env bash
# Soak of `netkit top --json`: does a long run with churning flows and processes keep
# bounded memory and CPU? Two namespaces A and B joined by a veth; in B a server
# answers TCP on four ports and echoes UDP on four ports; in A a bounded loop forks
# short-lived processes (about RATE a second), each making 8 TCP connections and 4 UDP
# exchanges from fresh ephemeral ports and exiting, plus a 2-echo ping every 2 s. So
# every second brings ~100 new flows and ~RATE new PIDs, for MINUTES minutes.
# `netkit top --json --netns A` watches it all; every 10 s its VmRSS, VmHWM and
# CPU-seconds (utime+stime, all threads) are sampled into a table. At the end: peak
# RSS, RSS at 1 min, at a third of the run and at the end, CPU-seconds per minute,
# flows and PIDs seen, whether every JSON line parsed, and how much was attributed.
#
#   sudo bench/top-soak.sh                 # MINUTES=10 RATE=10 NETKIT=path/to/netkit
#
# Needs root, iproute2, python3, ping. Builds target/release/netkit when NETKIT is not
# given and it is missing. Removes everything it made, also on failure or Ctrl-C.
# Exit 0 when memory stayed bounded (end RSS within 25% or 10 MB of the RSS at a
# third of the run) and every line parsed; 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES=${MINUTES:-10}
RATE=${RATE:-10}
SAMPLE=${SAMPLE:-10}

if [ "$(id -u)" != 0 ]; then
  echo "top-soak.sh: needs root (namespaces, packet capture); skipped"
  exit 0
fi
for tool in ip python3 ping; do
  command -v "$tool" >/dev/null || { echo "top-soak.sh: $tool missing; skipped"; exit 0; }
done
if [ -z "${NETKIT:-}" ]; then
  target=${CARGO_TARGET_DIR:-target}
  [ -x "$target/release/netkit" ] || cargo build -q --release --bin netkit
  NETKIT=$target/release/netkit
fi

a="nks-a-$$"; b="nks-b-$$"; va="nksa$$"; vb="nksb$$"
va=${va:0:15}; vb=${vb:0:15}
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns pids "$a" 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns pids "$b" 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns del "$a" 2>/dev/null || true
  ip netns del "$b" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

ip netns add "$a"; ip netns add "$b"
ip link add "$va" netns "$a" type veth peer name "$vb" netns "$b"
ip -n "$a" addr add 10.233.0.1/24 dev "$va"; ip -n "$b" addr add 10.233.0.2/24 dev "$vb"
for x in "$a $va" "$b $vb"; do
  set -- $x
  ip -n "$1" link set "$2" up; ip -n "$1" link set lo up
done

cat >"$tmp/server.py" <<'EOF'
import socket, threading
def serve(c):
    with c:
        try:
            c.settimeout(3)
            d = c.recv(65536)
            c.sendall(d * 2)
        except OSError:
            pass
def tcp(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(512)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
def udp(port):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", port))
    while True:
        d, a = u.recvfrom(65535); u.sendto(d, a)
for p in range(9100, 9104):
    threading.Thread(target=tcp, args=(p,), daemon=True).start()
for p in range(9200, 9204):
    threading.Thread(target=udp, args=(p,), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
EOF

cat >"$tmp/load.py" <<'EOF'
import os, random, socket, subprocess, sys, time
seconds, rate = float(sys.argv[1]), float(sys.argv[2])
srv = "10.233.0.2"
end = time.time() + seconds
kids, forks, pings = set(), 0, 0
def client():
    for i in range(8):
        s = socket.create_connection((srv, 9100 + i % 4), timeout=3)
        s.sendall(os.urandom(random.randint(64, 4000)))
        s.recv(65536)
        s.close()
    for i in range(4):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(1)
        u.sendto(os.urandom(random.randint(32, 1200)), (srv, 9200 + i))
        try:
            u.recv(2048)
        except socket.timeout:
            pass
        u.close()
next_ping = time.time()
while time.time() < end:
    pid = os.fork()
    if pid == 0:
        try:
            client()
        except OSError:
            pass
        os._exit(0)
    kids.add(pid); forks += 1
    if time.time() >= next_ping:
        kids.add(subprocess.Popen(["ping", "-q", "-c", "2", "-i", "0.2", srv],
                                  stdout=subprocess.DEVNULL).pid)
        pings += 1; next_ping += 2
    for k in list(kids):
        if os.waitpid(k, os.WNOHANG)[0]:
            kids.discard(k)
    time.sleep(1 / rate)
for k in kids:
    os.waitpid(k, 0)
print(forks, pings, flush=True)
EOF

ip netns exec "$b" python3 "$tmp/server.py" >"$tmp/server.out" &
pids+=("$!")
for _ in $(seq 50); do grep -q ready "$tmp/server.out" && break; sleep 0.1; done

NETKIT_TOP_STATS=1 "$NETKIT" top --json --netns "$a" --interval 1 >"$tmp/top.jsonl" 2>"$tmp/top.err" &
top=$!
pids+=("$top")
for _ in $(seq 50); do [ -s "$tmp/top.jsonl" ] && break; sleep 0.1; done
[ -s "$tmp/top.jsonl" ] || { echo "netkit top did not start: $(cat "$tmp/top.err")"; exit 1; }

secs=$((MINUTES * 60))
ip netns exec "$a" python3 "$tmp/load.py" "$secs" "$RATE" >"$tmp/load.out" &
load=$!
pids+=("$load")

clk=$(getconf CLK_TCK)
echo "binary: $NETKIT; $MINUTES min, ~$RATE short-lived processes/s (8 TCP + 4 UDP flows each), ping every 2 s"
printf '%6s %9s %9s %9s %9s %8s  %s\n' t_s rss_MB hwm_MB cpu_s cpu_%_10s lines "netkit's tables" | tee "$tmp/table"
prev_cpu=0
start=$(date +%s)
while :; do
  sleep "$SAMPLE"
  t=$(( $(date +%s) - start ))
  kill -0 "$top" 2>/dev/null || { echo "netkit top exited: $(cat "$tmp/top.err")"; exit 1; }
  rss=$(awk '/^VmRSS/ {print $2}' /proc/"$top"/status)
  hwm=$(awk '/^VmHWM/ {print $2}' /proc/"$top"/status)
  # utime + stime are fields 14 and 15 of /proc/PID/stat (after the "(comm)" field).
  ticks=$(sed 's/.*) //' /proc/"$top"/stat | awk '{print $12 + $13}')
  lines=$(wc -l <"$tmp/top.jsonl")
  # NETKIT_TOP_STATS=1 makes netkit print its table sizes every interval.
  tables=$({ grep 'top: tables: ' "$tmp/top.err" || true; } | tail -1 | sed 's/top: tables: //')
  python3 -c "import sys; t,r,h,c,p,k,l,tb=sys.argv[1:]; c=int(c)/int(k); print(f'{int(t):6d} {int(r)/1024:9.1f} {int(h)/1024:9.1f} {c:9.2f} {(c-float(p))/$SAMPLE*100:9.1f} {int(l):8d}  {tb}')" \
    "$t" "$rss" "$hwm" "$ticks" "$prev_cpu" "$clk" "$lines" "$tables" | tee -a "$tmp/table"
  prev_cpu=$(python3 -c "print(int('$ticks')/int('$clk'))")
  kill -0 "$load" 2>/dev/null || break
done
wait "$load" || true
read -r forks pings <"$tmp/load.out" || true
sleep 2
kill -INT "$top" 2>/dev/null || true
for _ in $(seq 30); do kill -0 "$top" 2>/dev/null || break; sleep 0.1; done
kill "$top" 2>/dev/null || true

python3 - "$tmp/table" "$tmp/top.jsonl" "${forks:-0}" "${pings:-0}" "$MINUTES" <<'EOF'
import json, sys
table, jsonl, forks, pings, minutes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
rows = [l.split() for l in open(table) if l.strip()][1:]
rows = [(int(r[0]), float(r[1]), float(r[2]), float(r[3])) for r in rows]
def at(t):
    return min(rows, key=lambda r: abs(r[0] - t))
end = rows[-1]
one = at(60)
third = at(end[0] / 3)
good = bad = 0
flows, pids = set(), set()
att = una = 0
last_line_partial = False
lines = open(jsonl).read().split("\n")
for i, line in enumerate(lines):
    if not line:
        continue
    try:
        v = json.loads(line)
        assert {"ts", "interval_s", "processes", "unattributed"} <= v.keys()
    except Exception:
        # The last line may be cut by the kill at the end.
        if i >= len(lines) - 2:
            last_line_partial = True
            continue
        bad += 1
        continue
    good += 1
    una += v["unattributed"]["tx_bytes"] + v["unattributed"]["rx_bytes"]
    for p in v["processes"]:
        pids.add(p["pid"])
        for c in p["connections"]:
            flows.add((c["proto"], c["local"], c["remote"]))
            att += c["tx_bytes"] + c["rx_bytes"]
cpu_min = end[3] / (end[0] / 60)
steady = (end[3] - one[3]) / ((end[0] - one[0]) / 60) if end[0] > one[0] else cpu_min
print()
print(f"peak RSS (VmHWM)     {end[2]:.1f} MB")
print(f"RSS at {one[0]} s / {third[0]} s / end ({end[0]} s)   {one[1]:.1f} / {third[1]:.1f} / {end[1]:.1f} MB")
print(f"CPU                  {end[3]:.1f} CPU-s in {end[0]} s: {cpu_min:.2f} CPU-s per minute ({steady:.2f} after the first minute)")
print(f"load                 {forks} client processes, {pings} pings")
print(f"JSON                 {good} snapshots parsed, {bad} invalid{' (last line cut by the stop)' if last_line_partial else ''}")
print(f"flows seen           {len(flows)} distinct attributed flows, {len(pids)} distinct PIDs")
share = att / (att + una) if att + una else 0
print(f"attributed           {share*100:.1f}% of {att+una} wire bytes")
bounded = end[1] <= max(third[1] * 1.25, third[1] + 10)
print("memory               " + ("bounded" if bounded else "GROWING"))
sys.exit(0 if bounded and bad == 0 and good > 0 and len(pids) > 0 else 1)
EOF
