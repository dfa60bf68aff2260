// StoreHealth: whether the state store works while the server runs, so that a full disk or a
// read-only database refuses new session work at once instead of letting every turn generate to
// the end and fail at its commit.
//
//   StoreHealth::Options options;
//   options.on_change = [&](bool healthy, const absl::Status& error) { /* readiness, log */ };
//   StoreHealth health(store.get(), options);   // probes `store`; must outlive `health`
//   store = std::make_unique<InstrumentedStateStore>(std::move(store), &health);  // sees every op
//   health.Start();                              // the probe thread
//   RWKV_RETURN_IF_ERROR(health.Check());        // UNAVAILABLE while the store fails
//
// Two signals:
// - Every operation the server makes (as a StoreObserver): `error_streak` consecutive store
//   faults among reads (get, list), or among writes (put, delete, flush), mark it failing. Reads
//   and writes count apart, as a full disk fails every write while reads go on. A fault is an
//   error of the store itself; answers (NOT_FOUND, INVALID_ARGUMENT, ...) are not (IsStoreFault).
// - A probe every `probe_interval`: it writes a key of its own (kHealthKeyPrefix, never a
//   session's; on a Shared() store one per process, expiring after an hour, so that replicas'
//   probes never meet), reads it back and deletes it. A write that fails asks the store to Resume (RocksDB
//   reopens) and tries once more. A failed probe marks the store failing; a probe that succeeds
//   is the only way back to healthy (operations that succeed while failing do not end it, since
//   reads succeed on a full disk).
//
// Time is read from `clock`: a probe is due once `probe_interval` has passed on it since the
// last. The probe thread checks every tick of the real clock (at most a quarter of a second),
// so a FakeClock that never moves never lets it probe.
//
// Thread-safe. `on_change` and the observer are called with the health lock held, in the
// order of the changes; they must not call back into this object.
#ifndef RWKV_SERVER_STORE_STORE_HEALTH_H_
#define RWKV_SERVER_STORE_STORE_HEALTH_H_

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "server/store/instrumented_state_store.h"
#include "server/store/state_store.h"

namespace rwkv::server {

// Whether `status` says the store itself failed (I/O, corruption, unavailable, internal), as
// opposed to an answer about the data or the request (not found, invalid argument, ...).
bool IsStoreFault(const absl::Status& status);

// Hears the probes and the health of one store (metrics).
class StoreHealthObserver {
 public:
  virtual ~StoreHealthObserver() = default;
  virtual void OnProbe(const absl::Status& status) = 0;
  virtual void OnHealthChanged(bool healthy) = 0;
};

class StoreHealth final : public StoreObserver {
 public:
  struct Options {
    int error_streak = 3;                               // >= 1
    // Zero: monitoring off (no probe thread, and no error streak, since nothing could end the
    // failure it starts); Probe() still works when called.
    absl::Duration probe_interval = absl::Seconds(5);
    const Clock* clock = &Clock::Real();                // must outlive this
    StoreHealthObserver* observer = nullptr;            // optional; must outlive this
    // A change of health, with the error that made it fail (OK when healthy again). Optional.
    std::function<void(bool healthy, const absl::Status& error)> on_change;
  };

  // `store` is what the probe writes to; not owned, it must outlive this object.
  StoreHealth(StateStore* store, Options options);
  ~StoreHealth() override;  // stops the probe thread
  StoreHealth(const StoreHealth&) = delete;
  StoreHealth& operator=(const StoreHealth&) = delete;

  // Starts the probe thread (nothing without a probe interval); Stop ends it. Once each.
  void Start();
  void Stop();

  bool healthy() const;
  // OK while healthy, else UNAVAILABLE "the state store is failing: <last error>; new session
  // turns are refused until it recovers".
  absl::Status Check() const;

  // One probe now, whatever the clock says; its outcome (also applied to the health).
  absl::Status Probe();
  // Probes if `probe_interval` has passed on the clock since the last probe (or the start);
  // whether it probed. The probe thread's work.
  bool ProbeIfDue();

  // StoreObserver: the outcome of one operation of the server's.
  void OnStoreOp(StoreOp op, absl::Duration latency, const absl::Status& status) override;

 private:
  // Write, read back, delete; the first failure.
  absl::Status RunProbe();
  void MarkFailing(const absl::Status& error) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkHealthy() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ProbeLoop();

  StateStore* const store_;
  const Options options_;
  const std::string probe_key_;

  mutable absl::Mutex mu_;
  bool healthy_ ABSL_GUARDED_BY(mu_) = true;
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
  int read_faults_ ABSL_GUARDED_BY(mu_) = 0;   // consecutive
  int write_faults_ ABSL_GUARDED_BY(mu_) = 0;  // consecutive
  // Leases apart from writes: an embedded store grants them in memory, and those successes must
  // not hide a streak of failed writes.
  int lease_faults_ ABSL_GUARDED_BY(mu_) = 0;  // consecutive
  absl::Time last_probe_ ABSL_GUARDED_BY(mu_);
  uint64_t probes_ ABSL_GUARDED_BY(mu_) = 0;  // makes each probe's value unique

  // One probe at a time (the thread's and a caller's).
  absl::Mutex probe_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_STORE_STORE_HEALTH_H_
