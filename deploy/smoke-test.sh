#!/usr/bin/env bash
# Image smoke test: builds the Dockerfile with podman (no Docker engine needed) and runs it for real.
#
#   deploy/smoke-test.sh            (as root; CI runs it from .ci/run after the test suites)
#
# 1. base image: uses a local debian:bookworm-slim, or makes one with debootstrap when there is
#    none (no image registry needs to be reachable);
# 2. builds the project's image from the Dockerfile (this compiles the project again inside it);
# 3. checks the image: no compiler, no source tree, non-root user, size printed;
# 4. starts it with the tiny RWKV-7 model mounted read-only from ../shared/models and a named
#    volume on /data, ports published on 127.0.0.1 only; waits for SERVING;
# 5. streams a Generate into a new session with the host's rwkv-cli, checks the image's HEALTHCHECK;
# 6. stops the container (SIGTERM: must drain and exit 0), starts a new one on the same volume, and
#    resumes the session: the state survived, and the resumed turn equals one uninterrupted run;
# 7. scrapes /metrics, /healthz and /readyz;
# 8. the OpenAI-compatible HTTP API (RWKV_HTTP_ADDRESS, HTTPS with the same certificate and
#    token): GET /v1/models and a greedy POST /v1/chat/completions answer 200 in OpenAI's shape,
#    a call without the token 401 in OpenAI's error shape; the route is counted in /metrics;
# 9. removes everything it created (containers, volume, images, the debootstrap tree), also on
#    failure or Ctrl-C.
#
# Needs: podman, buildah, runc, debootstrap (scripts/install-deps.sh installs them), root, network
# access to the Debian mirror (the build stages run apt-get), and build/bin/rwkv-cli (built here
# if missing). Set RWKV_SMOKE_KEEP_IMAGE=1 to keep the built image (tagged rwkv-serve:smoke).
# Takes about 5 minutes on 2 cores (debootstrap ~1, compiling inside the build stage ~3).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
shared=$(realpath "${RWKV_SHARED_DIR:-$repo/../shared}")
model=tiny-rwkv-7v0-834K-FP32.bin
cli=$repo/build/bin/rwkv-cli

start=$(date +%s)
log() { echo "smoke-test [$(( $(date +%s) - start ))s]: $*"; }
fail() { echo "smoke-test: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "run as root (podman's storage is /var/lib/containers)"
[ -f "$shared/models/$model" ] || fail "$shared/models/$model not found (set RWKV_SHARED_DIR)"
scripts/install-deps.sh > /dev/null
[ -x "$cli" ] || scripts/build.sh > /dev/null

# Everything this run creates carries this suffix, so that cleanup removes only that.
id=smoke-$$
image=localhost/rwkv-serve:$id
volume=rwkv-data-$id
container=rwkv-serve-$id
base=debian:bookworm-slim
work=$(mktemp -d /tmp/rwkv-smoke.XXXXXX)
created_base=""

# runc (the default crun fails on this kind of machine) and explicit ulimits for every container,
# including the build's RUN steps; /etc/containers is left alone.
cat > "$work/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF=$work/containers.conf
build_flags=(--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
# --health-interval=disable: podman would schedule the image's HEALTHCHECK with systemd timers,
# which this machine lacks; step 5 runs it once with `podman healthcheck run` instead.
run_flags=("${build_flags[@]}" --health-interval=disable)
# Podman 4.3 still logs that it cannot reach systemd for those timers: drop that noise.
podman() { command podman "$@" 2> >(grep -v 'unable to get systemd connection' >&2); }
# The build stage's apt cache mount. Kept if it was there before (or RWKV_SMOKE_KEEP_CACHE=1).
apt_cache=${TMPDIR:-/var/tmp}/buildah-cache
keep_cache=${RWKV_SMOKE_KEEP_CACHE:-0}
[ -e "$apt_cache" ] && keep_cache=1

cleanup() {
  local status=$?
  set +e
  if [ "$status" -ne 0 ] && podman container exists "$container" 2> /dev/null; then
    echo "---- container log (last 40 lines) ----" >&2
    podman logs --tail 40 "$container" >&2
  fi
  podman rm --force --time 5 "$container" > /dev/null 2>&1
  podman volume rm --force "$volume" > /dev/null 2>&1
  if [ "${RWKV_SMOKE_KEEP_IMAGE:-0}" = 1 ] && podman image exists "$image"; then
    podman tag "$image" localhost/rwkv-serve:smoke && echo "smoke-test: kept localhost/rwkv-serve:smoke"
  fi
  podman rmi --force "$image" > /dev/null 2>&1
  [ -n "$created_base" ] && podman rmi --force "$base" > /dev/null 2>&1
  [ "$keep_cache" = 1 ] || rm -rf "$apt_cache"
  rm -rf "$work"
  log "cleaned up"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- 1. base image ------------------------------------------------------------------------------
if podman image exists "$base"; then
  log "using the local $base"
else
  log "no local $base: building one with debootstrap"
  rootfs=$work/rootfs
  # The host's own Debian mirror (its apt sources), for debootstrap and for the image's apt.
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    mirror=$(awk '$1 == "URIs:" { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
  else
    mirror=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2> /dev/null)
  fi
  [ -n "$mirror" ] || fail "no Debian mirror in this machine's apt sources"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" > "$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap"; }
  # Configure it like the official slim image: the host's apt sources (updates and security
  # suites), no documentation, no package cache, no apt lists.
  rm -f "$rootfs/etc/apt/sources.list"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/"
  else
    grep -v '^#' /etc/apt/sources.list > "$rootfs/etc/apt/sources.list"
  fi
  cat > "$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
  cat > "$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'APT::Install-Recommends "false";' > "$rootfs/etc/apt/apt.conf.d/docker-no-recommends"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log
  find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright -delete 2> /dev/null || true
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  created_base=yes
  tar -C "$rootfs" -c . | podman import --quiet - "$base" > /dev/null
  rm -rf "$rootfs"
  log "made $base ($(podman image inspect --format '{{.Size}}' "$base" | numfmt --to=iec))"
fi

# ---- 2. build the image -------------------------------------------------------------------------
# --layers=false: no intermediate images are left behind.
log "building $image from the Dockerfile (compiles the project; minutes)"
build_start=$(date +%s)
# Each output line gets the seconds since the build started, for the step timings below.
set +e
podman build "${build_flags[@]}" --format docker --pull=never --layers=false --force-rm \
  --tag "$image" --file Dockerfile . 2>&1 \
  | while IFS= read -r line; do echo "$(( $(date +%s) - build_start )) $line"; done > "$work/build.log"
build_status=${PIPESTATUS[0]}
set -e
[ "$build_status" = 0 ] || { tail -40 "$work/build.log" >&2; fail "podman build (log above)"; }
echo "  build steps (seconds since the build started):"
awk '/STEP [0-9]+\/[0-9]+:/ { printf "  %5ss  %s\n", $1, substr($0, index($0, $2)) }' "$work/build.log" | cut -c1-120
grep -o 'runtime packages: lib.*' "$work/build.log" | head -1 || true
size=$(podman image inspect --format '{{.Size}}' "$image")
log "built in $(( $(date +%s) - build_start ))s; image size $(numfmt --to=iec "$size") ($size bytes)"

# ---- 3. what the image contains -----------------------------------------------------------------
podman run --rm "${run_flags[@]}" --entrypoint /bin/sh "$image" -c '
  set -e
  for tool in cc c++ gcc g++ clang cpp ld as make cmake; do
    if command -v "$tool" > /dev/null; then echo "compiler tool in the image: $tool"; exit 1; fi
  done
  for path in /src /usr/include/grpcpp /usr/include/c++ /usr/lib/gcc/x86_64-linux-gnu/12/cc1plus; do
    if [ -e "$path" ]; then echo "build-time file in the image: $path"; exit 1; fi
  done
  [ "$(id -u)" = 10001 ] || { echo "runs as uid $(id -u), not 10001"; exit 1; }
  rwkv-server --help > /dev/null 2>&1 || true
  rwkv-cli --help > /dev/null 2>&1 || true
' || fail "image contents"
user=$(podman image inspect --format '{{.Config.User}}' "$image")
[ "$user" = 10001:10001 ] || fail "image user is '$user'"
podman image inspect --format '{{json .Config.Healthcheck}}' "$image" | grep -q 'rwkv-cli' \
  || fail "the image has no HEALTHCHECK using rwkv-cli (build with --format docker)"
log "image checks passed: no compiler or sources, user 10001, HEALTHCHECK present"

# ---- 4. run it ----------------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
grpc_port=$(free_port)
metrics_port=$(free_port)
while [ "$metrics_port" = "$grpc_port" ]; do metrics_port=$(free_port); done
openai_port=$(free_port)
while [ "$openai_port" = "$grpc_port" ] || [ "$openai_port" = "$metrics_port" ]; do
  openai_port=$(free_port)
done
podman volume create "$volume" > /dev/null

# Shipped authenticated: a tokens file and a TLS certificate, mounted as the deployments mount
# their Secrets (the image listens on 0.0.0.0, where the server refuses to run without them).
secrets=$work/secrets
mkdir -p "$secrets"
token=$(openssl rand -hex 24)
echo "smoke $token" > "$secrets/tokens"
echo "$token" > "$secrets/token"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$secrets/tls.key" -out "$secrets/tls.crt" 2> /dev/null || fail "openssl req"
chmod 644 "$secrets"/*

cli_run() {
  "$cli" --server "127.0.0.1:$grpc_port" --tls-ca-file "$secrets/tls.crt" \
    --auth-token-file "$secrets/token" "$@"
}

start_container() {
  # f32 weights and one engine thread: the resumed turn must equal one uninterrupted greedy run.
  # --read-only: the server writes nothing outside /data (and /tmp), as the Kubernetes
  # Deployment's readOnlyRootFilesystem expects.
  podman run --detach --name "$container" "${run_flags[@]}" --read-only \
    --publish "127.0.0.1:$grpc_port:50051" --publish "127.0.0.1:$metrics_port:9464" \
    --publish "127.0.0.1:$openai_port:8080" --env RWKV_HTTP_ADDRESS=0.0.0.0:8080 \
    --volume "$shared/models:/models:ro" --volume "$volume:/data" \
    --env RWKV_MODEL="/models/$model" --env RWKV_PRECISION=f32 --env RWKV_THREADS=1 \
    --env RWKV_DRAIN_TIMEOUT=10s --volume "$secrets:/run/secrets/rwkv:ro" \
    --env RWKV_AUTH_TOKENS_FILE=/run/secrets/rwkv/tokens \
    --env RWKV_TLS_CERT_FILE=/run/secrets/rwkv/tls.crt \
    --env RWKV_TLS_KEY_FILE=/run/secrets/rwkv/tls.key \
    "$image" > /dev/null
  local deadline=$(( $(date +%s) + 90 ))
  until [ "$(cli_run --connect-timeout 1s health 2> /dev/null)" = SERVING ]; do
    [ "$(podman inspect --format '{{.State.Running}}' "$container")" = true ] || fail "the container exited"
    [ "$(date +%s)" -lt "$deadline" ] || fail "not SERVING after 90 s"
    sleep 1
  done
}
# The image does not serve on its 0.0.0.0 without authentication: one clear line, a failed start.
if podman run --rm "${run_flags[@]}" --volume "$shared/models:/models:ro" \
    --env RWKV_MODEL="/models/$model" "$image" > "$work/open.out" 2>&1; then
  fail "the image served without authentication"
fi
grep -q -- '--allow-unauthenticated' "$work/open.out" \
  || fail "no clear refusal without authentication: $(cat "$work/open.out")"
log "refused to start without authentication: $(grep -- '--allow-unauthenticated' "$work/open.out" | head -1)"
start_container
log "container SERVING on 127.0.0.1:$grpc_port (gRPC, TLS), 127.0.0.1:$metrics_port (metrics)," \
  "127.0.0.1:$openai_port (OpenAI HTTP API, TLS)"
# Refused: no token, and plaintext.
if "$cli" --server "127.0.0.1:$grpc_port" --tls-ca-file "$secrets/tls.crt" sessions list \
    > /dev/null 2> "$work/refused.err"; then
  fail "a call without a token was answered"
fi
grep -q UNAUTHENTICATED "$work/refused.err" || fail "no UNAUTHENTICATED without a token: $(cat "$work/refused.err")"
if "$cli" --server "127.0.0.1:$grpc_port" --connect-timeout 2s --auth-token-file "$secrets/token" \
    sessions list > /dev/null 2>&1; then
  fail "a plaintext call was answered"
fi
log "refused: a call without a token (UNAUTHENTICATED) and a plaintext one"

# ---- 5. a streamed Generate into a session, and the image's own HEALTHCHECK ---------------------
prompt1="Once upon a time"
prompt2=" and then"
cli_run generate --session smoke --create-session --max-tokens 48 --temperature 0 "$prompt1" \
  > "$work/turn1.out" 2> "$work/turn1.err" || { cat "$work/turn1.err" >&2; fail "generate (turn 1)"; }
cat "$work/turn1.err"
grep -q 'generated_tokens=48 ' "$work/turn1.err" || fail "turn 1 did not generate 48 tokens"
grep -q 'session=smoke version=1 ' "$work/turn1.err" || fail "turn 1 did not commit version 1"
[ -s "$work/turn1.out" ] || fail "turn 1 streamed no text"
echo "turn 1: $prompt1$(cat "$work/turn1.out")"
podman healthcheck run "$container" > /dev/null || fail "the image's HEALTHCHECK reports unhealthy"
log "streamed a Generate into session 'smoke'; HEALTHCHECK healthy"

# ---- 6. restart on the same volume and resume -------------------------------------------------
podman stop --time 30 "$container" > /dev/null
exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$container")
[ "$exit_code" = 0 ] || fail "rwkv-server exited with $exit_code on SIGTERM (expected a clean drain)"
podman rm "$container" > /dev/null
log "SIGTERM: drained and exited 0; starting a new container on the same /data volume"
start_container
cli_run sessions get smoke > "$work/session.out" || fail "session 'smoke' is gone after the restart"
cli_run generate --session smoke --max-tokens 32 --temperature 0 "$prompt2" \
  > "$work/turn2.out" 2> "$work/turn2.err" || { cat "$work/turn2.err" >&2; fail "generate (turn 2)"; }
cat "$work/turn2.err"
grep -q 'session=smoke version=2 ' "$work/turn2.err" || fail "turn 2 did not continue the session to version 2"
# The resumed turn continues exactly where turn 1 ended: the same as one run, without a session,
# over prompt 1 + completion 1 + prompt 2.
cli_run generate --max-tokens 32 --temperature 0 "$prompt1$(cat "$work/turn1.out")$prompt2" \
  > "$work/oneshot.out" 2> /dev/null || fail "generate (one-shot)"
cmp -s "$work/turn2.out" "$work/oneshot.out" \
  || fail "resumed turn '$(cat "$work/turn2.out")' differs from one run '$(cat "$work/oneshot.out")'"
log "resumed session 'smoke' after the restart; continuation equals one uninterrupted run"

# ---- 7. metrics and the HTTP health endpoints ---------------------------------------------------
http_get() { python3 - "$1" <<'EOF'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as response:
    sys.stdout.write(response.read().decode())
EOF
}
http_get "http://127.0.0.1:$metrics_port/healthz" > /dev/null || fail "/healthz"
http_get "http://127.0.0.1:$metrics_port/readyz" > /dev/null || fail "/readyz"
http_get "http://127.0.0.1:$metrics_port/metrics" > "$work/metrics.txt" || fail "/metrics"
grep -E '^rwkv_(generated_tokens_total|requests_total\{code="OK"|time_to_first_token_seconds_count)' "$work/metrics.txt"
# The new container has served turn 2 and the one-shot run: 64 generated tokens.
generated=$(awk '/^rwkv_generated_tokens_total[ {]/ { sum += $NF } END { print sum + 0 }' "$work/metrics.txt")
[ "${generated%.*}" = 64 ] || fail "/metrics counts $generated generated tokens, expected 64"
log "scraped /metrics ($(grep -c '^rwkv_' "$work/metrics.txt") rwkv_ samples), /healthz, /readyz"

# ---- 8. the OpenAI-compatible HTTP API ----------------------------------------------------------
# deploy/openai_smoke_check.py: /v1/models, a greedy chat completion and a refused call, over HTTPS
# trusting the container's certificate.
python3 deploy/openai_smoke_check.py "https://127.0.0.1:$openai_port" "$secrets/tls.crt" \
  "$secrets/token" || fail "the OpenAI-compatible HTTP API"
http_get "http://127.0.0.1:$metrics_port/metrics" > "$work/metrics.txt" || fail "/metrics"
grep -Eq '^rwkv_requests_total\{code="OK",method="POST /v1/chat/completions"\} [1-9]' \
  "$work/metrics.txt" || fail "/metrics does not count the chat completion"
log "OpenAI HTTP API: /v1/models, a chat completion (200) and a call without a token (401)"

podman stop --time 30 "$container" > /dev/null
log "PASSED (image $(numfmt --to=iec "$size"))"
