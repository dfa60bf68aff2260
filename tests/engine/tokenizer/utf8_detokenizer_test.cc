#include "engine/tokenizer/utf8_detokenizer.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rwkv::engine {
namespace {

constexpr std::string_view kFffd = "\xEF\xBF\xBD";

// Pushes each piece, checks every output is valid UTF-8, and returns everything including Flush.
std::string Stream(const std::vector<std::string>& pieces) {
  Utf8Detokenizer detok;
  std::string out;
  for (const std::string& piece : pieces) {
    const std::string emitted = detok.Push(piece);
    EXPECT_TRUE(IsValidUtf8(emitted)) << piece;
    out += emitted;
  }
  const std::string tail = detok.Flush();
  EXPECT_TRUE(IsValidUtf8(tail));
  return out + tail;
}

std::string Repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(IsValidUtf8Test, AcceptsWellFormedText) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ASCII"));
  EXPECT_TRUE(IsValidUtf8("é 你好 😀 \xF4\x8F\xBF\xBF"));  // up to U+10FFFF
  EXPECT_TRUE(IsValidUtf8(std::string_view("\0", 1)));
}

TEST(IsValidUtf8Test, RejectsIllFormedText) {
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(IsValidUtf8("\xF5\x80\x80\x80"));
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_FALSE(IsValidUtf8("abc\xE4\xBD"));  // truncated at the end
}

TEST(Utf8DetokenizerTest, OneByteAtATimeNeverSplitsACharacter) {
  const std::string text = "a é 你好 😀 z";
  Utf8Detokenizer detok;
  std::string out;
  for (char c : text) {
    const std::string emitted = detok.Push(std::string(1, c));
    EXPECT_TRUE(IsValidUtf8(emitted));
    EXPECT_LE(detok.held_bytes(), 3u);
    out += emitted;
  }
  EXPECT_EQ(detok.Flush(), "");
  EXPECT_EQ(out, text);
}

TEST(Utf8DetokenizerTest, EmojiSplitAcrossThreePushes) {
  Utf8Detokenizer detok;
  EXPECT_EQ(detok.Push("ok \xF0\x9F"), "ok ");
  EXPECT_EQ(detok.held_bytes(), 2u);
  EXPECT_EQ(detok.Push("\x98"), "");
  EXPECT_EQ(detok.Push("\x80!"), "😀!");
  EXPECT_EQ(detok.Flush(), "");
}

TEST(Utf8DetokenizerTest, InvalidBytesBecomeOneReplacementPerMaximalSubpart) {
  const std::string r(kFffd);
  // Table 3-8 of Unicode §3.9: truncated sequences F1 80 80 and E1 80 are one subpart each.
  EXPECT_EQ(Stream({"a\xF1\x80\x80\xE1\x80\xC2"
                    "b\x80"
                    "c\x80\xBF"
                    "d"}),
            absl::StrCat("a", r, r, r, "b", r, "c", r, r, "d"));
  EXPECT_EQ(Stream({"\xC0\xAF"}), Repeat(kFffd, 2));          // overlong: C0 is never valid
  EXPECT_EQ(Stream({"\xE0\x80\xAF"}), Repeat(kFffd, 3));      // overlong three-byte form
  EXPECT_EQ(Stream({"\xED\xA0\x80"}), Repeat(kFffd, 3));      // surrogate U+D800
  EXPECT_EQ(Stream({"\xF4\x90\x80\x80"}), Repeat(kFffd, 4));  // above U+10FFFF
  EXPECT_EQ(Stream({"\xFF\xFEok"}), Repeat(kFffd, 2) + "ok");
}

TEST(Utf8DetokenizerTest, InvalidContinuationArrivingLater) {
  Utf8Detokenizer detok;
  EXPECT_EQ(detok.Push("x\xE4\xBD"), "x");
  // The held bytes can no longer complete: one U+FFFD, then the new byte is decoded afresh.
  EXPECT_EQ(detok.Push("y"), std::string(kFffd) + "y");
  EXPECT_EQ(detok.held_bytes(), 0u);
}

TEST(Utf8DetokenizerTest, FlushReplacesDanglingLeadByte) {
  Utf8Detokenizer detok;
  EXPECT_EQ(detok.Push("abc\xE4"), "abc");
  EXPECT_EQ(detok.Flush(), kFffd);
  EXPECT_EQ(detok.Flush(), "");
  // A truncated four-byte sequence is a single subpart, so a single U+FFFD.
  EXPECT_EQ(detok.Push("\xF0\x9F\x98"), "");
  EXPECT_EQ(detok.Flush(), kFffd);
  // After a flush the detokenizer starts clean.
  EXPECT_EQ(detok.Push("\x80"), kFffd);
}

TEST(Utf8DetokenizerTest, OutputDoesNotDependOnHowBytesAreSplit) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> chunk(0, 5);
  for (int trial = 0; trial < 500; ++trial) {
    // Mix valid text with random bytes so both paths are exercised.
    std::string bytes = "é😀你";
    for (int i = 0; i < 40; ++i) bytes.push_back(static_cast<char>(byte(rng)));
    std::vector<std::string> pieces;
    for (size_t pos = 0; pos < bytes.size();) {
      const size_t n = std::min<size_t>(chunk(rng), bytes.size() - pos);
      pieces.push_back(bytes.substr(pos, n));
      pos += n;
    }
    const std::string whole = Stream({bytes});
    EXPECT_TRUE(IsValidUtf8(whole));
    EXPECT_EQ(Stream(pieces), whole);
  }
}

TEST(Utf8DetokenizerTest, ValidTextPassesThroughUnchanged) {
  const std::string text = "Привет 以下は 👩‍👩‍👧 e\u0301";
  EXPECT_EQ(Stream({text}), text);
  EXPECT_EQ(Stream({text.substr(0, 5), text.substr(5, 7), text.substr(12)}), text);
}

}  // namespace
}  // namespace rwkv::engine
