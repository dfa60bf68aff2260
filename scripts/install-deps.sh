#!/usr/bin/env bash
# Installs every Debian 12 package rwkv-serve needs to build, test and run.
# Usage: scripts/install-deps.sh [--build-only]   (as root, or with sudo available)
#   --build-only: only what building and running needs (scripts/run.sh, the image's build stage),
#                 not the services and container tools the tests use.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates
  libabsl-dev libdnnl-dev ocl-icd-opencl-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libssl-dev
  prometheus-cpp-dev librocksdb-dev libhiredis-dev nlohmann-json3-dev libutf8proc-dev
  libmicrohttpd-dev libcurl4-openssl-dev libgnutls28-dev
  googletest libgtest-dev libgmock-dev
)
if [ "${1:-}" != "--build-only" ]; then
  packages+=(
    redis-server prometheus nginx-light            # services the end-to-end tests start
    openssl                                        # test certificates (TLS and auth tests)
    curl                                           # the OpenAI HTTP API's end-to-end tests
    clang libomp-dev                               # the clang builds: build.sh --clang, --tsan
    libclang-rt-14-dev                             # libFuzzer and the sanitizers for clang (scripts/fuzz.sh)
    podman buildah runc debootstrap python3-yaml   # deploy/smoke-test.sh and deploy/validate.sh
  )
  # The Node.js client test (tests/node, modules installed by scripts/test.sh with npm ci). A
  # node that brings its own npm (not Debian's) needs neither package.
  if ! command -v npm >/dev/null 2>&1; then packages+=(nodejs npm); fi
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

# Skip the slow apt-get update when everything is already there (repeat runs, dev machines).
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
