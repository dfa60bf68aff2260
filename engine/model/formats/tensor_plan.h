// TensorPlan: how one tensor the engine reads is made from a checkpoint's stored tensors.
//
// Checkpoints store the same weights under different names and layouts: BlinkDL's training
// names, Hugging Face's (fla-hub RWKV-7, transformers RWKV-4/5/6), llama.cpp's GGUF names with
// fused and rescaled tensors. The engine reads rwkv.cpp's layout (docs/rwkv-architecture.md §2).
// Mapping happens in two steps, each a table of plans:
//   1. family -> BlinkDL: every BlinkDL tensor as Parts of stored tensors (renamed, split out of a
//      fused tensor, transposed back, un-rescaled);
//   2. BlinkDL -> rwkv.cpp: what rwkv.cpp's converter does (squeeze, exp transforms, transposes,
//      v7's concatenated token-shift mixes).
// Plans are applied lazily, one tensor at a time, when the engine reads it.
#ifndef RWKV_ENGINE_MODEL_FORMATS_TENSOR_PLAN_H_
#define RWKV_ENGINE_MODEL_FORMATS_TENSOR_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace rwkv::engine {

// A data reordering, in PyTorch (outermost-first) shape terms.
enum class Layout {
  kAsIs,
  kTranspose,  // 2-D (a, b) -> (b, a)
  kSwap12,     // 3-D (a, b, c) -> (a, c, b)
};

// An element-wise function applied in double precision and rounded once to float, as the
// reference converter's numpy port does, so the results match its files bit for bit.
enum class ValueOp {
  kNone,
  kNegExp,     // -exp(x): v4 time_decay
  kExpNegExp,  // exp(-exp(x)): v5 time_decay
  kExp,        // exp(x): v5.1 time_first
};

// One BlinkDL tensor, made from stored tensors: the named sources are concatenated (flattened),
// slice `slice` of `slices` equal parts is taken, that data (PyTorch shape `shape`) is reordered by
// `layout` into BlinkDL's shape and multiplied by `scale`.
struct Part {
  std::vector<std::string> sources;
  int slice = 0;
  int slices = 1;
  std::vector<int64_t> shape;
  Layout layout = Layout::kAsIs;
  float scale = 1.0f;
};

// One tensor the engine reads: the concatenation of `parts`, reordered by `layout`, transformed by
// `value`, with PyTorch shape `shape` (ggml ne is its reverse).
struct TensorPlan {
  std::string name;
  std::vector<Part> parts;
  Layout layout = Layout::kAsIs;
  ValueOp value = ValueOp::kNone;
  std::vector<int64_t> shape;
};

// Elements of a shape (1 for none); -1 when negative or overflowing.
int64_t ShapeElements(absl::Span<const int64_t> shape);
// The shape after `layout` (INVALID_ARGUMENT when the rank does not fit the layout).
absl::Status ApplyLayoutToShape(Layout layout, std::vector<int64_t>& shape);
// Reorders `data` (PyTorch shape `shape`) by `layout` into `out` (same size).
void ApplyLayout(Layout layout, absl::Span<const int64_t> shape, absl::Span<const float> data,
                 absl::Span<float> out);
void ApplyValueOp(ValueOp op, absl::Span<float> data);
// True when applying `first` then `second` leaves the data in place (both as-is, or the same
// self-inverse reordering twice).
bool LayoutsCancel(Layout first, Layout second);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_FORMATS_TENSOR_PLAN_H_
