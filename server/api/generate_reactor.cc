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
  return queue_.size() < kMaxQueuedMessages;
}

void GenerateReactor::OnDelta(GenerationDelta delta) {
  rwkv::v1::GenerateResponse response;
  auto* out = response.mutable_delta();
  out->set_text(std::move(delta.text));
  out->mutable_token_ids()->Add(delta.token_ids.begin(), delta.token_ids.end());
  Enqueue(std::move(response));
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

void GenerateReactor::FinishWhenFlushed(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    finish_ = std::move(status);
  }
  Pump();
}

void GenerateReactor::Pump() {
  // StartWrite and Finish are called without mu_: gRPC may run OnWriteDone or OnDone (which
  // deletes this reactor) inline. The flags set under mu_ keep them to one at a time.
  const rwkv::v1::GenerateResponse* next = nullptr;
  std::optional<grpc::Status> finish;
  {
    absl::MutexLock lock(&mu_);
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
    queue_.pop_front();
    if (!ok) {
      writes_failed_ = true;
      queue_.clear();
    }
    room_again = queue_.size() == kMaxQueuedMessages - 1;
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
