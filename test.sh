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
command -v nft >/dev/null || need+=(nftables)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test.sh: installing ${need[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null ||
      echo "test.sh: could not install ${need[*]}; the tests that need them will skip"
  else
    echo "test.sh: ${need[*]} missing and not root: the tests that need them will skip"
  fi
fi

cargo test --workspace --all-targets
