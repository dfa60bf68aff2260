// InstrumentedStateStore: a StateStore decorator that times every operation of any backend and
// tells a StoreObserver (metrics) how long it took and how it ended, so that no backend has to
// measure itself and none depends on Prometheus.
//
//   RWKV_ASSIGN_OR_RETURN(std::unique_ptr<StateStore> store, OpenStateStore(uri));
//   store = std::make_unique<InstrumentedStateStore>(std::move(store), &observer);
//
// Operations are named after what they do to the data: Get is "get", Scan is "list", Flush is
// "flush", and Write is "put" when its batch stores anything, else "delete" (a session's writes
// are put+put batches, its deletion a delete+delete batch); the three lease calls are "lease".
//
// Thread-safe as the wrapped store is; the observer is called on the calling thread after the
// operation returns.
#ifndef RWKV_SERVER_STORE_INSTRUMENTED_STATE_STORE_H_
#define RWKV_SERVER_STORE_INSTRUMENTED_STATE_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "server/store/state_store.h"

namespace rwkv::server {

enum class StoreOp { kGet, kPut, kDelete, kList, kFlush, kLease };
inline constexpr int kStoreOpCount = 6;

// "get", "put", "delete", "list", "flush", "lease": the operation label of metrics.
absl::string_view StoreOpName(StoreOp op);

// Whether `status`, returned by `op`, is a failure of the store (a missing key is an answer).
bool IsStoreError(StoreOp op, const absl::Status& status);

// Hears the operations of one store (it knows which backend it observes).
class StoreObserver {
 public:
  virtual ~StoreObserver() = default;
  // One operation, its wall time and its outcome.
  virtual void OnStoreOp(StoreOp op, absl::Duration latency, const absl::Status& status) = 0;
};

class InstrumentedStateStore final : public StateStore {
 public:
  // `observer` and `clock` must outlive the store.
  InstrumentedStateStore(std::unique_ptr<StateStore> inner, StoreObserver* observer,
                         const Clock* clock = &Clock::Real());

  absl::string_view Backend() const override { return inner_->Backend(); }
  absl::StatusOr<std::string> Get(absl::string_view key) override;
  absl::Status Write(const WriteBatch& batch) override;
  absl::StatusOr<std::vector<KeyValue>> Scan(absl::string_view prefix,
                                             absl::string_view start_after, int limit) override;
  absl::StatusOr<int64_t> Count(absl::string_view prefix) override;  // timed as "list"
  absl::Status Flush() override;
  // Not an operation on the data: passed through untimed.
  absl::Status Resume() override { return inner_->Resume(); }
  absl::StatusOr<int64_t> AcquireLease(absl::string_view name, absl::string_view owner,
                                       absl::Duration ttl) override;
  absl::Status RenewLease(absl::string_view name, int64_t fence, absl::Duration ttl) override;
  absl::Status ReleaseLease(absl::string_view name, int64_t fence) override;
  bool Shared() const override { return inner_->Shared(); }

 private:
  void Report(StoreOp op, absl::Time start, const absl::Status& status);

  const std::unique_ptr<StateStore> inner_;
  StoreObserver* const observer_;
  const Clock& clock_;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_STORE_INSTRUMENTED_STATE_STORE_H_
