#!/usr/bin/env bash
# Times whole joint training steps in one process and in R ranks under mpirun on this machine (docs/distributed.md),
# the same global batch in both, one OpenBLAS thread per process: `lzn bench train` prints the median step and, under
# mpirun, the time rank 0 spends in collectives (communication plus waiting for the slowest rank).
# Usage: tools/bench-ranks.sh [ranks (default 2)] [lzn bench train options, e.g. --preset mlp-small --batch 128 --steps 10]
set -euo pipefail
cd "$(dirname "$0")/.."
ranks=${1:-2}
shift || true
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--preset mlp-small --batch 128 --steps 10)
dotnet build -c Release src/LZN.Cli >/dev/null
lzn=src/LZN.Cli/bin/Release/net10.0/lzn.dll
export OPENBLAS_NUM_THREADS=1
echo "== 1 process"
dotnet exec "$lzn" bench train --device cpu "${args[@]}" 2>/dev/null | grep -v '^    '
echo "== $ranks ranks (mpirun)"
mpirun -n "$ranks" --allow-run-as-root --oversubscribe -x OPENBLAS_NUM_THREADS=1 \
    dotnet exec "$lzn" bench train --device cpu "${args[@]}" 2>/dev/null | grep -v '^    '
