#include "server/store/rocksdb_hooks.h"

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <system_error>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace rwkv::server {

RocksDbInfoLog::RocksDbInfoLog(const std::string& path) {
  std::error_code ignored;
  if (std::filesystem::exists(path, ignored)) {
    std::filesystem::rename(path, path + ".old", ignored);
  }
  absl::MutexLock lock(&mu_);
  file_ = std::fopen(path.c_str(), "a");
}

RocksDbInfoLog::~RocksDbInfoLog() {
  absl::MutexLock lock(&mu_);
  if (file_ != nullptr) std::fclose(file_);
}

void RocksDbInfoLog::Logv(const char* format, va_list ap) {
  char line[1024];
  const std::string time = absl::FormatTime("%Y/%m/%d-%H:%M:%E6S ", absl::Now(),
                                            absl::LocalTimeZone());
  const int n = std::vsnprintf(line, sizeof(line), format, ap);
  if (n < 0) return;
  absl::MutexLock lock(&mu_);
  if (file_ == nullptr) return;
  std::fputs(time.c_str(), file_);
  std::fputs(line, file_);
  std::fputc('\n', file_);
  std::fflush(file_);
  // A full disk fails these; the line is lost and the next one tries again.
  std::clearerr(file_);
}

bool RocksDbErrorListener::stopped() const {
  absl::MutexLock lock(&mu_);
  return stopped_;
}

void RocksDbErrorListener::Clear() {
  absl::MutexLock lock(&mu_);
  stopped_ = false;
}

void RocksDbErrorListener::OnBackgroundError(rocksdb::BackgroundErrorReason /*reason*/,
                                             rocksdb::Status* error) {
  if (error == nullptr || error->ok()) return;
  absl::MutexLock lock(&mu_);
  stopped_ = true;
}

void RocksDbErrorListener::OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason /*reason*/,
                                                rocksdb::Status error, bool* auto_recovery) {
  error.PermitUncheckedError();
  *auto_recovery = false;  // RocksDbStateStore::Resume reopens instead (see the header)
}

}  // namespace rwkv::server
