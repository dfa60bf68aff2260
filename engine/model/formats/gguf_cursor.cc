#include "engine/model/formats/gguf_cursor.h"

#include "absl/strings/str_cat.h"
#include "common/absl_view.h"

namespace rwkv::engine {
absl::Status GgufCursor::Need(uint64_t count, std::string_view what) const {
  const uint64_t remaining = static_cast<uint64_t>(file_.size() - offset_);
  if (count <= remaining) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(file_.path(), ": truncated: ", context_, ": ",
                                          AsAbsl(what), " at offset ", offset_, " needs ", count,
                                          " bytes, the file ends at ", file_.size()));
}

absl::Status GgufCursor::CheckCount(uint64_t count, uint64_t min_bytes,
                                    std::string_view what) const {
  const uint64_t remaining = static_cast<uint64_t>(file_.size() - offset_);
  if (count <= remaining / min_bytes) return absl::OkStatus();
  return Invalid(
      absl::StrCat(count, " ", AsAbsl(what), " cannot fit in the ", remaining, " bytes left"));
}

absl::Status GgufCursor::Invalid(std::string_view message) const {
  return absl::InvalidArgumentError(
      absl::StrCat(file_.path(), ": ", context_, " at offset ", offset_, ": ", AsAbsl(message)));
}

absl::StatusOr<std::string> GgufCursor::ReadString(std::string_view what) {
  absl::StatusOr<uint64_t> length = ReadLE<uint64_t>(absl::StrCat(AsAbsl(what), " length"));
  if (!length.ok()) return length.status();
  if (absl::Status status = Need(*length, what); !status.ok()) return status;
  std::string value(reinterpret_cast<const char*>(file_.bytes().data()) + offset_, *length);
  offset_ += static_cast<int64_t>(*length);
  return value;
}

}  // namespace rwkv::engine
