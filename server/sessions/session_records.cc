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

std::string RecordKey(absl::string_view id) { return absl::StrCat(kRecordPrefix, id); }
std::string StateKey(absl::string_view id) { return absl::StrCat(kStatePrefix, id); }
std::string LeaseName(absl::string_view id) { return absl::StrCat(kLeasePrefix, id); }

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

absl::StatusOr<std::optional<SessionRecord>> SessionRecords::Read(absl::string_view id,
                                                                  std::string* bytes) {
  absl::StatusOr<std::string> stored = store_->Get(RecordKey(id));
  if (absl::IsNotFound(stored.status())) return std::nullopt;
  if (!stored.ok()) return stored.status();
  if (bytes != nullptr) *bytes = *stored;
  RWKV_ASSIGN_OR_RETURN(SessionRecord record, DecodeSessionRecord(id, *stored));
  return record;
}

absl::StatusOr<std::vector<SessionRecords::Scanned>> SessionRecords::Scan(
    absl::string_view start_after, int limit) {
  const std::string cursor = start_after.empty() ? "" : RecordKey(start_after);
  RWKV_ASSIGN_OR_RETURN(std::vector<KeyValue> entries, store_->Scan(kRecordPrefix, cursor, limit));
  std::vector<Scanned> scanned;
  scanned.reserve(entries.size());
  for (const KeyValue& entry : entries) {
    std::string id = entry.key.substr(kRecordPrefix.size());
    absl::StatusOr<SessionRecord> record = DecodeSessionRecord(id, entry.value);
    scanned.push_back({std::move(id), std::move(record)});
  }
  return scanned;
}

absl::StatusOr<int64_t> SessionRecords::Count() { return store_->Count(kRecordPrefix); }

absl::StatusOr<DecodedBlob> SessionRecords::LoadBlob(const SessionRecord& record,
                                                     std::string* bytes) {
  const std::string& id = record.id;
  absl::StatusOr<std::string> stored = store_->Get(StateKey(id));
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
  WriteBatch batch;
  AddGuard(record.id, guard, batch);
  const absl::Time expires_at = StoreExpiry(record);
  batch.Put(RecordKey(record.id), EncodeSessionRecord(record), expires_at);
  batch.Put(StateKey(record.id), std::move(blob), expires_at);
  return store_->Write(batch);
}

absl::Status SessionRecords::Delete(absl::string_view id, const Guard& guard) {
  WriteBatch batch;
  AddGuard(id, guard, batch);
  batch.Delete(RecordKey(id));
  batch.Delete(StateKey(id));
  return store_->Write(batch);
}

void SessionRecords::AddGuard(absl::string_view id, const Guard& guard, WriteBatch& batch) {
  batch.Require(RecordKey(id), guard.record_bytes);
  batch.RequireFence(LeaseName(id), guard.fence);
}

absl::StatusOr<int64_t> SessionRecords::AcquireLease(absl::string_view id,
                                                     absl::string_view owner,
                                                     absl::Duration ttl) {
  return store_->AcquireLease(LeaseName(id), owner, ttl);
}

absl::Status SessionRecords::RenewLease(absl::string_view id, int64_t fence, absl::Duration ttl) {
  return store_->RenewLease(LeaseName(id), fence, ttl);
}

absl::Status SessionRecords::ReleaseLease(absl::string_view id, int64_t fence) {
  return store_->ReleaseLease(LeaseName(id), fence);
}

}  // namespace rwkv::server
