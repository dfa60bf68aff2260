// ReadStateDictPickle: the tensors a torch.save'd state dict lists in its data.pkl, read by a
// restricted unpickler that builds values and never imports or calls anything.
//
// Accepted: pickle protocols 2 to 5, the opcodes a state dict uses (containers, integers,
// strings, floats, booleans, None, memo, persistent IDs, REDUCE, BUILD), and only these globals:
// collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter and
// torch.{Float,Half,BFloat16}Storage. Anything else (another global, an unknown opcode, a value
// where a tensor should be) is refused with INVALID_ARGUMENT naming it and its byte offset.
//
//   RWKV_ASSIGN_OR_RETURN(std::vector<PickledTensor> tensors,
//                         ReadStateDictPickle(pickle_bytes, "model.pth: archive/data.pkl"));
//
// Thread safety: a pure function.
#ifndef RWKV_ENGINE_MODEL_FORMATS_PICKLE_READER_H_
#define RWKV_ENGINE_MODEL_FORMATS_PICKLE_READER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace rwkv::engine {

enum class TorchStorageType { kFloat, kHalf, kBFloat16 };

// "FloatStorage", "HalfStorage", "BFloat16Storage".
std::string_view TorchStorageTypeName(TorchStorageType type);
// 4 or 2.
int64_t TorchStorageElementBytes(TorchStorageType type);

// One tensor of the state dict, as torch._utils._rebuild_tensor_v2 would rebuild it. Shape and
// stride are in PyTorch order (outermost first); stride is contiguous (checked).
struct PickledTensor {
  std::string name;
  TorchStorageType storage_type = TorchStorageType::kFloat;
  std::string storage_key;  // The archive holds the bytes as <root>/data/<storage_key>.
  std::string location;     // "cpu", "cuda:0": where it was saved from; informative only.
  int64_t storage_numel = 0;
  int64_t storage_offset = 0;  // In elements.
  std::vector<int64_t> shape;
  std::vector<int64_t> stride;

  // The product of shape (1 for a 0-d scalar).
  int64_t NumElements() const;
};

// Parses `pickle` and returns the top-level dict's tensors in pickle order. `what` names the
// pickle in messages (e.g. "model.pth: archive/data.pkl"). INVALID_ARGUMENT for anything but a
// dict (or OrderedDict) of string names to contiguous tensors, with the byte offset at fault.
absl::StatusOr<std::vector<PickledTensor>> ReadStateDictPickle(absl::Span<const uint8_t> pickle,
                                                               std::string_view what);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_FORMATS_PICKLE_READER_H_
