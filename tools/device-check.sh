#!/usr/bin/env bash
# Prepares the GPU check: publishes `lzn` as a trimmed, self-contained single file for linux-x64 into
# publish/device (git-ignored; the GPU machine has no .NET) and prints the exact `device` run calls
# that execute tools/device-run.sh there (two calls back to back, each under the 600 s limit).
set -euo pipefail
cd "$(dirname "$0")/.."

out=publish/device
rm -rf "$out"
dotnet publish src/LZN.Cli -c Release -r linux-x64 --self-contained \
    -p:PublishTrimmed=true -p:PublishSingleFile=true -o "$out" --nologo >/dev/null
# The GPU machine has no internet: Fashion-MNIST travels with the binary when it is installed here.
for folder in "${LZN_DATA:-}" /usr/share/datasets/fashion-mnist; do
    if [ -n "$folder" ] && [ -f "$folder/train-images-idx3-ubyte.gz" ]; then
        mkdir -p "$out/fashion-mnist"
        cp "$folder"/*-ubyte.gz "$out/fashion-mnist/"
        break
    fi
done
rm -f "$out"/*.pdb
size=$(du -sh "$out" | cut -f1)
echo "published $out/lzn ($size in all)"
cat <<CALL

Run on the GPU machine with the device tool, in two calls back to back (the second while the machine is still warm):
  run(command: "bash tools/device-run.sh kernels", carry: ["$out"], timeout_s: 570)
  run(command: "bash tools/device-run.sh train", carry: ["$out"], timeout_s: 300)

The first writes under \$OUT device.log, kernels.json (the static report), selftest.json, selftest-gemm.json and
selftest-gemm-3xtf32.json (the verification tables with zone kernels v1, gemm and gemm-3xtf32) and bench-zones.json
(v1, gemm, gemm-dense and gemm-3xtf32 side by side, with the share of gemm chunks that skipped zeros), and prints
the encode times against the official implementation's and PyTorch's on the same GPU. The second writes
bench-train-v1.json and bench-train-gemm.json and, when Fashion-MNIST travelled along, run-summary.json and
run-samples.png from a one-epoch joint training on 10,000 images. Each prints its summary last. A third part,
device-run.sh rep, trains the representation task at large batches (about 160 s).
CALL
