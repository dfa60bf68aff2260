#!/usr/bin/env bash
# Benchmarks of many replicas: rwkv-loadgen through the shipped nginx balancer against one and
# two replicas on one Redis, and resuming a long session from Redis, from RocksDB and from the
# hot cache (with the commit cost per turn of each). Prints tables; writes loadgen JSON to OUT_DIR.
#
# Usage: scripts/bench-replicas.sh [OUT_DIR]   (after scripts/build.sh; uses redis-server, nginx)
# Env: MODELS (default "tiny synthetic:rwkv7-0.1b"), HISTORY (10000), SESSIONS (8), TURNS (4),
#      MAX_TOKENS (32), REPEATS (20).
#
# One machine's cores are shared by every process here: one replica gets all of them
# (--threads = nproc), two replicas half each, so the comparison shows what a second replica
# costs or buys on the same cores, not what a second machine would.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-results/replicas}
mkdir -p "$out"
bin=build/bin
tiny=../shared/models/tiny-rwkv-7v0-834K-FP32.bin
models=${MODELS:-"tiny synthetic:rwkv7-0.1b"}
history=${HISTORY:-10000}
cores=$(nproc)

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_until() {  # wait_until DESCRIPTION COMMAND...: up to 120 s
  local what=$1
  shift
  for _ in $(seq 1 600); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "bench-replicas: $what did not come up" >&2
  return 1
}

stop() {  # stop PID: SIGTERM, then wait for it
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

start_redis() {  # sets redis_port, redis_pid
  redis_port=$(free_port)
  mkdir -p "$work/redis-$redis_port"
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis-$redis_port" \
    --appendonly yes --appendfsync always --save '' --logfile "$work/redis-$redis_port/log" &
  redis_pid=$!
  pids+=("$redis_pid")
  wait_until "redis-server" redis-cli -p "$redis_port" ping
}

start_server() {  # start_server MODEL THREADS STORE [FLAGS...]: sets server_port, server_pid
  local model=$1 threads=$2 store=$3
  shift 3
  [ "$model" = tiny ] && model=$tiny
  server_port=$(free_port)
  "$bin/rwkv-server" --model "$model" --precision int8 --threads "$threads" \
    --state-store "$store" --listen "127.0.0.1:$server_port" \
    --metrics-address "127.0.0.1:$(free_port)" "$@" >"$work/server-$server_port.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  wait_until "rwkv-server on $server_port" "$bin/rwkv-cli" --server "127.0.0.1:$server_port" health
}

start_nginx() {  # start_nginx PORT...: the shipped config in front of those replicas; sets nginx_port
  local dir="$work/nginx-$RANDOM"
  mkdir -p "$dir"
  nginx_port=$(free_port)
  for port in "$@"; do echo "server 127.0.0.1:$port;"; done >"$dir/rwkv-upstreams.conf"
  sed -e "s/listen 8080 http2;/listen 127.0.0.1:$nginx_port http2;/" \
    deploy/nginx/rwkv-grpc.conf >"$dir/rwkv-grpc.conf"
  sed -e "s#access_log /dev/stdout rwkv_grpc;#access_log off;#" \
    deploy/nginx/rwkv-grpc-routes.conf >"$dir/rwkv-grpc-routes.conf"
  cat >"$dir/nginx.conf" <<CONF
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  include $dir/rwkv-grpc.conf;
}
CONF
  nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' &
  nginx_pid=$!
  pids+=("$nginx_pid")
  wait_until "nginx" "$bin/rwkv-cli" --server "127.0.0.1:$nginx_port" health
}

loadgen() {  # loadgen NAME PORT
  echo "--- $1"
  "$bin/rwkv-loadgen" --server "127.0.0.1:$2" --sessions "${SESSIONS:-8}" \
    --turns "${TURNS:-4}" --warmup_turns 1 --max_tokens "${MAX_TOKENS:-32}" --ignore_eos \
    --json "$out/$1.json"
}

start_redis
redis="redis://127.0.0.1:$redis_port"
for model in $models; do
  name=${model#synthetic:}
  echo "=== rwkv-loadgen through nginx, $name int8, $cores cores"
  start_server "$model" "$cores" "$redis"
  one=$server_pid
  start_nginx "$server_port"
  loadgen "$name-one-replica" "$nginx_port"
  stop "$nginx_pid"
  stop "$one"
  start_server "$model" $(((cores + 1) / 2)) "$redis"
  first=$server_pid
  first_port=$server_port
  start_server "$model" $(((cores + 1) / 2)) "$redis"
  second=$server_pid
  start_nginx "$first_port" "$server_port"
  loadgen "$name-two-replicas" "$nginx_port"
  stop "$nginx_pid"
  stop "$first"
  stop "$second"
done

resume_model=${RESUME_MODEL:-synthetic:rwkv7-0.1b}
echo "=== resume of a $history-token session, ${resume_model#synthetic:} int8, by where its state comes from"
for setting in "redis hot cache|$redis|" "redis|$redis|--hot-cache-bytes=0" \
  "rocksdb|rocksdb:$work/rocksdb|--hot-cache-bytes=0" \
  "rocksdb hot cache|rocksdb:$work/rocksdb-hot|"; do
  IFS='|' read -r label store flag <<<"$setting"
  echo "--- $label"
  start_server "$resume_model" "$cores" "$store" ${flag:+"$flag"}
  "$bin/rwkv-resume-bench" --server "127.0.0.1:$server_port" --history_tokens "$history" \
    --repeats "${REPEATS:-20}" --recompute=false
  stop "$server_pid"
done
