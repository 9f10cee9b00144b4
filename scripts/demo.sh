#!/usr/bin/env bash
# Sets up, builds and runs sam3rt's main job on the bundled tiny checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh >/dev/null
model=${SAM3RT_MODEL:-tests/data/sam3-tiny-seed0/sam3_video}
"${BUILD_DIR:-build}/sam3rt" info "$model"
