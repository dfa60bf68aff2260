// Pure helpers of rwkv-cli's argument handling, kept apart from I/O so they can be unit-tested.
//
//   std::vector<char*> args(argv, argv + argc);
//   RWKV_ASSIGN_OR_RETURN(std::vector<std::string> raw, ExtractRepeatedFlag(args, "stop"));
//   RWKV_ASSIGN_OR_RETURN(std::vector<std::string> stops, ParseStopStrings(raw));
#ifndef RWKV_CLIENT_CLI_ARGS_H_
#define RWKV_CLIENT_CLI_ARGS_H_

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/chat_template.h"

namespace rwkv::client {

// A usage error: INVALID_ARGUMENT marked so that rwkv-cli can tell it from a server's
// INVALID_ARGUMENT and exit with status 2 instead of 1.
absl::Status UsageError(absl::string_view message);
bool IsUsageError(const absl::Status& status);

// Removes every occurrence of flag `name` ("--name VALUE", "--name=VALUE", or with one dash)
// from `args` (argv[0] first; scanning stops at "--") and returns the values in order.
// Abseil keeps only the last value of a repeated flag, hence this pass before it parses.
// A trailing "--name" without a value is a usage error.
absl::StatusOr<std::vector<std::string>> ExtractRepeatedFlag(std::vector<char*>& args,
                                                             absl::string_view name);

// Stop strings from --stop values: each value is a comma-separated list; each item is
// C-unescaped (so "\n\nUser:" means two newlines, and "\x2c" is a literal comma); empty items are
// skipped. A bad escape is a usage error.
absl::StatusOr<std::vector<std::string>> ParseStopStrings(const std::vector<std::string>& values);

// The words of a prompt joined with single spaces, or all of `in` when `words` is empty or is
// the single word "-".
std::string PromptFromArgs(const std::vector<std::string>& words, std::istream& in);

// Token IDs from words; each word may itself be a comma-separated list ("1 2,3"), so that the
// output of `tokenize` can be pasted back. Usage error for anything but integers.
absl::StatusOr<std::vector<int32_t>> ParseTokenIds(const std::vector<std::string>& words);

// A Unix time (seconds) as RFC 3339 in UTC, to the second; "never" for 0.
std::string FormatUnixTime(double seconds);

// The chat format lives in common/chat_template.h, shared with the HTTP server.
using ::rwkv::ChatHistory;
using ::rwkv::ChatTurnPrompt;
using ::rwkv::kChatStop;

}  // namespace rwkv::client

#endif  // RWKV_CLIENT_CLI_ARGS_H_
