# rwkv-serve container image: rwkv-server (gRPC on 50051, metrics on 9464) and rwkv-cli.
#
#   podman build --runtime runc --format docker -t rwkv-serve .     (or: docker build -t rwkv-serve .)
#   podman run --rm -p 127.0.0.1:50051:50051 -p 127.0.0.1:9464:9464 \
#     -v "$PWD/models:/models:ro" -v rwkv-data:/data -e RWKV_MODEL=/models/model.bin rwkv-serve
#
# --format docker keeps the HEALTHCHECK (the OCI image format has no place for it). Every server
# flag can be set with an RWKV_* environment variable (deploy/entrypoint.sh lists them) or passed
# as arguments after the image name. Models are mounted at /models (never baked in); sessions live
# in the embedded RocksDB store on the /data volume. The build compiles the project again from
# this context (about 8 minutes on 2 cores); deploy/smoke-test.sh builds and runs it end to end.

# ---- build stage: the -dev packages, the project's own set-up script, a Release build ----
FROM debian:bookworm-slim AS build

# Keep the .deb files in the cache mount between builds (the base image deletes them after each
# install). The cache lives outside the image; none of this stage reaches the runtime image.
RUN rm -f /etc/apt/apt.conf.d/docker-clean \
 && echo 'Binary::apt::APT::Keep-Downloaded-Packages "true";' > /etc/apt/apt.conf.d/keep-cache

WORKDIR /src
# The dependency layer only changes when the package list does.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    scripts/install-deps.sh --build-only

COPY . .
# Only the two binaries the image ships, without the test suites (CI tests the same sources
# outside the image).
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DRWKV_BUILD_TESTS=OFF > /dev/null \
 && cmake --build build -j "$(nproc)" --target rwkv-server rwkv-cli \
 && strip build/bin/rwkv-server build/bin/rwkv-cli

# The Debian packages that own the shared libraries the binaries load: the runtime stage
# installs exactly these (so a new dependency needs no edit here).
RUN mkdir -p /out \
 && ldd build/bin/rwkv-server build/bin/rwkv-cli | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' \
    | sort -u | xargs -r realpath | xargs -r dpkg -S | cut -d: -f1 | sort -u > /out/runtime-packages \
 && echo "runtime packages:" $(cat /out/runtime-packages)

# ---- runtime stage: the shared libraries and the binaries, nothing else ----
FROM debian:bookworm-slim

COPY --from=build /out/runtime-packages /tmp/runtime-packages
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      $(cat /tmp/runtime-packages) \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /tmp/runtime-packages \
 && groupadd --system --gid 10001 rwkv \
 && useradd --system --uid 10001 --gid rwkv --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin rwkv \
 && mkdir -p /models /data \
 && chown rwkv:rwkv /data

COPY --from=build /src/build/bin/rwkv-server /src/build/bin/rwkv-cli /usr/local/bin/
COPY deploy/entrypoint.sh /usr/local/bin/rwkv-entrypoint
# Fail the build, not the first start, if a library is missing.
RUN ! ldd /usr/local/bin/rwkv-server /usr/local/bin/rwkv-cli | grep 'not found'

# Defaults for the server's flags (deploy/entrypoint.sh maps RWKV_<FLAG> to --<flag>). The World
# vocabulary (for 65536-token models) and GPT-NeoX's 20B_tokenizer.json (for 50277-token RWKV-4
# Pile models) are looked for in /models unless RWKV_WORLD_VOCAB / RWKV_20B_TOKENIZER say
# otherwise; byte-level models and GGUF files (which carry their vocabulary) need neither.
ENV RWKV_MODEL=/models/model.bin \
    RWKV_LISTEN=0.0.0.0:50051 \
    RWKV_METRICS_ADDRESS=0.0.0.0:9464 \
    RWKV_DATA_DIR=/data \
    RWKV_WORLD_VOCAB=/models/rwkv_vocab_v20230424.txt \
    RWKV_20B_TOKENIZER=/models/20B_tokenizer.json

VOLUME ["/models", "/data"]
# 50051: gRPC (rwkv.v1.Rwkv, grpc.health.v1.Health, reflection); 9464: /metrics, /healthz, /readyz.
# On 0.0.0.0 the server needs RWKV_AUTH_TOKENS_FILE (a mounted secret) and should get
# RWKV_TLS_CERT_FILE/RWKV_TLS_KEY_FILE; it refuses to start without authentication unless
# RWKV_ALLOW_UNAUTHENTICATED=true says so.
EXPOSE 50051 9464 8080
USER 10001:10001
WORKDIR /data

# The gRPC health service (no token needed), through the CLI, on the port the server listens on;
# over TLS when the server has a certificate (trusting it, or RWKV_HEALTHCHECK_CA_FILE, for the name
# localhost or RWKV_HEALTHCHECK_SERVER_NAME).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/bin/sh", "-c", "set -- --server \"127.0.0.1:${RWKV_LISTEN##*:}\" --connect-timeout 3s; if [ -n \"${RWKV_TLS_CERT_FILE:-}\" ]; then set -- \"$@\" --tls-ca-file \"${RWKV_HEALTHCHECK_CA_FILE:-$RWKV_TLS_CERT_FILE}\" --tls-server-name \"${RWKV_HEALTHCHECK_SERVER_NAME:-localhost}\"; fi; exec rwkv-cli \"$@\" health"]

# The entrypoint execs rwkv-server (PID 1), which drains on SIGTERM within --drain-timeout.
ENTRYPOINT ["/usr/local/bin/rwkv-entrypoint"]
CMD []
