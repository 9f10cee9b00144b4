#!/bin/bash
# Video memory benchmark (not a test; see bench/video/video_memory.cpp): peak RSS must stay
# flat with the video's length. Tracks OBJECTS objects (boxes on frame 0) through VIDEO
# looped to each of LENGTHS frames, each length in its own process, and compares the peak
# RSS of the shortest and the longest run (within 5 %: PASS, else FAIL and exit 1). Also
# reports the per-frame time.
#
#   bench/video_memory.sh [VIDEO] [MODEL_DIR] [LENGTHS] [OBJECTS] [THREADS]
#
# VIDEO      video file or frame folder (default: tests/data/video, four 960x540 frames);
#            e.g. the SAM 2 notebooks' bedroom.mp4
# MODEL_DIR  a sam3_video checkpoint (default: /tmp/sam3rt-tiny-video, written on first use
#            from the tiny fixture config, its text vocabulary widened to CLIP's so that
#            the bundled tokenizer loads; random weights, 13 MB, with the tracker's
#            object-score bias raised so that objects are present and their masks get
#            drawn and written; see video_memory --boost-object-score). Full size: make one with
#            sam3rt make-random-checkpoint --config
#            tests/data/sam3-full-manifest/sam3_video_config.json (3.4 GB; never commit it)
# LENGTHS    frame counts to compare (default: "300 1000")
# OBJECTS    objects tracked (default: 1)
# THREADS    ATen threads (default: 1; 0 = all cores)
# OUT_DIR    (environment) when set, each run also writes the outputs of `sam3rt track`
#            (mask PNGs, overlay video, tracks.json) under OUT_DIR/<length>, so their memory
#            counts too
# HISTORY    (environment) VideoOptions::history_radius, default 0 (bounded); -1 keeps every
#            frame's memory: a control run that must FAIL, showing the measurement sees growth
#
# BUILD_DIR (default: build) must hold a built libsam3rt.so and the sam3rt CLI; the program
# is compiled next to them as video_memory. It has its own main(), so it lives in
# bench/video/, outside bench/*.cpp, which the sam3rt_bench target globs.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
video=${1:-$root/tests/data/video}
model=${2:-/tmp/sam3rt-tiny-video}
lengths=${3:-300 1000}
objects=${4:-1}
threads=${5:-1}

if [ ! -f "$build/libsam3rt.so" ] || [ ! -x "$build/sam3rt" ]; then
  echo "video_memory.sh: build sam3rt first (cmake --build $build)" >&2
  exit 1
fi

libs=(-L"$build" -lsam3rt -Wl,-rpath,"$build" -ltorch_cpu -lc10 -pthread)
linker=()
if command -v ld.lld >/dev/null; then linker=(-fuse-ld=lld); fi
cxx=${CXX:-c++}
if command -v ccache >/dev/null; then cxx="ccache $cxx"; fi

exe=$build/video_memory
$cxx -std=c++20 -O2 -DNDEBUG -D_GLIBCXX_USE_CXX11_ABI=1 -DAT_PER_OPERATOR_HEADERS \
  -DTORCH_ASSERT_ONLY_METHOD_OPERATORS -I"$root/include" -I"$root/src" -c "$root/bench/video/video_memory.cpp" \
  -o "$exe.o"
c++ "${linker[@]}" "$exe.o" "${libs[@]}" -o "$exe"

if [ ! -f "$model/model.safetensors" ]; then
  echo "video_memory.sh: writing a tiny random sam3_video checkpoint to $model" >&2
  mkdir -p "$model.tmp"
  sed 's/"vocab_size": 100$/"vocab_size": 49408/' "$root/tests/data/sam3-tiny-seed0/sam3_video/config.json" \
    >"$model.tmp/config.json"
  "$build/sam3rt" make-random-checkpoint --config "$model.tmp/config.json" --out "$model.tmp/random" >/dev/null
  "$exe" --boost-object-score "$model.tmp/random" "$model" 20 >/dev/null
  rm -rf "$model.tmp"
fi

timer=()
if [ -x /usr/bin/time ]; then timer=(/usr/bin/time -v); fi
declare -A peak
first="" last=""
for n in $lengths; do
  echo "== $n frames"
  log=$(mktemp)
  out=-
  if [ -n "${OUT_DIR:-}" ]; then out=$OUT_DIR/$n; fi
  if ! "${timer[@]}" "$exe" "$video" "$model" "$n" "$objects" "$threads" "$out" "${HISTORY:-0}" 2>"$log" |
    tee "$log.out"; then
    cat "$log" >&2
    exit 1
  fi
  if [ ${#timer[@]} -gt 0 ]; then
    grep -E "Maximum resident set size|Elapsed \(wall" "$log" | sed 's/^\s*/   time -v: /'
  fi
  peak[$n]=$(sed -n 's/^RESULT .*"peak_rss_kb": \([0-9]*\).*/\1/p' "$log.out")
  rm -f "$log" "$log.out"
  [ -z "$first" ] && first=$n
  last=$n
done

a=${peak[$first]} b=${peak[$last]}
awk -v a="$a" -v b="$b" -v fa="$first" -v fb="$last" 'BEGIN {
  d = (b - a) / a * 100;
  printf("peak RSS: %d frames %.1f MiB, %d frames %.1f MiB: %+.2f %% -> %s\n", fa, a / 1024, fb, b / 1024, d,
         (d <= 5 && d >= -5) ? "PASS (within 5 %)" : "FAIL (more than 5 %)");
  exit (d <= 5 && d >= -5) ? 0 : 1
}'
