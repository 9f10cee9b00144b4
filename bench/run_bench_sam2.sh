#!/usr/bin/env bash
# SAM 2.1 / SAM 2: sam3rt vs the reference (transformers' Sam2Model / Sam2VideoModel) in
# one run, per size (issue #13; docs/performance.md "SAM 2.1"):
#   1. builds sam3rt_bench and the CLI,
#   2. makes each size's full-size random checkpoint if missing (outside the repo), from
#      tests/data/sam2-full-manifest/<version>-hiera-<size>.sam2_video_config.json,
#   3. times sam3rt: tracker_embed (Hiera + neck), tracker_prompt (one click, 3 masks,
#      cached embedding), video with 1 and 5 objects (per frame, 1280x720 frames),
#   4. times the reference on the same stages (bench/reference_sam2.py),
#   5. prints both medians and the ratio sam3rt / reference.
#
#   bench/run_bench_sam2.sh [--sizes "tiny large"] [--version sam2.1] [--out DIR]
#                           [--transformers-src DIR] [--no-reference] [--objects 1,5] [--frames 8]
#
# The reference needs transformers' source tree (SAM2_TRANSFORMERS_SRC or --transformers-src:
# the directory holding the `transformers` package) and /usr/bin/python3 with Debian's
# python3-torch and python3-numpy. On the 2-core machine: tiny about 5 minutes, large about 25.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD_DIR:-$ROOT/build}"
SIZES="tiny large"
VERSION="sam2.1"
OUT=""
TF_SRC="${SAM2_TRANSFORMERS_SRC:-}"
WITH_REF=1
OBJECTS="1,5"
FRAMES=8  # per video run, the first 3 warm-up (both sides)
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) SIZES="$2"; shift 2 ;;
    --version) VERSION="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --transformers-src) TF_SRC="$2"; shift 2 ;;
    --no-reference) WITH_REF=0; shift ;;
    --objects) OBJECTS="$2"; shift 2 ;;
    --frames) FRAMES="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "run_bench_sam2.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
OUT="${OUT:-$BUILD/bench-sam2}"
mkdir -p "$OUT"
log() { echo "[run_bench_sam2] $*" >&2; }
if [ "$WITH_REF" = 1 ] && [ -z "$TF_SRC" ]; then
  echo "run_bench_sam2.sh: set SAM2_TRANSFORMERS_SRC or pass --transformers-src (or --no-reference)" >&2
  exit 2
fi

cmake --build "$BUILD" --target sam3rt_bench sam3rt_cli -j"$(nproc)" >&2
log "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"

for size in $SIZES; do
  name="$VERSION-hiera-$size"
  config="$ROOT/tests/data/sam2-full-manifest/$name.sam2_video_config.json"
  [ -f "$config" ] || { echo "run_bench_sam2.sh: no config $config" >&2; exit 2; }
  model="${TMPDIR:-/tmp}/$name"
  if [ ! -f "$model/model.safetensors" ]; then
    log "making the full-size random checkpoint $model"
    "$BUILD/sam3rt" make-random-checkpoint --config "$config" --out "$model" >&2
  fi
  log "$name: sam3rt (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  "$BUILD/sam3rt_bench" --model "$model" --stages tracker_embed,tracker_prompt,video --video-objects "$OBJECTS" \
    --reps 3 --video-frames "$FRAMES" --json "$OUT/$name.sam3rt.json" --md "$OUT/$name.sam3rt.md"
  if [ "$WITH_REF" = 1 ]; then
    log "$name: reference (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    /usr/bin/python3 "$ROOT/bench/reference_sam2.py" --config "$config" --transformers-src "$TF_SRC" \
      --objects "$OBJECTS" --frames "$FRAMES" --threads "$(nproc)" --out-json "$OUT/$name.reference.json"
  fi
done

# Both sides per size and stage, and the ratio.
/usr/bin/python3 - "$OUT" "$VERSION" $SIZES <<'EOF'
import json, os, sys
out, version, sizes = sys.argv[1], sys.argv[2], sys.argv[3:]
lines = ["| model | stage | sam3rt median (s) | reference median (s) | sam3rt / reference |", "|---|---|---|---|---|"]
for size in sizes:
    name = f"{version}-hiera-{size}"
    def load(kind):
        p = os.path.join(out, f"{name}.{kind}.json")
        if not os.path.exists(p):
            return {}
        with open(p) as f:
            return {r["stage"]: r["median_s"] for r in json.load(f).get("stages", []) if "median_s" in r}
    ours, ref = load("sam3rt"), load("reference")
    for stage in sorted(set(ours) | set(ref)):
        o, r = ours.get(stage), ref.get(stage)
        ratio = f"{o / r:.2f}" if o is not None and r else "-"
        lines.append(f"| {name} | {stage} | {o if o is None else f'{o:.3f}'} | {r if r is None else f'{r:.3f}'} | {ratio} |")
text = "\n".join(lines) + "\n"
with open(os.path.join(out, "compare.md"), "w") as f:
    f.write(text)
print(text)
EOF
log "results in $OUT"
