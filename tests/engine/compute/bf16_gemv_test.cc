// Bf16Gemv against oneDNN's many-row bf16 kernel on the same packed weights, bit for bit.
#include "engine/compute/bf16_gemv.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <oneapi/dnnl/dnnl.hpp>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace rwkv::engine {
namespace {

using dnnl::memory;
using DataType = memory::data_type;

uint16_t ToBf16(float f) {  // round to nearest even (no NaNs here)
  uint32_t bits = std::bit_cast<uint32_t>(f);
  bits += 0x7fff + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

// Normal values with some far larger and far smaller, exact zeros and negative zeros: the sums
// then round often and far from their terms' scale.
uint16_t Sample(std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  float v = normal(rng);
  switch (rng() % 16) {
    case 0:
      v *= 1e3f;
      break;
    case 1:
      v *= 1e-4f;
      break;
    case 2:
      v = 0.0f;
      break;
    case 3:
      v = -0.0f;
      break;
    case 4:
      v *= 1e-36f;  // products of two such are denormal: flushed
      break;
    default:
      break;
  }
  return ToBf16(v);
}

struct Packed {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  memory weights;
};

// The [in, out] matrix in BA16a64b2a, the layout oneDNN packs bf16 weights in for its kernels.
void Pack(Packed& p, const std::vector<uint16_t>& w, int64_t in, int64_t out) {
  memory plain({{in, out}, DataType::bf16, memory::format_tag::ab}, p.engine,
               const_cast<uint16_t*>(w.data()));
  p.weights = memory({{in, out}, DataType::bf16, memory::format_tag::BA16a64b2a}, p.engine);
  dnnl::reorder(plain, p.weights).execute(p.stream, plain, p.weights);
  p.stream.wait();
}

std::vector<float> OneDnn(Packed& p, const std::vector<uint16_t>& x, int64_t rows, int64_t in,
                          int64_t out) {
  memory::desc src({rows, in}, DataType::bf16, memory::format_tag::ab);
  memory::desc dst({rows, out}, DataType::f32, memory::format_tag::ab);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, p.weights.get_desc(), dst), p.engine);
  std::vector<float> y(rows * out);
  memory src_mem(src, p.engine, const_cast<uint16_t*>(x.data()));
  memory dst_mem(dst, p.engine, y.data());
  dnnl::matmul(pd).execute(
      p.stream, {{DNNL_ARG_SRC, src_mem}, {DNNL_ARG_WEIGHTS, p.weights}, {DNNL_ARG_DST, dst_mem}});
  p.stream.wait();
  return y;
}

TEST(Bf16GemvTest, SameBitsAsOneDnnManyRowKernel) {
  std::mt19937 rng(5);
  for (auto [in, out] : {std::pair<int64_t, int64_t>{32, 64},
                         {64, 64},
                         {64, 768},
                         {96, 128},
                         {100, 64},
                         {37, 64},
                         {256, 1024},
                         {512, 192},
                         {768, 64},
                         {768, 768},
                         {768, 3072},
                         {1024, 1024},
                         {1024, 4096}}) {
    Packed packed;
    std::vector<uint16_t> w(in * out);
    for (uint16_t& v : w) v = Sample(rng);
    Pack(packed, w, in, out);
    if (!Bf16GemvApplies(packed.weights.get_desc(), in, out)) {
      GTEST_SKIP() << "no AMX here";
    }
    // 64 rows: the kernel a full batch takes (AMX where the CPU has it).
    constexpr int64_t kMany = 64;
    std::vector<uint16_t> x(kMany * in);
    for (uint16_t& v : x) v = Sample(rng);
    const std::vector<float> many = OneDnn(packed, x, kMany, in, out);
    for (int64_t rows = 1; rows <= kBf16GemvMaxRows; ++rows) {
      std::vector<float> few(rows * out);
      Bf16Gemv(x.data(), rows, in, out,
               static_cast<const uint16_t*>(packed.weights.get_data_handle()), few.data());
      for (int64_t i = 0; i < rows * out; ++i) {
        ASSERT_EQ(std::bit_cast<uint32_t>(few[i]), std::bit_cast<uint32_t>(many[i]))
            << in << "x" << out << " rows " << rows << " at " << i << ": " << few[i] << " vs "
            << many[i];
      }
    }
  }
}

TEST(Bf16GemvTest, AppliesOnlyToItsLayoutAndShapes) {
  const memory::desc packed({768, 128}, DataType::bf16, memory::format_tag::BA16a64b2a);
  const memory::desc plain({768, 128}, DataType::bf16, memory::format_tag::ab);
  EXPECT_FALSE(Bf16GemvApplies(plain, 768, 128));
  EXPECT_FALSE(Bf16GemvApplies(
      memory::desc({768, 100}, DataType::bf16, memory::format_tag::BA16a64b2a), 768, 100));
  EXPECT_FALSE(Bf16GemvApplies(
      memory::desc({4096, 128}, DataType::bf16, memory::format_tag::BA16a64b2a), 4096, 128));
  if (dnnl::get_effective_cpu_isa() == dnnl::cpu_isa::avx512_core_amx) {
    EXPECT_TRUE(Bf16GemvApplies(packed, 768, 128));
  }
}

}  // namespace
}  // namespace rwkv::engine
