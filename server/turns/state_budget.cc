#include "server/turns/state_budget.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/sampler/sampler.h"

namespace rwkv::server {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

}  // namespace

StateBudget::Reservation::Reservation(Reservation&& other) noexcept
    : budget_(std::exchange(other.budget_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

StateBudget::Reservation& StateBudget::Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    Release();
    budget_ = std::exchange(other.budget_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void StateBudget::Reservation::Release() {
  if (budget_ == nullptr) return;
  std::exchange(budget_, nullptr)->Give(std::exchange(bytes_, 0));
}

int64_t StateBudget::TurnBytes(const engine::ModelConfig& config, size_t prompt_tokens,
                               const engine::SamplingParams& sampling) {
  return config.StateBytes() + engine::Sampler::ScratchBytes(config.n_vocab, sampling) +
         static_cast<int64_t>(prompt_tokens * sizeof(int32_t));
}

int64_t StateBudget::LargestTurnBytes(const engine::ModelConfig& config, size_t prompt_tokens) {
  engine::SamplingParams cutting;
  cutting.top_p = 0.5f;
  return TurnBytes(config, prompt_tokens, cutting);
}

int64_t StateBudget::DefaultLimit(int64_t turn_bytes, int max_batch_sequences) {
  return std::max(kGiB, 2 * int64_t{max_batch_sequences} * turn_bytes);
}

absl::StatusOr<StateBudget::Reservation> StateBudget::Reserve(int64_t bytes) {
  absl::MutexLock lock(&mu_);
  if (bytes > limit_ - used_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the server's in-flight turns hold ", HumanBytes(used_), " of states; this turn's ",
        HumanBytes(bytes), " would pass --max-inflight-state-bytes=", limit_, " (",
        HumanBytes(limit_), "); retry later"));
  }
  used_ += bytes;
  return Reservation(this, bytes);
}

int64_t StateBudget::used() const {
  absl::MutexLock lock(&mu_);
  return used_;
}

void StateBudget::Give(int64_t bytes) {
  absl::MutexLock lock(&mu_);
  used_ -= bytes;
}

std::string HumanBytes(int64_t bytes) {
  constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return absl::StrCat(bytes, " bytes");
  double value = static_cast<double>(bytes);
  int unit = -1;
  while (value >= 1024 && unit < 3) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.*f %s", value < 10 ? 2 : 1, value, kUnits[unit]);
}

}  // namespace rwkv::server
