#!/usr/bin/env bash
# Installs the Debian packages lowbit needs (only those missing), then
# configures and builds lowbit in build/. Safe to run any number of times.
# Usage: scripts/setup.sh [ninja targets...]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake ninja-build g++ ccache python3 python3-dev python3-numpy pybind11-dev
          libgtest-dev libsentencepiece-dev
          llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
          gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user)
missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "== installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y --no-install-recommends "${missing[@]}" ||
    { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends "${missing[@]}"; }
fi

if [[ ! -f build/build.ninja ]]; then
  echo "== configuring build/"
  cmake -G Ninja -S . -B build -DCMAKE_BUILD_TYPE=Release \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
    -DPython3_EXECUTABLE=/usr/bin/python3
fi
echo "== building ${*:-all}"
ninja -C build "$@"
