#!/usr/bin/env bash
# Runs every target in fuzz/fuzz_targets for N seconds each (default 5); fails on the
# first crash. Usage: fuzz/smoke.sh [SECONDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-5}
passed=0
failed=0
for src in "$here"/fuzz_targets/*.rs; do
    target=$(basename "$src" .rs)
    if "$here/run.sh" "$target" "$seconds"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
done
# One summary line in the plain "N passed, N failed" form test runners end with.
echo "fuzz: $passed passed, $failed failed"
[ "$failed" = 0 ]
