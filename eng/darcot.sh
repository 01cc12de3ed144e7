#!/usr/bin/env bash
# Runs the darcot command-line tool from source. It is built on first use and rebuilt only when one of its inputs
# (anything under src/ or samples/DaRcot.Cli/, the bundled model, the shared build settings) is newer than the
# built tool, so a call costs a process start, not a build. Example:
#   ./eng/darcot.sh restore samples/images/noisy.png -o restored.png
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/eng/ensure-native.sh"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
if [ -n "${DARCOT_ARTIFACTS:-}" ]; then
  dll="$DARCOT_ARTIFACTS/bin/DaRcot.Cli/release/darcot.dll"
else
  dll="$root/samples/DaRcot.Cli/bin/Release/net10.0/darcot.dll"
fi

# True when the tool is missing or an input of its build is newer than it (build outputs are not inputs).
stale() {
  [ -f "$dll" ] || return 0
  local inputs=("$root/src" "$root/samples/DaRcot.Cli" "$root/samples/models")
  local f
  for f in Directory.Build.props Directory.Packages.props nuget.config; do
    [ -e "$root/$f" ] && inputs+=("$root/$f")
  done
  [ -n "$(find "${inputs[@]}" \( -name bin -o -name obj \) -prune -o -type f -newer "$dll" -print -quit 2>/dev/null)" ]
}

if stale; then
  log=$(mktemp)
  # Build quietly; show the build log only when it fails.
  if ! dotnet build "$root/samples/DaRcot.Cli/DaRcot.Cli.csproj" -c Release -v q -nologo >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"; exit 1
  fi
  rm -f "$log"
  # MSBuild leaves an unchanged output untouched; mark the tool current so an edit that changed nothing is not
  # rebuilt on every call.
  touch "$dll"
fi
exec dotnet "$dll" "$@"
