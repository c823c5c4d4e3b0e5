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
size=$(du -sh "$out" | cut -f1)
echo "published $out/lzn ($size)"
cat <<CALL

Run on the GPU machine with the device tool:
  run(command: "bash tools/device-run.sh", carry: ["$out"], timeout_s: 420)

It writes under \$OUT: device.log (everything), info.txt, selftest.json, bench-zones.json,
and prints the self-test and benchmark tables last.
CALL
