#!/usr/bin/env bash
# The unit tests under AddressSanitizer + UndefinedBehaviorSanitizer: builds everything
# with -DSAM3RT_SANITIZE=ON (-O1, no benchmarks) into ${BUILD_DIR:-build-asan} and runs
# ctest there. Any sanitizer report fails its test (UBSan halts, ASan aborts; leaks are
# reported at exit, LibTorch's own process-lifetime allocations suppressed by
# scripts/lsan.supp).
#
# Left out, and why:
#   Python.pytest, Install.ConsumerExamples: they load libsam3rt.so into python3 and into
#     programs built outside this build, which do not carry the ASan runtime;
#   tests matching SAM3RT_SANITIZE_EXCLUDE (default: none more).
# LibTorch itself is not instrumented: memory errors inside ATen are not seen, ours are.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build-asan}
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
  -DCMAKE_C_FLAGS_RELEASE="-O1 -DNDEBUG" -DSAM3RT_SANITIZE=ON -DSAM3RT_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
exclude='^(Python\.pytest|Install\.ConsumerExamples)$'
if [[ -n "${SAM3RT_SANITIZE_EXCLUDE:-}" ]]; then exclude="$exclude|$SAM3RT_SANITIZE_EXCLUDE"; fi
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0:suppressions=$PWD/scripts/asan.supp"
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" --timeout 1800 -E "$exclude"
