// StopMatcher: finds stop strings in streamed text, across token boundaries, so that no part of
// a stop string is ever sent to the client.
//
// Text that could still turn out to be the start of a stop string is held back until it either
// completes one (and is dropped) or cannot (and is released). Matching is byte-wise, which is
// exact for UTF-8: a valid UTF-8 stop string only matches at character boundaries.
//
//   StopMatcher matcher(request.stop_strings);
//   for (each decoded piece) {
//     StopMatcher::Result r = matcher.Push(piece);
//     Stream(r.emit);
//     if (r.stopped) return FinishReason::kStop;
//   }
//   Stream(matcher.Flush());  // ended for another reason (max tokens, stop token)
#ifndef RWKV_ENGINE_SAMPLER_STOP_MATCHER_H_
#define RWKV_ENGINE_SAMPLER_STOP_MATCHER_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace rwkv::engine {

inline constexpr size_t kMaxStopStrings = 16;
inline constexpr size_t kMaxStopStringBytes = 256;

// OK, or INVALID_ARGUMENT when there are more than kMaxStopStrings strings, or one is empty or
// longer than kMaxStopStringBytes bytes. Call before building a StopMatcher from a request.
absl::Status ValidateStopStrings(const std::vector<std::string>& stop_strings);

// One per generation stream. Not thread-safe. Copyable and movable.
class StopMatcher {
 public:
  // Empty strings are ignored; with no stop strings, Push() passes text straight through.
  explicit StopMatcher(std::vector<std::string> stop_strings);

  struct Result {
    // Text now safe to stream. Never contains a stop string or any part of one.
    std::string emit;
    // A stop string completed: `emit` holds the text before it, and the stop string and
    // everything after it are dropped.
    bool stopped = false;
    // The stop string that completed (when stopped).
    std::string matched;
  };

  // Feeds newly decoded text. When several stop strings could match, the one that completes
  // earliest in the text wins; among those completing at the same byte, the longest. Once
  // stopped, further calls return stopped = true with nothing to emit.
  Result Push(std::string_view text);

  // End of generation without a stop: returns the held-back text (empty once stopped).
  std::string Flush();

 private:
  // Length of the longest suffix of `text` that is a proper prefix of some stop string.
  size_t HeldBackLength(std::string_view text) const;

  std::vector<std::string> stop_strings_;
  std::string held_;
  bool stopped_ = false;
  std::string matched_;
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_SAMPLER_STOP_MATCHER_H_
