#!/usr/bin/env bash
# Runs `sam3rt segment` with a FULL-SIZE random-weight checkpoint (the facebook/sam3
# architecture: 860 M parameters, 1008x1008 input) on a real photo and prints the
# per-stage timings. Makes the 3.4 GB checkpoint once (FULL_MODEL, default
# build/sam3-full-random). Its masks are meaningless; the timings are real.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
model=${FULL_MODEL:-$build/sam3-full-random}
image=${FULL_IMAGE:-assets/demo/groceries.jpg}
scripts/build.sh >/dev/null
if [ ! -f "$model/model.safetensors" ]; then
  echo "making $model (3.4 GB, about a minute)"
  "$build/sam3rt" make-random-checkpoint --config tests/data/sam3-full-manifest/sam3_video_config.json \
    --out "$model" --seed 0
fi
"$build/sam3rt" info "$model" | sed -n '1,8p'
/usr/bin/time -v "$build/sam3rt" segment --model "$model" --image "$image" --text "bag" --text "paper bag" \
  --out "${FULL_OUT:-out/full-size}" 2> >(grep -E "Maximum resident|Elapsed|sam3rt" >&2)
