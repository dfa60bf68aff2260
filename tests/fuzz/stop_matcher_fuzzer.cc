// Fuzzes StopMatcher (engine/sampler/stop_matcher.h) against a direct reference: the stream of
// decoded pieces is known whole, so the stop string that completes first can be found in it with
// std::string::find, and what the matcher streams must be exactly the text before it.
//
// Input (tests/fuzz/fuzz_input.h): a byte whose value mod 20 is the number of stop strings, that
// many chunks (the stop strings; empty ones are ignored, as the matcher does), then one chunk per
// decoded piece pushed, to the end of the input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/sampler/stop_matcher.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

struct Expected {
  bool stopped = false;
  size_t start = 0;  // of the winning stop string in the whole text
  std::string matched;
};

// The documented rule over the whole text: earliest end wins, then the longest (earliest start).
Expected Reference(const std::vector<std::string>& stops, const std::string& text) {
  Expected expected;
  size_t best_end = 0;
  for (const std::string& stop : stops) {
    if (stop.empty()) continue;
    const size_t start = text.find(stop);
    if (start == std::string::npos) continue;
    const size_t end = start + stop.size();
    if (!expected.stopped || end < best_end || (end == best_end && start < expected.start)) {
      expected = {true, start, stop};
      best_end = end;
    }
  }
  return expected;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rwkv::fuzz::FuzzInput in(data, size);
  std::vector<std::string> stops(in.Byte() % 20);
  for (std::string& stop : stops) stop = std::string(in.Chunk());
  (void)rwkv::engine::ValidateStopStrings(stops);

  rwkv::engine::StopMatcher matcher(stops);
  std::string text, emitted, matched;
  bool stopped = false;
  while (!in.empty()) {
    const std::string_view piece = in.Chunk();
    text.append(piece);
    const rwkv::engine::StopMatcher::Result result = matcher.Push(piece);
    FUZZ_CHECK(!stopped || (result.stopped && result.emit.empty()), "output after the stop");
    if (stopped) continue;
    emitted += result.emit;
    stopped = result.stopped;
    matched = result.matched;
  }
  const std::string flushed = matcher.Flush();

  const Expected expected = Reference(stops, text);
  FUZZ_CHECK(stopped == expected.stopped, "stopped " << stopped << ", expected "
                                                     << expected.stopped);
  if (stopped) {
    FUZZ_CHECK(matched == expected.matched, "matched '" << matched << "', expected '"
                                                        << expected.matched << "'");
    FUZZ_CHECK(emitted == text.substr(0, expected.start), "emitted text differs");
    FUZZ_CHECK(flushed.empty(), "held-back text after the stop");
  } else {
    FUZZ_CHECK(emitted + flushed == text, "text lost or changed without a stop");
  }
  return 0;
}
