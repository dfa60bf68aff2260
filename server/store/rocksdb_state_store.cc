#include "server/store/rocksdb_state_store.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"
#include "rocksdb/iterator.h"
#include "rocksdb/options.h"
#include "rocksdb/statistics.h"
#include "rocksdb/write_batch.h"

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

rocksdb::Options DatabaseOptions(std::shared_ptr<rocksdb::Statistics> statistics) {
  rocksdb::Options options;
  options.create_if_missing = true;
  // Tickers only (kExceptTimers' cost is a few atomic adds per write): SyncedWalWrites reads one.
  statistics->set_stats_level(rocksdb::StatsLevel::kExceptTimers);
  options.statistics = std::move(statistics);
  // States are float arrays that do not compress; compressing them would only cost CPU.
  options.compression = rocksdb::kNoCompression;
  return options;
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
  std::shared_ptr<rocksdb::Statistics> statistics = rocksdb::CreateDBStatistics();
  rocksdb::DB* db = nullptr;
  const rocksdb::Status status = rocksdb::DB::Open(DatabaseOptions(statistics), options.path, &db);
  if (IsLockError(status)) {
    return absl::UnavailableError(
        absl::StrCat("rocksdb state store at ", options.path,
                     " is in use by another process or server instance: ", status.ToString()));
  }
  if (!status.ok()) return ToAbslStatus(status, absl::StrCat("open ", options.path));
  return std::unique_ptr<RocksDbStateStore>(new RocksDbStateStore(
      options, std::move(statistics), std::unique_ptr<rocksdb::DB>(db)));
}

RocksDbStateStore::RocksDbStateStore(const Options& options,
                                     std::shared_ptr<rocksdb::Statistics> statistics,
                                     std::unique_ptr<rocksdb::DB> db)
    : path_(options.path),
      sync_writes_(options.sync_writes),
      statistics_(std::move(statistics)),
      db_(std::move(db)) {}

RocksDbStateStore::~RocksDbStateStore() {
  // Close() releases the LOCK file and waits for background work; its status has no reader here,
  // and every acknowledged write is already in the WAL.
  db_->Close().PermitUncheckedError();
}

absl::StatusOr<std::string> RocksDbStateStore::Get(absl::string_view key) {
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
  return static_cast<int64_t>(statistics_->getTickerCount(rocksdb::WAL_FILE_SYNCED));
}

absl::Status RocksDbStateStore::Flush() {
  const rocksdb::Status status = db_->FlushWAL(/*sync=*/true);
  if (!status.ok()) return ToAbslStatus(status, absl::StrCat("sync of the WAL in ", path_));
  return absl::OkStatus();
}

}  // namespace rwkv::server
