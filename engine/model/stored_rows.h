// DecodeStoredRows: TensorSource::ReadF32Rows for a tensor whose bytes lie in a MappedFile, as
// the file-backed sources (rwkv.cpp .bin, .pth, safetensors, GGUF) store them.
//
//   if (RowsDecodeAlone(*info)) {
//     return DecodeStoredRows(path_, *info, data, *file_, buffer, consume);
//   }
//
// Each run of rows is decoded from its own bytes, handed to `consume`, and its pages are then
// returned to the OS: loading a tensor never keeps its stored bytes resident.
#ifndef RWKV_ENGINE_MODEL_STORED_ROWS_H_
#define RWKV_ENGINE_MODEL_STORED_ROWS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "engine/model/formats/mapped_file.h"
#include "engine/model/tensor_source.h"

namespace rwkv::engine {

// True when every row of `info` is a whole number of blocks of its type, so that a run of rows
// decodes from its own bytes.
bool RowsDecodeAlone(const TensorInfo& info);

// Decodes `data` (`info`'s stored bytes, exactly StoredBytes(type, NumElements()) long, inside
// `file` or held elsewhere) as ReadF32Rows specifies, then releases each run's bytes from
// `file`. `describe` names the source in errors. Requires RowsDecodeAlone(info).
absl::Status DecodeStoredRows(const std::string& describe, const TensorInfo& info,
                              absl::Span<const uint8_t> data, const MappedFile& file,
                              absl::Span<float> buffer, TensorSource::RowConsumer consume);

// TensorSource::ReadStoredRows over the same bytes: runs of at most `max_rows` rows of `data`,
// each released from `file` once consumed. Requires RowsDecodeAlone(info).
absl::Status ReadStoredRunsOf(const std::string& describe, const TensorInfo& info,
                              absl::Span<const uint8_t> data, const MappedFile& file,
                              int64_t max_rows, TensorSource::StoredRowConsumer consume);

// HashTensorContent(info, data), hashed a few MiB at a time, each piece's pages released from
// `file` once hashed: hashing a large tensor never has it resident whole.
uint64_t HashStoredTensor(const TensorInfo& info, absl::Span<const uint8_t> data,
                          const MappedFile& file);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_STORED_ROWS_H_
