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
// A full or failing disk: a write that fails stops the database (RocksDB refuses every write
// after it, reads go on). Resume() brings it back once the disk works again, by closing and
// reopening the database (rocksdb_hooks.h says why not RocksDB's own recovery). When that
// reopen fails, the database is opened read-only meanwhile, so reads still work and writes are
// UNAVAILABLE naming the reopen's error; when even that fails, everything is UNAVAILABLE.
//
// Keys never expire (WriteBatch::Op::expires_at is ignored); leases are LocalLeases, since one
// process holds the directory. Writes are serialised, for their conditions' sake.
//
// Thread-safe: every method may be called from any thread.
#ifndef RWKV_SERVER_STORE_ROCKSDB_STATE_STORE_H_
#define RWKV_SERVER_STORE_ROCKSDB_STATE_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/store/local_leases.h"
#include "server/store/state_store.h"

namespace rocksdb {
class DB;
struct Options;
}  // namespace rocksdb

namespace rwkv::server {

class RocksDbErrorListener;

class RocksDbStateStore : public LocallyLeasedStore {
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
  // After a background error (a write failed, e.g. ENOSPC): closes and reopens the database, so
  // that it takes writes again; the reopen's error while the disk still fails. OK at once when
  // no background error happened since the last (re)open.
  absl::Status Resume() override;

  // How many times the write-ahead log has been fsynced since Create (RocksDB's WAL_FILE_SYNCED
  // ticker): what tests check sync_writes by.
  int64_t SyncedWalWrites() const;

 private:
  RocksDbStateStore(const Options& options, std::unique_ptr<const rocksdb::Options> db_options,
                    std::shared_ptr<RocksDbErrorListener> errors, std::unique_ptr<rocksdb::DB> db);
  // Why the database cannot serve a read (closed) or a write (closed or read-only).
  absl::Status Unusable() const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const std::string path_;
  const bool sync_writes_;
  // The open options (statistics, listener and info log included), kept for reopening.
  const std::unique_ptr<const rocksdb::Options> db_options_;
  const std::shared_ptr<RocksDbErrorListener> errors_;  // also in db_options_->listeners
  // Held across a write's condition checks and the write itself, so that no other write lands
  // in between (RocksDB has no compare-and-set of its own outside transactions). Taken before mu_.
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // Readers share it for each operation; Resume takes it alone to swap the database.
  mutable absl::Mutex mu_;
  std::unique_ptr<rocksdb::DB> db_ ABSL_GUARDED_BY(mu_);  // null after a failed reopen
  bool read_only_ ABSL_GUARDED_BY(mu_) = false;         // after a failed reopen, until one works
  absl::Status reopen_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_STORE_ROCKSDB_STATE_STORE_H_
