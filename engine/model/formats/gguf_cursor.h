// GgufCursor: bounds-checked little-endian reads through a GGUF file's header, with errors that
// name the file, what was being read (SetContext: "metadata key 'general.name'") and the offset.
//
//   GgufCursor in(file);
//   in.SetContext("header");
//   RWKV_ASSIGN_OR_RETURN(uint32_t version, in.ReadLE<uint32_t>("version"));
#ifndef RWKV_ENGINE_MODEL_FORMATS_GGUF_CURSOR_H_
#define RWKV_ENGINE_MODEL_FORMATS_GGUF_CURSOR_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/model/formats/mapped_file.h"

namespace rwkv::engine {

class GgufCursor {
 public:
  explicit GgufCursor(const MappedFile& file) : file_(file) {}

  int64_t offset() const { return offset_; }
  // Named in every message until the next call.
  void SetContext(std::string context) { context_ = std::move(context); }

  // DATA_LOSS ("truncated") unless `count` more bytes remain.
  absl::Status Need(uint64_t count, std::string_view what) const;
  // INVALID_ARGUMENT unless `count` items of at least `min_bytes` each fit in what remains, so
  // that a hostile count cannot make the reader allocate more than the file's size.
  absl::Status CheckCount(uint64_t count, uint64_t min_bytes, std::string_view what) const;
  // INVALID_ARGUMENT naming the file, the context and the current offset.
  absl::Status Invalid(std::string_view message) const;

  // An unsigned little-endian integer (uint8_t .. uint64_t).
  template <typename T>
  absl::StatusOr<T> ReadLE(std::string_view what) {
    static_assert(std::is_unsigned_v<T>);
    if (absl::Status status = Need(sizeof(T), what); !status.ok()) return status;
    const uint8_t* p = file_.bytes().data() + offset_;
    T value = 0;
    for (size_t i = 0; i < sizeof(T); ++i) value |= static_cast<T>(static_cast<T>(p[i]) << (8 * i));
    offset_ += sizeof(T);
    return value;
  }

  // A GGUF string: u64 length, then that many bytes.
  absl::StatusOr<std::string> ReadString(std::string_view what);

 private:
  const MappedFile& file_;
  int64_t offset_ = 0;
  std::string context_;
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_FORMATS_GGUF_CURSOR_H_
