#!/bin/bash
# Interactive-segmentation benchmark (not a test; see bench/tracker/tracker_bench.cpp):
# encode one 1008x1008 image once, then time successive one-click multimask prompts on the
# cached features, through the public API.
#
#   bench/tracker_bench.sh [MODEL_DIR] [PROMPTS] [THREADS]
#
# MODEL_DIR defaults to /tmp/sam3-full; when it holds no checkpoint, a full-size random one
# is written there first (3.4 GB, about a minute; never commit it). PROMPTS defaults to 20,
# THREADS to 0 (all cores). BUILD_DIR (default: build) must hold a built libsam3rt.a and
# the sam3rt CLI; the program is compiled next to them as tracker_bench. It has its own
# main(), so it lives outside bench/*.cpp, which the sam3rt_bench target globs.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
model=${1:-/tmp/sam3-full}
prompts=${2:-20}
threads=${3:-0}

if [ ! -f "$build/libsam3rt.a" ] || [ ! -x "$build/sam3rt" ]; then
  echo "tracker_bench.sh: build sam3rt first (cmake --build $build)" >&2
  exit 1
fi
if [ ! -f "$model/model.safetensors" ]; then
  echo "tracker_bench.sh: writing a full-size random checkpoint to $model" >&2
  "$build/sam3rt" make-random-checkpoint --config "$root/tests/data/sam3-full-manifest/sam3_video_config.json" \
    --out "$model"
fi

libs=(-ltorch_cpu -lc10 -lz -pthread)
if grep -q '^SAM3RT_WITH_OPENCV:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
  libs=(-lopencv_videoio -lopencv_imgcodecs -lopencv_imgproc -lopencv_core "${libs[@]}")
fi
linker=()
if command -v ld.lld >/dev/null; then linker=(-fuse-ld=lld); fi
cxx=${CXX:-c++}
if command -v ccache >/dev/null; then cxx="ccache $cxx"; fi

exe=$build/tracker_bench
$cxx -std=c++20 -O3 -DNDEBUG -D_GLIBCXX_USE_CXX11_ABI=1 -DAT_PER_OPERATOR_HEADERS \
  -DTORCH_ASSERT_ONLY_METHOD_OPERATORS -I"$root/include" -c "$root/bench/tracker/tracker_bench.cpp" -o "$exe.o"
c++ "${linker[@]}" "$exe.o" "$build/libsam3rt.a" "${libs[@]}" -o "$exe"
"$exe" "$model" "$prompts" "$threads"
