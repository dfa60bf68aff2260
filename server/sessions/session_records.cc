#include "server/sessions/session_records.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/sessions/session_record_codec.h"

namespace rwkv::server {
namespace {

constexpr absl::string_view kRecordPrefix = "m/";
constexpr absl::string_view kStatePrefix = "s/";
constexpr absl::string_view kLeasePrefix = "session/";
// How long a session's keys outlive its record's expiry in stores that expire keys.
constexpr absl::Duration kExpiryGrace = absl::Hours(1);

std::string RecordKey(absl::string_view key) { return absl::StrCat(kRecordPrefix, key); }
std::string StateKey(absl::string_view key) { return absl::StrCat(kStatePrefix, key); }
std::string LeaseName(absl::string_view key) { return absl::StrCat(kLeasePrefix, key); }

absl::Time StoreExpiry(const SessionRecord& record) {
  if (record.expires_at <= 0) return absl::InfiniteFuture();
  return absl::FromUnixSeconds(0) + absl::Seconds(record.expires_at) + kExpiryGrace;
}

// The blob of a record that already passed as this model's: any mismatch is damage.
absl::Status CheckBlobMatches(const SessionRecord& record, const DecodedBlob& blob) {
  if (blob.header.version == record.version && blob.header.token_count == record.token_count) {
    return absl::OkStatus();
  }
  return absl::DataLossError(
      absl::StrCat("session ", record.id, ": record (version ", record.version, ", ",
                   record.token_count, " tokens) disagrees with its state blob (version ",
                   blob.header.version, ", ", blob.header.token_count, " tokens)"));
}

}  // namespace

SessionRecords::SessionRecords(std::unique_ptr<StateStore> store, int64_t state_floats)
    : store_(std::move(store)), state_floats_(state_floats) {}

absl::StatusOr<std::optional<SessionRecord>> SessionRecords::Read(absl::string_view key,
                                                                  std::string* bytes) {
  absl::StatusOr<std::string> stored = store_->Get(RecordKey(key));
  if (absl::IsNotFound(stored.status())) return std::nullopt;
  if (!stored.ok()) return stored.status();
  if (bytes != nullptr) *bytes = *stored;
  RWKV_ASSIGN_OR_RETURN(SessionRecord record, DecodeSessionRecord(key, *stored));
  return record;
}

absl::StatusOr<std::vector<SessionRecords::Scanned>> SessionRecords::Scan(
    absl::string_view start_after, int limit) {
  const std::string cursor = start_after.empty() ? "" : RecordKey(start_after);
  return ScanStore(kRecordPrefix, cursor, limit, nullptr);
}

absl::StatusOr<std::vector<SessionRecords::Scanned>> SessionRecords::ScanScope(
    const SessionScope& scope, absl::string_view start_after, int limit) {
  // Another tenant's range is the prefix's; the default tenant's ends where scoped keys begin.
  const std::string prefix = RecordKey(scope.key_prefix());
  const std::string cursor = start_after.empty() ? "" : RecordKey(scope.Key(start_after));
  return ScanStore(prefix, cursor, limit, &scope);
}

absl::StatusOr<std::vector<SessionRecords::Scanned>> SessionRecords::ScanStore(
    absl::string_view prefix, absl::string_view cursor, int limit, const SessionScope* scope) {
  RWKV_ASSIGN_OR_RETURN(std::vector<KeyValue> entries, store_->Scan(prefix, cursor, limit));
  std::vector<Scanned> scanned;
  scanned.reserve(entries.size());
  for (const KeyValue& entry : entries) {
    std::string key = entry.key.substr(kRecordPrefix.size());
    // Keys come in order: past the first one out of scope, none is in it.
    if (scope != nullptr && !scope->Holds(key)) break;
    absl::StatusOr<SessionRecord> record = DecodeSessionRecord(key, entry.value);
    scanned.push_back({std::move(key), std::move(record)});
  }
  return scanned;
}

absl::StatusOr<int64_t> SessionRecords::Count() { return store_->Count(kRecordPrefix); }

absl::StatusOr<DecodedBlob> SessionRecords::LoadBlob(const SessionRecord& record,
                                                     std::string* bytes) {
  const std::string& id = record.id;
  absl::StatusOr<std::string> stored = store_->Get(StateKey(SessionKey(record)));
  if (absl::IsNotFound(stored.status())) {
    return absl::DataLossError(absl::StrCat("session ", id, " has a record but no state"));
  }
  if (!stored.ok()) return stored.status();
  absl::StatusOr<DecodedBlob> blob =
      DecodeStateBlob(*stored, record.model_fingerprint, state_floats_);
  if (absl::IsFailedPrecondition(blob.status()) || absl::IsDataLoss(blob.status())) {
    return absl::DataLossError(absl::StrCat("session ", id, ": ", blob.status().message()));
  }
  if (!blob.ok()) return blob.status();
  RWKV_RETURN_IF_ERROR(CheckBlobMatches(record, *blob));
  if (bytes != nullptr) *bytes = *std::move(stored);
  return blob;
}

absl::Status SessionRecords::Write(const SessionRecord& record, absl::Span<const float> state,
                                   const Guard& guard) {
  return WriteWithBlob(
      record,
      EncodeStateBlob({record.model_fingerprint, record.token_count, record.version}, state),
      guard);
}

absl::Status SessionRecords::WriteWithBlob(const SessionRecord& record, std::string blob,
                                           const Guard& guard) {
  const std::string key = SessionKey(record);
  WriteBatch batch;
  AddGuard(key, guard, batch);
  const absl::Time expires_at = StoreExpiry(record);
  batch.Put(RecordKey(key), EncodeSessionRecord(record), expires_at);
  batch.Put(StateKey(key), std::move(blob), expires_at);
  return store_->Write(batch);
}

absl::Status SessionRecords::Delete(absl::string_view key, const Guard& guard) {
  WriteBatch batch;
  AddGuard(key, guard, batch);
  batch.Delete(RecordKey(key));
  batch.Delete(StateKey(key));
  return store_->Write(batch);
}

void SessionRecords::AddGuard(absl::string_view key, const Guard& guard, WriteBatch& batch) {
  batch.Require(RecordKey(key), guard.record_bytes);
  batch.RequireFence(LeaseName(key), guard.fence);
}

absl::StatusOr<int64_t> SessionRecords::AcquireLease(absl::string_view key, absl::string_view owner,
                                                     absl::Duration ttl) {
  return store_->AcquireLease(LeaseName(key), owner, ttl);
}

absl::Status SessionRecords::RenewLease(absl::string_view key, int64_t fence, absl::Duration ttl) {
  return store_->RenewLease(LeaseName(key), fence, ttl);
}

absl::Status SessionRecords::ReleaseLease(absl::string_view key, int64_t fence) {
  return store_->ReleaseLease(LeaseName(key), fence);
}

}  // namespace rwkv::server
