#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, ASan + UBSan, in build-fuzz/), writes their
# seed corpora from ../shared into a scratch folder, and runs each target for a bounded time, one
# after another. Exits non-zero if any target crashes (or trips a sanitizer or one of its checks);
# the input that did it is kept and its path printed.
# Usage: scripts/fuzz.sh [--seconds N] [--runs N] [--corpus DIR] [TARGET...] [-- LIBFUZZER_ARGS]
#   --seconds N:  run each target at most N seconds (default 12)
#   --runs N:     and at most N executions (default: no limit)
#   --corpus DIR: keep corpora, logs and crash inputs in DIR (default: a temporary folder,
#                 removed when nothing crashed); a later run with the same DIR goes on from there
#   TARGET:       only these targets (default: all), e.g. stop_matcher_fuzzer
# Test data is read from ../shared (override with RWKV_SHARED_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(state_blob_fuzzer session_record_fuzzer model_file_fuzzer world_vocab_fuzzer
             generate_request_fuzzer stop_matcher_fuzzer safetensors_fuzzer gguf_fuzzer
             model_formats_fuzzer)
all_targets+=(torch_checkpoint_fuzzer pickle_fuzzer)
all_targets+=(bpe_tokenizer_fuzzer)
all_targets+=(openai_request_fuzzer)
all_targets+=(sampler_fuzzer)
seconds=12
runs=-1
work=""
targets=()
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --corpus) work="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -*) echo "fuzz: unknown option $1 (see the top of $0)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
# Every target in tests/fuzz is on the list above, so that none is silently left out of CI.
for source in tests/fuzz/*_fuzzer.cc; do
  name=$(basename "$source" .cc)
  if [[ " ${all_targets[*]} " != *" $name "* ]]; then
    echo "fuzz: $source is not in all_targets (scripts/fuzz.sh)" >&2
    exit 2
  fi
done
export RWKV_SHARED_DIR="${RWKV_SHARED_DIR:-$(cd .. && pwd)/shared}"

scripts/install-deps.sh
# Only the fuzz targets and the libraries they link: no tests, no server.
options=(-DCMAKE_CXX_COMPILER=clang++ -DRWKV_FUZZ=ON -DRWKV_BUILD_TESTS=OFF
         -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -gline-tables-only")
if command -v ccache > /dev/null; then options+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B build-fuzz "${options[@]}" > /dev/null
cmake --build build-fuzz -j "$(nproc)" --target rwkv-fuzz-seeds "${targets[@]}"

temporary=0
if [ -z "$work" ]; then
  work=$(mktemp -d "${TMPDIR:-/tmp}/rwkv-fuzz.XXXXXX")
  temporary=1
fi
mkdir -p "$work/corpus" "$work/logs" "$work/crashes"
build-fuzz/fuzz/rwkv-fuzz-seeds --shared "$RWKV_SHARED_DIR" --out "$work/corpus"
# A target without seeds starts from nothing and, in CI's few seconds, reaches almost nothing:
# rwkv-fuzz-seeds (tests/fuzz/seed_corpus_main.cc) must write some for every target.
for target in "${targets[@]}"; do
  if [ -z "$(ls -A "$work/corpus/$target" 2> /dev/null)" ]; then
    echo "fuzz: no seeds for $target: add them to tests/fuzz/seed_corpus_main.cc" >&2
    exit 2
  fi
done

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
final_stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -1; }
failed=()
for target in "${targets[@]}"; do
  log="$work/logs/$target.log"
  status=0
  # -timeout: an input that runs 25 s counts as a hang, which fails the run too.
  "build-fuzz/fuzz/$target" -max_total_time="$seconds" -runs="$runs" -timeout=25 \
    -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$work/crashes/$target-" \
    ${extra[@]+"${extra[@]}"} "$work/corpus/$target" > "$log" 2>&1 || status=$?
  coverage=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*' "$log" | tail -1 || true)
  echo "fuzz: $target: $(final_stat number_of_executed_units "$log") runs," \
       "$(final_stat average_exec_per_sec "$log")/s, ${coverage:-no coverage line}, exit $status"
  if [ "$status" -ne 0 ]; then
    failed+=("$target")
    tail -n 40 "$log" >&2
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}; inputs in $work/crashes, logs in $work/logs" >&2
  ls -l "$work/crashes" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets ran without a crash"
if [ "$temporary" -eq 1 ]; then rm -rf "$work"; fi
