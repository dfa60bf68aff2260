#include "client/cli_args.h"

#include <iterator>

#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"

namespace rwkv::client {
namespace {

constexpr absl::string_view kUsagePayloadUrl = "type.rwkv-serve/rwkv.client.UsageError";

}  // namespace

absl::Status UsageError(absl::string_view message) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kUsagePayloadUrl, absl::Cord());
  return status;
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsagePayloadUrl).has_value();
}

absl::StatusOr<std::vector<std::string>> ExtractRepeatedFlag(std::vector<char*>& args,
                                                             absl::string_view name) {
  std::vector<std::string> values;
  std::vector<char*> kept;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    absl::string_view flag = args[i];
    if (i > 0 && flag == "--") break;  // the rest is positional, whatever it looks like
    const bool is_flag =
        i > 0 && (absl::ConsumePrefix(&flag, "--") || absl::ConsumePrefix(&flag, "-"));
    if (is_flag && flag == name) {
      if (i + 1 == args.size()) return UsageError(absl::StrCat("--", name, " needs a value"));
      values.emplace_back(args[++i]);
    } else if (is_flag && absl::ConsumePrefix(&flag, name) && absl::ConsumePrefix(&flag, "=")) {
      values.emplace_back(flag);
    } else {
      kept.push_back(args[i]);
    }
  }
  kept.insert(kept.end(), args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  args = std::move(kept);
  return values;
}

absl::StatusOr<std::vector<std::string>> ParseStopStrings(const std::vector<std::string>& values) {
  std::vector<std::string> stops;
  for (const std::string& value : values) {
    for (absl::string_view item : absl::StrSplit(value, ',', absl::SkipEmpty())) {
      std::string unescaped;
      std::string error;
      if (!absl::CUnescape(item, &unescaped, &error)) {
        return UsageError(absl::StrCat("bad escape in --stop '", item, "': ", error));
      }
      stops.push_back(std::move(unescaped));
    }
  }
  return stops;
}

std::string PromptFromArgs(const std::vector<std::string>& words, std::istream& in) {
  if (words.empty() || (words.size() == 1 && words[0] == "-")) {
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return absl::StrJoin(words, " ");
}

absl::StatusOr<std::vector<int32_t>> ParseTokenIds(const std::vector<std::string>& words) {
  std::vector<int32_t> ids;
  for (const std::string& word : words) {
    for (absl::string_view item : absl::StrSplit(word, ',', absl::SkipEmpty())) {
      int32_t id = 0;
      if (!absl::SimpleAtoi(item, &id)) {
        return UsageError(absl::StrCat("not a token ID: '", item, "'"));
      }
      ids.push_back(id);
    }
  }
  return ids;
}

std::string FormatUnixTime(double seconds) {
  if (seconds == 0) return "never";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                          absl::FromUnixSeconds(static_cast<int64_t>(seconds)),
                          absl::UTCTimeZone());
}

}  // namespace rwkv::client
