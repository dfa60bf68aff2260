#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite through CTest.
# Usage: scripts/test.sh [--sanitize]   (--sanitize: the same suite under ASan + UBSan)
# Test data is read from ../shared (override with RWKV_SHARED_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh "$@"
build_dir=build
if [ "${1:-}" = "--sanitize" ]; then
  build_dir=build-asan
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi
# Spinning OpenMP workers of parallel test processes would starve each other on small machines.
export OMP_WAIT_POLICY=passive
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)"
