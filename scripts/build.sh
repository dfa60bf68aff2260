#!/usr/bin/env bash
# Configures and builds rwkv-serve. Binaries land in build/bin (build-asan/bin with --sanitize).
# Usage: scripts/build.sh [--sanitize | --clang | --tsan]
#   --sanitize: ASan + UBSan build in build-asan
#   --clang:    clang build in build-clang with -Wthread-safety -Werror=thread-safety, which checks
#               the ABSL_GUARDED_BY annotations (GCC ignores them); -O1 to keep CI short
#   --tsan:     ThreadSanitizer build in build-tsan, with clang, so it checks the annotations as
#               --clang does; first builds Debian's Abseil synchronization library with TSan
#               (scripts/tsan-abseil.sh, into build-tsan/tsan-lib), without which TSan cannot see
#               absl::Mutex
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=build
options=(-DCMAKE_BUILD_TYPE=Release)
if [ "${1:-}" = "--sanitize" ]; then
  build_dir=build-asan
  # -O1 with line tables only: the sanitizer build is for finding bugs, and CI builds it from
  # scratch on two cores.
  options=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" -DRWKV_SANITIZE=ON)
elif [ "${1:-}" = "--clang" ]; then
  build_dir=build-clang
  options=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g0"
           -DCMAKE_CXX_COMPILER=clang++)
elif [ "${1:-}" = "--tsan" ]; then
  build_dir=build-tsan
  scripts/tsan-abseil.sh "$build_dir/tsan-lib"
  # Line tables only (-g1): TSan's reports then name files and lines.
  options=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1"
           -DCMAKE_CXX_COMPILER=clang++ -DRWKV_TSAN=ON
           "-DRWKV_TSAN_LIBRARY_DIR=$PWD/$build_dir/tsan-lib")
fi
# A developer's ccache, when there is one, makes rebuilds in several build folders cheap.
if command -v ccache > /dev/null; then options+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
jobs=$(nproc)
cmake -S . -B "$build_dir" "${options[@]}" > /dev/null
cmake --build "$build_dir" -j "$jobs"
