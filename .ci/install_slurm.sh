#!/usr/bin/env bash
# Install the Debian packages needed by the local SLURM integration tests
# (tests/integration/): slurmctld, slurmd, slurm-client and munge.
#
# * Idempotent: a fast no-op (dpkg-query only, no apt call) when all packages are present.
# * Installs only when run as root on a machine with apt-get; otherwise it prints what is
#   missing and exits 0, so that callers on developer machines do not fail (the integration
#   tests then skip themselves with a message naming the missing binaries).
#   Set STEPLOC_REQUIRE_SLURM=1 to make a missing, uninstallable package an error (exit 1).
# * The packages' postinst scripts try to start the system services; without systemd this
#   is refused ("policy-rc.d denied") and harmless: the test harness starts its own private
#   daemons (own config, own munge key and socket, own ports) and never uses the system ones.
#
# Tested on Debian 12 (bookworm): SLURM 22.05.8, munge 0.5.15; takes ~20-40 s.
set -euo pipefail

PKGS=(slurmctld slurmd slurm-client munge)

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install_slurm: already installed: ${PKGS[*]}"
    exit 0
fi

fail_or_skip() {
    echo "install_slurm: $1; missing: ${missing[*]}" >&2
    if [ "${STEPLOC_REQUIRE_SLURM:-0}" = "1" ]; then exit 1; fi
    echo "install_slurm: the SLURM integration tests will be skipped" >&2
    exit 0
}

[ "$(id -u)" -eq 0 ] || fail_or_skip "not root, cannot install"
command -v apt-get >/dev/null 2>&1 || fail_or_skip "apt-get not found (not Debian/Ubuntu?)"

echo "install_slurm: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install_slurm: done: $(dpkg-query -W -f='${Package} ${Version}\n' "${PKGS[@]}" | tr '\n' ' ')"
