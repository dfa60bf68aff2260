// Matrix products through oneDNN: packed weights and a cache of primitives.
//
//   MatmulContext ctx;                                   // one per engine; not thread-safe
//   RWKV_ASSIGN_OR_RETURN(Linear proj, Linear::Create(ctx, w.data(), /*in=*/768, /*out=*/768));
//   proj.Apply(ctx, x, /*rows=*/m, y);                   // y[m, out] = x[m, in] * W^T
//   proj.Apply(ctx, x, m, residual, Epilogue::kAccumulate);  // residual += x * W^T
//
// Weights are reordered once, at load, into the layout oneDNN's kernel prefers (blocked for
// brgemm); the plain copy is dropped. Primitives depend only on (rows, in, out, epilogue), so
// every Linear of the same shape shares one primitive per row count.
#ifndef RWKV_ENGINE_COMPUTE_MATMUL_H_
#define RWKV_ENGINE_COMPUTE_MATMUL_H_

#include <cstdint>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace rwkv::engine {

// Element-wise work fused into the matmul as oneDNN post-ops.
enum class Epilogue {
  kNone,
  kAccumulate,  // y += x W^T
  kSigmoid,     // y = sigmoid(x W^T)
  kTanh,        // y = tanh(x W^T)
  kReluSquare,  // y = max(x W^T, 0)^2
  kSilu,        // y = z * sigmoid(z), z = x W^T
};

class MatmulContext {
 public:
  MatmulContext();

  dnnl::engine& engine() { return engine_; }
  dnnl::stream& stream() { return stream_; }

  // The primitive for y[rows, out] = x[rows, in] * W with W in `weights_desc`. Created on first
  // use and cached.
  absl::StatusOr<dnnl::matmul*> Primitive(int64_t rows, int64_t in, int64_t out,
                                          const dnnl::memory::desc& weights_desc,
                                          Epilogue epilogue);

  size_t CachedPrimitives() const { return cache_.size(); }

 private:
  using Key = std::tuple<int64_t, int64_t, int64_t, int, int>;  // rows, in, out, dtype, epilogue
  dnnl::engine engine_;
  dnnl::stream stream_;
  absl::flat_hash_map<Key, std::unique_ptr<dnnl::matmul>> cache_;
};

// A weight matrix applied as y = x W^T, W of PyTorch shape (out, in) (rwkv.cpp ggml [in, out]).
class Linear {
 public:
  // `weights` holds out rows of `in` floats. It is copied into oneDNN's packed layout.
  static absl::StatusOr<Linear> Create(MatmulContext& ctx, const float* weights, int64_t in,
                                       int64_t out);

  Linear() = default;
  Linear(Linear&&) = default;
  Linear& operator=(Linear&&) = default;

  // y[rows, out] = epilogue(x[rows, in] W^T). x and y are dense row-major.
  absl::Status Apply(MatmulContext& ctx, const float* x, int64_t rows, float* y,
                     Epilogue epilogue = Epilogue::kNone) const;

  int64_t in() const { return in_; }
  int64_t out() const { return out_; }
  size_t WeightBytes() const { return weights_.get_desc().get_size(); }

 private:
  int64_t in_ = 0;
  int64_t out_ = 0;
  dnnl::memory weights_;
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_COMPUTE_MATMUL_H_
