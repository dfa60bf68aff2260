#include "engine/forward/weight_reader.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "engine/compute/int8_rows.h"
#include "engine/compute/linear_packer.h"

namespace rwkv::engine {

std::string BlockTensor(int layer, absl::string_view suffix) {
  return absl::StrCat("blocks.", layer, ".", suffix);
}

absl::StatusOr<const TensorInfo*> WeightReader::Check(const std::string& name,
                                                      const std::vector<int64_t>& ne) const {
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
  return info;
}

absl::StatusOr<std::vector<float>> WeightReader::Vector(const std::string& name,
                                                        std::vector<int64_t> ne) {
  RWKV_ASSIGN_OR_RETURN(const TensorInfo* info, Check(name, ne));
  std::vector<float> data(info->NumElements());
  // One run of the whole tensor, which releases its stored pages.
  RWKV_RETURN_IF_ERROR(source_.ReadF32Rows(
      name, absl::MakeSpan(data), [](int64_t, absl::Span<float>) { return absl::OkStatus(); }));
  return data;
}

absl::Status WeightReader::Rows(const std::string& name, std::vector<int64_t> ne,
                                absl::Span<float> buffer, TensorSource::RowConsumer consume) {
  RWKV_RETURN_IF_ERROR(Check(name, ne).status());
  return source_.ReadF32Rows(name, buffer, consume);
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
  const Precision precision = IsLoraMatrix(name) ? LoraPrecision() : precision_;
  RWKV_ASSIGN_OR_RETURN(LinearPacker packer, LinearPacker::Start(matmul_, in, out, precision));
  // Runs of about 1 MiB of float32: a vocabulary-sized head never has a whole float32 copy.
  const int64_t run_rows =
      packer.RunRows(std::max<int64_t>(1, (int64_t{1} << 18) / std::max<int64_t>(in, 1)));
  std::vector<float> buffer(static_cast<size_t>(run_rows * in));
  if (precision == Precision::kInt8) {
    // Input-channel scales need every row first: one more pass over the tensor.
    std::vector<float> input_scales(static_cast<size_t>(in), 0.0f);
    RWKV_RETURN_IF_ERROR(
        Rows(name, {in, out}, absl::MakeSpan(buffer), [&](int64_t, absl::Span<float> rows) {
          ColumnMax(rows.data(), static_cast<int64_t>(rows.size()) / in, in, input_scales.data());
          return absl::OkStatus();
        }));
    InputScalesFromColumnMax(in, input_scales.data());
    RWKV_RETURN_IF_ERROR(packer.SetInputScales(input_scales));
  }
  RWKV_RETURN_IF_ERROR(Rows(
      name, {in, out}, absl::MakeSpan(buffer),
      [&](int64_t first_row, absl::Span<float> rows) { return packer.AddRows(first_row, rows); }));
  return std::move(packer).Finish();
}

absl::StatusOr<Linear> WeightReader::Pack(const float* weights, int64_t in, int64_t out) {
  return Linear::Create(matmul_, weights, in, out, LoraPrecision());
}

}  // namespace rwkv::engine
