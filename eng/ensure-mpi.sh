#!/usr/bin/env bash
# Makes sure MPI is there for data-parallel training (`mpiexec.mpich -n N darcot train ...`) and its test.
#
# The .NET binding is MPI.NET (NuGet), whose build speaks MPICH's ABI (see src/DaRcot.Rec.Mpi/MpiCommunicator.cs),
# so the MPI is Debian's MPICH: the launcher mpiexec.mpich and libmpich.so.12 (package mpich, without the
# recommended compilers: nothing is compiled against it).
# Quiet and idempotent: it prints nothing and changes nothing when both are already there.
set -euo pipefail

has_mpich() {
  command -v mpiexec.mpich >/dev/null 2>&1 && ldconfig -p 2>/dev/null | grep -q 'libmpich\.so\.12 '
}

has_mpich && exit 0

if [ "$(id -u)" != "0" ]; then
  cat >&2 <<'MSG'
ensure-mpi: MPICH is missing (mpiexec.mpich, libmpich.so.12), needed by data-parallel training and its test.
Run as root, then try again:

apt-get update && apt-get install -y --no-install-recommends mpich
MSG
  exit 1
fi

echo "ensure-mpi: installing MPICH (Debian package mpich) for data-parallel training." >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
# apt's own output goes to a log that is shown only when something fails.
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends mpich; } >"$log" 2>&1; then
  cat "$log" >&2; rm -f "$log"
  echo "ensure-mpi: apt-get failed (see above)." >&2
  exit 1
fi
rm -f "$log"
ldconfig
if ! has_mpich; then
  echo "ensure-mpi: mpich was installed but mpiexec.mpich or libmpich.so.12 is still missing." >&2
  exit 1
fi
echo "ensure-mpi: done." >&2
