// Matrix products through oneDNN: packed weights, cached primitives, three precisions.
//
//   MatmulContext ctx;                                   // one per engine; not thread-safe
//   RWKV_ASSIGN_OR_RETURN(Linear proj,
//                         Linear::Create(ctx, w.data(), /*in=*/768, /*out=*/768,
//                         Precision::kBf16));
//   proj.Apply(ctx, x, /*rows=*/m, y);                   // y[m, out] = x[m, in] * W^T
//   proj.Apply(ctx, x, m, residual, Epilogue::kAccumulate);  // residual += x * W^T
//
// Weights are converted and reordered once, at load, into the layout oneDNN's kernel prefers
// (blocked for brgemm / AMX); the float32 copy is dropped. Inputs and outputs are always float32
// rows: bf16 converts the input rows on the fly, int8 quantizes each input row with its own
// scale (oneDNN 2.6 cannot multiply float32 by int8; int8: to 16 bits as two int8 rows,
// int8-fast: 8 bits, see int8_rows.h) and rescales the int32 sums; one or two int8 rows read the
// packed matrix with VNNI loops of our own instead (int8_gemv.h), as do a few bf16 rows
// (bf16_gemv.h, in the AMX kernel's summation order; bf16 epilogues run after the product,
// epilogue.h, so both paths share them). q8_0 keeps ggml's Q8_0 blocks and runs its own kernel
// for every row count (q8_0_matmul.h).
//
// Steady state allocates nothing: primitives are created once per (rows, in, out, format,
// epilogue) and shared by every Linear of that shape; their memory objects, argument maps,
// scratchpads and conversion buffers are reused.
#ifndef RWKV_ENGINE_COMPUTE_MATMUL_H_
#define RWKV_ENGINE_COMPUTE_MATMUL_H_

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/compute/precision.h"

namespace rwkv::engine {

// Element-wise work fused into the matmul.
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
  size_t CachedPrimitives() const { return matmuls_.size(); }
  // Totals over every Linear created with this context: the bytes of their packed weights
  // (what one decode step streams from memory) and their multiply-adds per input row.
  int64_t PackedBytes() const { return packed_bytes_; }
  int64_t MacsPerRow() const { return macs_per_row_; }
  // The kernels oneDNN chose, one line per distinct one ("brg:avx512_core_amx_bf16 ...").
  std::string KernelSummary() const;
  // True while a oneDNN primitive executes. oneDNN 2.6 allocates its per-call argument
  // bookkeeping there (and its AMX workers some scratch), which no API avoids; the allocation
  // test uses this to tell those allocations from ours.
  static bool InsideOneDnnCall();

 private:
  friend class Linear;
  friend class LinearPacker;

  // A primitive with the memory objects and arguments it always runs with. The arguments are
  // kept in oneDNN's C form: the C++ execute() builds a vector on every call.
  struct Bound {
    dnnl::primitive primitive;
    dnnl::memory src, dst, scratchpad;
    std::vector<dnnl_exec_arg_t> args;
    int weights_arg = -1;  // index in args of the weights, replaced per call
    int64_t rows = 0;      // rows the primitive runs on (see Matmul)
  };
  // rows, in, out, src type, weight type, epilogue
  using Key = std::tuple<int64_t, int64_t, int64_t, int, int, int>;

  absl::StatusOr<Bound*> Matmul(int64_t rows, int64_t in, int64_t out,
                                dnnl::memory::data_type src_type, const dnnl::memory& weights,
                                Epilogue epilogue);
  // f32 -> bf16 conversion of [rows, cols].
  absl::StatusOr<Bound*> ToBf16(int64_t rows, int64_t cols);
  // `weights`: the Linear's packed matrix (primitives are shared between Linears of one shape).
  absl::Status Run(Bound& bound, const void* src, void* dst,
                   const dnnl::memory* weights = nullptr);
  // Runs a matmul on `rows` rows of `src` (row_bytes each) into float32 `dst` (`out` columns),
  // padding to the primitive's row count when it has more. `dst_is_input`: the epilogue reads
  // dst (accumulate).
  absl::Status RunRows(Bound& bound, const void* src, size_t row_bytes, int64_t rows, float* dst,
                       int64_t out, bool dst_is_input, const dnnl::memory& weights);
  void* Scratchpad(size_t bytes);
  // sums_, grown to hold `floats`: products that must not land in y (the epilogue reads y).
  float* Sums(int64_t floats);

  dnnl::engine engine_;
  dnnl::stream stream_;
  // Shared: a few-row shape may run on the primitive of a larger one.
  absl::flat_hash_map<Key, std::shared_ptr<Bound>> matmuls_;
  absl::flat_hash_map<std::pair<int64_t, int64_t>, std::unique_ptr<Bound>> conversions_;
  absl::flat_hash_map<std::string, int> kernels_;  // impl name -> primitives using it
  std::vector<char> scratchpad_;
  int64_t packed_bytes_ = 0;
  int64_t macs_per_row_ = 0;
  // Converted inputs, row scales and int32 sums of the current call.
  std::vector<uint16_t> bf16_rows_;
  std::vector<int8_t> int8_rows_;
  std::vector<int16_t> int16_rows_;  // q8_0's activations
  std::vector<float> row_scales_;
  std::vector<float> sums_;
  std::vector<char> padded_src_;
  std::vector<float> padded_dst_;
  // bf16 split along the inputs (Linear::ApplyBf16Parts): one part's inputs and the running sum.
  std::vector<float> part_x_;
  std::vector<float> parts_total_;
};

// A weight matrix applied as y = x W^T, W of PyTorch shape (out, in) (rwkv.cpp ggml [in, out]).
class Linear {
 public:
  // `weights` holds out rows of `in` floats; it is converted to `precision` and packed (in one
  // run of LinearPacker, which packs a matrix that arrives a run of rows at a time).
  static absl::StatusOr<Linear> Create(MatmulContext& ctx, const float* weights, int64_t in,
                                       int64_t out, Precision precision = Precision::kF32);

  Linear() = default;
  Linear(Linear&&) = default;
  Linear& operator=(Linear&&) = default;

  // y[rows, out] = epilogue(x[rows, in] W^T). x and y are dense row-major float32 and must not
  // overlap.
  absl::Status Apply(MatmulContext& ctx, const float* x, int64_t rows, float* y,
                     Epilogue epilogue = Epilogue::kNone) const;

  int64_t in() const { return in_; }
  int64_t out() const { return out_; }
  Precision precision() const { return precision_; }
  // Bytes held for the weights (packed matrix and int8 scales; q8_0: its blocks).
  size_t WeightBytes() const;

 private:
  friend class LinearPacker;

  // The packed matrix's memory in oneDNN's preferred layout, not yet filled; int8 scales and
  // compensation sized. INTERNAL when oneDNN has no layout for it.
  static absl::StatusOr<Linear> Allocate(MatmulContext& ctx, int64_t in, int64_t out,
                                         Precision precision);
  // Allocate's q8_0 part: INVALID_ARGUMENT when `in` is not whole blocks of 32.
  static absl::StatusOr<Linear> AllocateQ8_0(Linear linear);
  absl::Status ApplyInt8(MatmulContext& ctx, const float* x, int64_t rows, float* y,
                         Epilogue epilogue) const;
  absl::Status ApplyBf16(MatmulContext& ctx, const float* x, int64_t rows, float* y,
                         Epilogue epilogue) const;
  absl::Status ApplyQ8_0(MatmulContext& ctx, const float* x, int64_t rows, float* y,
                         Epilogue epilogue) const;
  absl::Status ApplyBf16Parts(MatmulContext& ctx, const float* x, int64_t rows, float* y,
                              Epilogue epilogue) const;
  // The packed matrices: weights_, or each part's.
  std::vector<const dnnl::memory*> Packed() const;

  int64_t in_ = 0;
  int64_t out_ = 0;
  Precision precision_ = Precision::kF32;
  dnnl::memory weights_;
  std::vector<float> scales_;        // int8: per output channel
  std::vector<float> input_scales_;  // int8 (not int8-fast): per input channel (InputScales)
  // int8 when the few-row VNNI path reads the packed weights (int8_gemv.h): its per-output
  // compensation; empty otherwise.
  std::vector<int32_t> compensation_;
  // bf16: few rows take Bf16Gemv over the packed weights (bf16_gemv.h).
  bool bf16_gemv_ = false;
  // bf16 with more than kBf16GemvMaxIn inputs: the matrix cut along its inputs into parts of at
  // most that many, each packed on its own (weights_ stays empty). oneDNN's AMX kernel splits
  // long sums into partial sums of its own choice, which differ with the row count and threads;
  // parts of a length it sums in one run, added in a fixed order, give every batch the same bits.
  std::vector<Linear> parts_;
  // q8_0: the Q8_0 blocks in the kernel's layout (Q8_0PackedBytes, 64-byte aligned); weights_
  // stays empty.
  struct FreeBytes {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t[], FreeBytes> q8_0_;
  size_t q8_0_bytes_ = 0;
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_COMPUTE_MATMUL_H_
