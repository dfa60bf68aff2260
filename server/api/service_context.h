// What every RPC handler needs: the engine's description, the tokenizer, the scheduler, the
// sessions and the I/O pool. Owned by the server; filled in once the model and the store are
// ready. Handlers ask Authenticate first (the one check of who calls, before anything else),
// then CheckReady, the one place that answers UNAVAILABLE before the server is ready.
#ifndef RWKV_SERVER_API_SERVICE_CONTEXT_H_
#define RWKV_SERVER_API_SERVICE_CONTEXT_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "engine/engine.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/api/generate_request.h"
#include "server/api/request_log.h"
#include "server/api/request_observer.h"
#include "server/auth/authenticator.h"
#include "server/scheduler/scheduler.h"
#include "server/sessions/session_manager.h"
#include "server/turns/io_executor.h"
#include "server/turns/state_budget.h"
#include "server/turns/turn_runner.h"

namespace rwkv::server {

struct ServiceContext {
  // Set (with release semantics) after every pointer below is valid.
  std::atomic<bool> ready{false};
  // Set when the server starts to drain: every new call is refused from then on.
  std::atomic<bool> draining{false};
  const engine::Engine* engine = nullptr;
  const engine::Tokenizer* tokenizer = nullptr;
  Scheduler* scheduler = nullptr;
  SessionManager* sessions = nullptr;
  IoExecutor* io = nullptr;
  // One thread that starts the stream writes the engine thread asks for (gRPC's StartWrite
  // runs the write inline, which the engine must not pay for). Null: they run inline.
  IoExecutor* writes = nullptr;
  StateBudget* budget = nullptr;
  RequestLog* log = nullptr;
  RequestObserver* requests = nullptr;  // optional (metrics)
  // Null: authentication is off (no --auth-tokens-file) and every call is the default tenant's.
  // Set before the server listens, valid as long as the context.
  const auth::Authenticator* authenticator = nullptr;
  ServerLimits limits;
  std::string model_source;
  const Clock* clock = &Clock::Real();  // every handler reads the time here
  // Calls started and not yet finished, so that a drain knows when the last reply has gone out.
  std::atomic<int> active_calls{0};

  // UNAVAILABLE until the model and the store are ready (then every pointer above is valid),
  // and again once the server drains: a client retries on another replica.
  absl::Status CheckReady() const {
    if (draining.load(std::memory_order_acquire)) {
      return absl::UnavailableError("the server is shutting down");
    }
    if (ready.load(std::memory_order_acquire)) return absl::OkStatus();
    return absl::UnavailableError("the server is starting: the model is loading");
  }

  // The tenant a call acts for ("" = the default tenant, when authentication is off), from its
  // `authorization: Bearer <token>` metadata or its verified client certificate; else
  // UNAUTHENTICATED, counted in the metrics (the call's log line is the caller's, with the
  // peer). Every RPC of rwkv.v1.Rwkv asks this before anything else. Any thread.
  absl::StatusOr<std::string> Authenticate(const grpc::ServerContextBase& call) const;
  // The same for what a caller presented in another protocol (the HTTP front end's
  // `Authorization` headers).
  absl::StatusOr<std::string> Authenticate(const auth::Credentials& credentials) const;

  // What a Generate turn needs (valid once CheckReady is OK).
  TurnRunner::Services turn_services() const {
    return {engine, scheduler, sessions, io, clock, budget};
  }

  // The end of one call: its log line and its metrics.
  void RecordRequest(const RequestRecord& record) const {
    // Count before logging: whoever reads the log line must find the request in /metrics.
    if (requests != nullptr) {
      requests->OnRequest(record.method, record.status.code(), record.duration);
      if (record.tenant.has_value()) {
        requests->OnTenantRequest(*record.tenant, record.method, record.prompt_tokens,
                                  record.generated_tokens);
      }
    }
    log->Log(record);
  }
};

// Who made a call, for its log line and its metrics: the tenant it was authenticated as, or
// (refused) its address.
struct Caller {
  std::optional<std::string> tenant;
  std::string peer;

  static Caller Of(const grpc::ServerContextBase& call, const absl::StatusOr<std::string>& tenant);
  void AddTo(RequestRecord& record) const {
    if (tenant.has_value()) record.tenant = *tenant;
    record.peer = peer;
  }
};

// Counts one call in ServiceContext::active_calls for its lifetime.
class ActiveCall {
 public:
  explicit ActiveCall(ServiceContext& context) : context_(&context) {
    context_->active_calls.fetch_add(1, std::memory_order_relaxed);
  }
  ActiveCall(ActiveCall&& other) noexcept : context_(other.context_) { other.context_ = nullptr; }
  ActiveCall(const ActiveCall&) = delete;
  ActiveCall& operator=(const ActiveCall&) = delete;
  ~ActiveCall() {
    if (context_ != nullptr) context_->active_calls.fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  ServiceContext* context_;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_API_SERVICE_CONTEXT_H_
