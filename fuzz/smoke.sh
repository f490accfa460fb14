#!/usr/bin/env bash
# Runs every target in fuzz/fuzz_targets for N seconds each (default 5); fails on the
# first crash. Usage: fuzz/smoke.sh [SECONDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-5}
failed=0
for src in "$here"/fuzz_targets/*.rs; do
    target=$(basename "$src" .rs)
    "$here/run.sh" "$target" "$seconds" || failed=1
done
exit $failed
