// TurnRequest: one generation turn as every front end describes it to the TurnRunner, in the
// scheduler's own terms plus the session it continues. Front ends build it once, validated
// (server/api/generate_request.h for gRPC); nothing downstream checks its fields again except
// where a different entry point needs it (Scheduler::Submit, SessionManager::BeginTurn).
#ifndef RWKV_SERVER_TURNS_TURN_REQUEST_H_
#define RWKV_SERVER_TURNS_TURN_REQUEST_H_

#include <cstdint>
#include <string>

#include "server/scheduler/generation.h"

namespace rwkv::server {

struct TurnRequest {
  // Everything but `state`, which the runner fills in (the session's, or the model's initial
  // state). `received` and `deadline` come from the front end.
  GenerationRequest generation;
  // The caller's tenant (server/sessions/tenant.h), as the front end's authentication found it;
  // kDefaultTenant ("") without authentication. The turn sees only this tenant's sessions.
  std::string tenant;
  std::string session_id;        // empty: a one-off turn from the initial state, nothing stored
  bool create_session = false;   // with session_id: create it when missing
  int64_t expected_version = 0;  // with session_id: run only at this version; 0 = any
  // With session_id: the client's name for the turn. If the session's last committed turn had
  // this turn_id, that turn is replayed instead of run (turn_replay.h); else the turn runs and
  // its outcome is recorded under this ID when it commits. Empty: none.
  std::string turn_id;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_TURNS_TURN_REQUEST_H_
