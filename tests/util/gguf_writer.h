// GgufWriter: builds GGUF files in memory from the format's definition, for tests and fuzz seeds
// (header-only, so the fuzz build can use it without the test libraries).
//
//   std::string bytes = GgufWriter()
//                           .Kv("general.architecture", kGgufString, GgufStr("rwkv7"))
//                           .Tensor("a", {2}, GgufTypeCode(GgmlType::kF32), data)
//                           .Build();
#ifndef RWKV_TESTS_UTIL_GGUF_WRITER_H_
#define RWKV_TESTS_UTIL_GGUF_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/tensor_source.h"

namespace rwkv::testing {

// GGUF value types used by callers.
inline constexpr uint32_t kGgufU32 = 4;
inline constexpr uint32_t kGgufString = 8;
inline constexpr uint32_t kGgufArray = 9;

inline std::string GgufU32(uint32_t v) {
  std::string out(4, '\0');
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(v >> (8 * i));
  return out;
}
inline std::string GgufU64(uint64_t v) {
  return GgufU32(static_cast<uint32_t>(v)) + GgufU32(static_cast<uint32_t>(v >> 32));
}
// A GGUF string: u64 length, bytes.
inline std::string GgufStr(const std::string& s) { return GgufU64(s.size()) + s; }

// GGUF's type code of `type` (current ggml numbering).
inline uint32_t GgufTypeCode(engine::GgmlType type) {
  switch (type) {
    case engine::GgmlType::kQ5_0:
      return 6;
    case engine::GgmlType::kQ5_1:
      return 7;
    case engine::GgmlType::kQ8_0:
      return 8;
    default:  // F32, F16, Q4_0, Q4_1, the K-quants and BF16 share rwkv.cpp's codes.
      return static_cast<uint32_t>(type);
  }
}

class GgufWriter {
 public:
  // A key/value pair whose value (after the type) is `value` exactly.
  GgufWriter& Kv(const std::string& key, uint32_t type, const std::string& value) {
    kvs_.push_back(GgufStr(key) + GgufU32(type) + value);
    return *this;
  }
  // `count` key/value pairs already encoded as `bytes`.
  GgufWriter& RawKvs(uint64_t count, const std::string& bytes) {
    raw_kv_count_ += count;
    raw_kvs_ += bytes;
    return *this;
  }
  // A tensor description with this data offset (no data added).
  GgufWriter& Info(const std::string& name, const std::vector<uint64_t>& ne, uint32_t type,
                   uint64_t offset) {
    std::string info = GgufStr(name) + GgufU32(static_cast<uint32_t>(ne.size()));
    for (uint64_t n : ne) info += GgufU64(n);
    infos_.push_back(info + GgufU32(type) + GgufU64(offset));
    return *this;
  }
  // A tensor and its bytes, placed at the next aligned data offset.
  GgufWriter& Tensor(const std::string& name, const std::vector<uint64_t>& ne, uint32_t type,
                     const std::string& bytes) {
    data_.resize(AlignUp(data_.size()), '\0');
    Info(name, ne, type, data_.size());
    data_ += bytes;
    return *this;
  }
  // Writes general.alignment; call before adding tensors.
  GgufWriter& Alignment(uint32_t alignment) {
    alignment_ = alignment;
    return Kv("general.alignment", kGgufU32, GgufU32(alignment));
  }
  GgufWriter& Version(uint32_t version) {
    version_ = version;
    return *this;
  }
  std::string Build() const {
    std::string out = "GGUF" + GgufU32(version_) + GgufU64(infos_.size()) +
                      GgufU64(raw_kv_count_ + kvs_.size()) + raw_kvs_;
    for (const std::string& kv : kvs_) out += kv;
    for (const std::string& info : infos_) out += info;
    out.resize(AlignUp(out.size()), '\0');
    return out + data_;
  }

 private:
  size_t AlignUp(size_t n) const { return (n + alignment_ - 1) / alignment_ * alignment_; }

  uint32_t version_ = 3;
  uint32_t alignment_ = 32;
  uint64_t raw_kv_count_ = 0;
  std::string raw_kvs_;
  std::vector<std::string> kvs_, infos_;
  std::string data_;
};

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_UTIL_GGUF_WRITER_H_
