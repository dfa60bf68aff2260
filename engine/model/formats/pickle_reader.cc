#include "engine/model/formats/pickle_reader.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/absl_view.h"
#include "common/status_macros.h"
#include "engine/model/formats/restricted_unpickler.h"

namespace rwkv::engine {
namespace {

using pickle::Kind;
using pickle::KindName;
using pickle::RestrictedUnpickler;
using pickle::Value;

std::string Printable(std::string_view s) {
  return absl::CHexEscape(AsAbsl(s.substr(0, std::min<size_t>(s.size(), 120))));
}

// The tensor named `name`, checked: contiguous and inside its storage.
absl::StatusOr<PickledTensor> ToTensor(const RestrictedUnpickler& unpickler, std::string_view name,
                                       const Value& value) {
  if (value.kind != Kind::kTensor) {
    return unpickler.Invalid(value.offset, "entry '", Printable(name), "' is not a tensor (it is ",
                             AsAbsl(KindName(value.kind)),
                             "); only a state dict of tensors is accepted");
  }
  const pickle::TensorRecord& tensor = unpickler.Tensor(value);
  const pickle::StorageRecord& storage = unpickler.Storage(tensor);
  PickledTensor out{std::string(name),
                    storage.type,
                    std::string(storage.key),
                    std::string(storage.location),
                    storage.numel,
                    tensor.offset,
                    tensor.shape,
                    tensor.stride};
  if (out.shape.size() != out.stride.size()) {
    return unpickler.Invalid(value.offset, "tensor '", Printable(name), "' has ", out.shape.size(),
                             " dimensions but ", out.stride.size(), " strides");
  }
  int64_t expected = 1;
  for (size_t i = out.shape.size(); i-- > 0;) {
    if (out.shape[i] != 1 && out.stride[i] != expected) {
      return unpickler.Invalid(value.offset, "tensor '", Printable(name),
                               "' is not contiguous (size (", absl::StrJoin(out.shape, ", "),
                               "), stride (", absl::StrJoin(out.stride, ", "),
                               ")); save it after .contiguous()");
    }
    if (__builtin_mul_overflow(expected, out.shape[i], &expected)) {
      return unpickler.Invalid(value.offset, "tensor '", Printable(name),
                               "' has too many elements");
    }
  }
  if (tensor.offset > storage.numel || expected > storage.numel - tensor.offset) {
    return unpickler.Invalid(value.offset, "tensor '", Printable(name), "' reads elements [",
                             tensor.offset, ", ", tensor.offset, " + ", expected, ") of storage '",
                             Printable(storage.key), "', which holds ", storage.numel);
  }
  return out;
}

// The tensors of the top-level dict `top`, in order.
absl::StatusOr<std::vector<PickledTensor>> Collect(const RestrictedUnpickler& unpickler,
                                                   const Value& top) {
  if (top.kind != Kind::kDict) {
    return unpickler.Invalid(top.offset, "the pickle holds a ", AsAbsl(KindName(top.kind)),
                             ", not a state dict (a dict of tensors)");
  }
  const std::vector<Value>& items = unpickler.Items(top);
  std::vector<PickledTensor> out;
  absl::flat_hash_set<std::string_view> names;
  for (size_t i = 0; i + 1 < items.size(); i += 2) {
    if (items[i].kind != Kind::kString) {
      return unpickler.Invalid(items[i].offset, "the state dict has a key of type ",
                               AsAbsl(KindName(items[i].kind)), ", not str");
    }
    if (!names.insert(items[i].text).second) {
      return unpickler.Invalid(items[i].offset, "the state dict names '", Printable(items[i].text),
                               "' twice");
    }
    RWKV_ASSIGN_OR_RETURN(PickledTensor tensor, ToTensor(unpickler, items[i].text, items[i + 1]));
    out.push_back(std::move(tensor));
  }
  return out;
}

}  // namespace

std::string_view TorchStorageTypeName(TorchStorageType type) {
  switch (type) {
    case TorchStorageType::kFloat:
      return "FloatStorage";
    case TorchStorageType::kHalf:
      return "HalfStorage";
    case TorchStorageType::kBFloat16:
      return "BFloat16Storage";
  }
  return "?";
}

int64_t TorchStorageElementBytes(TorchStorageType type) {
  return type == TorchStorageType::kFloat ? 4 : 2;
}

int64_t PickledTensor::NumElements() const {
  int64_t n = 1;
  for (const int64_t d : shape) n *= d;
  return n;
}

absl::StatusOr<std::vector<PickledTensor>> ReadStateDictPickle(absl::Span<const uint8_t> pickle,
                                                               std::string_view what) {
  RestrictedUnpickler unpickler(pickle, what);
  RWKV_ASSIGN_OR_RETURN(const Value top, unpickler.Run());
  return Collect(unpickler, top);
}

}  // namespace rwkv::engine
