#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install packages, build, run every
# GoogleTest case through ctest, the fuzzers, the browser test of the server's page and
# the tests again under ASan + UBSan (scripts/sanitize.sh --ci, its own build).
# Ends with one summary line. The fuzzers run repeatably: a fixed seed and at most
# FUZZ_RUNS inputs each (default 300000), stopping at FUZZ_SECONDS (default 60) on a slower
# machine, so CI checks the inputs that were checked before a change landed and does not
# fail on a new random discovery; the searching runs are longer, with random seeds
# (docs/reliability.md).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
scripts/setup.sh
scripts/build.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" --timeout 900 2>&1 | tee "$log"
FUZZ_SEED=${FUZZ_SEED:-1} FUZZ_RUNS=${FUZZ_RUNS:-300000} scripts/fuzz.sh
scripts/browser_test.sh
scripts/sanitize.sh --ci
# ctest's own closing line, restated last: "N passed, M failed".
sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\1 \2/p' "$log" |
  awk '{print "ctest: " ($2 - $1) " passed, " $1 " failed"}'
