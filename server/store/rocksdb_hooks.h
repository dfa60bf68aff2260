// What RocksDbStateStore plugs into RocksDB so that a failing disk is survivable: an info log
// that cannot bring the process down, and a listener that records background errors and leaves
// the recovery from them to the store.
//
//   auto errors = std::make_shared<RocksDbErrorListener>();
//   options.listeners.push_back(errors);
//   options.info_log = std::make_shared<RocksDbInfoLog>(path + "/LOG");
//   ...
//   if (errors->stopped()) { /* reopen the database */ }
//
// Why (RocksDB 7.8, as Debian ships it, with assertions on):
// - RocksDB's own info log writes through a file writer that aborts the process (an assert) on
//   the next line after a failed write, so the first log line after ENOSPC kills the server.
//   RocksDbInfoLog writes with stdio and ignores failures: lines are lost, never the process.
// - After a failed WAL write the database stops taking writes. Its automatic recovery waits
//   for a full write buffer (64 MB) of free space, keeps DB::Resume() busy meanwhile, and when
//   the memtable is empty it resumes onto the same broken WAL writer, whose next write aborts
//   the process too. So the listener turns the automatic recovery off, and the store recovers
//   by closing and reopening the database (RocksDbStateStore::Resume), which starts a new WAL.
//
// Thread-safe.
#ifndef RWKV_SERVER_STORE_ROCKSDB_HOOKS_H_
#define RWKV_SERVER_STORE_ROCKSDB_HOOKS_H_

#include <cstdarg>
#include <cstdio>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/env.h"
#include "rocksdb/listener.h"

namespace rwkv::server {

// The database's LOG file, written with stdio; a write that fails is dropped. The previous LOG
// is kept as LOG.old.
class RocksDbInfoLog final : public rocksdb::Logger {
 public:
  explicit RocksDbInfoLog(const std::string& path);
  ~RocksDbInfoLog() override;

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override;

 private:
  absl::Mutex mu_;
  FILE* file_ ABSL_GUARDED_BY(mu_) = nullptr;  // null when it could not be opened
};

// Records that a background error stopped the database, and disables RocksDB's own recovery.
class RocksDbErrorListener final : public rocksdb::EventListener {
 public:
  // Since the last Clear, whether a background error was reported.
  bool stopped() const;
  void Clear();

  void OnBackgroundError(rocksdb::BackgroundErrorReason reason,
                         rocksdb::Status* error) override;
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason reason, rocksdb::Status error,
                            bool* auto_recovery) override;

 private:
  mutable absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_STORE_ROCKSDB_HOOKS_H_
