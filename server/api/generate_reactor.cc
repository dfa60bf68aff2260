#include "server/api/generate_reactor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/api/request_id.h"
#include "server/api/status_util.h"

namespace rwkv::server {
namespace {

rwkv::v1::FinishReason ToProto(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return rwkv::v1::FINISH_REASON_STOP;
    case FinishReason::kLength:
      return rwkv::v1::FINISH_REASON_LENGTH;
    case FinishReason::kNone:
      break;
  }
  return rwkv::v1::FINISH_REASON_UNSPECIFIED;
}

// Whether a finished turn's state is complete and should become the session's next version.
bool ShouldCommit(const GenerationResult& result, bool keep_on_cancel) {
  if (result.status.ok()) return true;
  const bool cancelled = result.status.code() == absl::StatusCode::kCancelled ||
                         result.status.code() == absl::StatusCode::kDeadlineExceeded;
  return cancelled && keep_on_cancel && result.tokens_in_state > 0;
}

}  // namespace

GenerateReactor::GenerateReactor(ServiceContext& service, grpc::CallbackServerContext* context,
                                 const rwkv::v1::GenerateRequest* request)
    : service_(service),
      active_(service),
      context_(context),
      request_(request),
      received_(absl::Now()),
      // Sent with the first message (or the status), so the client has it even on an error.
      request_id_(AttachRequestId(context)) {
  if (!service_.ready.load(std::memory_order_acquire)) {
    FinishWhenFlushed(absl::UnavailableError("the server is starting: the model is loading"));
    return;
  }
  absl::StatusOr<ParsedGenerate> parsed = ParseGenerateRequest(
      *request, *service_.tokenizer, service_.engine->config().n_vocab, service_.limits);
  if (!parsed.ok()) {
    FinishWhenFlushed(parsed.status());
    return;
  }
  parsed_ = *std::move(parsed);
  service_.io->Post([this] { Begin(); });
}

void GenerateReactor::Begin() {
  std::vector<float> state;
  if (!parsed_.session_id.empty()) {
    SessionManager::TurnOptions options{parsed_.create_session, parsed_.expected_version};
    absl::StatusOr<SessionManager::Turn> turn =
        service_.sessions->BeginTurn(parsed_.session_id, options);
    if (!turn.ok()) {
      FinishWhenFlushed(turn.status());
      return;
    }
    state = turn->TakeState();
    turn_.emplace(*std::move(turn));
  } else {
    state = service_.engine->InitialState();
  }
  if (Cancelled()) {
    turn_.reset();  // rolls back
    FinishWhenFlushed(absl::CancelledError("the client cancelled the request"));
    return;
  }
  GenerationRequest request;
  request.prompt = parsed_.prompt;
  request.state = std::move(state);
  request.sampling = parsed_.sampling;
  request.max_tokens = parsed_.max_tokens;
  request.stop_tokens = parsed_.stop_tokens;
  request.stop_strings = parsed_.stop_strings;
  request.keep_on_cancel = parsed_.keep_on_cancel;
  request.received = received_;
  const auto deadline = context_->deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    request.deadline = absl::FromChrono(deadline);
  }
  prompt_tokens_ = static_cast<int64_t>(parsed_.prompt.size());
  if (absl::Status status = service_.scheduler->Submit(std::move(request), this); !status.ok()) {
    turn_.reset();
    FinishWhenFlushed(status);
  }
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

void GenerateReactor::OnFinished(GenerationResult result) {
  // Committing touches the store: leave the engine thread at once.
  service_.io->Post([this, result = std::move(result)]() mutable { Complete(std::move(result)); });
}

absl::StatusOr<rwkv::v1::Session> GenerateReactor::EndTurn(GenerationResult& result) {
  if (!turn_.has_value()) return rwkv::v1::Session();
  SessionManager::Turn turn = *std::move(turn_);
  turn_.reset();
  if (!ShouldCommit(result, parsed_.keep_on_cancel)) {
    service_.sessions->Abort(std::move(turn));
    return rwkv::v1::Session();
  }
  return service_.sessions->Commit(std::move(turn), result.state, result.tokens_in_state);
}

void GenerateReactor::Complete(GenerationResult result) {
  generated_tokens_ = result.generated_tokens;
  absl::StatusOr<rwkv::v1::Session> session = EndTurn(result);
  if (!result.status.ok()) {
    FinishWhenFlushed(result.status);
    return;
  }
  if (!session.ok()) {
    FinishWhenFlushed(session.status());
    return;
  }
  rwkv::v1::GenerateResponse response;
  auto* done = response.mutable_done();
  done->set_finish_reason(ToProto(result.finish_reason));
  done->set_matched_stop(result.matched_stop);
  done->mutable_usage()->set_prompt_tokens(result.prompt_tokens);
  done->mutable_usage()->set_generated_tokens(result.generated_tokens);
  done->mutable_usage()->set_session_tokens(session->token_count());
  auto* timings = done->mutable_timings();
  timings->set_time_to_first_token_s(absl::ToDoubleSeconds(result.timings.time_to_first_token));
  timings->set_queue_s(absl::ToDoubleSeconds(result.timings.queue));
  timings->set_prefill_s(absl::ToDoubleSeconds(result.timings.prefill));
  timings->set_total_s(absl::ToDoubleSeconds(absl::Now() - received_));
  if (!parsed_.session_id.empty()) *done->mutable_session() = *std::move(session);
  done->set_seed(parsed_.sampling.seed);
  Enqueue(std::move(response));
  FinishWhenFlushed(absl::OkStatus());
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
      cancelled_.store(true, std::memory_order_relaxed);
    }
    room_again = queue_.size() == kMaxQueuedMessages - 1;
  }
  // A paused sequence can run again (before Pump, which may end this reactor's life).
  if (room_again || !ok) service_.scheduler->Wake();
  Pump();
}

void GenerateReactor::OnCancel() {
  cancelled_.store(true, std::memory_order_relaxed);
  if (service_.ready.load(std::memory_order_acquire)) service_.scheduler->Wake();
}

void GenerateReactor::OnDone() {
  service_.RecordRequest({"Generate", request_id_, parsed_.session_id, prompt_tokens_,
                          generated_tokens_, final_status_, absl::Now() - received_});
  delete this;
}

}  // namespace rwkv::server
