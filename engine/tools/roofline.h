// What this machine can do at most, for rwkv-bench to judge its results against.
#ifndef RWKV_ENGINE_TOOLS_ROOFLINE_H_
#define RWKV_ENGINE_TOOLS_ROOFLINE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "engine/compute/precision.h"

namespace rwkv::engine {

// DRAM read bandwidth in bytes/s with `threads` threads, reading a buffer far larger than the
// caches (the median of a few passes).
double MeasureReadBandwidth(int threads);

// oneDNN matmul throughput in FLOP/s for our Linear at `precision`: `rows` x `width` inputs times
// a `width` x `width` matrix (the shape of a batched RWKV projection), median of several runs.
absl::StatusOr<double> MeasureMatmulPeak(Precision precision, int64_t width, int64_t rows,
                                         int threads);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_TOOLS_ROOFLINE_H_
