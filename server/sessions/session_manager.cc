#include "server/sessions/session_manager.h"

#include <list>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/util/hash64.h"
#include "engine/util/status_macros.h"
#include "server/sessions/session_blob.h"
#include "server/sessions/state_cache.h"

// Every write of a session's keys ("m/<id>", "s/<id>") happens while this process holds the ID's
// in-flight mark (a turn, or a create, delete, fork or sweep in progress), so a reader holding the
// mark sees a record and blob that no one else changes underneath it.

namespace rwkv::server {
namespace {

using ::rwkv::v1::Session;

constexpr absl::string_view kRecordPrefix = "m/";
constexpr absl::string_view kStatePrefix = "s/";
constexpr int kScanChunk = 1000;
constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
constexpr size_t kMaxIdChars = 128;
constexpr size_t kMaxMetadataEntries = 16;
constexpr size_t kMaxMetadataKeyBytes = 256;
constexpr size_t kMaxMetadataValueBytes = 256;

std::string RecordKey(absl::string_view id) { return absl::StrCat(kRecordPrefix, id); }
std::string StateKey(absl::string_view id) { return absl::StrCat(kStatePrefix, id); }

constexpr absl::string_view kIdChars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-";

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
  } else if (!options.clock) {
    error = "clock must be set";
  }
  if (error == nullptr) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("SessionManager options: ", error));
}

SessionObserver& NoObserver() {
  static SessionObserver* const observer = new SessionObserver();
  return *observer;
}

absl::Status SessionNotFound(absl::string_view id) {
  return absl::NotFoundError(absl::StrCat("session ", id, " not found"));
}

absl::Status SessionExists(absl::string_view id) {
  return absl::AlreadyExistsError(absl::StrCat("session ", id, " already exists"));
}

// "m/<id>" bytes as a record; DATA_LOSS when they do not parse or name another session.
absl::StatusOr<Session> ParseRecord(absl::string_view id, const std::string& bytes) {
  Session record;
  if (!record.ParseFromString(bytes) || record.id() != id) {
    return absl::DataLossError(absl::StrCat("session record of ", id, " is corrupt"));
  }
  return record;
}

}  // namespace

// State shared by SessionManager's methods; the fields under `mu` are short-lived bookkeeping, and
// no store I/O happens while `mu` is held.
class SessionManager::Impl {
 public:
  // The in-flight mark of one ID, released when destroyed unless Dismiss()ed (a Turn then owns it).
  class Hold {
   public:
    Hold(Impl* impl, std::string id) : impl_(impl), id_(std::move(id)) {}
    Hold(Hold&& other) noexcept
        : impl_(std::exchange(other.impl_, nullptr)), id_(std::move(other.id_)) {}
    ~Hold() {
      if (impl_ != nullptr) impl_->Release(id_);
    }
    void Dismiss() { impl_ = nullptr; }

   private:
    Impl* impl_;
    std::string id_;
  };

  Impl(std::unique_ptr<StateStore> store_in, Options options_in, int64_t live)
      : store(std::move(store_in)),
        options(std::move(options_in)),
        backend(store->Backend()),
        observer(options.observer != nullptr ? *options.observer : NoObserver()),
        cache(options.hot_cache_bytes),
        live_sessions(live) {}

  int64_t state_floats() const { return static_cast<int64_t>(options.initial_state.size()); }
  double Now() const { return absl::ToDoubleSeconds(options.clock() - absl::UnixEpoch()); }
  static bool Expired(const Session& record, double now) {
    return record.expires_at() > 0 && now > record.expires_at();
  }

  // ABORTED while `id` has a turn (or another change) in flight.
  absl::StatusOr<Hold> Acquire(absl::string_view id) {
    absl::MutexLock lock(&mu);
    if (!in_flight.emplace(id).second) {
      return absl::AbortedError(absl::StrCat("session ", id, " already has a turn in flight"));
    }
    return Hold(this, std::string(id));
  }

  void Release(absl::string_view id) {
    absl::MutexLock lock(&mu);
    in_flight.erase(id);
    creating.erase(id);
  }

  // After a write of `id`'s keys under its mark: drops its cached state, adjusts the count.
  void Written(absl::string_view id, int live_delta) {
    absl::MutexLock lock(&mu);
    cache.Erase(id);
    live_sessions += live_delta;
  }

  // A shared copy of `state` for the cache, or null when it could never fit.
  StateCache::State CacheableCopy(absl::Span<const float> state) const {
    if (static_cast<int64_t>(state.size() * sizeof(float)) > options.hot_cache_bytes) {
      return nullptr;
    }
    return std::make_shared<const std::vector<float>>(state.begin(), state.end());
  }

  std::string RandomId() {
    absl::MutexLock lock(&mu);
    return absl::StrCat(engine::Hex64(absl::Uniform<uint64_t>(bitgen)),
                        engine::Hex64(absl::Uniform<uint64_t>(bitgen)));
  }

  // The stored record; nullopt when absent (expired ones included), DATA_LOSS when corrupt.
  absl::StatusOr<std::optional<Session>> ReadRecord(absl::string_view id) {
    absl::StatusOr<std::string> bytes = store->Get(RecordKey(id));
    if (absl::IsNotFound(bytes.status())) return std::nullopt;
    if (!bytes.ok()) return bytes.status();
    RWKV_ASSIGN_OR_RETURN(Session record, ParseRecord(id, *bytes));
    return record;
  }

  absl::Status CheckModel(const Session& record) const {
    if (record.model_fingerprint() == options.model_fingerprint) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat("session ", record.id(), ": session was created by model ",
                     record.model_fingerprint(), ", this server runs ", options.model_fingerprint));
  }

  // A live record of this model: NOT_FOUND when absent or expired.
  absl::StatusOr<Session> LoadRecord(absl::string_view id) {
    RWKV_ASSIGN_OR_RETURN(std::optional<Session> record, ReadRecord(id));
    if (!record.has_value() || Expired(*record, Now())) return SessionNotFound(id);
    RWKV_RETURN_IF_ERROR(CheckModel(*record));
    return *std::move(record);
  }

  // The state blob of `record` (already checked by LoadRecord), verified against it.
  absl::StatusOr<DecodedBlob> LoadBlob(const Session& record, std::string* bytes_out = nullptr);

  // The state of `record`: from the hot cache at the record's version, else from the store.
  absl::StatusOr<std::vector<float>> LoadState(const Session& record) {
    StateCache::State cached;
    {
      absl::MutexLock lock(&mu);
      cached = cache.Lookup(record);
    }
    observer.OnCacheLookup(cached != nullptr);
    if (cached != nullptr) return *cached;
    RWKV_ASSIGN_OR_RETURN(DecodedBlob blob, LoadBlob(record));
    if (StateCache::State copy = CacheableCopy(blob.state); copy != nullptr) {
      absl::MutexLock lock(&mu);
      cache.Insert(record, std::move(copy));
    }
    return std::move(blob.state);
  }

  // A new record of this model at version 0, stamped `now`.
  Session NewRecord(absl::string_view id, double now) const {
    Session record;
    record.set_id(std::string(id));
    record.set_model_fingerprint(options.model_fingerprint);
    record.set_created_at(now);
    Touch(now, record);
    record.set_state_bytes(state_floats() * static_cast<int64_t>(sizeof(float)));
    return record;
  }

  // Marks `record` as used at `now`, restarting its idle TTL.
  void Touch(double now, Session& record) const {
    record.set_updated_at(now);
    const bool ttl = options.ttl > absl::ZeroDuration();
    record.set_expires_at(ttl ? now + absl::ToDoubleSeconds(options.ttl) : 0);
  }

  // Writes a session's record and state in one batch.
  absl::Status WriteSession(const Session& record, absl::Span<const float> state) {
    return WriteSessionBlob(
        record, EncodeStateBlob({options.model_fingerprint, record.token_count(), record.version()},
                                state));
  }
  absl::Status WriteSessionBlob(const Session& record, std::string blob) {
    WriteBatch batch;
    batch.Put(RecordKey(record.id()), record.SerializeAsString());
    batch.Put(StateKey(record.id()), std::move(blob));
    return store->Write(batch);
  }

  // Deletes both keys of `id`, whose mark the caller holds.
  absl::Status DeleteSession(absl::string_view id) {
    WriteBatch batch;
    batch.Delete(RecordKey(id));
    batch.Delete(StateKey(id));
    RWKV_RETURN_IF_ERROR(store->Write(batch));
    Written(id, -1);
    return absl::OkStatus();
  }

  // Deletes `id` if it is still expired at `now` and not in flight; true if it did.
  absl::StatusOr<bool> DeleteIfExpired(absl::string_view id, double now);

  const std::unique_ptr<StateStore> store;
  const Options options;
  const std::string backend;
  SessionObserver& observer;

  mutable absl::Mutex mu;
  absl::flat_hash_set<std::string> in_flight ABSL_GUARDED_BY(mu);
  // IDs whose in-flight turn creates a session that had no record (counted when committed).
  absl::flat_hash_set<std::string> creating ABSL_GUARDED_BY(mu);
  StateCache cache ABSL_GUARDED_BY(mu);
  int64_t live_sessions ABSL_GUARDED_BY(mu);
  absl::BitGen bitgen ABSL_GUARDED_BY(mu);
};

absl::StatusOr<DecodedBlob> SessionManager::Impl::LoadBlob(const Session& record,
                                                           std::string* bytes_out) {
  const std::string& id = record.id();
  absl::StatusOr<std::string> bytes = store->Get(StateKey(id));
  if (absl::IsNotFound(bytes.status())) {
    return absl::DataLossError(absl::StrCat("session ", id, " has a record but no state"));
  }
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<DecodedBlob> blob =
      DecodeStateBlob(*bytes, options.model_fingerprint, state_floats());
  // The record already passed as this model's: a blob that does not fit it is damage.
  if (absl::IsFailedPrecondition(blob.status()) || absl::IsDataLoss(blob.status())) {
    return absl::DataLossError(absl::StrCat("session ", id, ": ", blob.status().message()));
  }
  if (!blob.ok()) return blob.status();
  if (blob->header.version != record.version() ||
      blob->header.token_count != record.token_count()) {
    return absl::DataLossError(
        absl::StrCat("session ", id, ": record (version ", record.version(), ", ",
                     record.token_count(), " tokens) disagrees with its state blob (version ",
                     blob->header.version, ", ", blob->header.token_count, " tokens)"));
  }
  if (bytes_out != nullptr) *bytes_out = *std::move(bytes);
  return blob;
}

absl::StatusOr<bool> SessionManager::Impl::DeleteIfExpired(absl::string_view id, double now) {
  absl::StatusOr<Hold> hold = Acquire(id);
  if (!hold.ok()) return false;  // in flight: its turn will refresh or keep it
  // Re-read under the mark: a commit between the scan and here may have renewed it.
  absl::StatusOr<std::optional<Session>> record = ReadRecord(id);
  if (!record.ok() || !record->has_value() || !Expired(**record, now)) return false;
  RWKV_RETURN_IF_ERROR(DeleteSession(id));
  return true;
}

SessionManager::Turn::Turn(SessionManager* owner, rwkv::v1::Session session,
                           std::vector<float> state, bool creates)
    : owner_(owner), session_(std::move(session)), state_(std::move(state)), creates_(creates) {}

SessionManager::Turn::Turn(Turn&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      session_(std::move(other.session_)),
      state_(std::move(other.state_)),
      creates_(other.creates_) {}

SessionManager::Turn& SessionManager::Turn::operator=(Turn&& other) noexcept {
  if (this == &other) return *this;
  if (owner_ != nullptr) owner_->Release(session_.id());
  owner_ = std::exchange(other.owner_, nullptr);
  session_ = std::move(other.session_);
  state_ = std::move(other.state_);
  creates_ = other.creates_;
  return *this;
}

// A Turn must not outlive its SessionManager.
SessionManager::Turn::~Turn() {
  if (owner_ != nullptr) owner_->Release(session_.id());
}

absl::StatusOr<std::unique_ptr<SessionManager>> SessionManager::Create(
    std::unique_ptr<StateStore> store, Options options) {
  RWKV_RETURN_IF_ERROR(CheckOptions(store.get(), options));
  int64_t live = 0;
  std::string cursor;
  for (;;) {
    RWKV_ASSIGN_OR_RETURN(std::vector<KeyValue> page,
                          store->Scan(kRecordPrefix, cursor, kScanChunk));
    live += static_cast<int64_t>(page.size());
    if (static_cast<int>(page.size()) < kScanChunk) break;
    cursor = page.back().key;
  }
  auto impl = std::make_unique<Impl>(std::move(store), std::move(options), live);
  return std::unique_ptr<SessionManager>(new SessionManager(std::move(impl)));
}

SessionManager::SessionManager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SessionManager::~SessionManager() = default;

void SessionManager::Release(absl::string_view id) { impl_->Release(id); }

absl::Status SessionManager::ValidateId(absl::string_view id, absl::string_view field) {
  if (!id.empty() && id.size() <= kMaxIdChars && id.front() != '.' &&
      id.find_first_not_of(kIdChars) == absl::string_view::npos) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field,
                   " must be 1 to 128 characters from [A-Za-z0-9._:-], not starting with "
                   "'.'; got \"",
                   absl::CHexEscape(id.substr(0, kMaxIdChars + 1)), "\""));
}

absl::Status SessionManager::ValidateMetadata(const std::map<std::string, std::string>& metadata) {
  if (metadata.size() > kMaxMetadataEntries) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata has ", metadata.size(), " entries; at most 16 are allowed"));
  }
  for (const auto& [key, value] : metadata) {
    if (key.empty() || key.size() > kMaxMetadataKeyBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("metadata keys must be 1 to 256 bytes; got one of ", key.size(), " bytes"));
    }
    if (value.size() > kMaxMetadataValueBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("metadata values must be at most 256 bytes; the one of key \"",
                       absl::CHexEscape(key), "\" has ", value.size()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<rwkv::v1::Session> SessionManager::CreateSession(
    absl::string_view id, std::map<std::string, std::string> metadata) {
  RWKV_RETURN_IF_ERROR(ValidateMetadata(metadata));
  if (!id.empty()) RWKV_RETURN_IF_ERROR(ValidateId(id));
  const std::string new_id = id.empty() ? impl_->RandomId() : std::string(id);
  RWKV_ASSIGN_OR_RETURN(Impl::Hold hold, impl_->Acquire(new_id));
  RWKV_ASSIGN_OR_RETURN(std::optional<Session> existing, impl_->ReadRecord(new_id));
  const double now = impl_->Now();
  if (existing.has_value() && !Impl::Expired(*existing, now)) return SessionExists(new_id);
  Session record = impl_->NewRecord(new_id, now);
  record.mutable_metadata()->insert(metadata.begin(), metadata.end());
  RWKV_RETURN_IF_ERROR(impl_->WriteSession(record, impl_->options.initial_state));
  impl_->Written(new_id, existing.has_value() ? 0 : 1);  // or it replaced an expired one
  impl_->observer.OnSessionEvent(SessionEvent::kCreated);
  return record;
}

absl::StatusOr<rwkv::v1::Session> SessionManager::GetSession(absl::string_view id) {
  RWKV_RETURN_IF_ERROR(ValidateId(id));
  return impl_->LoadRecord(id);
}

absl::StatusOr<SessionManager::Page> SessionManager::ListSessions(int page_size,
                                                                  absl::string_view page_token) {
  if (page_size == 0) page_size = kDefaultPageSize;
  if (page_size < 0 || page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat("page_size must be 0 to 1000, got ", page_size));
  }
  if (!page_token.empty()) {
    if (absl::Status status = ValidateId(page_token, "page_token"); !status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("bad page_token: ", status.message()));
    }
  }
  const double now = impl_->Now();
  Page page;
  std::string cursor = page_token.empty() ? "" : RecordKey(page_token);
  bool more = false;
  while (static_cast<int>(page.sessions.size()) < page_size) {
    // One more than needed, to tell whether anything follows the page.
    const int want = page_size - static_cast<int>(page.sessions.size()) + 1;
    RWKV_ASSIGN_OR_RETURN(std::vector<KeyValue> entries,
                          impl_->store->Scan(kRecordPrefix, cursor, want));
    more = static_cast<int>(entries.size()) == want;
    for (const KeyValue& entry : entries) {
      if (static_cast<int>(page.sessions.size()) == page_size) break;
      cursor = entry.key;
      const absl::string_view id = absl::string_view(entry.key).substr(kRecordPrefix.size());
      RWKV_ASSIGN_OR_RETURN(Session record, ParseRecord(id, entry.value));
      // Expired sessions read as absent; other models' sessions are not this server's to show.
      if (Impl::Expired(record, now) || !impl_->CheckModel(record).ok()) continue;
      page.sessions.push_back(std::move(record));
    }
    if (!more) break;
  }
  if (more && !page.sessions.empty()) page.next_page_token = page.sessions.back().id();
  return page;
}

absl::Status SessionManager::DeleteSession(absl::string_view id) {
  RWKV_RETURN_IF_ERROR(ValidateId(id));
  RWKV_ASSIGN_OR_RETURN(Impl::Hold hold, impl_->Acquire(id));
  absl::StatusOr<std::optional<Session>> record = impl_->ReadRecord(id);
  // A corrupt record can still be deleted: deleting is the way out of it.
  if (!record.ok() && !absl::IsDataLoss(record.status())) return record.status();
  if (record.ok()) {
    if (!record->has_value() || Impl::Expired(**record, impl_->Now())) return SessionNotFound(id);
    RWKV_RETURN_IF_ERROR(impl_->CheckModel(**record));
  }
  RWKV_RETURN_IF_ERROR(impl_->DeleteSession(id));
  impl_->observer.OnSessionEvent(SessionEvent::kDeleted);
  return absl::OkStatus();
}

absl::StatusOr<rwkv::v1::Session> SessionManager::ForkSession(
    absl::string_view source, absl::string_view new_id,
    std::map<std::string, std::string> metadata) {
  RWKV_RETURN_IF_ERROR(ValidateId(source, "source_session_id"));
  if (!new_id.empty()) RWKV_RETURN_IF_ERROR(ValidateId(new_id, "new_session_id"));
  RWKV_RETURN_IF_ERROR(ValidateMetadata(metadata));
  const std::string target = new_id.empty() ? impl_->RandomId() : std::string(new_id);
  if (target == source) return SessionExists(target);
  // Holding the source's mark keeps its record and blob consistent while they are copied.
  RWKV_ASSIGN_OR_RETURN(Impl::Hold source_hold, impl_->Acquire(source));
  RWKV_ASSIGN_OR_RETURN(Impl::Hold target_hold, impl_->Acquire(target));
  RWKV_ASSIGN_OR_RETURN(Session record, impl_->LoadRecord(source));
  std::string blob;
  RWKV_RETURN_IF_ERROR(impl_->LoadBlob(record, &blob).status());
  RWKV_ASSIGN_OR_RETURN(std::optional<Session> existing, impl_->ReadRecord(target));
  const double now = impl_->Now();
  if (existing.has_value() && !Impl::Expired(*existing, now)) return SessionExists(target);
  // The blob holds no ID, so the copy is byte for byte; version and token count carry over.
  record.set_id(target);
  record.set_created_at(now);
  impl_->Touch(now, record);
  if (!metadata.empty()) {
    record.mutable_metadata()->clear();
    record.mutable_metadata()->insert(metadata.begin(), metadata.end());
  }
  RWKV_RETURN_IF_ERROR(impl_->WriteSessionBlob(record, std::move(blob)));
  impl_->Written(target, existing.has_value() ? 0 : 1);
  impl_->observer.OnSessionEvent(SessionEvent::kForked);
  return record;
}

absl::StatusOr<SessionManager::Turn> SessionManager::BeginTurn(absl::string_view id,
                                                               const TurnOptions& options) {
  RWKV_RETURN_IF_ERROR(ValidateId(id));
  RWKV_ASSIGN_OR_RETURN(Impl::Hold hold, impl_->Acquire(id));
  RWKV_ASSIGN_OR_RETURN(std::optional<Session> record, impl_->ReadRecord(id));
  const double now = impl_->Now();
  const bool fresh = !record.has_value() || Impl::Expired(*record, now);
  if (fresh) {
    if (!options.create_if_missing) return SessionNotFound(id);
    // Written only by Commit, and counted then unless it replaces an expired record.
    if (!record.has_value()) {
      absl::MutexLock lock(&impl_->mu);
      impl_->creating.emplace(id);
    }
    record = impl_->NewRecord(id, now);
  } else {
    RWKV_RETURN_IF_ERROR(impl_->CheckModel(*record));
  }
  if (options.expected_version != 0 && options.expected_version != record->version()) {
    return absl::AbortedError(absl::StrCat("session ", id, " is at version ", record->version(),
                                           ", the turn expected version ",
                                           options.expected_version));
  }
  std::vector<float> state;
  if (fresh) {
    state = impl_->options.initial_state;
  } else {
    RWKV_ASSIGN_OR_RETURN(state, impl_->LoadState(*record));
    impl_->observer.OnSessionEvent(SessionEvent::kResumed);
  }
  hold.Dismiss();  // the Turn owns the mark from here
  return Turn(this, *std::move(record), std::move(state), fresh);
}

absl::StatusOr<rwkv::v1::Session> SessionManager::Commit(Turn turn, absl::Span<const float> state,
                                                         int64_t tokens_added) {
  if (turn.owner_ != this) {
    return turn.owner_ == nullptr
               ? absl::FailedPreconditionError("the turn was already committed or aborted")
               : absl::InvalidArgumentError("the turn belongs to another SessionManager");
  }
  const std::string& id = turn.session_.id();
  if (static_cast<int64_t>(state.size()) != impl_->state_floats()) {
    return absl::InvalidArgumentError(absl::StrCat("state for session ", id, " has ", state.size(),
                                                   " floats; the model's state has ",
                                                   impl_->state_floats()));
  }
  if (tokens_added < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokens_added must not be negative, got ", tokens_added));
  }
  Session next = turn.session_;
  next.set_version(next.version() + 1);
  next.set_token_count(next.token_count() + tokens_added);
  impl_->Touch(impl_->Now(), next);
  StateCache::State cached = impl_->CacheableCopy(state);
  if (absl::Status status = impl_->WriteSession(next, state); !status.ok()) {
    // The store stays at version n; the cache is dropped anyway in case the write half-landed.
    impl_->Written(id, 0);
    return status;  // ~Turn releases the mark
  }
  {
    absl::MutexLock lock(&impl_->mu);
    if (cached != nullptr) impl_->cache.Insert(next, std::move(cached));
    if (impl_->creating.erase(id) > 0) ++impl_->live_sessions;
    impl_->in_flight.erase(id);
  }
  turn.owner_ = nullptr;
  if (turn.creates_) impl_->observer.OnSessionEvent(SessionEvent::kCreated);
  return next;
}

void SessionManager::Abort(Turn turn) {
  // Nothing was written, and a cached state is still version n: destroying `turn` releases it.
}

absl::StatusOr<int> SessionManager::SweepExpired() {
  if (impl_->options.ttl <= absl::ZeroDuration()) return 0;
  const double now = impl_->Now();
  int swept = 0;
  std::string cursor;
  for (;;) {
    RWKV_ASSIGN_OR_RETURN(std::vector<KeyValue> entries,
                          impl_->store->Scan(kRecordPrefix, cursor, kScanChunk));
    for (const KeyValue& entry : entries) {
      cursor = entry.key;
      const absl::string_view id = absl::string_view(entry.key).substr(kRecordPrefix.size());
      absl::StatusOr<Session> record = ParseRecord(id, entry.value);
      // Corrupt records are left for an explicit DeleteSession.
      if (!record.ok() || !Impl::Expired(*record, now)) continue;
      RWKV_ASSIGN_OR_RETURN(bool deleted, impl_->DeleteIfExpired(id, now));
      if (!deleted) continue;
      ++swept;
      impl_->observer.OnSessionEvent(SessionEvent::kExpired);
    }
    if (static_cast<int>(entries.size()) < kScanChunk) break;
  }
  return swept;
}

absl::Status SessionManager::Flush() { return impl_->store->Flush(); }

SessionManager::CacheStats SessionManager::cache_stats() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->cache.stats();
}

int64_t SessionManager::live_sessions() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->live_sessions;
}

const std::string& SessionManager::backend() const { return impl_->backend; }

}  // namespace rwkv::server
