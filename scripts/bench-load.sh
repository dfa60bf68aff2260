#!/usr/bin/env bash
# Load time and memory of one model as the files people download: writes synthetic:rwkv7-0.1b
# (or SHAPE) as FP16 and FP32 rwkv.cpp .bin, f16 and bf16 .pth and an F16 GGUF
# (rwkv-write-checkpoints), then loads each with `rwkv-bench --load-only` under /usr/bin/time -v in
# every precision, and prints a markdown table: load times, the weights in their compute format,
# the resident memory right after loading (VmRSS) and the peak (/usr/bin/time's maximum RSS). The
# synthetic source itself (no file) is the baseline row.
#
# Every load runs twice; the table gives both load times and the second run's peak RSS. Both runs
# read from a warm page cache (the files were just written; dropping the cache needs root).
#
# Usage: scripts/bench-load.sh [--shape rwkv7-0.1b] [--keep DIR] [extra rwkv-bench flags...]
set -euo pipefail
cd "$(dirname "$0")/.."

shape=rwkv7-0.1b
keep=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --shape) shape=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    *) break ;;
  esac
done

if [[ ! -f build/CMakeCache.txt ]]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
elif ! grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' build/CMakeCache.txt; then
  echo "bench-load.sh: build/ is not a Release build; timings would not be comparable" >&2
  exit 1
fi
cmake --build build -j "$(nproc)" --target rwkv-bench rwkv-write-checkpoints > /dev/null

if [[ -n "$keep" ]]; then
  dir=$keep
  mkdir -p "$dir"
else
  dir=$(mktemp -d /tmp/bench-load.XXXXXX)
  trap 'rm -rf "$dir"' EXIT
fi
echo "writing synthetic:$shape to $dir ..." >&2
build/tests/rwkv-write-checkpoints --model "synthetic:$shape" --out "$dir" --fp32_bin > /dev/null

precisions=(int8 f32)
if grep -qE 'avx512_bf16|amx_bf16' /proc/cpuinfo; then precisions+=(bf16); fi

# One load: prints "SECONDS PEAK_RSS_KIB RSS_AFTER_LOAD_MIB WEIGHTS_MIB".
load_once() {
  local model=$1 precision=$2 out
  out=$( { /usr/bin/time -v build/bin/rwkv-bench --load-only --model "$model" \
             --precision "$precision" "${@:3}"; } 2>&1 ) || {
    echo "rwkv-bench failed on $model ($precision):" >&2
    echo "$out" >&2
    return 1
  }
  local seconds rss steady
  seconds=$(sed -n 's/.*loaded in \([0-9.]*\) s.*/\1/p' <<< "$out")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): \([0-9]*\).*/\1/p' <<< "$out")
  steady=$(sed -n 's/.*memory after load: \([0-9.]*\) MiB resident (weights \([0-9.]*\) MiB).*/\1 \2/p' \
             <<< "$out")
  echo "$seconds $rss $steady"
}

rows=()
measure() {
  local label=$1 model=$2 size=$3 precision first second
  for precision in "${precisions[@]}"; do
    echo "loading $label ($precision) ..." >&2
    first=($(load_once "$model" "$precision" "${extra[@]}"))
    second=($(load_once "$model" "$precision" "${extra[@]}"))
    rows+=("| $label | $size | $precision | ${first[0]} | ${second[0]} | ${second[3]} | ${second[2]} | $(( second[1] / 1024 )) |")
  done
}

extra=("$@")
mib() { echo "$(( $(stat -c %s "$1") / 1048576 )) MiB"; }
measure "synthetic (no file)" "synthetic:$shape" "-"
measure "rwkv.cpp .bin FP16" "$dir/model-FP16.bin" "$(mib "$dir/model-FP16.bin")"
measure "rwkv.cpp .bin FP32" "$dir/model-FP32.bin" "$(mib "$dir/model-FP32.bin")"
measure "PyTorch .pth f16" "$dir/model-f16.pth" "$(mib "$dir/model-f16.pth")"
measure "PyTorch .pth bf16" "$dir/model-bf16.pth" "$(mib "$dir/model-bf16.pth")"
measure "GGUF F16" "$dir/model-F16.gguf" "$(mib "$dir/model-F16.gguf")"

echo
echo "synthetic:$shape; $(nproc) CPUs; rwkv-bench --load-only ${extra[*]:-}"
echo "load s: first / second run, both from a warm page cache; weights: in their compute format;"
echo "RSS after load (VmRSS) and peak RSS (/usr/bin/time -v): second run"
echo
echo "| format | file size | precision | load s (1st) | load s (2nd) | weights MiB | RSS after load MiB | peak RSS MiB |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
