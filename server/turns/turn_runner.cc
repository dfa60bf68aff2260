#include "server/turns/turn_runner.h"

#include <utility>
#include <vector>

namespace rwkv::server {

bool ShouldCommit(const GenerationResult& result, bool keep_on_cancel) {
  if (result.status.ok()) return true;
  const bool cancelled = result.status.code() == absl::StatusCode::kCancelled ||
                         result.status.code() == absl::StatusCode::kDeadlineExceeded;
  return cancelled && keep_on_cancel && result.tokens_in_state > 0;
}

TurnRunner::TurnRunner(const Services& services, TurnSink* sink)
    : services_(services), sink_(sink) {}

void TurnRunner::Start(TurnRequest request) {
  absl::Status admitted = Admit(request);
  if (admitted.ok()) {
    admitted = services_.io->TryPost(
        [this, request = std::move(request)]() mutable { Begin(std::move(request)); });
  }
  if (!admitted.ok()) Fail(std::move(admitted));  // last: the sink may destroy this runner
}

absl::Status TurnRunner::Admit(const TurnRequest& request) {
  absl::StatusOr<Scheduler::QueuePlace> place = services_.scheduler->ReservePlace();
  if (!place.ok()) return place.status();
  place_.emplace(*std::move(place));
  if (services_.budget != nullptr) {
    absl::StatusOr<StateBudget::Reservation> bytes = services_.budget->Reserve(
        StateBudget::TurnBytes(services_.engine->config(), request.generation.prompt.size(),
                               request.generation.sampling));
    if (!bytes.ok()) return bytes.status();
    bytes_ = *std::move(bytes);
  }
  return absl::OkStatus();
}

void TurnRunner::ReleaseAdmission() {
  place_.reset();
  bytes_.Release();
}

void TurnRunner::Cancel() {
  cancelled_.store(true, std::memory_order_relaxed);
  services_.scheduler->Wake();  // a paused sequence must notice too
}

void TurnRunner::Wake() { services_.scheduler->Wake(); }

bool TurnRunner::Replayed(const TurnRequest& request) {
  if (request.turn_id.empty() || request.session_id.empty()) return false;
  // Any error here (no such session, another model's, a store error) is the normal path's to
  // report: BeginTurn meets it again.
  absl::StatusOr<SessionRecord> record =
      services_.sessions->GetSession(request.tenant, request.session_id);
  if (!record.ok() || record->last_turn.turn_id != request.turn_id) return false;
  for (GenerationDelta& delta : ReplayedDeltas(record->last_turn)) sink_->OnDelta(std::move(delta));
  ReleaseAdmission();
  sink_->OnFinished(ReplayedResult(*record));  // last: the sink may destroy this runner
  return true;
}

void TurnRunner::Begin(TurnRequest request) {
  if (Replayed(request)) return;
  GenerationRequest& generation = request.generation;
  if (!request.session_id.empty()) {
    SessionManager::TurnOptions options{request.create_session, request.expected_version};
    absl::StatusOr<SessionManager::Turn> turn =
        services_.sessions->BeginTurn(request.tenant, request.session_id, options);
    if (!turn.ok()) return Fail(turn.status());
    generation.state = turn->TakeState();
    turn_.emplace(*std::move(turn));
  } else {
    generation.state = services_.engine->InitialState();
  }
  if (Cancelled()) {
    turn_.reset();  // rolls back
    return Fail(absl::CancelledError("the client cancelled the request"));
  }
  keep_on_cancel_ = generation.keep_on_cancel;
  received_ = generation.received;
  seed_ = generation.sampling.seed;
  prompt_tokens_ = static_cast<int32_t>(generation.prompt.size());
  if (turn_.has_value()) turn_id_ = std::move(request.turn_id);
  // The place goes with the request (Submit uses it up or gives it back).
  Scheduler::QueuePlace place = *std::move(place_);
  place_.reset();
  // After a successful Submit the result may already be on its way: touch nothing more.
  if (absl::Status status =
          services_.scheduler->Submit(std::move(generation), this, std::move(place));
      !status.ok()) {
    turn_.reset();
    Fail(status);
  }
}

void TurnRunner::OnFinished(GenerationResult result) {
  // Committing touches the store: leave the engine thread at once.
  services_.io->Post([this, result = std::move(result)]() mutable { Complete(std::move(result)); });
}

absl::StatusOr<std::optional<SessionRecord>> TurnRunner::EndTurn(const GenerationResult& result,
                                                                 CommittedTurn last_turn) {
  if (!turn_.has_value()) return std::nullopt;
  SessionManager::Turn turn = *std::move(turn_);
  turn_.reset();
  if (!ShouldCommit(result, keep_on_cancel_)) {
    services_.sessions->Abort(std::move(turn));
    return std::nullopt;
  }
  return services_.sessions->Commit(std::move(turn), result.state, result.tokens_in_state,
                                    std::move(last_turn));
}

void TurnRunner::Complete(GenerationResult result) {
  if (result.status.ok() && !keep_on_cancel_ && Cancelled()) {
    // The client is gone and sees CANCELLED: a discard-policy turn that finished just before
    // must not be committed behind its back.
    result.status = absl::CancelledError("the client cancelled the request");
  }
  TurnResult out;
  out.finish_reason = result.finish_reason;
  out.matched_stop = result.matched_stop;
  out.prompt_tokens = prompt_tokens_;
  out.generated_tokens = result.generated_tokens;
  out.timings = result.timings;
  out.timings.total = services_.clock->Now() - received_;
  out.seed = seed_;
  // What a retry with this turn_id replays: this report, its total measured before the commit.
  CommittedTurn last_turn;
  if (!turn_id_.empty()) last_turn = recording_.Finish(turn_id_, out);
  absl::StatusOr<std::optional<SessionRecord>> session = EndTurn(result, std::move(last_turn));
  std::vector<float>().swap(result.state);  // stored or dropped: free it with its bytes below
  // A commit error only matters when the turn itself succeeded: a cancelled turn stays
  // CANCELLED whether or not what it kept could be stored.
  out.status = !result.status.ok() ? result.status : session.status();
  out.timings.total = services_.clock->Now() - received_;
  if (session.ok() && session->has_value()) {
    out.session_tokens = (*session)->token_count;
    out.session = *std::move(*session);
  }
  ReleaseAdmission();  // before the client hears of the end, so that its next turn fits
  sink_->OnFinished(std::move(out));  // last: the sink may destroy this runner
}

void TurnRunner::Fail(absl::Status status) {
  TurnResult out;
  out.status = std::move(status);
  out.prompt_tokens = prompt_tokens_;
  out.seed = seed_;
  ReleaseAdmission();
  sink_->OnFinished(std::move(out));  // last: the sink may destroy this runner
}

}  // namespace rwkv::server
