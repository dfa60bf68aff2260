#include "engine/sampler/stop_matcher.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace rwkv::engine {

absl::Status ValidateStopStrings(const std::vector<std::string>& stop_strings) {
  if (stop_strings.size() > kMaxStopStrings) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "stop_strings must have at most %d entries, got %d", kMaxStopStrings, stop_strings.size()));
  }
  for (size_t i = 0; i < stop_strings.size(); ++i) {
    if (stop_strings[i].empty()) {
      return absl::InvalidArgumentError(absl::StrFormat("stop_strings[%d] is empty", i));
    }
    if (stop_strings[i].size() > kMaxStopStringBytes) {
      return absl::InvalidArgumentError(
          absl::StrFormat("stop_strings[%d] must be at most %d bytes, got %d", i,
                          kMaxStopStringBytes, stop_strings[i].size()));
    }
  }
  return absl::OkStatus();
}

StopMatcher::StopMatcher(std::vector<std::string> stop_strings)
    : stop_strings_(std::move(stop_strings)) {
  stop_strings_.erase(std::remove_if(stop_strings_.begin(), stop_strings_.end(),
                                     [](const std::string& s) { return s.empty(); }),
                      stop_strings_.end());
}

StopMatcher::Result StopMatcher::Push(std::string_view text) {
  Result result;
  if (stopped_) {
    result.stopped = true;
    result.matched = matched_;
    return result;
  }
  held_.append(text);
  // Everything before held_ was released only because no stop string could start there, so a
  // match can only lie inside held_. The first occurrence of each string is the earliest
  // one to complete.
  size_t best_end = std::string::npos;
  size_t best_start = 0;
  const std::string* best = nullptr;
  for (const std::string& stop : stop_strings_) {
    const size_t start = held_.find(stop);
    if (start == std::string::npos) continue;
    const size_t end = start + stop.size();
    if (best == nullptr || end < best_end || (end == best_end && start < best_start)) {
      best_end = end;
      best_start = start;
      best = &stop;
    }
  }
  if (best != nullptr) {
    result.emit = held_.substr(0, best_start);
    result.stopped = true;
    result.matched = *best;
    stopped_ = true;
    matched_ = *best;
    held_.clear();
    return result;
  }
  const size_t keep = HeldBackLength(held_);
  result.emit = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return result;
}

std::string StopMatcher::Flush() {
  std::string out;
  out.swap(held_);
  return out;
}

size_t StopMatcher::HeldBackLength(std::string_view text) const {
  size_t longest = 0;
  for (const std::string& stop : stop_strings_) {
    // Try the longest candidate suffix first; the first byte rejects most of them cheaply.
    for (size_t len = std::min(stop.size() - 1, text.size()); len > longest; --len) {
      const std::string_view suffix = text.substr(text.size() - len);
      if (suffix.front() == stop.front() && stop.compare(0, len, suffix) == 0) {
        longest = len;
        break;
      }
    }
  }
  return longest;
}

}  // namespace rwkv::engine
