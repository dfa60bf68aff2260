#include "server/store/rocksdb_state_store.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "rocksdb/db.h"
#include "rocksdb/iterator.h"
#include "rocksdb/options.h"
#include "rocksdb/statistics.h"
#include "rocksdb/write_batch.h"
#include "server/store/rocksdb_hooks.h"

namespace rwkv::server {
namespace {

rocksdb::Slice ToSlice(absl::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
absl::string_view ToView(const rocksdb::Slice& s) { return absl::string_view(s.data(), s.size()); }

// Converts a RocksDB status; `what` names the operation and its key or path.
absl::Status ToAbslStatus(const rocksdb::Status& status, absl::string_view what) {
  const std::string message = absl::StrCat("rocksdb state store: ", what, ": ", status.ToString());
  if (status.IsNotFound()) return absl::NotFoundError(message);
  if (status.IsCorruption()) return absl::DataLossError(message);
  if (status.IsIOError() || status.IsBusy() || status.IsTryAgain() || status.IsTimedOut()) {
    return absl::UnavailableError(message);
  }
  if (status.IsInvalidArgument()) return absl::InvalidArgumentError(message);
  return absl::InternalError(message);
}

std::string KeyLabel(absl::string_view key) {
  return absl::StrCat("key \"", absl::CHexEscape(key), "\"");
}

// RocksDB reports a held LOCK file (by this or another process) as an IOError mentioning it.
bool IsLockError(const rocksdb::Status& status) {
  return status.IsIOError() && absl::StrContains(absl::AsciiStrToLower(status.ToString()), "lock");
}

rocksdb::Options DatabaseOptions(const std::string& path,
                                 std::shared_ptr<RocksDbErrorListener> errors) {
  rocksdb::Options options;
  options.create_if_missing = true;
  // Tickers only (kExceptTimers' cost is a few atomic adds per write): SyncedWalWrites reads one.
  options.statistics = rocksdb::CreateDBStatistics();
  options.statistics->set_stats_level(rocksdb::StatsLevel::kExceptTimers);
  // States are float arrays that do not compress; compressing them would only cost CPU.
  options.compression = rocksdb::kNoCompression;
  // A full disk must not end the process, and recovery is Resume's (rocksdb_hooks.h).
  options.info_log = std::make_shared<RocksDbInfoLog>(path + "/LOG");
  options.listeners.push_back(std::move(errors));
  options.max_bgerror_resume_count = 0;
  return options;
}

absl::StatusOr<std::unique_ptr<rocksdb::DB>> OpenDatabase(const rocksdb::Options& options,
                                                          const std::string& path) {
  rocksdb::DB* db = nullptr;
  const rocksdb::Status status = rocksdb::DB::Open(options, path, &db);
  if (IsLockError(status)) {
    return absl::UnavailableError(
        absl::StrCat("rocksdb state store at ", path,
                     " is in use by another process or server instance: ", status.ToString()));
  }
  if (!status.ok()) return ToAbslStatus(status, absl::StrCat("open ", path));
  return std::unique_ptr<rocksdb::DB>(db);
}

}  // namespace

absl::StatusOr<std::unique_ptr<RocksDbStateStore>> RocksDbStateStore::Create(
    const Options& options) {
  if (options.path.empty()) {
    return absl::InvalidArgumentError("rocksdb state store: the path is empty");
  }
  std::error_code error;
  std::filesystem::create_directories(options.path, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat("rocksdb state store: cannot create directory ",
                                               options.path, ": ", error.message()));
  }
  auto errors = std::make_shared<RocksDbErrorListener>();
  auto db_options =
      std::make_unique<const rocksdb::Options>(DatabaseOptions(options.path, errors));
  RWKV_ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::DB> db, OpenDatabase(*db_options, options.path));
  return std::unique_ptr<RocksDbStateStore>(
      new RocksDbStateStore(options, std::move(db_options), std::move(errors), std::move(db)));
}

RocksDbStateStore::RocksDbStateStore(const Options& options,
                                     std::unique_ptr<const rocksdb::Options> db_options,
                                     std::shared_ptr<RocksDbErrorListener> errors,
                                     std::unique_ptr<rocksdb::DB> db)
    : LocallyLeasedStore(&Clock::Real()),
      path_(options.path),
      sync_writes_(options.sync_writes),
      db_options_(std::move(db_options)),
      errors_(std::move(errors)),
      db_(std::move(db)) {}

RocksDbStateStore::~RocksDbStateStore() {
  absl::MutexLock lock(&mu_);
  // Close() releases the LOCK file and waits for background work; its status has no reader here,
  // and every acknowledged write is already in the WAL.
  if (db_ != nullptr) db_->Close().PermitUncheckedError();
}

absl::Status RocksDbStateStore::Unusable() const {
  return absl::UnavailableError(absl::StrCat(
      "rocksdb state store at ", path_, db_ == nullptr ? " is closed" : " is read-only",
      " after a failure (it reopens once the disk works again): ", reopen_error_.message()));
}

absl::Status RocksDbStateStore::Resume() {
  absl::MutexLock lock(&mu_);
  if (db_ != nullptr && !read_only_ && !errors_->stopped()) return absl::OkStatus();
  // Closing loses nothing acknowledged: that is in the WAL, which the reopen replays (up to the
  // write that failed), and the reopen starts a new WAL, which RocksDB's own resume would not.
  if (db_ != nullptr) {
    db_->Close().PermitUncheckedError();
    db_.reset();
  }
  errors_->Clear();
  absl::StatusOr<std::unique_ptr<rocksdb::DB>> db = OpenDatabase(*db_options_, path_);
  if (db.ok()) {
    db_ = *std::move(db);
    read_only_ = false;
    return absl::OkStatus();
  }
  reopen_error_ = db.status();
  // Read-only needs no space and no lock, so reads go on until a reopen works.
  rocksdb::DB* read_only = nullptr;
  if (rocksdb::DB::OpenForReadOnly(*db_options_, path_, &read_only).ok()) {
    db_.reset(read_only);
    read_only_ = true;
  }
  return Unusable();
}

absl::StatusOr<std::string> RocksDbStateStore::Get(absl::string_view key) {
  absl::ReaderMutexLock lock(&mu_);
  if (db_ == nullptr) return Unusable();
  std::string value;
  const rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), ToSlice(key), &value);
  if (!status.ok()) return ToAbslStatus(status, absl::StrCat("get ", KeyLabel(key)));
  return value;
}

absl::Status RocksDbStateStore::Write(const WriteBatch& batch) {
  rocksdb::WriteBatch rocks_batch;
  for (const WriteBatch::Op& op : batch.ops()) {
    const rocksdb::Status status = op.is_delete
                                       ? rocks_batch.Delete(ToSlice(op.key))
                                       : rocks_batch.Put(ToSlice(op.key), ToSlice(op.value));
    if (!status.ok()) return ToAbslStatus(status, absl::StrCat("batch ", KeyLabel(op.key)));
  }
  // Unsynced, the batch reaches the WAL file (the OS page cache) before Write returns, which
  // survives a process crash; synced, the WAL is also fsynced, which survives a power loss.
  rocksdb::WriteOptions write_options;
  write_options.sync = sync_writes_;
  absl::MutexLock write_lock(&write_mu_);
  absl::ReaderMutexLock lock(&mu_);
  if (db_ == nullptr || read_only_) return Unusable();
  if (batch.conditional()) {
    if (absl::Status fences = leases().CheckFences(batch, Backend()); !fences.ok()) return fences;
    absl::Status keys = CheckKeyConditions(
        batch, Backend(),
        [&](absl::string_view key) ABSL_SHARED_LOCKS_REQUIRED(mu_)
            -> absl::StatusOr<std::optional<std::string>> {
          std::string value;
          const rocksdb::Status read = db_->Get(rocksdb::ReadOptions(), ToSlice(key), &value);
          if (read.IsNotFound()) return std::nullopt;
          if (!read.ok()) return ToAbslStatus(read, absl::StrCat("get ", KeyLabel(key)));
          return value;
        });
    if (!keys.ok()) return keys;
  }
  const rocksdb::Status status = db_->Write(write_options, &rocks_batch);
  if (!status.ok()) {
    return ToAbslStatus(status, absl::StrCat("write of ", batch.ops().size(), " ops to ", path_));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<KeyValue>> RocksDbStateStore::Scan(absl::string_view prefix,
                                                              absl::string_view start_after,
                                                              int limit) {
  if (limit <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("rocksdb state store: scan limit must be positive, got ", limit));
  }
  absl::ReaderMutexLock lock(&mu_);
  if (db_ == nullptr) return Unusable();
  std::vector<KeyValue> result;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(ToSlice(std::max(prefix, start_after)));
       it->Valid() && static_cast<int>(result.size()) < limit; it->Next()) {
    const absl::string_view key = ToView(it->key());
    if (!absl::StartsWith(key, prefix)) break;
    if (key == start_after) continue;
    result.push_back({std::string(key), std::string(ToView(it->value()))});
  }
  if (!it->status().ok()) {
    return ToAbslStatus(it->status(), absl::StrCat("scan of prefix ", KeyLabel(prefix)));
  }
  return result;
}

int64_t RocksDbStateStore::SyncedWalWrites() const {
  return static_cast<int64_t>(
      db_options_->statistics->getTickerCount(rocksdb::WAL_FILE_SYNCED));
}

absl::Status RocksDbStateStore::Flush() {
  // A synced empty batch, not FlushWAL: a stopped database refuses a write before it touches
  // the WAL, while FlushWAL would write through the failed WAL writer, which aborts.
  rocksdb::WriteBatch empty;
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  absl::ReaderMutexLock lock(&mu_);
  if (db_ == nullptr || read_only_) return Unusable();
  const rocksdb::Status status = db_->Write(write_options, &empty);
  if (!status.ok()) return ToAbslStatus(status, absl::StrCat("sync of the WAL in ", path_));
  return absl::OkStatus();
}

}  // namespace rwkv::server
