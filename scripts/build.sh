#!/usr/bin/env bash
# Configures and builds sam3rt (Release) into ${BUILD_DIR:-build}. Extra arguments go to
# CMake's configure step, e.g. scripts/build.sh -DSAM3RT_WITH_OPENCV=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" "$@" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
