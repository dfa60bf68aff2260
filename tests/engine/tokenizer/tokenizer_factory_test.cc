// CreateTokenizer's 20B and embedded-vocabulary choices (the byte/World ones are tested in
// byte_tokenizer_test.cc).
#include "engine/tokenizer/tokenizer_factory.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/tokenizer/world_tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/shared_data.h"

namespace rwkv::engine {
namespace {

using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Ne;

class TokenizerFactory20bTest : public ::testing::Test {
 protected:
  void SetUp() override { setenv("RWKV_20B_TOKENIZER", path_.c_str(), 1); }
  void TearDown() override { unsetenv("RWKV_20B_TOKENIZER"); }

  const std::string path_ = rwkv::testing::SharedPath("tokenizers/20B_tokenizer.json");
};

TEST_F(TokenizerFactory20bTest, AutoSelects20bForItsVocabularySize) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = CreateTokenizer("", 50277);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ((*tokenizer)->Name(), "bpe");
  EXPECT_THAT(*(*tokenizer)->Encode("Hello World"), ElementsAre(12092, 3645));
}

TEST_F(TokenizerFactory20bTest, ByNameAndByJsonPath) {
  for (const std::string& spec : {std::string("20b"), path_}) {
    absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = CreateTokenizer(spec, 50277);
    ASSERT_TRUE(tokenizer.ok()) << spec << ": " << tokenizer.status();
    EXPECT_THAT(*(*tokenizer)->Encode("The quick"), ElementsAre(510, 3158));
  }
  EXPECT_EQ(CreateTokenizer("20b", 256).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(TokenizerFactory20bTest, MalformedJsonPathIsInvalid) {
  const std::string bad = rwkv::testing::UniqueTempPath("bad_tokenizer.json");
  {
    std::FILE* f = std::fopen(bad.c_str(), "w");
    std::fputs("{\"model\": 3", f);
    std::fclose(f);
  }
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = CreateTokenizer(bad, 50277);
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(tokenizer.status().message()), HasSubstr(bad));
}

TEST_F(TokenizerFactory20bTest, FinderHonoursOverrideAndListsPlacesTried) {
  EXPECT_EQ(Find20bTokenizer(), path_);
  setenv("RWKV_20B_TOKENIZER", "/nonexistent/20b.json", 1);
  const char* shared = std::getenv("RWKV_SHARED_DIR");
  const std::string saved_shared = shared != nullptr ? shared : "";
  unsetenv("RWKV_SHARED_DIR");
  std::error_code error;
  const std::filesystem::path cwd = std::filesystem::current_path(error);
  std::filesystem::current_path(::testing::TempDir(), error);
  const std::string found = Find20bTokenizer();
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = CreateTokenizer("20b", 50277);
  std::filesystem::current_path(cwd, error);
  if (!saved_shared.empty()) setenv("RWKV_SHARED_DIR", saved_shared.c_str(), 1);
  if (!found.empty()) GTEST_SKIP() << "a 20B tokenizer is installed at " << found;
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(tokenizer.status().message()), HasSubstr("/nonexistent/20b.json"));
  EXPECT_THAT(std::string(tokenizer.status().message()), HasSubstr("RWKV_20B_TOKENIZER"));
}

TEST(TokenizerFactoryEmbeddedTest, TheSingleBytesInOrderAreTheByteTokenizer) {
  std::vector<std::string> vocab;
  for (int b = 0; b < 256; ++b) vocab.push_back(std::string(1, static_cast<char>(b)));
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = CreateTokenizer("", 256, vocab);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ((*tokenizer)->Name(), "bytes");
  // An explicit --tokenizer wins over the embedded list.
  absl::StatusOr<std::unique_ptr<Tokenizer>> bytes = CreateTokenizer("bytes", 65536, vocab);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ((*bytes)->Name(), "bytes");
}

// The World vocabulary as a GGUF carries it: "<s>" at id 0, the file's tokens, padding to 65536
// (passed as "" by the caller, as its token type says it is unused).
std::vector<std::string> GgufStyleWorldVocab(const Tokenizer& world) {
  std::vector<std::string> vocab = {"<s>"};
  for (int32_t id = 1; id < 65536; ++id) {
    absl::StatusOr<std::string_view> bytes = world.TokenBytes(id);
    vocab.push_back(bytes.ok() ? std::string(*bytes) : "");
  }
  return vocab;
}

TEST(TokenizerFactoryEmbeddedTest, AnyOtherListIsAGreedyWorldTokenizer) {
  absl::StatusOr<std::unique_ptr<WorldTokenizer>> file =
      WorldTokenizer::Load(rwkv::testing::SharedPath("tokenizers/rwkv_vocab_v20230424.txt"));
  ASSERT_TRUE(file.ok()) << file.status();
  const std::vector<std::string> vocab = GgufStyleWorldVocab(**file);
  absl::StatusOr<std::unique_ptr<Tokenizer>> embedded = CreateTokenizer("", 65536, vocab);
  ASSERT_TRUE(embedded.ok()) << embedded.status();
  EXPECT_EQ((*embedded)->Name(), "world");
  EXPECT_EQ((*embedded)->VocabSize(), 65536);
  EXPECT_EQ((*embedded)->EndOfTextToken(), 0);
  EXPECT_EQ(*(*embedded)->TokenBytes(0), "");
  for (const std::string text :
       {"Hello world", "\n\nUser: hi", "a\0b", "<s> \xE4\xBB\xA5\xE4\xB8\x8B"}) {
    EXPECT_EQ(*(*embedded)->Encode(text), *(*file)->Encode(text)) << text;
  }
  // "<s>" at id 0 is never matched by text.
  EXPECT_THAT(*(*embedded)->Encode("<s>"), Each(Ne(0)));
  EXPECT_EQ(CreateTokenizer("", 50000, vocab).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(TokenizerFactoryEmbeddedTest, MalformedListsAreInvalid) {
  std::vector<std::string> vocab = {"<s>"};
  for (int b = 1; b < 256; ++b) vocab.push_back(std::string(1, static_cast<char>(b)));
  // Byte 0x00 has no token of its own (id 0 is end-of-text).
  absl::StatusOr<std::unique_ptr<Tokenizer>> missing = CreateTokenizer("", 256, vocab);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("embedded vocabulary"));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("0x00"));
  vocab.push_back(std::string(1, '\0'));
  vocab.push_back("ab");
  vocab.push_back("ab");
  absl::StatusOr<std::unique_ptr<Tokenizer>> duplicate = CreateTokenizer("", 65536, vocab);
  EXPECT_EQ(duplicate.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(duplicate.status().message()), HasSubstr("same bytes"));
  vocab.pop_back();
  absl::StatusOr<std::unique_ptr<Tokenizer>> good = CreateTokenizer("", 65536, vocab);
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_THAT(*(*good)->Encode(std::string("ab\0", 3)), ElementsAre(257, 256));
}

}  // namespace
}  // namespace rwkv::engine
