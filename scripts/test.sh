#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install packages, build, run every
# GoogleTest case through ctest, then the fuzzers (FUZZ_SECONDS each, default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)"
scripts/fuzz.sh
