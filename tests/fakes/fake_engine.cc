#include "tests/fakes/fake_engine.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"

namespace rwkv::testing {
namespace {

engine::ModelConfig FakeConfig() {
  engine::ModelConfig config;
  config.version = engine::ArchVersion::kV7;
  config.n_vocab = FakeEngine::kVocab;
  config.n_embed = 64;
  config.n_layer = 2;
  config.n_head = 2;
  config.head_size = 32;
  config.ffn_size = 256;
  config.group_norm_eps = 64e-5f;
  return config;  // (2 + 32) * 64 * 2 = 4352 state floats
}

int32_t DefaultPolicy(absl::Span<const int32_t> history) {
  return 'a' + static_cast<int32_t>(history.size() % 26);
}

bool StartsWith(absl::Span<const int32_t> history, absl::Span<const int32_t> prefix) {
  return history.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), history.begin());
}

}  // namespace

FakeEngine::FakeEngine() : config_(FakeConfig()), policy_(DefaultPolicy) {}

std::vector<int32_t> FakeEngine::History(absl::Span<const float> state) {
  if (state.empty()) return {};
  const int64_t count = std::min(static_cast<int64_t>(state[0]), kHistoryCapacity);
  std::vector<int32_t> history(count);
  for (int64_t i = 0; i < count; ++i) history[i] = static_cast<int32_t>(state[1 + i]);
  return history;
}

void FakeEngine::Script(std::vector<int32_t> prefix, std::vector<int32_t> continuation) {
  absl::MutexLock lock(&mu_);
  scripts_.push_back({std::move(prefix), std::move(continuation)});
}

void FakeEngine::SetPolicy(Policy policy) {
  absl::MutexLock lock(&mu_);
  policy_ = std::move(policy);
}

void FakeEngine::FailForwardAt(int64_t index, absl::Status status) {
  absl::MutexLock lock(&mu_);
  failures_[index] = std::move(status);
}

void FakeEngine::FailNextForward(absl::Status status) {
  absl::MutexLock lock(&mu_);
  next_failure_ = std::move(status);
}

void FakeEngine::OnForward(std::function<void(int64_t index)> hook) {
  absl::MutexLock lock(&mu_);
  hook_ = std::move(hook);
}

std::vector<FakeEngine::Call> FakeEngine::calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

int64_t FakeEngine::call_count() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(calls_.size());
}

bool FakeEngine::WaitForCalls(int64_t count, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [this, count]() {
    mu_.AssertReaderHeld();
    return static_cast<int64_t>(calls_.size()) >= count;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

void FakeEngine::Hold() {
  absl::MutexLock lock(&gate_mu_);
  held_ = true;
  allowed_ = 0;
}

void FakeEngine::AllowCalls(int64_t count) {
  absl::MutexLock lock(&gate_mu_);
  allowed_ += count;
}

void FakeEngine::Release() {
  absl::MutexLock lock(&gate_mu_);
  held_ = false;
}

bool FakeEngine::WaitUntilHeld(absl::Duration timeout) const {
  absl::MutexLock lock(&gate_mu_);
  auto waiting = [this]() {
    gate_mu_.AssertReaderHeld();
    return waiting_ > 0;
  };
  return gate_mu_.AwaitWithTimeout(absl::Condition(&waiting), timeout);
}

void FakeEngine::PassTheHold() {
  absl::MutexLock lock(&gate_mu_);
  auto may_pass = [this]() {
    gate_mu_.AssertReaderHeld();
    return !held_ || allowed_ > 0;
  };
  ++waiting_;
  gate_mu_.Await(absl::Condition(&may_pass));
  --waiting_;
  if (held_) --allowed_;
}

absl::StatusOr<engine::LogitsView> FakeEngine::Forward(
    absl::Span<const engine::SequenceInput> batch) {
  PassTheHold();
  std::function<void(int64_t)> hook;
  int64_t index;
  {
    absl::MutexLock lock(&mu_);
    hook = hook_;
    index = static_cast<int64_t>(calls_.size());
  }
  if (hook) hook(index);

  Call call;
  call.index = index;
  for (const engine::SequenceInput& input : batch) {
    Input& record = call.inputs.emplace_back();
    record.state = input.state.data();
    // A state of the wrong size is recorded as it is; ValidateBatch rejects it below.
    const bool sized = input.state.size() > 1;
    record.fed_before = sized ? static_cast<int64_t>(input.state[0]) : 0;
    if (record.fed_before > 0) {
      record.first_token = static_cast<int32_t>(input.state[1]);
    } else if (!input.tokens.empty()) {
      record.first_token = input.tokens[0];
    }
    record.tokens.assign(input.tokens.begin(), input.tokens.end());
    record.logits = input.logits;
  }

  absl::MutexLock lock(&mu_);
  call.status = ValidateBatch(batch, config_, scratch_);
  if (call.status.ok()) call.status = CheckCapacity(batch);
  if (call.status.ok()) call.status = TakeFailure(index).value_or(absl::OkStatus());
  calls_.push_back(call);
  if (!call.status.ok()) return call.status;

  logits_.clear();
  first_row_.assign(1, 0);
  for (const engine::SequenceInput& input : batch) {
    Feed(input);
    first_row_.push_back(static_cast<int64_t>(logits_.size()) / kVocab);
  }
  return engine::LogitsView(logits_.data(), kVocab, first_row_);
}

std::optional<absl::Status> FakeEngine::TakeFailure(int64_t index) {
  if (next_failure_.has_value()) {
    std::optional<absl::Status> failure = std::move(next_failure_);
    next_failure_.reset();
    return failure;
  }
  auto it = failures_.find(index);
  if (it == failures_.end()) return std::nullopt;
  absl::Status failure = std::move(it->second);
  failures_.erase(it);
  return failure;
}

absl::Status FakeEngine::CheckCapacity(absl::Span<const engine::SequenceInput> batch) const {
  for (size_t s = 0; s < batch.size(); ++s) {
    const int64_t total = static_cast<int64_t>(batch[s].state[0]) + batch[s].tokens.size();
    if (total > kHistoryCapacity) {
      return absl::OutOfRangeError(absl::StrCat("FakeEngine: sequence ", s, " would hold ", total,
                                                " tokens, more than ", kHistoryCapacity));
    }
  }
  return absl::OkStatus();
}

void FakeEngine::Feed(const engine::SequenceInput& input) {
  absl::Span<float> state = input.state;
  history_ = History(state);
  for (size_t t = 0; t < input.tokens.size(); ++t) {
    const int32_t token = input.tokens[t];
    state[1 + history_.size()] = static_cast<float>(token);
    history_.push_back(token);
    state[0] = static_cast<float>(history_.size());
    const bool last = t + 1 == input.tokens.size();
    if (input.logits == engine::LogitsMode::kAll ||
        (input.logits == engine::LogitsMode::kLast && last)) {
      const size_t row = logits_.size();
      logits_.resize(row + kVocab, 0.0f);
      logits_[row + NextToken(history_)] = 1.0f;
    }
  }
}

int32_t FakeEngine::NextToken(absl::Span<const int32_t> history) const {
  for (auto it = scripts_.rbegin(); it != scripts_.rend(); ++it) {
    if (!StartsWith(history, it->prefix)) continue;
    const size_t k = history.size() - it->prefix.size();
    if (k >= it->continuation.size()) continue;
    absl::Span<const int32_t> so_far = history.subspan(it->prefix.size());
    if (StartsWith(absl::MakeConstSpan(it->continuation), so_far)) return it->continuation[k];
  }
  const int32_t token = policy_(history);
  return std::clamp(token, 0, kVocab - 1);
}

void FakeEngine::RunTasksOnThreads(int threads) {
  absl::MutexLock lock(&mu_);
  task_threads_ = std::max(threads, 1);
}

int64_t FakeEngine::most_parallel_tasks() const {
  absl::MutexLock lock(&mu_);
  return most_parallel_tasks_;
}

void FakeEngine::ParallelFor(int64_t count, absl::FunctionRef<void(int64_t)> task) {
  int threads;
  {
    absl::MutexLock lock(&mu_);
    most_parallel_tasks_ = std::max(most_parallel_tasks_, count);
    threads = task_threads_;
  }
  if (threads == 1) return Engine::ParallelFor(count, task);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([count, threads, t, &task] {
      for (int64_t i = count - 1 - t; i >= 0; i -= threads) task(i);
    });
  }
  for (std::thread& worker : workers) worker.join();
}

}  // namespace rwkv::testing
