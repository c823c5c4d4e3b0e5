#!/usr/bin/env bash
# Runs on the GPU machine (see tools/device-check.sh): info, the CUDA self-test against float64
# references, the quick zone and training-step benchmarks and a one-epoch joint training. Full output goes to $OUT; a short
# summary prints last. The step limits add up to 565 s, inside one device call; a healthy run takes far less.
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

step "nvidia-smi" 15 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
step "lzn info" 30 "$lzn" info
step "lzn selftest --device cuda" 100 "$lzn" selftest --device cuda --json "$OUT/selftest.json"
step "lzn bench zones --device cuda" 180 "$lzn" bench zones --device cuda --json "$OUT/bench-zones.json"
step "lzn bench train --device cuda" 120 "$lzn" bench train --device cuda --preset mlp-small --preset mlp --preset cnn --preset cnn-deep --json "$OUT/bench-train.json"
if [ -d publish/device/fashion-mnist ]; then
    step "lzn train (1 epoch, 10k images, cuda)" 150 "$lzn" train --task joint --device cuda --data publish/device/fashion-mnist \
        --train-limit 10000 --epochs 1 --out "$OUT/run"
fi

echo
echo "== summary (exit $status)"
grep -E "^backend|^selftest:|FAIL|exited with" "$log" || true
sed -n '/^zones benchmark/,/^== lzn train/p' "$log"
[ -f "$OUT/run/summary.json" ] && cat "$OUT/run/summary.json"
exit $status
