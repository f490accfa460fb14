#!/usr/bin/env bash
# Soak of `netkit watch`: MINUTES (default 10) of churning short connections between
# two namespaces, each client a process of its own, with a WebSocket upgrade on every
# third connection (accepted, rejected or ignored in turn) and plain HTTP on the rest.
# watch --json runs in the client namespace the whole time; its RSS is sampled every
# 10 s. At the end: RSS at start, end and peak, and whether every upgrade sent was
# judged (upgrade events == upgrades the clients sent).
#
#   sudo bench/watch-soak.sh            # NETKIT=path, MINUTES=10, RATE=10 (clients/s)
#
# Needs root, iproute2, python3. Removes what it made, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES=${MINUTES:-10}
RATE=${RATE:-10}
NETKIT=${NETKIT:-target/release/netkit}
[ "$(id -u)" = 0 ] || { echo "watch-soak.sh: needs root; skipped"; exit 0; }
[ -x "$NETKIT" ] || cargo build -q --release --bin netkit

a="nkws-a-$$"; b="nkws-b-$$"; va="nkwsa$$"; vb="nkwsb$$"
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
ip link add "$va" netns "$a" type veth peer name "$vb" netns "$b"
ip -n "$a" addr add 10.234.0.1/24 dev "$va"; ip -n "$b" addr add 10.234.0.2/24 dev "$vb"
for x in "$a $va" "$b $vb"; do
  set -- $x
  ip -n "$1" link set "$2" up; ip -n "$1" link set lo up
done

cat >"$tmp/server.py" <<'EOF'
import base64, hashlib, socket, threading
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
def serve(c):
    with c:
        c.settimeout(5)
        req = b""
        try:
            while b"\r\n\r\n" not in req:
                d = c.recv(4096)
                if not d:
                    return
                req += d
            path = req.split(b" ")[1]
            key = b""
            for h in req.split(b"\r\n"):
                if h.lower().startswith(b"sec-websocket-key:"):
                    key = h.split(b":", 1)[1].strip()
            if path == b"/ok":
                acc = base64.b64encode(hashlib.sha1(key + GUID).digest())
                c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + acc + b"\r\n\r\n")
                c.recv(100)
            elif path == b"/deny":
                c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            else:
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000)
        except OSError:
            pass
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(256)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
cat >"$tmp/client.py" <<'EOF'
import socket, sys
path = sys.argv[1]
s = socket.create_connection(("10.234.0.2", 8080), timeout=5)
up = b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" if path != "/plain" else b""
s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: soak\r\n" + up + b"\r\n")
try:
    while s.recv(65536):
        if path == "/ok":
            break
except OSError:
    pass
s.close()
EOF
ip netns exec "$b" python3 "$tmp/server.py" & pids+=($!)
sleep 0.5
"$NETKIT" watch --json --netns "$a" -i "$va" --summary-every 10 >"$tmp/watch.ndjson" 2>"$tmp/watch.err" &
watch=$!; pids+=($watch)
sleep 2
rss() { awk '/VmRSS/ {print $2}' /proc/"$watch"/status 2>/dev/null || echo 0; }
start_rss=$(rss); peak=$start_rss
echo "watch-soak: $MINUTES min, $RATE clients/s; watch RSS at start ${start_rss} kB"
end=$((SECONDS + MINUTES * 60))
sent=0; upgrades=0; clients=(); next_sample=$((SECONDS + 10))
paths=(/ok /plain /plain /deny /plain /plain /upgrade-ignored /plain /plain)
while [ $SECONDS -lt $end ]; do
  for _ in $(seq "$RATE"); do
    p=${paths[$((sent % ${#paths[@]}))]}
    ip netns exec "$a" python3 "$tmp/client.py" "$p" >/dev/null 2>&1 &
    clients+=($!)
    sent=$((sent + 1))
    [ "$p" != /plain ] && upgrades=$((upgrades + 1))
  done
  sleep 1
  wait_jobs=$(jobs -rp | wc -l)
  if [ $SECONDS -ge $next_sample ]; then
    r=$(rss); [ "$r" -gt "$peak" ] && peak=$r
    echo "watch-soak: $((SECONDS / 60)) min: RSS ${r} kB, ${sent} clients, ${wait_jobs} jobs"
    next_sample=$((SECONDS + 10))
  fi
done
# Every client to its end (each gives up after 5 s), so an upgrade counted as sent
# was on the wire before watch stops: on a loaded machine dozens still start late.
for p in "${clients[@]}"; do wait "$p" 2>/dev/null || true; done
sleep 3
end_rss=$(rss); [ "$end_rss" -gt "$peak" ] && peak=$end_rss
kill -INT "$watch"; wait "$watch" || true
python3 - "$tmp/watch.ndjson" "$upgrades" "$sent" "$start_rss" "$end_rss" "$peak" <<'EOF'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
ups = [e for e in events if e["event"] == "upgrade"]
verdicts = {}
for u in ups:
    verdicts[u["verdict"]] = verdicts.get(u["verdict"], 0) + 1
last = [e for e in events if e["event"] == "summary"][-1]
print(f"watch-soak: {sys.argv[3]} clients, {sys.argv[2]} upgrades sent, {len(ups)} judged {verdicts}")
print(f"watch-soak: RSS start {int(sys.argv[4])/1024:.1f} MB, end {int(sys.argv[5])/1024:.1f} MB, peak {int(sys.argv[6])/1024:.1f} MB")
print(f"watch-soak: {last['frames']} frames, {last['tcp']['streams']} TCP streams, dropped {last['dropped']}")
sys.exit(0 if len(ups) == int(sys.argv[2]) else 1)
EOF
