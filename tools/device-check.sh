#!/usr/bin/env bash
# Prepares the GPU check: publishes `lzn` as a trimmed, self-contained single file for linux-x64 into
# publish/device (git-ignored; the GPU machine has no .NET) and prints the exact `device` run call
# that executes tools/device-run.sh there. The run itself takes under five minutes.
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

Run on the GPU machine with the device tool:
  run(command: "bash tools/device-run.sh", carry: ["$out"], timeout_s: 600)

It writes under \$OUT: device.log (everything), selftest.json, bench-zones.json and, when
Fashion-MNIST travelled along, run/summary.json and run/samples.png from a one-epoch joint training
on 10,000 images; it prints the self-test, benchmark and training summaries last.
CALL
