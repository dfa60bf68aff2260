// The Q8_0 GGUF test models (written by llama.cpp's converter) in q8_0 run on their stored blocks:
// their logits are those of the float32 path on the same file (which dequantizes the blocks
// exactly) up to the 16-bit rounding of the activations, well inside what requantizing them to
// int8's per-channel scales moves them (measured: printed beside).
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "gtest/gtest.h"
#include "tests/util/engine_util.h"
#include "tests/util/model_file_writer.h"
#include "tests/util/shared_data.h"

namespace rwkv::testing {
namespace {

using engine::Engine;
using engine::Precision;

std::vector<float> Logits(const std::string& model, Precision precision) {
  auto engine = Engine::Create({model, 1, precision});
  EXPECT_TRUE(engine.ok()) << engine.status();
  if (!engine.ok()) return {};
  std::vector<float> state = (*engine)->InitialState();
  const std::string text = "The quick brown fox jumps over the lazy dog, and then it rests.";
  const std::vector<int32_t> prompt(text.begin(), text.end());
  auto view = (*engine)->Forward({{absl::MakeSpan(state), prompt, engine::LogitsMode::kAll}});
  EXPECT_TRUE(view.ok()) << view.status();
  std::vector<float> out;
  if (!view.ok()) return out;
  for (size_t t = 0; t < prompt.size(); ++t) {
    out.insert(out.end(), view->Row(0, t).begin(), view->Row(0, t).end());
  }
  return out;
}

double RelativeL2(const std::vector<float>& got, const std::vector<float>& want) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff += (double{got[i]} - want[i]) * (double{got[i]} - want[i]);
    norm += double{want[i]} * want[i];
  }
  return std::sqrt(diff / norm);
}

// Returns q8_0's relative L2 against f32 on `model`, after checking that it is below int8's.
double StoredAgainstF32(const std::string& model) {
  const std::vector<float> f32 = Logits(model, Precision::kF32);
  const std::vector<float> q8_0 = Logits(model, Precision::kQ8_0);
  const std::vector<float> int8 = Logits(model, Precision::kInt8);
  EXPECT_EQ(q8_0.size(), f32.size());
  EXPECT_EQ(int8.size(), f32.size());
  if (q8_0.size() != f32.size() || int8.size() != f32.size()) return 1.0;
  const double stored = RelativeL2(q8_0, f32), requantized = RelativeL2(int8, f32);
  std::cout << model << ": q8_0 vs f32 of the same file, relative L2 " << stored
            << "; int8 (requantized) " << requantized << "\n";
  EXPECT_LT(stored, requantized);
  return stored;
}

class Q8_0ModelTest : public ::testing::TestWithParam<std::string> {};

// Measured 1.8e-5 (v7) and 1.0e-4 (v6, whose float32 LoRA matrices are int8 in q8_0, see
// WeightReader::LoraPrecision); requantized to int8, 4.7e-3 and 2.4e-3.
TEST_P(Q8_0ModelTest, GgufRunsItsStoredBlocks) {
  EXPECT_LE(StoredAgainstF32(SharedPath("models/formats/" + GetParam())), 5e-4);
}

INSTANTIATE_TEST_SUITE_P(Files, Q8_0ModelTest,
                         ::testing::Values("tiny-rwkv-6v0-1m-Q8_0.gguf",
                                           "tiny-rwkv-7v0-834K-Q8_0.gguf"),
                         [](const auto& info) {
                           std::string name = info.param.substr(10, info.param.size() - 15);
                           for (char& c : name)
                             c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return name;
                         });

// --precision auto: a Q8_0 file runs in q8_0, any other in the precision given.
TEST(Q8_0ModelTest, AutoPrecisionRunsQ8_0FilesInQ8_0) {
  for (const auto& [file, want] :
       {std::pair<std::string, Precision>{"tiny-rwkv-7v0-834K-Q8_0.gguf", Precision::kQ8_0},
        {"tiny-rwkv-6v0-1m-Q8_0.gguf", Precision::kQ8_0},
        {"tiny-rwkv-7v0-834K-F16.gguf", Precision::kBf16}}) {
    for (const bool automatic : {true, false}) {
      auto engine = Engine::Create({.model = SharedPath("models/formats/" + file),
                                    .threads = 1,
                                    .precision = Precision::kBf16,
                                    .auto_precision = automatic});
      ASSERT_TRUE(engine.ok()) << engine.status();
      EXPECT_EQ((*engine)->precision(), automatic ? want : Precision::kBf16) << file;
    }
  }
}

// An rwkv.cpp Q8_0 file, written from the FP32 model by rwkv.cpp's reference quantizer: its
// matrices are the blocks q8_0 makes of the FP32 file's (ggml's formula), and its embedding stays
// float32 as rwkv.cpp keeps it, so both files give the same bits.
TEST(Q8_0ModelTest, RwkvCppFileRunsAsTheFp32FileQuantizedAtLoad) {
  const std::string fp32 = SharedPath("models/tiny-rwkv-7v0-834K-FP32.bin");
  const std::string quantized = UniqueTempPath("q8_0-7v0.bin");
  ASSERT_TRUE(WriteQuantizedCopy(fp32, engine::GgmlType::kQ8_0, quantized).ok());
  const std::vector<float> from_file = Logits(quantized, Precision::kQ8_0);
  std::remove(quantized.c_str());
  EXPECT_FALSE(from_file.empty());
  EXPECT_EQ(from_file, Logits(fp32, Precision::kQ8_0));
}

}  // namespace
}  // namespace rwkv::testing
