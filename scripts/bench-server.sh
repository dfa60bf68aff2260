#!/usr/bin/env bash
# The server against the engine alone: for each session count N, rwkv-bench's decode rate at batch
# N, then rwkv-server (engine on one thread) under rwkv-loadgen with N sessions x --turns turns x
# --max-tokens tokens, and the server's rate as a share of the engine's. The server also prefills
# every turn's prompt, so it prints both the generated tokens/s and the tokens it processed
# (prompt + generated) per second, plus the engine steps and the mean sequences per step from its
# /metrics. The engine alone also runs the server's workload (rwkv-bench --turn-prompt-tokens: N
# sequences' prompts, of the mean length the server saw, in one step, then --max-tokens decode
# steps in lockstep), which separates the prompts' own cost from the server's.
# --runs N repeats each figure, interleaved, and prints the median.
# A note for the README's benchmarks, not a timed test: run it on a quiet machine.
#
# Usage: scripts/bench-server.sh [--sessions 8,32,64] [--precision int8-fast] [--turns 2]
#          [--max-tokens 64] [--prompt-tokens 0] [--temperature 0] [--top-p 1] [--threads 1]
#          [--store memory:] [--runs 3]
#          [--bin DIR]   (where rwkv-server, rwkv-bench and rwkv-loadgen are; default build/bin)
set -euo pipefail
cd "$(dirname "$0")/.."

sessions=8,32,64
precision=int8-fast
turns=2
max_tokens=64
prompt_tokens=0
temperature=0
top_p=1
threads=1
store=memory:
runs=3
bin=build/bin
while [[ $# -gt 0 ]]; do
  case "$1" in
    --sessions) sessions=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    --turns) turns=$2; shift 2 ;;
    --max-tokens) max_tokens=$2; shift 2 ;;
    --prompt-tokens) prompt_tokens=$2; shift 2 ;;
    --temperature) temperature=$2; shift 2 ;;
    --top-p) top_p=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --store) store=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    *) echo "bench-server.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$bin" = build/bin ] && cmake --build build -j "$(nproc)" \
  --target rwkv-server rwkv-bench rwkv-loadgen > /dev/null

work=$(mktemp -d /tmp/bench-server.XXXXXX)
server=""
stop_server() {
  if [ -n "$server" ]; then
    kill "$server" 2> /dev/null || true
    wait "$server" 2> /dev/null || true
    server=""
  fi
}
trap 'stop_server; rm -rf "$work"' EXIT

# The engine alone at batch $1: "decode_tok_s turn_tok_s", turns of $2 prompt tokens.
engine_rate() {
  "$bin/rwkv-bench" --shape rwkv7-0.1b --precision "$precision" --threads "$threads" --batches "$1" \
    --roofline=false --prefill-prompts 0 --prefill-tokens 16 --turn-prompt-tokens "$2" \
    --turn-new-tokens "$max_tokens" --json "$work/bench.json" > /dev/null
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['decode_tok_s'][sys.argv[2]], r['turn_tok_s'][sys.argv[2]])" \
    "$work/bench.json" "$1"
}

# rwkv_* counters of the server's /metrics that the table needs, as "name value" lines.
scrape() {
  curl -s "127.0.0.1:$1/metrics" | grep -E '^rwkv_(engine_step_duration_seconds_count|engine_step_duration_seconds_sum|batch_sequences_sum|generated_tokens_total|prompt_tokens_total) ' || true
}

# The server under $1 sessions:
# "generated_tok_s processed_tok_s steps seqs_per_step prompt_tokens_per_turn busy_share" (the
# share of the wall time the engine spent in steps).
server_rate() {
  local n=$1 log="$work/server.log" store_arg=$store
  [ "$store" = rocksdb ] && { rm -rf "$work/db"; store_arg="rocksdb:$work/db"; }
  "$bin/rwkv-server" --model synthetic:rwkv7-0.1b --precision "$precision" --threads "$threads" \
    --listen 127.0.0.1:0 --metrics-address 127.0.0.1:0 --state-store "$store_arg" 2> "$log" &
  server=$!
  for _ in $(seq 300); do grep -q " serving " "$log" && break; sleep 0.1; done
  local port metrics
  port=$(sed -n 's/.*(port \([0-9]*\).*/\1/p' "$log" | head -1)
  metrics=$(sed -n 's/.*metrics port \([0-9]*\).*/\1/p' "$log" | head -1)
  local prompt=()
  [ "$prompt_tokens" -gt 0 ] && prompt=(--prompt-tokens "$prompt_tokens")
  local load=(--server "127.0.0.1:$port" --sessions "$n" --max-tokens "$max_tokens"
              --temperature "$temperature" --top-p "$top_p" "${prompt[@]}")
  "$bin/rwkv-loadgen" "${load[@]}" --turns 1 > /dev/null 2>&1  # warm-up, not measured
  scrape "$metrics" > "$work/before"
  "$bin/rwkv-loadgen" "${load[@]}" --turns "$turns" --json "$work/load.json" > /dev/null 2>&1
  scrape "$metrics" > "$work/after"
  stop_server
  python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def read(name):
    return {line.split()[0]: float(line.split()[1]) for line in open(f"{work}/{name}") if line.strip()}
before, after = read("before"), read("after")
d = {k: after[k] - before.get(k, 0) for k in after}
report = json.load(open(f"{work}/load.json"))
wall = report["wall_s"]
steps = d["rwkv_engine_step_duration_seconds_count"]
processed = d["rwkv_generated_tokens_total"] + d["rwkv_prompt_tokens_total"]
prompt = round(d["rwkv_prompt_tokens_total"] / (report["sessions"] * report["turns"]))
busy = d["rwkv_engine_step_duration_seconds_sum"] / wall
print(report["throughput_tok_s"], processed / wall, steps, d["rwkv_batch_sequences_sum"] / steps,
      max(prompt, 1), busy)
PY
}

median() { python3 -c "import statistics,sys; print(statistics.median(map(float, sys.argv[1:])))" "$@"; }

echo "| sessions | engine alone, batch N | engine alone, the same turns | server generated tok/s | share of batch N | share of the same turns | server processed tok/s | share of batch N | engine steps | sequences per step | engine busy |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in ${sessions//,/ }; do
  engine=() turn=() generated=() processed=() steps=() per_step=() busy=()
  for _ in $(seq "$runs"); do
    read -r g p s q prompt b < <(server_rate "$n")
    generated+=("$g") processed+=("$p") steps+=("$s") per_step+=("$q") busy+=("$b")
    read -r e t < <(engine_rate "$n" "$prompt")
    engine+=("$e") turn+=("$t")
  done
  python3 - "$n" "$(median "${engine[@]}")" "$(median "${turn[@]}")" \
    "$(median "${generated[@]}")" "$(median "${processed[@]}")" "$(median "${steps[@]}")" \
    "$(median "${per_step[@]}")" "$(median "${busy[@]}")" <<'PY'
import sys
n, engine, turn, gen, proc, steps, per_step, busy = sys.argv[1], *map(float, sys.argv[2:])
print(f"| {n} | {engine:.0f} | {turn:.0f} | {gen:.0f} | {100 * gen / engine:.0f}% | "
      f"{100 * gen / turn:.0f}% | {proc:.0f} | {100 * proc / engine:.0f}% | {steps:.0f} | "
      f"{per_step:.1f} | {100 * busy:.0f}% |")
PY
done
echo
echo "rwkv7-0.1b (synthetic), $precision, engine on $threads thread(s); $turns turns x $max_tokens tokens per" \
  "session, prompt: $([ "$prompt_tokens" -gt 0 ] && echo "$prompt_tokens tokens" || echo "loadgen's default (102 bytes)"), temperature $temperature, top_p $top_p, store $store; medians of $runs"
