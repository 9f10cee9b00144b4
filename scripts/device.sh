#!/usr/bin/env bash
# The GPU build, checks and timings in one call (issue #6), for a machine that reaches no
# package registry: its python3 has a CUDA torch 2.x, and what else the build needs
# travels as Debian packages unpacked into a prefix.
#
# Here (with internet or a Debian mirror), once:
#   scripts/device.sh fetch            # apt-get download the build's .deb files into .device-debs/
# On the GPU machine, from the repository root, with .device-debs carried along:
#   scripts/device.sh run [OUT_DIR]    # unpack, configure against torch's CMake package,
#                                      # build (no OpenCV), verify, time
#
# `run` builds into build-cuda/, runs `sam3rt verify` on every tiny fixture in fp32 and in
# bf16 (--tolerance 1: the bf16 figures are printed, not gated), then sam3rt_bench's
# stages on the device against a full-size random checkpoint written to /tmp/sam3-full.
# STATUS: written without a GPU to run it on; the first session with one runs and fixes it.
set -euo pipefail
cd "$(dirname "$0")/.."
debs=.device-debs
packages=(nlohmann-json3-dev libcli11-dev libcpp-httplib-dev libstb-dev libstb0 libssl-dev libbrotli-dev
          zlib1g-dev ninja-build)

case "${1:-}" in
  fetch)
    mkdir -p "$debs"
    grep -qx "/$debs/" .git/info/exclude 2>/dev/null || echo "/$debs/" >> .git/info/exclude
    (cd "$debs" && apt-get download "${packages[@]}")
    ls -la "$debs"
    ;;
  run)
    out=${2:-${OUT:-build-cuda/out}}
    mkdir -p "$out"
    prefix=/tmp/sam3rt-prefix
    mkdir -p "$prefix"
    for f in "$debs"/*.deb; do dpkg -x "$f" "$prefix"; done
    export PATH="$prefix/usr/bin:$PATH"
    export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export PKG_CONFIG_PATH="$prefix/usr/lib/x86_64-linux-gnu/pkgconfig:$prefix/usr/share/pkgconfig"
    export PKG_CONFIG_SYSROOT_DIR="$prefix"   # the .pc files say /usr; the files are under $prefix/usr
    export CPATH="$prefix/usr/include${CPATH:+:$CPATH}"
    torch_prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
    generator=()
    if command -v ninja >/dev/null; then generator=(-G Ninja); fi
    cmake -S . -B build-cuda "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$torch_prefix;$prefix/usr" -DCMAKE_INCLUDE_PATH="$prefix/usr/include" \
      -DSAM3RT_WITH_OPENCV=OFF -DSAM3RT_WITH_CUDA=ON -DSAM3RT_BUILD_TESTS=OFF -DSAM3RT_BUILD_BENCH=ON \
      2>&1 | tee "$out/configure.log"
    cmake --build build-cuda -j "$(nproc)" 2>&1 | tail -n 30 | tee "$out/build.log"
    for f in sam3_image sam3_tracker sam3_tracker_video sam3_video; do
      for p in fp32 bf16; do
        tol=1e-4; [ "$p" = bf16 ] && tol=1
        build-cuda/sam3rt verify "tests/data/sam3-tiny-seed0/$f" --precision "$p" --tolerance "$tol" \
          > "$out/verify_${f}_$p.txt" 2>&1 || true
        echo "$f $p: $(tail -n 1 "$out/verify_${f}_$p.txt")"
      done
    done | tee "$out/verify.txt"
    [ -f /tmp/sam3-full/model.safetensors ] || build-cuda/sam3rt make-random-checkpoint \
      --config tests/data/sam3-full-manifest/sam3_video_config.json --out /tmp/sam3-full
    for p in fp32 bf16; do
      build-cuda/sam3rt_bench --model /tmp/sam3-full --device cuda --precision "$p" \
        --stages vision,text,detector_text,e2e,tracker_prompt --reps 20 \
        --json "$out/bench_$p.json" --md "$out/bench_$p.md" 2>&1 | tail -n 15
    done
    ;;
  *)
    sed -n '2,16p' "$0"
    exit 2
    ;;
esac
