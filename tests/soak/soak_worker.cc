#include "tests/soak/soak_worker.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace rwkv::soak {
namespace {

std::string TokensText(const std::vector<int32_t>& tokens, size_t from) {
  std::string out;
  for (size_t i = from; i < tokens.size() && i < from + 8; ++i) {
    absl::StrAppend(&out, " ", tokens[i]);
  }
  return out;
}

// Where two token sequences first differ, for the failure message.
std::string FirstDifference(const std::vector<int32_t>& got, const std::vector<int32_t>& want) {
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return absl::StrCat("first difference at token ", i, " of ", want.size(), ": resumed [",
                      TokensText(got, i), " ] stateless [", TokensText(want, i), " ]");
}

}  // namespace

SoakWorker::SoakWorker(int index, const WorkerOptions& options, uint64_t seed, SoakStats& stats)
    : index_(index), options_(options), stats_(stats), random_(seed), session_("") {
  NewSession();
}

void SoakWorker::NewSession() {
  session_ = TrackedSession(absl::StrCat("soak-w", index_, "-", generation_++));
}

void SoakWorker::FailCall(const std::string& what, const absl::Status& status) {
  if (absl::IsDataLoss(status)) stats_.counters.data_loss++;
  stats_.Fail(absl::StrCat(session_.id(), ": ", what, ": ", status.ToString()));
}

void SoakWorker::CallFailed(const std::string& what, const absl::Status& status,
                            const std::atomic<bool>* killing) {
  // A kill breaks calls with whatever status the transport saw, but never with DATA_LOSS.
  if (killing == nullptr || !*killing || absl::IsDataLoss(status)) FailCall(what, status);
}

TurnPlan SoakWorker::RandomPlan() {
  TurnPlan plan;
  const int32_t length =
      std::uniform_int_distribution<int32_t>(1, options_.max_prompt_tokens)(random_);
  // Any byte: the tiny models' vocabulary is the 256 bytes.
  std::uniform_int_distribution<int32_t> token(0, 255);
  for (int32_t i = 0; i < length; ++i) plan.prompt.push_back(token(random_));
  // Now and then a prefill-only turn (max_tokens 0).
  plan.max_tokens = std::uniform_int_distribution<int32_t>(0, options_.max_new_tokens)(random_);
  plan.keep_on_cancel = std::bernoulli_distribution(options_.keep_probability)(random_);
  return plan;
}

Interruption SoakWorker::RandomInterruption(const TurnPlan& plan) {
  Interruption interruption;
  const double draw = std::uniform_real_distribution<double>(0, 1)(random_);
  if (draw < options_.cancel_probability && plan.max_tokens > 1) {
    interruption.cancel_after_tokens =
        std::uniform_int_distribution<int32_t>(1, plan.max_tokens - 1)(random_);
  } else if (draw < options_.cancel_probability + options_.deadline_probability) {
    const int64_t max_us = absl::ToInt64Microseconds(options_.max_deadline);
    interruption.deadline =
        absl::Microseconds(std::uniform_int_distribution<int64_t>(1, max_us)(random_));
  }
  return interruption;
}

bool SoakWorker::ApplyStored(client::RwkvClient& client, const StoredSession& stored,
                             const std::atomic<bool>* killing) {
  const bool was_pending = session_.pending();
  absl::Status call_error;
  absl::StatusOr<Resolution> resolution = session_.Resolve(
      stored.version, stored.token_count,
      [&](const std::vector<int32_t>& context,
          int32_t count) -> absl::StatusOr<std::vector<int32_t>> {
        absl::StatusOr<std::vector<int32_t>> tokens = StatelessGreedy(client, context, count);
        call_error = tokens.status();
        return tokens;
      });
  if (!call_error.ok()) {
    // The recomputation failed, not a check: the turn stays pending.
    CallFailed("recomputing unreceived tokens", call_error, killing);
    return false;
  }
  if (!resolution.ok()) {
    stats_.Fail(std::string(resolution.status().message()));
    NewSession();  // what this session holds is no longer known
    return true;
  }
  if (!was_pending) return true;
  SoakCounters& c = stats_.counters;
  c.pending_resolved++;
  c.pending_committed += resolution->committed;
  c.partial_prompts_kept += resolution->partial_prompt;
  c.discard_turns_committed += resolution->discard_turn_committed;
  if (resolution->discard_turn_committed) {
    c.discard_committed_after_cancel += pending_break_ == absl::StatusCode::kCancelled;
    c.discard_committed_after_deadline += pending_break_ == absl::StatusCode::kDeadlineExceeded;
  }
  c.tokens_reconstructed += resolution->reconstructed_tokens;
  return true;
}

void SoakWorker::CheckAfterRestart(client::RwkvClient& client) {
  absl::StatusOr<StoredSession> stored = ReadStored(client, session_.id());
  if (!stored.ok()) return FailCall("GetSession after a restart", stored.status());
  stats_.counters.store_checks++;
  if (ApplyStored(client, *stored, nullptr)) CheckContinuation(client);
}

void SoakWorker::CheckContinuation(client::RwkvClient& client) {
  TurnPlan plan = RandomPlan();
  plan.max_tokens = std::max(plan.max_tokens, 1);
  std::vector<int32_t> context = session_.history();
  context.insert(context.end(), plan.prompt.begin(), plan.prompt.end());
  stats_.counters.turns_started++;
  const TurnOutcome outcome = RunTurn(client, session_, plan, Interruption{});
  if (!outcome.got_done) {
    pending_break_ = absl::StatusCode::kUnavailable;
    return FailCall("the continuation turn after a restart", outcome.status);
  }
  stats_.counters.turns_committed++;
  if (absl::Status done =
          session_.OnDone(outcome.done.session().version(), outcome.done.session().token_count(),
                          outcome.done.usage().generated_tokens());
      !done.ok()) {
    stats_.Fail(std::string(done.message()));
  }
  absl::StatusOr<std::vector<int32_t>> reference =
      StatelessGreedy(client, context, plan.max_tokens);
  if (!reference.ok()) return FailCall("the stateless reference run", reference.status());
  stats_.counters.continuation_checks++;
  stats_.counters.reference_tokens += plan.max_tokens;
  if (outcome.tokens != *reference) {
    stats_.Fail(absl::StrCat(session_.id(), ": the resumed continuation (history ",
                             context.size() - plan.prompt.size(), " tokens, prompt ",
                             plan.prompt.size(), ") differs from the stateless run; ",
                             FirstDifference(outcome.tokens, *reference)));
  }
}

bool SoakWorker::SettleLive(client::RwkvClient& client, const std::atomic<bool>& killing) {
  absl::StatusOr<StoredSession> stored =
      Settle(client, session_.id(), absl::StrCat(session_.id(), "-probe", probes_++));
  if (!stored.ok()) {
    CallFailed("settling a session after a broken turn", stored.status(), &killing);
    return false;
  }
  return ApplyStored(client, *stored, &killing);
}

void SoakWorker::Retire(client::RwkvClient& client, const std::atomic<bool>* killing) {
  const absl::Status deleted = client.DeleteSession(session_.id());
  if (!deleted.ok()) CallFailed("DeleteSession", deleted, killing);
  stats_.counters.sessions_retired++;
  NewSession();
}

void SoakWorker::RunRandomTurn(client::RwkvClient& client, const std::atomic<bool>& killing) {
  const TurnPlan plan = RandomPlan();
  const Interruption interruption = RandomInterruption(plan);
  stats_.counters.turns_started++;
  const TurnOutcome outcome = RunTurn(client, session_, plan, interruption);
  SoakCounters& c = stats_.counters;
  if (absl::IsDataLoss(outcome.status)) FailCall("Generate", outcome.status);
  if (outcome.got_done) {
    // A Done means committed, even when the cancel or deadline came right after it.
    c.turns_committed++;
    if (absl::Status done =
            session_.OnDone(outcome.done.session().version(), outcome.done.session().token_count(),
                            outcome.done.usage().generated_tokens());
        !done.ok()) {
      stats_.Fail(std::string(done.message()));
    }
    return;
  }
  const absl::StatusCode code = outcome.status.code();
  pending_break_ = absl::StatusCode::kUnavailable;  // a kill, whatever the transport said
  if (code == absl::StatusCode::kCancelled && interruption.cancel_after_tokens > 0) {
    pending_break_ = code;
    c.turns_cancelled++;
  } else if (code == absl::StatusCode::kDeadlineExceeded &&
             interruption.deadline != absl::InfiniteDuration()) {
    pending_break_ = code;
    c.turns_deadline++;
  } else if (killing) {
    c.turns_killed++;
  } else if (!absl::IsDataLoss(outcome.status)) {
    FailCall("Generate", outcome.status);
  }
}

void SoakWorker::RunUntilKilled(client::RwkvClient& client, const std::atomic<bool>& killing) {
  while (!killing) {
    if (session_.pending() && !SettleLive(client, killing)) return;
    if (static_cast<int64_t>(session_.history().size()) > options_.max_history_tokens) {
      Retire(client, &killing);
      continue;
    }
    RunRandomTurn(client, killing);
  }
}

}  // namespace rwkv::soak
