#include "server/scheduler/sequence.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace rwkv::server {

Sequence::Sequence(GenerationRequest request, GenerationSink* sink,
                   const engine::Tokenizer& tokenizer, engine::Sampler sampler,
                   SchedulerObserver& observer)
    : request_(std::move(request)),
      sink_(sink),
      tokenizer_(tokenizer),
      sampler_(std::move(sampler)),
      stop_matcher_(request_.stop_strings),
      observer_(observer) {
  // The penalties count this turn's prompt as well as the generated tokens.
  for (int32_t token : request_.prompt) sampler_.Accept(token);
}

bool Sequence::Runnable() const {
  switch (phase_) {
    case Phase::kPrefill:
      return true;  // nothing has been streamed yet, so the sink has room for the first delta
    case Phase::kDecode:
      return sink_->Ready();
    case Phase::kFinishing:
      return true;
    case Phase::kDone:
      return false;
  }
  return false;
}

absl::Duration Sequence::PausedFor(absl::Time now) {
  if (phase_ != Phase::kDecode || sink_->Ready()) {
    paused_since_.reset();
    return absl::ZeroDuration();
  }
  if (!paused_since_) paused_since_ = now;
  return now - *paused_since_;
}

absl::Span<const int32_t> Sequence::NextInput(int64_t budget, engine::LogitsMode* mode) const {
  if (phase_ == Phase::kPrefill) {
    const size_t remaining = request_.prompt.size() - prompt_fed_;
    const size_t count = std::min(remaining, static_cast<size_t>(std::max<int64_t>(budget, 0)));
    const bool completes = count == remaining;
    *mode = completes && request_.max_tokens > 0 ? engine::LogitsMode::kLast
                                                 : engine::LogitsMode::kNone;
    return absl::MakeConstSpan(request_.prompt).subspan(prompt_fed_, count);
  }
  if (!pending_.has_value() || budget < 1) return {};
  *mode = phase_ == Phase::kDecode ? engine::LogitsMode::kLast : engine::LogitsMode::kNone;
  return absl::MakeConstSpan(&*pending_, 1);
}

void Sequence::OnStep(size_t fed, absl::Span<const float> logits, absl::Time step_start,
                      absl::Time now) {
  if (!first_step_) {
    first_step_ = step_start;
    observer_.OnQueueWait(step_start - request_.received);
  }
  switch (phase_) {
    case Phase::kPrefill:
      prompt_fed_ += fed;
      if (prompt_fed_ < request_.prompt.size()) return;
      prefill_done_ = now;
      observer_.OnPrefill(now - *first_step_, static_cast<int64_t>(prompt_fed_));
      if (request_.max_tokens == 0) {
        finish_reason_ = FinishReason::kLength;
        phase_ = Phase::kDone;
        return;
      }
      phase_ = Phase::kDecode;
      Sample(logits, now);
      return;
    case Phase::kDecode:
      ++generated_fed_;
      pending_.reset();
      Sample(logits, now);
      return;
    case Phase::kFinishing:
      ++generated_fed_;
      pending_.reset();
      phase_ = Phase::kDone;
      return;
    case Phase::kDone:
      return;
  }
}

bool Sequence::IsStopToken(int32_t token) const {
  return std::find(request_.stop_tokens.begin(), request_.stop_tokens.end(), token) !=
         request_.stop_tokens.end();
}

void Sequence::Draw(absl::Span<const float> logits) {
  drawn_ = sampler_.Sample(logits);
  sampler_.Accept(*drawn_);
}

void Sequence::Sample(absl::Span<const float> logits, absl::Time now) {
  if (!drawn_.has_value()) Draw(logits);
  const int32_t token = *std::exchange(drawn_, std::nullopt);
  ++generated_;
  pending_ = token;
  if (!first_token_) first_token_ = now;
  observer_.OnToken(!last_token_.has_value(), now - last_token_.value_or(request_.received));
  last_token_ = now;
  GenerationDelta delta;
  delta.token_ids.push_back(token);
  if (IsStopToken(token)) {
    EndGeneration(FinishReason::kStop, absl::StrCat("token ", token));
    ReleaseHeldText(delta);
  } else {
    // The engine has checked the token against the vocabulary, so its bytes exist.
    std::string_view bytes;
    if (auto token_bytes = tokenizer_.TokenBytes(token); token_bytes.ok()) bytes = *token_bytes;
    engine::StopMatcher::Result r = stop_matcher_.Push(detokenizer_.Push(bytes));
    delta.text = std::move(r.emit);
    if (r.stopped) {
      EndGeneration(FinishReason::kStop, std::move(r.matched));
    } else if (generated_ >= request_.max_tokens) {
      EndGeneration(FinishReason::kLength, "");
      ReleaseHeldText(delta);
    }
  }
  sink_->OnDelta(std::move(delta));
}

void Sequence::EndGeneration(FinishReason reason, std::string matched) {
  finish_reason_ = reason;
  matched_stop_ = std::move(matched);
  phase_ = Phase::kFinishing;
}

void Sequence::ReleaseHeldText(GenerationDelta& delta) {
  engine::StopMatcher::Result tail = stop_matcher_.Push(detokenizer_.Flush());
  delta.text += tail.emit;
  if (tail.stopped) {
    // A stop string completed by the last bytes came before whatever else ended generation.
    finish_reason_ = FinishReason::kStop;
    matched_stop_ = std::move(tail.matched);
  } else {
    delta.text += stop_matcher_.Flush();
  }
}

void Sequence::Cancel(absl::Status why, bool keep, absl::Time now) {
  if (phase_ == Phase::kDone) return;
  status_ = std::move(why);
  phase_ = keep && pending_.has_value() ? Phase::kFinishing : Phase::kDone;
}

GenerationResult Sequence::TakeResult(absl::Time now) {
  GenerationResult result;
  result.status = status_;
  result.finish_reason = finish_reason_;
  result.matched_stop = matched_stop_;
  result.prompt_tokens = static_cast<int32_t>(request_.prompt.size());
  result.generated_tokens = generated_;
  result.tokens_in_state = static_cast<int64_t>(prompt_fed_) + generated_fed_;
  result.state = std::move(request_.state);
  const absl::Time start = first_step_.value_or(now);
  result.timings.queue = start - request_.received;
  result.timings.time_to_first_token =
      first_token_ ? *first_token_ - request_.received : absl::ZeroDuration();
  result.timings.prefill = prefill_done_.value_or(now) - start;
  result.timings.total = now - request_.received;
  return result;
}

}  // namespace rwkv::server
