// The kill soak's calls to the server, over the client library (client/rwkv_client.h): a greedy
// turn on a session (cancelled after some tokens or given a deadline, as asked), a stateless
// greedy run over a token history, and reads of a session's stored version and token count.
//
// Every call has a hang guard (kCallLimit) as its deadline at the latest, so that a server that
// stops answering fails the soak instead of hanging it.
#ifndef RWKV_TESTS_SOAK_SOAK_CALLS_H_
#define RWKV_TESTS_SOAK_SOAK_CALLS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/rwkv_client.h"
#include "tests/soak/tracked_session.h"

namespace rwkv::soak {

inline constexpr absl::Duration kCallLimit = absl::Seconds(120);

// How the driver interrupts a turn, if at all.
struct Interruption {
  int32_t cancel_after_tokens = 0;  // > 0: TryCancel once this many tokens have arrived
  absl::Duration deadline = absl::InfiniteDuration();  // the client deadline of the call
};

struct TurnOutcome {
  absl::Status status;
  bool got_done = false;  // the final message arrived (whatever the status says after it)
  rwkv::v1::GenerateResponse::Done done;
  std::vector<int32_t> tokens;  // as streamed
};

// Runs `plan` as a turn on `session` (expected_version = its known version; created by the turn
// when that version is 0): BeginTurn, then OnTokens as deltas arrive. The caller applies the
// Done (TrackedSession::OnDone) or leaves the turn pending.
TurnOutcome RunTurn(client::RwkvClient& client, TrackedSession& session, const TurnPlan& plan,
                    const Interruption& interruption);

// `count` greedy tokens after `context`, from a Generate without a session.
absl::StatusOr<std::vector<int32_t>> StatelessGreedy(client::RwkvClient& client,
                                                     const std::vector<int32_t>& context,
                                                     int32_t count);

struct StoredSession {
  int64_t version = 0;
  int64_t token_count = 0;
};

// The session's stored version and token count; {0, 0} when it does not exist.
absl::StatusOr<StoredSession> ReadStored(client::RwkvClient& client, const std::string& id);

// Waits until no turn runs on session `id` and returns what is then stored. A turn that the
// client cancelled may still be finishing on the server (and a KEEP turn may still commit), so a
// plain GetSession could read a version that is about to change. ForkSession takes the session's
// turn mark (ABORTED while a turn runs) and copies the stored version and count under it, so the
// first fork that succeeds reads the settled session. The fork, `probe_id`, is deleted after.
absl::StatusOr<StoredSession> Settle(client::RwkvClient& client, const std::string& id,
                                     const std::string& probe_id);

}  // namespace rwkv::soak

#endif  // RWKV_TESTS_SOAK_SOAK_CALLS_H_
