#include "engine/forward/weight_reader.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "engine/compute/int8_rows.h"
#include "engine/compute/linear_packer.h"
#include "engine/compute/q8_0_matmul.h"

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

bool MatricesStoredAsQ8_0(const TensorSource& source) {
  int64_t q8_0 = 0, all = 0;
  for (const TensorInfo& info : source.Tensors()) {
    if (info.ne.size() != 2) continue;
    all += info.NumElements();
    if (info.type == GgmlType::kQ8_0) q8_0 += info.NumElements();
  }
  return 2 * q8_0 > all;
}

bool IsLoraMatrix(absl::string_view name) {
  for (absl::string_view suffix : {".w1", ".w2", ".a1", ".a2", ".v1", ".v2", ".g1", ".g2",
                                   "time_maa_w1", "time_maa_w2", "time_decay_w1",
                                   "time_decay_w2"}) {
    if (absl::EndsWith(name, suffix)) return true;
  }
  return false;
}

Precision WeightReader::MatrixPrecision(const std::string& name, int64_t in) const {
  if (IsLoraMatrix(name)) return LoraPrecision();
  if (precision_ == Precision::kQ8_0 && !Q8_0Applies(in)) return Precision::kInt8;
  return precision_;
}

namespace {

// Runs of about 1 MiB of float32: a vocabulary-sized head never has a whole float32 copy.
int64_t RunRowsFor(const LinearPacker& packer, int64_t in) {
  return packer.RunRows(std::max<int64_t>(1, (int64_t{1} << 18) / std::max<int64_t>(in, 1)));
}

}  // namespace

absl::Status WeightReader::AddStoredQ8_0(const std::string& name, int64_t in,
                                         LinearPacker& packer) {
  const TensorInfo* info = source_.Find(name);
  if (info == nullptr || info->type != GgmlType::kQ8_0) {
    return absl::UnimplementedError("not stored as Q8_0");
  }
  return source_.ReadStoredRows(name, RunRowsFor(packer, in),
                                [&](int64_t first_row, int64_t, absl::Span<const uint8_t> stored) {
                                  return packer.AddQ8_0Rows(first_row, stored);
                                });
}

absl::StatusOr<Linear> WeightReader::Matrix(const std::string& name, int64_t in, int64_t out) {
  const Precision precision = MatrixPrecision(name, in);
  RWKV_ASSIGN_OR_RETURN(LinearPacker packer, LinearPacker::Start(matmul_, in, out, precision));
  if (precision == Precision::kQ8_0) {
    RWKV_RETURN_IF_ERROR(Check(name, {in, out}).status());
    const absl::Status stored = AddStoredQ8_0(name, in, packer);
    if (stored.ok()) return std::move(packer).Finish();
    if (!absl::IsUnimplemented(stored)) return stored;
  }
  const int64_t run_rows = RunRowsFor(packer, in);
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
