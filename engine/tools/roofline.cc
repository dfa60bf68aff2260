#include "engine/tools/roofline.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/time/clock.h"
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>

#include "absl/strings/str_cat.h"

namespace rwkv::engine {
namespace {

// XOR of n words; cloned for AVX-512 so that one core can reach the memory's read speed.
__attribute__((target_clones("avx512f", "avx2", "default"))) uint64_t XorWords(
    const uint64_t* words, size_t n) {
  uint64_t total = 0;
  for (size_t i = 0; i < n; ++i) total ^= words[i];
  return total;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

double MeasureReadBandwidth(int threads) {
  constexpr size_t kBytes = size_t{1} << 30;
  const size_t words = kBytes / sizeof(uint64_t);
  std::unique_ptr<uint64_t[]> buffer(new uint64_t[words]);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (size_t i = 0; i < words; ++i) buffer[i] = i;  // touch every page on its reader's node
  std::vector<double> rates;
  volatile uint64_t sink = 0;
  for (int pass = 0; pass < 5; ++pass) {
    const absl::Time start = absl::Now();
    uint64_t total = 0;
    // XOR vectorizes without reassociation concerns, so the loop runs at load speed.
    constexpr size_t kChunk = size_t{1} << 20;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(^ : total)
    for (size_t begin = 0; begin < words; begin += kChunk) {
      total ^= XorWords(buffer.get() + begin, std::min(kChunk, words - begin));
    }
    sink = sink ^ total;
    rates.push_back(kBytes / absl::ToDoubleSeconds(absl::Now() - start));
  }
  return Median(rates);
}

absl::StatusOr<double> MeasureMatmulPeak(Precision precision, int64_t width, int64_t rows,
                                         int threads) {
  // The bare oneDNN primitive, inputs already in its format: our own conversions count
  // against the engine, not against the machine.
  using dnnl::memory;
  omp_set_num_threads(threads);
  const memory::data_type type = precision == Precision::kF32    ? memory::data_type::f32
                                 : precision == Precision::kBf16 ? memory::data_type::bf16
                                                                 : memory::data_type::s8;
  try {
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    memory::desc src({rows, width}, type, memory::format_tag::ab);
    memory::desc weights({width, width}, type, memory::format_tag::any);
    memory::desc dst({rows, width}, memory::data_type::f32, memory::format_tag::ab);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, weights, dst), engine);
    memory src_mem(src, engine), weights_mem(pd.weights_desc(), engine), dst_mem(dst, engine);
    std::memset(src_mem.get_data_handle(), 1, src.get_size());
    std::memset(weights_mem.get_data_handle(), 1, pd.weights_desc().get_size());
    dnnl::matmul matmul(pd);
    const std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, src_mem}, {DNNL_ARG_WEIGHTS, weights_mem}, {DNNL_ARG_DST, dst_mem}};
    matmul.execute(stream, args);
    stream.wait();
    std::vector<double> rates;
    const double flops = 2.0 * rows * width * width;
    // Each sample runs for 0.2 s at least: AMX units need a moment to reach full speed.
    for (int run = 0; run < 5; ++run) {
      const absl::Time start = absl::Now();
      int reps = 0;
      double seconds = 0;
      while (seconds < 0.2) {
        matmul.execute(stream, args);
        stream.wait();
        ++reps;
        seconds = absl::ToDoubleSeconds(absl::Now() - start);
      }
      rates.push_back(reps * flops / seconds);
    }
    return Median(rates);
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("matmul peak probe failed: ", e.what()));
  }
}

}  // namespace rwkv::engine
