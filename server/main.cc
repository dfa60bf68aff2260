// rwkv-server: serves an RWKV model over gRPC with persistent sessions.
//
//   rwkv-server --model models/rwkv7-world-0.1b.bin --listen 127.0.0.1:50051
//
// SIGTERM or SIGINT drains: no new requests, in-flight turns finish within --drain-timeout
// (the rest are rolled back), the store is flushed, exit 0. A second signal ends the drain at
// once: what is still in flight is rolled back. SIGHUP reloads --auth-tokens-file.
//
// Safe defaults: it listens on 127.0.0.1, and refuses (exit 2, one line) a non-loopback
// --listen without --auth-tokens-file unless --allow-unauthenticated is given.
#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/command_line.h"
#include "server/auth/listen_policy.h"
#include "server/http/http_server.h"
#include "server/server.h"

ABSL_FLAG(std::string, model, "",
          "Model to serve: a PyTorch .pth, safetensors, GGUF or rwkv.cpp .bin file (recognized "
          "from its bytes), a Hugging Face model directory, or "
          "synthetic:rwkv7-0.1b|rwkv7-0.4b|rwkv7-1.5b (random weights, for load tests).");
ABSL_FLAG(std::string, tokenizer, "",
          "bytes | world | 20b | PATH of a tokenizer JSON (.json) or World vocabulary file; "
          "default: the model file's own vocabulary if it has one (GGUF), else chosen from the "
          "vocabulary size (256: bytes, 65536: world, 50277: 20b).");
ABSL_FLAG(std::string, listen, "127.0.0.1:50051", "gRPC address to listen on (HOST:PORT).");
ABSL_FLAG(std::string, tls_cert_file, "",
          "Serve gRPC (and --http-address) over TLS with this certificate chain (PEM); needs "
          "--tls-key-file. Default: plaintext.");
ABSL_FLAG(std::string, tls_key_file, "", "Private key (PEM) of --tls-cert-file.");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "Mutual TLS: require a client certificate signed by one of these CAs (PEM); needs "
          "--tls-cert-file and --tls-key-file.");
ABSL_FLAG(absl::Duration, tls_reload_interval, absl::Seconds(10),
          "How often the --tls-* files are re-read (whole seconds, at least 1s): replaced files "
          "serve new connections without a restart (no SIGHUP needed); open connections and "
          "their streams go on.");
ABSL_FLAG(std::string, auth_tokens_file, "",
          "File of TENANT TOKEN lines (and TENANT x509:CN lines for mutual-TLS client "
          "certificates): every rwkv.v1.Rwkv call must send `authorization: Bearer TOKEN` (health "
          "and reflection need none). Only SHA-256 hashes of the tokens are kept; reloaded on "
          "SIGHUP. Empty: no authentication (every call is the default tenant's).");
ABSL_FLAG(bool, allow_unauthenticated, false,
          "Serve a non-loopback --listen address without --auth-tokens-file (refused otherwise).");
ABSL_FLAG(std::optional<bool>, reflection, std::nullopt,
          "gRPC server reflection (no authentication needed: it shows the API's schema). "
          "Default: on when --listen is a loopback address, else off.");
ABSL_FLAG(std::string, metrics_address, "127.0.0.1:9464",
          "HTTP address (IP:PORT) for GET /metrics (Prometheus), /healthz (liveness) and /readyz "
          "(readiness), apart from gRPC (no session is reachable there), so it may be bound to "
          "another interface; port 0 picks a free port (logged at start-up); empty: no HTTP "
          "endpoint.");
ABSL_FLAG(std::string, http_address, "",
          "HTTP address (IP:PORT, [IPv6]:PORT, or a port alone for loopback) of the "
          "OpenAI-compatible API: /v1/chat/completions, /v1/completions, /v1/models, the same "
          "turns, sessions and tokens as gRPC; port 0 picks a free port (logged at start-up); "
          "empty: off.");
ABSL_FLAG(int32_t, http_threads, 4,
          "Event threads of the --http-address API (epoll; a connection waiting for the engine "
          "holds none).");
ABSL_FLAG(std::string, log_format, "text",
          "Request and event log on stderr: text (one line per request) or json (one JSON "
          "object per line).");
ABSL_FLAG(std::string, data_dir, "rwkv-data",
          "Directory for the default embedded state store (<data-dir>/sessions).");
ABSL_FLAG(std::string, state_store, "",
          "Where session states live: rocksdb:PATH (embedded, durable, one process), "
          "redis://[USER@]HOST:PORT[/DB] (shared by many replicas; password from "
          "--state-store-password-file) or memory: (tests; lost on exit). Default: "
          "rocksdb:<data-dir>/sessions.");
ABSL_FLAG(std::string, state_store_password_file, "",
          "File holding the password of a redis:// state store (AUTH; a trailing newline is "
          "ignored). Default: the RWKV_STATE_STORE_PASSWORD environment variable, else none. "
          "Never logged; a password in the --state-store URI is refused.");
ABSL_FLAG(std::string, commit_durability, "sync",
          "sync: a turn's commit is fsynced to disk before its final message, so acknowledged "
          "turns survive a power loss or kernel crash; async: not fsynced (faster; survives a "
          "process crash but may lose the last turns on a power loss).");
ABSL_FLAG(int64_t, max_batch_tokens, 512,
          "Most tokens (decode tokens plus prompt chunks) in one engine step.");
ABSL_FLAG(int32_t, max_batch_sequences, 64, "Most sequences running at once (one engine step).");
ABSL_FLAG(int32_t, max_queued_requests, 256,
          "Most requests waiting for a running slot (or for their session's state to load); "
          "beyond it, RESOURCE_EXHAUSTED at once, before any state is loaded.");
ABSL_FLAG(int64_t, max_inflight_state_bytes, 0,
          "Most bytes that queued and running turns may hold (each: the model's state, its "
          "sampler's vocabulary-sized buffers and its prompt); beyond it a turn gets "
          "RESOURCE_EXHAUSTED at once, before its session's state is loaded. 0 = "
          "2 * max-batch-sequences turns with the longest prompt (a full batch running and as "
          "many waiting), but at least 1 GiB.");
ABSL_FLAG(absl::Duration, stream_stall_timeout, absl::Seconds(60),
          "End a Generate stream (DEADLINE_EXCEEDED; the turn follows its on_cancel policy) "
          "whose client has not read it for this long; 0 = never.");
ABSL_FLAG(absl::Duration, session_ttl, absl::ZeroDuration(),
          "Delete sessions idle for this long (e.g. 168h); 0 = keep forever.");
ABSL_FLAG(int64_t, hot_cache_bytes, int64_t{1} << 30,
          "Memory for the LRU cache of recently used session states, in bytes.");
ABSL_FLAG(int32_t, threads, 0, "Engine threads; 0 = all cores.");
ABSL_FLAG(std::string, precision, "auto",
          "Weight format: f32 | bf16 | int8 | int8-fast | q8_0 | auto (bf16 where the CPU has "
          "native bf16 instructions, else f32). int8-fast: 8-bit activations, faster, twice "
          "int8's error. q8_0: ggml's Q8_0 blocks, a Q8_0 file's as stored. Activations and "
          "session states are always float32.");
ABSL_FLAG(int32_t, io_threads, 0,
          "Threads for state-store I/O (each commit holds one until the store has it). 0 = "
          "max-batch-sequences, at least 4.");
ABSL_FLAG(int32_t, max_io_queue, 0,
          "Most session RPCs and turn starts waiting for an I/O thread; beyond it they get "
          "RESOURCE_EXHAUSTED at once (a turn's commit is never refused). 0 = "
          "max-queued-requests + 64 * io-threads.");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(30),
          "On SIGTERM, how long in-flight turns may take to finish before they are rolled back.");
ABSL_FLAG(absl::Duration, max_connection_age, absl::Minutes(30),
          "Send a client connection a GOAWAY after about this long (up to 10% jitter), so that "
          "clients behind a TCP load balancer reconnect and spread over the replicas; its calls "
          "in flight go on (see --max-connection-age-grace). 0 = never.");
ABSL_FLAG(absl::Duration, max_connection_age_grace, absl::Minutes(5),
          "After --max-connection-age, how long the calls still running on the connection may "
          "take before it is closed (they then fail with UNAVAILABLE and their turns follow "
          "on_cancel). 0 = as long as they need.");
ABSL_FLAG(absl::Duration, store_probe_interval, absl::Seconds(5),
          "How often the state store is probed while serving (a probe key written, read back "
          "and deleted). While the store fails (a failed probe, or 3 store errors in a row), "
          "session turns get UNAVAILABLE and readiness is off, until a probe succeeds. "
          "0 = off (no probes and no error streak: failures show only at each commit).");
ABSL_FLAG(std::string, replica_name, "",
          "This replica's name in other replicas' errors and in logs; empty: HOSTNAME:PID.");
ABSL_FLAG(absl::Duration, session_lease_ttl, absl::Seconds(10),
          "How long a session's store lease outlives a replica that stopped renewing it (killed, "
          "paused): how long another replica waits before it may continue that session.");
ABSL_FLAG(int32_t, max_prompt_tokens, 65536, "Longest prompt accepted, in tokens.");
ABSL_FLAG(int32_t, max_new_tokens, 4096, "Largest max_tokens a request may ask for.");
ABSL_FLAG(int32_t, max_request_bytes, 8 << 20,
          "Largest request message accepted, in bytes; larger ones get RESOURCE_EXHAUSTED.");
ABSL_FLAG(int32_t, max_streams_per_connection, 256,
          "Most calls one client connection may have open at once (HTTP/2 "
          "MAX_CONCURRENT_STREAMS); more wait in the client.");

namespace {

rwkv::server::Server::Options OptionsFromFlags() {
  rwkv::server::Server::Options o;
  o.model = absl::GetFlag(FLAGS_model);
  o.tokenizer = absl::GetFlag(FLAGS_tokenizer);
  o.listen = absl::GetFlag(FLAGS_listen);
  o.tls.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  o.tls.key_file = absl::GetFlag(FLAGS_tls_key_file);
  o.tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  o.tls.reload_interval = absl::GetFlag(FLAGS_tls_reload_interval);
  o.auth_tokens_file = absl::GetFlag(FLAGS_auth_tokens_file);
  o.reflection =
      absl::GetFlag(FLAGS_reflection).value_or(rwkv::server::auth::IsLoopbackListen(o.listen));
  o.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  o.http_address = absl::GetFlag(FLAGS_http_address);
  o.http_threads = absl::GetFlag(FLAGS_http_threads);
  if (auto format = rwkv::server::ParseLogFormat(absl::GetFlag(FLAGS_log_format)); format.ok()) {
    o.log_format = *format;
  }
  o.state_store = absl::GetFlag(FLAGS_state_store);
  if (o.state_store.empty()) {
    o.state_store = absl::StrCat("rocksdb:", absl::GetFlag(FLAGS_data_dir), "/sessions");
  }
  o.sync_commits = absl::GetFlag(FLAGS_commit_durability) != "async";
  o.max_batch_tokens = absl::GetFlag(FLAGS_max_batch_tokens);
  o.max_batch_sequences = absl::GetFlag(FLAGS_max_batch_sequences);
  o.max_queued_requests = absl::GetFlag(FLAGS_max_queued_requests);
  o.stream_stall_timeout = absl::GetFlag(FLAGS_stream_stall_timeout);
  o.session_ttl = absl::GetFlag(FLAGS_session_ttl);
  o.hot_cache_bytes = absl::GetFlag(FLAGS_hot_cache_bytes);
  o.threads = absl::GetFlag(FLAGS_threads);
  o.io_threads = absl::GetFlag(FLAGS_io_threads);
  o.max_io_queue = absl::GetFlag(FLAGS_max_io_queue);
  o.max_inflight_state_bytes = absl::GetFlag(FLAGS_max_inflight_state_bytes);
  if (auto precision = rwkv::engine::ParsePrecision(absl::GetFlag(FLAGS_precision));
      precision.ok()) {
    o.precision = *precision;
  }
  o.auto_precision = rwkv::engine::IsAutoPrecision(absl::GetFlag(FLAGS_precision));
  o.drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
  o.store_probe_interval = absl::GetFlag(FLAGS_store_probe_interval);
  o.replica_name = absl::GetFlag(FLAGS_replica_name);
  o.session_lease_ttl = absl::GetFlag(FLAGS_session_lease_ttl);
  o.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  o.max_connection_age_grace = absl::GetFlag(FLAGS_max_connection_age_grace);
  o.limits.max_prompt_tokens = absl::GetFlag(FLAGS_max_prompt_tokens);
  o.limits.max_new_tokens = absl::GetFlag(FLAGS_max_new_tokens);
  o.limits.max_request_bytes = absl::GetFlag(FLAGS_max_request_bytes);
  o.limits.max_streams_per_connection = absl::GetFlag(FLAGS_max_streams_per_connection);
  return o;
}

// The state store's password: --state-store-password-file's contents, else
// $RWKV_STATE_STORE_PASSWORD, else none. An error message when the file cannot be read.
std::string ReadStorePassword(std::string& password) {
  const std::string path = absl::GetFlag(FLAGS_state_store_password_file);
  if (path.empty()) {
    const char* env = std::getenv("RWKV_STATE_STORE_PASSWORD");
    password = env != nullptr ? env : "";
    return "";
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::StrCat("--state-store-password-file: cannot read ", path, ": ",
                        std::strerror(errno));
  }
  std::stringstream contents;
  contents << file.rdbuf();
  password = contents.str();
  if (!password.empty() && password.back() == '\n') password.pop_back();
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty()) return absl::StrCat("--state-store-password-file: ", path, " is empty");
  return "";
}

// Empty when --http-address (if any) may be served; else why not.
std::string CheckHttpAddress(const rwkv::server::Server::Options& o) {
  if (o.http_address.empty()) return "";
  if (o.http_threads < 1 || o.http_threads > 256) {
    return absl::StrCat("--http-threads must be in [1, 256], got ", o.http_threads);
  }
  if (!o.tls.client_ca_file.empty()) {
    // Its clients would skip the certificate check that every gRPC client must pass.
    return "--http-address does not support mutual TLS (--tls-client-ca-file) yet";
  }
  absl::StatusOr<rwkv::server::http::ListenAddress> http =
      rwkv::server::http::ParseListenAddress(o.http_address);
  if (!http.ok()) return std::string(http.status().message());
  // The same exposure rule as gRPC's: the API serves sessions and model output.
  const std::string host = http->ipv6 ? absl::StrCat("[", http->host, "]") : http->host;
  const std::string refusal = rwkv::server::auth::ExposureRefusal(
      absl::StrCat(host, ":", http->port), !o.auth_tokens_file.empty(),
      absl::GetFlag(FLAGS_allow_unauthenticated));
  return refusal.empty() ? "" : absl::StrCat("--http-address: ", refusal);
}

std::string CheckOptions(const rwkv::server::Server::Options& o) {
  if (o.model.empty()) return "--model is required";
  if (std::string refusal = rwkv::server::auth::ExposureRefusal(
          o.listen, !o.auth_tokens_file.empty(), absl::GetFlag(FLAGS_allow_unauthenticated));
      !refusal.empty()) {
    return refusal;
  }
  if (std::string refusal = CheckHttpAddress(o); !refusal.empty()) return refusal;
  if (!rwkv::engine::ParsePrecision(absl::GetFlag(FLAGS_precision)).ok()) {
    return "--precision must be f32, bf16, int8, int8-fast, q8_0 or auto";
  }
  if (!rwkv::server::ParseLogFormat(absl::GetFlag(FLAGS_log_format)).ok()) {
    return "--log-format must be text or json";
  }
  if (const std::string durability = absl::GetFlag(FLAGS_commit_durability);
      durability != "sync" && durability != "async") {
    return absl::StrCat("--commit-durability must be sync or async, got \"", durability, "\"");
  }
  if (o.max_batch_tokens < 1) return "--max-batch-tokens must be >= 1";
  if (o.max_batch_sequences < 1) return "--max-batch-sequences must be >= 1";
  if (o.max_queued_requests < 0) return "--max-queued-requests must be >= 0";
  if (o.stream_stall_timeout < absl::ZeroDuration()) return "--stream-stall-timeout must be >= 0";
  if (o.session_ttl < absl::ZeroDuration()) return "--session-ttl must be >= 0";
  if (o.hot_cache_bytes < 0) return "--hot-cache-bytes must be >= 0";
  if (o.threads < 0) return "--threads must be >= 0";
  if (o.io_threads < 0) return "--io-threads must be >= 0";
  if (o.max_io_queue < 0) return "--max-io-queue must be >= 0";
  if (o.max_inflight_state_bytes < 0) return "--max-inflight-state-bytes must be >= 0";
  if (o.drain_timeout < absl::ZeroDuration()) return "--drain-timeout must be >= 0";
  if (o.store_probe_interval < absl::ZeroDuration()) return "--store-probe-interval must be >= 0";
  if (o.session_lease_ttl < absl::Milliseconds(30)) return "--session-lease-ttl must be >= 30ms";
  if (o.max_connection_age < absl::ZeroDuration()) return "--max-connection-age must be >= 0";
  if (o.max_connection_age_grace < absl::ZeroDuration()) {
    return "--max-connection-age-grace must be >= 0";
  }
  if (o.limits.max_prompt_tokens < 1) return "--max-prompt-tokens must be >= 1";
  if (o.limits.max_new_tokens < 0) return "--max-new-tokens must be >= 0";
  if (o.limits.max_request_bytes < 1024) return "--max-request-bytes must be >= 1024";
  if (o.limits.max_streams_per_connection < 1) {
    return "--max-streams-per-connection must be >= 1";
  }
  if (absl::Status tls = rwkv::server::CheckTlsFiles(o.tls); !tls.ok()) {
    return std::string(tls.message());
  }
  return "";
}

// The server a second signal cuts short, if it is still draining.
class DrainingServer {
 public:
  static void Set(rwkv::server::Server* server) {
    absl::MutexLock lock(&mu_);
    server_ = server;
  }
  static void CutShort() {
    absl::MutexLock lock(&mu_);
    if (server_ != nullptr) server_->CutDrainShort();
  }

 private:
  static inline absl::Mutex mu_;
  static inline rwkv::server::Server* server_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace

int main(int argc, char** argv) {
  rwkv::ParseCommandLine(
      argc, argv,
      "Serves an RWKV model over gRPC (rwkv.v1.Rwkv) with persistent sessions.\n"
      "  rwkv-server --model FILE [--listen 127.0.0.1:50051]\n"
      "              [--tls-cert-file CERT --tls-key-file KEY [--tls-client-ca-file CA]]\n"
      "              [--state-store rocksdb:PATH|redis://HOST:PORT[/DB]]\n"
      "              [--metrics-address 127.0.0.1:9464] [--http-address :8080]\n"
      "              [--log-format text|json]\n"
      "Flags may be written with dashes or underscores.");
  rwkv::server::Server::Options options = OptionsFromFlags();
  std::string error = ReadStorePassword(options.state_store_password);
  if (error.empty()) error = CheckOptions(options);
  if (!error.empty()) {
    std::cerr << "rwkv-server: " << error << " (see --help)\n";
    return 2;
  }
  // Every thread inherits this mask, so the signals are delivered only to sigwait below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigset_t with_reload = signals;
  sigaddset(&with_reload, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &with_reload, nullptr);

  auto server = rwkv::server::Server::Start(options);
  if (!server.ok()) {
    std::cerr << "rwkv-server: " << server.status() << "\n";
    return 1;
  }
  // SIGHUP reloads (Reload logs the outcome) until SIGTERM or SIGINT; a SIGHUP during the drain
  // stays blocked and pending, so it does nothing.
  int signal_number = 0;
  while (sigwait(&with_reload, &signal_number) == 0 && signal_number == SIGHUP) {
    (*server)->Reload().IgnoreError();
  }
  // A second SIGTERM or SIGINT during the drain ends it at once (what is in flight rolls back).
  // The watcher outlives `server` (it stays blocked in sigwait until the process exits), so it
  // reaches the server only through DrainingServer, which is cleared before the server goes.
  DrainingServer::Set(server->get());
  std::thread([signals] {
    int second = 0;
    sigwait(&signals, &second);
    DrainingServer::CutShort();
  }).detach();
  const absl::Status drained = (*server)->Drain();
  DrainingServer::Set(nullptr);
  server->reset();
  if (!drained.ok()) {
    std::cerr << "rwkv-server: " << drained << "\n";
    return 1;
  }
  return 0;
}
