#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install packages, build, run every
# GoogleTest case through ctest, the fuzzers (FUZZ_SECONDS each, default 60) and the
# browser test of the server's page. Ends with one summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
scripts/setup.sh
scripts/build.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" --timeout 900 2>&1 | tee "$log"
scripts/fuzz.sh
scripts/browser_test.sh
# ctest's own closing line, restated last: "N passed, M failed".
sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\1 \2/p' "$log" |
  awk '{print "ctest: " ($2 - $1) " passed, " $1 " failed"}'
