#!/usr/bin/env bash
# Runs the whole test suite: makes sure TorchSharp's native runtime loads and MPI (MPICH, for the data-parallel
# training test) is installed, then `dotnet test` on the solution.
# Extra arguments go to dotnet test (e.g. --filter Parity).
set -euo pipefail
cd "$(dirname "$0")/.."
bash eng/ensure-native.sh
bash eng/ensure-mpi.sh
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
log=$(mktemp)
set +e
# A test that stops progressing is ended after 20 minutes with its name printed (no multi-GB dump), so a hang fails
# the run quickly and says where instead of running into CI's time limit; the whole suite takes ~3 minutes.
dotnet test DaRcot.Rec.sln -c Release --blame-hang-timeout 20m --blame-hang-dump-type none "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
# One plain summary line for tools that read the closing line of a run.
summary=$(grep -Eo 'Failed: +[0-9]+, Passed: +[0-9]+, Skipped: +[0-9]+' "$log" | tail -n 1 || true)
if [ -n "$summary" ]; then
  failed=$(echo "$summary" | sed -E 's/Failed: +([0-9]+).*/\1/')
  passed=$(echo "$summary" | sed -E 's/.*Passed: +([0-9]+).*/\1/')
  skipped=$(echo "$summary" | sed -E 's/.*Skipped: +([0-9]+).*/\1/')
  echo "$passed passed, $failed failed, $skipped skipped"
fi
rm -f "$log"
exit "$rc"
