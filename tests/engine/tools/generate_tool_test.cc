// rwkv-generate end to end: the real binary, run on every FP32 reference set, must reproduce
// rwkv.cpp's logits (--dump-logits), final state (--dump-state) and greedy text on stdout.
#include <cmath>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/util/engine_util.h"
#include "tests/util/reference_data.h"
#include "tests/util/run_command.h"
#include "tests/util/shared_data.h"

namespace rwkv::testing {
namespace {

std::string Generate() { return absl::StrCat(RWKV_BIN_DIR, "/rwkv-generate"); }

std::string ReferenceModel() { return SharedPath("models/tiny-rwkv-7v0-834K-FP32.bin"); }

class GenerateToolTest : public ::testing::TestWithParam<ReferenceSet> {};

TEST_P(GenerateToolTest, DumpsMatchTheReference) {
  const ReferenceSet& set = GetParam();
  const std::string prompt_file = UniqueTempPath("prompt.txt");
  const std::string logits_file = UniqueTempPath("logits.f32");
  const std::string state_file = UniqueTempPath("state.f32");
  {
    std::ofstream prompt(prompt_file, std::ios::binary);
    for (int32_t byte : set.prompt) prompt.put(static_cast<char>(byte));
  }
  const CommandResult out = RunCommand(
      absl::StrCat(Generate(), " --model ", set.model_path, " --prompt-file ", prompt_file,
                   " --max-tokens 64 --temperature 0 --threads 1 --dump-logits ", logits_file,
                   " --dump-state ", state_file, " 2>/dev/null"));
  ASSERT_EQ(out.exit_code, 0);

  std::string expected_text;
  for (int32_t token : set.greedy) expected_text.push_back(static_cast<char>(token));
  EXPECT_EQ(out.output, expected_text + "\n");

  auto logits = ReadF32File(logits_file);
  ASSERT_TRUE(logits.ok()) << logits.status();
  std::vector<float> expected = set.logits;
  expected.insert(expected.end(), set.greedy_logits.begin(), set.greedy_logits.end());
  EXPECT_LE(MaxAbsDiff(*logits, expected), 1e-4f);
  auto state = ReadF32File(state_file);
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->size(), set.state.size());
  for (size_t i = 0; i < state->size(); ++i) {
    ASSERT_NEAR((*state)[i], set.state[i], 1e-4f * std::max(1.0f, std::fabs(set.state[i])));
  }
}

std::vector<ReferenceSet> Fp32Sets() {
  std::vector<ReferenceSet> out;
  auto sets = LoadReferenceSets();
  if (!sets.ok()) {
    ADD_FAILURE() << sets.status();
    return out;
  }
  for (ReferenceSet& set : *sets) {
    if (set.weight_type == "FP32") out.push_back(std::move(set));
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Fp32Models, GenerateToolTest, ::testing::ValuesIn(Fp32Sets()),
                         [](const auto& info) { return TestNameOf(info.param); });

TEST(GenerateToolErrorsTest, BadInputExitsNonZeroWithAMessage) {
  const std::string model = ReferenceModel();
  for (const std::string& args : {std::string("--model /nonexistent.bin --prompt x"),
                                  absl::StrCat("--model ", model, " --prompt ''"),
                                  absl::StrCat("--model ", model, " --prompt x --temperature -1"),
                                  absl::StrCat("--model ", model, " --prompt x --tokenizer world"),
                                  std::string("--prompt x")}) {
    const CommandResult out = RunCommand(absl::StrCat(Generate(), " ", args, " 2>&1"));
    EXPECT_NE(out.exit_code, 0) << args;
    EXPECT_NE(out.output.find("rwkv-generate: "), std::string::npos) << out.output;
  }
}

}  // namespace
}  // namespace rwkv::testing
