// What rwkv.cpp's converter (convert_pytorch_to_ggml.py) does to BlinkDL tensors, as plans: the
// engine reads rwkv.cpp's layout, so a checkpoint in any family gives exactly the tensors (names,
// shapes, values) of the .bin converted from the same weights (docs/rwkv-architecture.md §2).
#ifndef RWKV_ENGINE_MODEL_FORMATS_RWKV_CPP_LAYOUT_H_
#define RWKV_ENGINE_MODEL_FORMATS_RWKV_CPP_LAYOUT_H_

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/formats/checkpoint_families.h"
#include "engine/model/formats/tensor_plan.h"

namespace rwkv::engine {

// One plan per rwkv.cpp tensor, in the view's order. INVALID_ARGUMENT (naming `describe`) when a
// tensor the version needs for a transform is missing or misshapen.
absl::StatusOr<std::vector<TensorPlan>> PlanRwkvCppTensors(const BlinkdlView& view,
                                                           std::string_view describe);

// rwkv.cpp's FP16 rule: whether a tensor of this name and (PyTorch) shape is stored as F16 in an
// FP16 .bin (>= 2 dimensions and none of the small per-channel parameters).
bool RwkvCppKeepsF16(std::string_view name, absl::Span<const int64_t> shape);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_FORMATS_RWKV_CPP_LAYOUT_H_
