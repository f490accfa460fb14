#!/usr/bin/env bash
# Records two captures of HTTP/2 over clear text on loopback, each with one RFC 8441
# extended CONNECT answered 200 (/chat, one WebSocket message each way) and one
# answered 403 (/forbidden):
#   h2-extended-connect.pcap      prior knowledge (client preface first)
#   h2c-upgrade-extended-connect.pcap  HTTP/1.1 Upgrade: h2c answered 101 first
# Run as root:
#
#     sudo tests/lab/h2-websocket.sh [OUTDIR]
#
# Needs python3 with the `h2` package (pip install h2) and tcpdump.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(realpath -m "${1:-$here/../fixtures/lab}")
port=${NKLAB_H2_PORT:-18441}
mkdir -p "$out"

python3 -c 'import h2' 2>/dev/null || python3 -m pip install h2
python3 -c 'import h2; print("h2", h2.__version__)'

record() { # NAME [CLIENT-MODE]
    local pcap=$out/$1.pcap
    # Bounded: tcpdump stops after 30 s even if nothing below ends it.
    timeout 30 tcpdump -i lo -w "$pcap" --immediate-mode -Z root -U "tcp port $port" &
    local tcpdump_pid=$!
    sleep 1
    timeout 20 python3 "$here/h2_ws_server.py" "$port" &
    local server_pid=$!
    sleep 0.5
    timeout 20 python3 "$here/h2_ws_client.py" "$port" ${2:-}
    wait "$server_pid"
    sleep 1
    kill -INT "$tcpdump_pid" 2>/dev/null || true
    wait "$tcpdump_pid" || true
    echo "wrote $pcap"
}

record h2-extended-connect
record h2c-upgrade-extended-connect h2c
