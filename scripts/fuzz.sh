#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ and runs each one for a while.
#
#   scripts/fuzz.sh                   # every target, 60 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh  # longer
#   scripts/fuzz.sh config            # one target (see `sources` below)
#
# The targets are built straight with clang (no CMake). Most need only ATen-free parsers,
# include/ and nlohmann-json; the image and HTTP targets link LibTorch (and cpp-httplib,
# OpenCV): clang 14 cannot compile LibTorch 1.13's headers as C++20, so those build as
# C++17 (the sources they take compile as both). fuzz/<target>.dict, when present, is
# the libFuzzer dictionary of JSON keys and edge values. Everything goes to build-fuzz/: the
# binaries, a working copy of each seed corpus (fuzz/corpus/<target>/ is never
# modified), logs, and the crashing inputs (build-fuzz/artifacts/<target>/).
# Exits non-zero if a build fails or any target reports a finding: a crash, an
# exception other than sam3rt::Error, a sanitizer report, a leak, a timeout or an OOM.
#
# Environment: FUZZ_SECONDS (default 60), CXX_FUZZ (default clang++, else clang++-14),
# FUZZ_ARGS (extra libFuzzer flags, e.g. "-jobs=2" or "-max_len=65536"), FUZZ_SEED (a
# fixed libFuzzer seed; default random), FUZZ_RUNS (stop after this many inputs).
#
# With FUZZ_SEED and FUZZ_RUNS a run is repeatable: the same inputs in the same order on
# any machine, a slower one stopping at FUZZ_SECONDS after a prefix of them. CI runs that
# way (scripts/test.sh), so what it checks is what was checked before it landed; searching
# for new findings is a longer run with a random seed (docs/reliability.md).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

seconds=${FUZZ_SECONDS:-60}
repeat=()
if [[ -n "${FUZZ_SEED:-}" ]]; then repeat+=(-seed="$FUZZ_SEED"); fi
if [[ -n "${FUZZ_RUNS:-}" ]]; then repeat+=(-runs="$FUZZ_RUNS"); fi
out=build-fuzz
cxx=${CXX_FUZZ:-}
if [[ -z "$cxx" ]]; then
  if command -v clang++ >/dev/null; then cxx=clang++; elif command -v clang++-14 >/dev/null; then cxx=clang++-14; fi
fi
if [[ -z "$cxx" ]]; then
  echo "fuzz.sh: clang++ not found (scripts/setup.sh installs it)" >&2
  exit 2
fi

# shellcheck disable=SC2054
flags=(-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -Iinclude -Isrc -Itools)

aten=(-std=c++17 -DAT_PER_OPERATOR_HEADERS -DTORCH_ASSERT_ONLY_METHOD_OPERATORS)
aten_libs="-ltorch_cpu -lc10"
opencv_flags="-DSAM3RT_HAVE_OPENCV=1 $(pkg-config --cflags --libs opencv4 2>/dev/null || true)"

# target -> its sources (and flags)
declare -A sources=(
  [safetensors]="fuzz/safetensors_fuzz.cpp src/io/safetensors_format.cpp"
  [config]="fuzz/config_fuzz.cpp src/io/config.cpp"
  [prompt_args]="fuzz/prompt_args_fuzz.cpp tools/prompt_args.cpp"
  [tokenizer]="fuzz/tokenizer_fuzz.cpp src/text/clip_tokenizer.cpp -lz"
  [image]="${aten[*]} fuzz/image_fuzz.cpp src/io/image.cpp $aten_libs"
  [image_opencv]="${aten[*]} fuzz/image_fuzz.cpp src/io/image.cpp $aten_libs $opencv_flags"
  [http_request]="${aten[*]} fuzz/http_request_fuzz.cpp src/server/upload.cpp src/server/api.cpp
                  src/render/coco_rle.cpp src/io/image.cpp -lcpp-httplib $aten_libs"
)
# target -> its seed corpus and dictionary (default: its own name)
declare -A corpus_of=([image_opencv]=image)
# target -> extra libFuzzer flags: the HTTP target's inputs hold whole uploads; the ATen
# targets must not allocate more than their pixel limits allow
declare -A extra_args=(
  [image]="-malloc_limit_mb=512"
  [image_opencv]="-malloc_limit_mb=512"
  [http_request]="-max_len=65536 -malloc_limit_mb=512"
)
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(safetensors config prompt_args tokenizer image http_request)
  if pkg-config --exists opencv4 2>/dev/null; then targets+=(image_opencv); fi
fi

mkdir -p "$out"
for t in "${targets[@]}"; do
  if [[ -z "${sources[$t]:-}" ]]; then
    echo "fuzz.sh: unknown target '$t' (known: ${!sources[*]})" >&2
    exit 2
  fi
  echo "== building ${t}_fuzz"
  # shellcheck disable=SC2086
  "$cxx" "${flags[@]}" ${sources[$t]} -o "$out/${t}_fuzz"
done

status=0
for t in "${targets[@]}"; do
  corpus="$out/corpus/$t"
  artifacts="$out/artifacts/$t"
  rm -rf "$corpus" "$artifacts"
  mkdir -p "$corpus" "$artifacts"
  seeds=${corpus_of[$t]:-$t}
  cp fuzz/corpus/"$seeds"/* "$corpus"/
  echo "== running ${t}_fuzz for ${seconds} s ${repeat[*]} (log: $out/$t.log)"
  dict=()
  if [[ -f fuzz/$seeds.dict ]]; then dict=(-dict="fuzz/$seeds.dict"); fi
  rc=0
  # shellcheck disable=SC2086
  "$out/${t}_fuzz" -max_total_time="$seconds" "${repeat[@]}" -timeout=10 -rss_limit_mb=2048 "${dict[@]}" \
      ${extra_args[$t]:-} -print_final_stats=1 -artifact_prefix="$artifacts/" ${FUZZ_ARGS:-} "$corpus" \
      >"$out/$t.log" 2>&1 || rc=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done )' "$out/$t.log" || true
  if [[ $rc -ne 0 ]] || [[ -n "$(ls -A "$artifacts")" ]]; then
    echo "fuzz.sh: ${t}_fuzz found a problem (exit $rc); inputs in $artifacts/, tail of the log:" >&2
    tail -n 40 "$out/$t.log" >&2
    status=1
  fi
done
exit $status
