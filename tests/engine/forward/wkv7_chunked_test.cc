// WkvV7Chunked against the sequential WkvV7 on random inputs shaped like a layer's: every
// output row and final state must agree to float rounding, relative to the row's scale.
#include "engine/forward/wkv7_chunked.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/forward/wkv.h"
#include "engine/tools/wkv7_inputs.h"
#include "gtest/gtest.h"

namespace rwkv::engine {
namespace {

// Both kernels agree to ~2e-6 of a row's largest value; 2e-5 leaves room for other machines.
constexpr double kTolerance = 2e-5;

struct Case {
  int64_t heads = 3;
  int64_t head_size = 64;
  std::vector<int64_t> lengths;  // one sequence per entry, packed in this order
  float max_x = 1.0f;            // decays e^-e^x, x ~ U(-8, max_x)
  uint32_t seed = 1;
};

struct Result {
  std::vector<float> y, states;
};

// Runs one kernel on the case's packed batch; chunk 0 is WkvV7. Every sequence starts from its
// own nonzero state.
Result RunKernel(const Case& c, int64_t chunk) {
  int64_t rows = 0;
  for (int64_t length : c.lengths) rows += length;
  const Wkv7Inputs in = RandomWkv7Inputs(rows, c.heads, c.head_size, c.seed, c.max_x);
  const int64_t state_floats = c.heads * c.head_size * c.head_size;
  Result result{std::vector<float>(rows * c.heads * c.head_size),
                std::vector<float>(c.lengths.size() * state_floats)};
  for (size_t i = 0; i < result.states.size(); ++i) {
    result.states[i] = 0.3f * std::sin(0.7f * static_cast<float>(i));
  }
  PackedBatch batch;
  for (size_t s = 0; s < c.lengths.size(); ++s) {
    batch.sequences.push_back({batch.rows, c.lengths[s], result.states.data() + s * state_floats});
    batch.rows += c.lengths[s];
  }
  const WkvShape shape{c.heads, c.head_size, 0};
  if (chunk == 0) {
    WkvV7(batch, shape, in.r.data(), in.w.data(), in.k.data(), in.v.data(), in.a.data(),
          in.b.data(), result.y.data());
  } else {
    WkvV7Chunked(batch, shape, chunk, in.r.data(), in.w.data(), in.k.data(), in.v.data(),
                 in.a.data(), in.b.data(), result.y.data());
  }
  return result;
}

void ExpectMatches(const Case& c, int64_t chunk, const std::string& what) {
  const Result ref = RunKernel(c, 0);
  const Result got = RunKernel(c, chunk);
  EXPECT_LE(MaxRowRelDiff(got.y, ref.y, c.head_size), kTolerance) << what << ": y";
  EXPECT_LE(MaxRowRelDiff(got.states, ref.states, c.head_size), kTolerance) << what << ": state";
}

TEST(WkvV7ChunkedTest, MatchesSequentialForEveryLengthAndChunk) {
  for (int64_t chunk : {16, 32, 48, 64}) {
    for (int64_t length : {1, 2, 15, 16, 17, 31, 33, 64, 100, 257, 600}) {
      Case c;
      c.lengths = {length};
      c.seed = static_cast<uint32_t>(chunk * 1000 + length);
      ExpectMatches(c, chunk, "chunk " + std::to_string(chunk) + ", T " + std::to_string(length));
    }
  }
}

TEST(WkvV7ChunkedTest, MatchesSequentialForAPackedBatch) {
  Case c;
  c.heads = 5;
  c.lengths = {1, 40, 3, 129, 16, 1, 77};
  ExpectMatches(c, 32, "packed batch");
}

// x up to 2.5: decays as low as e^-12 a step, so chunks end early at the e^-60 floor. x up to
// 4.2: single steps below e^-60 too, which take the sequential step.
TEST(WkvV7ChunkedTest, MatchesSequentialWithFastDecays) {
  for (float max_x : {2.5f, 4.2f}) {
    Case c;
    c.lengths = {200, 37};
    c.max_x = max_x;
    ExpectMatches(c, 64, "max_x " + std::to_string(max_x));
  }
}

TEST(WkvV7ChunkedTest, MatchesSequentialForOtherHeadSizes) {
  for (int64_t head_size : {16, 32, 128}) {
    Case c;
    c.heads = 2;
    c.head_size = head_size;
    c.lengths = {70, 5};
    ExpectMatches(c, 16, "head size " + std::to_string(head_size));
  }
}

TEST(WkvV7ChunkedTest, HeadSizesOffTheVectorWidthFallBackToTheSequentialKernel) {
  Case c;
  c.heads = 4;
  c.head_size = 8;
  c.lengths = {50};
  const Result ref = RunKernel(c, 0);
  const Result got = RunKernel(c, 16);
  EXPECT_EQ(got.y, ref.y);
  EXPECT_EQ(got.states, ref.states);
}

TEST(WkvV7ChunkedTest, ChunkLengthsOutsideTheRangeAreClamped) {
  Case c;
  c.lengths = {90};
  for (int64_t chunk : {-5, 1, 17, 1000}) ExpectMatches(c, chunk, std::to_string(chunk));
}

TEST(WkvV7ChunkedTest, EmptyBatchDoesNothing) {
  PackedBatch batch;
  WkvV7Chunked(batch, {2, 64, 0}, 16, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
               nullptr);
}

}  // namespace
}  // namespace rwkv::engine
