// StoredTensors: a checkpoint's tensors exactly as its container stores them (names, types and
// shapes from the file, bytes viewed in the mapping), plus the container's metadata.
//
// Every container reader (PyTorch .pth, safetensors, GGUF) produces one of these and knows nothing
// about RWKV; RwkvCheckpoint (checkpoint_source.h) then maps the names and layouts of a known
// checkpoint family onto the tensors the engine reads. rwkv-inspect lists these raw tensors.
//
//   auto tensors = std::make_unique<StoredTensors>(file, "safetensors");
//   RWKV_RETURN_IF_ERROR(tensors->Add({"emb.weight", {64, 256}, GgmlType::kBF16}, data));
//
// Thread safety: Add/SetMetadata during construction only; const methods from any thread after.
#ifndef RWKV_ENGINE_MODEL_FORMATS_STORED_TENSORS_H_
#define RWKV_ENGINE_MODEL_FORMATS_STORED_TENSORS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/model/formats/mapped_file.h"
#include "engine/model/tensor_source.h"

namespace rwkv::engine {

// One metadata value of a container: GGUF key/values (integers of every width as int64, floats
// as double, arrays of strings or numbers), safetensors' __metadata__ strings.
using MetadataValue = std::variant<int64_t, double, bool, std::string, std::vector<std::string>,
                                   std::vector<int64_t>, std::vector<double>>;

// "42", "1e-05", "true", "\"rwkv7\"", "[65536 strings]": for rwkv-inspect and messages.
std::string DescribeMetadataValue(const MetadataValue& value);

class StoredTensors final : public TensorSource {
 public:
  // `format` names the container for people: "PyTorch .pth", "safetensors", "GGUF".
  StoredTensors(std::shared_ptr<const MappedFile> file, std::string format);

  // Appends a tensor whose bytes are `data` (inside file()'s bytes or a KeepAlive file's).
  // INVALID_ARGUMENT naming the file and tensor for a duplicate name, a non-positive dimension,
  // a type whose block size does not divide ne[0], or `data` not exactly
  // StoredBytes(type, NumElements()) long.
  absl::Status Add(TensorInfo info, absl::Span<const uint8_t> data);
  void SetMetadata(std::string key, MetadataValue value);
  // For a model split over several files (safetensors shards): tensors added afterwards may view
  // `other`'s bytes, which then live as long as this object.
  void KeepAlive(std::shared_ptr<const MappedFile> other);
  // What Describe() and messages name instead of the file path (a sharded model's directory).
  void SetDescription(std::string description) { description_ = std::move(description); }

  const std::string& format() const { return format_; }
  const MappedFile& file() const { return *file_; }
  const std::shared_ptr<const MappedFile>& shared_file() const { return file_; }
  // Sorted by key.
  const std::map<std::string, MetadataValue>& metadata() const { return metadata_; }
  // nullptr when absent.
  const MetadataValue* FindMetadata(std::string_view key) const;

  // The file path, or what SetDescription gave.
  const std::string& Describe() const override { return description_; }
  const std::vector<TensorInfo>& Tensors() const override { return tensors_; }
  const TensorInfo* Find(std::string_view name) const override;
  absl::Status ReadF32(std::string_view name, absl::Span<float> out) const override;
  absl::Status ReadF32Rows(std::string_view name, absl::Span<float> buffer,
                           RowConsumer consume) const override;
  absl::Status ReadStoredRows(std::string_view name, int64_t max_rows,
                              StoredRowConsumer consume) const override;
  uint64_t ContentHash(std::string_view name) const override;
  // The stored bytes. NOT_FOUND for an unknown name.
  absl::StatusOr<absl::Span<const uint8_t>> RawData(std::string_view name) const;
  // Returns the named tensor's stored pages to the OS (see MappedFile::Release); nothing for an
  // unknown name.
  void Release(std::string_view name) const;
  // Release for every file this object views: parsing a container pages in parts of it.
  void ReleaseAll() const;
  // HashTensorContent(info, the stored bytes of `name`), releasing them as it goes (see
  // HashStoredTensor); 0 for an unknown name.
  uint64_t HashStoredAs(const TensorInfo& info, std::string_view name) const;

 private:
  std::shared_ptr<const MappedFile> file_;
  std::string format_;
  std::string description_;
  // The file whose mapping holds `data`.
  const MappedFile& Holder(absl::Span<const uint8_t> data) const;

  std::vector<std::shared_ptr<const MappedFile>> kept_alive_;
  std::vector<TensorInfo> tensors_;
  std::vector<absl::Span<const uint8_t>> data_;  // Parallel to tensors_.
  absl::flat_hash_map<std::string, size_t> index_;
  std::map<std::string, MetadataValue> metadata_;
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_FORMATS_STORED_TENSORS_H_
