#!/usr/bin/env bash
# Installs what is missing, builds, and runs rwkv-serve's main program with the given flags.
# Until the gRPC server exists (issue #3) that is the offline generator, rwkv-generate.
# Usage: scripts/run.sh --model FILE --prompt TEXT [flags...]   (see --help)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh > /dev/null
scripts/build.sh > /dev/null
exec build/bin/rwkv-generate "$@"
