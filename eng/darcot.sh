#!/usr/bin/env bash
# Runs the darcot command-line tool from source (builds it on first use). Example:
#   ./eng/darcot.sh restore samples/images/noisy.png -o restored.png
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/eng/ensure-native.sh"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build "$root/samples/DaRcot.Cli/DaRcot.Cli.csproj" -c Release -v q -nologo >&2
exec dotnet "$root/samples/DaRcot.Cli/bin/Release/net10.0/darcot.dll" "$@"
