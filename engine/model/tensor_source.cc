#include "engine/model/tensor_source.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/absl_view.h"
#include "common/hash64.h"
#include "common/status_macros.h"

namespace rwkv::engine {

std::string_view GgmlTypeName(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return "F32";
    case GgmlType::kF16:
      return "F16";
    case GgmlType::kQ4_0:
      return "Q4_0";
    case GgmlType::kQ4_1:
      return "Q4_1";
    case GgmlType::kQ5_0:
      return "Q5_0";
    case GgmlType::kQ5_1:
      return "Q5_1";
    case GgmlType::kQ8_0:
      return "Q8_0";
    case GgmlType::kQ4_K:
      return "Q4_K";
    case GgmlType::kQ5_K:
      return "Q5_K";
    case GgmlType::kQ6_K:
      return "Q6_K";
    case GgmlType::kBF16:
      return "BF16";
  }
  return "unknown";
}

// Product of ne (1 for no dimensions); -1 when a dimension is negative or the product overflows,
// so that a bad shape can never pass for a small one.
int64_t TensorInfo::NumElements() const {
  int64_t count = 1;
  for (const int64_t n : ne) {
    if (n < 0 || __builtin_mul_overflow(count, n, &count)) return -1;
  }
  return count;
}

std::string TensorInfo::ShapeString() const {
  return absl::StrCat("[", absl::StrJoin(ne, ", "), "]");
}

int64_t RowElements(const TensorInfo& info) { return info.ne.empty() ? 1 : info.ne[0]; }

absl::Status ForEachRowRun(
    const std::string& describe, const TensorInfo& info, size_t buffer_floats,
    absl::FunctionRef<absl::Status(int64_t first_row, int64_t first_element, int64_t elements)>
        run) {
  const int64_t total = info.NumElements();
  const int64_t row = RowElements(info);
  if (total <= 0) return absl::OkStatus();
  if (static_cast<int64_t>(buffer_floats) < row) {
    return absl::InvalidArgumentError(absl::StrCat(describe, ": tensor '", info.name,
                                                   "': a buffer of ", buffer_floats,
                                                   " floats holds no row of ", row));
  }
  const int64_t rows_per_run = static_cast<int64_t>(buffer_floats) / row;
  for (int64_t first = 0; first * row < total; first += rows_per_run) {
    RWKV_RETURN_IF_ERROR(
        run(first, first * row, std::min(rows_per_run * row, total - first * row)));
  }
  return absl::OkStatus();
}

absl::Status TensorSource::ReadF32Rows(std::string_view name, absl::Span<float> buffer,
                                       RowConsumer consume) const {
  const TensorInfo* info = Find(name);
  if (info == nullptr) {
    return absl::NotFoundError(absl::StrCat(Describe(), ": no tensor named '", AsAbsl(name), "'"));
  }
  const int64_t total = info->NumElements();
  if (total > 0 && static_cast<int64_t>(buffer.size()) >= total) {
    const absl::Span<float> all = buffer.subspan(0, static_cast<size_t>(total));
    RWKV_RETURN_IF_ERROR(ReadF32(name, all));
    return consume(0, all);
  }
  std::vector<float> whole;
  return ForEachRowRun(Describe(), *info, buffer.size(),
                       [&](int64_t first_row, int64_t first, int64_t count) -> absl::Status {
                         if (whole.empty()) {
                           whole.resize(static_cast<size_t>(total));
                           RWKV_RETURN_IF_ERROR(ReadF32(name, absl::MakeSpan(whole)));
                         }
                         std::copy_n(whole.begin() + first, count, buffer.begin());
                         return consume(first_row, buffer.subspan(0, static_cast<size_t>(count)));
                       });
}

absl::Status TensorSource::ReadStoredRows(std::string_view name, int64_t, StoredRowConsumer) const {
  if (Find(name) == nullptr) {
    return absl::NotFoundError(absl::StrCat(Describe(), ": no tensor named '", AsAbsl(name), "'"));
  }
  return absl::UnimplementedError(
      absl::StrCat(Describe(), ": tensor '", AsAbsl(name), "' is not kept as stored"));
}

TensorContentHasher::TensorContentHasher(const TensorInfo& info, uint64_t data_bytes) {
  // Every variable-length field is preceded by its length, so no two tensors share a byte stream.
  hash_.UpdateU64(info.name.size());
  hash_.Update(info.name.data(), info.name.size());
  hash_.UpdateU64(info.ne.size());
  for (const int64_t n : info.ne) hash_.UpdateU64(static_cast<uint64_t>(n));
  hash_.UpdateU64(static_cast<uint64_t>(static_cast<int32_t>(info.type)));
  hash_.UpdateU64(data_bytes);
}

uint64_t HashTensorContent(const TensorInfo& info, absl::Span<const uint8_t> data) {
  TensorContentHasher hasher(info, data.size());
  hasher.Update(data);
  return hasher.Digest();
}

}  // namespace rwkv::engine
