#include "tests/fakes/test_sink.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace rwkv::testing {

bool TestSink::Ready() const {
  absl::MutexLock lock(&mu_);
  return !paused_;
}

bool TestSink::Cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

void TestSink::OnDelta(server::GenerationDelta delta) {
  absl::MutexLock lock(&mu_);
  if (finished_calls_ > 0) ADD_FAILURE() << "OnDelta after OnFinished";
  delta_texts_.push_back(std::move(delta.text));
  tokens_.insert(tokens_.end(), delta.token_ids.begin(), delta.token_ids.end());
}

void TestSink::OnFinished(server::GenerationResult result) {
  absl::MutexLock lock(&mu_);
  if (++finished_calls_ > 1) {
    ADD_FAILURE() << "OnFinished called " << finished_calls_ << " times";
    return;
  }
  result_ = std::move(result);
}

void TestSink::Pause() {
  absl::MutexLock lock(&mu_);
  paused_ = true;
}

void TestSink::Resume() {
  {
    absl::MutexLock lock(&mu_);
    paused_ = false;
  }
  if (scheduler_ != nullptr) scheduler_->Wake();
}

void TestSink::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
}

absl::StatusOr<server::GenerationResult> TestSink::WaitForResult(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [this]() {
    mu_.AssertReaderHeld();
    return result_.has_value();
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&done), timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("the sink had no OnFinished after ", absl::FormatDuration(timeout), " (",
                     delta_texts_.size(), " deltas so far", paused_ ? ", paused" : "",
                     cancelled_ ? ", cancelled" : "", ")"));
  }
  return *result_;
}

bool TestSink::WaitForDeltas(int count, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [this, count]() {
    mu_.AssertReaderHeld();
    return static_cast<int>(delta_texts_.size()) >= count;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

bool TestSink::finished() const {
  absl::MutexLock lock(&mu_);
  return finished_calls_ > 0;
}

int TestSink::finished_calls() const {
  absl::MutexLock lock(&mu_);
  return finished_calls_;
}

int TestSink::deltas() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(delta_texts_.size());
}

std::string TestSink::text() const {
  absl::MutexLock lock(&mu_);
  return absl::StrJoin(delta_texts_, "");
}

std::vector<int32_t> TestSink::tokens() const {
  absl::MutexLock lock(&mu_);
  return tokens_;
}

std::vector<std::string> TestSink::delta_texts() const {
  absl::MutexLock lock(&mu_);
  return delta_texts_;
}

}  // namespace rwkv::testing
