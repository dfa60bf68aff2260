#include "common/chat_template.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace rwkv {
namespace {

// "\r\n" to "\n", then every run of blank lines folded, so that no "\n\n" survives.
std::string FoldBlankLines(absl::string_view content) {
  std::string text = absl::StrReplaceAll(content, {{"\r\n", "\n"}});
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\n' && !out.empty() && out.back() == '\n') continue;
    out.push_back(c);
  }
  return out;
}

absl::StatusOr<absl::string_view> RoleTag(absl::string_view role, size_t index) {
  if (role == "system") return "System";
  if (role == "user") return "User";
  if (role == "assistant") return "Assistant";
  return absl::InvalidArgumentError(absl::StrCat(
      "messages[", index, "].role must be \"system\", \"user\" or \"assistant\""));
}

}  // namespace

std::string ChatTurnPrompt(absl::string_view line, ChatHistory history) {
  switch (history) {
    case ChatHistory::kEmpty:
      return absl::StrCat("User: ", line, "\n\nAssistant:");
    case ChatHistory::kUserTagSeen:
      return absl::StrCat(" ", line, "\n\nAssistant:");
    case ChatHistory::kOther:
      break;
  }
  return absl::StrCat("\n\nUser: ", line, "\n\nAssistant:");
}

absl::StatusOr<std::string> RenderChat(const std::vector<ChatMessage>& messages,
                                       ChatHistory history) {
  if (messages.empty()) return absl::InvalidArgumentError("messages is empty");
  std::string prompt;
  for (size_t i = 0; i < messages.size(); ++i) {
    absl::StatusOr<absl::string_view> tag = RoleTag(messages[i].role, i);
    if (!tag.ok()) return tag.status();
    const std::string content = FoldBlankLines(messages[i].content);
    if (i == 0 && history == ChatHistory::kUserTagSeen && *tag == "User") {
      absl::StrAppend(&prompt, " ", content);
      continue;
    }
    const bool first = i == 0 && history == ChatHistory::kEmpty;
    absl::StrAppend(&prompt, first ? "" : "\n\n", *tag, ": ", content);
  }
  absl::StrAppend(&prompt, "\n\nAssistant:");
  return prompt;
}

}  // namespace rwkv
