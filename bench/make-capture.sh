#!/usr/bin/env bash
# Makes the benchmark capture bench/out/iperf3-loss.pcap (about 0.7 GB): one iperf3
# TCP transfer of a fixed number of bytes between two network namespaces joined by a
# veth pair that loses 0.5% of the data segments (tc netem on the sender's side, or an
# nftables random-drop rule at the receiver on kernels built without netem), recorded
# by tcpdump on the sender's veth, so the file holds real loss, retransmissions and
# dup-ACKs.
# The rate is capped (iperf3 -b 500M) so tcpdump keeps up and itself drops nothing.
# All traffic stays inside the namespaces nkbench-a and nkbench-b, which are removed
# at exit, also on error.
#
#   sudo bench/make-capture.sh [BYTES]     (default 640M, iperf3 -n syntax)
# Needs: root, iproute2 (ip, tc), iperf3, tcpdump; nft (package nftables) when the
# kernel has no netem; ethtool if present (turns off segmentation offloads so frames
# are MTU-sized, as on a real link).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=$here/out
pcap=$out/iperf3-loss.pcap
bytes=${1:-640M}
a=nkbench-a
b=nkbench-b

if [ "$(id -u)" -ne 0 ]; then
    echo "make-capture.sh: needs root (network namespaces, tc, tcpdump)" >&2
    exit 1
fi
# The project's own files install what the bench needs (a new machine has none of it).
missing=()
for pair in ip:iproute2 tc:iproute2 iperf3:iperf3 tcpdump:tcpdump ethtool:ethtool nft:nftables; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "make-capture.sh: installing ${missing[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
for tool in ip tc iperf3 tcpdump; do
    if ! command -v "$tool" >/dev/null; then
        echo "make-capture.sh: $tool not found (apt-get install iproute2 iperf3 tcpdump)" >&2
        exit 1
    fi
done

pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    ip netns del "$a" 2>/dev/null || true
    ip netns del "$b" 2>/dev/null || true
}
trap cleanup EXIT
# A previous run killed hard may have left them behind.
ip netns del "$a" 2>/dev/null || true
ip netns del "$b" 2>/dev/null || true

ip netns add "$a"
ip netns add "$b"
ip link add nkb-a netns "$a" type veth peer name nkb-b netns "$b"
ip -n "$a" addr add 10.203.0.1/24 dev nkb-a
ip -n "$b" addr add 10.203.0.2/24 dev nkb-b
for ns in "$a" "$b"; do
    ip -n "$ns" link set lo up
done
ip -n "$a" link set nkb-a up
ip -n "$b" link set nkb-b up
if command -v ethtool >/dev/null; then
    ip netns exec "$a" ethtool -K nkb-a tso off gso off gro off tx off >/dev/null 2>&1 || true
    ip netns exec "$b" ethtool -K nkb-b tso off gso off gro off tx off >/dev/null 2>&1 || true
else
    echo "make-capture.sh: no ethtool: frames may be GSO super-packets" >&2
fi
if ! tc -n "$a" qdisc add dev nkb-a root netem loss 0.5% 2>/dev/null; then
    if ! command -v nft >/dev/null; then
        echo "make-capture.sh: kernel has no netem and nft is missing (apt-get install nftables)" >&2
        exit 1
    fi
    # Without netem, drop 5 in 1000 data segments as they arrive at the receiver. (A drop
    # in the sender's own output path would be reported back to TCP as a local error
    # and retried silently, not lost.) tcpdump on the sender still sees them once.
    ip netns exec "$b" nft -f - <<'NFT'
table inet nkbench {
    chain in {
        type filter hook prerouting priority -300; policy accept;
        ip daddr 10.203.0.2 tcp dport 5201 numgen random mod 1000 < 5 drop
    }
}
NFT
    echo "make-capture.sh: no netem in this kernel, dropping 0.5% with nftables" >&2
fi

mkdir -p "$out"
rm -f "$pcap"
# -Z root: Debian's tcpdump otherwise drops to user tcpdump and cannot write here.
ip netns exec "$a" tcpdump -i nkb-a -s 0 -B 262144 -Z root -w "$pcap" tcp 2>"$out/tcpdump.log" &
pids+=($!)
ip netns exec "$b" iperf3 -s -1 -B 10.203.0.2 >/dev/null &
pids+=($!)
sleep 2 # tcpdump and the server must be listening before the first packet
ip netns exec "$a" iperf3 -c 10.203.0.2 -n "$bytes" -b 500M >"$out/iperf3.log"
sleep 1
kill -INT "${pids[0]}"
wait "${pids[0]}" || true
pids=("${pids[@]:1}")
cat "$out/tcpdump.log" >&2
grep -E "sender|receiver" "$out/iperf3.log" >&2 || true
ls -l "$pcap"
