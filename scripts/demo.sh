#!/usr/bin/env bash
# Sets up, builds and runs sam3rt's main job: concept segmentation of a bundled photo
# with a text prompt, writing out/demo/overlay.png and out/demo/result.json.
#
# With real weights: SAM3RT_MODEL=/path/to/facebook-sam3 scripts/demo.sh
# Without, it makes a small random-weight checkpoint (real CLIP vocabulary, tiny widths)
# from assets/demo/config.json: the pipeline runs end to end but its masks are
# meaningless, and the output says so.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh >/dev/null
build=${BUILD_DIR:-build}
image=${SAM3RT_IMAGE:-assets/demo/groceries.jpg}
text=${SAM3RT_TEXT:-bag}
out=${SAM3RT_OUT:-out/demo}
threshold=0.5
if [ -n "${SAM3RT_MODEL:-}" ]; then
  model=$SAM3RT_MODEL
else
  model=$build/demo-model
  if [ ! -f "$model/model.safetensors" ]; then
    "$build/sam3rt" make-random-checkpoint --config assets/demo/config.json --out "$model" --seed 1 >/dev/null
  fi
  # Random scores are low: show the top guesses so the overlay has something to draw.
  threshold=${SAM3RT_THRESHOLD:-0.05}
fi
"$build/sam3rt" segment --model "$model" --image "$image" --text "$text" --threshold "$threshold" --out "$out"
