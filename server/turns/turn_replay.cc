#include "server/turns/turn_replay.h"

#include <utility>

#include "absl/time/time.h"

namespace rwkv::server {
namespace {

FinishReason ToFinishReason(int32_t stored) {
  switch (stored) {
    case static_cast<int32_t>(FinishReason::kStop):
      return FinishReason::kStop;
    case static_cast<int32_t>(FinishReason::kLength):
      return FinishReason::kLength;
    default:
      return FinishReason::kNone;
  }
}

}  // namespace

void TurnRecording::Add(const GenerationDelta& delta) {
  if (deltas_.empty() || deltas_.back().token_ids.size() >= kReplayTokensPerDelta) {
    deltas_.emplace_back();
  }
  CommittedTurn::Delta& last = deltas_.back();
  last.token_ids.insert(last.token_ids.end(), delta.token_ids.begin(), delta.token_ids.end());
  last.text += delta.text;
}

CommittedTurn TurnRecording::Finish(std::string turn_id, const TurnResult& result) {
  CommittedTurn turn;
  turn.turn_id = std::move(turn_id);
  turn.deltas = std::move(deltas_);
  deltas_.clear();
  turn.finish_reason = static_cast<int32_t>(result.finish_reason);
  turn.matched_stop = result.matched_stop;
  turn.prompt_tokens = result.prompt_tokens;
  turn.generated_tokens = result.generated_tokens;
  turn.seed = result.seed;
  turn.queue_ns = absl::ToInt64Nanoseconds(result.timings.queue);
  turn.time_to_first_token_ns = absl::ToInt64Nanoseconds(result.timings.time_to_first_token);
  turn.prefill_ns = absl::ToInt64Nanoseconds(result.timings.prefill);
  turn.total_ns = absl::ToInt64Nanoseconds(result.timings.total);
  return turn;
}

std::vector<GenerationDelta> ReplayedDeltas(const CommittedTurn& turn) {
  std::vector<GenerationDelta> deltas;
  deltas.reserve(turn.deltas.size());
  for (const CommittedTurn::Delta& stored : turn.deltas) {
    deltas.push_back({stored.text, stored.token_ids});
  }
  return deltas;
}

TurnResult ReplayedResult(const SessionRecord& record) {
  const CommittedTurn& turn = record.last_turn;
  TurnResult result;
  result.finish_reason = ToFinishReason(turn.finish_reason);
  result.matched_stop = turn.matched_stop;
  result.prompt_tokens = turn.prompt_tokens;
  result.generated_tokens = turn.generated_tokens;
  result.session_tokens = record.token_count;
  result.timings.queue = absl::Nanoseconds(turn.queue_ns);
  result.timings.time_to_first_token = absl::Nanoseconds(turn.time_to_first_token_ns);
  result.timings.prefill = absl::Nanoseconds(turn.prefill_ns);
  result.timings.total = absl::Nanoseconds(turn.total_ns);
  result.session = record;
  result.seed = turn.seed;
  return result;
}

}  // namespace rwkv::server
