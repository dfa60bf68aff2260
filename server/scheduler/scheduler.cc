#include "server/scheduler/scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace rwkv::server {
namespace {

// How long the loop sleeps when every sequence is paused, before polling cancellations again.
// Real time: a condition variable cannot wait on options_.clock.
constexpr absl::Duration kIdlePoll = absl::Milliseconds(5);

absl::Status ClientCancelled() { return absl::CancelledError("the client cancelled the request"); }
absl::Status DeadlinePassed() {
  return absl::DeadlineExceededError("the request's deadline passed");
}

SchedulerObserver& NoObserver() {
  static SchedulerObserver* const observer = new SchedulerObserver();
  return *observer;
}

}  // namespace

absl::Status StreamStalledError(absl::Duration timeout) {
  return absl::DeadlineExceededError(absl::StrCat("the client did not read the stream for ",
                                                  absl::FormatDuration(timeout)));
}

Scheduler::Scheduler(engine::Engine* engine, const engine::Tokenizer* tokenizer, Options options)
    : engine_(engine),
      tokenizer_(tokenizer),
      options_(options),
      clock_(options.clock != nullptr ? *options.clock : Clock::Real()),
      observer_(options.observer != nullptr ? *options.observer : NoObserver()) {}

Scheduler::~Scheduler() {
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    abort_all_ = true;
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Scheduler::Start() { thread_ = std::thread([this] { Loop(); }); }

Scheduler::QueuePlace& Scheduler::QueuePlace::operator=(QueuePlace&& other) noexcept {
  if (this != &other) {
    if (scheduler_ != nullptr) scheduler_->GiveBackPlace();
    scheduler_ = std::exchange(other.scheduler_, nullptr);
  }
  return *this;
}

Scheduler::QueuePlace::~QueuePlace() {
  if (scheduler_ != nullptr) scheduler_->GiveBackPlace();
}

absl::StatusOr<Scheduler::QueuePlace> Scheduler::ReservePlace() {
  absl::MutexLock lock(&mu_);
  if (draining_) return absl::UnavailableError("the server is shutting down");
  RWKV_RETURN_IF_ERROR(CheckQueueRoom());
  ++reserved_places_;
  return QueuePlace(this);
}

void Scheduler::GiveBackPlace() {
  absl::MutexLock lock(&mu_);
  --reserved_places_;
}

absl::Status Scheduler::CheckQueueRoom() const {
  if (static_cast<int>(queue_.size()) + reserved_places_ >= options_.max_queued_requests) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the server's queue is full (", options_.max_queued_requests, " requests waiting)"));
  }
  return absl::OkStatus();
}

absl::Status Scheduler::Submit(GenerationRequest request, GenerationSink* sink) {
  return Submit(std::move(request), sink, QueuePlace());
}

absl::Status Scheduler::Submit(GenerationRequest request, GenerationSink* sink, QueuePlace place) {
  if (static_cast<int64_t>(request.state.size()) != engine_->StateFloats()) {
    return absl::InvalidArgumentError(absl::StrCat("state has ", request.state.size(),
                                                   " floats, the model needs ",
                                                   engine_->StateFloats()));
  }
  if (request.prompt.empty()) return absl::InvalidArgumentError("empty prompt");
  RWKV_ASSIGN_OR_RETURN(engine::Sampler sampler,
                        engine::Sampler::Create(request.sampling, engine_->config().n_vocab));
  absl::MutexLock lock(&mu_);
  // A place is used up here, whatever the outcome: the request takes it, or nobody does.
  const bool placed = place.scheduler_ == this;
  if (placed) {
    place.scheduler_ = nullptr;
    --reserved_places_;
  }
  if (draining_) return absl::UnavailableError("the server is shutting down");
  if (!placed) RWKV_RETURN_IF_ERROR(CheckQueueRoom());
  queue_.push_back(std::make_unique<Sequence>(std::move(request), sink, *tokenizer_,
                                              std::move(sampler), observer_));
  return absl::OkStatus();
}

void Scheduler::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
}

void Scheduler::CutDrainShort() {
  absl::MutexLock lock(&mu_);
  drain_cut_short_ = true;
}

bool Scheduler::Drain(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  draining_ = true;
  auto idle = [this]() {
    mu_.AssertReaderHeld();
    return queue_.empty() && running_count_ == 0;
  };
  auto idle_or_cut_short = [this, &idle]() {
    mu_.AssertReaderHeld();
    return idle() || drain_cut_short_;
  };
  // `timeout` is real time (a condition variable cannot wait on options_.clock).
  mu_.AwaitWithTimeout(absl::Condition(&idle_or_cut_short), timeout);
  const bool finished = idle();
  if (!finished) {
    abort_all_ = true;
    mu_.Await(absl::Condition(&idle));
  }
  return finished;
}

Scheduler::Stats Scheduler::stats() const {
  absl::MutexLock lock(&mu_);
  return {running_count_, static_cast<int>(queue_.size())};
}

void Scheduler::Loop() {
  while (AdmitOrWait()) {
    SweepQueue(clock_.Now());
    CheckCancellations(clock_.Now());
    RunStep();
    Retire(clock_.Now());
  }
}

bool Scheduler::AdmitOrWait() {
  // Sinks are asked outside mu_: a sink calls Wake (which takes mu_) under its own lock.
  const int runnable = static_cast<int>(std::count_if(
      running_.begin(), running_.end(), [](const auto& seq) { return seq->Runnable(); }));
  const int running = static_cast<int>(running_.size());
  // Paused sequences take no batch capacity, only a place among max_running_sequences.
  auto has_room = [this](int runnable, int running) {
    return runnable < options_.max_batch_sequences && running < max_running_sequences();
  };
  absl::MutexLock lock(&mu_);
  auto has_news = [this, runnable, running, &has_room]() {
    mu_.AssertReaderHeld();
    return woken_ || abort_all_ || stop_ || (!queue_.empty() && has_room(runnable, running));
  };
  if (runnable == 0 && !has_news()) {
    // Paused sequences still need their cancellations and stalls noticed: poll while any run.
    if (running > 0) {
      mu_.AwaitWithTimeout(absl::Condition(&has_news), kIdlePoll);
    } else {
      mu_.Await(absl::Condition(&has_news));
    }
  }
  woken_ = false;
  // A new sequence starts in prefill, so it is runnable.
  for (int admitted = runnable; !queue_.empty() &&
                                has_room(admitted, static_cast<int>(running_.size()));
       ++admitted) {
    running_.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  running_count_ = static_cast<int>(running_.size());
  return !(stop_ && running_.empty() && queue_.empty());
}

void Scheduler::SweepQueue(absl::Time now) {
  bool abort_all;
  {
    absl::MutexLock lock(&mu_);
    if (queue_.empty()) return;
    abort_all = abort_all_;
    queued_.clear();
    for (const auto& seq : queue_) queued_.push_back(seq.get());
  }
  // Sinks are asked outside mu_ (see AdmitOrWait). Only this thread takes sequences out of
  // queue_, so the pointers stay valid; Submit only appends. Nothing was processed yet, so
  // there is nothing to keep.
  bool any = false;
  for (Sequence* seq : queued_) {
    if (abort_all) {
      seq->Cancel(absl::UnavailableError("the server shut down before the turn started"),
                  /*keep=*/false, now);
    } else if (seq->sink()->Cancelled()) {
      seq->Cancel(ClientCancelled(), /*keep=*/false, now);
    } else if (now > seq->request().deadline) {
      seq->Cancel(DeadlinePassed(), /*keep=*/false, now);
    } else {
      continue;
    }
    any = true;
  }
  if (!any) return;
  {
    // Into running_ (and running_count_) in one step, so that Drain never sees them in neither.
    absl::MutexLock lock(&mu_);
    for (auto it = queue_.begin(); it != queue_.end();) {
      if ((*it)->phase() != Sequence::Phase::kDone) {
        ++it;
        continue;
      }
      running_.push_back(std::move(*it));
      it = queue_.erase(it);
    }
    running_count_ = static_cast<int>(running_.size());
  }
  Retire(now);
}

void Scheduler::CheckCancellations(absl::Time now) {
  bool abort_all;
  {
    absl::MutexLock lock(&mu_);
    abort_all = abort_all_;
  }
  const bool stalls = options_.stall_timeout > absl::ZeroDuration() &&
                      options_.stall_timeout != absl::InfiniteDuration();
  for (auto& seq : running_) {
    if (seq->phase() == Sequence::Phase::kDone) continue;
    if (abort_all) {
      seq->Cancel(absl::UnavailableError("the server shut down before the turn finished"),
                  /*keep=*/false, now);
    } else if (seq->sink()->Cancelled()) {
      seq->Cancel(ClientCancelled(), seq->request().keep_on_cancel, now);
    } else if (now > seq->request().deadline) {
      seq->Cancel(DeadlinePassed(), seq->request().keep_on_cancel, now);
    } else if (stalls && seq->PausedFor(now) >= options_.stall_timeout) {
      // The client stopped reading: free its place rather than hold it without end.
      seq->Cancel(StreamStalledError(options_.stall_timeout), seq->request().keep_on_cancel, now);
    }
  }
}

bool Scheduler::RunStep() {
  inputs_.clear();
  stepped_.clear();
  int64_t budget = options_.max_batch_tokens;
  const size_t n = running_.size();
  const size_t max_sequences = static_cast<size_t>(options_.max_batch_sequences);
  // Decoding and finishing sequences first (one token each), then prompt chunks. More than
  // max_batch_sequences may be runnable (paused ones woke up): start at rotation_ to take turns.
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < n && inputs_.size() < max_sequences; ++i) {
      Sequence* seq = running_[(rotation_ + i) % n].get();
      const bool prefill = seq->phase() == Sequence::Phase::kPrefill;
      if (prefill != (pass == 1) || !seq->Runnable() || budget <= 0) continue;
      engine::LogitsMode mode;
      absl::Span<const int32_t> tokens = seq->NextInput(budget, &mode);
      if (tokens.empty()) continue;
      inputs_.push_back({seq->state(), tokens, mode});
      stepped_.push_back(seq);
      budget -= static_cast<int64_t>(tokens.size());
    }
  }
  if (inputs_.size() == max_sequences && n > max_sequences) {
    rotation_ = (rotation_ + max_sequences) % n;
  }
  if (inputs_.empty()) return false;
  const absl::Time start = clock_.Now();
  absl::StatusOr<engine::LogitsView> logits = engine_->Forward(inputs_);
  observer_.OnStep(clock_.Now() - start, options_.max_batch_tokens - budget,
                   static_cast<int64_t>(inputs_.size()));
  if (logits.ok()) DrawTokens(*logits);
  const absl::Time now = clock_.Now();
  for (size_t i = 0; i < stepped_.size(); ++i) {
    if (!logits.ok()) {
      stepped_[i]->Cancel(absl::InternalError(absl::StrCat("engine step failed: ",
                                                           logits.status().message())),
                          /*keep=*/false, now);
      continue;
    }
    absl::Span<const float> row;
    if (inputs_[i].logits != engine::LogitsMode::kNone) row = logits->Row(i);
    stepped_[i]->OnStep(inputs_[i].tokens.size(), row, start, now);
  }
  return true;
}

void Scheduler::DrawTokens(const engine::LogitsView& logits) {
  drawing_.clear();
  for (size_t i = 0; i < stepped_.size(); ++i) {
    if (inputs_[i].logits != engine::LogitsMode::kNone) drawing_.push_back(i);
  }
  // Every sequence samples with its own sampler: at 64 sequences a top-p draw each is a fifth of
  // a step, which the engine's threads then share as they share the step itself.
  engine_->ParallelFor(static_cast<int64_t>(drawing_.size()), [this, &logits](int64_t j) {
    const size_t i = drawing_[static_cast<size_t>(j)];
    stepped_[i]->Draw(logits.Row(i));
  });
}

void Scheduler::Retire(absl::Time now) {
  auto split = std::stable_partition(running_.begin(), running_.end(), [](const auto& seq) {
    return seq->phase() != Sequence::Phase::kDone;
  });
  if (split == running_.end()) return;
  std::vector<std::unique_ptr<Sequence>> done;
  for (auto it = split; it != running_.end(); ++it) done.push_back(std::move(*it));
  running_.erase(split, running_.end());
  for (auto& seq : done) {
    GenerationResult result = seq->TakeResult(now);
    observer_.OnFinished(result);
    seq->sink()->OnFinished(std::move(result));
  }
  // Counted down only after OnFinished, so that Drain returns once every sink has its result.
  absl::MutexLock lock(&mu_);
  running_count_ = static_cast<int>(running_.size());
}

}  // namespace rwkv::server
