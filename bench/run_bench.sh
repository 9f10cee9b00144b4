#!/usr/bin/env bash
# sam3rt vs the reference in one run (issue #6; docs/performance.md):
#   1. builds sam3rt_bench and the CLI,
#   2. makes the full-size random checkpoint if it is missing (3.4 GB, outside the repo),
#   3. times sam3rt's stages (bench/sam3rt_bench.cpp) with the fp32 GEMM rate,
#   4. times the same stages of the reference (transformers, torch 1.13) with
#      bench_reference.py (refgen), each stage in its own process,
#   5. prints both and the ratios sam3rt / reference (bench/compare.py).
#
#   bench/run_bench.sh [--out DIR] [--model DIR] [--build-dir DIR] [--reps N] [--ref-reps N]
#                      [--stages LIST] [--ref-stages LIST] [--no-reference] [--no-malloc-diagnostic]
#
# The reference needs transformers' source tree (a checkout's src/, or the fork mirrored
# as transformers_4573: its packages are renamed back in a copy under --out) through
# SAM3_TRANSFORMERS_SRC or --transformers-src, and /usr/bin/python3 with Debian's
# python3-torch, -packaging, -filelock, -tqdm, -httpx, -regex, -yaml (installed here with
# apt-get when missing). refgen's folder: SAM3_REFGEN or ../shared/tools/refgen.
# A full run takes 40-60 minutes on the 2-core machine (the reference's ViT alone is
# ~85 s per pass); outputs land in --out (default build/bench-results).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build"
OUT=""
MODEL="${TMPDIR:-/tmp}/sam3-full"
REPS=0
REF_REPS=0
STAGES="gemm,vision,text,detector_text,detector_text_2boxes,e2e,tracker_embed,tracker_prompt"
REF_STAGES="gemm,vision,text,detector_text,detector_text_2boxes,e2e,tracker_embed,tracker_prompt"
WITH_REF=1
MALLOC_DIAG=1
TF_SRC="${SAM3_TRANSFORMERS_SRC:-}"
REFGEN="${SAM3_REFGEN:-$ROOT/../shared/tools/refgen}"
MANIFEST="$ROOT/../shared/fixtures/sam3-full-manifest"
[ -d "$MANIFEST" ] || MANIFEST="$ROOT/tests/data/sam3-full-manifest"

while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --model) MODEL="$2"; shift 2 ;;
    --build-dir) BUILD="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    --ref-reps) REF_REPS="$2"; shift 2 ;;
    --stages) STAGES="$2"; shift 2 ;;
    --ref-stages) REF_STAGES="$2"; shift 2 ;;
    --no-reference) WITH_REF=0; shift ;;
    --no-malloc-diagnostic) MALLOC_DIAG=0; shift ;;
    --transformers-src) TF_SRC="$2"; shift 2 ;;
    --refgen) REFGEN="$2"; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "run_bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
OUT="${OUT:-$BUILD/bench-results}"
mkdir -p "$OUT"
log() { echo "[run_bench] $*" >&2; }

# 1. Build.
if [ ! -f "$BUILD/build.ninja" ] && [ ! -f "$BUILD/Makefile" ]; then
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$BUILD" --target sam3rt_bench sam3rt_cli -j"$(nproc)"

# 2. Checkpoint.
if [ ! -f "$MODEL/model.safetensors" ]; then
  log "making the full-size random checkpoint in $MODEL"
  "$BUILD/sam3rt" make-random-checkpoint --config "$ROOT/tests/data/sam3-full-manifest/sam3_video_config.json" \
    --out "$MODEL"
fi

# 3. sam3rt.
log "sam3rt stages: $STAGES (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
"$BUILD/sam3rt_bench" --model "$MODEL" --stages "$STAGES" --reps "$REPS" --breakdown \
  --json "$OUT/sam3rt.json" --md "$OUT/sam3rt.md"

# 4. Reference.
REF_JSON=""
if [ "$WITH_REF" = 1 ]; then
  [ -n "$TF_SRC" ] || { echo "run_bench.sh: set SAM3_TRANSFORMERS_SRC (transformers' src/) or pass --no-reference" >&2; exit 2; }
  [ -f "$REFGEN/bench_reference.py" ] || { echo "run_bench.sh: no bench_reference.py in $REFGEN (set SAM3_REFGEN)" >&2; exit 2; }
  missing=""
  for m in torch packaging filelock tqdm httpx regex yaml numpy PIL requests; do
    /usr/bin/python3 -c "import $m" 2>/dev/null || missing="$missing $m"
  done
  if [ -n "$missing" ]; then
    log "installing Debian packages for:$missing"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get install -y python3-torch python3-packaging python3-filelock python3-tqdm python3-httpx \
      python3-regex python3-yaml python3-numpy python3-pil python3-requests >&2
  fi
  if [ ! -d "$TF_SRC/transformers" ]; then
    # A fork that renames the packages (transformers_4573, huggingface_hub_4573, ...):
    # a copy with the names transformers' own code and bench_reference.py expect.
    fork="$(cd "$TF_SRC" && ls -d transformers_* 2>/dev/null | head -1)"
    [ -n "$fork" ] || { echo "run_bench.sh: $TF_SRC has no transformers package" >&2; exit 2; }
    suffix="${fork#transformers}"
    if [ ! -d "$OUT/transformers-src/transformers" ]; then
      log "copying $TF_SRC/$fork to $OUT/transformers-src/transformers (package names without '$suffix')"
      rm -rf "$OUT/transformers-src"
      mkdir -p "$OUT/transformers-src"
      cp -r "$TF_SRC/$fork" "$OUT/transformers-src/transformers"
      grep -rlE "(transformers|huggingface_hub|tokenizers)$suffix" "$OUT/transformers-src/transformers" \
        | xargs sed -i -E "s/\\b(transformers|huggingface_hub|tokenizers)$suffix\\b/\\1/g"
    fi
    TF_SRC="$OUT/transformers-src"
  fi
  args=(--threads "$(nproc)" --only "$REF_STAGES" --out-json "$OUT/reference.json" --out-md "$OUT/reference.md")
  [ "$MALLOC_DIAG" = 1 ] && args+=(--malloc-diagnostic)
  [ "$REF_REPS" != 0 ] && args+=(--reps "$REF_REPS")
  [ -d "$MANIFEST" ] && args+=(--manifest-dir "$MANIFEST")
  log "reference stages: $REF_STAGES (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
  SAM3_TRANSFORMERS_SRC="$TF_SRC" SAM3_TRANSFORMERS_COMMIT="${SAM3_TRANSFORMERS_COMMIT:-unknown}" \
    /usr/bin/python3 "$REFGEN/bench_reference.py" "${args[@]}"
  REF_JSON="$OUT/reference.json"
fi

# 5. Ratios.
/usr/bin/python3 "$ROOT/bench/compare.py" --sam3rt "$OUT/sam3rt.json" ${REF_JSON:+--reference "$REF_JSON"} \
  --out-md "$OUT/compare.md" --out-json "$OUT/compare.json"
log "results in $OUT (sam3rt.json/.md, reference.json/.md, compare.json/.md); load average now $(cut -d' ' -f1-3 /proc/loadavg)"
