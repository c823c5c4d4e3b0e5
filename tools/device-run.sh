#!/usr/bin/env bash
# Runs on the GPU machine (see tools/device-check.sh): info, the CUDA self-test against float64
# references, and the quick zone benchmarks. Full output goes to $OUT; a short summary prints last.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
log="$OUT/device.log"
lzn=publish/device/lzn
chmod +x "$lzn"
status=0

step() {
    local name=$1 limit=$2
    shift 2
    echo "== $name" | tee -a "$log"
    timeout "$limit" "$@" 2>&1 | tee -a "$log"
    local code=${PIPESTATUS[0]}
    [ "$code" -eq 0 ] || { echo "== $name exited with $code" | tee -a "$log"; status=1; }
}

step "nvidia-smi" 30 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
step "lzn info" 60 "$lzn" info
step "lzn selftest --device cuda" 180 "$lzn" selftest --device cuda --json "$OUT/selftest.json"
step "lzn bench zones --device cuda" 240 "$lzn" bench zones --device cuda --json "$OUT/bench-zones.json"

echo
echo "== summary (exit $status)"
grep -E "^backend|^selftest:|FAIL|exited with" "$log" || true
sed -n '/^zones benchmark/,$p' "$log"
exit $status
