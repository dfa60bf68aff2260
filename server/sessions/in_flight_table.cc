#include "server/sessions/in_flight_table.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace rwkv::server {

InFlightTable::Hold::Hold(Hold&& other) noexcept
    : table_(std::exchange(other.table_, nullptr)), id_(std::move(other.id_)) {}

InFlightTable::Hold& InFlightTable::Hold::operator=(Hold&& other) noexcept {
  if (this == &other) return *this;
  Reset();
  table_ = std::exchange(other.table_, nullptr);
  id_ = std::move(other.id_);
  return *this;
}

void InFlightTable::Hold::Reset() {
  if (table_ == nullptr) return;
  std::exchange(table_, nullptr)->Release(id_);
}

absl::StatusOr<InFlightTable::Hold> InFlightTable::Acquire(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  if (!ids_.emplace(id).second) {
    return absl::AbortedError(absl::StrCat("session ", id, " already has a turn in flight"));
  }
  return Hold(this, std::string(id));
}

bool InFlightTable::Contains(absl::string_view id) const {
  absl::MutexLock lock(&mu_);
  return ids_.contains(id);
}

void InFlightTable::Release(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  ids_.erase(id);
}

}  // namespace rwkv::server
