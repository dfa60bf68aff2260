// GenerateReactor: one streaming Generate call, from request to final message.
//
//   gRPC thread   validate the request; hand the rest to the I/O pool
//   I/O thread    begin the session's turn (load its state), Submit to the scheduler
//   engine thread OnDelta per token (queued, written one at a time), OnFinished at the end
//   I/O thread    commit or roll back the turn, queue the final message
//   gRPC thread   OnWriteDone writes the next queued message; Finish after the last one
//
// At most kMaxQueuedMessages responses wait to be written; while the queue is full the sequence
// is paused by the scheduler (Ready() is false), so a slow reader delays only itself. Finish is
// called exactly once, and never before the scheduler has returned the sequence.
#ifndef RWKV_SERVER_API_GENERATE_REACTOR_H_
#define RWKV_SERVER_API_GENERATE_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <deque>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "rwkv/v1/rwkv.pb.h"
#include "server/api/generate_request.h"
#include "server/api/service_context.h"
#include "server/scheduler/generation.h"
#include "server/sessions/session_manager.h"

namespace rwkv::server {

class GenerateReactor final : public grpc::ServerWriteReactor<rwkv::v1::GenerateResponse>,
                              public GenerationSink {
 public:
  GenerateReactor(ServiceContext& service, grpc::CallbackServerContext* context,
                  const rwkv::v1::GenerateRequest* request);

  // gRPC.
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  // GenerationSink (engine thread).
  bool Ready() const override;
  bool Cancelled() const override { return cancelled_.load(std::memory_order_relaxed); }
  void OnDelta(GenerationDelta delta) override;
  void OnFinished(GenerationResult result) override;

 private:
  static constexpr size_t kMaxQueuedMessages = 16;

  // I/O thread: load the session and submit.
  void Begin();
  // I/O thread: commit or roll back, then send the last message (or the error).
  void Complete(GenerationResult result);
  absl::StatusOr<rwkv::v1::Session> EndTurn(GenerationResult& result);
  void Enqueue(rwkv::v1::GenerateResponse response);
  // Ends the call with `status` once every queued message has been written.
  void FinishWhenFlushed(absl::Status status);
  // Starts the next write, or the pending Finish once nothing is left to write.
  void Pump() ABSL_LOCKS_EXCLUDED(mu_);

  ServiceContext& service_;
  ActiveCall active_;
  grpc::CallbackServerContext* const context_;
  const rwkv::v1::GenerateRequest* const request_;
  const absl::Time received_;
  const std::string request_id_;
  ParsedGenerate parsed_;
  std::optional<SessionManager::Turn> turn_;  // I/O threads only
  std::atomic<bool> cancelled_{false};
  int64_t prompt_tokens_ = -1;
  int64_t generated_tokens_ = -1;

  mutable absl::Mutex mu_;
  std::deque<rwkv::v1::GenerateResponse> queue_ ABSL_GUARDED_BY(mu_);
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_failed_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<absl::Status> finish_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status final_status_;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_API_GENERATE_REACTOR_H_
