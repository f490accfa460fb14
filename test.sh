#!/usr/bin/env bash
# The whole test suite, as the README's Quick start runs it and as CI runs it.
#
# Some tests need programs that a fresh machine may lack (the libpcap runtime for
# BPF filters, iproute2 for namespace tests). As root, install the missing ones with
# apt-get; otherwise those tests skip and say why.
set -euo pipefail
cd "$(dirname "$0")"

need=()
ldconfig -p 2>/dev/null | grep -q 'libpcap\.so\.0\.8' || need+=(libpcap0.8)
command -v ip >/dev/null || need+=(iproute2)
# libFuzzer (the fuzz smoke below) is C++; GNU time gives tests/memory_bounds.rs the
# exact peak RSS (without it the test samples /proc, which can under-report).
command -v c++ >/dev/null || need+=(g++)
[ -x /usr/bin/time ] || need+=(time)
command -v nft >/dev/null || need+=(nftables)
# top's tests drive the TUI in tmux and make ICMP traffic with ping.
command -v tmux >/dev/null || need+=(tmux)
command -v ping >/dev/null || need+=(iputils-ping)
# watch's live test compares with a tcpdump capture, under iptables-made loss.
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v iptables >/dev/null || need+=(iptables)
# pcap compare's lab: a curl download through a router namespace, offloads off; the
# input-set tests compare --merge with mergecap.
command -v curl >/dev/null || need+=(curl)
command -v ethtool >/dev/null || need+=(ethtool)
command -v mergecap >/dev/null || need+=(wireshark-common)
# drops' lab (tests/drops_lab.rs): iperf3 transfers under iptables drops, MTU-sized
# segments (ethtool, above), and bpftool to see that kill -9 leaves no BPF program behind.
command -v iperf3 >/dev/null || need+=(iperf3)
command -v bpftool >/dev/null || need+=(bpftool)
# tests/bpf_objects.rs rebuilds bpf/*.bpf.o with bpf/build.sh and compares them with
# the committed ones (netkit itself builds without these).
command -v clang >/dev/null || need+=(clang)
command -v llvm-strip >/dev/null || need+=(llvm)
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
# The graphs' numbers are checked against tshark; the HTML report in a real browser.
command -v tshark >/dev/null || need+=(tshark)
command -v chromium >/dev/null || need+=(chromium)
# The tls section is checked against tshark's fields (installed above) (tests/tls_tshark.rs); the TLS
# fixtures are made with openssl (tests/lab/tls-fixtures.sh).
command -v openssl >/dev/null || need+=(openssl)
# A real container for top's container naming (tests/top_containers.rs): podman, an
# image made offline from static busybox, and runc (crun refuses hosts with both cgroup
# versions mounted).
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
[ -x /bin/busybox ] || need+=(busybox-static)
# The TLS lab (tests/lab_tls.rs): HAProxy terminating TLS, a websockets client over
# wss:// (Debian's python3-websockets, imported by /usr/bin/python3) and curl.
command -v haproxy >/dev/null || need+=(haproxy)
/usr/bin/python3 -c 'import websockets' 2>/dev/null || need+=(python3-websockets)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test.sh: installing ${need[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null ||
      echo "test.sh: could not install ${need[*]}; the tests that need them will skip"
  else
    echo "test.sh: ${need[*]} missing and not root: the tests that need them will skip"
  fi
fi

# --no-fail-fast: one failing test file must not hide the results of the others.
cargo test --workspace --all-targets --no-fail-fast
# The same top tests on top's other path, sock_diag, the fallback where BPF cannot
# load (the run above takes the BPF path, as `--attribution auto` does here).
NETKIT_TOP_ATTRIBUTION=sock-diag cargo test --no-fail-fast --test top_live \
  --test top_faults --test netns_churn --test privileges --test top_containers

# Fuzz smoke (issue 8): every cargo-fuzz target for a few seconds, seeded from the
# corpus; a crash fails the suite. NETKIT_FUZZ_SECONDS=0 skips it (default 3 s each).
fuzz_seconds=${NETKIT_FUZZ_SECONDS:-3}
if [ "$fuzz_seconds" != 0 ]; then
  if ! command -v cargo-fuzz >/dev/null; then
    echo "test.sh: installing cargo-fuzz (once, a few minutes)"
    cargo install cargo-fuzz --locked --quiet || true
  fi
  if command -v cargo-fuzz >/dev/null && command -v c++ >/dev/null; then
    fuzz/smoke.sh "$fuzz_seconds"
  elif [ -n "${CI:-}" ]; then
    echo "test.sh: cargo-fuzz or a C++ compiler is missing; CI must run the fuzz smoke" >&2
    exit 1
  else
    echo "test.sh: cargo-fuzz or a C++ compiler missing: fuzz smoke skipped"
  fi
fi
