#include "engine/tokenizer/byte_tokenizer.h"

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "engine/tokenizer/tokenizer_factory.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/shared_data.h"

namespace rwkv::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ByteTokenizerTest, BasicProperties) {
  ByteTokenizer tokenizer;
  EXPECT_EQ(tokenizer.Name(), "bytes");
  EXPECT_EQ(tokenizer.VocabSize(), 256);
  EXPECT_EQ(tokenizer.EndOfTextToken(), std::nullopt);
  // No +1 offset, unlike World: rwkv.cpp's tiny-model test feeds "in as 34, 105, 110.
  EXPECT_THAT(*tokenizer.Encode("\"in"), ElementsAre(34, 105, 110));
}

TEST(ByteTokenizerTest, RoundTripsAllBytes) {
  ByteTokenizer tokenizer;
  std::string all;
  std::vector<int32_t> expected;
  for (int byte = 0; byte < 256; ++byte) {
    all.push_back(static_cast<char>(byte));
    expected.push_back(byte);
    EXPECT_EQ(*tokenizer.TokenBytes(byte), std::string(1, static_cast<char>(byte)));
  }
  absl::StatusOr<std::vector<int32_t>> ids = tokenizer.Encode(all);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, expected);
  EXPECT_EQ(*tokenizer.Decode(*ids), all);
}

TEST(ByteTokenizerTest, RejectsBadIds) {
  ByteTokenizer tokenizer;
  for (int32_t id : {-1, 256, 65535}) {
    absl::StatusOr<std::string_view> bytes = tokenizer.TokenBytes(id);
    EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(bytes.status().message()),
                HasSubstr(absl::StrFormat("token id %d", id)));
  }
  EXPECT_EQ(tokenizer.Decode({104, 300}).status().code(), absl::StatusCode::kInvalidArgument);
}

// Sets (value != nullptr) or unsets an environment variable until the end of the scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name); old != nullptr) old_ = old;
    Set(value);
  }
  ~ScopedEnv() { Set(old_.has_value() ? old_->c_str() : nullptr); }

 private:
  void Set(const char* value) {
    if (value != nullptr) {
      setenv(name_, value, 1);
    } else {
      unsetenv(name_);
    }
  }
  const char* name_;
  std::optional<std::string> old_;
};

// The factory has no test file of its own in the build, and it is mostly about choosing between
// the byte and World tokenizers, so its tests live here.
class TokenizerFactoryTest : public ::testing::Test {
 protected:
  const std::string vocab_path_ = rwkv::testing::SharedPath("tokenizers/rwkv_vocab_v20230424.txt");
  ScopedEnv vocab_env_{"RWKV_WORLD_VOCAB", vocab_path_.c_str()};
};

TEST_F(TokenizerFactoryTest, AutoSelectsByVocabularySize) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> bytes = CreateTokenizer("", 256);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ((*bytes)->Name(), "bytes");
  absl::StatusOr<std::unique_ptr<Tokenizer>> world = CreateTokenizer("", 65536);
  ASSERT_TRUE(world.ok()) << world.status();
  EXPECT_EQ((*world)->Name(), "world");
  EXPECT_THAT(*(*world)->Encode("Hello world"), ElementsAre(33155, 40213));
}

TEST_F(TokenizerFactoryTest, UnknownVocabularySizeAsksForAPath) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = CreateTokenizer("", 50000);
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(tokenizer.status().message()), HasSubstr("vocabulary size 50000"));
  EXPECT_THAT(std::string(tokenizer.status().message()), HasSubstr("--tokenizer PATH"));
  EXPECT_EQ(CreateTokenizer("bytes", 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TokenizerFactoryTest, ExplicitNamesAndPaths) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> world = CreateTokenizer("world", 65536);
  ASSERT_TRUE(world.ok()) << world.status();
  EXPECT_EQ((*world)->Name(), "world");
  absl::StatusOr<std::unique_ptr<Tokenizer>> by_path =
      CreateTokenizer(rwkv::testing::SharedPath("tokenizers/rwkv_vocab_v20230424.txt"), 65536);
  ASSERT_TRUE(by_path.ok()) << by_path.status();
  EXPECT_EQ((*by_path)->Name(), "world");
  // A byte tokenizer only produces ids below 256, which every larger model also has.
  absl::StatusOr<std::unique_ptr<Tokenizer>> bytes = CreateTokenizer("bytes", 65536);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ((*bytes)->Name(), "bytes");
}

TEST_F(TokenizerFactoryTest, RejectsTokenizerLargerThanModel) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = CreateTokenizer("world", 256);
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(tokenizer.status().message()), HasSubstr("65536"));
}

TEST_F(TokenizerFactoryTest, UnknownSpecIsNotFound) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = CreateTokenizer("gpt2", 65536);
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(tokenizer.status().message()), HasSubstr("unknown tokenizer 'gpt2'"));
}

TEST_F(TokenizerFactoryTest, MalformedVocabularyPathIsInvalid) {
  const std::string path = absl::StrFormat("%s/factory_bad_vocab.txt", ::testing::TempDir());
  std::ofstream(path) << "1 'a 1\n";
  EXPECT_EQ(CreateTokenizer(path, 65536).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TokenizerFactoryTest, FindWorldVocabHonoursOverride) {
  EXPECT_EQ(FindWorldVocab(), vocab_path_);
  // A missing override is skipped, not fatal: the search goes on to the next place.
  ScopedEnv missing("RWKV_WORLD_VOCAB", "/nonexistent/vocab.txt");
  EXPECT_NE(FindWorldVocab(), "/nonexistent/vocab.txt");
}

TEST_F(TokenizerFactoryTest, WorldNotFoundListsPlacesTried) {
  ScopedEnv missing("RWKV_WORLD_VOCAB", "/nonexistent/vocab.txt");
  ScopedEnv no_shared("RWKV_SHARED_DIR", nullptr);
  // Step out of the source tree so that ../shared does not resolve to the test data.
  std::error_code error;
  const std::filesystem::path cwd = std::filesystem::current_path(error);
  std::filesystem::current_path(::testing::TempDir(), error);
  const std::string found = FindWorldVocab();
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = CreateTokenizer("world", 65536);
  std::filesystem::current_path(cwd, error);
  if (!found.empty()) GTEST_SKIP() << "a World vocabulary is installed at " << found;
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(tokenizer.status().message()), HasSubstr("/nonexistent/vocab.txt"));
  EXPECT_THAT(std::string(tokenizer.status().message()), HasSubstr("/usr/share/rwkv-serve/"));
}

}  // namespace
}  // namespace rwkv::engine
