#include "server/api/generate_reactor.h"

#include <chrono>
#include <utility>

#include "server/api/generate_request.h"
#include "server/api/request_id.h"
#include "server/api/status_util.h"

namespace rwkv::server {

GenerateReactor::GenerateReactor(ServiceContext& service, grpc::CallbackServerContext* context,
                                 const rwkv::v1::GenerateRequest* request)
    : service_(service),
      active_(service),
      received_(service.clock->Now()),
      // Sent with the first message (or the status), so the client has it even on an error.
      request_id_(AttachRequestId(context)) {
  // Before anything else: a caller that is refused learns nothing, not even readiness.
  absl::StatusOr<std::string> tenant = service_.Authenticate(*context);
  caller_ = Caller::Of(*context, tenant);
  if (!tenant.ok()) {
    FinishWhenFlushed(tenant.status());
    return;
  }
  if (absl::Status ready = service_.CheckReady(); !ready.ok()) {
    FinishWhenFlushed(std::move(ready));
    return;
  }
  absl::StatusOr<TurnRequest> parsed = ParseGenerateRequest(
      *request, *service_.tokenizer, service_.engine->config().n_vocab, service_.limits);
  if (!parsed.ok()) {
    FinishWhenFlushed(parsed.status());
    return;
  }
  parsed->generation.received = received_;
  if (const auto deadline = context->deadline();
      deadline != std::chrono::system_clock::time_point::max()) {
    parsed->generation.deadline = absl::FromChrono(deadline);
  }
  session_id_ = parsed->session_id;
  parsed->tenant = *std::move(tenant);  // the turn sees only this tenant's sessions
  turn_.emplace(service_.turn_services(), this);
  turn_->Start(*std::move(parsed));
}

bool GenerateReactor::Ready() const {
  absl::MutexLock lock(&mu_);
  return queued_tokens_ < kMaxQueuedTokens;
}

void GenerateReactor::OnDelta(GenerationDelta delta) {
  bool post = false;
  {
    absl::MutexLock lock(&mu_);
    if (writes_failed_) return;  // the client is gone; nothing more will be written
    queued_tokens_ += delta.token_ids.size();
    // Behind the write in flight, tokens join the delta that waits: a client that lags gets
    // fewer, larger messages (the proto allows several tokens per delta) instead of a backlog.
    const size_t in_flight = write_in_flight_ ? 1 : 0;
    const bool join = queue_.size() > in_flight && queue_.back().has_delta();
    auto* out = (join ? queue_.back() : queue_.emplace_back()).mutable_delta();
    out->mutable_text()->append(delta.text);
    out->mutable_token_ids()->Add(delta.token_ids.begin(), delta.token_ids.end());
    post = service_.writes != nullptr && !write_in_flight_ && !pump_posted_ && !finished_;
    pump_posted_ |= post;
  }
  // This is the engine thread, and gRPC's StartWrite runs the write inline (framing, often the
  // send): the writes' thread starts it instead, and the engine goes on to the next token.
  if (post) {
    service_.writes->Post([this] { Pump(/*posted=*/true); });
  } else if (service_.writes == nullptr) {
    Pump();
  }
}

void GenerateReactor::OnFinished(TurnResult result) {
  {
    absl::MutexLock lock(&mu_);
    prompt_tokens_ = result.prompt_tokens;
    generated_tokens_ = result.generated_tokens;
  }
  if (result.status.ok()) Enqueue(DoneResponse(result));
  FinishWhenFlushed(std::move(result.status));
}

void GenerateReactor::Enqueue(rwkv::v1::GenerateResponse response) {
  {
    absl::MutexLock lock(&mu_);
    if (writes_failed_) return;  // the client is gone; nothing more will be written
    queue_.push_back(std::move(response));
  }
  Pump();
}

size_t GenerateReactor::Tokens(const rwkv::v1::GenerateResponse& response) {
  return response.has_delta() ? static_cast<size_t>(response.delta().token_ids_size()) : 0;
}

void GenerateReactor::FinishWhenFlushed(absl::Status status) {
  // Set inside Pump's critical section, not before it: once finish_ is set, a write completing
  // on another thread may Finish and delete this reactor, so this thread may touch it again only
  // as the Pump that acts (seen by TSan as a lock of the deleted reactor's mutex).
  Pump(/*posted=*/false, std::move(status));
}

void GenerateReactor::Pump(bool posted, std::optional<absl::Status> finish_with) {
  // StartWrite and Finish are called without mu_: gRPC may run OnWriteDone or OnDone (which
  // deletes this reactor) inline. The flags set under mu_ keep them to one at a time.
  const rwkv::v1::GenerateResponse* next = nullptr;
  std::optional<grpc::Status> finish;
  {
    absl::MutexLock lock(&mu_);
    if (finish_with.has_value()) finish_ = std::move(*finish_with);
    // While a posted pump waits, it alone may start the next write or Finish: so this reactor
    // outlives the task that points at it.
    if (posted) {
      pump_posted_ = false;
    } else if (pump_posted_) {
      return;
    }
    if (write_in_flight_ || finished_) return;
    if (!queue_.empty() && !writes_failed_) {
      write_in_flight_ = true;
      next = &queue_.front();  // stays valid until OnWriteDone pops it
    } else if (finish_.has_value()) {
      finished_ = true;
      final_status_ = *finish_;
      finish = ToGrpcStatus(*finish_);
    }
  }
  if (next != nullptr) {
    StartWrite(next);
  } else if (finish.has_value()) {
    Finish(*finish);  // nothing may touch `this` after this call
  }
}

void GenerateReactor::OnWriteDone(bool ok) {
  bool room_again;
  {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    const bool was_full = queued_tokens_ >= kMaxQueuedTokens;
    queued_tokens_ -= Tokens(queue_.front());
    queue_.pop_front();
    if (!ok) {
      writes_failed_ = true;
      queue_.clear();
      queued_tokens_ = 0;
    }
    room_again = was_full && queued_tokens_ < kMaxQueuedTokens;
  }
  // Writes come only from a started turn. Wake a paused one (before Pump, which may end this
  // reactor's life); a failed write means the client is gone.
  if (!ok) {
    turn_->Cancel();
  } else if (room_again) {
    turn_->Wake();
  }
  Pump();
}

void GenerateReactor::OnCancel() {
  if (turn_.has_value()) turn_->Cancel();
  // gRPC runs OnDone (which deletes this) only after OnCancel has returned, but it orders the two
  // inside libgrpc++, which ThreadSanitizer cannot see; passing through mu_, which OnDone takes
  // too, states that order where TSan sees it (scripts/test.sh --tsan).
  absl::MutexLock lock(&mu_);
}

void GenerateReactor::OnDone() {
  {
    absl::MutexLock lock(&mu_);  // uncontended by now, but the fields are guarded
    RequestRecord record;
    record.method = "Generate";
    record.request_id = request_id_;
    record.session = session_id_;
    record.prompt_tokens = prompt_tokens_;
    record.generated_tokens = generated_tokens_;
    record.status = final_status_;
    record.duration = service_.clock->Now() - received_;
    caller_.AddTo(record);
    service_.RecordRequest(record);
  }
  delete this;
}

}  // namespace rwkv::server
