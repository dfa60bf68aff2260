#include "tests/soak/tracked_session.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace rwkv::soak {

void TrackedSession::BeginTurn(TurnPlan plan) { pending_ = Pending{std::move(plan), {}}; }

void TrackedSession::OnTokens(absl::Span<const int32_t> tokens) {
  if (!pending_) return;
  pending_->received.insert(pending_->received.end(), tokens.begin(), tokens.end());
}

absl::Status TrackedSession::OnDone(int64_t version, int64_t token_count,
                                    int32_t generated_tokens) {
  if (!pending_) return absl::InternalError(absl::StrCat("session ", id_, ": Done without a turn"));
  Pending turn = *std::move(pending_);
  pending_.reset();
  const int64_t expected_count =
      static_cast<int64_t>(history_.size() + turn.plan.prompt.size() + turn.received.size());
  std::string problem;
  if (version != version_ + 1) {
    problem = absl::StrCat("Done reports version ", version, " after version ", version_);
  } else if (generated_tokens != static_cast<int32_t>(turn.received.size())) {
    problem = absl::StrCat("Done reports ", generated_tokens, " generated tokens, ",
                           turn.received.size(), " were streamed");
  } else if (generated_tokens != turn.plan.max_tokens) {
    problem = absl::StrCat("a completed turn generated ", generated_tokens,
                           " tokens, not max_tokens ", turn.plan.max_tokens);
  } else if (token_count != expected_count) {
    problem = absl::StrCat("Done reports token_count ", token_count, ", the turns sum to ",
                           expected_count);
  }
  history_.insert(history_.end(), turn.plan.prompt.begin(), turn.plan.prompt.end());
  history_.insert(history_.end(), turn.received.begin(), turn.received.end());
  version_ = version;
  acknowledged_version_ = std::max(acknowledged_version_, version);
  if (problem.empty()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("session ", id_, ": ", problem));
}

absl::Status TrackedSession::CheckNotBackwards(int64_t version) const {
  if (version < acknowledged_version_) {
    return absl::DataLossError(absl::StrCat("session ", id_, " is stored at version ", version,
                                            " but version ", acknowledged_version_,
                                            " was acknowledged (a Done arrived): turn lost"));
  }
  if (version < version_) {
    return absl::DataLossError(
        absl::StrCat("session ", id_, " went back from version ", version_, " to ", version));
  }
  return absl::OkStatus();
}

absl::Status TrackedSession::CheckStored(int64_t version, int64_t token_count) const {
  if (pending_) return absl::InternalError(absl::StrCat("session ", id_, " has a pending turn"));
  if (absl::Status status = CheckNotBackwards(version); !status.ok()) return status;
  if (version != version_ || token_count != static_cast<int64_t>(history_.size())) {
    return absl::InternalError(absl::StrCat("session ", id_, " is stored at version ", version,
                                            " with ", token_count, " tokens; expected version ",
                                            version_, " with ", history_.size()));
  }
  return absl::OkStatus();
}

absl::StatusOr<Resolution> TrackedSession::Resolve(int64_t version, int64_t token_count,
                                                   const GreedyFn& greedy) {
  if (!pending_) {
    if (absl::Status status = CheckStored(version, token_count); !status.ok()) return status;
    return Resolution{};
  }
  if (absl::Status status = CheckNotBackwards(version); !status.ok()) return status;
  const Pending& turn = *pending_;
  const int64_t known = static_cast<int64_t>(history_.size());
  const int64_t prompt = static_cast<int64_t>(turn.plan.prompt.size());
  const int64_t received = static_cast<int64_t>(turn.received.size());
  const std::string where =
      absl::StrCat("session ", id_, " (version ", version_, ", ", known,
                   " tokens, pending turn of ", prompt, " + ", turn.plan.max_tokens, " tokens, ",
                   received, " received, ", turn.plan.keep_on_cancel ? "KEEP" : "DISCARD", ")");
  Resolution resolution;
  if (version == version_) {
    if (token_count != known) {
      return absl::InternalError(
          absl::StrCat(where, ": stored with ", token_count, " tokens at the same version"));
    }
    pending_.reset();
    return resolution;
  }
  if (version != version_ + 1) {
    return absl::InternalError(absl::StrCat(where, ": stored at version ", version));
  }
  const int64_t kept = token_count - known;
  if (kept < 1 || kept > prompt + turn.plan.max_tokens) {
    return absl::InternalError(absl::StrCat(where, ": the new version added ", kept, " tokens"));
  }
  if (!turn.plan.keep_on_cancel && kept != prompt + turn.plan.max_tokens) {
    return absl::InternalError(
        absl::StrCat(where, ": a DISCARD turn was stored in part (", kept, " tokens)"));
  }
  const int64_t generated = std::max<int64_t>(kept - prompt, 0);
  if (received > generated) {
    return absl::InternalError(absl::StrCat(where, ": the client received ", received,
                                            " tokens but the session kept ", generated));
  }
  std::vector<int32_t> added(turn.plan.prompt.begin(),
                             turn.plan.prompt.begin() + std::min(kept, prompt));
  added.insert(added.end(), turn.received.begin(), turn.received.end());
  if (generated > received) {
    std::vector<int32_t> context = history_;
    context.insert(context.end(), added.begin(), added.end());
    absl::StatusOr<std::vector<int32_t>> rest =
        greedy(context, static_cast<int32_t>(generated - received));
    if (!rest.ok()) return rest.status();
    added.insert(added.end(), rest->begin(), rest->end());
    resolution.reconstructed_tokens = generated - received;
  }
  resolution.committed = true;
  resolution.partial_prompt = kept < prompt;
  resolution.discard_turn_committed = !turn.plan.keep_on_cancel;
  history_.insert(history_.end(), added.begin(), added.end());
  version_ = version;
  pending_.reset();
  return resolution;
}

}  // namespace rwkv::soak
