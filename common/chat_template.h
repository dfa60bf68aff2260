// The RWKV World chat format, in one place for every front end (rwkv-cli chat, the HTTP
// server's /v1/chat/completions):
//
//   System: You are terse.\n\nUser: hi\n\nAssistant: Hello.\n\nUser: and you?\n\nAssistant:
//
// Each message is "<Role>: <content>"; messages are separated by "\n\n", which is why a "\n\n"
// inside a content is folded to "\n" (the model reads "\n\n" as the end of a turn). A prompt
// always ends with "\n\nAssistant:" (or "Assistant:" alone), and the reply is generated until the
// stop string kChatStop.
//
//   std::string prompt = ChatTurnPrompt("hi", ChatHistory::kEmpty);   // "User: hi\n\nAssistant:"
//   absl::StatusOr<std::string> p = RenderChat({{"system", "Be terse."}, {"user", "hi"}},
//                                              ChatHistory::kEmpty);
#ifndef RWKV_COMMON_CHAT_TEMPLATE_H_
#define RWKV_COMMON_CHAT_TEMPLATE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rwkv {

// What a chat session's state has seen last, which decides how the next turn is framed.
enum class ChatHistory {
  kEmpty,        // a new session (or none): nothing before the first turn
  kUserTagSeen,  // the last reply ended on the stop string "\n\nUser:", which the model produced
  kOther,        // anything else: a reply cut by max tokens or end-of-text, a resumed session
};

// Where the model's reply ends: the start of the next user turn.
inline constexpr absl::string_view kChatStop = "\n\nUser:";

// The prompt of one user turn: "User: <line>\n\nAssistant:", preceded by "\n\n" unless the
// session is empty, or only " <line>\n\nAssistant:" when the state already ends with
// "\n\nUser:" (the tokens of a matched stop string are part of the session, so repeating them
// would show the model "User:" twice).
std::string ChatTurnPrompt(absl::string_view line, ChatHistory history);

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// The prompt for `messages` (at least one), continuing a state that has seen `history`: each
// message framed as above, then "\n\nAssistant:". INVALID_ARGUMENT naming messages[i].role for
// an unknown role. A first user message after kUserTagSeen continues the "User:" already seen.
absl::StatusOr<std::string> RenderChat(const std::vector<ChatMessage>& messages,
                                       ChatHistory history);

}  // namespace rwkv

#endif  // RWKV_COMMON_CHAT_TEMPLATE_H_
