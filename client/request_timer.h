// RequestTimer: client-side timings of one streaming Generate call, as a user sees them.
//
//   RequestTimer timer(RequestTimer::Clock::now());
//   client->Generate(request, [&](const auto& delta) {
//     timer.OnTokens(RequestTimer::Clock::now(), delta.token_ids_size());
//   }, &done);
//   timer.OnEnd(RequestTimer::Clock::now());
//
// Definitions (also used by rwkv-loadgen's report):
// - time to first token (TTFT): request start to the arrival of the first delta that carries at
//   least one token ID (deltas with text but no token, if any, do not count);
// - inter-token latency: the gaps between token arrivals. A delta carrying k tokens counts as k
//   tokens arriving at once: its first token gets the gap since the previous arrival, the k - 1
//   others a gap of 0. A request with n tokens thus yields n - 1 gaps;
// - end-to-end: request start to the end of the call (after the done message and the status).
// Time comes from a monotonic clock passed in by the caller, so tests can replay exact timings.
#ifndef RWKV_CLIENT_REQUEST_TIMER_H_
#define RWKV_CLIENT_REQUEST_TIMER_H_

#include <chrono>
#include <cstdint>
#include <vector>

namespace rwkv::client {

class RequestTimer {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RequestTimer(Clock::time_point start) : start_(start), end_(start) {}

  // `tokens` tokens arrived at `now`; calls with tokens <= 0 are ignored.
  void OnTokens(Clock::time_point now, int tokens);
  void OnEnd(Clock::time_point now) { end_ = now; }

  int64_t tokens() const { return tokens_; }
  // 0 when no token arrived.
  double ttft_s() const;
  double end_to_end_s() const { return Seconds(end_ - start_); }
  // The n - 1 gaps between the n token arrivals, in seconds.
  const std::vector<double>& inter_token_s() const { return gaps_; }
  // Decode speed: (n - 1) tokens over the time from the first to the last token arrival;
  // 0 with fewer than two tokens or when they all arrived at once.
  double decode_tokens_per_s() const;

 private:
  static double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

  Clock::time_point start_;
  Clock::time_point end_;
  Clock::time_point first_token_;
  Clock::time_point last_token_;
  int64_t tokens_ = 0;
  std::vector<double> gaps_;
};

}  // namespace rwkv::client

#endif  // RWKV_CLIENT_REQUEST_TIMER_H_
