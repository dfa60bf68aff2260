// ReadTorchCheckpoint: the tensors of a PyTorch checkpoint written by torch.save (a zip archive of
// stored entries: <root>/data.pkl, a pickled state dict, and <root>/data/<key>, one raw storage
// each), viewed in the mapping without copying.
//
// The container only: tensor names are kept exactly as the state dict has them; which checkpoint
// family they belong to is decided elsewhere (RwkvCheckpoint). Storages of float32, float16 and
// bfloat16 become GgmlType kF32, kF16 and kBF16; ne is the reversed PyTorch shape, and a 0-d
// scalar gets ne {1}. Tensors appear in pickle order (the state dict's order).
//
//   RWKV_ASSIGN_OR_RETURN(auto file, MappedFile::Open("RWKV-x070-World-0.1B.pth"));
//   RWKV_ASSIGN_OR_RETURN(std::unique_ptr<StoredTensors> tensors, ReadTorchCheckpoint(file));
//
// Thread safety: a pure function.
#ifndef RWKV_ENGINE_MODEL_FORMATS_TORCH_CHECKPOINT_H_
#define RWKV_ENGINE_MODEL_FORMATS_TORCH_CHECKPOINT_H_

#include <memory>

#include "absl/status/statusor.h"
#include "engine/model/formats/mapped_file.h"
#include "engine/model/formats/stored_tensors.h"

namespace rwkv::engine {

// StoredTensors::format() of what ReadTorchCheckpoint returns.
inline constexpr char kTorchCheckpointFormat[] = "PyTorch .pth";

// Metadata keys: the archive's root folder and, when present, its byteorder record.
inline constexpr char kTorchArchiveRootKey[] = "pytorch.archive_root";
inline constexpr char kTorchByteOrderKey[] = "pytorch.byteorder";

// INVALID_ARGUMENT naming the file (and the entry, tensor and byte offset at fault) for anything
// but a zip archive holding one <root>/data.pkl state dict of float32/float16/bfloat16 tensors
// whose storages are all present and large enough: the legacy (pre-1.6) format, a compressed
// entry, a pickle naming another global, a state dict with no tensors. DATA_LOSS for a truncated
// archive.
absl::StatusOr<std::unique_ptr<StoredTensors>> ReadTorchCheckpoint(
    std::shared_ptr<const MappedFile> file);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_FORMATS_TORCH_CHECKPOINT_H_
