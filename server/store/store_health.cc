#include "server/store/store_health.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace rwkv::server {
namespace {

// The probe's key; crashes between its write and its delete leave at most this one key. On a
// store shared by replicas each process probes a key of its own (another replica's probe would
// overwrite or delete it between the write and the read back), which expires by itself
// (Redis) so that crashed replicas leave nothing behind for long.
std::string ProbeKey(const StateStore& store) {
  if (!store.Shared()) return absl::StrCat(kHealthKeyPrefix, "write-probe");
  absl::BitGen random;
  return absl::StrFormat("%swrite-probe/%016x", kHealthKeyPrefix, absl::Uniform<uint64_t>(random));
}
constexpr absl::Duration kSharedProbeExpiry = absl::Hours(1);

bool IsWrite(StoreOp op) {
  return op == StoreOp::kPut || op == StoreOp::kDelete || op == StoreOp::kFlush;
}

}  // namespace

bool IsStoreFault(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kOutOfRange:
      return false;
    default:
      return true;
  }
}

StoreHealth::StoreHealth(StateStore* store, Options options)
    : store_(store), options_(std::move(options)), probe_key_(ProbeKey(*store)) {
  absl::MutexLock lock(&mu_);
  last_probe_ = options_.clock->Now();
}

StoreHealth::~StoreHealth() { Stop(); }

void StoreHealth::Start() {
  if (options_.probe_interval <= absl::ZeroDuration() || thread_.joinable()) return;
  thread_ = std::thread([this] { ProbeLoop(); });
}

void StoreHealth::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void StoreHealth::ProbeLoop() {
  // Waiting is on the real clock; whether a probe is due is the injected clock's to say.
  const absl::Duration tick =
      std::clamp(options_.probe_interval / 4, absl::Milliseconds(1), absl::Milliseconds(250));
  while (!stop_.WaitForNotificationWithTimeout(tick)) ProbeIfDue();
}

bool StoreHealth::healthy() const {
  absl::MutexLock lock(&mu_);
  return healthy_;
}

absl::Status StoreHealth::Check() const {
  absl::MutexLock lock(&mu_);
  if (healthy_) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("the state store is failing: ", last_error_.message(),
                                             "; new session turns are refused until it recovers"));
}

bool StoreHealth::ProbeIfDue() {
  {
    absl::MutexLock lock(&mu_);
    if (options_.clock->Now() - last_probe_ < options_.probe_interval) return false;
  }
  Probe().IgnoreError();  // applied to the health; the thread has nobody to tell
  return true;
}

absl::Status StoreHealth::Probe() {
  absl::MutexLock probe_lock(&probe_mu_);
  absl::Status status = RunProbe();
  absl::MutexLock lock(&mu_);
  last_probe_ = options_.clock->Now();
  if (options_.observer != nullptr) options_.observer->OnProbe(status);
  if (status.ok()) {
    read_faults_ = 0;
    write_faults_ = 0;
    if (!healthy_) MarkHealthy();
  } else {
    MarkFailing(status);
  }
  return status;
}

absl::Status StoreHealth::RunProbe() {
  const std::string& key = probe_key_;
  std::string value;
  {
    absl::MutexLock lock(&mu_);
    value = absl::StrCat("probe ", ++probes_, " at ", absl::FormatTime(options_.clock->Now()));
  }
  WriteBatch put;
  // Expiry is the store's wall time (Redis's), not the injected clock's.
  put.Put(key, value,
          store_->Shared() ? absl::Now() + kSharedProbeExpiry : absl::InfiniteFuture());
  if (absl::Status written = store_->Write(put); !written.ok()) {
    // A store that stopped after a failed write needs telling to try again (RocksDB reopens);
    // while the disk still fails, the write's error says why better than the resume's.
    if (!store_->Resume().ok()) return written;
    if (written = store_->Write(put); !written.ok()) return written;
  }
  absl::StatusOr<std::string> read = store_->Get(key);
  if (!read.ok()) return read.status();
  if (*read != value) {
    return absl::DataLossError(absl::StrCat("the store's probe key ", key,
                                            " read back other bytes than were written"));
  }
  WriteBatch erase;
  erase.Delete(key);
  return store_->Write(erase);
}

void StoreHealth::OnStoreOp(StoreOp op, absl::Duration /*latency*/, const absl::Status& status) {
  if (options_.probe_interval <= absl::ZeroDuration()) return;
  absl::MutexLock lock(&mu_);
  int& faults = op == StoreOp::kLease ? lease_faults_
                : IsWrite(op)          ? write_faults_
                                       : read_faults_;
  if (!IsStoreFault(status)) {
    faults = 0;
    return;
  }
  ++faults;
  if (!healthy_ || faults >= std::max(1, options_.error_streak)) MarkFailing(status);
}

void StoreHealth::MarkFailing(const absl::Status& error) {
  last_error_ = error;  // the newest, whether or not the health changes
  if (!healthy_) return;
  healthy_ = false;
  if (options_.observer != nullptr) options_.observer->OnHealthChanged(false);
  if (options_.on_change) options_.on_change(false, error);
}

void StoreHealth::MarkHealthy() {
  healthy_ = true;
  last_error_ = absl::OkStatus();
  if (options_.observer != nullptr) options_.observer->OnHealthChanged(true);
  if (options_.on_change) options_.on_change(true, absl::OkStatus());
}

}  // namespace rwkv::server
