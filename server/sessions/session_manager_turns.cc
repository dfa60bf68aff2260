// SessionManager's turns: BeginTurn, Commit and Abort (the rest is in session_manager.cc).
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/sessions/session_id.h"
#include "server/sessions/session_manager.h"

namespace rwkv::server {

SessionManager::Turn::Turn(SessionManager* owner, Claim claim, SessionRecord record,
                           std::optional<std::string> record_bytes, std::vector<float> state,
                           bool creates, bool adds_session)
    : owner_(owner),
      claim_(std::move(claim)),
      record_(std::move(record)),
      record_bytes_(std::move(record_bytes)),
      state_(std::move(state)),
      creates_(creates),
      adds_session_(adds_session) {}

absl::StatusOr<SessionManager::Turn> SessionManager::BeginTurnIn(const SessionScope& scope,
                                                                 absl::string_view id,
                                                                 const TurnOptions& options) {
  RWKV_RETURN_IF_ERROR(ValidateSessionId(id));
  // Before the state is loaded and generated from: a turn that could not commit is refused now.
  RWKV_RETURN_IF_ERROR(CheckStoreHealthy());
  const std::string key = scope.Key(id);
  RWKV_ASSIGN_OR_RETURN(Claim claim, ClaimSession(key));
  // Read under the claim, from the store (never the cache): another replica may have committed.
  // Another tenant's session of this ID is under another key: to this one, it does not exist.
  std::string bytes;
  RWKV_ASSIGN_OR_RETURN(std::optional<SessionRecord> record, records_->Read(key, &bytes));
  const double now = Now();
  // A session the turn creates is written only by Commit, and counted then unless it replaces
  // an expired record.
  const bool adds_session = !record.has_value();
  const bool fresh = adds_session || Expired(*record, now);
  if (fresh) {
    if (!options.create_if_missing) return SessionNotFound(id);
    record = NewRecord(scope, id, now);
  } else {
    RWKV_RETURN_IF_ERROR(CheckModel(*record));
  }
  if (options.expected_version != 0 && options.expected_version != record->version) {
    return absl::AbortedError(absl::StrCat("session ", id, " is at version ", record->version,
                                           ", the turn expected version ",
                                           options.expected_version));
  }
  std::vector<float> state;
  if (fresh) {
    state = options_.initial_state;
  } else {
    RWKV_ASSIGN_OR_RETURN(state, LoadState(*record));
    observer_.OnSessionEvent(SessionEvent::kResumed);
  }
  return Turn(this, std::move(claim), *std::move(record),
              adds_session ? std::nullopt : std::optional(std::move(bytes)), std::move(state),
              fresh, adds_session);
}

absl::StatusOr<SessionRecord> SessionManager::Commit(Turn turn, absl::Span<const float> state,
                                                     int64_t tokens_added,
                                                     CommittedTurn last_turn) {
  if (!turn.claim_.held()) {
    return absl::FailedPreconditionError("the turn was already committed or aborted");
  }
  if (turn.owner_ != this) {
    return absl::InvalidArgumentError("the turn belongs to another SessionManager");
  }
  const std::string& id = turn.record_.id;
  const std::string key = SessionKey(turn.record_);
  if (static_cast<int64_t>(state.size()) != records_->state_floats()) {
    return absl::InvalidArgumentError(absl::StrCat("state for session ", id, " has ", state.size(),
                                                   " floats; the model's state has ",
                                                   records_->state_floats()));
  }
  if (tokens_added < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokens_added must not be negative, got ", tokens_added));
  }
  SessionRecord next = turn.record_;
  next.version += 1;
  next.token_count += tokens_added;
  next.last_turn = std::move(last_turn);
  Touch(Now(), next);
  // The store's messages name the session by its key: the client hears its ID.
  const absl::Status status = SessionScope::OfRecord(next).Scrub(
      records_->Write(next, state, GuardOf(turn.claim_, std::move(turn.record_bytes_))));
  if (absl::IsAborted(status)) {
    Written(key, 0);
    return absl::AbortedError(absl::StrCat(
        "session ", id, " changed while this turn ran (a turn on another replica took it over "
        "after this one's lease lapsed, or it was deleted): this turn is not committed; ",
        status.message()));
  }
  if (!status.ok()) {
    // The store stays at version n; the cache is dropped anyway in case the write half-landed.
    Written(key, 0);
    return status;  // ~Turn releases the claim
  }
  // Cached and counted before the mark is released, so the next turn finds version n + 1.
  cache_.Insert(next, state);
  if (turn.adds_session_) live_sessions_.fetch_add(1, std::memory_order_relaxed);
  turn.claim_.Release();
  if (turn.creates_) observer_.OnSessionEvent(SessionEvent::kCreated);
  return next;
}

void SessionManager::Abort(Turn turn) {
  // Nothing was written, and a cached state is still version n: destroying `turn` releases it.
}

absl::StatusOr<std::vector<float>> SessionManager::LoadState(const SessionRecord& record) {
  const StateCache::State cached = cache_.Lookup(record);
  observer_.OnCacheLookup(cached != nullptr);
  if (cached != nullptr) return *cached;
  RWKV_ASSIGN_OR_RETURN(DecodedBlob blob, records_->LoadBlob(record));
  cache_.Insert(record, blob.state);
  return std::move(blob.state);
}

}  // namespace rwkv::server
