#!/usr/bin/env bash
# Runs rwkv-bench for the RWKV-7 shapes in every precision at 1 and 2 threads, printing each table
# and writing one JSON file per run into OUT_DIR (default bench-results/).
# Usage: scripts/bench.sh [OUT_DIR] [extra rwkv-bench flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-results}
shift || true
mkdir -p "$out"
for shape in rwkv7-0.1b rwkv7-0.4b; do
  for precision in f32 bf16 int8 int8-fast q8_0; do
    for threads in 1 2; do
      echo "=== $shape $precision threads=$threads"
      build/bin/rwkv-bench --shape "$shape" --precision "$precision" --threads "$threads" \
        --json "$out/$shape-$precision-$threads.json" "$@"
    done
  done
done
