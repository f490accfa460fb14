#!/usr/bin/env bash
# Rebuilds the committed BPF objects (bpf/*.bpf.o) from their sources, and records
# the compiler that made them in bpf/TOOLCHAIN. The objects are committed so that
# netkit builds without clang; tests/bpf_objects.rs rebuilds them with this script
# (into a scratch directory) and checks they match when the same clang is present.
#
#   bpf/build.sh [OUTDIR]      (default: bpf/)
#
# Needs: clang, libbpf-dev (bpf_helpers.h & co), linux-libc-dev (linux/bpf.h).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here}"
mkdir -p "$out"
arch_inc="/usr/include/$(uname -m)-linux-gnu"
for src in "$here"/*.bpf.c; do
  obj="$out/$(basename "${src%.c}").o"
  # -g: BTF (CO-RE needs it); -O2: the verifier needs optimised code.
  # -fdebug-prefix-map and building from $here: no machine-specific path inside the
  # object, so a rebuild elsewhere is byte-identical.
  (cd "$here" && clang -g -O2 -target bpf -D__TARGET_ARCH_x86 \
    -fdebug-prefix-map="$here"=bpf -I"$arch_inc" -I. \
    -Wall -Werror -c "$(basename "$src")" -o "$obj")
  # The DWARF sections are not needed at load time (BTF is in .BTF/.BTF.ext).
  llvm-strip -g "$obj"
done
if [ "$out" = "$here" ]; then
  {
    clang --version | head -n1
    echo "libbpf-dev $(dpkg-query -W -f='${Version}' libbpf-dev 2>/dev/null || echo unknown)"
  } > "$here/TOOLCHAIN"
fi
