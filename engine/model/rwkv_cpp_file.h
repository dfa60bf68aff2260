// RwkvCppFile: a TensorSource over a model file in rwkv.cpp's format (.bin, file versions 100
// and 101; §7 of docs/rwkv-architecture.md).
//
// Open() memory-maps the file read-only and validates the header and every tensor record before
// returning, so that a malformed or truncated file fails there with a status naming the path, the
// tensor and the byte offset, and nothing afterwards can read outside the mapping. Tensor data is
// not copied: ReadF32 decodes straight from the mapping. FromBytes() parses a file already in
// memory the same way (the fuzzer's entry point; Open() is Map() plus the same parse).
//
//   RWKV_ASSIGN_OR_RETURN(std::unique_ptr<RwkvCppFile> file, RwkvCppFile::Open(path));
//   if (file->header().n_layer != expected_layers) ...
//   const TensorInfo* emb = file->Find("emb.weight");
//
// Thread safety: after Open() every method is const and may be called from any thread.
#ifndef RWKV_ENGINE_MODEL_RWKV_CPP_FILE_H_
#define RWKV_ENGINE_MODEL_RWKV_CPP_FILE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/model/formats/mapped_file.h"
#include "engine/model/tensor_source.h"

namespace rwkv::engine {

class RwkvCppFile final : public TensorSource {
 public:
  // The 24-byte file header. data_type is the dominant type of the matrices (informational: each
  // tensor carries its own type), validated like a tensor's type code.
  struct Header {
    uint32_t version = 0;
    int32_t n_vocab = 0;
    int32_t n_embed = 0;
    int32_t n_layer = 0;
    int32_t data_type = 0;
  };

  static constexpr uint32_t kMagic = 0x67676d66;  // "ggmf"
  static constexpr int64_t kHeaderBytes = 24;
  static constexpr int32_t kMaxNameBytes = 4096;

  // Maps and validates `path`. NOT_FOUND (with the system's reason) when it cannot be opened,
  // INVALID_ARGUMENT for a directory or malformed content (bad magic, version, dims, type codes,
  // duplicate names...), DATA_LOSS when the file ends inside the header or a record.
  static absl::StatusOr<std::unique_ptr<RwkvCppFile>> Open(const std::string& path);

  // The same checks and errors over a file's contents held in memory (kept by the result; a
  // moved-in string is not copied). `name` stands for the path in Describe() and in messages.
  static absl::StatusOr<std::unique_ptr<RwkvCppFile>> FromBytes(std::string name,
                                                                std::string bytes);

  RwkvCppFile(const RwkvCppFile&) = delete;
  RwkvCppFile& operator=(const RwkvCppFile&) = delete;

  const Header& header() const { return header_; }
  int64_t file_bytes() const { return size_; }

  // The file path.
  const std::string& Describe() const override { return path_; }
  const std::vector<TensorInfo>& Tensors() const override { return tensors_; }
  const TensorInfo* Find(std::string_view name) const override;
  absl::Status ReadF32(std::string_view name, absl::Span<float> out) const override;
  absl::Status ReadF32Rows(std::string_view name, absl::Span<float> buffer,
                           RowConsumer consume) const override;
  absl::Status ReadStoredRows(std::string_view name, int64_t max_rows,
                              StoredRowConsumer consume) const override;
  // 0 for an unknown name.
  uint64_t ContentHash(std::string_view name) const override;

  // The tensor's bytes exactly as stored (FP16 or quantized blocks included), valid while this
  // object lives. NOT_FOUND for an unknown name.
  absl::StatusOr<absl::Span<const uint8_t>> RawData(std::string_view name) const;
  // Byte offset of the tensor's data in the file; -1 for an unknown name.
  int64_t DataOffset(std::string_view name) const;

 private:
  struct Extent {
    int64_t offset;
    int64_t bytes;
  };

  explicit RwkvCppFile(std::string path) : path_(std::move(path)) {}
  absl::Status Map();
  // Reads the header and every record of base_[0, size_).
  absl::Status Parse();

  std::string path_;
  std::shared_ptr<const MappedFile> file_;
  const uint8_t* base_ = nullptr;  // file_'s bytes.
  int64_t size_ = 0;
  Header header_;
  std::vector<TensorInfo> tensors_;
  std::vector<Extent> extents_;  // Parallel to tensors_.
  absl::flat_hash_map<std::string, size_t> index_;
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_RWKV_CPP_FILE_H_
