#include "client/request_timer.h"

namespace rwkv::client {

void RequestTimer::OnTokens(Clock::time_point now, int tokens) {
  if (tokens <= 0) return;
  if (tokens_ == 0) {
    first_token_ = now;
  } else {
    gaps_.push_back(Seconds(now - last_token_));
  }
  // The other tokens of the same delta arrived together with the first one.
  gaps_.insert(gaps_.end(), static_cast<size_t>(tokens - 1), 0.0);
  last_token_ = now;
  tokens_ += tokens;
}

double RequestTimer::ttft_s() const { return tokens_ == 0 ? 0 : Seconds(first_token_ - start_); }

double RequestTimer::decode_tokens_per_s() const {
  const double span = Seconds(last_token_ - first_token_);
  if (tokens_ < 2 || span <= 0) return 0;
  return static_cast<double>(tokens_ - 1) / span;
}

}  // namespace rwkv::client
