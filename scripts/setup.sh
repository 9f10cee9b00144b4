#!/usr/bin/env bash
# Installs what sam3rt needs to build and test on Debian 12, from Debian's archive only.
# Idempotent: does nothing when every package is already installed. Uses sudo when not
# run as root.
set -euo pipefail

packages=(
  build-essential cmake ninja-build lld clang libclang-rt-14-dev ccache pkg-config
  libtorch-dev libopenblas-dev
  libopencv-dev
  nlohmann-json3-dev libcli11-dev zlib1g-dev libstb-dev libcpp-httplib-dev
  libgtest-dev libbenchmark-dev
  python3-pytest python3-numpy
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
