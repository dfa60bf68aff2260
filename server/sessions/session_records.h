// SessionRecords: the sessions layer's view of its StateStore, and the only code that reads or
// writes it.
//
//   SessionRecords records(std::move(store), /*state_floats=*/engine.StateFloats());
//   RWKV_ASSIGN_OR_RETURN(std::optional<SessionRecord> record, records.Read(scope.Key("chat-1")));
//   RWKV_RETURN_IF_ERROR(records.Write(*record, state, guard));   // record and state, one batch
//
// Sessions are named here by their keys (SessionKey: the ID, scoped by its tenant; a record's key
// follows from its tenant and ID). Each session is two keys written and deleted together:
// "m/<key>" (the record, encoded by session_record_codec.h; every older encoding is read, the
// newest is written) and "s/<key>" (the state blob, session_blob.h), with its store lease named
// "session/<key>". A record or blob that fails its checks, or a blob that does not match its
// record, is DATA_LOSS.
//
// Every write of a session is guarded (Guard): the store applies it only if the session's record
// is still byte for byte the one the writer read, and no later lease on the session was granted
// than the writer's. That compare-and-set, not the lease, is what keeps a replica that lost its
// lease (paused, partitioned) from overwriting a newer turn. A session's keys expire in the store
// (where the backend expires keys) an hour after its record does, so that a turn that began just
// before the expiry can still commit; reads treat the record as gone at once.
//
// Callers serialise changes to one session (SessionManager holds its in-flight mark and lease);
// the methods themselves are thread-safe and block on store I/O.
#ifndef RWKV_SERVER_SESSIONS_SESSION_RECORDS_H_
#define RWKV_SERVER_SESSIONS_SESSION_RECORDS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "server/sessions/session_blob.h"
#include "server/sessions/session_record.h"
#include "server/sessions/session_scope.h"
#include "server/store/state_store.h"

namespace rwkv::server {

class SessionRecords {
 public:
  // One entry of a scan: the session's key, and its record or why it does not decode.
  struct Scanned {
    std::string key;
    absl::StatusOr<SessionRecord> record;
  };

  // What a write of one session requires of the store, atomically with it.
  struct Guard {
    // The record bytes the write replaces (as Read returned them); nullopt: there is none.
    std::optional<std::string> record_bytes;
    // The writer's lease on the session (SessionLeases): refused once a later one was granted.
    int64_t fence = 0;
  };

  // `store` must not be null; every state has `state_floats` floats.
  SessionRecords(std::unique_ptr<StateStore> store, int64_t state_floats);

  // The record under `key`; nullopt when it has none. Its stored bytes go to `*bytes` when not
  // null (also when they do not decode, so that a corrupt session can still be deleted).
  absl::StatusOr<std::optional<SessionRecord>> Read(absl::string_view key,
                                                    std::string* bytes = nullptr);
  // Up to `limit` records of every tenant in key order, after the key `start_after` (empty: from
  // the first).
  absl::StatusOr<std::vector<Scanned>> Scan(absl::string_view start_after, int limit);
  // Up to `limit` records of `scope`'s tenant in ID order, after its session `start_after`
  // (empty: from the first). Reads at most `limit` entries, and no other tenant's record is
  // decoded (the default tenant's scan stops at the first scoped key).
  absl::StatusOr<std::vector<Scanned>> ScanScope(const SessionScope& scope,
                                                 absl::string_view start_after, int limit);
  // Records in the store (every tenant's, however they decode).
  absl::StatusOr<int64_t> Count();

  // The blob of `record`, checked against it (model, version, token count); its bytes are
  // copied to `*bytes` when not null. DATA_LOSS when missing or mismatched.
  absl::StatusOr<DecodedBlob> LoadBlob(const SessionRecord& record, std::string* bytes = nullptr);

  // Writes `record` with `state` (encoded as its blob) in one batch, if `guard` holds (else
  // ABORTED, nothing written).
  absl::Status Write(const SessionRecord& record, absl::Span<const float> state,
                     const Guard& guard);
  // Writes `record` with an already encoded blob (a byte-for-byte copy of another session's).
  absl::Status WriteWithBlob(const SessionRecord& record, std::string blob, const Guard& guard);
  // Deletes both keys of the session `key` (absent ones are no error), if `guard` holds.
  absl::Status Delete(absl::string_view key, const Guard& guard);

  // The store lease of the session `key` (StateStore::AcquireLease and the rest).
  absl::StatusOr<int64_t> AcquireLease(absl::string_view key, absl::string_view owner,
                                       absl::Duration ttl);
  absl::Status RenewLease(absl::string_view key, int64_t fence, absl::Duration ttl);
  absl::Status ReleaseLease(absl::string_view key, int64_t fence);

  absl::Status Flush() { return store_->Flush(); }
  absl::string_view backend() const { return store_->Backend(); }
  bool shared() const { return store_->Shared(); }
  int64_t state_floats() const { return state_floats_; }

 private:
  // Adds `guard`'s conditions on the session `key` to `batch`.
  static void AddGuard(absl::string_view key, const Guard& guard, WriteBatch& batch);
  // The entries of a store scan of `prefix` after `cursor`, decoded while `scope` holds them
  // (every one when `scope` is null).
  absl::StatusOr<std::vector<Scanned>> ScanStore(absl::string_view prefix, absl::string_view cursor,
                                                 int limit, const SessionScope* scope);

  const std::unique_ptr<StateStore> store_;
  const int64_t state_floats_;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_SESSIONS_SESSION_RECORDS_H_
