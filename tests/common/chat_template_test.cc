// The RWKV World chat format: one user turn after each kind of history (rwkv-cli chat), and a
// whole message list (the HTTP server's chat completions).
#include "common/chat_template.h"

#include "gtest/gtest.h"

namespace rwkv {
namespace {

TEST(ChatTemplateTest, OneTurnIsFramedAfterWhatTheStateHasSeen) {
  EXPECT_EQ(ChatTurnPrompt("hi", ChatHistory::kEmpty), "User: hi\n\nAssistant:");
  EXPECT_EQ(ChatTurnPrompt("and you?", ChatHistory::kUserTagSeen), " and you?\n\nAssistant:");
  EXPECT_EQ(ChatTurnPrompt("more", ChatHistory::kOther), "\n\nUser: more\n\nAssistant:");
}

TEST(ChatTemplateTest, MessagesAreJoinedWithBlankLines) {
  absl::StatusOr<std::string> prompt =
      RenderChat({{"system", "Be terse."}, {"user", "hi"}, {"assistant", "Hello."},
                  {"user", "and you?"}},
                 ChatHistory::kEmpty);
  ASSERT_TRUE(prompt.ok()) << prompt.status();
  EXPECT_EQ(*prompt,
            "System: Be terse.\n\nUser: hi\n\nAssistant: Hello.\n\nUser: and you?\n\nAssistant:");
}

TEST(ChatTemplateTest, OneUserMessageMatchesTheCliTurn) {
  for (ChatHistory history : {ChatHistory::kEmpty, ChatHistory::kUserTagSeen, ChatHistory::kOther}) {
    absl::StatusOr<std::string> prompt = RenderChat({{"user", "hi"}}, history);
    ASSERT_TRUE(prompt.ok()) << prompt.status();
    EXPECT_EQ(*prompt, ChatTurnPrompt("hi", history));
  }
}

TEST(ChatTemplateTest, BlankLinesInsideAMessageAreFolded) {
  absl::StatusOr<std::string> prompt =
      RenderChat({{"user", "a\n\nb\r\n\r\n\r\nc\nd"}}, ChatHistory::kEmpty);
  ASSERT_TRUE(prompt.ok()) << prompt.status();
  EXPECT_EQ(*prompt, "User: a\nb\nc\nd\n\nAssistant:");
}

TEST(ChatTemplateTest, RefusesAnUnknownRoleAndNoMessages) {
  absl::StatusOr<std::string> prompt =
      RenderChat({{"user", "hi"}, {"tool", "x"}}, ChatHistory::kEmpty);
  ASSERT_FALSE(prompt.ok());
  EXPECT_EQ(prompt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(prompt.status().message().find("messages[1].role"), absl::string_view::npos);
  EXPECT_EQ(RenderChat({}, ChatHistory::kEmpty).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rwkv
