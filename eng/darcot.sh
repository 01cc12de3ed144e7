#!/usr/bin/env bash
# Runs the darcot command-line tool from source (builds it on first use). Example:
#   ./eng/darcot.sh restore samples/images/noisy.png -o restored.png
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/eng/ensure-native.sh"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
log=$(mktemp)
# Build quietly; show the build log only when it fails.
if ! dotnet build "$root/samples/DaRcot.Cli/DaRcot.Cli.csproj" -c Release -v q -nologo >"$log" 2>&1; then
  cat "$log" >&2; rm -f "$log"; exit 1
fi
rm -f "$log"
exec dotnet "$root/samples/DaRcot.Cli/bin/Release/net10.0/darcot.dll" "$@"
