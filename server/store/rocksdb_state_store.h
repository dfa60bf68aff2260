// RocksDbStateStore: the "rocksdb:PATH" StateStore, an embedded RocksDB database in a directory.
//
//   RocksDbStateStore::Options options;
//   options.path = "/var/lib/rwkv/state";
//   RWKV_ASSIGN_OR_RETURN(std::unique_ptr<RocksDbStateStore> store,
//                         RocksDbStateStore::Create(options));
//
// Crash-safe: every Write goes through the write-ahead log before it returns, so it survives a
// SIGKILL of the process. With sync_writes (the default) Write also fsyncs the log before it
// returns, so that an acknowledged write survives a power loss or kernel crash; without it, only
// Flush() fsyncs. Only one instance (in any process) may hold a directory: a second Create on it
// fails with UNAVAILABLE saying that the store is in use.
//
// Thread-safe: every method may be called from any thread.
#ifndef RWKV_SERVER_STORE_ROCKSDB_STATE_STORE_H_
#define RWKV_SERVER_STORE_ROCKSDB_STATE_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/store/state_store.h"

namespace rocksdb {
class DB;
class Statistics;
}  // namespace rocksdb

namespace rwkv::server {

class RocksDbStateStore : public StateStore {
 public:
  struct Options {
    // The database directory; it and its parents are created if missing.
    std::string path;
    // fsync the write-ahead log in every Write (rocksdb::WriteOptions::sync).
    bool sync_writes = true;
  };

  // INVALID_ARGUMENT for an empty path, UNAVAILABLE when the directory cannot be created or is
  // in use, DATA_LOSS for a corrupt database.
  static absl::StatusOr<std::unique_ptr<RocksDbStateStore>> Create(const Options& options);
  ~RocksDbStateStore() override;

  absl::string_view Backend() const override { return "rocksdb"; }
  absl::StatusOr<std::string> Get(absl::string_view key) override;
  absl::Status Write(const WriteBatch& batch) override;
  absl::StatusOr<std::vector<KeyValue>> Scan(absl::string_view prefix,
                                             absl::string_view start_after, int limit) override;
  absl::Status Flush() override;

  // How many times the write-ahead log has been fsynced since Create (RocksDB's WAL_FILE_SYNCED
  // ticker): what tests check sync_writes by.
  int64_t SyncedWalWrites() const;

 private:
  RocksDbStateStore(const Options& options, std::shared_ptr<rocksdb::Statistics> statistics,
                    std::unique_ptr<rocksdb::DB> db);

  const std::string path_;
  const bool sync_writes_;
  const std::shared_ptr<rocksdb::Statistics> statistics_;
  const std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_STORE_ROCKSDB_STATE_STORE_H_
