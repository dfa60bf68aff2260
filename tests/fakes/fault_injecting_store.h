// FaultInjectingStore: a StateStore over another that fails chosen operations on demand, for
// tests of what the server does when its store does.
//
//   std::shared_ptr<StateStore> real = OpenStateStore("memory:").value();
//   FaultInjectingStore faults(real);
//   auto manager = SessionManager::Create(faults.Share(), options);  // it owns one handle
//   faults.FailNext(StoreOp::kWrite, 1);                              // the next write fails
//   faults.FailAll(StoreOp::kGet, absl::DataLossError("bad sector")); // every Get, until
//   faults.Clear(StoreOp::kGet);
//
// Get, Write, Scan, Flush, Resume and the lease calls (one op for all three) fail independently. A failed call never reaches the inner store
// (a failed Write applies nothing). "Next N" faults are used up before an "all" fault applies.
// Handles made by Share() share the inner store, the faults and the counts, so the test keeps
// one while the code under test owns another; the inner store is shared, so the test can read it
// directly, or hand it to the next manager.
//
// Thread-safe.
#ifndef RWKV_TESTS_FAKES_FAULT_INJECTING_STORE_H_
#define RWKV_TESTS_FAKES_FAULT_INJECTING_STORE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/store/state_store.h"

namespace rwkv::testing {

enum class StoreOp { kGet, kWrite, kScan, kFlush, kResume, kLease };

class FaultInjectingStore final : public server::StateStore {
 public:
  explicit FaultInjectingStore(std::shared_ptr<server::StateStore> inner);

  // Another handle on the same inner store and faults.
  std::unique_ptr<FaultInjectingStore> Share() const;

  // The next `count` calls of `op` fail with `status` (default: UNAVAILABLE "injected <op>
  // failure"); later calls pass again. Replaces an earlier FailNext of `op`.
  void FailNext(StoreOp op, int count, std::optional<absl::Status> status = std::nullopt);
  // Every call of `op` fails with `status` until Clear(op).
  void FailAll(StoreOp op, std::optional<absl::Status> status = std::nullopt);
  void Clear(StoreOp op);
  void ClearAll();

  // Calls of `op` so far through every handle, and how many of them were failed.
  int64_t calls(StoreOp op) const;
  int64_t failures(StoreOp op) const;
  // Entries returned by Scan so far through every handle: how much a scan read.
  int64_t scanned_entries() const;

  absl::string_view Backend() const override;
  absl::StatusOr<std::string> Get(absl::string_view key) override;
  absl::Status Write(const server::WriteBatch& batch) override;
  absl::StatusOr<std::vector<server::KeyValue>> Scan(absl::string_view prefix,
                                                     absl::string_view start_after,
                                                     int limit) override;
  absl::StatusOr<int64_t> Count(absl::string_view prefix) override;  // a kScan
  absl::Status Flush() override;
  absl::Status Resume() override;
  absl::StatusOr<int64_t> AcquireLease(absl::string_view name, absl::string_view owner,
                                       absl::Duration ttl) override;
  absl::Status RenewLease(absl::string_view name, int64_t fence, absl::Duration ttl) override;
  absl::Status ReleaseLease(absl::string_view name, int64_t fence) override;
  bool Shared() const override { return shared_->inner->Shared(); }

 private:
  struct Fault {
    int next = 0;  // calls still to fail before `always` applies
    absl::Status next_status;
    bool always = false;
    absl::Status always_status;
    int64_t calls = 0;
    int64_t failures = 0;
  };
  struct Common {
    std::shared_ptr<server::StateStore> inner;
    mutable absl::Mutex mu;
    std::array<Fault, 6> faults ABSL_GUARDED_BY(mu);
    int64_t scanned_entries ABSL_GUARDED_BY(mu) = 0;
  };

  explicit FaultInjectingStore(std::shared_ptr<Common> shared) : shared_(std::move(shared)) {}
  // Counts a call of `op`; its injected failure, or OK to go ahead.
  absl::Status Enter(StoreOp op);

  const std::shared_ptr<Common> shared_;
};

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_FAKES_FAULT_INJECTING_STORE_H_
