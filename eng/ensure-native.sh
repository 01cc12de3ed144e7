#!/usr/bin/env bash
# Makes sure TorchSharp's native library can load on this machine.
#
# libLibTorchSharp.so (TorchSharp 0.107.0) needs the symbol version GLIBCXX_3.4.32. Debian 12 ships
# libstdc++ with GLIBCXX_3.4.30 only, so on Debian 12 we take libstdc++6 from Debian 13 (trixie), pinned at
# priority 100 so that nothing else is upgraded from trixie unless asked for explicitly.
# Quiet and idempotent: it prints nothing and changes nothing when the symbol is already there.
set -euo pipefail

need="GLIBCXX_3.4.32"

find_libstdcxx() {
  local p
  p=$(ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 .*x86-64|libstdc\+\+\.so\.6 .*AArch64/ {print $NF; exit}')
  [ -n "$p" ] || p=$(ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6/ {print $NF; exit}')
  echo "$p"
}

has_symbol() {
  local lib; lib=$(find_libstdcxx)
  [ -n "$lib" ] && [ -r "$lib" ] && grep -qa "$need" "$lib"
}

has_symbol && exit 0

. /etc/os-release 2>/dev/null || true
if [ "${ID:-}" != "debian" ] || [ "${VERSION_ID:-}" != "12" ]; then
  echo "ensure-native: the loaded libstdc++ lacks $need, and this is not Debian 12 (${PRETTY_NAME:-unknown})." >&2
  echo "ensure-native: install a libstdc++6 from GCC 13 or newer; TorchSharp's native library will not load otherwise." >&2
  exit 1
fi

src=/etc/apt/sources.list.d/debian.sources
trixie_src=/etc/apt/sources.list.d/darcot-trixie.sources
pin=/etc/apt/preferences.d/darcot-trixie

# The trixie entry copies the machine's own first deb822 entry (same URIs, same keyring), only the suite changes.
uris=$(sed -n 's/^URIs:[[:space:]]*//p' "$src" 2>/dev/null | head -n 1 || true)
keyring=$(sed -n 's/^Signed-By:[[:space:]]*//p' "$src" 2>/dev/null | head -n 1 || true)
if [ -z "$uris" ]; then
  echo "ensure-native: cannot read URIs from $src; add a Debian 13 (trixie) source by hand." >&2
  exit 1
fi
[ -n "$keyring" ] || keyring=/usr/share/keyrings/debian-archive-keyring.gpg

entry="Types: deb
URIs: $uris
Suites: trixie
Components: main
Signed-By: $keyring"
pinning="Package: *
Pin: release n=trixie
Pin-Priority: 100"

if [ "$(id -u)" != "0" ]; then
  cat >&2 <<MSG
ensure-native: the loaded libstdc++ lacks $need (needed by TorchSharp's libLibTorchSharp.so).
Run these commands as root, then try again:

cat > $trixie_src <<'X'
$entry
X
cat > $pin <<'X'
$pinning
X
apt-get update && apt-get install -y -t trixie libstdc++6
MSG
  exit 1
fi

echo "ensure-native: libstdc++ lacks $need; installing libstdc++6 from Debian 13 (pinned at priority 100)." >&2
printf '%s\n' "$entry" > "$trixie_src"
printf '%s\n' "$pinning" > "$pin"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
# apt's own output goes to a log that is shown only when something fails.
if ! { apt-get update -qq && apt-get install -y -qq -t trixie libstdc++6; } >"$log" 2>&1; then
  cat "$log" >&2; rm -f "$log"
  echo "ensure-native: apt-get failed (see above)." >&2
  exit 1
fi
rm -f "$log"
ldconfig
if ! has_symbol; then
  echo "ensure-native: libstdc++6 from trixie was installed but $need is still missing." >&2
  exit 1
fi
echo "ensure-native: done." >&2
