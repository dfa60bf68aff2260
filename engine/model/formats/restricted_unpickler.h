// RestrictedUnpickler: runs a pickle's opcodes to build the value it describes, for the subset a
// torch.save'd state dict uses, and never imports or calls anything.
//
// Values are plain data: None, bool, int, float (value dropped), str (a view of the pickle), tuple,
// list, dict, one of five allowed globals, a storage (torch.save's persistent ID) and a tensor
// (torch._utils._rebuild_tensor_v2's arguments). Containers live in arenas and values refer to
// them by index, so a pickle that nests deeply or refers to itself neither recurses nor leaks;
// stack, MARK depth, memo and dimension counts are bounded, and every length is checked against
// the bytes before anything is read. Used by ReadStateDictPickle (pickle_reader.h).
//
//   RestrictedUnpickler unpickler(bytes, "model.pth: archive/data.pkl");
//   RWKV_ASSIGN_OR_RETURN(const pickle::Value top, unpickler.Run());
//   for (const pickle::Value& item : unpickler.Items(top)) ...
//
// Thread safety: one thread at a time; the values view `data`, which must outlive them.
#ifndef RWKV_ENGINE_MODEL_FORMATS_RESTRICTED_UNPICKLER_H_
#define RWKV_ENGINE_MODEL_FORMATS_RESTRICTED_UNPICKLER_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "engine/model/formats/pickle_reader.h"

namespace rwkv::engine {
namespace pickle {

enum class Kind {
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kTuple,
  kList,
  kDict,
  kGlobal,
  kStorage,
  kTensor
};

// "None", "int", "dict", ...
std::string_view KindName(Kind kind);

// A pickled value. Containers, storages and tensors are indices (`ref`) into the unpickler's
// arenas, a global an index into its allowed list; strings view the pickle's bytes.
struct Value {
  Kind kind = Kind::kNone;
  int64_t number = 0;  // kBool, kInt.
  std::string_view text;
  uint32_t ref = 0;
  int64_t offset = 0;  // Of the opcode that made it, for messages.
};

// torch.save's persistent ID of a storage: ('storage', torch.<type>, key, location, numel).
struct StorageRecord {
  TorchStorageType type;
  std::string_view key;
  std::string_view location;
  int64_t numel;
};

// The arguments of torch._utils._rebuild_tensor_v2: a storage (index into the storages), an
// offset into it in elements, size and stride.
struct TensorRecord {
  uint32_t storage;
  int64_t offset;
  std::vector<int64_t> shape;
  std::vector<int64_t> stride;
};

// The only callables and classes a pickle may name.
enum class Global { kOrderedDict, kRebuildTensor, kRebuildParameter, kStorage };

struct AllowedGlobal {
  std::string_view module;
  std::string_view name;
  Global global;
  TorchStorageType storage = TorchStorageType::kFloat;
};

class RestrictedUnpickler {
 public:
  RestrictedUnpickler(absl::Span<const uint8_t> data, std::string_view what)
      : data_(data), what_(what) {}

  // Runs to STOP; returns the pickled object. INVALID_ARGUMENT naming `what` and the byte
  // offset for anything outside the subset above.
  absl::StatusOr<Value> Run();

  // What a value refers to, for values Run returned or that its containers hold: the items of
  // a tuple, list or dict (a dict's as key, value, key, value...), a tensor, a storage.
  const std::vector<Value>& Items(const Value& container) const {
    return containers_[container.ref];
  }
  const TensorRecord& Tensor(const Value& tensor) const { return tensors_[tensor.ref]; }
  const StorageRecord& Storage(const TensorRecord& tensor) const {
    return storages_[tensor.storage];
  }

  // INVALID_ARGUMENT: "<what>: at byte <offset>: <parts>".
  template <typename... Parts>
  absl::Status Invalid(int64_t offset, const Parts&... parts) const {
    return absl::InvalidArgumentError(absl::StrCat(absl::string_view(what_.data(), what_.size()),
                                                   ": at byte ", offset, ": ", parts...));
  }

 private:
  absl::Status Step(uint8_t op);
  absl::Status StepValue(uint8_t op, bool& handled);
  absl::Status StepStructure(uint8_t op, bool& handled);

  // Reading the opcode's argument bytes.
  absl::StatusOr<const uint8_t*> Take(uint64_t count);
  absl::StatusOr<uint64_t> TakeLittleEndian(int bytes);
  absl::StatusOr<std::string_view> TakeString(int length_bytes);
  absl::StatusOr<std::string_view> TakeLine();

  absl::Status Push(Value value);
  absl::StatusOr<Value> Pop();
  absl::StatusOr<std::vector<Value>> PopToMark();
  absl::StatusOr<Value*> Top(Kind kind, std::string_view op);
  Value NewContainer(Kind kind, std::vector<Value> items);

  absl::Status PushGlobal(std::string_view module, std::string_view name);
  absl::Status Reduce();
  absl::Status RebuildTensor(const std::vector<Value>& args, int64_t at);
  absl::Status PersistentId();
  absl::Status Build();
  absl::Status Memoize(uint64_t index);
  absl::Status Recall(uint64_t index);
  absl::Status AddItems(std::vector<Value> items, Kind kind, std::string_view op);
  absl::StatusOr<std::vector<int64_t>> IntTuple(const Value& value, std::string_view what) const;

  absl::Span<const uint8_t> data_;
  std::string_view what_;
  size_t pos_ = 0;
  int64_t op_offset_ = 0;
  bool stopped_ = false;
  std::vector<Value> stack_;
  std::vector<size_t> marks_;
  absl::flat_hash_map<uint64_t, Value> memo_;
  std::vector<std::vector<Value>> containers_;
  std::vector<StorageRecord> storages_;
  std::vector<TensorRecord> tensors_;
};

}  // namespace pickle
}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_FORMATS_RESTRICTED_UNPICKLER_H_
