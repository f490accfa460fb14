#!/usr/bin/env bash
# Sockets across many namespaces: `netkit ss --all-netns` against the shell loop people
# type today (`for ns in ...; do ip netns exec $ns ss -tanp; done`), on the same
# namespaces in the same run, for each namespace shape in SHAPES (default both shapes
# of issue 21: 100 namespaces x 2 sockets, where the fixed cost per namespace
# dominates, and 50 namespaces x 99 sockets). A shape is COUNT:LISTENERS:CONNS: COUNT
# namespaces, each holding LISTENERS listening sockets and CONNS client connections
# with their accepted ends (LISTENERS + 2*CONNS sockets). Times both (best of ROUNDS),
# checks that both saw the same sockets, prints the ratio, and removes everything it
# made, also on failure or Ctrl-C. Exit 1 when a shape is below MIN_RATIO (15).
#
#   sudo bench/ns-ss.sh            # NETKIT=path/to/netkit to pick the binary
#
# Needs root, iproute2, ss and python3. Traffic stays on each namespace's loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

SHAPES=${SHAPES:-"100:2:0 50:1:49"}
ROUNDS=${ROUNDS:-5}
MIN_RATIO=${MIN_RATIO:-15}
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
tmp=""
holders=()
made=()
cleanup() {
  for p in "${holders[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${holders[@]}"; do wait "$p" 2>/dev/null || true; done
  for ns in "${made[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  [ -z "$tmp" ] || rm -rf "$tmp"
  holders=()
  made=()
}
trap cleanup EXIT INT TERM

failed=0
for shape in $SHAPES; do
IFS=: read -r NS_COUNT LISTENERS CONNS <<<"$shape"
per=$((LISTENERS + 2 * CONNS))
cleanup
holders=()
made=()
tmp=$(mktemp -d)
echo
echo "== $NS_COUNT namespaces x $per TCP sockets"
for i in $(seq 1 "$NS_COUNT"); do
  ns="$prefix-$i"
  ip netns add "$ns"
  made+=("$ns")
  ip -n "$ns" link set lo up
  ip netns exec "$ns" timeout "$LIFETIME" python3 -c '
import socket, sys, time
listeners, n, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ls = []
for k in range(listeners):
    l = socket.socket(); l.bind(("127.0.0.1", 8080 + k)); l.listen(n + 8); ls.append(l)
clients = [socket.create_connection(("127.0.0.1", 8080)) for _ in range(n)]
accepted = [ls[0].accept()[0] for _ in range(n)]
open(ready, "w").close()
time.sleep(10**6)
' "$LISTENERS" "$CONNS" "$tmp/ready-$i" &
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
echo "sockets: netkit $ours, ss loop $theirs (expected $((NS_COUNT * per)))"
[ "$best_netkit" -gt 0 ] || best_netkit=1
[ "$ours" = "$theirs" ] || { echo "FAIL: the two saw different sockets"; exit 1; }
python3 - "$best_netkit" "$best_loop" "$MIN_RATIO" "$ROUNDS" "$NS_COUNT" "$per" <<'PY' || failed=1
import sys
nk, loop, want, rounds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
ratio = loop / nk
print(f"{sys.argv[5]} x {sys.argv[6]}: best of {rounds}: netkit {nk} ms, loop {loop} ms, "
      f"ratio {ratio:.1f}x")
if ratio < want:
    print(f"BELOW the {want:g}x target (a debug build is several times slower than release)")
    sys.exit(1)
print(f"OK: at least {want:g}x")
PY
done
exit "$failed"
