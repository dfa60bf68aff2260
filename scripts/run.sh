#!/usr/bin/env bash
# Installs what is missing, builds, and runs rwkv-server with the given flags.
# Usage: scripts/run.sh --model FILE [--listen 127.0.0.1:50051] [flags...]   (see --help)
set -euo pipefail
cd "$(dirname "$0")/.."

# Serving needs neither the test services nor the container tools.
scripts/install-deps.sh --build-only > /dev/null
scripts/build.sh > /dev/null
exec build/bin/rwkv-server "$@"
