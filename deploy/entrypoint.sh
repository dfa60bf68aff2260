#!/bin/sh
# The image's entrypoint: starts rwkv-server with a flag for every RWKV_<FLAG> environment variable
# that is set and not empty (RWKV_MAX_BATCH_TOKENS=256 becomes --max_batch_tokens=256), then the
# container's arguments, which therefore win over the environment:
#   podman run ... rwkv-serve --precision=f32
# exec keeps rwkv-server as PID 1, so SIGTERM reaches it and it drains (--drain-timeout).
# RWKV_WORLD_VOCAB and RWKV_20B_TOKENIZER are not flags: rwkv-server reads them itself (where the
# World vocabulary and the 20B tokenizer are).
set -eu

# Every rwkv-server flag, in the order of `rwkv-server --help`.
flags="model tokenizer listen auth_tokens_file allow_unauthenticated reflection
tls_cert_file tls_key_file tls_client_ca_file tls_reload_interval
metrics_address http_address http_threads data_dir state_store state_store_password_file commit_durability precision
max_batch_tokens
max_batch_sequences max_queued_requests max_inflight_state_bytes stream_stall_timeout session_ttl
hot_cache_bytes threads io_threads max_io_queue drain_timeout max_connection_age max_connection_age_grace
store_probe_interval replica_name session_lease_ttl max_prompt_tokens max_new_tokens
max_request_bytes max_streams_per_connection
log_format"

# Built back to front so that the container's own arguments stay last.
for flag in $(echo "$flags" | tr ' ' '\n' | sed '1!G;h;$!d'); do
  name="RWKV_$(echo "$flag" | tr '[:lower:]' '[:upper:]')"
  eval "value=\${$name:-}"
  if [ -n "$value" ]; then
    set -- "--$flag=$value" "$@"
  fi
done

exec /usr/local/bin/rwkv-server "$@"
