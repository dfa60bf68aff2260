#!/bin/sh
# The balancer container's command: keeps rwkv-grpc.conf's list of replicas current, and runs nginx.
#
# nginx 1.22 resolves the names in an upstream block only when it starts or reloads, while
# replicas get new addresses whenever they are replaced (a rolling update's pods, a recreated
# container). So this resolves each NAME:PORT of RWKV_UPSTREAMS to its IPv4 addresses (a
# Kubernetes headless Service: every ready pod; a compose service: its container), writes one
# `server` line per address to RWKV_UPSTREAMS_FILE (the file rwkv-grpc.conf includes), starts
# nginx, and re-resolves every RWKV_UPSTREAMS_REFRESH seconds; when the set changes it rewrites
# the file and reloads nginx (SIGHUP: new workers take new calls, running streams finish on the
# old ones). While no name resolves it keeps the last list (nginx needs one server at least).
# SIGTERM stops nginx gracefully (SIGQUIT: it waits for running streams).
#
# With RWKV_OPENAI_PORT set, the same addresses at that port (the replicas' --http-address) also
# go to RWKV_OPENAI_UPSTREAMS_FILE, the list rwkv-openai.conf includes.
#
#   RWKV_UPSTREAMS="rwkv-server-1:50051 rwkv-server-2:50051" resolve-upstreams.sh
#   RWKV_UPSTREAMS=... RWKV_UPSTREAMS_FILE=/tmp/u.conf resolve-upstreams.sh --once   (write, exit)
set -eu
upstreams=${RWKV_UPSTREAMS:?"set RWKV_UPSTREAMS to the replicas' NAME:PORT, space-separated"}
file=${RWKV_UPSTREAMS_FILE:-/etc/nginx/rwkv-upstreams.conf}
openai_port=${RWKV_OPENAI_PORT:-}
openai_file=${RWKV_OPENAI_UPSTREAMS_FILE:-/etc/nginx/rwkv-openai-upstreams.conf}
refresh=${RWKV_UPSTREAMS_REFRESH:-10}

# The `server` lines for every address of every upstream, sorted (so that equal sets compare
# equal). max_fails=1: a replica that refuses a connection is skipped for fail_timeout, and its
# sessions' calls go to the next replica on the hash ring.
servers() {
  for upstream in $upstreams; do
    getent ahostsv4 "${upstream%:*}" 2> /dev/null \
      | awk -v port="${upstream##*:}" '{ print $1 ":" port }'
  done | sort -u | awk '{ printf "server %s max_fails=1 fail_timeout=5s;\n", $1 }'
}

# The OpenAI API's list: the gRPC list's addresses at RWKV_OPENAI_PORT.
write_lists() {
  printf '%s\n' "$1" > "$file"
  if [ -n "$openai_port" ]; then
    printf '%s\n' "$1" | sed "s/:[0-9]* max_fails/:$openai_port max_fails/" | sort -u > "$openai_file"
  fi
}

list=$(servers)
until [ -n "$list" ]; do
  echo "resolve-upstreams: none of $upstreams resolves yet; retrying" >&2
  sleep 2
  list=$(servers)
done
write_lists "$list"
echo "resolve-upstreams: $(echo "$list" | wc -l) replicas in $file"
[ "${1:-}" = --once ] && exit 0

nginx -g 'daemon off;' &
nginx_pid=$!
trap 'kill -QUIT "$nginx_pid"; wait "$nginx_pid"; exit 0' TERM INT QUIT
while kill -0 "$nginx_pid" 2> /dev/null; do
  # In the background, so that a SIGTERM runs the trap at once instead of after the sleep.
  sleep "$refresh" &
  wait $! || true
  list=$(servers)
  if [ -n "$list" ] && [ "$list" != "$(cat "$file")" ]; then
    write_lists "$list"
    echo "resolve-upstreams: replicas changed, reloading nginx: $(echo "$list" | tr '\n' ' ')"
    kill -HUP "$nginx_pid"
  fi
done
wait "$nginx_pid"
