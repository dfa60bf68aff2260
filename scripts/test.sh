#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite through CTest.
# Usage: scripts/test.sh [--sanitize | --tsan]
#   --sanitize: the same suite under ASan + UBSan
#   --tsan:     the tests labelled `concurrency` (scheduler, sessions, turns, the server end to
#               end) under ThreadSanitizer, in build-tsan (see scripts/build.sh --tsan)
# Test data is read from ../shared (override with RWKV_SHARED_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh "$@"
# The Node.js client test's modules (tests/node/package-lock.json), once per lock file. Without
# them that test skips, saying so; the rest of the suite does not need them.
node_lock=tests/node/package-lock.json
node_stamp=tests/node/node_modules/.installed-lock.json
if ! cmp -s "$node_lock" "$node_stamp" 2>/dev/null; then
  if (cd tests/node && npm ci --no-audit --no-fund --loglevel=error); then
    cp "$node_lock" "$node_stamp"
  else
    echo "test.sh: warning: npm ci in tests/node failed; node_client_e2e_test will skip" >&2
  fi
fi
build_dir=build
ctest_args=()
run=()
if [ "${1:-}" = "--sanitize" ]; then
  build_dir=build-asan
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
elif [ "${1:-}" = "--tsan" ]; then
  build_dir=build-tsan
  ctest_args=(-L concurrency)  # TSAN_OPTIONS come with each test (tests/CMakeLists.txt)
  # Clang 14's TSan cannot map its shadow memory beside more than 28 bits of mmap randomness
  # (newer kernels' default may be 32): then run without address randomization.
  if [ "$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 28)" -gt 28 ]; then
    run=(setarch "$(uname -m)" -R)
  fi
fi
# Spinning OpenMP workers of parallel test processes would starve each other on small machines.
export OMP_WAIT_POLICY=passive
"${run[@]}" ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" "${ctest_args[@]}"
