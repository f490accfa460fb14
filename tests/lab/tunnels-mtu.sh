#!/usr/bin/env bash
# Makes the tunnel and path-MTU captures in tests/fixtures/lab/ from real Linux
# networking, in throwaway network namespaces (traffic never leaves them):
#
#   vxlan-inner-flows.pcap     8 TCP flows inside a VXLAN tunnel (VNI 42), Linux's
#                              default source-port hashing: the underlay sees entropy
#   vxlan-one-source-port.pcap the same with `srcport 50000 50001`: every inner flow
#                              rides one outer 5-tuple (what ECMP cannot balance)
#   pmtud.pcap                 a 1300-byte MTU in the middle of the path: the router
#                              answers with ICMP fragmentation-needed, TCP adapts
#   pmtu-black-hole.pcap       the same with that ICMP dropped on the router: large
#                              segments are retransmitted and never get through
#
# Run as root from the repository root: tests/lab/tunnels-mtu.sh
# Needs iproute2, tcpdump, iptables and python3 (installed with apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=tests/fixtures/lab
mkdir -p "$out"
[ "$(id -u)" = 0 ] || { echo "tunnels-mtu.sh: needs root (namespaces)" >&2; exit 1; }
missing=()
for pair in ip:iproute2 tcpdump:tcpdump iptables:iptables python3:python3 ethtool:ethtool; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "tunnels-mtu.sh: installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

tag=nkl$$
nss=()
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    for n in "${nss[@]}"; do ip netns del "$n" 2>/dev/null || true; done
}
trap cleanup EXIT
mkns() { ip netns add "$1"; nss+=("$1"); ip -n "$1" link set lo up; }

lab=$(pwd)/tests/lab
# Segmentation offloads make a capture on the sender show 64 KB "segments" the wire
# never carries; a lab that studies MTUs must see real packets.
no_offload() { # ns dev...
    local ns=$1; shift
    for d in "$@"; do
        ip netns exec "$ns" ethtool -K "$d" tso off gso off gro off >/dev/null 2>&1 || true
    done
}
sink() { # ns port seconds
    ip netns exec "$1" python3 "$lab/tcp_sink.py" "$2" "$3" &
    pids+=($!)
}
send() { # ns ip flows bytes port timeout
    ip netns exec "$1" python3 "$lab/tcp_send.py" "$2" "$3" "$4" "$5" "$6" || true
}

# --immediate-mode: without it, packets still in libpcap's TPACKET_V3 block when tcpdump
# is stopped were lost here (3 of 31 written).
capture() { # ns dev file
    ip netns exec "$1" tcpdump -i "$2" -w "$3" -s 0 -Z root --immediate-mode 'not arp' >/dev/null 2>&1 &
    pids+=($!)
    sleep 1
}

stop_capture() { # pid
    sleep 0.5; kill -INT "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true
}

vxlan_case() { # name extra-vxlan-args...
    local name=$1; shift
    local a=${tag}a b=${tag}b
    mkns "$a"; mkns "$b"
    ip link add "$tag-u0" netns "$a" type veth peer name "$tag-u1" netns "$b"
    ip -n "$a" addr add 10.200.0.1/24 dev "$tag-u0"; ip -n "$a" link set "$tag-u0" up
    ip -n "$b" addr add 10.200.0.2/24 dev "$tag-u1"; ip -n "$b" link set "$tag-u1" up
    ip -n "$a" link add vx0 type vxlan id 42 dstport 4789 local 10.200.0.1 remote 10.200.0.2 "$@"
    ip -n "$b" link add vx0 type vxlan id 42 dstport 4789 local 10.200.0.2 remote 10.200.0.1 "$@"
    ip -n "$a" addr add 192.168.42.1/24 dev vx0; ip -n "$a" link set vx0 up
    ip -n "$b" addr add 192.168.42.2/24 dev vx0; ip -n "$b" link set vx0 up
    no_offload "$a" "$tag-u0" vx0; no_offload "$b" "$tag-u1" vx0
    sink "$b" 5001 8
    capture "$a" "$tag-u0" "$out/$name.pcap"; local cap=${pids[-1]}
    send "$a" 192.168.42.2 8 20000 5001 5
    stop_capture "$cap"
    cleanup; nss=(); pids=()
}

mtu_case() { # name black_hole(0|1)
    local name=$1 hole=$2
    local c=${tag}c r=${tag}r s=${tag}s
    mkns "$c"; mkns "$r"; mkns "$s"
    ip link add "$tag-c" netns "$c" type veth peer name "$tag-rc" netns "$r"
    ip link add "$tag-rs" netns "$r" type veth peer name "$tag-s" netns "$s"
    ip -n "$c" addr add 10.201.1.1/24 dev "$tag-c"; ip -n "$c" link set "$tag-c" up
    ip -n "$r" addr add 10.201.1.254/24 dev "$tag-rc"; ip -n "$r" link set "$tag-rc" up
    ip -n "$r" addr add 10.201.2.254/24 dev "$tag-rs"; ip -n "$r" link set "$tag-rs" up
    ip -n "$s" addr add 10.201.2.1/24 dev "$tag-s"; ip -n "$s" link set "$tag-s" up
    # The narrow link: the router's side only, so the server still announces MSS 1460.
    ip -n "$r" link set "$tag-rs" mtu 1300
    no_offload "$c" "$tag-c"; no_offload "$r" "$tag-rc" "$tag-rs"; no_offload "$s" "$tag-s"
    ip -n "$c" route add default via 10.201.1.254
    ip -n "$s" route add default via 10.201.2.254
    ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
    if [ "$hole" = 1 ]; then
        ip netns exec "$r" iptables -A OUTPUT -p icmp --icmp-type fragmentation-needed -j DROP
    fi
    sink "$s" 5002 10
    capture "$c" "$tag-c" "$out/$name.pcap"; local cap=${pids[-1]}
    send "$c" 10.201.2.1 1 200000 5002 6
    stop_capture "$cap"
    cleanup; nss=(); pids=()
}

vxlan_case vxlan-inner-flows
vxlan_case vxlan-one-source-port srcport 50000 50001
mtu_case pmtud 0
mtu_case pmtu-black-hole 1
{
    echo "made by tests/lab/tunnels-mtu.sh on $(date -u +%F)"
    echo "kernel $(uname -r)"
    ip -V
    tcpdump --version 2>&1 | head -2
    iptables --version
    python3 --version
} > "$out/VERSIONS-tunnels-mtu.txt"
ls -l "$out"/vxlan-*.pcap "$out"/pmtu*.pcap
