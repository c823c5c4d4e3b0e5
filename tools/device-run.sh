#!/usr/bin/env bash
# Runs on the GPU machine (see tools/device-check.sh), one part per call (at most 600 s each):
#   device-run.sh kernels   info, the verification tables (lzn selftest with the v1, gemm and gemm-3xtf32 zone kernels) and
#                           the zone benchmark with those three and gemm-dense (gemm without skipping zeros) side by side
#                           against the official and PyTorch figures (v2, measured the slowest at every shape on
#                           2026-12-04, gave its place to gemm-3xtf32);
#   device-run.sh train     the training-step benchmark and a one-epoch joint training;
#   device-run.sh rep       representation-task runs at large batches (LZN_REP_RUNS="batch:epochs ...").
# Full output goes to $OUT; a short summary prints last. The step limits add up to 525 s (kernels) and 270 s
# (train): both calls and two machine starts fit the 900 s of device time a session is lent.
set -uo pipefail
cd "$(dirname "$0")/.."
part=${1:-kernels}
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

# Encode medians of the official implementation and of the best PyTorch formulation on the same H200
# (shared/reference/device.md): forward and forward+backward, ms.
compare_with_reference() {
    python3 - "$OUT/bench-zones.json" <<'PY' | tee -a "$log"
import json, sys
reference = {  # (B, N, d): (official fwd, official fwd+bwd, PyTorch fwd, PyTorch fwd+bwd)
    (1024, 8192, 256): (665.65, 2381.81, 6.57, 18.17),
    (8192, 8192, 256): (None, None, 36.65, 121.92),
    (32768, 32768, 256): (None, None, 568.8, None),
}
rows = json.load(open(sys.argv[1]))["results"]
print(f"{'B x N x d':<18} {'kernels':<12} {'operation':<16} {'lzn ms':>9} {'vs official':>12} {'vs PyTorch':>11}")
for r in rows:
    key = (r["rows"], r["anchors"], r["dim"])
    if key not in reference or r["operation"] not in ("encode fwd", "encode fwd+bwd"):
        continue
    backward = r["operation"] == "encode fwd+bwd"
    official, torch = reference[key][1 if backward else 0], reference[key][3 if backward else 2]
    ratio = lambda ref: f"{ref / r['median_ms']:.2f}x" if ref else "-"
    print(f"{'x'.join(map(str, key)):<18} {r['kernels']:<12} {r['operation']:<16} {r['median_ms']:>9.2f} {ratio(official):>12} {ratio(torch):>11}")
PY
}

if [ "$part" = kernels ]; then
    step "nvidia-smi" 15 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    step "lzn info" 30 "$lzn" info
    step "lzn kernels --arch sm_90" 45 "$lzn" kernels --arch sm_90 --json "$OUT/kernels.json"
    step "lzn selftest --device cuda (zone kernels v1)" 75 env LZN_ZONE_KERNELS=v1 "$lzn" selftest --device cuda --json "$OUT/selftest.json"
    step "lzn selftest --device cuda (zone kernels gemm)" 60 env LZN_ZONE_KERNELS=gemm "$lzn" selftest --device cuda --json "$OUT/selftest-gemm.json"
    step "lzn selftest --device cuda (zone kernels gemm-3xtf32)" 60 env LZN_ZONE_KERNELS=gemm-3xtf32 "$lzn" selftest --device cuda \
        --json "$OUT/selftest-gemm-3xtf32.json"
    step "lzn bench zones --device cuda --kernels v1,gemm,gemm-dense,gemm-3xtf32" 240 "$lzn" bench zones --device cuda \
        --kernels v1,gemm,gemm-dense,gemm-3xtf32 \
        --json "$OUT/bench-zones.json"
    [ -f "$OUT/bench-zones.json" ] && compare_with_reference
    echo
    echo "== summary (exit $status)"
    grep -E "^backend|^selftest:|FAIL|exited with" "$log" || true
    sed -n '/^zones benchmark/,/^== /p' "$log"
elif [ "$part" = train ]; then
    for kernels in v1 gemm; do
        step "lzn bench train --device cuda (zone kernels $kernels)" 60 env LZN_ZONE_KERNELS=$kernels "$lzn" bench train --device cuda \
            --preset mlp-small --preset mlp --preset cnn --preset cnn-deep --json "$OUT/bench-train-$kernels.json"
    done
    if [ -d publish/device/fashion-mnist ]; then
        # Only 8 files come back from $OUT: the run writes elsewhere and its summary and samples are copied.
        step "lzn train (1 epoch, 10k images, cuda)" 150 "$lzn" train --task joint --device cuda --data publish/device/fashion-mnist \
            --train-limit 10000 --epochs 1 --out /tmp/lzn-run
        cp /tmp/lzn-run/summary.json "$OUT/run-summary.json" 2>/dev/null
        cp /tmp/lzn-run/samples.png "$OUT/run-samples.png" 2>/dev/null
    fi
    echo
    echo "== summary (exit $status)"
    grep -E "^backend|FAIL|exited with" "$log" || true
    [ -f "$OUT/run-summary.json" ] && cat "$OUT/run-summary.json"
elif [ "$part" = rep ]; then
    # The representation task at batches the CPU cannot afford (docs/training.md): each run's summary.json comes back
    # as rep-<batch>.json; the zone benchmark first re-measures the gemm path's largest shapes beside v1.
    step "lzn bench zones --device cuda --kernels v1,gemm (largest shapes)" 90 "$lzn" bench zones --device cuda --kernels v1,gemm \
        --size 8192,8192,256,20 --size 32768,32768,256,20,fwd --json "$OUT/bench-zones-large.json"
    for run in ${LZN_REP_RUNS:-1024:12 2048:12}; do
        batch=${run%%:*} epochs=${run##*:}
        step "lzn train --task representation --batch $batch --epochs $epochs" 150 "$lzn" train --task representation --device cuda \
            --data publish/device/fashion-mnist --batch "$batch" --epochs "$epochs" --lr-decay cosine --probe-features both \
            --log-every 20 --out "/tmp/rep-$batch"
        cp "/tmp/rep-$batch/summary.json" "$OUT/rep-$batch.json" 2>/dev/null
    done
    echo
    echo "== summary (exit $status)"
    grep -E "^backend|FAIL|exited with|probe|k-NN" "$log" || true
else
    echo "device-run.sh: unknown part '$part' (kernels, train or rep)" >&2
    exit 2
fi
exit $status
