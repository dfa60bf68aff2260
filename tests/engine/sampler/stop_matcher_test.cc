#include "engine/sampler/stop_matcher.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace rwkv::engine {
namespace {

// Feeds `pieces` one by one; returns everything emitted (before Flush) and the final result.
struct FeedResult {
  std::string emitted;
  bool stopped = false;
  std::string matched;
  int stopped_at = -1;  // index of the piece that completed the stop
};

FeedResult Feed(StopMatcher& matcher, const std::vector<std::string>& pieces) {
  FeedResult run;
  for (size_t i = 0; i < pieces.size(); ++i) {
    StopMatcher::Result result = matcher.Push(pieces[i]);
    run.emitted += result.emit;
    if (result.stopped) {
      run.stopped = true;
      run.matched = result.matched;
      run.stopped_at = static_cast<int>(i);
      break;
    }
  }
  return run;
}

TEST(StopMatcherTest, NoStopStringsPassesTextThrough) {
  StopMatcher matcher({});
  EXPECT_EQ(matcher.Push("hello ").emit, "hello ");
  EXPECT_EQ(matcher.Push("world").emit, "world");
  EXPECT_EQ(matcher.Flush(), "");
}

TEST(StopMatcherTest, EmptyStopStringsAreIgnored) {
  StopMatcher matcher({"", ""});
  StopMatcher::Result result = matcher.Push("abc");
  EXPECT_EQ(result.emit, "abc");
  EXPECT_FALSE(result.stopped);
}

TEST(StopMatcherTest, StopWithinOnePush) {
  StopMatcher matcher({"STOP"});
  StopMatcher::Result result = matcher.Push("Hello STOP world");
  EXPECT_EQ(result.emit, "Hello ");
  EXPECT_TRUE(result.stopped);
  EXPECT_EQ(result.matched, "STOP");
  EXPECT_EQ(matcher.Flush(), "");
}

TEST(StopMatcherTest, StopAtTheVeryStart) {
  StopMatcher matcher({"\n\n"});
  StopMatcher::Result result = matcher.Push("\n\nmore");
  EXPECT_EQ(result.emit, "");
  EXPECT_TRUE(result.stopped);
}

TEST(StopMatcherTest, StopSplitAcrossTwoPushes) {
  StopMatcher matcher({"STOP"});
  FeedResult run = Feed(matcher, {"Hello ST", "OP and more"});
  EXPECT_EQ(run.emitted, "Hello ");
  EXPECT_TRUE(run.stopped);
  EXPECT_EQ(run.stopped_at, 1);
}

TEST(StopMatcherTest, StopSplitAcrossThreePushes) {
  StopMatcher matcher({"STOP"});
  EXPECT_EQ(matcher.Push("Hi S").emit, "Hi ");
  EXPECT_EQ(matcher.Push("T").emit, "");
  StopMatcher::Result result = matcher.Push("OP!");
  EXPECT_EQ(result.emit, "");
  EXPECT_TRUE(result.stopped);
}

TEST(StopMatcherTest, StopSplitAcrossFourPushes) {
  StopMatcher matcher({"</end>"});
  FeedResult run = Feed(matcher, {"x </", "e", "n", "d> tail"});
  EXPECT_EQ(run.emitted, "x ");
  EXPECT_TRUE(run.stopped);
  EXPECT_EQ(run.stopped_at, 3);
  EXPECT_EQ(run.matched, "</end>");
}

TEST(StopMatcherTest, PartialPrefixIsHeldThenReleased) {
  StopMatcher matcher({"STOP"});
  StopMatcher::Result first = matcher.Push("abST");
  EXPECT_EQ(first.emit, "ab");
  EXPECT_FALSE(first.stopped);
  StopMatcher::Result second = matcher.Push("AR");
  EXPECT_EQ(second.emit, "STAR");
  EXPECT_FALSE(second.stopped);
}

TEST(StopMatcherTest, ReleasesOnlyWhatCanNoLongerStartAStop) {
  // Of "aa" only the last "a" could still become "abc"; then "ab" could, then nothing can.
  StopMatcher matcher({"abc"});
  EXPECT_EQ(matcher.Push("aa").emit, "a");
  EXPECT_EQ(matcher.Push("b").emit, "");
  EXPECT_EQ(matcher.Push("x").emit, "abx");
}

TEST(StopMatcherTest, FlushReleasesHeldText) {
  StopMatcher matcher({"STOP"});
  EXPECT_EQ(matcher.Push("the end ST").emit, "the end ");
  EXPECT_EQ(matcher.Flush(), "ST");
  EXPECT_EQ(matcher.Flush(), "");
}

TEST(StopMatcherTest, EarliestCompletingMatchWins) {
  StopMatcher matcher({"abc", "ab"});
  FeedResult run = Feed(matcher, {"xa", "bc"});
  EXPECT_EQ(run.emitted, "x");
  EXPECT_EQ(run.matched, "ab");
}

TEST(StopMatcherTest, ShorterLaterStringCompletesFirst) {
  // "abcd" is pending when "bc" completes inside it; the text before "bc" is emitted.
  StopMatcher matcher({"abcd", "bc"});
  FeedResult run = Feed(matcher, {"1ab", "c", "d"});
  EXPECT_EQ(run.emitted, "1a");
  EXPECT_TRUE(run.stopped);
  EXPECT_EQ(run.matched, "bc");
  EXPECT_EQ(run.stopped_at, 1);
}

TEST(StopMatcherTest, SameEndPrefersTheLongerString) {
  StopMatcher matcher({"c", "abc"});
  StopMatcher::Result result = matcher.Push("xxabcyy");
  EXPECT_EQ(result.emit, "xx");
  EXPECT_EQ(result.matched, "abc");
}

TEST(StopMatcherTest, AbandonedCandidateLetsAnotherMatch) {
  StopMatcher matcher({"abc", "bd"});
  FeedResult run = Feed(matcher, {"ab", "d"});
  EXPECT_EQ(run.emitted, "a");
  EXPECT_EQ(run.matched, "bd");
}

TEST(StopMatcherTest, MultiByteUtf8StopSplitInsideCharacters) {
  const std::string stop = "停止";  // 6 bytes: E5 81 9C E6 AD A2
  ASSERT_EQ(stop.size(), 6u);
  StopMatcher matcher({stop});
  const std::string text = "你好" + stop + "再见";
  // Split every 2 bytes, cutting through the middle of characters.
  std::vector<std::string> pieces;
  for (size_t i = 0; i < text.size(); i += 2) pieces.push_back(text.substr(i, 2));
  FeedResult run = Feed(matcher, pieces);
  EXPECT_EQ(run.emitted, "你好");
  EXPECT_TRUE(run.stopped);
  EXPECT_EQ(run.matched, stop);
}

TEST(StopMatcherTest, MultiByteUtf8PrefixNotCompletingIsReleased) {
  StopMatcher matcher({"停止"});
  EXPECT_EQ(matcher.Push("a停").emit, "a");
  EXPECT_EQ(matcher.Push("车").emit, "停车");
  EXPECT_EQ(matcher.Flush(), "");
}

TEST(StopMatcherTest, PushAfterStopEmitsNothing) {
  StopMatcher matcher({"X"});
  EXPECT_TRUE(matcher.Push("aXb").stopped);
  StopMatcher::Result after = matcher.Push("more");
  EXPECT_EQ(after.emit, "");
  EXPECT_TRUE(after.stopped);
  EXPECT_EQ(after.matched, "X");
  EXPECT_EQ(matcher.Flush(), "");
}

TEST(StopMatcherTest, AnySplitMatchesWholeTextSearch) {
  const std::vector<std::string> stops = {"<|end|>", "end", "\n\nUser:"};
  const std::string text = "Some text with <|en and \n\nUse but then <|end|> trailing";
  const std::string expected = "Some text with <|en and \n\nUse but then <|";  // "end" first
  uint32_t rng = 12345;
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<std::string> pieces;
    for (size_t pos = 0; pos < text.size();) {
      rng = rng * 1664525u + 1013904223u;
      const size_t len = 1 + (rng >> 16) % 5;
      pieces.push_back(text.substr(pos, len));
      pos += len;
    }
    StopMatcher matcher(stops);
    FeedResult run = Feed(matcher, pieces);
    EXPECT_EQ(run.emitted, expected) << "trial " << trial;
    EXPECT_EQ(run.matched, "end");
  }
}

TEST(ValidateStopStringsTest, AcceptsValidStrings) {
  EXPECT_TRUE(ValidateStopStrings({}).ok());
  EXPECT_TRUE(ValidateStopStrings({"\n\n", std::string(kMaxStopStringBytes, 'x')}).ok());
  EXPECT_TRUE(ValidateStopStrings(std::vector<std::string>(kMaxStopStrings, "s")).ok());
}

TEST(ValidateStopStringsTest, RejectsTooMany) {
  const absl::Status status =
      ValidateStopStrings(std::vector<std::string>(kMaxStopStrings + 1, "s"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("at most 16"), std::string::npos) << status.message();
}

TEST(ValidateStopStringsTest, RejectsEmpty) {
  const absl::Status status = ValidateStopStrings({"ok", ""});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("stop_strings[1] is empty"), std::string::npos)
      << status.message();
}

TEST(ValidateStopStringsTest, RejectsTooLong) {
  const absl::Status status = ValidateStopStrings({std::string(kMaxStopStringBytes + 1, 'x')});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("at most 256 bytes, got 257"), std::string::npos)
      << status.message();
}

}  // namespace
}  // namespace rwkv::engine
