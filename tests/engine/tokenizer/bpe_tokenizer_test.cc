#include "engine/tokenizer/bpe_tokenizer.h"

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "engine/tokenizer/bpe_pretokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/util/shared_data.h"

namespace rwkv::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class BpeTokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<BpeTokenizer>> loaded =
        BpeTokenizer::Load(rwkv::testing::SharedPath("tokenizers/20B_tokenizer.json"));
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    tokenizer_ = loaded->release();
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    tokenizer_ = nullptr;
  }

  static std::vector<int32_t> Encode(std::string_view text) {
    absl::StatusOr<std::vector<int32_t>> ids = tokenizer_->Encode(text);
    EXPECT_TRUE(ids.ok()) << ids.status();
    return ids.ok() ? *ids : std::vector<int32_t>();
  }
  static std::string RoundTrip(std::string_view text) {
    absl::StatusOr<std::string> decoded = tokenizer_->Decode(Encode(text));
    EXPECT_TRUE(decoded.ok()) << decoded.status();
    return decoded.ok() ? *decoded : "";
  }

  static BpeTokenizer* tokenizer_;
};

BpeTokenizer* BpeTokenizerTest::tokenizer_ = nullptr;

// Every case of the reference file, made by an independent implementation (Tokenizers.js).
TEST_F(BpeTokenizerTest, ReproducesEveryReferenceCase) {
  absl::StatusOr<std::string> contents =
      rwkv::testing::ReadFileBytes(rwkv::testing::SharedPath("reference/tokenizer-20b.json"));
  ASSERT_TRUE(contents.ok()) << contents.status();
  const nlohmann::json reference = nlohmann::json::parse(*contents);
  ASSERT_EQ(reference.at("tokenizer").get<std::string>(), "20B_tokenizer.json");
  const nlohmann::json& cases = reference.at("cases");
  ASSERT_GE(cases.size(), 12u);
  for (const nlohmann::json& c : cases) {
    const std::string text = c.at("text").get<std::string>();
    EXPECT_EQ(Encode(text), c.at("ids").get<std::vector<int32_t>>()) << "text: " << text;
    // End-of-text decodes to nothing, like every tokenizer's; all else comes back.
    EXPECT_EQ(RoundTrip(text), absl::StrReplaceAll(text, {{"<|endoftext|>", ""}}));
  }
}

// More encodings made with Tokenizers.js 0.2.0 on generated text: NFC (e + U+0301, Hangul jamo),
// contractions, space runs as added tokens, special tokens mid-text, emoji, letters/numbers of
// other scripts. (Left out: U+0085 and U+FEFF, where Tokenizers.js uses JavaScript's \s and the
// Rust `tokenizers` uses Oniguruma's, i.e. Unicode White_Space, which we follow.)
TEST_F(BpeTokenizerTest, MatchesTokenizersJsOnGeneratedText) {
  using namespace std::string_literals;  // the texts may hold NUL
  struct Case {
    std::string text;
    std::vector<int32_t> ids;
  };
  const std::vector<Case> cases = {
      {"\xC3\x85$e\xCC\x81<|endoftext|><|padding|>'d \x0A 456\xCA\xB0\x0A\xE6\x9D\xB1\xE4\xBA\xAC"s,
       {18221, 5, 860, 0, 1, 1871, 2490, 38094, 134, 110, 187, 12676, 111, 5494, 107}},
      {"e\xCC\x81"s, {860}},
      {"\xF0\x9F\x87\xBA\xF0\x9F\x87\xB8\xC7\x85\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD '   "s,
       {14931, 218, 120, 14931, 218, 118, 131, 216, 14931, 228, 224, 14931, 226, 123, 686, 50275}},
      {"                              '''m'ree\xCC\x81\xE2\x80\x8B \x0A\xC7\x85\xE2\x85\xAB"s,
       {50254, 50272, 35033, 78, 1472, 860, 12882, 209, 187, 131, 216, 158, 216, 106}},
      {"\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82\xCA\xB0\xC3\x9F\xC3\x9F\x00\xC2\xBD've\xEF\xAC\x81 \x0A"s,
       {21715, 1697, 16423, 7508, 134, 110, 10278, 10278, 177, 8313, 1849, 46992, 212, 2490}},
      {"<|endoftext|>don't't '\xC3\x85"s, {0, 9903, 626, 626, 686, 18221}},
      {"\xE1\x84\x80\xE1\x85\xA1"s, {35061}},
      {"D h 1 \xE2\x80\xA0 ! . 1 '   "s, {37, 288, 337, 31038, 2195, 964, 337, 686, 50275}},
      {"\xE2\x81\x90 < e E / 1 Y R i # U l ! "s,
       {25086, 227, 654, 299, 444, 1227, 337, 714, 416, 891, 1852, 530, 298, 2195, 209}},
      {"\" "s, {3, 209}},
      {"m B H B # ] U o ; U | 9 p "s,
       {78, 378, 388, 378, 1852, 5032, 530, 258, 3706, 530, 1040, 898, 268, 209}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Encode(c.text), c.ids) << "text: " << c.text;
  }
}

TEST_F(BpeTokenizerTest, VocabularyAndSpecialTokens) {
  EXPECT_EQ(tokenizer_->Name(), "bpe");
  EXPECT_EQ(tokenizer_->VocabSize(), 50277);
  EXPECT_EQ(tokenizer_->EndOfTextToken(), 0);
  EXPECT_EQ(*tokenizer_->TokenBytes(0), "");
  EXPECT_EQ(*tokenizer_->TokenBytes(1), "<|padding|>");
  EXPECT_EQ(*tokenizer_->TokenBytes(12092), "Hello");
  EXPECT_EQ(*tokenizer_->TokenBytes(3645), " World");
  EXPECT_EQ(*tokenizer_->TokenBytes(50254), std::string(24, ' '));
  EXPECT_EQ(*tokenizer_->TokenBytes(50276), "  ");
  EXPECT_EQ(tokenizer_->TokenBytes(50277).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tokenizer_->TokenBytes(-1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(BpeTokenizerTest, AddedTokensAreSplitOutLeftmostLongest) {
  EXPECT_THAT(Encode("<|endoftext|>"), ElementsAre(0));
  EXPECT_THAT(Encode("<|padding|><|endoftext|>"), ElementsAre(1, 0));
  EXPECT_THAT(Encode("a<|endoftext|>b"), ElementsAre(66, 0, 67));
  EXPECT_THAT(Encode("  "), ElementsAre(50276));
  EXPECT_THAT(Encode(std::string(24, ' ')), ElementsAre(50254));
  // 25 spaces: the longest run token, then one space, which is a word of its own.
  EXPECT_THAT(Encode(std::string(25, ' ')), ElementsAre(50254, 209));
  EXPECT_THAT(Encode("x   y"), ElementsAre(89, 50275, 90));
  EXPECT_THAT(Encode("<|endoftext"), ElementsAre(29, 93, 423, 1171, 1156));
  EXPECT_EQ(RoundTrip("<|padding|>x"), "<|padding|>x");
}

TEST_F(BpeTokenizerTest, EmptyInput) {
  EXPECT_THAT(Encode(""), IsEmpty());
  EXPECT_EQ(*tokenizer_->Decode({}), "");
}

TEST_F(BpeTokenizerTest, NormalizesToNfc) {
  // "e" + COMBINING ACUTE ACCENT composes to U+00E9 before encoding.
  EXPECT_EQ(Encode("cafe\xCC\x81"), Encode("caf\xC3\xA9"));
  EXPECT_EQ(RoundTrip("cafe\xCC\x81"), "caf\xC3\xA9");
  // Already NFC: unchanged. Hangul jamo compose to one syllable.
  EXPECT_EQ(NormalizeNfc("caf\xC3\xA9 \xE6\x9D\xB1"), "caf\xC3\xA9 \xE6\x9D\xB1");
  EXPECT_EQ(NormalizeNfc("\xE1\x84\x80\xE1\x85\xA1"), "\xEA\xB0\x80");
  // Invalid bytes stay, and the runs around them are normalized on their own. (Octal escapes
  // where a hex digit follows.)
  EXPECT_EQ(NormalizeNfc("e\xCC\x81\377e\xCC\x81"), "\xC3\xA9\xFF\xC3\xA9");
}

TEST_F(BpeTokenizerTest, InvalidUtf8NeverFailsAndKeepsItsBytes) {
  // Stray continuation bytes, truncated sequences, an overlong form, a surrogate: each invalid
  // byte is a character of its own and round-trips.
  for (const std::string text : {"\x80", "a\200b", "\xE6\x9D", "\346\235abc", "\xED\xA0\x80",
                                 "caf\xC3", "\xF0\x9F\x98", " \x80\x80 x"}) {
    EXPECT_EQ(RoundTrip(text), text) << absl::CEscape(text);
  }
  // The 13 bytes that never occur in UTF-8 have no token in 20B: each becomes U+FFFD.
  EXPECT_FALSE(tokenizer_->HasByteToken(0xC0));
  EXPECT_FALSE(tokenizer_->HasByteToken(0xFF));
  EXPECT_TRUE(tokenizer_->HasByteToken(0x80));
  EXPECT_EQ(RoundTrip("a\xC0\200b\xFF"), "a\xEF\xBF\xBD\200b\xEF\xBF\xBD");
  EXPECT_EQ(Encode("\xFF"), Encode("\xEF\xBF\xBD"));
}

TEST_F(BpeTokenizerTest, RoundTripsRandomBytes) {
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    std::mt19937 rng(seed);
    const size_t length = rng() % 300;
    std::string text, expected;
    for (size_t i = 0; i < length; ++i) {
      const auto byte = static_cast<uint8_t>(rng());
      text.push_back(static_cast<char>(byte));
      if (tokenizer_->HasByteToken(byte)) {
        expected.push_back(static_cast<char>(byte));
      } else {
        expected.append("\xEF\xBF\xBD");
      }
    }
    EXPECT_EQ(RoundTrip(text), NormalizeNfc(expected)) << "seed " << seed;
  }
}

TEST_F(BpeTokenizerTest, RoundTripsRandomTextExactly) {
  const std::vector<std::string> alphabet = {"a",
                                             "Z",
                                             " ",
                                             "  ",
                                             "\n",
                                             "\t",
                                             "'",
                                             "'s",
                                             "9",
                                             ".",
                                             "\xC3\xA9",
                                             "\xE6\x9D\xB1",
                                             "\xF0\x9F\x98\x80",
                                             "\x80",
                                             "\xD0\x9F",
                                             "<|",
                                             "|>",
                                             std::string(1, '\0')};
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    std::mt19937 rng(seed);
    std::string text;
    for (size_t i = rng() % 200; i > 0; --i) text += alphabet[rng() % alphabet.size()];
    EXPECT_EQ(RoundTrip(text), text) << "seed " << seed;
  }
}

TEST_F(BpeTokenizerTest, VeryLongWordsEncodeInPieces) {
  const std::string word(3 << 19, 'x');  // 1.5 MiB of one letter: one word, merged in 2 pieces
  EXPECT_EQ(RoundTrip(word), word);
}

TEST(BpePretokenizerTest, SplitsLikeTheGpt2Regex) {
  const auto split = [](std::string_view text) {
    std::vector<std::string_view> words;
    SplitGpt2Words(text, &words);
    return std::vector<std::string>(words.begin(), words.end());
  };
  EXPECT_THAT(split("I'm  ok"), ElementsAre("I", "'m", " ", " ok"));
  EXPECT_THAT(split("isn't it?"), ElementsAre("isn", "'t", " it", "?"));
  EXPECT_THAT(split("a 12 3.5!!"), ElementsAre("a", " 12", " 3", ".", "5", "!!"));
  EXPECT_THAT(split("x\n\ny"), ElementsAre("x", "\n", "\n", "y"));
  EXPECT_THAT(split("x   "), ElementsAre("x", "   "));
  EXPECT_THAT(split(" 's"), ElementsAre(" '", "s"));
  EXPECT_THAT(split("\xE6\x9D\xB1\xE4\xBA\xAC 2"), ElementsAre("\xE6\x9D\xB1\xE4\xBA\xAC", " 2"));
  EXPECT_THAT(split("a\x80\201b"), ElementsAre("a", "\x80\x81", "b"));
  EXPECT_THAT(split(""), IsEmpty());
}

// A tokenizer JSON small enough to edit in tests: the 256 bytes (by their byte-level characters),
// "ab", "abc" and " a"; `extra_model` overrides entries of "model", `added` is "added_tokens".
std::string SmallTokenizerJson(const std::string& extra_model = "",
                               const std::string& added = "[]") {
  // The byte-level character of each byte, as GPT-2 maps them.
  std::vector<std::string> chars;
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    const int cp = printable ? b : next++;
    std::string utf8;
    if (cp < 0x80) {
      utf8.push_back(static_cast<char>(cp));
    } else {
      utf8.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      utf8.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    chars.push_back(utf8);
  }
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[chars[b]] = b;
  vocab["ab"] = 256;
  vocab["abc"] = 257;
  vocab[chars[' '] + "a"] = 258;
  nlohmann::json doc = {
      {"added_tokens", nlohmann::json::parse(added)},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
      {"model",
       {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"a b", "ab c", chars[' '] + " a"}}}},
  };
  const nlohmann::json extra = nlohmann::json::parse(extra_model.empty() ? "{}" : extra_model);
  for (const auto& [key, value] : extra.items()) doc["model"][key] = value;
  return doc.dump();
}

TEST(BpeTokenizerSmallTest, MergesByRank) {
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> bpe =
      BpeTokenizer::Parse(SmallTokenizerJson(), "small.json");
  ASSERT_TRUE(bpe.ok()) << bpe.status();
  EXPECT_EQ((*bpe)->VocabSize(), 259);
  EXPECT_EQ((*bpe)->EndOfTextToken(), std::nullopt);
  // " ab": "a b" (rank 0) goes before "Ġ a" (rank 2), and " " + "ab" is not a merge.
  EXPECT_THAT(*(*bpe)->Encode("abc ab a"), ElementsAre(257, ' ', 256, 258));
  EXPECT_THAT(*(*bpe)->Encode("abd"), ElementsAre(256, 'd'));
  EXPECT_THAT(*(*bpe)->Encode("\xFF"), ElementsAre(0xFF));  // every byte has a token here
}

TEST(BpeTokenizerSmallTest, MergesGivenAsPairs) {
  const std::string json = SmallTokenizerJson(R"({"merges": [["a", "b"], ["ab", "c"]]})");
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> bpe = BpeTokenizer::Parse(json, "pairs.json");
  ASSERT_TRUE(bpe.ok()) << bpe.status();
  EXPECT_THAT(*(*bpe)->Encode("abc"), ElementsAre(257));
}

TEST(BpeTokenizerSmallTest, RefusesWhatItDoesNotImplement) {
  const auto error = [](const std::string& json) {
    absl::StatusOr<std::unique_ptr<BpeTokenizer>> bpe = BpeTokenizer::Parse(json, "bad.json");
    EXPECT_EQ(bpe.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(bpe.status().message()), HasSubstr("bad.json: "));
    return std::string(bpe.status().message());
  };
  EXPECT_THAT(error("{not json"), HasSubstr("not valid JSON"));
  EXPECT_THAT(error("[]"), HasSubstr("not a JSON object"));
  EXPECT_THAT(error("{}"), HasSubstr("normalizer"));
  EXPECT_THAT(error(SmallTokenizerJson(R"({"type": "Unigram"})")), HasSubstr("is not BPE"));
  EXPECT_THAT(error(SmallTokenizerJson(R"({"merges": ["a zz"]})")),
              HasSubstr("merge 0 (\"a\" \"zz\")"));
  EXPECT_THAT(error(SmallTokenizerJson(R"({"merges": ["abc"]})")), HasSubstr("not two tokens"));
  EXPECT_THAT(error(SmallTokenizerJson(R"({"vocab": {"a": 1, "\u4e00": 2}})")),
              HasSubstr("outside the byte map"));
  EXPECT_THAT(error(SmallTokenizerJson(R"({"vocab": {"a": 99999999}})")), HasSubstr("above"));
  EXPECT_THAT(error(SmallTokenizerJson(R"({"vocab": {"a": "one"}})")), HasSubstr("number"));
  EXPECT_THAT(error(SmallTokenizerJson(R"({"vocab": {"a": 0, "b": 1}, "merges": []})")),
              HasSubstr("no token for the byte 0xEF"));
  EXPECT_THAT(error(SmallTokenizerJson(
                  "", R"([{"id": 300, "content": "<x>", "lstrip": true, "special": true}])")),
              HasSubstr("lstrip"));
  EXPECT_THAT(error(SmallTokenizerJson("", R"([{"id": 5, "content": "zz", "special": true}])")),
              HasSubstr("id 5 is given to two different tokens"));
}

TEST(BpeTokenizerSmallTest, MissingFileIsNotFound) {
  EXPECT_EQ(BpeTokenizer::Load("/nonexistent/tokenizer.json").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace rwkv::engine
