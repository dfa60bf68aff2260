// SessionManager: sessions and their recurrent states, over a StateStore, with an in-memory LRU
// of hot states in front of it.
//
//   SessionManager::Options options;
//   options.model_fingerprint = engine.fingerprint();
//   options.initial_state = engine.InitialState();
//   RWKV_ASSIGN_OR_RETURN(auto sessions, SessionManager::Create(std::move(store), options));
//
//   RWKV_ASSIGN_OR_RETURN(SessionManager::Turn turn, sessions->BeginTurn("chat-1", {}));
//   std::vector<float> state = turn.TakeState();   // run the engine on it ...
//   RWKV_ASSIGN_OR_RETURN(rwkv::v1::Session after, sessions->Commit(std::move(turn), state, 42));
//
// Semantics (design §4):
// - One turn in flight per session: BeginTurn on a session whose turn has not been committed or
//   aborted is ABORTED. Turns are atomic: Commit moves version n to n + 1 and writes the state
//   and the session record in one store batch; Abort (or destroying the Turn) leaves version n.
// - Each session is stored as two keys written together: "m/<id>" (the rwkv.v1.Session record,
//   protobuf) and "s/<id>" (the state blob, see session_blob.h: model fingerprint, version, token
//   count and a checksum). A blob of another model is FAILED_PRECONDITION; a blob or record that
//   fails its checks is DATA_LOSS. Neither is ever used.
// - Sessions idle longer than `ttl` expire: they read as NOT_FOUND and SweepExpired deletes them.
// - Fork copies a session's state and record under a new ID (version 0 history kept as
//   token_count; the fork starts at the source's version).
//
// Thread-safe. Methods block on store I/O: call them from an I/O thread, never the engine loop.
#ifndef RWKV_SERVER_SESSIONS_SESSION_MANAGER_H_
#define RWKV_SERVER_SESSIONS_SESSION_MANAGER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "rwkv/v1/rwkv.pb.h"
#include "server/sessions/session_observer.h"
#include "server/store/state_store.h"

namespace rwkv::server {

class SessionManager {
 public:
  struct Options {
    std::string model_fingerprint;        // required
    std::vector<float> initial_state;     // required: a new session's state
    absl::Duration ttl = absl::ZeroDuration();  // idle time before expiry; zero = never
    int64_t hot_cache_bytes = int64_t{1} << 30;  // LRU budget for decoded states
    std::function<absl::Time()> clock = [] { return absl::Now(); };  // injectable for tests
    SessionObserver* observer = nullptr;  // lifecycle events (metrics); must outlive the manager
  };

  struct TurnOptions {
    bool create_if_missing = false;
    int64_t expected_version = 0;  // 0 = any
  };

  // Exclusive ownership of one session's state while a turn runs. Movable; if destroyed without
  // Commit or Abort, the turn is aborted.
  class Turn {
   public:
    Turn(Turn&& other) noexcept;
    Turn& operator=(Turn&& other) noexcept;
    ~Turn();
    const rwkv::v1::Session& session() const { return session_; }
    // The state at the start of the turn (moved out; call once).
    std::vector<float> TakeState() { return std::move(state_); }

   private:
    friend class SessionManager;
    Turn(SessionManager* owner, rwkv::v1::Session session, std::vector<float> state, bool creates);
    SessionManager* owner_ = nullptr;  // null once committed, aborted or moved from
    rwkv::v1::Session session_;
    std::vector<float> state_;
    bool creates_ = false;  // the session did not exist (or had expired) when the turn began
  };

  struct Page {
    std::vector<rwkv::v1::Session> sessions;
    std::string next_page_token;  // empty on the last page
  };

  struct CacheStats {
    int64_t bytes = 0;
    int64_t entries = 0;
    int64_t hits = 0;
    int64_t misses = 0;
  };

  static absl::StatusOr<std::unique_ptr<SessionManager>> Create(std::unique_ptr<StateStore> store,
                                                                Options options);
  ~SessionManager();

  // 1 to 128 characters from [A-Za-z0-9._:-], not starting with '.'; INVALID_ARGUMENT naming
  // `field` otherwise.
  static absl::Status ValidateId(absl::string_view id, absl::string_view field = "session_id");
  // At most 16 entries, keys 1..256 bytes, values at most 256 bytes.
  static absl::Status ValidateMetadata(const std::map<std::string, std::string>& metadata);

  // An empty `id` gets a random one. ALREADY_EXISTS if taken.
  absl::StatusOr<rwkv::v1::Session> CreateSession(absl::string_view id,
                                                  std::map<std::string, std::string> metadata);
  absl::StatusOr<rwkv::v1::Session> GetSession(absl::string_view id);
  // page_size 1..1000 (0 = 100); page_token from the previous page. INVALID_ARGUMENT for a bad
  // size or token.
  absl::StatusOr<Page> ListSessions(int page_size, absl::string_view page_token);
  // NOT_FOUND if absent; ABORTED while a turn is in flight.
  absl::Status DeleteSession(absl::string_view id);
  // NOT_FOUND source, ALREADY_EXISTS target, ABORTED while a turn is in flight on the source.
  // Empty `metadata` keeps the source's.
  absl::StatusOr<rwkv::v1::Session> ForkSession(absl::string_view source, absl::string_view new_id,
                                                std::map<std::string, std::string> metadata);

  // NOT_FOUND (unless create_if_missing), ABORTED (turn in flight, or version mismatch),
  // FAILED_PRECONDITION (another model's state), DATA_LOSS (corrupt blob or record).
  absl::StatusOr<Turn> BeginTurn(absl::string_view id, const TurnOptions& options);
  // Stores `state` as version n + 1 with token_count += tokens_added; returns the new record.
  // On a store error the session stays at version n and the turn is released.
  absl::StatusOr<rwkv::v1::Session> Commit(Turn turn, absl::Span<const float> state,
                                           int64_t tokens_added);
  void Abort(Turn turn);

  // Deletes every session idle past the TTL (skipping those with a turn in flight); returns how
  // many. A no-op without a TTL.
  absl::StatusOr<int> SweepExpired();
  absl::Status Flush();

  CacheStats cache_stats() const;
  // Sessions in the store (counted at start-up, then tracked).
  int64_t live_sessions() const;
  const std::string& backend() const;

 private:
  // Implementation-defined; see session_manager.cc.
  class Impl;
  explicit SessionManager(std::unique_ptr<Impl> impl);
  void Release(absl::string_view id);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_SESSIONS_SESSION_MANAGER_H_
