#include "engine/model/formats/tensor_plan.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace rwkv::engine {

int64_t ShapeElements(absl::Span<const int64_t> shape) {
  int64_t count = 1;
  for (const int64_t n : shape) {
    if (n < 0 || __builtin_mul_overflow(count, n, &count)) return -1;
  }
  return count;
}

absl::Status ApplyLayoutToShape(Layout layout, std::vector<int64_t>& shape) {
  switch (layout) {
    case Layout::kAsIs:
      return absl::OkStatus();
    case Layout::kTranspose:
      if (shape.size() != 2) {
        return absl::InvalidArgumentError(
            absl::StrCat("a transpose needs 2 dimensions, the tensor has ", shape.size()));
      }
      std::swap(shape[0], shape[1]);
      return absl::OkStatus();
    case Layout::kSwap12:
      if (shape.size() != 3) {
        return absl::InvalidArgumentError(absl::StrCat(
            "swapping dimensions 1 and 2 needs 3 dimensions, the tensor has ", shape.size()));
      }
      std::swap(shape[1], shape[2]);
      return absl::OkStatus();
  }
  return absl::InternalError("unknown layout");
}

void ApplyLayout(Layout layout, absl::Span<const int64_t> shape, absl::Span<const float> data,
                 absl::Span<float> out) {
  if (layout == Layout::kAsIs) {
    std::copy(data.begin(), data.end(), out.begin());
    return;
  }
  // Both reorderings transpose the last two dimensions of `batches` matrices.
  const int64_t batches = layout == Layout::kSwap12 ? shape[0] : 1;
  const int64_t rows = shape[shape.size() - 2];
  const int64_t cols = shape[shape.size() - 1];
  for (int64_t b = 0; b < batches; ++b) {
    const float* in = data.data() + b * rows * cols;
    float* o = out.data() + b * rows * cols;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) o[c * rows + r] = in[r * cols + c];
    }
  }
}

void ApplyValueOp(ValueOp op, absl::Span<float> data) {
  switch (op) {
    case ValueOp::kNone:
      return;
    case ValueOp::kNegExp:
      for (float& x : data) x = static_cast<float>(-std::exp(static_cast<double>(x)));
      return;
    case ValueOp::kExpNegExp:
      for (float& x : data) x = static_cast<float>(std::exp(-std::exp(static_cast<double>(x))));
      return;
    case ValueOp::kExp:
      for (float& x : data) x = static_cast<float>(std::exp(static_cast<double>(x)));
      return;
  }
}

bool LayoutsCancel(Layout first, Layout second) { return first == second; }

}  // namespace rwkv::engine
