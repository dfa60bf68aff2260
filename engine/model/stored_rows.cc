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

absl::Status ReadStoredRunsOf(const std::string& describe, const TensorInfo& info,
                              absl::Span<const uint8_t> data, const MappedFile& file,
                              int64_t max_rows, TensorSource::StoredRowConsumer consume) {
  const int64_t row = RowElements(info);
  const int64_t total_rows = std::max<int64_t>(1, info.NumElements() / row);
  const int64_t run_elements = std::clamp<int64_t>(max_rows, 1, total_rows) * row;
  int64_t offset = 0;
  return ForEachRowRun(
      describe, info, static_cast<size_t>(run_elements),
      [&](int64_t first_row, int64_t, int64_t count) -> absl::Status {
        const absl::StatusOr<int64_t> bytes = StoredBytes(info.type, count);
        absl::Status status = bytes.status();
        if (status.ok() && *bytes > static_cast<int64_t>(data.size()) - offset) {
          status = absl::DataLossError("the stored bytes end early");
        }
        if (!status.ok()) {
          return absl::Status(status.code(),
                              absl::StrCat(describe, ": tensor '", info.name, "' at data byte ",
                                           offset, ": ", status.message()));
        }
        const absl::Span<const uint8_t> stored =
            data.subspan(static_cast<size_t>(offset), static_cast<size_t>(*bytes));
        RWKV_RETURN_IF_ERROR(consume(first_row, count / row, stored));
        ReleaseBehind(file, stored);
        offset += *bytes;
        return absl::OkStatus();
      });
}

absl::Status DecodeStoredRows(const std::string& describe, const TensorInfo& info,
                              absl::Span<const uint8_t> data, const MappedFile& file,
                              absl::Span<float> buffer, TensorSource::RowConsumer consume) {
  const int64_t row = RowElements(info);
  if (static_cast<int64_t>(buffer.size()) < row) {  // ForEachRowRun's error
    return ForEachRowRun(describe, info, buffer.size(),
                         [](int64_t, int64_t, int64_t) { return absl::OkStatus(); });
  }
  int64_t offset = 0;
  return ReadStoredRunsOf(
      describe, info, data, file, static_cast<int64_t>(buffer.size()) / row,
      [&](int64_t first_row, int64_t rows, absl::Span<const uint8_t> stored) -> absl::Status {
        const absl::Span<float> values = buffer.subspan(0, static_cast<size_t>(rows * row));
        const absl::Status decoded = DequantizeRow(info.type, stored.data(), stored.size(), values);
        if (!decoded.ok()) {
          return absl::Status(decoded.code(),
                              absl::StrCat(describe, ": tensor '", info.name, "' at data byte ",
                                           offset, ": ", decoded.message()));
        }
        offset += static_cast<int64_t>(stored.size());
        return consume(first_row, values);
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
