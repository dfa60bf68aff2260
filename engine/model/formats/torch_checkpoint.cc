#include "engine/model/formats/torch_checkpoint.h"

#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/absl_view.h"
#include "common/status_macros.h"
#include "engine/model/formats/pickle_reader.h"
#include "engine/model/formats/zip_reader.h"

namespace rwkv::engine {
namespace {

constexpr std::string_view kPickleName = "data.pkl";

std::string Printable(std::string_view s) { return absl::CHexEscape(AsAbsl(s.substr(0, 120))); }

// Why bytes that are not a zip archive are not a checkpoint we read.
absl::Status NotZip(const MappedFile& file) {
  if (file.size() == 0) return absl::DataLossError(absl::StrCat(file.path(), ": empty file"));
  // The legacy format is a bare pickle stream: PROTO first.
  if (file.bytes()[0] == 0x80) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(),
                     ": legacy (pre-1.6) torch.save format is not supported; re-save with "
                     "torch.save(..., _use_new_zipfile_serialization=True)"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(file.path(),
                   ": not a PyTorch checkpoint (torch.save writes a zip archive, which starts "
                   "with \"PK\\x03\\x04\")"));
}

// The one "<root>/data.pkl" entry; returns its root folder.
absl::StatusOr<std::string> FindRoot(const ZipArchive& zip) {
  std::vector<std::string> roots;
  for (const ZipEntry& entry : zip.entries()) {
    const size_t slash = entry.name.find('/');
    if (slash != std::string::npos && slash > 0 &&
        std::string_view(entry.name).substr(slash + 1) == kPickleName) {
      roots.push_back(entry.name.substr(0, slash));
    }
  }
  if (roots.size() == 1) return roots[0];
  if (roots.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(zip.file().path(), ": a zip archive with no <root>/data.pkl entry among its ",
                     zip.entries().size(), " entries: not a torch.save checkpoint"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      zip.file().path(), ": the zip archive has ", roots.size(), " data.pkl entries ('",
      Printable(roots[0]), "/data.pkl', '", Printable(roots[1]), "/data.pkl'); expected one"));
}

GgmlType ToGgmlType(TorchStorageType type) {
  switch (type) {
    case TorchStorageType::kFloat:
      return GgmlType::kF32;
    case TorchStorageType::kHalf:
      return GgmlType::kF16;
    case TorchStorageType::kBFloat16:
      return GgmlType::kBF16;
  }
  return GgmlType::kF32;
}

// One storage's bytes, as the first tensor that names it found them.
struct StorageBytes {
  TorchStorageType type;
  int64_t numel;
  absl::Span<const uint8_t> data;
};

class CheckpointReader {
 public:
  CheckpointReader(const ZipArchive& zip, std::string root) : zip_(zip), root_(std::move(root)) {}

  // The bytes of `tensor` inside its storage's entry.
  absl::StatusOr<absl::Span<const uint8_t>> TensorBytes(const PickledTensor& tensor);

 private:
  absl::StatusOr<const StorageBytes*> Storage(const PickledTensor& tensor);

  template <typename... Parts>
  absl::Status Invalid(const PickledTensor& tensor, const Parts&... parts) const {
    return absl::InvalidArgumentError(
        absl::StrCat(zip_.file().path(), ": tensor '", Printable(tensor.name), "': ", parts...));
  }

  const ZipArchive& zip_;
  std::string root_;
  absl::flat_hash_map<std::string, StorageBytes> storages_;
};

absl::StatusOr<const StorageBytes*> CheckpointReader::Storage(const PickledTensor& tensor) {
  const auto it = storages_.find(tensor.storage_key);
  if (it != storages_.end()) {
    if (it->second.type != tensor.storage_type || it->second.numel != tensor.storage_numel) {
      return Invalid(tensor, "storage '", Printable(tensor.storage_key),
                     "' is named again with another type or size");
    }
    return &it->second;
  }
  const std::string entry_name = absl::StrCat(root_, "/data/", tensor.storage_key);
  const ZipEntry* entry = zip_.Find(entry_name);
  if (entry == nullptr) {
    return Invalid(tensor, "its storage '", Printable(tensor.storage_key), "' has no entry '",
                   Printable(entry_name), "' in the archive");
  }
  const int64_t element = TorchStorageElementBytes(tensor.storage_type);
  if (tensor.storage_numel > static_cast<int64_t>(entry->data.size()) / element) {
    return Invalid(tensor, "its ", AsAbsl(TorchStorageTypeName(tensor.storage_type)), " of ",
                   tensor.storage_numel, " elements needs ", tensor.storage_numel, " x ", element,
                   " bytes, entry '", Printable(entry_name), "' at byte ", entry->data_offset,
                   " holds ", entry->data.size());
  }
  const StorageBytes storage{tensor.storage_type, tensor.storage_numel, entry->data};
  return &storages_.emplace(tensor.storage_key, storage).first->second;
}

absl::StatusOr<absl::Span<const uint8_t>> CheckpointReader::TensorBytes(
    const PickledTensor& tensor) {
  RWKV_ASSIGN_OR_RETURN(const StorageBytes* storage, Storage(tensor));
  // The pickle reader checked offset + numel <= storage numel, which fits the entry (above).
  const int64_t element = TorchStorageElementBytes(tensor.storage_type);
  return storage->data.subspan(tensor.storage_offset * element, tensor.NumElements() * element);
}

// Refuses a big-endian archive: storages hold raw bytes in the saving machine's order.
absl::Status CheckByteOrder(const ZipArchive& zip, const std::string& root,
                            StoredTensors& tensors) {
  const ZipEntry* entry = zip.Find(absl::StrCat(root, "/byteorder"));
  if (entry == nullptr) return absl::OkStatus();  // Written since torch 1.13; older is little.
  const std::string order(entry->data.begin(), entry->data.end());
  if (order != "little") {
    return absl::InvalidArgumentError(
        absl::StrCat(zip.file().path(), ": byteorder is '", Printable(order),
                     "'; only little-endian checkpoints are supported"));
  }
  tensors.SetMetadata(kTorchByteOrderKey, order);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<StoredTensors>> ReadTorchCheckpoint(
    std::shared_ptr<const MappedFile> file) {
  if (!ZipArchive::LooksLikeZip(file->bytes())) return NotZip(*file);
  RWKV_ASSIGN_OR_RETURN(const ZipArchive zip, ZipArchive::Open(file));
  RWKV_ASSIGN_OR_RETURN(const std::string root, FindRoot(zip));
  const std::string pickle_name = absl::StrCat(root, "/", AsAbsl(kPickleName));
  const ZipEntry* pickle = zip.Find(pickle_name);
  RWKV_ASSIGN_OR_RETURN(
      const std::vector<PickledTensor> pickled,
      ReadStateDictPickle(pickle->data, absl::StrCat(file->path(), ": ", Printable(pickle_name))));
  if (pickled.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file->path(), ": the state dict holds no tensors"));
  }
  auto tensors = std::make_unique<StoredTensors>(file, kTorchCheckpointFormat);
  tensors->SetMetadata(kTorchArchiveRootKey, root);
  RWKV_RETURN_IF_ERROR(CheckByteOrder(zip, root, *tensors));
  CheckpointReader reader(zip, root);
  for (const PickledTensor& tensor : pickled) {
    RWKV_ASSIGN_OR_RETURN(const absl::Span<const uint8_t> data, reader.TensorBytes(tensor));
    TensorInfo info{
        tensor.name, {tensor.shape.rbegin(), tensor.shape.rend()}, ToGgmlType(tensor.storage_type)};
    if (info.ne.empty()) info.ne = {1};  // A 0-d scalar: one element.
    RWKV_RETURN_IF_ERROR(tensors->Add(std::move(info), data));
  }
  return tensors;
}

}  // namespace rwkv::engine
