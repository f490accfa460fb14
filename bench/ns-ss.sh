#!/usr/bin/env bash
# Sockets across many namespaces: `netkit ss --all-netns` against the shell loop people
# type today (`for ns in ...; do ip netns exec $ns ss -tanp; done`), on the same
# namespaces in the same run. Builds NS_COUNT namespaces (default 50) holding about 100
# TCP sockets each (a listener, CONNS client connections and their accepted ends), times
# both, prints the ratio, and removes everything it made, also on failure or Ctrl-C.
#
#   sudo bench/ns-ss.sh            # NETKIT=path/to/netkit to pick the binary
#
# Needs root, iproute2, ss and python3. Traffic stays on each namespace's loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

NS_COUNT=${NS_COUNT:-50}
CONNS=${CONNS:-49}
ROUNDS=${ROUNDS:-3}
LIFETIME=${LIFETIME:-600} # seconds the socket holders live at most

if [ "$(id -u)" != 0 ]; then
  echo "ns-ss.sh: needs root (network namespaces); skipped"
  exit 0
fi
for tool in ip ss python3; do
  command -v "$tool" >/dev/null || { echo "ns-ss.sh: $tool missing; skipped"; exit 0; }
done

if [ -z "${NETKIT:-}" ]; then
  if [ -x target/release/netkit ]; then NETKIT=target/release/netkit
  else cargo build -q --bin netkit && NETKIT=target/debug/netkit; fi
fi
echo "binary: $NETKIT"

prefix="nkb$$"
tmp=$(mktemp -d)
holders=()
made=()
cleanup() {
  for p in "${holders[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${holders[@]}"; do wait "$p" 2>/dev/null || true; done
  for ns in "${made[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

echo "building $NS_COUNT namespaces with $((2 * CONNS + 1)) TCP sockets each..."
for i in $(seq 1 "$NS_COUNT"); do
  ns="$prefix-$i"
  ip netns add "$ns"
  made+=("$ns")
  ip -n "$ns" link set lo up
  ip netns exec "$ns" timeout "$LIFETIME" python3 -c '
import socket, sys, time
n, ready = int(sys.argv[1]), sys.argv[2]
l = socket.socket(); l.bind(("127.0.0.1", 8080)); l.listen(n + 8)
clients = [socket.create_connection(("127.0.0.1", 8080)) for _ in range(n)]
accepted = [l.accept()[0] for _ in range(n)]
open(ready, "w").close()
time.sleep(10**6)
' "$CONNS" "$tmp/ready-$i" &
  holders+=("$!")
done
for i in $(seq 1 "$NS_COUNT"); do
  for _ in $(seq 1 200); do [ -e "$tmp/ready-$i" ] && break; sleep 0.05; done
  [ -e "$tmp/ready-$i" ] || { echo "namespace $i never got ready"; exit 1; }
done

now() { date +%s%N; }
best_netkit=""
best_loop=""
for r in $(seq 1 "$ROUNDS"); do
  t0=$(now)
  "$NETKIT" ss --all-netns -t -a >"$tmp/netkit.txt"
  t1=$(now)
  for ns in "${made[@]}"; do ip netns exec "$ns" ss -tanp; done >"$tmp/loop.txt"
  t2=$(now)
  nk=$(( (t1 - t0) / 1000000 )); lp=$(( (t2 - t1) / 1000000 ))
  echo "round $r: netkit ss --all-netns ${nk} ms, shell loop ${lp} ms"
  if [ -z "$best_netkit" ] || [ "$nk" -lt "$best_netkit" ]; then best_netkit=$nk; fi
  if [ -z "$best_loop" ] || [ "$lp" -lt "$best_loop" ]; then best_loop=$lp; fi
done

# Both must have seen the same sockets in our namespaces.
ours=$("$NETKIT" ss --all-netns -t -a --json | python3 -c '
import json, sys
rows = json.load(sys.stdin)
print(sum(1 for r in rows if r["netns"].startswith(sys.argv[1] + "-")))' "$prefix")
theirs=$(grep -cv '^State' "$tmp/loop.txt" || true)
echo "sockets: netkit $ours, ss loop $theirs (expected $((NS_COUNT * (2 * CONNS + 1))))"
[ "$best_netkit" -gt 0 ] || best_netkit=1
[ "$ours" = "$theirs" ] || { echo "FAIL: the two saw different sockets"; exit 1; }
python3 - "$best_netkit" "$best_loop" "${MIN_RATIO:-10}" "$ROUNDS" <<'PY'
import sys
nk, loop, want, rounds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
ratio = loop / nk
print(f"best of {rounds}: netkit {nk} ms, loop {loop} ms, ratio {ratio:.1f}x")
if ratio < want:
    print(f"BELOW the {want:g}x target (a debug build is several times slower than release)")
    sys.exit(1)
print(f"OK: at least {want:g}x")
PY
