// GenerateReactor: one streaming Generate call, as a thin adapter between a TurnRunner (which
// runs the turn: session, scheduler, commit) and gRPC's write queue.
//
//   gRPC thread   authenticate, check readiness, parse the request, start the turn
//   engine thread OnDelta per token batch (queued; the writes' thread starts the write)
//   I/O thread    OnFinished: queue the final message (or remember the error)
//   gRPC thread   OnWriteDone writes the next queued message; Finish after the last one
//
// Tokens that arrive while a write is in flight join one waiting message, so a client that lags
// gets fewer, larger messages. At most kMaxQueuedTokens tokens wait to be written; while that
// many do the turn is paused (Ready() is false), so a slow reader delays only itself. Finish is called exactly once,
// and never before the scheduler has returned the sequence (OnFinished comes after that).
#ifndef RWKV_SERVER_API_GENERATE_REACTOR_H_
#define RWKV_SERVER_API_GENERATE_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "rwkv/v1/rwkv.pb.h"
#include "server/api/service_context.h"
#include "server/turns/turn_runner.h"
#include "server/turns/turn_sink.h"

namespace rwkv::server {

class GenerateReactor final : public grpc::ServerWriteReactor<rwkv::v1::GenerateResponse>,
                              public TurnSink {
 public:
  GenerateReactor(ServiceContext& service, grpc::CallbackServerContext* context,
                  const rwkv::v1::GenerateRequest* request);

  // gRPC.
  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnCancel() override ABSL_LOCKS_EXCLUDED(mu_);
  void OnDone() override ABSL_LOCKS_EXCLUDED(mu_);

  // TurnSink.
  bool Ready() const override ABSL_LOCKS_EXCLUDED(mu_);
  void OnDelta(GenerationDelta delta) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnFinished(TurnResult result) override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  static constexpr size_t kMaxQueuedTokens = 16;

  static size_t Tokens(const rwkv::v1::GenerateResponse& response);

  void Enqueue(rwkv::v1::GenerateResponse response) ABSL_LOCKS_EXCLUDED(mu_);
  // Ends the call with `status` once every queued message has been written.
  void FinishWhenFlushed(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  // Starts the next write, or the pending Finish once nothing is left to write. `posted`: the
  // task OnDelta posted to the writes' thread. `finish_with`: becomes the pending Finish's
  // status in the same critical section (see FinishWhenFlushed).
  void Pump(bool posted = false, std::optional<absl::Status> finish_with = std::nullopt)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Immutable once the constructor returns (before gRPC calls any reaction).
  ServiceContext& service_;
  ActiveCall active_;
  const absl::Time received_;
  const std::string request_id_;
  std::string session_id_;          // empty when none, or the request was refused
  Caller caller_;                   // its tenant, or its address when refused
  std::optional<TurnRunner> turn_;  // engaged when the request was valid and the turn started

  mutable absl::Mutex mu_;
  std::deque<rwkv::v1::GenerateResponse> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_tokens_ ABSL_GUARDED_BY(mu_) = 0;  // in queue_'s deltas, the one in flight too
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool pump_posted_ ABSL_GUARDED_BY(mu_) = false;  // a Pump task waits on the writes' thread
  bool writes_failed_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<absl::Status> finish_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // For the request log, written when the turn ends, read in OnDone.
  absl::Status final_status_ ABSL_GUARDED_BY(mu_);
  int64_t prompt_tokens_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t generated_tokens_ ABSL_GUARDED_BY(mu_) = -1;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_API_GENERATE_REACTOR_H_
