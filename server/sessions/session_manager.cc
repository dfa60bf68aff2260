#include "server/sessions/session_manager.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/hash64.h"
#include "common/status_macros.h"
#include "server/sessions/session_blob.h"
#include "server/sessions/session_id.h"

namespace rwkv::server {
namespace {

constexpr int kScanChunk = 1000;
constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

bool IsFingerprint(absl::string_view fingerprint) {
  return fingerprint.size() == kFingerprintChars &&
         fingerprint.find_first_not_of("0123456789abcdef") == absl::string_view::npos;
}

absl::Status CheckOptions(const StateStore* store, const SessionManager::Options& options) {
  const char* error = nullptr;
  if (store == nullptr) {
    error = "a state store is required";
  } else if (!IsFingerprint(options.model_fingerprint)) {
    error = "model_fingerprint must be 16 lowercase hex characters";
  } else if (options.initial_state.empty()) {
    error = "initial_state must not be empty";
  } else if (options.ttl < absl::ZeroDuration() || options.hot_cache_bytes < 0) {
    error = "ttl and hot_cache_bytes must not be negative";
  } else if (options.clock == nullptr) {
    error = "clock must be set";
  } else if (options.lease_ttl < absl::Milliseconds(30)) {
    error = "lease_ttl must be at least 30ms";
  }
  if (error == nullptr) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("SessionManager options: ", error));
}

SessionObserver& NoObserver() {
  static SessionObserver* const observer = new SessionObserver();
  return *observer;
}

absl::Status SessionExists(absl::string_view id) {
  return absl::AlreadyExistsError(absl::StrCat("session ", id, " already exists"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SessionManager>> SessionManager::Create(
    std::unique_ptr<StateStore> store, Options options) {
  RWKV_RETURN_IF_ERROR(CheckOptions(store.get(), options));
  auto records = std::make_unique<SessionRecords>(
      std::move(store), static_cast<int64_t>(options.initial_state.size()));
  RWKV_ASSIGN_OR_RETURN(const int64_t live, records->Count());
  return std::unique_ptr<SessionManager>(
      new SessionManager(std::move(records), std::move(options), live));
}

SessionManager::SessionManager(std::unique_ptr<SessionRecords> records, Options options,
                               int64_t live)
    : options_(std::move(options)),
      observer_(options_.observer != nullptr ? *options_.observer : NoObserver()),
      records_(std::move(records)),
      backend_(records_->backend()),
      leases_(std::make_unique<SessionLeases>(
          records_.get(), SessionLeases::Options{options_.replica, options_.lease_ttl})),
      cache_(options_.hot_cache_bytes),
      live_sessions_(live) {}

absl::StatusOr<SessionRecord> SessionManager::CreateSession(absl::string_view tenant,
                                                            absl::string_view id,
                                                            Metadata metadata) {
  RWKV_ASSIGN_OR_RETURN(const SessionScope scope, SessionScope::Of(tenant));
  return scope.Scrub(CreateIn(scope, id, std::move(metadata)));
}

absl::StatusOr<SessionRecord> SessionManager::GetSession(absl::string_view tenant,
                                                         absl::string_view id) {
  RWKV_ASSIGN_OR_RETURN(const SessionScope scope, SessionScope::Of(tenant));
  RWKV_RETURN_IF_ERROR(ValidateSessionId(id));
  return scope.Scrub(LoadRecord(scope, id));
}

absl::StatusOr<SessionManager::Page> SessionManager::ListSessions(absl::string_view tenant,
                                                                  int page_size,
                                                                  absl::string_view page_token) {
  RWKV_ASSIGN_OR_RETURN(const SessionScope scope, SessionScope::Of(tenant));
  return scope.Scrub(ListIn(scope, page_size, page_token));
}

absl::Status SessionManager::DeleteSession(absl::string_view tenant, absl::string_view id) {
  RWKV_ASSIGN_OR_RETURN(const SessionScope scope, SessionScope::Of(tenant));
  return scope.Scrub(DeleteIn(scope, id));
}

absl::StatusOr<SessionRecord> SessionManager::ForkSession(absl::string_view tenant,
                                                          absl::string_view source,
                                                          absl::string_view new_id,
                                                          Metadata metadata) {
  RWKV_ASSIGN_OR_RETURN(const SessionScope scope, SessionScope::Of(tenant));
  return scope.Scrub(ForkIn(scope, source, new_id, std::move(metadata)));
}

absl::StatusOr<SessionManager::Turn> SessionManager::BeginTurn(absl::string_view tenant,
                                                               absl::string_view id,
                                                               const TurnOptions& options) {
  RWKV_ASSIGN_OR_RETURN(const SessionScope scope, SessionScope::Of(tenant));
  return scope.Scrub(BeginTurnIn(scope, id, options));
}

absl::StatusOr<SessionRecord> SessionManager::CreateIn(const SessionScope& scope,
                                                       absl::string_view id, Metadata metadata) {
  if (!id.empty()) RWKV_RETURN_IF_ERROR(ValidateSessionId(id));
  RWKV_RETURN_IF_ERROR(ValidateSessionMetadata(metadata));
  RWKV_RETURN_IF_ERROR(CheckStoreHealthy());
  const std::string new_id = id.empty() ? RandomId() : std::string(id);
  const std::string key = scope.Key(new_id);
  RWKV_ASSIGN_OR_RETURN(Claim claim, ClaimSession(key));
  std::string bytes;
  RWKV_ASSIGN_OR_RETURN(std::optional<SessionRecord> existing, records_->Read(key, &bytes));
  const double now = Now();
  if (existing.has_value() && !Expired(*existing, now)) return SessionExists(new_id);
  SessionRecord record = NewRecord(scope, new_id, now);
  record.metadata = std::move(metadata);
  RWKV_RETURN_IF_ERROR(records_->Write(
      record, options_.initial_state,
      GuardOf(claim, existing.has_value() ? std::optional(bytes) : std::nullopt)));
  Written(key, existing.has_value() ? 0 : 1);  // or it replaced an expired one
  observer_.OnSessionEvent(SessionEvent::kCreated);
  return record;
}

absl::StatusOr<SessionManager::Page> SessionManager::ListIn(const SessionScope& scope,
                                                            int page_size,
                                                            absl::string_view page_token) {
  if (page_size == 0) page_size = kDefaultPageSize;
  if (page_size < 0 || page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat("page_size must be 0 to 1000, got ", page_size));
  }
  if (!page_token.empty()) {
    if (absl::Status status = ValidateSessionId(page_token, "page_token"); !status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("bad page_token: ", status.message()));
    }
  }
  // One scan of one more record than the page holds, to tell whether anything follows: the
  // work per call is bounded however many records are skipped.
  RWKV_ASSIGN_OR_RETURN(std::vector<SessionRecords::Scanned> entries,
                        records_->ScanScope(scope, page_token, page_size + 1));
  const bool more = static_cast<int>(entries.size()) > page_size;
  if (more) entries.pop_back();
  const double now = Now();
  Page page;
  for (SessionRecords::Scanned& entry : entries) {
    RWKV_RETURN_IF_ERROR(entry.record.status());
    // Expired sessions read as absent. Other models' sessions are listed (their fingerprint
    // tells them apart) so that an operator can find and delete them after a model change.
    if (Expired(*entry.record, now)) continue;
    page.sessions.push_back(*std::move(entry.record));
  }
  // After the last record read, not the last listed: a page with skipped records may be short,
  // even empty, and still have a next page.
  if (more) page.next_page_token = std::string(scope.IdOf(entries.back().key));
  return page;
}

absl::Status SessionManager::CheckStoreHealthy() const {
  return options_.store_health != nullptr ? options_.store_health->Check() : absl::OkStatus();
}

absl::Status SessionManager::SessionNotFound(absl::string_view id) {
  return absl::NotFoundError(absl::StrCat("session ", id, " not found"));
}

absl::Status SessionManager::DeleteIn(const SessionScope& scope, absl::string_view id) {
  RWKV_RETURN_IF_ERROR(ValidateSessionId(id));
  RWKV_RETURN_IF_ERROR(CheckStoreHealthy());
  const std::string key = scope.Key(id);
  RWKV_ASSIGN_OR_RETURN(Claim claim, ClaimSession(key));
  std::string bytes;
  absl::StatusOr<std::optional<SessionRecord>> record = records_->Read(key, &bytes);
  // A corrupt record can still be deleted: deleting is the way out of it.
  if (!record.ok() && !absl::IsDataLoss(record.status())) return record.status();
  // Another model's session can be deleted too: after a model change, that is how it goes.
  if (record.ok() && (!record->has_value() || Expired(**record, Now()))) {
    return SessionNotFound(id);
  }
  RWKV_RETURN_IF_ERROR(DeleteHeld(key, claim, std::move(bytes)));
  observer_.OnSessionEvent(SessionEvent::kDeleted);
  return absl::OkStatus();
}

absl::StatusOr<SessionRecord> SessionManager::ForkIn(const SessionScope& scope,
                                                     absl::string_view source,
                                                     absl::string_view new_id, Metadata metadata) {
  RWKV_RETURN_IF_ERROR(ValidateSessionId(source, "source_session_id"));
  if (!new_id.empty()) RWKV_RETURN_IF_ERROR(ValidateSessionId(new_id, "new_session_id"));
  RWKV_RETURN_IF_ERROR(ValidateSessionMetadata(metadata));
  RWKV_RETURN_IF_ERROR(CheckStoreHealthy());
  const std::string target = new_id.empty() ? RandomId() : std::string(new_id);
  if (target == source) return SessionExists(target);
  const std::string target_key = scope.Key(target);
  // Holding the source's claim keeps its record and blob consistent while they are copied (no
  // replica commits between the two reads).
  RWKV_ASSIGN_OR_RETURN(Claim source_claim, ClaimSession(scope.Key(source)));
  RWKV_ASSIGN_OR_RETURN(Claim target_claim, ClaimSession(target_key));
  RWKV_ASSIGN_OR_RETURN(SessionRecord record, LoadRecord(scope, source));
  std::string blob;
  RWKV_RETURN_IF_ERROR(records_->LoadBlob(record, &blob).status());
  std::string bytes;
  RWKV_ASSIGN_OR_RETURN(std::optional<SessionRecord> existing, records_->Read(target_key, &bytes));
  const double now = Now();
  if (existing.has_value() && !Expired(*existing, now)) return SessionExists(target);
  // The blob holds no ID, so the copy is byte for byte; version and token count carry over.
  record.id = target;  // in the source's tenant, the caller's
  record.created_at = now;
  Touch(now, record);
  if (!metadata.empty()) record.metadata = std::move(metadata);
  record.last_turn = {};  // a retry of the source's last turn is the source's, not the fork's
  RWKV_RETURN_IF_ERROR(records_->WriteWithBlob(
      record, std::move(blob),
      GuardOf(target_claim, existing.has_value() ? std::optional(bytes) : std::nullopt)));
  Written(target_key, existing.has_value() ? 0 : 1);
  observer_.OnSessionEvent(SessionEvent::kForked);
  return record;
}

absl::StatusOr<int> SessionManager::SweepExpired() {
  if (options_.ttl <= absl::ZeroDuration()) return 0;
  const double now = Now();
  int swept = 0;
  std::string cursor;
  for (;;) {
    RWKV_ASSIGN_OR_RETURN(std::vector<SessionRecords::Scanned> entries,
                          records_->Scan(cursor, kScanChunk));
    // Every tenant's sessions, by key.
    for (const SessionRecords::Scanned& entry : entries) {
      cursor = entry.key;
      // Corrupt records are left for an explicit DeleteSession.
      if (!entry.record.ok() || !Expired(*entry.record, now)) continue;
      RWKV_ASSIGN_OR_RETURN(bool deleted, DeleteIfExpired(entry.key, now));
      if (!deleted) continue;
      ++swept;
      observer_.OnSessionEvent(SessionEvent::kExpired);
    }
    if (static_cast<int>(entries.size()) < kScanChunk) break;
  }
  return swept;
}

absl::Status SessionManager::Flush() { return records_->Flush(); }

absl::Status SessionManager::RecountSessions() {
  RWKV_ASSIGN_OR_RETURN(const int64_t live, records_->Count());
  live_sessions_.store(live, std::memory_order_relaxed);
  return absl::OkStatus();
}

double SessionManager::Now() const {
  return absl::ToDoubleSeconds(options_.clock->Now() - absl::UnixEpoch());
}

bool SessionManager::Expired(const SessionRecord& record, double now) {
  return record.expires_at > 0 && now > record.expires_at;
}

absl::Status SessionManager::CheckModel(const SessionRecord& record) const {
  if (record.model_fingerprint == options_.model_fingerprint) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("session ", record.id, ": session was created by model ",
                   record.model_fingerprint, ", this server runs ", options_.model_fingerprint));
}

absl::StatusOr<SessionRecord> SessionManager::LoadRecord(const SessionScope& scope,
                                                         absl::string_view id) {
  // Another tenant's session of this ID is under another key: absent here, like a missing one.
  RWKV_ASSIGN_OR_RETURN(std::optional<SessionRecord> record, records_->Read(scope.Key(id)));
  if (!record.has_value() || Expired(*record, Now())) return SessionNotFound(id);
  RWKV_RETURN_IF_ERROR(CheckModel(*record));
  return *std::move(record);
}

SessionRecord SessionManager::NewRecord(const SessionScope& scope, absl::string_view id,
                                        double now) const {
  SessionRecord record;
  record.id = std::string(id);
  record.tenant = scope.tenant();
  record.model_fingerprint = options_.model_fingerprint;
  record.created_at = now;
  Touch(now, record);
  record.state_bytes = records_->state_floats() * static_cast<int64_t>(sizeof(float));
  return record;
}

void SessionManager::Touch(double now, SessionRecord& record) const {
  record.updated_at = now;
  const bool ttl = options_.ttl > absl::ZeroDuration();
  record.expires_at = ttl ? now + absl::ToDoubleSeconds(options_.ttl) : 0;
}

std::string SessionManager::RandomId() {
  // Two 64-bit words, 128 random bits: an ID nobody can guess (IDs are also scoped by tenant).
  absl::MutexLock lock(&bitgen_mu_);
  return absl::StrCat(Hex64(absl::Uniform<uint64_t>(bitgen_)),
                      Hex64(absl::Uniform<uint64_t>(bitgen_)));
}

void SessionManager::Written(absl::string_view key, int live_delta) {
  cache_.Erase(key);
  live_sessions_.fetch_add(live_delta, std::memory_order_relaxed);
}

absl::StatusOr<SessionManager::Claim> SessionManager::ClaimSession(absl::string_view key) {
  Claim claim;
  // Here first: a second change on this replica is refused without a store round trip.
  RWKV_ASSIGN_OR_RETURN(claim.hold, in_flight_.Acquire(key));
  RWKV_ASSIGN_OR_RETURN(claim.lease, leases_->Acquire(key));
  return claim;
}

SessionRecords::Guard SessionManager::GuardOf(const Claim& claim,
                                              std::optional<std::string> record_bytes) {
  return SessionRecords::Guard{std::move(record_bytes), claim.lease.fence()};
}

absl::Status SessionManager::DeleteHeld(absl::string_view key, const Claim& claim,
                                        std::string record_bytes) {
  RWKV_RETURN_IF_ERROR(records_->Delete(key, GuardOf(claim, std::move(record_bytes))));
  Written(key, -1);
  return absl::OkStatus();
}

absl::StatusOr<bool> SessionManager::DeleteIfExpired(absl::string_view key, double now) {
  absl::StatusOr<Claim> claim = ClaimSession(key);
  if (!claim.ok()) return false;  // in flight: its turn will refresh or keep it
  // Re-read under the claim: a commit between the scan and here may have renewed it.
  std::string bytes;
  absl::StatusOr<std::optional<SessionRecord>> record = records_->Read(key, &bytes);
  if (!record.ok() || !record->has_value() || !Expired(**record, now)) return false;
  RWKV_RETURN_IF_ERROR(DeleteHeld(key, *claim, std::move(bytes)));
  return true;
}

}  // namespace rwkv::server
