#!/usr/bin/env bash
# The same streamed load over gRPC and over the OpenAI-compatible HTTP API (rwkv-loadgen, and
# rwkv-loadgen --http: the same loader and measurements, only the transport differs) against one
# rwkv-server on the tiny model: throughput, time to first token (p50, p99) and inter-token
# latency at 1, 8 and 32 concurrent streams, as a markdown table.
# A note for the README's benchmarks, not a timed test: run it on a quiet machine.
#
# Usage: scripts/bench-http.sh [--turns 8] [--max-tokens 64] [--model FILE]
set -euo pipefail
cd "$(dirname "$0")/.."

turns=8
max_tokens=64
model=${RWKV_SHARED_DIR:-../shared}/models/tiny-rwkv-7v0-834K-FP32.bin
while [[ $# -gt 0 ]]; do
  case "$1" in
    --turns) turns=$2; shift 2 ;;
    --max-tokens) max_tokens=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    *) echo "bench-http.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
cmake --build build -j "$(nproc)" --target rwkv-server rwkv-loadgen > /dev/null

log=$(mktemp /tmp/bench-http.XXXXXX)
build/bin/rwkv-server --model "$model" --listen 127.0.0.1:0 --metrics-address '' \
  --http-address 127.0.0.1:0 --state-store memory: --precision f32 2> "$log" &
server=$!
trap 'kill "$server" 2> /dev/null || true; wait "$server" 2> /dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q " serving " "$log" && break; sleep 0.1; done
grpc_port=$(sed -n 's/.*(port \([0-9]*\).*/\1/p' "$log" | head -1)
http_port=$(sed -n 's/.*(http port \([0-9]*\).*/\1/p' "$log" | head -1)

echo "| streams | protocol | tokens/s | TTFT p50 (ms) | TTFT p99 (ms) | inter-token p50 (ms) |"
echo "|---:|---|---:|---:|---:|---:|"
for streams in 1 8 32; do
  # gRPC then HTTP, the same loader and load: only the transport differs.
  for protocol in gRPC HTTP; do
    http_flag=""
    [ "$protocol" = HTTP ] && http_flag="--http 127.0.0.1:$http_port"
    json=$(mktemp /tmp/bench-http-report.XXXXXX)
    build/bin/rwkv-loadgen --server "127.0.0.1:$grpc_port" $http_flag --sessions "$streams" \
      --turns "$turns" --warmup-turns 1 --max-tokens "$max_tokens" --no-sessions \
      --json "$json" > /dev/null 2>&1
    python3 - "$json" "$streams" "$protocol" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
print(f"| {sys.argv[2]} | {sys.argv[3]} | {report['throughput_tok_s']:.0f} | "
      f"{report['ttft_s']['p50'] * 1e3:.1f} | {report['ttft_s']['p99'] * 1e3:.1f} | "
      f"{report['inter_token_s']['p50'] * 1e3:.2f} |")
PY
    rm -f "$json"
  done
done
