// Server: rwkv-server assembled: the gRPC endpoint (rwkv.v1.Rwkv behind authentication when a
// tokens file is given; health; reflection when asked), the OpenAI-compatible HTTP API (when
// asked; the same turns and authentication), the HTTP endpoint (/metrics, /healthz, /readyz),
// the engine, the scheduler, the sessions and their store.
//
//   Server::Options options;  // from flags, see main.cc
//   RWKV_ASSIGN_OR_RETURN(auto server, Server::Start(options));   // listening, health SERVING
//   ...                                                          // until SIGTERM
//   server->Reload();  // SIGHUP: the tokens file again (the old table kept if it is bad)
//   server->Drain();   // NOT_SERVING, no new work, in-flight turns finish or roll back, flush
//
// Start binds the ports first (health NOT_SERVING and /readyz 503, every RPC UNAVAILABLE), then
// loads the model, opens the store and checks that it answers, then reports SERVING. While
// serving, a failing state store (StoreHealth: an error streak or a failed probe) reports
// NOT_SERVING until a probe succeeds again; liveness (/healthz) stays OK throughout.
#ifndef RWKV_SERVER_SERVER_H_
#define RWKV_SERVER_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/api/generate_request.h"
#include "server/turns/io_executor.h"
#include "server/turns/state_budget.h"
#include "server/api/request_log.h"
#include "server/api/rwkv_service.h"
#include "server/api/server_tls.h"
#include "server/api/service_context.h"
#include "server/auth/authenticator.h"
#include "server/http/http_server.h"
#include "server/http/openai_front_end.h"
#include "server/metrics/http_endpoint.h"
#include "server/metrics/server_metrics.h"
#include "server/store/store_health.h"

namespace rwkv::server {

class Server {
 public:
  struct Options {
    std::string model;          // file path or synthetic:<shape>
    std::string tokenizer;      // "", "bytes", "world" or a vocabulary path
    std::string listen = "127.0.0.1:50051";
    // --tls-*: the gRPC port's certificate, key and client CA (server_tls.h); none: plaintext.
    TlsFiles tls;
    // --auth-tokens-file: every rwkv.v1.Rwkv call needs a token (or a mapped client
    // certificate) from it; "": authentication off, every call the default tenant's.
    std::string auth_tokens_file;
    // --reflection: gRPC server reflection (main.cc resolves its default from --listen).
    bool reflection = true;
    std::string metrics_address = "127.0.0.1:9464";  // IP:PORT (0: any free port); "": none
    // --http-address: the OpenAI-compatible HTTP API (server/http/); "": none. A port alone
    // (":8080", "8080") listens on loopback. HTTPS with `tls`'s certificate when it has one
    // (read at start; no client certificates).
    std::string http_address;
    int http_threads = 4;  // --http-threads: its event threads
    LogFormat log_format = LogFormat::kText;
    std::string state_store;    // "rocksdb:PATH", "redis://HOST:PORT[/DB]" or "memory:"
    // --state-store-password-file or $RWKV_STATE_STORE_PASSWORD: Redis's AUTH password ("" =
    // none). Never logged.
    std::string state_store_password;
    // --commit-durability: fsync each commit before the turn's final message (sync) or not.
    bool sync_commits = true;
    int64_t max_batch_tokens = 512;
    int max_batch_sequences = 64;
    int max_queued_requests = 256;
    // --stream-stall-timeout: a stream its client has not read for this long ends; 0: never.
    absl::Duration stream_stall_timeout = absl::Seconds(60);
    absl::Duration session_ttl = absl::ZeroDuration();
    int64_t hot_cache_bytes = int64_t{1} << 30;
    int threads = 0;
    engine::Precision precision = engine::Precision::kF32;
    // --precision auto: the model may choose (EngineOptions::auto_precision).
    bool auto_precision = false;
    // --io-threads; 0: the default (DefaultIoThreads).
    int io_threads = 0;
    // --max-inflight-state-bytes: what queued and running turns may hold; 0: the default
    // (StateBudget::DefaultLimit for the loaded model).
    int64_t max_inflight_state_bytes = 0;
    // --max-io-queue: session RPCs and turn starts waiting for an I/O thread; 0: the default
    // (DefaultIoQueue).
    int max_io_queue = 0;
    absl::Duration drain_timeout = absl::Seconds(30);
    // --max-connection-age: a client connection gets a GOAWAY after about this long (gRPC adds
    // up to 10 % jitter), so that clients behind a TCP balancer reconnect and spread over the
    // replicas; 0: never. --max-connection-age-grace: how long the calls still running on it
    // may then take before it is closed; 0: as long as they need.
    absl::Duration max_connection_age = absl::Minutes(30);
    absl::Duration max_connection_age_grace = absl::Minutes(5);
    // --store-probe-interval: how often the state store is probed while serving; 0: off (no
    // probes, no error streak).
    absl::Duration store_probe_interval = absl::Seconds(5);
    // --replica-name: this replica in other replicas' errors; empty: HOSTNAME:PID.
    std::string replica_name;
    // --session-lease-ttl: how long a session's store lease outlives a replica that stopped
    // renewing it (killed, paused): the wait before another replica may continue the session.
    absl::Duration session_lease_ttl = absl::Seconds(10);
    ServerLimits limits;
  };

  static absl::StatusOr<std::unique_ptr<Server>> Start(const Options& options);
  // --io-threads' default: one per batch slot (max_batch_sequences), at least 4.
  static int DefaultIoThreads(const Options& options);
  // --max-io-queue's default: room for every turn start the scheduler's queue can hold
  // (max_queued_requests), plus 64 session RPCs per I/O thread.
  static int DefaultIoQueue(const Options& options, int io_threads);
  ~Server();

  // The ports actually bound (useful with :0); metrics_port() is 0 without an HTTP endpoint.
  int port() const { return port_; }
  int metrics_port() const { return http_ != nullptr ? http_->port() : 0; }
  // The OpenAI-compatible API's port; 0 without --http-address.
  int openai_port() const { return openai_http_ != nullptr ? openai_http_->port() : 0; }

  // SIGHUP: reads the tokens file again and swaps it in whole (running calls keep the tenant
  // they were authenticated as); on an error the old table stays and one line is logged.
  // Returns that error. Nothing to do without --auth-tokens-file. Any thread.
  absl::Status Reload();

  // Graceful shutdown (design §3): health NOT_SERVING, refuse every new call (UNAVAILABLE), let
  // in-flight turns finish within the drain timeout (the rest are rolled back), flush the store.
  // The whole drain, last replies included, stays within the drain timeout. Idempotent.
  absl::Status Drain();
  // Ends a running (or the next) Drain's wait at once: what is still in flight is rolled back.
  // For a second SIGTERM; any thread.
  void CutDrainShort();

 private:
  explicit Server(const Options& options) : options_(options), log_(options.log_format) {}
  // Loads the tokens file (before listening: no call is ever served unauthenticated).
  absl::Status LoadAuth();
  absl::Status Listen();
  absl::Status ServeHttp();
  // The OpenAI-compatible API on --http-address (before the model loads: UNAVAILABLE till then).
  absl::Status ServeOpenAi();
  absl::Status LoadAndServe();
  absl::Status WarmUp();
  // The in-flight state budget for the loaded model; INVALID_ARGUMENT when it cannot hold a turn.
  absl::Status CreateBudget();
  // Sweeps expired sessions (with a TTL) and recounts a shared store's sessions, periodically.
  void SweepLoop();
  // gRPC health, /readyz and rwkv_ready together: SERVING when `serving` and the store is
  // healthy.
  void SetServing(bool serving) ABSL_LOCKS_EXCLUDED(serving_mu_);
  // StoreHealth's change of health: the log line and readiness.
  void OnStoreHealth(bool healthy, const absl::Status& error) ABSL_LOCKS_EXCLUDED(serving_mu_);
  void PublishServing() ABSL_EXCLUSIVE_LOCKS_REQUIRED(serving_mu_);

  const Options options_;
  int port_ = 0;
  RequestLog log_;
  // Before everything that reports to it, so that it outlives them.
  std::unique_ptr<metrics::ServerMetrics> metrics_;
  std::atomic<bool> serving_{false};
  absl::Mutex serving_mu_;
  bool serving_wanted_ ABSL_GUARDED_BY(serving_mu_) = false;
  bool store_healthy_ ABSL_GUARDED_BY(serving_mu_) = true;
  // The store is shared by every replica (Redis): its failure does not touch readiness.
  bool store_shared_ ABSL_GUARDED_BY(serving_mu_) = false;
  std::unique_ptr<auth::Authenticator> authenticator_;  // null without --auth-tokens-file
  ServiceContext context_;
  std::unique_ptr<RwkvService> service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<engine::Tokenizer> tokenizer_;
  // Before the sessions, whose store reports to it; its probe thread stops in Drain.
  std::unique_ptr<StoreHealth> store_health_;
  std::unique_ptr<SessionManager> sessions_;
  std::unique_ptr<StateBudget> budget_;  // before what holds reservations, so it outlives them
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<IoExecutor> io_;
  std::unique_ptr<IoExecutor> writes_;  // context_.writes
  absl::Notification stop_sweeper_;
  std::thread sweeper_;
  bool drained_ = false;
  std::atomic<bool> cut_short_{false};
  std::unique_ptr<metrics::HttpEndpoint> http_;  // stopped first (it reads the members above)
  // The OpenAI-compatible front end: stopped in Drain, with gRPC.
  std::unique_ptr<http::OpenAiFrontEnd> openai_;
  std::unique_ptr<http::HttpServer> openai_http_;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_SERVER_H_
