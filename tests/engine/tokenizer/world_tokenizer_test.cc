#include "engine/tokenizer/world_tokenizer.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "engine/tokenizer/utf8_detokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/shared_data.h"

namespace rwkv::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

std::string WorldVocabPath() {
  return rwkv::testing::SharedPath("tokenizers/rwkv_vocab_v20230424.txt");
}

// Loading takes tens of milliseconds, so the suite shares one tokenizer.
class WorldTokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<WorldTokenizer>> loaded = WorldTokenizer::Load(WorldVocabPath());
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    tokenizer_ = std::move(loaded).value().release();
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    tokenizer_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(tokenizer_, nullptr); }

  std::vector<int32_t> Encode(std::string_view text) const {
    absl::StatusOr<std::vector<int32_t>> ids = tokenizer_->Encode(text);
    EXPECT_TRUE(ids.ok()) << ids.status();
    return ids.ok() ? *ids : std::vector<int32_t>();
  }
  std::string Decode(const std::vector<int32_t>& ids) const {
    absl::StatusOr<std::string> text = tokenizer_->Decode(ids);
    EXPECT_TRUE(text.ok()) << text.status();
    return text.ok() ? *text : "";
  }
  void ExpectRoundTrip(std::string_view text) const { EXPECT_EQ(Decode(Encode(text)), text); }

  static WorldTokenizer* tokenizer_;
};

WorldTokenizer* WorldTokenizerTest::tokenizer_ = nullptr;

TEST_F(WorldTokenizerTest, BasicProperties) {
  EXPECT_EQ(tokenizer_->Name(), "world");
  EXPECT_EQ(tokenizer_->VocabSize(), 65536);
  EXPECT_EQ(tokenizer_->EndOfTextToken(), 0);
  EXPECT_EQ(*tokenizer_->TokenBytes(0), "");
  EXPECT_EQ(*tokenizer_->TokenBytes(65529), std::string(128, ' '));
  EXPECT_EQ(Decode({0, 33155, 0}), "Hello");
  EXPECT_TRUE(Encode("").empty());
}

TEST_F(WorldTokenizerTest, MatchesReferenceTokenizations) {
  absl::StatusOr<std::string> json =
      rwkv::testing::ReadFileBytes(rwkv::testing::SharedPath("reference/tokenizer-world.json"));
  ASSERT_TRUE(json.ok()) << json.status();
  google::protobuf::Struct root;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &root).ok());
  const auto& cases = root.fields().at("cases").list_value().values();
  ASSERT_EQ(cases.size(), 12);
  for (const google::protobuf::Value& c : cases) {
    const std::string& text = c.struct_value().fields().at("text").string_value();
    std::vector<int32_t> expected;
    for (const google::protobuf::Value& id :
         c.struct_value().fields().at("ids").list_value().values()) {
      expected.push_back(static_cast<int32_t>(id.number_value()));
    }
    EXPECT_THAT(Encode(text), ElementsAreArray(expected)) << text;
    EXPECT_EQ(Decode(expected), text);
  }
}

// The table of rwkv-architecture.md §8.1 (rwkv.cpp's rwkv_world_tokenizer.test.py).
TEST_F(WorldTokenizerTest, MatchesSpecTestVectors) {
  EXPECT_THAT(Encode("Hello world"), ElementsAre(33155, 40213));
  EXPECT_THAT(Encode("\n\nUser: hi"), ElementsAre(261, 24281, 59, 4571));
  EXPECT_THAT(Encode("\"in"), ElementsAre(35, 1950));
  EXPECT_THAT(Encode(std::string_view("a\0b", 3)), ElementsAre(98, 1, 99));
  EXPECT_THAT(Encode("I'll 'd test блабла 以下は、]) -> <|endoftext|><|padding|> int"),
              ElementsAre(74, 5229, 274, 101, 32223, 5092, 27980, 2795, 27980, 33, 10399, 10258,
                          10139, 10079, 1682, 3463, 295, 125, 25258, 7588, 2318, 125, 790, 125,
                          49520, 125, 63, 21888));
}

TEST_F(WorldTokenizerTest, TakesTheLongestMatch) {
  EXPECT_THAT(Encode("Hello"), ElementsAre(33155));
  // Cutting the text leaves the longest token that still fits.
  EXPECT_THAT(Encode("Hell"), ElementsAre(23725));
  EXPECT_THAT(Encode("Hel"), ElementsAre(6003));
  EXPECT_THAT(Encode("He"), ElementsAre(1095));
  EXPECT_THAT(Encode(" wor"), ElementsAre(22779));
  EXPECT_THAT(Encode(std::string(300, ' ')), ElementsAre(65529, 65529, 65487));
}

TEST_F(WorldTokenizerTest, SingleBytesAreByteValuePlusOne) {
  for (int byte = 0; byte < 256; ++byte) {
    const std::string text(1, static_cast<char>(byte));
    EXPECT_EQ(*tokenizer_->TokenBytes(byte + 1), text);
    EXPECT_THAT(Encode(text), ElementsAre(byte + 1));
  }
  // '\x80' in a str literal is the code point U+0080; b'\x80' is the byte.
  EXPECT_EQ(*tokenizer_->TokenBytes(129), "\x80");
  EXPECT_EQ(*tokenizer_->TokenBytes(2423), "\xC2\x80");
  EXPECT_THAT(Encode("\xC2\x80"), ElementsAre(2423));
}

TEST_F(WorldTokenizerTest, DecodesEscapedLiterals) {
  EXPECT_EQ(*tokenizer_->TokenBytes(40), "'");  // "'"
  EXPECT_EQ(*tokenizer_->TokenBytes(261), "\n\n");
  EXPECT_EQ(*tokenizer_->TokenBytes(9804), "\u2002");  // '\u2002'
}

TEST_F(WorldTokenizerTest, RoundTripsMultilingualText) {
  ExpectRoundTrip("你好世界，日本語のテキスト、한국어 텍스트");
  ExpectRoundTrip("😀😁🤖 emoji 👩‍👩‍👧 with ZWJ and flags 🇩🇪");
  ExpectRoundTrip("e\u0301\u0302 a\u0308 combining marks");
  ExpectRoundTrip("Привет, Γειά σου, مرحبا, שלום");
  // Four-byte characters are split across tokens that end mid-character.
  EXPECT_THAT(Encode("😀"), ElementsAre(3319, 153, 129));
}

TEST_F(WorldTokenizerTest, RoundTripsArbitraryBytes) {
  std::mt19937 rng(20230424);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> length(0, 200);
  for (int trial = 0; trial < 200; ++trial) {
    std::string bytes(length(rng), '\0');
    for (char& c : bytes) c = static_cast<char>(byte(rng));
    ExpectRoundTrip(bytes);
  }
  ExpectRoundTrip("\xFF\xFE\xC0\xAF\xED\xA0\x80 invalid UTF-8 \xF0\x9F");
}

TEST_F(WorldTokenizerTest, RejectsBadIds) {
  for (int32_t id : {-1, 65530, 65535, 65536, INT32_MAX}) {
    absl::StatusOr<std::string_view> bytes = tokenizer_->TokenBytes(id);
    EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_THAT(std::string(bytes.status().message()), HasSubstr(absl::StrFormat("%d", id)));
  }
  absl::StatusOr<std::string> text = tokenizer_->Decode({33155, 70000});
  EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(text.status().message()), HasSubstr("70000"));
}

TEST_F(WorldTokenizerTest, StreamingTokensThroughDetokenizerReassemblesText) {
  const std::string text = "以下は、😀😁🤖 한국어 e\u0301 done";
  Utf8Detokenizer detok;
  std::string streamed;
  for (int32_t id : Encode(text)) {
    const std::string piece = detok.Push(*tokenizer_->TokenBytes(id));
    EXPECT_TRUE(IsValidUtf8(piece));
    streamed += piece;
  }
  streamed += detok.Flush();
  EXPECT_EQ(streamed, text);
}

// Custom vocabularies: every single byte (as b'\xHH', ids 1..256) plus `extra` lines.
class WorldVocabFileTest : public ::testing::Test {
 protected:
  std::string WriteVocab(const std::string& extra) {
    const std::string path =
        absl::StrFormat("%s/world_vocab_%s.txt", ::testing::TempDir(),
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::ofstream out(path, std::ios::binary);
    for (int byte = 0; byte < 256; ++byte)
      out << absl::StrFormat("%d b'\\x%02x' 1\n", byte + 1, byte);
    out << extra;
    return path;
  }

  // Loads a vocabulary whose line 257 onwards is `extra`, expecting INVALID_ARGUMENT that names
  // the file and `line` and contains `reason`.
  void ExpectMalformed(const std::string& extra, int line, const std::string& reason) {
    const std::string path = WriteVocab(extra);
    absl::StatusOr<std::unique_ptr<WorldTokenizer>> loaded = WorldTokenizer::Load(path);
    ASSERT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument) << loaded.status();
    EXPECT_THAT(std::string(loaded.status().message()),
                HasSubstr(absl::StrFormat("%s:%d: ", path, line)));
    EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(reason));
  }
};

TEST_F(WorldVocabFileTest, GreedyLongestMatchWithoutBacktracking) {
  absl::StatusOr<std::unique_ptr<WorldTokenizer>> world =
      WorldTokenizer::Load(WriteVocab("257 'ab' 2\n258 'abc' 3\n259 'abcd' 4\n260 'bcde' 4\n"));
  ASSERT_TRUE(world.ok()) << world.status();
  EXPECT_THAT(*(*world)->Encode("abcab"), ElementsAre(258, 257));
  EXPECT_THAT(*(*world)->Encode("abcdx"), ElementsAre(259, 'x' + 1));
  // "abcde" could be "a" + "bcde", but greedy matching commits to "abcd" first.
  EXPECT_THAT(*(*world)->Encode("abcde"), ElementsAre(259, 'e' + 1));
  EXPECT_EQ((*world)->TokenBytes(261).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(WorldVocabFileTest, ParsesPythonEscapes) {
  absl::StatusOr<std::unique_ptr<WorldTokenizer>> world =
      WorldTokenizer::Load(WriteVocab("257 '\\t\\n\\r\\\\\\'' 5\n"
                                      "258 \"say \\\"hi\\\" it's\" 13\n"
                                      "259 '\\xe9\\u00e9\\U0001F600' 8\n"
                                      "300 b'\\xff\\x00 z' 4\n"
                                      "301 '\\0\\101' 2\n"
                                      "302 'ü ü' 5\n"));
  ASSERT_TRUE(world.ok()) << world.status();
  EXPECT_EQ(*(*world)->TokenBytes(257), "\t\n\r\\'");
  EXPECT_EQ(*(*world)->TokenBytes(258), "say \"hi\" it's");
  EXPECT_EQ(*(*world)->TokenBytes(259), "\xC3\xA9\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(*(*world)->TokenBytes(300), std::string("\xFF\x00 z", 4));
  EXPECT_EQ(*(*world)->TokenBytes(301), std::string("\0A", 2));
  EXPECT_EQ(*(*world)->TokenBytes(302), "ü ü");
  // Ids 260..299 are skipped in the file, so they are not tokens.
  EXPECT_EQ((*world)->TokenBytes(280).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(WorldVocabFileTest, RejectsMalformedLines) {
  ExpectMalformed("257 'ab 2\n", 257, "quoted");
  ExpectMalformed("257 'a'b' 3\n", 257, "unescaped quote");
  ExpectMalformed("257 'a\\qb' 3\n", 257, "unsupported escape");
  ExpectMalformed("257 'a\\x4' 2\n", 257, "hex digits");
  ExpectMalformed("257 b'\\u0041' 1\n", 257, "unsupported escape");
  ExpectMalformed("257 b'é' 2\n", 257, "non-ASCII");
  ExpectMalformed("257 '\\ud800' 3\n", 257, "U+D800");
  ExpectMalformed("257 'ab' 3\n", 257, "literal is 2 bytes but the line says 3");
  ExpectMalformed("257 'ab'\n", 257, "expected '<id> <literal> <byte length>'");
  ExpectMalformed("257\n", 257, "expected");
  ExpectMalformed("257 'ab' 2\n\n258 'cd' 2\n", 258, "expected");
  ExpectMalformed("x57 'ab' 2\n", 257, "token id");
  ExpectMalformed("257 'ab' -2\n", 257, "byte length");
  ExpectMalformed("257 '' 0\n", 257, "empty token");
  ExpectMalformed("257 'ab' 2\n257 'cd' 2\n", 258, "does not follow 257");
  ExpectMalformed("257 'ab' 2\n200 'cd' 2\n", 258, "does not follow 257");
  ExpectMalformed("65536 'ab' 2\n", 257, "not below 65536");
  ExpectMalformed("257 '\xFF' 1\n", 257, "not valid UTF-8");
}

TEST_F(WorldVocabFileTest, RejectsDuplicateTokens) {
  absl::StatusOr<std::unique_ptr<WorldTokenizer>> loaded =
      WorldTokenizer::Load(WriteVocab("257 'ab' 2\n258 b'ab' 2\n"));
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("tokens 257 and 258 have the same bytes"));
}

TEST_F(WorldVocabFileTest, RejectsVocabularyMissingASingleByte) {
  const std::string path = absl::StrFormat("%s/world_vocab_no_bytes.txt", ::testing::TempDir());
  std::ofstream(path) << "1 'a' 1\n";
  absl::StatusOr<std::unique_ptr<WorldTokenizer>> loaded = WorldTokenizer::Load(path);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("no token for the single byte 0x00"));
}

// Parse (the fuzzer's entry point) reads contents as Load reads a file, naming them as told.
TEST_F(WorldVocabFileTest, ParsesContentsInMemory) {
  absl::StatusOr<std::string> contents =
      rwkv::testing::ReadFileBytes(WriteVocab("257 'ab' 2\n258 'abc' 3\n"));
  ASSERT_TRUE(contents.ok()) << contents.status();
  absl::StatusOr<std::unique_ptr<WorldTokenizer>> world =
      WorldTokenizer::Parse(*contents, "vocab in memory");
  ASSERT_TRUE(world.ok()) << world.status();
  EXPECT_THAT(*(*world)->Encode("abcab"), ElementsAre(258, 257));
  world = WorldTokenizer::Parse(*contents + "258 'x' 1\n", "vocab in memory");
  EXPECT_EQ(world.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(world.status().message()), HasSubstr("vocab in memory:259: "));
}

// The offsets table ends at the highest ID in the file; every ID past it is refused.
TEST_F(WorldVocabFileTest, IdsPastTheLastLineAreNotTokens) {
  absl::StatusOr<std::unique_ptr<WorldTokenizer>> world =
      WorldTokenizer::Load(WriteVocab("300 'ab' 2\n"));
  ASSERT_TRUE(world.ok()) << world.status();
  EXPECT_EQ(*(*world)->TokenBytes(300), "ab");
  for (const int32_t id : {257, 299, 301, 65535, 65536, INT32_MAX}) {
    EXPECT_EQ((*world)->TokenBytes(id).status().code(), absl::StatusCode::kInvalidArgument) << id;
  }
  EXPECT_EQ(*(*world)->TokenBytes(256), "\xff");
}

TEST_F(WorldVocabFileTest, MissingFileIsNotFound) {
  const std::string path = absl::StrFormat("%s/no_such_vocab.txt", ::testing::TempDir());
  absl::StatusOr<std::unique_ptr<WorldTokenizer>> loaded = WorldTokenizer::Load(path);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(path));
}

}  // namespace
}  // namespace rwkv::engine
