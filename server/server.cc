#include "server/server.h"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <string>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/tokenizer/tokenizer_factory.h"
#include "common/process_memory.h"
#include "common/read_file.h"
#include "common/status_macros.h"
#include "server/api/request_limits.h"
#include "server/store/instrumented_state_store.h"
#include "server/store/state_store.h"

namespace rwkv::server {
namespace {

std::string ReplicaName(const Server::Options& options) {
  if (!options.replica_name.empty()) return options.replica_name;
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "unknown-host");
  return absl::StrCat(host, ":", getpid());
}

// A duration as a gRPC channel argument in milliseconds (which is an int).
int ChannelArgMillis(absl::Duration duration) {
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(duration), INT_MAX));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const Options& options) {
  auto server = std::unique_ptr<Server>(new Server(options));
  RWKV_RETURN_IF_ERROR(server->LoadAuth());
  RWKV_RETURN_IF_ERROR(server->Listen());
  RWKV_RETURN_IF_ERROR(server->ServeHttp());
  RWKV_RETURN_IF_ERROR(server->ServeOpenAi());
  RWKV_RETURN_IF_ERROR(server->LoadAndServe());
  return server;
}

absl::Status Server::LoadAuth() {
  metrics_ = std::make_unique<metrics::ServerMetrics>(!options_.http_address.empty());
  if (options_.auth_tokens_file.empty()) {
    metrics_->SetTenants({""});
    return absl::OkStatus();
  }
  RWKV_ASSIGN_OR_RETURN(authenticator_, auth::Authenticator::Load(options_.auth_tokens_file));
  const std::vector<std::string> tenants = authenticator_->Tenants();
  metrics_->SetTenants(tenants);
  context_.authenticator = authenticator_.get();
  log_.Event(absl::StrCat("authentication: ", tenants.size(), " tenants from ",
                          options_.auth_tokens_file, " (reloaded on SIGHUP)"));
  return absl::OkStatus();
}

absl::Status Server::Reload() {
  if (authenticator_ == nullptr) return absl::OkStatus();
  if (absl::Status reloaded = authenticator_->Reload(options_.auth_tokens_file); !reloaded.ok()) {
    log_.Event(absl::StrCat("SIGHUP: tokens file not reloaded, the previous one stays: ",
                            reloaded.ToString()));
    return reloaded;
  }
  const std::vector<std::string> tenants = authenticator_->Tenants();
  metrics_->SetTenants(tenants);
  log_.Event(absl::StrCat("SIGHUP: tokens file reloaded: ", tenants.size(), " tenants"));
  return absl::OkStatus();
}

absl::Status Server::Listen() {
  grpc::EnableDefaultHealthCheckService(true);
  if (options_.reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  context_.log = &log_;
  context_.requests = metrics_->requests();
  context_.limits = options_.limits;
  context_.model_source = options_.model;
  service_ = std::make_unique<RwkvService>(context_);
  grpc::ServerBuilder builder;
  // Explicit rather than gRPC's defaults (4 MiB in, unlimited out, unlimited streams): what one
  // client may send, be sent and keep open (request_limits.h).
  builder.SetMaxReceiveMessageSize(options_.limits.max_request_bytes);
  builder.SetMaxSendMessageSize(kMaxResponseBytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             options_.limits.max_streams_per_connection);
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, kMaxRequestMetadataBytes);
  // Without an age a client keeps its connection, and so its replica, for as long as it runs:
  // behind a TCP balancer, replicas added later would get no old client. Running calls finish
  // within the grace (gRPC's default for both: unlimited).
  if (options_.max_connection_age > absl::ZeroDuration()) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               ChannelArgMillis(options_.max_connection_age));
  }
  if (options_.max_connection_age_grace > absl::ZeroDuration()) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               ChannelArgMillis(options_.max_connection_age_grace));
  }
  builder.AddListeningPort(options_.listen, MakeServerCredentials(options_.tls), &port_);
  builder.RegisterService(service_.get());
  grpc_server_ = builder.BuildAndStart();
  if (grpc_server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.listen));
  }
  SetServing(false);
  log_.Event(absl::StrCat("listening on ", options_.listen, " (port ", port_, ", ",
                          options_.tls.Describe(), "), ",
                          authenticator_ != nullptr ? "authenticated" : "unauthenticated",
                          options_.reflection ? ", reflection on" : "", "; loading ",
                          options_.model));
  return absl::OkStatus();
}

absl::Status Server::ServeHttp() {
  if (options_.metrics_address.empty()) return absl::OkStatus();
  metrics::HttpEndpoint::Options http;
  http.address = options_.metrics_address;
  http.metrics = [this] { return metrics_->Serialize(); };
  http.ready = [this] { return serving_.load(std::memory_order_acquire); };
  RWKV_ASSIGN_OR_RETURN(http_, metrics::HttpEndpoint::Start(std::move(http)));
  log_.Event(absl::StrCat("http on ", options_.metrics_address, " (metrics port ", http_->port(),
                          "): /metrics /healthz /readyz"));
  return absl::OkStatus();
}

absl::Status Server::ServeOpenAi() {
  if (options_.http_address.empty()) return absl::OkStatus();
  openai_ = std::make_unique<http::OpenAiFrontEnd>(context_);
  http::HttpServer::Options http;
  http.address = options_.http_address;
  http.handler = [front_end = openai_.get()](http::HttpRequest request,
                                             std::shared_ptr<http::HttpExchange> exchange) {
    front_end->Handle(std::move(request), std::move(exchange));
  };
  // A text prompt of kMaxTextBytes, JSON-escaped, with room for the rest of the body.
  http.max_body_bytes = static_cast<size_t>(options_.limits.max_request_bytes);
  http.threads = options_.http_threads;
  // A client that has read nothing for this long is gone: its connection closes (cancelling its
  // turn) as its stalled gRPC stream would end. Idle keep-alive connections too.
  if (options_.stream_stall_timeout > absl::ZeroDuration()) {
    http.idle_timeout = std::max(absl::Seconds(1), options_.stream_stall_timeout);
  }
  // The gRPC port's certificate, re-read as gRPC's is (every --tls-reload-interval).
  if (options_.tls.enabled()) {
    http::TlsCertificates::Options tls;
    tls.cert_file = options_.tls.cert_file;
    tls.key_file = options_.tls.key_file;
    tls.reload_interval = options_.tls.reload_interval;
    tls.on_reload_error = [this](const absl::Status& error) {
      log_.Event(absl::StrCat("warning: HTTPS certificate not reloaded, the previous one stays: ",
                              error.ToString()));
    };
    RWKV_ASSIGN_OR_RETURN(http.tls, http::TlsCertificates::Create(std::move(tls)));
  }
  RWKV_ASSIGN_OR_RETURN(openai_http_, http::HttpServer::Start(std::move(http)));
  log_.Event(absl::StrCat("openai api on ", options_.http_address, " (http port ",
                          openai_http_->port(), ", ", options_.tls.enabled() ? "TLS" : "plaintext",
                          "): /v1/models /v1/chat/completions /v1/completions"));
  return absl::OkStatus();
}

void Server::SetServing(bool serving) {
  absl::MutexLock lock(&serving_mu_);
  serving_wanted_ = serving;
  PublishServing();
}

void Server::OnStoreHealth(bool healthy, const absl::Status& error) {
  // An embedded store: not ready, so that traffic goes to other replicas, but alive (a restart
  // would not mend a full disk, and the store comes back by itself once a probe succeeds).
  // A shared store (Redis) fails every replica alike: taking them all out of the balancer would
  // only turn the clear UNAVAILABLE of each refused turn into connection errors, and stateless
  // requests still work, so readiness stays on (README, "Many replicas").
  absl::MutexLock lock(&serving_mu_);
  log_.Event(healthy ? std::string("state store healthy again: session turns are accepted")
                     : absl::StrCat("state store failing: ", error.ToString(),
                                    "; session turns are refused",
                                    store_shared_ ? " (readiness stays on: the store is shared)"
                                                  : " and readiness is off",
                                    " until a probe succeeds"));
  store_healthy_ = healthy || store_shared_;
  PublishServing();
}

void Server::PublishServing() {
  const bool serving = serving_wanted_ && store_healthy_;
  serving_.store(serving, std::memory_order_release);
  metrics_->SetReady(serving);
  grpc_server_->GetHealthCheckService()->SetServingStatus(serving);
}

absl::Status Server::LoadAndServe() {
  const absl::Time start = absl::Now();
  RWKV_ASSIGN_OR_RETURN(engine_,
                        engine::Engine::Create({.model = options_.model,
                                                .threads = options_.threads,
                                                .precision = options_.precision,
                                                .auto_precision = options_.auto_precision}));
  // Before warm-up allocates step buffers: what the weights and loading them cost.
  const absl::StatusOr<ProcessMemory> loaded = ReadProcessMemory();
  RWKV_RETURN_IF_ERROR(WarmUp());
  RWKV_ASSIGN_OR_RETURN(tokenizer_,
                        engine::CreateTokenizer(options_.tokenizer, engine_->config().n_vocab,
                                                engine_->EmbeddedVocabulary()));
  StoreOptions store_options;
  store_options.sync_writes = options_.sync_commits;
  store_options.password = options_.state_store_password;
  RWKV_ASSIGN_OR_RETURN(std::unique_ptr<StateStore> store,
                        OpenStateStore(options_.state_store, store_options));
  const std::string backend(store->Backend());
  {
    absl::MutexLock lock(&serving_mu_);
    store_shared_ = store->Shared();
  }
  store = std::make_unique<InstrumentedStateStore>(std::move(store), metrics_->store(backend));
  if (absl::Status probe = ProbeStateStore(*store); !probe.ok()) {
    return absl::UnavailableError(
        absl::StrCat("state store ", options_.state_store, " does not answer: ", probe.message()));
  }
  // The probes go to the store as it is so far (their operations count in its metrics); the
  // sessions' operations pass through StoreHealth too, for its error streak.
  StoreHealth::Options health;
  health.probe_interval = options_.store_probe_interval;
  health.observer = metrics_->store_health(backend);
  health.on_change = [this](bool healthy, const absl::Status& error) {
    OnStoreHealth(healthy, error);
  };
  store_health_ = std::make_unique<StoreHealth>(store.get(), std::move(health));
  store = std::make_unique<InstrumentedStateStore>(std::move(store), store_health_.get());
  SessionManager::Options session_options;
  session_options.model_fingerprint = engine_->fingerprint();
  session_options.initial_state = engine_->InitialState();
  session_options.ttl = options_.session_ttl;
  session_options.hot_cache_bytes = options_.hot_cache_bytes;
  session_options.observer = metrics_->sessions();
  session_options.store_health = store_health_.get();
  session_options.replica = ReplicaName(options_);
  session_options.lease_ttl = options_.session_lease_ttl;
  RWKV_ASSIGN_OR_RETURN(sessions_, SessionManager::Create(std::move(store), session_options));
  scheduler_ = std::make_unique<Scheduler>(
      engine_.get(), tokenizer_.get(),
      Scheduler::Options{options_.max_batch_tokens, options_.max_batch_sequences,
                         options_.max_queued_requests, metrics_->scheduler(), &Clock::Real(),
                         options_.stream_stall_timeout});
  scheduler_->Start();
  RWKV_RETURN_IF_ERROR(CreateBudget());
  const int io_threads = options_.io_threads > 0 ? options_.io_threads : DefaultIoThreads(options_);
  const int io_queue =
      options_.max_io_queue > 0 ? options_.max_io_queue : DefaultIoQueue(options_, io_threads);
  io_ = std::make_unique<IoExecutor>(io_threads, io_queue);
  log_.Event(absl::StrCat("I/O: ", io_threads, " threads, at most ", io_queue,
                          " session RPCs and turn starts waiting (--max-io-queue)"));
  context_.engine = engine_.get();
  context_.tokenizer = tokenizer_.get();
  context_.scheduler = scheduler_.get();
  context_.sessions = sessions_.get();
  context_.io = io_.get();
  writes_ = std::make_unique<IoExecutor>(1);
  context_.writes = writes_.get();
  context_.budget = budget_.get();
  context_.ready.store(true, std::memory_order_release);
  if (options_.session_ttl > absl::ZeroDuration() || sessions_->store_shared()) {
    sweeper_ = std::thread([this] { SweepLoop(); });
  }
  metrics_->SetModel(*engine_);
  metrics_->SetInflightStateLimit(budget_->limit());
  metrics_->SetLiveSource([this] {
    const Scheduler::Stats stats = scheduler_->stats();
    const SessionManager::CacheStats cache = sessions_->cache_stats();
    return metrics::ServerMetrics::Live{stats.running, stats.waiting, sessions_->live_sessions(),
                                        cache.bytes,   cache.entries, budget_->used()};
  });
  SetServing(true);
  store_health_->Start();
  const engine::ModelConfig& config = engine_->config();
  log_.Event(absl::StrFormat(
      "serving %s: %s, %.1fM parameters, %s, fingerprint %s, %d bytes of state per session, "
      "tokenizer %s, %d threads, store %s (%d sessions, %s commits), %s; ready in %.2f s",
      options_.model, config.Summary(), engine_->parameters() / 1e6,
      engine::PrecisionName(engine_->precision()), engine_->fingerprint(), config.StateBytes(),
      tokenizer_->Name(), engine_->threads(), backend, sessions_->live_sessions(),
      options_.sync_commits ? "sync" : "async",
      loaded.ok()
          ? absl::StrFormat("%.1f MiB resident after load (peak %.1f MiB while loading)",
                            loaded->rss_bytes / 1048576.0, loaded->peak_rss_bytes / 1048576.0)
          : std::string("resident memory unknown"),
      absl::ToDoubleSeconds(absl::Now() - start)));
  return absl::OkStatus();
}

int Server::DefaultIoThreads(const Options& options) {
  // The turns of a full batch can end in one step, and each commit holds its thread until the
  // store has it (an fsync with RocksDB, which folds concurrent commits into one write and one
  // sync). A thread per batch slot lets them all commit together; with 4, a batch's 64 commits
  // went in 16 rounds while those sessions sat out of the batch. Threads that wait cost little.
  return std::max(4, options.max_batch_sequences);
}

int Server::DefaultIoQueue(const Options& options, int io_threads) {
  return options.max_queued_requests + 64 * io_threads;
}

absl::Status Server::CreateBudget() {
  // A turn with the longest prompt must fit alone, or it would be refused forever.
  const int64_t largest_turn =
      StateBudget::LargestTurnBytes(engine_->config(), options_.limits.max_prompt_tokens);
  const int64_t smallest_turn = StateBudget::TurnBytes(engine_->config(), 1);
  const int64_t limit = options_.max_inflight_state_bytes > 0
                            ? options_.max_inflight_state_bytes
                            : StateBudget::DefaultLimit(largest_turn, options_.max_batch_sequences);
  if (limit < largest_turn) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max-inflight-state-bytes=", limit,
        " cannot hold one turn of this model: that takes up to ", largest_turn,
        " bytes (its state, its sampler's buffers and a prompt of --max-prompt-tokens)"));
  }
  budget_ = std::make_unique<StateBudget>(limit);
  log_.Event(absl::StrCat("in-flight states: at most ", HumanBytes(limit),
                          " (--max-inflight-state-bytes; a turn holds ", HumanBytes(smallest_turn),
                          " plus 4 bytes per prompt token)"));
  return absl::OkStatus();
}

absl::Status Server::WarmUp() {
  // One step creates the decode-shaped primitives (so the first request does not pay for them)
  // and tells which kernels oneDNN picked.
  std::vector<float> state = engine_->InitialState();
  const int32_t token = 0;
  RWKV_RETURN_IF_ERROR(
      engine_->Forward({{absl::MakeSpan(state), absl::MakeConstSpan(&token, 1)}}).status());
  log_.Event(absl::StrCat("engine: ", engine::PrecisionName(engine_->precision()), " weights, cpu ",
                          engine::CpuIsaName(), ", oneDNN kernels: ", engine_->KernelSummary()));
  return absl::OkStatus();
}

void Server::SweepLoop() {
  const bool expires = options_.session_ttl > absl::ZeroDuration();
  // A shared store's session count is recounted as often (other replicas change it too).
  const absl::Duration period =
      expires ? std::min(absl::Seconds(60), std::max(absl::Seconds(1), options_.session_ttl / 4))
              : absl::Seconds(30);
  while (!stop_sweeper_.WaitForNotificationWithTimeout(period)) {
    if (sessions_->store_shared()) {
      if (absl::Status counted = sessions_->RecountSessions(); !counted.ok()) {
        log_.Event(absl::StrCat("session count failed: ", counted.ToString()));
      }
    }
    if (!expires) continue;
    absl::StatusOr<int> swept = sessions_->SweepExpired();
    if (!swept.ok()) {
      log_.Event(absl::StrCat("session sweep failed: ", swept.status().ToString()));
    } else if (*swept > 0) {
      log_.Event(absl::StrCat("expired ", *swept, " idle sessions"));
    }
  }
}

void Server::CutDrainShort() {
  cut_short_.store(true);
  if (scheduler_ != nullptr) scheduler_->CutDrainShort();
}

absl::Status Server::Drain() {
  if (drained_ || grpc_server_ == nullptr) return absl::OkStatus();
  drained_ = true;
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + options_.drain_timeout;
  // Health first, then the log line: whoever sees "draining" must already see NOT_SERVING.
  context_.draining.store(true, std::memory_order_release);
  SetServing(false);
  log_.Event("draining: no new requests; waiting for in-flight turns");
  // The turns get the drain timeout less a tenth (at most a second) for their commits or
  // rollbacks and last replies, so that the whole drain ends within the timeout.
  const absl::Duration reply_time =
      std::min(absl::Seconds(1), options_.drain_timeout / 10);
  bool finished = true;
  if (scheduler_ != nullptr) finished = scheduler_->Drain(options_.drain_timeout - reply_time);
  // The turns are out of the scheduler; wait for their commits and last replies. gRPC's own
  // Shutdown would also wait for idle client connections to close, which they need not do.
  while (context_.active_calls.load() > 0 && absl::Now() < deadline && !cut_short_.load()) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  // A short grace for calls that are finishing, never past the drain's deadline.
  const absl::Time now = absl::Now();
  grpc_server_->Shutdown(
      absl::ToChronoTime(std::min(now + absl::Milliseconds(200), std::max(now, deadline))));
  openai_http_.reset();  // its open exchanges end; their turns are cancelled
  io_.reset();  // runs anything still posted
  writes_.reset();  // the same; after io_, whose commits may post the last writes
  if (store_health_ != nullptr) store_health_->Stop();
  stop_sweeper_.Notify();
  if (sweeper_.joinable()) sweeper_.join();
  absl::Status flushed = sessions_ != nullptr ? sessions_->Flush() : absl::OkStatus();
  log_.Event(absl::StrFormat("drained in %.2f s (%s); store flush: %s",
                             absl::ToDoubleSeconds(absl::Now() - start),
                             finished ? "every turn finished" : "unfinished turns rolled back",
                             flushed.ToString()));
  return flushed;
}

Server::~Server() {
  Drain().IgnoreError();
  http_.reset();
  grpc_server_.reset();
  scheduler_.reset();
}

}  // namespace rwkv::server
