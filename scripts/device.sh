#!/usr/bin/env bash
# The GPU check in one call (issue #11), for a machine that reaches no package registry:
# its python3 has a CUDA torch 2.x and transformers; what else the build needs travels
# as Debian packages unpacked into a prefix, and the photos and video frames travel too.
#
# Here (with a Debian mirror), once per checkout:
#   scripts/device.sh fetch     # .device-debs/: the build's .deb files; .device-assets/:
#                               # the photos and a video's frames from ../shared/assets
# On the GPU machine, from the repository root, with .device-debs and .device-assets carried:
#   scripts/device.sh run [OUT_DIR]
#
# `run`, each step under its own time limit and all of it under DEVICE_DEADLINE_S
# (default 450 s; a step that would not fit is skipped and says so):
#   1. configures against torch's CMake package (or, if that fails, the torch folder's
#      include/ and lib/ directly: SAM3RT_TORCH_ROOT) with CUDA, no OpenCV, no server;
#      builds the CLI and sam3rt_bench with every core;
#   2. sam3rt verify --device cuda on every tiny fixture, fp32 (TF32 off, rel-L2 1e-4) and
#      bf16 (figures printed, --tolerance 1);
#   3. a full-size random checkpoint (sam3rt make-random-checkpoint, or from the manifest
#      in Python if the build failed);
#   4. sam3rt_bench --device cuda, fp32 and bf16: GEMM rate, vision, text, detector per
#      prompt, end to end, the whole image pipeline, tracker per click, video per frame
#      with 1 and 10 objects; peak GPU memory per stage;
#   5. bench/reference_gpu.py: transformers' SAM 3 on the same stages, checkpoint and GPU;
#   6. sam3rt precision-gate --device cuda --reference-device cpu over the photos: bf16 vs
#      fp32 and GPU fp32 vs CPU fp32, every query and a grid of clicks;
#   7. bench/device_report.py: one table with the ratios.
# OUT_DIR gets at most 8 files (the device tool's limit): summary.md, build.log,
# verify.log, bench.log, reference.log, gate.log, results.tgz (every JSON) and
# build-cuda.tgz (the build tree, to carry into the next run).
#
# Reusing an earlier run's build (the device machine keeps nothing between leases):
# put its build-cuda.tgz in .device-carry/ with changed.txt, the files changed since the
# commit it was built from (scripts/device.sh changed COMMIT writes it), carry
# .device-carry too, and only those files are compiled again.
set -uo pipefail
cd "$(dirname "$0")/.."
debs=.device-debs
assets=.device-assets
packages=(nlohmann-json3-dev libcli11-dev libstb-dev zlib1g-dev zlib1g)

case "${1:-}" in
  fetch)
    mkdir -p "$debs" "$assets"
    for p in "/$debs/" "/$assets/"; do
      grep -qx "$p" .git/info/exclude 2>/dev/null || echo "$p" >> .git/info/exclude
    done
    (cd "$debs" && apt-get download "${packages[@]}")
    shared=${SAM3RT_SHARED:-../shared}
    rm -rf "$assets/images" "$assets/video"
    cp -r "$shared/assets/images" "$assets/images"
    mkdir -p "$assets/video" && cp -r "$shared/assets/video/bedroom_frames" "$assets/video/bedroom_frames"
    chmod -R u+w "$assets"
    du -sh "$debs" "$assets"
    ;;
  changed)
    mkdir -p .device-carry
    grep -qx "/.device-carry/" .git/info/exclude 2>/dev/null || echo "/.device-carry/" >> .git/info/exclude
    { git diff --name-only "${2:?commit the carried build was made from}"; git ls-files --others --exclude-standard; } |
      sort -u > .device-carry/changed.txt
    wc -l < .device-carry/changed.txt
    ;;
  run)
    out=${2:-${OUT:-build-cuda/out}}
    mkdir -p "$out"
    out=$(cd "$out" && pwd)
    work=/tmp/sam3rt-device
    mkdir -p "$work/json"
    deadline=${DEVICE_DEADLINE_S:-450}
    gate_reference=${DEVICE_GATE_REFERENCE-cpu}  # empty: bf16 vs fp32 on the GPU only
    summary=$out/summary.md
    note() { echo "$*" | tee -a "$summary"; }
    # step NAME LIMIT LOG CMD...: runs CMD with the smaller of LIMIT and the time left.
    step() {
      local name=$1 limit=$2 log=$3
      shift 3
      local left=$((deadline - SECONDS))
      if [ "$left" -lt 15 ]; then
        note "- $name: SKIPPED (${left} s left of ${deadline})"
        return 99
      fi
      [ "$limit" -lt "$left" ] || limit=$left
      echo "=== $name (limit ${limit} s) ===" >> "$log"
      local t0=$SECONDS rc=0
      timeout "$limit" "$@" >> "$log" 2>&1 || rc=$?
      note "- $name: rc $rc in $((SECONDS - t0)) s"
      return $rc
    }
    pack() { (cd "$work" && tar czf "$out/results.tgz" json 2>/dev/null); }
    trap pack EXIT

    note "# sam3rt device run $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    note '```'
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$summary"
    python3 -c 'import torch, transformers, sys; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)' 2>&1 | tee -a "$summary"
    echo "cores $(nproc); $(g++ --version | head -n 1); cmake $(cmake --version | head -n 1 | cut -d' ' -f3); ninja $(ninja --version 2>/dev/null || echo none)" | tee -a "$summary"
    note '```'

    # 1. Build.
    prefix=$work/prefix
    mkdir -p "$prefix"
    for f in "$debs"/*.deb; do dpkg -x "$f" "$prefix"; done
    export CPATH="$prefix/usr/include${CPATH:+:$CPATH}"
    torch_dir=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')
    torch_cmake=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
    abi=$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
    generator=()
    keep_going=()
    if command -v ninja >/dev/null; then generator=(-G Ninja); keep_going=(-- -k 0); fi
    export PYTHONUNBUFFERED=1
    common=(-DCMAKE_BUILD_TYPE=Release -DSAM3RT_WITH_OPENCV=OFF -DSAM3RT_WITH_SERVER=OFF -DSAM3RT_WITH_CUDA=ON
            -DSAM3RT_BUILD_TESTS=OFF -DSAM3RT_BUILD_BENCH=ON -DSAM3RT_CXX11_ABI="$abi"
            -DCMAKE_INCLUDE_PATH="$prefix/usr/include")
    build=build-cuda
    how=""
    if [ -f .device-carry/build-cuda.tgz ]; then
      tar xzf .device-carry/build-cuda.tgz
      if grep -q "CMAKE_HOME_DIRECTORY:INTERNAL=$(pwd)$" "$build/CMakeCache.txt" 2>/dev/null; then
        # The copied sources are newer than the carried objects: age them all, then
        # freshen those changed since the carried build.
        find src include tools bench CMakeLists.txt -type f -exec touch -d '2001-01-01' {} +
        [ -f .device-carry/changed.txt ] && xargs -r -a .device-carry/changed.txt touch 2>/dev/null
        how="carried build tree"
        note "- reusing the carried build tree ($(wc -l < .device-carry/changed.txt 2>/dev/null || echo '?') files changed)"
      else
        note "- carried build tree is for another folder: building from scratch"
        rm -rf "$build"
      fi
    fi
    if [ -n "$how" ]; then
      :
    elif step "configure (torch's CMake package)" 90 "$out/build.log" \
        cmake -S . -B "$build" "${generator[@]}" "${common[@]}" -DCMAKE_PREFIX_PATH="$torch_cmake;$prefix/usr"; then
      how="torch's CMake package"
    else
      rm -rf "$build"
      step "configure (SAM3RT_TORCH_ROOT=$torch_dir)" 60 "$out/build.log" \
        cmake -S . -B "$build" "${generator[@]}" "${common[@]}" -DCMAKE_PREFIX_PATH="$prefix/usr" \
        -DSAM3RT_TORCH_ROOT="$torch_dir"
      how="SAM3RT_TORCH_ROOT"
    fi
    built=0
    if step "build ($how)" 330 "$out/build.log" \
        cmake --build "$build" --target sam3rt_cli sam3rt_bench -j "$(nproc)" "${keep_going[@]}"; then
      built=1
    fi
    grep -E "error|Error" "$out/build.log" | head -n 40 > "$work/build_errors.txt"
    tar czf "$out/build-cuda.tgz" --exclude='*.safetensors' "$build" 2>/dev/null
    note "- build tree: $(du -h "$out/build-cuda.tgz" | cut -f1) (build-cuda.tgz), repository at $(pwd)"
    [ "$built" = 1 ] || { note '```'; head -n 40 "$work/build_errors.txt" | tee -a "$summary"; note '```'; }
    cli=$build/sam3rt

    # 2. Parity on the GPU.
    if [ "$built" = 1 ]; then
      for f in sam3_image sam3_tracker sam3_tracker_video sam3_video; do
        for p in fp32 bf16; do
          tol=1e-4; [ "$p" = bf16 ] && tol=1
          step "verify $f $p" 60 "$out/verify.log" \
            "$cli" verify "tests/data/sam3-tiny-seed0/$f" --device cuda --precision "$p" --tolerance "$tol"
          note "  $(grep '^verify:' "$out/verify.log" | tail -n 1)"
        done
      done
    fi

    # 3. Full-size checkpoint.
    model=$work/sam3-full
    manifest=tests/data/sam3-full-manifest
    if [ "$built" = 1 ]; then
      step "make-random-checkpoint" 120 "$out/bench.log" \
        "$cli" make-random-checkpoint --config "$manifest/sam3_video_config.json" --out "$model"
    else
      step "random checkpoint (python, from the manifest)" 120 "$out/reference.log" \
        python3 bench/reference_gpu.py --make-checkpoint "$manifest/sam3_video_manifest.json" \
        --config "$manifest/sam3_video_config.json" --model "$model"
    fi

    photo=$assets/images/kids.jpg
    frames=$assets/video/bedroom_frames
    # 4.-6. Timings (sam3rt, then transformers on the same GPU) and the accuracy gate; bf16
    # first, as the headline precision, the gate before the fp32 timings.
    bench_sam3rt() {
      [ "$built" = 1 ] || return 0
      step "sam3rt_bench $1" 150 "$out/bench.log" \
        "$build/sam3rt_bench" --model "$model" --device cuda --precision "$1" --reps 20 --warmup 3 \
        --stages gemm,vision,text,detector_text,e2e,image_pipeline,tracker_prompt,video \
        --image "$photo" --text person --video "$frames" --video-objects 1,10 \
        --json "$work/json/sam3rt_$1.json" --md "$work/json/sam3rt_$1.md"
      grep -E "^\| (vision|image_pipeline|video_1obj|video_10obj) " "$out/bench.log" | tail -n 4 | sed "s/^/$1 /" >> "$summary"
      grep -o "LibTorch .*" "$out/bench.log" | tail -n 1 >> "$summary"
    }
    bench_reference() {
      step "transformers $1" 170 "$out/reference.log" \
        python3 bench/reference_gpu.py --model "$model" --precision "$1" --reps 20 --warmup 3 \
        --image "$photo" --text person --video "$frames" --video-objects 1,10 --json "$work/json/reference_$1.json"
    }
    bench_sam3rt bf16
    bench_reference bf16
    if [ "$built" = 1 ]; then
      step "precision-gate" 150 "$out/gate.log" \
        "$cli" precision-gate --model "$model" --device cuda ${gate_reference:+--reference-device "$gate_reference"} --clicks 3 \
        --image "$assets/images/kids.jpg" --image "$assets/images/groceries.jpg" --image "$assets/images/truck.jpg" \
        --text person --text bag --json "$work/json/gate.json"
      note '```'
      grep -E "^(bf16|fp32) .*\|" "$out/gate.log" | tee -a "$summary"
      grep "^precision gate" "$out/gate.log" | tee -a "$summary"
      note '```'
    fi
    bench_sam3rt fp32
    bench_reference fp32

    # 7. The table.
    python3 bench/device_report.py "$work/json" >> "$summary" 2>&1 || note "device_report failed"
    note "total ${SECONDS} s"
    ;;
  *)
    sed -n '2,37p' "$0"
    exit 2
    ;;
esac
