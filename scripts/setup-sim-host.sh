#!/usr/bin/env bash
# Installs the Debian packages the simulated testbed (nftables: the nuc's filter on the operator's route to the VMs), the
# storage tests and `npm run lint` (shellcheck) use.
# Run it as root or as a user with sudo: it re-runs itself through sudo when it must install and is not root.
# Safe to run twice: it only calls apt when a package is missing.
set -euo pipefail
packages=(openssh-server openssh-client fio etcd-server etcd-client curl zfs-fuse strace iproute2 nftables sudo util-linux procps shellcheck)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup-sim-host: unchanged (all of ${packages[*]} installed)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then exec sudo bash "$0" "$@"; fi
  echo "setup-sim-host: need root to install ${missing[*]}: run it as root, or install sudo" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Debian's etcd-server and zfs-fuse packages try to start their daemons; the sim starts its own instead.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
apt-get install -y -qq --no-install-recommends "${missing[@]}"
rm -f /usr/sbin/policy-rc.d
echo "setup-sim-host: changed (installed ${missing[*]})"
