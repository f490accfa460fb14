#!/usr/bin/env bash
# The long local campaign: every target for RUNS inputs (default 1,000,000), one after
# the other, with a summary line per target. Not for CI (fuzz/smoke.sh is).
#   fuzz/campaign.sh [RUNS]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
runs=${1:-1000000}
failed=0
for src in "$here"/fuzz_targets/*.rs; do
    target=$(basename "$src" .rs)
    RUNS=$runs "$here/run.sh" "$target" || failed=1
done
exit $failed
