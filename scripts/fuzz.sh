#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ and runs each one for a while.
#
#   scripts/fuzz.sh                   # every target, 60 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh  # longer
#   scripts/fuzz.sh config            # one target (safetensors, config, prompt_args, tokenizer)
#
# The targets are built straight with clang (no CMake, no ATen): they only need the
# ATen-free parsers, include/ and nlohmann-json; fuzz/<target>.dict, when present, is
# the libFuzzer dictionary of JSON keys and edge values. Everything goes to build-fuzz/: the
# binaries, a working copy of each seed corpus (fuzz/corpus/<target>/ is never
# modified), logs, and the crashing inputs (build-fuzz/artifacts/<target>/).
# Exits non-zero if a build fails or any target reports a finding: a crash, an
# exception other than sam3rt::Error, a sanitizer report, a leak, a timeout or an OOM.
#
# Environment: FUZZ_SECONDS (default 60), CXX_FUZZ (default clang++, else clang++-14),
# FUZZ_ARGS (extra libFuzzer flags, e.g. "-jobs=2" or "-max_len=65536").
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

seconds=${FUZZ_SECONDS:-60}
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

# target -> its sources
declare -A sources=(
  [safetensors]="fuzz/safetensors_fuzz.cpp src/io/safetensors_format.cpp"
  [config]="fuzz/config_fuzz.cpp src/io/config.cpp"
  [prompt_args]="fuzz/prompt_args_fuzz.cpp tools/prompt_args.cpp"
  [tokenizer]="fuzz/tokenizer_fuzz.cpp src/text/clip_tokenizer.cpp -lz"
)
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then targets=(safetensors config prompt_args tokenizer); fi

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
  cp fuzz/corpus/"$t"/* "$corpus"/
  echo "== running ${t}_fuzz for ${seconds} s (log: $out/$t.log)"
  dict=()
  if [[ -f fuzz/$t.dict ]]; then dict=(-dict="fuzz/$t.dict"); fi
  rc=0
  # shellcheck disable=SC2086
  "$out/${t}_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 "${dict[@]}" \
      -print_final_stats=1 -artifact_prefix="$artifacts/" ${FUZZ_ARGS:-} "$corpus" \
      >"$out/$t.log" 2>&1 || rc=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done )' "$out/$t.log" || true
  if [[ $rc -ne 0 ]] || [[ -n "$(ls -A "$artifacts")" ]]; then
    echo "fuzz.sh: ${t}_fuzz found a problem (exit $rc); inputs in $artifacts/, tail of the log:" >&2
    tail -n 40 "$out/$t.log" >&2
    status=1
  fi
done
exit $status
