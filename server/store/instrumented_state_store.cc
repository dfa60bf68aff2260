#include "server/store/instrumented_state_store.h"

#include <algorithm>
#include <utility>

namespace rwkv::server {

absl::string_view StoreOpName(StoreOp op) {
  switch (op) {
    case StoreOp::kGet:
      return "get";
    case StoreOp::kPut:
      return "put";
    case StoreOp::kDelete:
      return "delete";
    case StoreOp::kList:
      return "list";
    case StoreOp::kFlush:
      return "flush";
    case StoreOp::kLease:
      return "lease";
  }
  return "unknown";
}

bool IsStoreError(StoreOp op, const absl::Status& status) {
  if (status.ok()) return false;
  if (op == StoreOp::kGet && absl::IsNotFound(status)) return false;
  // A refused condition or a lease held by another is an answer, not a failure.
  return !absl::IsAborted(status);
}

InstrumentedStateStore::InstrumentedStateStore(std::unique_ptr<StateStore> inner,
                                               StoreObserver* observer,
                                               const Clock* clock)
    : inner_(std::move(inner)), observer_(observer), clock_(*clock) {}

void InstrumentedStateStore::Report(StoreOp op, absl::Time start, const absl::Status& status) {
  if (observer_ != nullptr) observer_->OnStoreOp(op, clock_.Now() - start, status);
}

absl::StatusOr<std::string> InstrumentedStateStore::Get(absl::string_view key) {
  const absl::Time start = clock_.Now();
  absl::StatusOr<std::string> value = inner_->Get(key);
  Report(StoreOp::kGet, start, value.status());
  return value;
}

absl::Status InstrumentedStateStore::Write(const WriteBatch& batch) {
  const bool puts = std::any_of(batch.ops().begin(), batch.ops().end(),
                                [](const WriteBatch::Op& op) { return !op.is_delete; });
  const absl::Time start = clock_.Now();
  absl::Status status = inner_->Write(batch);
  Report(puts || batch.empty() ? StoreOp::kPut : StoreOp::kDelete, start, status);
  return status;
}

absl::StatusOr<std::vector<KeyValue>> InstrumentedStateStore::Scan(absl::string_view prefix,
                                                                   absl::string_view start_after,
                                                                   int limit) {
  const absl::Time start = clock_.Now();
  absl::StatusOr<std::vector<KeyValue>> entries = inner_->Scan(prefix, start_after, limit);
  Report(StoreOp::kList, start, entries.status());
  return entries;
}

absl::StatusOr<int64_t> InstrumentedStateStore::Count(absl::string_view prefix) {
  const absl::Time start = clock_.Now();
  absl::StatusOr<int64_t> count = inner_->Count(prefix);
  Report(StoreOp::kList, start, count.status());
  return count;
}

absl::Status InstrumentedStateStore::Flush() {
  const absl::Time start = clock_.Now();
  absl::Status status = inner_->Flush();
  Report(StoreOp::kFlush, start, status);
  return status;
}

absl::StatusOr<int64_t> InstrumentedStateStore::AcquireLease(absl::string_view name,
                                                             absl::string_view owner,
                                                             absl::Duration ttl) {
  const absl::Time start = clock_.Now();
  absl::StatusOr<int64_t> fence = inner_->AcquireLease(name, owner, ttl);
  Report(StoreOp::kLease, start, fence.status());
  return fence;
}

absl::Status InstrumentedStateStore::RenewLease(absl::string_view name, int64_t fence,
                                                absl::Duration ttl) {
  const absl::Time start = clock_.Now();
  absl::Status status = inner_->RenewLease(name, fence, ttl);
  Report(StoreOp::kLease, start, status);
  return status;
}

absl::Status InstrumentedStateStore::ReleaseLease(absl::string_view name, int64_t fence) {
  const absl::Time start = clock_.Now();
  absl::Status status = inner_->ReleaseLease(name, fence);
  Report(StoreOp::kLease, start, status);
  return status;
}

}  // namespace rwkv::server
