// Turn replay: what a committed turn that has a turn_id leaves in its session's record
// (CommittedTurn), and how a retry of that turn is answered from it instead of running again.
//
//   TurnRecording recording;
//   recording.Add(delta);                        // every delta streamed, as it is streamed
//   ... sessions->Commit(std::move(turn), state, tokens, recording.Finish(turn_id, result));
//
//   // A retry (same session, same turn_id):
//   if (record.last_turn.turn_id == turn_id) {
//     for (GenerationDelta& delta : ReplayedDeltas(record.last_turn)) sink->OnDelta(delta);
//     sink->OnFinished(ReplayedResult(record));
//   }
//
// The replay streams the same tokens and text (consecutive deltas merged, up to
// kReplayTokensPerDelta tokens each) and the same final report: the stored finish reason, usage,
// seed and timings (the first try's, its total measured just before its commit), with the
// session as it is now.
#ifndef RWKV_SERVER_TURNS_TURN_REPLAY_H_
#define RWKV_SERVER_TURNS_TURN_REPLAY_H_

#include <string>
#include <vector>

#include "server/scheduler/generation.h"
#include "server/sessions/session_record.h"
#include "server/turns/turn_sink.h"

namespace rwkv::server {

// Deltas are merged up to this many tokens, so that a replay is a few messages, not one per
// token, while no message grows past what a stream of that many tokens sends.
inline constexpr size_t kReplayTokensPerDelta = 64;

// Collects a turn's deltas for its CommittedTurn. Not thread-safe: one thread at a time (the
// engine thread while the turn runs, then the I/O thread that commits it).
class TurnRecording {
 public:
  void Add(const GenerationDelta& delta);
  // The outcome to store under `turn_id`: the deltas so far (moved out) and `result`'s report.
  CommittedTurn Finish(std::string turn_id, const TurnResult& result);

 private:
  std::vector<CommittedTurn::Delta> deltas_;
};

std::vector<GenerationDelta> ReplayedDeltas(const CommittedTurn& turn);
// The final report of a replay of `record.last_turn`, with `record` as the session.
TurnResult ReplayedResult(const SessionRecord& record);

}  // namespace rwkv::server

#endif  // RWKV_SERVER_TURNS_TURN_REPLAY_H_
