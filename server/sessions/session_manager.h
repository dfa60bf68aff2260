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
//   RWKV_ASSIGN_OR_RETURN(SessionRecord after, sessions->Commit(std::move(turn), state, 42));
//
// Semantics (design §4):
// - Every session belongs to a tenant (tenant.h): each per-session method takes the caller's
//   tenant first, and a form without it acts for the default tenant (no authentication). A
//   tenant sees, resumes, forks and deletes only its own sessions: another tenant's session is
//   NOT_FOUND with the same message as a missing one, ListSessions lists only the caller's, and
//   two tenants may use one ID without meeting (SessionScope keeps them apart). Records handed
//   out carry the client's ID and their tenant; no message names another tenant or its keys.
//   SweepExpired and live_sessions cover every tenant.
// - One turn in flight per session, across every replica sharing the store: BeginTurn on a
//   session whose turn has not been committed or aborted, here or on another replica, is
//   ABORTED. Turns are atomic: Commit moves version n to n + 1 and writes the state and the
//   session record in one store batch; Abort (or destroying the Turn) leaves version n.
// - Every change of a session holds this process's in-flight mark and the session's store lease
//   (SessionLeases), and writes with a guard (SessionRecords::Guard): the store takes it only if
//   the record is still the one read when the change began and no later lease was granted. So a
//   replica that lost its lease mid-turn (paused, partitioned) gets ABORTED from Commit and
//   changes nothing; the newer turn stands.
// - The hot cache never hides another replica's commit: every turn reads the record from the
//   store, and a cached state is used only at that record's version (StateCache).
// - Each session is stored as its record and its state blob, written together (the layout is
//   session_records.h's). A blob or record that fails its checks is DATA_LOSS, never used.
// - Sessions of another model (after a model change) cannot be used: GetSession, ForkSession and
//   BeginTurn are FAILED_PRECONDITION, naming both fingerprints. ListSessions shows them and
//   DeleteSession removes them, so an operator can find and clear them.
// - IDs and metadata are validated here (session_id.h): INVALID_ARGUMENT naming the field.
// - Sessions idle longer than `ttl` expire: they read as NOT_FOUND and SweepExpired deletes them.
// - While `store_health` reports the store failing, everything that writes a session (BeginTurn,
//   CreateSession, ForkSession, DeleteSession) is UNAVAILABLE at once, naming the store's error,
//   before any work; reads (GetSession, ListSessions) go on, answered by the store.
// - Fork copies a session's state and record under a new ID (version 0 history kept as
//   token_count; the fork starts at the source's version), but not the last turn's outcome.
// - Each commit records the committing turn's outcome (CommittedTurn) in place of the last one,
//   so that GetSession tells a retried turn whether it was committed (server/turns).
//
// The parts: SessionRecords (the store), InFlightTable (one change per session at a time),
// StateCache (the hot tier); this class only orchestrates them. Every write of a session's keys
// happens while this process holds the ID's in-flight mark, so a reader holding the mark sees a
// record and blob that no one else changes underneath it.
//
// Thread-safe. Methods block on store I/O: call them from an I/O thread, never the engine loop.
#ifndef RWKV_SERVER_SESSIONS_SESSION_MANAGER_H_
#define RWKV_SERVER_SESSIONS_SESSION_MANAGER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/clock.h"
#include "server/sessions/in_flight_table.h"
#include "server/sessions/session_leases.h"
#include "server/sessions/session_observer.h"
#include "server/sessions/session_record.h"
#include "server/sessions/session_records.h"
#include "server/sessions/session_scope.h"
#include "server/sessions/state_cache.h"
#include "server/sessions/tenant.h"
#include "server/store/state_store.h"
#include "server/store/store_health.h"

namespace rwkv::server {

class SessionManager {
 public:
  struct Options {
    std::string model_fingerprint;               // required
    std::vector<float> initial_state;            // required: a new session's state
    absl::Duration ttl = absl::ZeroDuration();   // idle time before expiry; zero = never
    int64_t hot_cache_bytes = int64_t{1} << 30;  // LRU budget for decoded states
    Clock* clock = &Clock::Real();               // required; must outlive the manager
    SessionObserver* observer = nullptr;  // lifecycle events (metrics); must outlive the manager
    const StoreHealth* store_health = nullptr;  // optional; must outlive the manager
    // This replica's name in other replicas' errors ("session x has a turn in flight on ..."),
    // and how long a session's store lease lasts unless renewed (SessionLeases).
    std::string replica = "local";
    absl::Duration lease_ttl = absl::Seconds(10);
  };

  // A change of one session in flight: this process's mark, then the session's store lease
  // (released before the mark, members going in reverse order).
  struct Claim {
    InFlightTable::Hold hold;
    SessionLeases::Lease lease;
    bool held() const { return hold.held(); }
    void Release() {
      lease.Release();
      hold.Reset();
    }
  };

  struct TurnOptions {
    bool create_if_missing = false;
    int64_t expected_version = 0;  // 0 = any
  };

  // Exclusive ownership of one session's state while a turn runs. Movable; if destroyed without
  // Commit or Abort, the turn is aborted. Must not outlive its SessionManager.
  class Turn {
   public:
    Turn(Turn&& other) = default;
    Turn& operator=(Turn&& other) = default;
    ~Turn() = default;
    // The record as the turn began (a new one, at version 0, for a session it creates).
    const SessionRecord& record() const { return record_; }
    // The state at the start of the turn (moved out; call once).
    std::vector<float> TakeState() { return std::move(state_); }

   private:
    friend class SessionManager;
    Turn(SessionManager* owner, Claim claim, SessionRecord record,
         std::optional<std::string> record_bytes, std::vector<float> state, bool creates,
         bool adds_session);
    SessionManager* owner_;
    Claim claim_;  // holds nothing once committed, aborted or moved from
    SessionRecord record_;
    std::optional<std::string> record_bytes_;  // as stored when the turn began; none: no record
    std::vector<float> state_;
    bool creates_;       // the session did not exist (or had expired) when the turn began
    bool adds_session_;  // it had no record at all: committing adds a live session
  };

  struct Page {
    std::vector<SessionRecord> sessions;
    std::string next_page_token;  // empty on the last page
  };

  using CacheStats = StateCacheStats;

  static absl::StatusOr<std::unique_ptr<SessionManager>> Create(std::unique_ptr<StateStore> store,
                                                                Options options);

  using Metadata = std::map<std::string, std::string>;

  // Each per-session method below, for `tenant` (INVALID_ARGUMENT for a name that is not a
  // tenant's), then for the default tenant.

  // An empty `id` gets a random one (128 random bits). ALREADY_EXISTS if taken.
  absl::StatusOr<SessionRecord> CreateSession(absl::string_view tenant, absl::string_view id,
                                              Metadata metadata);
  absl::StatusOr<SessionRecord> CreateSession(absl::string_view id, Metadata metadata) {
    return CreateSession(kDefaultTenant, id, std::move(metadata));
  }
  // NOT_FOUND if absent or expired; FAILED_PRECONDITION for another model's session, which
  // cannot be resumed (ListSessions shows its record).
  absl::StatusOr<SessionRecord> GetSession(absl::string_view tenant, absl::string_view id);
  absl::StatusOr<SessionRecord> GetSession(absl::string_view id) {
    return GetSession(kDefaultTenant, id);
  }
  // The tenant's sessions in ID order, other models' included (see model_fingerprint), expired
  // ones skipped. Each call reads at most page_size + 1 records, so a page may be short (even
  // empty) when it skipped expired ones while next_page_token is still set: page until the token
  // is empty. page_size 1..1000 (0 = 100); page_token from the previous page (a session ID).
  // INVALID_ARGUMENT for a bad size or token; DATA_LOSS when a record read does not decode.
  absl::StatusOr<Page> ListSessions(absl::string_view tenant, int page_size,
                                    absl::string_view page_token);
  absl::StatusOr<Page> ListSessions(int page_size, absl::string_view page_token) {
    return ListSessions(kDefaultTenant, page_size, page_token);
  }
  // Deletes any of the tenant's sessions, another model's included. NOT_FOUND if absent; ABORTED
  // while a turn is in flight.
  absl::Status DeleteSession(absl::string_view tenant, absl::string_view id);
  absl::Status DeleteSession(absl::string_view id) { return DeleteSession(kDefaultTenant, id); }
  // Source and copy are the tenant's. NOT_FOUND source, ALREADY_EXISTS target, ABORTED while a
  // turn is in flight on the source. Empty `metadata` keeps the source's.
  absl::StatusOr<SessionRecord> ForkSession(absl::string_view tenant, absl::string_view source,
                                            absl::string_view new_id, Metadata metadata);
  absl::StatusOr<SessionRecord> ForkSession(absl::string_view source, absl::string_view new_id,
                                            Metadata metadata) {
    return ForkSession(kDefaultTenant, source, new_id, std::move(metadata));
  }

  // NOT_FOUND (unless create_if_missing: then a new session of the tenant's), ABORTED (turn in
  // flight, or version mismatch), FAILED_PRECONDITION (another model's state), DATA_LOSS
  // (corrupt blob or record).
  absl::StatusOr<Turn> BeginTurn(absl::string_view tenant, absl::string_view id,
                                 const TurnOptions& options);
  absl::StatusOr<Turn> BeginTurn(absl::string_view id, const TurnOptions& options) {
    return BeginTurn(kDefaultTenant, id, options);
  }
  // Stores `state` as version n + 1 with token_count += tokens_added and `last_turn` as the
  // record's last turn (replacing the previous one; empty: none); returns the new record.
  // On a store error the session stays at version n and the turn is released.
  absl::StatusOr<SessionRecord> Commit(Turn turn, absl::Span<const float> state,
                                       int64_t tokens_added, CommittedTurn last_turn = {});
  void Abort(Turn turn);

  // Deletes every session of every tenant idle past the TTL (skipping those with a turn in
  // flight); returns how many. A no-op without a TTL.
  absl::StatusOr<int> SweepExpired();
  absl::Status Flush();

  CacheStats cache_stats() const { return cache_.stats(); }
  // Sessions in the store, every tenant's (counted at start-up, then tracked, and recounted by
  // RecountSessions).
  int64_t live_sessions() const { return live_sessions_.load(std::memory_order_relaxed); }
  // Counts the sessions in the store again: on a store shared with other replicas, which create
  // and delete sessions too, what this one tracks drifts. On an error the count stays as it was.
  absl::Status RecountSessions();
  // Whether other replicas share the store (StateStore::Shared).
  bool store_shared() const { return records_->shared(); }
  const std::string& backend() const { return backend_; }

 private:
  SessionManager(std::unique_ptr<SessionRecords> records, Options options, int64_t live);

  // The per-session methods within the caller's scope; the public ones scrub their errors.
  absl::StatusOr<SessionRecord> CreateIn(const SessionScope& scope, absl::string_view id,
                                         Metadata metadata);
  absl::StatusOr<Page> ListIn(const SessionScope& scope, int page_size,
                              absl::string_view page_token);
  absl::Status DeleteIn(const SessionScope& scope, absl::string_view id);
  absl::StatusOr<SessionRecord> ForkIn(const SessionScope& scope, absl::string_view source,
                                       absl::string_view new_id, Metadata metadata);
  absl::StatusOr<Turn> BeginTurnIn(const SessionScope& scope, absl::string_view id,
                                   const TurnOptions& options);

  static absl::Status SessionNotFound(absl::string_view id);
  // UNAVAILABLE while the store is failing: what refuses a session write before its work.
  absl::Status CheckStoreHealthy() const;
  double Now() const;
  static bool Expired(const SessionRecord& record, double now);
  absl::Status CheckModel(const SessionRecord& record) const;
  // A live record of this model: NOT_FOUND when absent or expired.
  absl::StatusOr<SessionRecord> LoadRecord(const SessionScope& scope, absl::string_view id);
  // The state of `record`: from the hot cache at the record's version, else from the store.
  absl::StatusOr<std::vector<float>> LoadState(const SessionRecord& record);
  // A new record of this model at version 0 of `scope`'s session `id`, stamped `now`.
  SessionRecord NewRecord(const SessionScope& scope, absl::string_view id, double now) const;
  // Marks `record` as used at `now`, restarting its idle TTL.
  void Touch(double now, SessionRecord& record) const;
  std::string RandomId() ABSL_LOCKS_EXCLUDED(bitgen_mu_);
  // Below, sessions are named by their keys (SessionScope::Key).
  // After a write of the session `key` under its mark: drops its cached state, adjusts the count.
  void Written(absl::string_view key, int live_delta);
  // Marks `key` in flight here, then takes its store lease: ABORTED when either is taken.
  absl::StatusOr<Claim> ClaimSession(absl::string_view key);
  // The guard of a write by `claim` replacing `record_bytes` (nullopt: no record).
  static SessionRecords::Guard GuardOf(const Claim& claim, std::optional<std::string> record_bytes);
  // Deletes the session `key`, whose claim the caller holds, if its record is still
  // `record_bytes`.
  absl::Status DeleteHeld(absl::string_view key, const Claim& claim, std::string record_bytes);
  // Deletes the session `key` if it is still expired at `now` and not in flight; true if it did.
  absl::StatusOr<bool> DeleteIfExpired(absl::string_view key, double now);

  const Options options_;
  SessionObserver& observer_;
  const std::unique_ptr<SessionRecords> records_;
  const std::string backend_;
  const std::unique_ptr<SessionLeases> leases_;  // after records_: gone before it
  InFlightTable in_flight_;
  StateCache cache_;
  std::atomic<int64_t> live_sessions_;
  absl::Mutex bitgen_mu_;
  absl::BitGen bitgen_ ABSL_GUARDED_BY(bitgen_mu_);
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_SESSIONS_SESSION_MANAGER_H_
