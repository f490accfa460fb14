#!/usr/bin/env bash
# Fuzz one target for a while and print how many inputs it ran.
#   fuzz/run.sh TARGET [SECONDS]        (default 60 s)
# Seeds fuzz/corpus/TARGET (git-ignored) on first use: the reader targets get the
# capture files of the shared corpus and tests/fixtures whose magic matches, any
# target gets the files in fuzz/seeds/TARGET/ if that folder exists.
# Crashes land in fuzz/artifacts/TARGET/ and make this script exit non-zero.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
target=${1:?usage: fuzz/run.sh TARGET [SECONDS]}
seconds=${2:-60}
pcaps=${NETKIT_PCAPS:-$root/../shared/pcaps}
corpus=$here/corpus/$target
max_len=65536

if [ ! -f "$here/fuzz_targets/$target.rs" ]; then
    echo "fuzz/run.sh: no target $target (fuzz/fuzz_targets/$target.rs)" >&2
    exit 2
fi
if ! grep -q "name = \"$target\"" "$here/Cargo.toml"; then
    echo "fuzz/run.sh: $target has no [[bin]] entry in fuzz/Cargo.toml (cargo fuzz add $target)" >&2
    exit 2
fi

# Copies the capture files under $1 whose first four bytes are $2 (hex) into the corpus.
seed_captures() {
    [ -d "$1" ] || return 0
    find "$1" -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \) -size -${max_len}c |
        while read -r f; do
            if [ "$(od -An -tx1 -N4 "$f" | tr -d ' \n')" = "$2" ] ||
                [ "$(od -An -tx1 -N4 "$f" | tr -d ' \n')" = "$3" ]; then
                cp "$f" "$corpus/$(echo "$f" | tr '/' '_')"
            fi
        done
}

mkdir -p "$corpus"
# Decoder targets start from real PDUs cut out of the captures (git-ignored, so a fresh
# clone makes them on first use; again when a target the script seeds has none yet).
if command -v python3 >/dev/null && { [ ! -d "$here/seeds" ] ||
    { [ ! -d "$here/seeds/$target" ] && grep -q "\"$target\"" "$here/make-seeds.py"; }; }; then
    python3 "$here/make-seeds.py" >/dev/null || true
fi
if [ -z "$(ls -A "$corpus")" ]; then
    case $target in
    pcap_reader)
        # Little- and big-endian magic; nanosecond files share the rest of the format.
        seed_captures "$pcaps" d4c3b2a1 a1b2c3d4
        seed_captures "$pcaps" 4d3cb2a1 a1b23c4d
        seed_captures "$root/tests/fixtures" d4c3b2a1 a1b2c3d4
        ;;
    pcapng_reader)
        seed_captures "$pcaps" 0a0d0d0a 0a0d0d0a
        seed_captures "$root/tests/fixtures" 0a0d0d0a 0a0d0d0a
        ;;
    compressed_reader)
        # The small fixtures compressed by whichever of the three tools is installed.
        find "$root/tests/fixtures" -type f \( -name '*.pcap' -o -name '*.pcapng' \) -size -20k |
            while read -r f; do
                name=$(echo "$f" | tr '/' '_')
                for tool in gzip zstd lz4; do
                    if command -v "$tool" >/dev/null; then
                        "$tool" -c -q "$f" >"$corpus/$name.$tool" 2>/dev/null || true
                    fi
                done
            done
        ;;
    esac
    if [ -d "$here/seeds/$target" ]; then
        cp "$here/seeds/$target"/* "$corpus"/ 2>/dev/null || true
    fi
fi

# The toolchain is stable: RUSTC_BOOTSTRAP=1 lets it accept the -Zsanitizer flag that
# cargo-fuzz passes. -a keeps debug assertions (integer overflow panics) on, since the
# readers and decoders promise never to panic.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# RUNS=N runs exactly N inputs instead of for SECONDS (fuzz/campaign.sh uses it).
if [ -n "${RUNS:-}" ]; then
    limit=(-runs="$RUNS")
else
    limit=(-max_total_time="$seconds")
fi
start=$(date +%s)
RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir "$here" -a "$target" "$corpus" -- \
    "${limit[@]}" -max_len="$max_len" -print_final_stats=1 \
    -rss_limit_mb=2048 >"$log" 2>&1 || status=$?
seconds=$(($(date +%s) - start))
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
if [ "$status" -ne 0 ]; then
    grep -v '^#' "$log" | tail -40 >&2
    echo "$target: FAILED after ${runs:-?} executions (see fuzz/artifacts/$target/)" >&2
    exit 1
fi
echo "$target: ${runs:-?} executions in ${seconds} s, corpus $(ls "$corpus" | wc -l) inputs"
