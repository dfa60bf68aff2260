#include "engine/model/stored_rows.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/model/quantization.h"

namespace rwkv::engine {
namespace {

// Releases `done` (bytes of `file`) and the bytes before it back to a 2 MiB boundary: the kernel
// maps pages around each fault (fault-around, large folios), so reading a run maps again some
// pages before it that were already released. Bytes not read yet are paged in again when read.
void ReleaseBehind(const MappedFile& file, absl::Span<const uint8_t> done) {
  if (!file.Contains(done)) return;
  constexpr uintptr_t kWindow = uintptr_t{2} << 20;
  const uintptr_t base = reinterpret_cast<uintptr_t>(file.bytes().data());
  const uintptr_t end = reinterpret_cast<uintptr_t>(done.data()) + done.size();
  const uintptr_t begin =
      std::max(base, reinterpret_cast<uintptr_t>(done.data()) / kWindow * kWindow);
  file.Release(file.bytes().subspan(begin - base, end - begin));
}

}  // namespace

bool RowsDecodeAlone(const TensorInfo& info) {
  const int64_t row = RowElements(info);
  return row > 0 && row % BlockElements(info.type) == 0;
}

absl::Status DecodeStoredRows(const std::string& describe, const TensorInfo& info,
                              absl::Span<const uint8_t> data, const MappedFile& file,
                              absl::Span<float> buffer, TensorSource::RowConsumer consume) {
  int64_t offset = 0;
  return ForEachRowRun(
      describe, info, buffer.size(),
      [&](int64_t first_row, int64_t, int64_t count) -> absl::Status {
        auto error = [&](const absl::Status& status) {
          return absl::Status(status.code(),
                              absl::StrCat(describe, ": tensor '", info.name, "' at data byte ",
                                           offset, ": ", status.message()));
        };
        const absl::StatusOr<int64_t> bytes = StoredBytes(info.type, count);
        if (!bytes.ok()) return error(bytes.status());
        if (*bytes > static_cast<int64_t>(data.size()) - offset) {
          return error(absl::DataLossError("the stored bytes end early"));
        }
        const absl::Span<float> values = buffer.subspan(0, static_cast<size_t>(count));
        const absl::Span<const uint8_t> stored =
            data.subspan(static_cast<size_t>(offset), static_cast<size_t>(*bytes));
        const absl::Status decoded = DequantizeRow(info.type, stored.data(), stored.size(), values);
        if (!decoded.ok()) return error(decoded);
        RWKV_RETURN_IF_ERROR(consume(first_row, values));
        ReleaseBehind(file, stored);
        offset += *bytes;
        return absl::OkStatus();
      });
}

uint64_t HashStoredTensor(const TensorInfo& info, absl::Span<const uint8_t> data,
                          const MappedFile& file) {
  constexpr size_t kPiece = size_t{1} << 20;
  TensorContentHasher hasher(info, data.size());
  for (size_t offset = 0; offset < data.size(); offset += kPiece) {
    const absl::Span<const uint8_t> piece = data.subspan(offset, kPiece);
    hasher.Update(piece);
    ReleaseBehind(file, piece);
  }
  return hasher.Digest();
}

}  // namespace rwkv::engine
