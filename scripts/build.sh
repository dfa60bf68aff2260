#!/usr/bin/env bash
# Configures and builds rwkv-serve. Binaries land in build/bin (build-asan/bin with --sanitize).
# Usage: scripts/build.sh [--sanitize]
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=build
options=(-DCMAKE_BUILD_TYPE=Release)
if [ "${1:-}" = "--sanitize" ]; then
  build_dir=build-asan
  # -O1 with line tables only: the sanitizer build is for finding bugs, and CI builds it from
  # scratch on two cores.
  options=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" -DRWKV_SANITIZE=ON)
fi
jobs=$(nproc)
cmake -S . -B "$build_dir" "${options[@]}" > /dev/null
cmake --build "$build_dir" -j "$jobs"
