// rwkv-q8-bench: the Q8_0 matrix product (q8_0_matmul.h) against the int8 Linear (matmul.h) on
// the same weights, float32 rows in and out (both quantize their activations inside the timing).
//
//   rwkv-q8-bench [--threads 1] [--seconds 0.3] [--shape INxOUT] [--kernel amx|vnni|avx2|portable]
//
// Prints, per shape (in x out), the error of both against a float64 product of the same weights
// (normal random weights quantized to Q8_0 as ggml does; int8 requantizes them per channel), and
// per row count the median time per call, the packed weights' bytes per second and the
// multiply-adds per second of each; "  mm" is Q8_0Matmul alone, without quantizing activations,
// and with --kernel amx (the default where the CPU has it) "vnni" the VNNI kernel alone.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "common/command_line.h"
#include "common/status_macros.h"
#include "engine/compute/matmul.h"
#include "engine/compute/q8_0_matmul.h"
#include "engine/model/quantization.h"
#include "engine/tools/median_seconds.h"

ABSL_FLAG(int32_t, threads, 1, "OpenMP threads.");
ABSL_FLAG(double, seconds, 0.3, "Minimum measuring time per figure.");
ABSL_FLAG(std::string, shape, "", "One shape INxOUT instead of the 0.1B's four.");
ABSL_FLAG(std::string, kernel, "", "portable | avx2 | vnni | amx; empty: the best this CPU runs.");

namespace rwkv::engine {
namespace {

// By Q8_0Kernel's value.
constexpr const char* kKernelNames[] = {"portable", "avx2", "vnni", "amx"};

bool KernelFromName(const std::string& name, Q8_0Kernel& kernel) {
  for (int i = 0; i < 4; ++i) {
    if (name == kKernelNames[i]) {
      kernel = static_cast<Q8_0Kernel>(i);
      return true;
    }
  }
  return false;
}

struct Flags {
  int threads = 1;
  Q8_0Kernel kernel = Q8_0BestKernel();
  double seconds = 0.3;
  std::vector<std::pair<int64_t, int64_t>> shapes = {
      {768, 768}, {768, 3072}, {3072, 768}, {768, 65536}};
};

constexpr int64_t kRowCounts[] = {1, 2, 8, 16, 32, 64, 128};

// Normal random weights quantized to Q8_0 blocks as ggml does, and those weights dequantized for
// the int8 Linear.
absl::Status RandomWeights(int64_t in, int64_t out, std::vector<uint8_t>& blocks,
                           std::vector<float>& w) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  w.resize(out * in);
  for (float& v : w) v = normal(rng);
  blocks.assign(out * (in / kQ8_0BlockInputs) * kQ8_0BlockBytes, 0);
  RWKV_RETURN_IF_ERROR(QuantizeQ8_0(w, absl::MakeSpan(blocks)));
  return DequantizeRow(GgmlType::kQ8_0, blocks.data(), blocks.size(), absl::MakeSpan(w));
}

struct Q8_0Run {
  Q8_0Kernel kernel;
  int64_t in, out;
  const uint8_t* packed;
  std::vector<int16_t> q;
  std::vector<float> scales;

  void operator()(const float* x, int64_t rows, float* y) {
    QuantizeRowsInt16(x, rows, in, q.data(), scales.data());
    Multiply(rows, y);
  }
  // The product alone, on the last call's quantized rows (through `with`, default `kernel`).
  void Multiply(int64_t rows, float* y) { MultiplyWith(kernel, rows, y); }
  void MultiplyWith(Q8_0Kernel with, int64_t rows, float* y) {
    Q8_0MatmulWith(with, q.data(), scales.data(), rows, in, out, packed, y);
  }
};

// Rows whose outputs are compared with a float64 product of the same (dequantized) weights.
constexpr int64_t kAccuracyRows = 8;

// ||got - want|| / ||want|| over every element.
double RelL2(const std::vector<float>& got, const std::vector<double>& want) {
  double error = 0.0, norm = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    error += (got[i] - want[i]) * (got[i] - want[i]);
    norm += want[i] * want[i];
  }
  return std::sqrt(error / norm);
}

// Accuracy on the first kAccuracyRows rows of x; `w` holds the dequantized weights.
void PrintAccuracy(const std::vector<float>& w, const std::vector<float>& x, int64_t in,
                   int64_t out, Q8_0Run& q8, const Linear& int8, MatmulContext& ctx) {
  std::vector<double> want(kAccuracyRows * out);
  for (int64_t r = 0; r < kAccuracyRows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double sum = 0.0;
      for (int64_t k = 0; k < in; ++k) sum += double{w[o * in + k]} * x[r * in + k];
      want[r * out + o] = sum;
    }
  }
  std::vector<float> y8(kAccuracyRows * out), y(kAccuracyRows * out);
  q8(x.data(), kAccuracyRows, y8.data());
  const bool ok = int8.Apply(ctx, x.data(), kAccuracyRows, y.data()).ok();
  std::printf("  rel. L2 vs a float64 product of the same weights: q8_0 %.2e, int8 %s\n",
              RelL2(y8, want), ok ? absl::StrFormat("%.2e", RelL2(y, want)).c_str() : "failed");
}

void PrintRow(const char* path, int64_t rows, double seconds, double bytes, double macs) {
  std::printf("  %-5s %5lld %10.3f %9.2f %9.2f\n", path, static_cast<long long>(rows),
              seconds * 1e3, bytes / seconds * 1e-9, macs / seconds * 1e-9);
}

bool BenchShape(const Flags& flags, int64_t in, int64_t out) {
  std::vector<uint8_t> blocks;
  std::vector<float> w;
  if (absl::Status s = RandomWeights(in, out, blocks, w); !s.ok()) {
    std::fprintf(stderr, "Q8_0 weights: %s\n", std::string(s.message()).c_str());
    return false;
  }
  const size_t packed_bytes = Q8_0PackedBytes(in, out);
  std::unique_ptr<uint8_t, decltype(&std::free)> packed(
      static_cast<uint8_t*>(std::aligned_alloc(64, (packed_bytes + 63) / 64 * 64)), &std::free);
  std::memset(packed.get(), 0, packed_bytes);
  PackQ8_0Rows(blocks.data(), 0, out, in, out, packed.get());
  blocks = {};

  MatmulContext ctx;
  absl::StatusOr<Linear> int8 = Linear::Create(ctx, w.data(), in, out, Precision::kInt8);
  if (!int8.ok()) {
    std::fprintf(stderr, "int8 Linear: %s\n", std::string(int8.status().message()).c_str());
    return false;
  }
  const int64_t max_rows = kRowCounts[std::size(kRowCounts) - 1];
  std::vector<float> x(max_rows * in), y(max_rows * out);
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : x) v = normal(rng);
  Q8_0Run q8{flags.kernel,
             in,
             out,
             packed.get(),
             std::vector<int16_t>(max_rows * in),
             std::vector<float>(max_rows)};

  std::printf("%lld x %lld (in x out): Q8_0 %.1f MB, int8 %.1f MB\n", static_cast<long long>(in),
              static_cast<long long>(out), packed_bytes * 1e-6, int8->WeightBytes() * 1e-6);
  PrintAccuracy(w, x, in, out, q8, *int8, ctx);
  w = {};
  std::printf("  %-5s %5s %10s %9s %9s\n", "path", "rows", "ms/call", "GB/s", "GMAC/s");
  for (int64_t rows : kRowCounts) {
    bool failed = false;
    const std::vector<double> seconds =
        MedianSeconds({[&] { q8(x.data(), rows, y.data()); },
                       [&] { failed |= !int8->Apply(ctx, x.data(), rows, y.data()).ok(); },
                       [&] { q8.Multiply(rows, y.data()); },
                       [&] { q8.MultiplyWith(Q8_0Kernel::kAvx512Vnni, rows, y.data()); }},
                      flags.seconds);
    if (failed) {
      std::fprintf(stderr, "int8 Apply failed at %lld rows\n", static_cast<long long>(rows));
      return false;
    }
    const double macs = static_cast<double>(rows) * in * out;
    PrintRow("q8_0", rows, seconds[0], packed_bytes, macs);
    PrintRow("int8", rows, seconds[1], int8->WeightBytes(), macs);
    PrintRow("  mm", rows, seconds[2], packed_bytes, macs);
    if (flags.kernel == Q8_0Kernel::kAmx) PrintRow("vnni", rows, seconds[3], packed_bytes, macs);
  }
  return true;
}

}  // namespace
}  // namespace rwkv::engine

int main(int argc, char** argv) {
  rwkv::ParseCommandLine(argc, argv,
                         "Q8_0Matmul against the int8 Linear on one matrix shape at a time.\n"
                         "  rwkv-q8-bench [--threads 1] [--seconds 0.3] [--shape INxOUT] "
                         "[--kernel portable|avx2|vnni|amx]");
  rwkv::engine::Flags flags;
  flags.threads = absl::GetFlag(FLAGS_threads);
  flags.seconds = absl::GetFlag(FLAGS_seconds);
  if (const std::string shape = absl::GetFlag(FLAGS_shape); !shape.empty()) {
    long long in = 0, out = 0;
    if (std::sscanf(shape.c_str(), "%lldx%lld", &in, &out) != 2 ||
        !rwkv::engine::Q8_0Applies(in) || out <= 0) {
      std::fprintf(stderr, "--shape must be INxOUT, IN a multiple of 32\n");
      return 2;
    }
    flags.shapes = {{in, out}};
  }
  if (const std::string kernel = absl::GetFlag(FLAGS_kernel);
      !kernel.empty() && !rwkv::engine::KernelFromName(kernel, flags.kernel)) {
    std::fprintf(stderr, "unknown --kernel %s\n", kernel.c_str());
    return 2;
  }
  if (flags.threads < 1 || !rwkv::engine::Q8_0KernelSupported(flags.kernel)) {
    std::fprintf(stderr, "--threads must be >= 1 and --kernel one this CPU runs\n");
    return 2;
  }
  omp_set_num_threads(flags.threads);
  std::printf("Q8_0Matmul (%s kernel) vs int8 Linear, %d thread(s), interleaved medians\n",
              rwkv::engine::kKernelNames[static_cast<int>(flags.kernel)], flags.threads);
  for (const auto& [in, out] : flags.shapes) {
    if (!rwkv::engine::BenchShape(flags, in, out)) return 1;
  }
  return 0;
}
