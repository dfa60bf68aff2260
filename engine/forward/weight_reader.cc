#include "engine/forward/weight_reader.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace rwkv::engine {

std::string BlockTensor(int layer, absl::string_view suffix) {
  return absl::StrCat("blocks.", layer, ".", suffix);
}

absl::StatusOr<std::vector<float>> WeightReader::Vector(const std::string& name,
                                                        std::vector<int64_t> ne) {
  const TensorInfo* info = source_.Find(name);
  if (info == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_.Describe(), ": missing tensor '", name, "'"));
  }
  if (info->ne != ne) {
    return absl::InvalidArgumentError(absl::StrCat(source_.Describe(), ": tensor '", name,
                                                   "' has shape ", info->ShapeString(),
                                                   ", expected [", absl::StrJoin(ne, ", "), "]"));
  }
  std::vector<float> data(info->NumElements());
  RWKV_RETURN_IF_ERROR(source_.ReadF32(name, absl::MakeSpan(data)));
  return data;
}

bool IsLoraMatrix(absl::string_view name) {
  for (absl::string_view suffix : {".w1", ".w2", ".a1", ".a2", ".v1", ".v2", ".g1", ".g2",
                                   "time_maa_w1", "time_maa_w2", "time_decay_w1",
                                   "time_decay_w2"}) {
    if (absl::EndsWith(name, suffix)) return true;
  }
  return false;
}

absl::StatusOr<Linear> WeightReader::Matrix(const std::string& name, int64_t in, int64_t out) {
  RWKV_ASSIGN_OR_RETURN(std::vector<float> data, Vector(name, {in, out}));
  const Precision precision = IsLoraMatrix(name) ? LoraPrecision() : precision_;
  return Linear::Create(matmul_, data.data(), in, out, precision);
}

absl::StatusOr<Linear> WeightReader::Pack(const float* weights, int64_t in, int64_t out) {
  return Linear::Create(matmul_, weights, in, out, LoraPrecision());
}

}  // namespace rwkv::engine
