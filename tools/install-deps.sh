#!/usr/bin/env bash
# Installs the Debian packages iovsim builds with (architecture.md §5), only those missing.
# Nothing is downloaded from anywhere but Debian's archive.
set -euo pipefail
packages=(cmake ninja-build g++ pkg-config libsystemc-dev libboost-dev libboost-program-options-dev
          nlohmann-json3-dev catch2 python3 python3-matplotlib python3-distributed)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "iovsim: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
