// rwkv-tokenize end to end: a temp file in, one JSON array of ids out.
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/run_command.h"
#include "tests/util/shared_data.h"

namespace rwkv {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string WriteTemp(const std::string& name, const std::string& contents) {
  const std::string path = testing::UniqueTempPath(name);
  std::FILE* file = std::fopen(path.c_str(), "wb");
  std::fwrite(contents.data(), 1, contents.size(), file);
  std::fclose(file);
  return path;
}

std::string Tokenize(const std::string& flags) {
  return absl::StrCat("RWKV_20B_TOKENIZER=", testing::SharedPath("tokenizers/20B_tokenizer.json"),
                      " " RWKV_BIN_DIR "/rwkv-tokenize ", flags);
}

TEST(TokenizeToolTest, PrintsIdsAsOneJsonArray) {
  const std::string text = WriteTemp("quick.txt", "The quick brown fox jumps over the lazy dog.");
  const testing::CommandResult run =
      testing::RunCommand(Tokenize("--tokenizer 20b --text-file " + text));
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.output, "[510, 3158, 8516, 30013, 27287, 689, 253, 22658, 4370, 15]\n");
  const std::string in = WriteTemp("in.txt", "\"in");
  const testing::CommandResult bytes =
      testing::RunCommand(Tokenize("--tokenizer bytes --text-file " + in));
  EXPECT_EQ(bytes.exit_code, 0);
  EXPECT_EQ(bytes.output, "[34, 105, 110]\n");
  const std::string empty = WriteTemp("empty.txt", "");
  EXPECT_EQ(testing::RunCommand(Tokenize("--tokenizer 20b --text-file " + empty)).output, "[]\n");
}

TEST(TokenizeToolTest, FailsClearly) {
  const testing::CommandResult missing =
      testing::RunCommand(Tokenize("--tokenizer bytes --text-file /nonexistent/x.txt 2>&1"));
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.output, StartsWith("rwkv-tokenize: "));
  EXPECT_THAT(missing.output, HasSubstr("/nonexistent/x.txt"));
  const std::string text = WriteTemp("x.txt", "x");
  const testing::CommandResult unknown =
      testing::RunCommand(Tokenize("--tokenizer gpt9 --text-file " + text + " 2>&1"));
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_THAT(unknown.output, HasSubstr("unknown tokenizer 'gpt9'"));
  const testing::CommandResult no_flag =
      testing::RunCommand(Tokenize("--text-file " + text + " 2>&1"));
  EXPECT_NE(no_flag.exit_code, 0);
  EXPECT_THAT(no_flag.output, HasSubstr("--tokenizer is required"));
}

}  // namespace
}  // namespace rwkv
