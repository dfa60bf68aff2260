#include "common/process_memory.h"

#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace rwkv {
namespace {

// The value of a "Key:   1234 kB" line in bytes.
absl::StatusOr<int64_t> FindKib(const std::string& status, absl::string_view key) {
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    if (!absl::ConsumePrefix(&line, key) || !absl::ConsumePrefix(&line, ":")) continue;
    line = absl::StripAsciiWhitespace(line);
    int64_t kib = 0;
    if (!absl::ConsumeSuffix(&line, "kB") ||
        !absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &kib) || kib < 0 ||
        kib > (int64_t{1} << 52)) {
      return absl::InvalidArgumentError(absl::StrCat("malformed ", key, " line in process status"));
    }
    return kib * 1024;
  }
  return absl::NotFoundError(absl::StrCat("no ", key, " line in process status"));
}

}  // namespace

absl::StatusOr<ProcessMemory> ParseProcessStatus(const std::string& status) {
  const absl::StatusOr<int64_t> rss = FindKib(status, "VmRSS");
  if (!rss.ok()) return rss.status();
  const absl::StatusOr<int64_t> peak = FindKib(status, "VmHWM");
  if (!peak.ok()) return peak.status();
  return ProcessMemory{*rss, *peak};
}

absl::StatusOr<ProcessMemory> ReadProcessMemory() {
  std::ifstream file("/proc/self/status");
  if (!file.is_open()) return absl::UnavailableError("cannot read /proc/self/status");
  std::stringstream text;
  text << file.rdbuf();
  absl::StatusOr<ProcessMemory> memory = ParseProcessStatus(text.str());
  if (!memory.ok()) return absl::UnavailableError(memory.status().message());
  return memory;
}

}  // namespace rwkv
