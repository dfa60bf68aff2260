#include "tests/fakes/fault_injecting_store.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace rwkv::testing {
namespace {

absl::string_view OpName(StoreOp op) {
  switch (op) {
    case StoreOp::kGet:
      return "get";
    case StoreOp::kWrite:
      return "write";
    case StoreOp::kScan:
      return "scan";
    case StoreOp::kFlush:
      return "flush";
    case StoreOp::kResume:
      return "resume";
    case StoreOp::kLease:
      return "lease";
  }
  return "?";
}

absl::Status OrInjected(StoreOp op, std::optional<absl::Status> status) {
  if (status.has_value()) return *std::move(status);
  return absl::UnavailableError(absl::StrCat("injected ", OpName(op), " failure"));
}

}  // namespace

FaultInjectingStore::FaultInjectingStore(std::shared_ptr<server::StateStore> inner)
    : shared_(std::make_shared<Common>()) {
  shared_->inner = std::move(inner);
}

std::unique_ptr<FaultInjectingStore> FaultInjectingStore::Share() const {
  return std::unique_ptr<FaultInjectingStore>(new FaultInjectingStore(shared_));
}

void FaultInjectingStore::FailNext(StoreOp op, int count, std::optional<absl::Status> status) {
  absl::Status error = OrInjected(op, std::move(status));
  absl::MutexLock lock(&shared_->mu);
  Fault& fault = shared_->faults[static_cast<int>(op)];
  fault.next = count;
  fault.next_status = std::move(error);
}

void FaultInjectingStore::FailAll(StoreOp op, std::optional<absl::Status> status) {
  absl::Status error = OrInjected(op, std::move(status));
  absl::MutexLock lock(&shared_->mu);
  Fault& fault = shared_->faults[static_cast<int>(op)];
  fault.always = true;
  fault.always_status = std::move(error);
}

void FaultInjectingStore::Clear(StoreOp op) {
  absl::MutexLock lock(&shared_->mu);
  Fault& fault = shared_->faults[static_cast<int>(op)];
  fault.next = 0;
  fault.always = false;
}

void FaultInjectingStore::ClearAll() {
  for (StoreOp op : {StoreOp::kGet, StoreOp::kWrite, StoreOp::kScan, StoreOp::kFlush,
                     StoreOp::kResume, StoreOp::kLease}) {
    Clear(op);
  }
}

int64_t FaultInjectingStore::calls(StoreOp op) const {
  absl::MutexLock lock(&shared_->mu);
  return shared_->faults[static_cast<int>(op)].calls;
}

int64_t FaultInjectingStore::failures(StoreOp op) const {
  absl::MutexLock lock(&shared_->mu);
  return shared_->faults[static_cast<int>(op)].failures;
}

int64_t FaultInjectingStore::scanned_entries() const {
  absl::MutexLock lock(&shared_->mu);
  return shared_->scanned_entries;
}

absl::Status FaultInjectingStore::Enter(StoreOp op) {
  absl::MutexLock lock(&shared_->mu);
  Fault& fault = shared_->faults[static_cast<int>(op)];
  ++fault.calls;
  if (fault.next > 0) {
    --fault.next;
    ++fault.failures;
    return fault.next_status;
  }
  if (fault.always) {
    ++fault.failures;
    return fault.always_status;
  }
  return absl::OkStatus();
}

absl::string_view FaultInjectingStore::Backend() const { return shared_->inner->Backend(); }

absl::StatusOr<std::string> FaultInjectingStore::Get(absl::string_view key) {
  if (absl::Status status = Enter(StoreOp::kGet); !status.ok()) return status;
  return shared_->inner->Get(key);
}

absl::Status FaultInjectingStore::Write(const server::WriteBatch& batch) {
  if (absl::Status status = Enter(StoreOp::kWrite); !status.ok()) return status;
  return shared_->inner->Write(batch);
}

absl::StatusOr<std::vector<server::KeyValue>> FaultInjectingStore::Scan(
    absl::string_view prefix, absl::string_view start_after, int limit) {
  if (absl::Status status = Enter(StoreOp::kScan); !status.ok()) return status;
  absl::StatusOr<std::vector<server::KeyValue>> entries =
      shared_->inner->Scan(prefix, start_after, limit);
  if (entries.ok()) {
    absl::MutexLock lock(&shared_->mu);
    shared_->scanned_entries += static_cast<int64_t>(entries->size());
  }
  return entries;
}

absl::StatusOr<int64_t> FaultInjectingStore::Count(absl::string_view prefix) {
  if (absl::Status status = Enter(StoreOp::kScan); !status.ok()) return status;
  return shared_->inner->Count(prefix);
}

absl::Status FaultInjectingStore::Flush() {
  if (absl::Status status = Enter(StoreOp::kFlush); !status.ok()) return status;
  return shared_->inner->Flush();
}

absl::Status FaultInjectingStore::Resume() {
  if (absl::Status status = Enter(StoreOp::kResume); !status.ok()) return status;
  return shared_->inner->Resume();
}

absl::StatusOr<int64_t> FaultInjectingStore::AcquireLease(absl::string_view name,
                                                          absl::string_view owner,
                                                          absl::Duration ttl) {
  if (absl::Status status = Enter(StoreOp::kLease); !status.ok()) return status;
  return shared_->inner->AcquireLease(name, owner, ttl);
}

absl::Status FaultInjectingStore::RenewLease(absl::string_view name, int64_t fence,
                                             absl::Duration ttl) {
  if (absl::Status status = Enter(StoreOp::kLease); !status.ok()) return status;
  return shared_->inner->RenewLease(name, fence, ttl);
}

absl::Status FaultInjectingStore::ReleaseLease(absl::string_view name, int64_t fence) {
  if (absl::Status status = Enter(StoreOp::kLease); !status.ok()) return status;
  return shared_->inner->ReleaseLease(name, fence);
}

}  // namespace rwkv::testing
