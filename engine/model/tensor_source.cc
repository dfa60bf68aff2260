#include "engine/model/tensor_source.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/hash64.h"

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
