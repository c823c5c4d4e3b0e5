#!/usr/bin/env bash
# The CPU zone encode against numpy float32, side by side in one run (the README's CPU zone figures come from it):
# for each size, numpy (Debian python3-numpy, on the same OpenBLAS) and `lzn bench zones --device cpu` alternate
# for ROUNDS rounds, each a median of RUNS timed encodes, with the same number of OpenBLAS threads.
#   tools/bench-cpu-zones.sh [B,N,d,K ...]      (default: ZoneCase.CpuSizes)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-/usr/bin/python3}
"$python" -c "import numpy" 2>/dev/null || { echo "bench-cpu-zones: numpy is missing ($python); Debian: apt-get install python3-numpy" >&2; exit 1; }
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(256,2048,256,20 1024,1024,64,20 2048,2048,256,20)
rounds=${ROUNDS:-3}
runs=${RUNS:-5}
threads=${OPENBLAS_NUM_THREADS:-$(nproc)}
export OPENBLAS_NUM_THREADS=$threads
dotnet build src/LZN.Cli -c Release --nologo -v q >/dev/null
lzn=(dotnet src/LZN.Cli/bin/Release/net10.0/lzn.dll)
echo "threads: $threads (OpenBLAS in both); $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf '%-18s %5s %12s %12s %8s\n' size round "numpy ms" "lzn ms" speedup
for size in "${sizes[@]}"; do
    for round in $(seq "$rounds"); do
        numpy=$("$python" tools/zones_numpy.py --size "$size" --runs "$runs" | sed -E 's/.*median ([0-9.]+) ms.*/\1/')
        lzn_ms=$("${lzn[@]}" bench zones --device cpu --size "$size,fwd" --runs "$runs" 2>/dev/null |
            awk '$3 == "encode" && $4 == "fwd" {print $5}')
        [ -n "$lzn_ms" ] || { echo "bench-cpu-zones: no encode forward figure from lzn bench zones at $size" >&2; exit 1; }
        printf '%-18s %5s %12s %12s %8s\n' "$size" "$round" "$numpy" "$lzn_ms" "$(awk -v a="$numpy" -v b="$lzn_ms" 'BEGIN { printf "%.2fx", a / b }')"
    done
done
