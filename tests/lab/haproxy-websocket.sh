#!/usr/bin/env bash
# Builds the WebSocket-through-HAProxy lab and records one capture per case into
# tests/fixtures/lab/<case>.pcap. Run as root from anywhere:
#
#     sudo tests/lab/haproxy-websocket.sh [OUTDIR]
#
# NKLAB_WATCH=path/to/netkit also runs `netkit watch --json` on the same interface with
# the same filter during each recording and keeps its events in OUTDIR/<case>.watch.ndjson
# (tests/watch_haproxy.rs compares them with pcap analyze of the capture).
#
# Topology (three network namespaces, private addresses that exist only inside them):
#
#   client ns            proxy ns                         server ns
#   cli0 10.99.1.2 ---- px0 10.99.1.1  HAProxy  px1 10.99.2.1 ---- srv0 10.99.2.2
#   ws_client.py        (random 3% drop inbound on px0)         ws_server.py :9000 / :9001
#   tcpdump -i cli0
#
# The random drop on the proxy's client-facing inbound side makes the client's
# Linux stack really retransmit; tcpdump sees both the lost segment and its
# retransmission because it captures on the client's side of the link.
# See tests/lab/README.md for what each case shows.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(realpath -m "${1:-$here/../fixtures/lab}")
drop_probability=${NKLAB_DROP:-0.03}
# A capture must show at least this many retransmissions; a case is re-recorded
# (at most max_attempts times) when the random drops happened to miss.
min_retrans=${NKLAB_MIN_RETRANS:-5}
max_attempts=6

if [[ $(id -u) -ne 0 ]]; then
    echo "haproxy-websocket.sh: must run as root (namespaces, iptables, tcpdump)" >&2
    exit 1
fi

# ---------------------------------------------------------------- packages
need=()
command -v haproxy >/dev/null || need+=(haproxy)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v python3 >/dev/null || need+=(python3)
command -v ip >/dev/null || need+=(iproute2)
command -v ethtool >/dev/null || need+=(ethtool)
if ! command -v iptables >/dev/null && ! command -v nft >/dev/null; then
    need+=(iptables)
fi
if ((${#need[@]})); then
    echo "lab: installing with apt-get: ${need[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
else
    echo "lab: haproxy, tcpdump, python3, iproute2, ethtool and iptables/nft already installed"
fi

# ---------------------------------------------------------------- cleanup
tag=$$
ns_cli=nklab-cli-$tag
ns_px=nklab-px-$tag
ns_srv=nklab-srv-$tag
work=$(mktemp -d /tmp/nklab.XXXXXX)
pids=()

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # Only the processes this script started, by pid.
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    for ns in "$ns_cli" "$ns_px" "$ns_srv"; do
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Background processes are started with a plain `ip netns exec` (which execs the
# command) rather than through this function, so $! is the process itself and
# the cleanup can end it by pid.
in_ns() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

# ---------------------------------------------------------------- network
ip netns add "$ns_cli"
ip netns add "$ns_px"
ip netns add "$ns_srv"
ip link add cli0 netns "$ns_cli" type veth peer name px0 netns "$ns_px"
ip link add px1 netns "$ns_px" type veth peer name srv0 netns "$ns_srv"

in_ns "$ns_cli" ip addr add 10.99.1.2/24 dev cli0
in_ns "$ns_px" ip addr add 10.99.1.1/24 dev px0
in_ns "$ns_px" ip addr add 10.99.2.1/24 dev px1
in_ns "$ns_srv" ip addr add 10.99.2.2/24 dev srv0
for pair in "$ns_cli cli0" "$ns_px px0" "$ns_px px1" "$ns_srv srv0"; do
    read -r ns dev <<<"$pair"
    in_ns "$ns" ip link set lo up
    in_ns "$ns" ip link set "$dev" up
    # veth offloads would hand tcpdump 64 KB super-segments; a real NIC capture
    # on the wire shows MTU-sized segments, so segment in software before capture.
    in_ns "$ns" ethtool -K "$dev" tso off gso off gro off >/dev/null 2>&1 ||
        echo "lab: warning: could not turn offloads off on $dev" >&2
done

# Random loss on the proxy's inbound side, facing the client.
if command -v iptables >/dev/null &&
    in_ns "$ns_px" iptables -A INPUT -i px0 -m statistic --mode random \
        --probability "$drop_probability" -j DROP 2>"$work/iptables.err"; then
    loss_rule="iptables -A INPUT -i px0 -m statistic --mode random --probability $drop_probability -j DROP"
else
    echo "lab: iptables statistic unavailable ($(cat "$work/iptables.err" 2>/dev/null)); using nft numgen" >&2
    percent=$(python3 -c "print(round($drop_probability * 100))")
    in_ns "$ns_px" nft add table inet nklab
    in_ns "$ns_px" nft add chain inet nklab input '{ type filter hook input priority 0; }'
    in_ns "$ns_px" nft add rule inet nklab input iifname px0 numgen random mod 100 "<" "$percent" drop
    loss_rule="nft: iifname px0 numgen random mod 100 < $percent drop"
fi
echo "lab: loss rule in $ns_px: $loss_rule"

# ---------------------------------------------------------------- servers
ip netns exec "$ns_srv" python3 "$here/ws_server.py" --port 9000 >"$work/srv-good.log" 2>&1 &
pids+=($!)
ip netns exec "$ns_srv" python3 "$here/ws_server.py" --port 9001 --bad-accept >"$work/srv-bad.log" 2>&1 &
pids+=($!)

cat >"$work/haproxy.cfg" <<'EOF'
global
    maxconn 512

defaults
    mode http
    option http-keep-alive
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    timeout http-request 5s
    timeout tunnel 30s

backend ws_echo
    server echo 10.99.2.2:9000

backend ws_bad_accept
    server broken 10.99.2.2:9001

# One frontend per case; plain requests always reach the echo backend, only
# the WebSocket upgrade on /socket meets the case's rule.
frontend upgrade-rejected-403
    bind 10.99.1.1:8001
    acl is_socket path /socket
    http-request deny deny_status 403 if is_socket
    default_backend ws_echo

frontend upgrade-silently-dropped
    bind 10.99.1.1:8002
    acl is_socket path /socket
    http-request silent-drop if is_socket
    default_backend ws_echo

frontend upgrade-accepted
    bind 10.99.1.1:8003
    default_backend ws_echo

frontend upgrade-ignored-200
    bind 10.99.1.1:8004
    acl is_socket path /socket
    http-request return status 200 content-type "text/html" string "<html><body>Welcome to the lab portal</body></html>" if is_socket
    default_backend ws_echo

frontend bad-accept
    bind 10.99.1.1:8005
    acl is_socket path /socket
    use_backend ws_bad_accept if is_socket
    default_backend ws_echo

# Same rule as upgrade-rejected-403; the lab drops the first copy of the
# upgrade request on its way in (see lose_first_upgrade_request), so the
# capture holds the request, its retransmission, then the 403.
frontend upgrade-rejected-403-retransmitted
    bind 10.99.1.1:8006
    acl is_socket path /socket
    http-request deny deny_status 403 if is_socket
    default_backend ws_echo

# A healthy frontend; a firewall rule in front of it (drop_every_upgrade_request)
# discards every segment carrying the upgrade request, so HAProxy never sees it.
frontend upgrade-dropped-by-firewall
    bind 10.99.1.1:8007
    # HAProxy answers a connection whose request never came with 408 once
    # http-request times out (5 s above). The client gives up after 3 s and the
    # captures stop about a second later, so with 5 s the 408 raced the end of the
    # recording: in one capture or not, in watch's or not (a flaky verdict). 30 s
    # keeps it out of every recording: the upgrade is unanswered, as the case says.
    timeout http-request 30s
    default_backend ws_echo
EOF
haproxy -c -f "$work/haproxy.cfg" >/dev/null
ip netns exec "$ns_px" haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
pids+=($!)

# Wait (bounded) until HAProxy and both backends accept connections.
ready=0
for _ in $(seq 50); do
    if in_ns "$ns_cli" python3 -c "import socket; socket.create_connection(('10.99.1.1', 8003), 1).close()" 2>/dev/null &&
        in_ns "$ns_px" python3 -c "import socket; [socket.create_connection(('10.99.2.2', p), 1).close() for p in (9000, 9001)]" 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.2
done
if ((!ready)); then
    echo "lab: HAProxy or the WebSocket server did not come up" >&2
    cat "$work"/*.log >&2
    exit 1
fi

# ---------------------------------------------------------------- versions
mkdir -p "$out"
{
    echo "made by tests/lab/haproxy-websocket.sh (captures: the upgrade-*.pcap and bad-accept.pcap here)"
    echo "recorded: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "kernel: $(uname -srm)"
    # shellcheck source=/dev/null
    echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "haproxy: $(haproxy -v | head -1)"
    echo "python3: $(python3 --version 2>&1)"
    echo "tcpdump: $(tcpdump --version 2>&1 | head -1)"
    echo "libpcap: $(tcpdump --version 2>&1 | sed -n 2p)"
    if command -v iptables >/dev/null; then echo "iptables: $(iptables --version)"; fi
    if command -v nft >/dev/null; then echo "nft: $(nft --version)"; fi
    if command -v tshark >/dev/null; then echo "tshark (counts only): $(tshark --version 2>/dev/null | head -1)"; fi
    echo "loss rule (proxy namespace): $loss_rule"
} >"$out/VERSIONS.txt"

# ---------------------------------------------------------------- cases
count_retrans() {
    if command -v tshark >/dev/null; then
        tshark -r "$1" -Y tcp.analysis.retransmission 2>/dev/null | wc -l
    else
        echo "$min_retrans" # cannot check; accept the first recording
    fi
}

# Drops the 1st, 3rd, ... segment carrying "GET /socket" to port 8006, so the
# upgrade request itself is lost once and the client's retransmission goes
# through. Re-inserted before each attempt to restart the rule's counter.
lose_first_upgrade_request() {
    in_ns "$ns_px" iptables -D INPUT -p tcp --dport 8006 -m string --algo bm \
        --string "GET /socket" -m statistic --mode nth --every 2 --packet 0 -j DROP 2>/dev/null || true
    in_ns "$ns_px" iptables -I INPUT -p tcp --dport 8006 -m string --algo bm \
        --string "GET /socket" -m statistic --mode nth --every 2 --packet 0 -j DROP
}

# run_case NAME PORT EXPECT [client options]: records NAME.pcap; EXPECT is a
# pattern the client's log must contain, so a recording in which the random
# loss changed the outcome (say, the upgrade never got through) is made again.
# Drops every segment carrying "GET /socket" to port 8007, as a firewall or IPS
# would: the client retransmits its request with exponential backoff and never
# gets an answer (not even an ACK for it).
drop_every_upgrade_request() {
    in_ns "$ns_px" iptables -D INPUT -p tcp --dport 8007 -m string --algo bm \
        --string "GET /socket" -j DROP 2>/dev/null || true
    in_ns "$ns_px" iptables -I INPUT -p tcp --dport 8007 -m string --algo bm \
        --string "GET /socket" -j DROP
}

run_case() {
    local name=$1 port=$2 expect=$3
    shift 3
    local pcap=$out/$name.pcap attempt retrans=0
    for attempt in $(seq "$max_attempts"); do
        rm -f "$pcap"
        case $name in
        *-retransmitted) lose_first_upgrade_request ;;
        *-by-firewall) drop_every_upgrade_request ;;
        esac
        ip netns exec "$ns_cli" tcpdump -i cli0 -s 0 --immediate-mode -U -Z root -w "$pcap" "tcp port $port" \
            2>"$work/tcpdump.err" &
        local tcpdump_pid=$!
        pids+=("$tcpdump_pid")
        for _ in $(seq 50); do
            grep -q "listening on" "$work/tcpdump.err" && break
            sleep 0.1
        done
        local watch_pid=
        if [[ -n ${NKLAB_WATCH:-} ]]; then
            "$NKLAB_WATCH" watch --json --netns "$ns_cli" -i cli0 -f "tcp port $port" \
                --summary-every 1 >"$out/$name.watch.ndjson" 2>"$work/watch.err" &
            watch_pid=$!
            pids+=("$watch_pid")
            # Its capture is open once it has printed its first summary.
            for _ in $(seq 50); do
                [[ -s $out/$name.watch.ndjson ]] && break
                sleep 0.1
            done
        fi
        in_ns "$ns_cli" timeout 40 python3 "$here/ws_client.py" --host 10.99.1.1 --port "$port" "$@" \
            >"$work/client-$name.log" 2>&1 || true
        # Let the last FIN/ACK or RST reach the capture before stopping it; with
        # --immediate-mode nothing waits in libpcap's ring when tcpdump stops.
        sleep 1
        if [[ -n $watch_pid ]]; then
            # SIGINT: watch prints the upgrades never answered and its last summary.
            kill -INT "$watch_pid"
            wait "$watch_pid" 2>/dev/null || echo "lab: $name: watch failed: $(cat "$work/watch.err")" >&2
        fi
        kill -TERM "$tcpdump_pid"
        wait "$tcpdump_pid" 2>/dev/null || true
        # Forget the reaped pids so the cleanup never signals a recycled one.
        unset 'pids[-1]'
        [[ -z $watch_pid ]] || unset 'pids[-1]'
        # tcpdump's own summary: "N packets captured ... 0 packets dropped by kernel".
        grep -E "captured|dropped" "$work/tcpdump.err" | sed "s/^/lab:   tcpdump: /" || true
        retrans=$(count_retrans "$pcap")
        echo "lab: $name attempt $attempt: $(stat -c %s "$pcap") bytes, $retrans retransmissions"
        sed 's/^/lab:   /' "$work/client-$name.log" | grep -v background || true
        if ! grep -q "$expect" "$work/client-$name.log"; then
            echo "lab: $name: client log lacks '$expect', recording again"
            continue
        fi
        ((retrans >= min_retrans)) && return 0
    done
    echo "lab: $name: no recording with the expected outcome and $min_retrans retransmissions in $max_attempts attempts" >&2
    exit 1
}

run_case upgrade-rejected-403 8001 "upgrade answer: HTTP/1.1 403"
run_case upgrade-silently-dropped 8002 "no answer in" --answer-timeout 4
run_case upgrade-accepted 8003 "close answered: opcode 8 code 03e8"
run_case upgrade-ignored-200 8004 "upgrade answer: HTTP/1.1 200"
run_case bad-accept 8005 "failing the connection"
if command -v iptables >/dev/null && [[ $loss_rule == iptables* ]]; then
    run_case upgrade-rejected-403-retransmitted 8006 "upgrade answer: HTTP/1.1 403"
    run_case upgrade-dropped-by-firewall 8007 "no answer in" --answer-timeout 3
else
    echo "lab: skipping the cases that need iptables string match" >&2
fi

echo "lab: captures in $out:"
ls -l "$out"
