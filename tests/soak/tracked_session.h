// TrackedSession: what the kill soak knows about one session on the server, and the checks of
// what the server reports against it.
//
// It keeps the session's token history (every prompt and generated token its committed turns
// put in the state), its version, and the highest version the client saw acknowledged by a
// final (Done) message. A turn between BeginTurn and its Done is pending: a turn that ended
// without a Done (cancel, deadline, a SIGKILL of the server) may or may not be in the store, so
// it stays pending until Resolve reads the stored session once no turn can still run on it.
//
//   TrackedSession session("s-1");
//   session.BeginTurn({prompt, /*max_tokens=*/16, /*keep_on_cancel=*/true});
//   session.OnTokens(delta_tokens);                 // as deltas arrive
//   absl::Status ok = session.OnDone(done_version, done_token_count, generated);
//   // or, after a broken stream and a restart:
//   auto resolution = session.Resolve(stored_version, stored_token_count, greedy);
//
// Not thread-safe: one soak worker owns each session.
#ifndef RWKV_TESTS_SOAK_TRACKED_SESSION_H_
#define RWKV_TESTS_SOAK_TRACKED_SESSION_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace rwkv::soak {

// One greedy turn as sent: every turn ignores end-of-text and has no stop strings or tokens, so a
// turn that completes generates exactly max_tokens tokens.
struct TurnPlan {
  std::vector<int32_t> prompt;
  int32_t max_tokens = 0;
  bool keep_on_cancel = false;
};

// `count` greedy tokens after `context`, from a stateless run (no session).
using GreedyFn = std::function<absl::StatusOr<std::vector<int32_t>>(
    const std::vector<int32_t>& context, int32_t count)>;

// How a pending turn turned out.
struct Resolution {
  bool committed = false;
  // Only part of the prompt was kept (CANCEL_POLICY_KEEP, cancelled during prefill).
  bool partial_prompt = false;
  // A CANCEL_POLICY_DISCARD turn was stored whole although its Done never arrived (it completed
  // just before the cancel, deadline or kill).
  bool discard_turn_committed = false;
  // Generated tokens in the store that the client never received, recomputed with GreedyFn.
  int64_t reconstructed_tokens = 0;
};

class TrackedSession {
 public:
  explicit TrackedSession(std::string id) : id_(std::move(id)) {}

  const std::string& id() const { return id_; }
  // The version the session is known to have (before the pending turn, if any).
  int64_t version() const { return version_; }
  int64_t acknowledged_version() const { return acknowledged_version_; }
  const std::vector<int32_t>& history() const { return history_; }
  bool pending() const { return pending_.has_value(); }

  // A turn is sent. Precondition: nothing pending.
  void BeginTurn(TurnPlan plan);
  // Tokens of the pending turn as they arrive.
  void OnTokens(absl::Span<const int32_t> tokens);
  // The pending turn's Done arrived: checks its session version, token count and generated
  // token count against what was sent and received, then adds the turn to the history. An
  // error names the failed check (the turn is applied anyway, as the server reported it).
  absl::Status OnDone(int64_t version, int64_t token_count, int32_t generated_tokens);
  // Settles the pending turn from the stored session (version 0 and count 0 for a session that
  // does not exist), read when no turn can still be running on it. Generated tokens that were
  // stored but never received are recomputed with `greedy`. An error is a failed check (the
  // version went backwards or jumped, a count that no outcome of the turn explains, a DISCARD
  // turn kept in part, a received token missing from a KEEP turn); the session is then unusable.
  absl::StatusOr<Resolution> Resolve(int64_t version, int64_t token_count, const GreedyFn& greedy);
  // Checks the stored session when nothing is pending: exactly the known version and count.
  absl::Status CheckStored(int64_t version, int64_t token_count) const;

 private:
  struct Pending {
    TurnPlan plan;
    std::vector<int32_t> received;
  };

  // Checks that `version` is not below what was acknowledged or seen stored.
  absl::Status CheckNotBackwards(int64_t version) const;

  std::string id_;
  int64_t version_ = 0;
  int64_t acknowledged_version_ = 0;
  std::vector<int32_t> history_;
  std::optional<Pending> pending_;
};

}  // namespace rwkv::soak

#endif  // RWKV_TESTS_SOAK_TRACKED_SESSION_H_
