#include "engine/model/formats/pickle_reader.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/little_endian.h"
#include "common/status_macros.h"

namespace rwkv::engine {
namespace {

// Bounds that no state dict comes near; they keep a hostile pickle's memory small. Values live in
// an arena and refer to containers by index, so nothing recurses and cycles cannot leak.
constexpr size_t kMaxStack = size_t{1} << 20;
constexpr size_t kMaxMarks = 64;
constexpr size_t kMaxMemo = size_t{1} << 22;
constexpr size_t kMaxDims = 16;
constexpr int kHighestProtocol = 5;

enum class Global { kOrderedDict, kRebuildTensor, kRebuildParameter, kStorage };

struct AllowedGlobal {
  std::string_view module;
  std::string_view name;
  Global global;
  TorchStorageType storage = TorchStorageType::kFloat;
};

constexpr AllowedGlobal kAllowedGlobals[] = {
    {"collections", "OrderedDict", Global::kOrderedDict},
    {"torch._utils", "_rebuild_tensor_v2", Global::kRebuildTensor},
    {"torch._utils", "_rebuild_parameter", Global::kRebuildParameter},
    {"torch", "FloatStorage", Global::kStorage, TorchStorageType::kFloat},
    {"torch", "HalfStorage", Global::kStorage, TorchStorageType::kHalf},
    {"torch", "BFloat16Storage", Global::kStorage, TorchStorageType::kBFloat16},
};

enum class Kind { kNone, kBool, kInt, kFloat, kString, kTuple, kList, kDict, kGlobal, kStorage,
                  kTensor };

std::string_view KindName(Kind kind) {
  static constexpr std::string_view kNames[] = {"None",  "bool", "int",    "float",
                                                "str",   "tuple", "list", "dict",
                                                "global", "storage", "tensor"};
  return kNames[static_cast<int>(kind)];
}

// A pickled value. Containers, globals, storages and tensors are indices (`ref`) into the
// unpickler's arenas; strings view the pickle's bytes.
struct Value {
  Kind kind = Kind::kNone;
  int64_t number = 0;  // kBool, kInt.
  std::string_view text;
  uint32_t ref = 0;
  int64_t offset = 0;  // Of the opcode that made it, for messages.
};

struct Storage {
  TorchStorageType type;
  std::string_view key;
  std::string_view location;
  int64_t numel;
};

struct Tensor {
  uint32_t storage;
  int64_t offset;
  std::vector<int64_t> shape;
  std::vector<int64_t> stride;
};

absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string Printable(std::string_view s) {
  return absl::CHexEscape(AsAbsl(s.substr(0, std::min<size_t>(s.size(), 120))));
}

class Unpickler {
 public:
  Unpickler(absl::Span<const uint8_t> data, std::string_view what) : data_(data), what_(what) {}

  // Runs to STOP; returns the pickled object.
  absl::StatusOr<Value> Run();
  absl::StatusOr<std::vector<PickledTensor>> Collect(const Value& top) const;

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

  absl::Status Global(std::string_view module, std::string_view name);
  absl::Status Reduce();
  absl::Status RebuildTensor(const std::vector<Value>& args, int64_t at);
  absl::Status PersistentId();
  absl::Status Build();
  absl::Status Memoize(uint64_t index);
  absl::Status Recall(uint64_t index);
  absl::Status AddItems(std::vector<Value> items, Kind kind, std::string_view op);
  absl::StatusOr<std::vector<int64_t>> IntTuple(const Value& value, std::string_view what) const;
  absl::StatusOr<PickledTensor> ToTensor(std::string_view name, const Value& value) const;

  template <typename... Parts>
  absl::Status Invalid(int64_t offset, const Parts&... parts) const {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(what_), ": at byte ", offset, ": ",
                                                   parts...));
  }

  absl::Span<const uint8_t> data_;
  std::string_view what_;
  size_t pos_ = 0;
  int64_t op_offset_ = 0;
  bool stopped_ = false;
  std::vector<Value> stack_;
  std::vector<size_t> marks_;
  absl::flat_hash_map<uint64_t, Value> memo_;
  std::vector<std::vector<Value>> containers_;
  std::vector<AllowedGlobal> globals_;
  std::vector<Storage> storages_;
  std::vector<Tensor> tensors_;
};

absl::StatusOr<const uint8_t*> Unpickler::Take(uint64_t count) {
  if (count > data_.size() - pos_) {
    return Invalid(op_offset_, "the opcode's argument of ", count, " bytes runs past the end (",
                   data_.size(), " bytes)");
  }
  const uint8_t* p = data_.data() + pos_;
  pos_ += count;
  return p;
}

absl::StatusOr<uint64_t> Unpickler::TakeLittleEndian(int bytes) {
  RWKV_ASSIGN_OR_RETURN(const uint8_t* p, Take(bytes));
  uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

absl::StatusOr<std::string_view> Unpickler::TakeString(int length_bytes) {
  RWKV_ASSIGN_OR_RETURN(const uint64_t length, TakeLittleEndian(length_bytes));
  RWKV_ASSIGN_OR_RETURN(const uint8_t* p, Take(length));
  return std::string_view(reinterpret_cast<const char*>(p), length);
}

absl::StatusOr<std::string_view> Unpickler::TakeLine() {
  const uint8_t* begin = data_.data() + pos_;
  const uint8_t* end = data_.data() + data_.size();
  const uint8_t* newline = std::find(begin, end, '\n');
  if (newline == end) return Invalid(op_offset_, "GLOBAL's name has no terminating newline");
  pos_ += newline - begin + 1;
  return std::string_view(reinterpret_cast<const char*>(begin), newline - begin);
}

absl::Status Unpickler::Push(Value value) {
  if (stack_.size() >= kMaxStack) {
    return Invalid(op_offset_, "the stack grows past ", kMaxStack, " values");
  }
  value.offset = op_offset_;
  stack_.push_back(std::move(value));
  return absl::OkStatus();
}

absl::StatusOr<Value> Unpickler::Pop() {
  const size_t floor = marks_.empty() ? 0 : marks_.back();
  if (stack_.size() <= floor) return Invalid(op_offset_, "the opcode pops an empty stack");
  Value value = std::move(stack_.back());
  stack_.pop_back();
  return value;
}

absl::StatusOr<std::vector<Value>> Unpickler::PopToMark() {
  if (marks_.empty()) return Invalid(op_offset_, "the opcode needs a MARK and there is none");
  const size_t mark = marks_.back();
  marks_.pop_back();
  std::vector<Value> items(std::make_move_iterator(stack_.begin() + mark),
                           std::make_move_iterator(stack_.end()));
  stack_.resize(mark);
  return items;
}

absl::StatusOr<Value*> Unpickler::Top(Kind kind, std::string_view op) {
  const size_t floor = marks_.empty() ? 0 : marks_.back();
  if (stack_.size() <= floor) return Invalid(op_offset_, AsAbsl(op), " has no target on the stack");
  Value& top = stack_.back();
  if (top.kind != kind) {
    return Invalid(op_offset_, AsAbsl(op), " needs a ", AsAbsl(KindName(kind)), ", the stack has a ",
                   AsAbsl(KindName(top.kind)));
  }
  return &top;
}

Value Unpickler::NewContainer(Kind kind, std::vector<Value> items) {
  containers_.push_back(std::move(items));
  Value value;
  value.kind = kind;
  value.ref = static_cast<uint32_t>(containers_.size() - 1);
  return value;
}

absl::Status Unpickler::Global(std::string_view module, std::string_view name) {
  for (const AllowedGlobal& allowed : kAllowedGlobals) {
    if (allowed.module != module || allowed.name != name) continue;
    globals_.push_back(allowed);
    Value value;
    value.kind = Kind::kGlobal;
    value.ref = static_cast<uint32_t>(globals_.size() - 1);
    return Push(value);
  }
  return Invalid(op_offset_, "pickle names global '", Printable(module), ".", Printable(name),
                 "'; only a state dict of tensors is accepted (collections.OrderedDict, "
                 "torch._utils._rebuild_tensor_v2 and the float32/float16/bfloat16 storages)");
}

absl::Status Unpickler::Memoize(uint64_t index) {
  if (stack_.empty()) return Invalid(op_offset_, "memoizes an empty stack");
  if (memo_.size() >= kMaxMemo && !memo_.contains(index)) {
    return Invalid(op_offset_, "the memo grows past ", kMaxMemo, " entries");
  }
  memo_.insert_or_assign(index, stack_.back());
  return absl::OkStatus();
}

absl::Status Unpickler::Recall(uint64_t index) {
  const auto it = memo_.find(index);
  if (it == memo_.end()) return Invalid(op_offset_, "memo entry ", index, " was never stored");
  return Push(it->second);
}

absl::Status Unpickler::AddItems(std::vector<Value> items, Kind kind, std::string_view op) {
  RWKV_ASSIGN_OR_RETURN(Value* target, Top(kind, op));
  if (kind == Kind::kDict && items.size() % 2 != 0) {
    return Invalid(op_offset_, AsAbsl(op), " has a key without a value");
  }
  std::vector<Value>& container = containers_[target->ref];
  for (Value& item : items) container.push_back(std::move(item));
  return absl::OkStatus();
}

absl::Status Unpickler::Reduce() {
  RWKV_ASSIGN_OR_RETURN(const Value args, Pop());
  RWKV_ASSIGN_OR_RETURN(const Value callable, Pop());
  if (callable.kind != Kind::kGlobal || args.kind != Kind::kTuple) {
    return Invalid(op_offset_, "REDUCE calls a ", AsAbsl(KindName(callable.kind)), " with a ",
                   AsAbsl(KindName(args.kind)), "; only the allowed globals can be called");
  }
  const AllowedGlobal& global = globals_[callable.ref];
  const std::vector<Value> items = containers_[args.ref];
  switch (global.global) {
    case Global::kOrderedDict:
      if (!items.empty()) return Invalid(op_offset_, "OrderedDict called with arguments");
      return Push(NewContainer(Kind::kDict, {}));
    case Global::kRebuildTensor:
      return RebuildTensor(items, callable.offset);
    case Global::kRebuildParameter:
      // _rebuild_parameter(data, requires_grad, backward_hooks) wraps the tensor `data`.
      if (items.size() != 3 || items[0].kind != Kind::kTensor) {
        return Invalid(op_offset_, "_rebuild_parameter needs (tensor, requires_grad, hooks)");
      }
      return Push(items[0]);
    case Global::kStorage:
      break;
  }
  return Invalid(op_offset_, "torch.", AsAbsl(global.name), " cannot be called");
}

absl::StatusOr<std::vector<int64_t>> Unpickler::IntTuple(const Value& value,
                                                         std::string_view what) const {
  if (value.kind != Kind::kTuple) {
    return Invalid(op_offset_, "the tensor's ", AsAbsl(what), " is a ",
                   AsAbsl(KindName(value.kind)), ", not a tuple");
  }
  const std::vector<Value>& items = containers_[value.ref];
  if (items.size() > kMaxDims) {
    return Invalid(op_offset_, "the tensor's ", AsAbsl(what), " has ", items.size(),
                   " dimensions; at most ", kMaxDims, " are supported");
  }
  std::vector<int64_t> out;
  for (const Value& item : items) {
    if (item.kind != Kind::kInt || item.number < 0) {
      return Invalid(op_offset_, "the tensor's ", AsAbsl(what), " holds a ",
                     AsAbsl(KindName(item.kind)), " that is not a non-negative int");
    }
    out.push_back(item.number);
  }
  return out;
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[,
// metadata]).
absl::Status Unpickler::RebuildTensor(const std::vector<Value>& args, int64_t at) {
  if (args.size() != 6 && args.size() != 7) {
    return Invalid(op_offset_, "_rebuild_tensor_v2 (named at byte ", at, ") gets ", args.size(),
                   " arguments, not 6 or 7");
  }
  if (args[0].kind != Kind::kStorage || args[1].kind != Kind::kInt || args[1].number < 0) {
    return Invalid(op_offset_, "_rebuild_tensor_v2 needs a storage and a non-negative offset, "
                   "gets a ", AsAbsl(KindName(args[0].kind)), " and a ",
                   AsAbsl(KindName(args[1].kind)));
  }
  Tensor tensor{args[0].ref, args[1].number, {}, {}};
  RWKV_ASSIGN_OR_RETURN(tensor.shape, IntTuple(args[2], "size"));
  RWKV_ASSIGN_OR_RETURN(tensor.stride, IntTuple(args[3], "stride"));
  if (args[4].kind != Kind::kBool) return Invalid(op_offset_, "requires_grad is not a bool");
  tensors_.push_back(std::move(tensor));
  Value value;
  value.kind = Kind::kTensor;
  value.ref = static_cast<uint32_t>(tensors_.size() - 1);
  return Push(value);
}

// torch.save's persistent ID: ('storage', storage class, key, location, numel).
absl::Status Unpickler::PersistentId() {
  RWKV_ASSIGN_OR_RETURN(const Value pid, Pop());
  const std::vector<Value>* items = pid.kind == Kind::kTuple ? &containers_[pid.ref] : nullptr;
  if (items == nullptr || items->size() != 5 || (*items)[0].kind != Kind::kString ||
      (*items)[0].text != "storage") {
    return Invalid(op_offset_, "the persistent ID is not a ('storage', type, key, location, "
                   "numel) tuple");
  }
  const std::vector<Value>& id = *items;
  if (id[1].kind != Kind::kGlobal || globals_[id[1].ref].global != Global::kStorage ||
      id[2].kind != Kind::kString || id[3].kind != Kind::kString || id[4].kind != Kind::kInt ||
      id[4].number < 0) {
    return Invalid(op_offset_, "the persistent ID needs a storage class, a str key, a str "
                   "location and a non-negative numel");
  }
  storages_.push_back({globals_[id[1].ref].storage, id[2].text, id[3].text, id[4].number});
  Value value;
  value.kind = Kind::kStorage;
  value.ref = static_cast<uint32_t>(storages_.size() - 1);
  return Push(value);
}

// A state dict's BUILD sets `_metadata` on the OrderedDict; that is accepted and ignored.
absl::Status Unpickler::Build() {
  RWKV_ASSIGN_OR_RETURN(const Value state, Pop());
  RWKV_ASSIGN_OR_RETURN(Value* target, Top(Kind::kDict, "BUILD"));
  (void)target;
  if (state.kind != Kind::kDict && state.kind != Kind::kNone) {
    return Invalid(op_offset_, "BUILD sets a dict's state from a ", AsAbsl(KindName(state.kind)));
  }
  return absl::OkStatus();
}

// Opcodes that push one plain value.
absl::Status Unpickler::StepValue(uint8_t op, bool& handled) {
  handled = true;
  Value value;
  switch (op) {
    case 'N': return Push(value);  // NONE
    case 0x88: case 0x89:  // NEWTRUE, NEWFALSE
      value.kind = Kind::kBool;
      value.number = op == 0x88;
      return Push(value);
    case 'J': case 'K': case 'M': {  // BININT, BININT1, BININT2
      const int bytes = op == 'J' ? 4 : op == 'K' ? 1 : 2;
      RWKV_ASSIGN_OR_RETURN(const uint64_t raw, TakeLittleEndian(bytes));
      value.kind = Kind::kInt;
      value.number = op == 'J' ? static_cast<int32_t>(raw) : static_cast<int64_t>(raw);
      return Push(value);
    }
    case 0x8a: {  // LONG1: a little-endian two's complement integer of n bytes.
      RWKV_ASSIGN_OR_RETURN(const uint64_t n, TakeLittleEndian(1));
      if (n > 8) return Invalid(op_offset_, "LONG1 integer of ", n, " bytes is too large");
      RWKV_ASSIGN_OR_RETURN(uint64_t raw, TakeLittleEndian(static_cast<int>(n)));
      if (n > 0 && n < 8 && (raw >> (8 * n - 1)) != 0) raw |= ~uint64_t{0} << (8 * n);
      value.kind = Kind::kInt;
      value.number = static_cast<int64_t>(raw);
      return Push(value);
    }
    case 'G': {  // BINFLOAT, big-endian; kept as a float only so that it can be skipped.
      RWKV_RETURN_IF_ERROR(Take(8).status());
      value.kind = Kind::kFloat;
      return Push(value);
    }
    case 'X': case 0x8c: case 0x8d: {  // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
      RWKV_ASSIGN_OR_RETURN(value.text, TakeString(op == 'X' ? 4 : op == 0x8c ? 1 : 8));
      value.kind = Kind::kString;
      return Push(value);
    }
    case '}': return Push(NewContainer(Kind::kDict, {}));   // EMPTY_DICT
    case ']': return Push(NewContainer(Kind::kList, {}));   // EMPTY_LIST
    case ')': return Push(NewContainer(Kind::kTuple, {}));  // EMPTY_TUPLE
  }
  handled = false;
  return absl::OkStatus();
}

// Opcodes that build, store or call.
absl::Status Unpickler::StepStructure(uint8_t op, bool& handled) {
  handled = true;
  switch (op) {
    case '(':  // MARK
      if (marks_.size() >= kMaxMarks) return Invalid(op_offset_, "MARKs nest deeper than ", kMaxMarks);
      marks_.push_back(stack_.size());
      return absl::OkStatus();
    case 't': {  // TUPLE
      RWKV_ASSIGN_OR_RETURN(std::vector<Value> items, PopToMark());
      return Push(NewContainer(Kind::kTuple, std::move(items)));
    }
    case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
      std::vector<Value> items(op - 0x84);
      for (size_t i = items.size(); i-- > 0;) {
        RWKV_ASSIGN_OR_RETURN(items[i], Pop());
      }
      return Push(NewContainer(Kind::kTuple, std::move(items)));
    }
    case 's': case 'a': {  // SETITEM, APPEND
      std::vector<Value> items(op == 's' ? 2 : 1);
      for (size_t i = items.size(); i-- > 0;) {
        RWKV_ASSIGN_OR_RETURN(items[i], Pop());
      }
      return AddItems(std::move(items), op == 's' ? Kind::kDict : Kind::kList,
                      op == 's' ? "SETITEM" : "APPEND");
    }
    case 'u': case 'e': {  // SETITEMS, APPENDS
      RWKV_ASSIGN_OR_RETURN(std::vector<Value> items, PopToMark());
      return AddItems(std::move(items), op == 'u' ? Kind::kDict : Kind::kList,
                      op == 'u' ? "SETITEMS" : "APPENDS");
    }
    case 'q': case 'r': {  // BINPUT, LONG_BINPUT
      RWKV_ASSIGN_OR_RETURN(const uint64_t index, TakeLittleEndian(op == 'q' ? 1 : 4));
      return Memoize(index);
    }
    case 0x94: return Memoize(memo_.size());  // MEMOIZE
    case 'h': case 'j': {  // BINGET, LONG_BINGET
      RWKV_ASSIGN_OR_RETURN(const uint64_t index, TakeLittleEndian(op == 'h' ? 1 : 4));
      return Recall(index);
    }
    case 'c': {  // GLOBAL "module\nname\n"
      RWKV_ASSIGN_OR_RETURN(const std::string_view module, TakeLine());
      RWKV_ASSIGN_OR_RETURN(const std::string_view name, TakeLine());
      return Global(module, name);
    }
    case 0x93: {  // STACK_GLOBAL
      RWKV_ASSIGN_OR_RETURN(const Value name, Pop());
      RWKV_ASSIGN_OR_RETURN(const Value module, Pop());
      if (name.kind != Kind::kString || module.kind != Kind::kString) {
        return Invalid(op_offset_, "STACK_GLOBAL needs two strings");
      }
      return Global(module.text, name.text);
    }
    case 'R': return Reduce();
    case 'Q': return PersistentId();
    case 'b': return Build();
  }
  handled = false;
  return absl::OkStatus();
}

absl::Status Unpickler::Step(uint8_t op) {
  switch (op) {
    case 0x80: {  // PROTO
      RWKV_ASSIGN_OR_RETURN(const uint64_t protocol, TakeLittleEndian(1));
      if (protocol > kHighestProtocol) {
        return Invalid(op_offset_, "pickle protocol ", protocol, " is newer than ", kHighestProtocol);
      }
      return absl::OkStatus();
    }
    case 0x95:  // FRAME: a length hint for buffered readers; the bytes follow inline.
      return Take(8).status();
    case '.':  // STOP
      stopped_ = true;
      return absl::OkStatus();
  }
  bool handled = false;
  RWKV_RETURN_IF_ERROR(StepValue(op, handled));
  if (!handled) RWKV_RETURN_IF_ERROR(StepStructure(op, handled));
  if (!handled) {
    return Invalid(op_offset_, "opcode 0x", absl::Hex(op, absl::kZeroPad2),
                   " is not one a state dict uses; refused");
  }
  return absl::OkStatus();
}

absl::StatusOr<Value> Unpickler::Run() {
  while (!stopped_) {
    if (pos_ >= data_.size()) {
      return Invalid(static_cast<int64_t>(pos_), "the pickle ends without a STOP opcode");
    }
    op_offset_ = static_cast<int64_t>(pos_);
    RWKV_RETURN_IF_ERROR(Step(data_[pos_++]));
  }
  return Pop();
}

absl::StatusOr<PickledTensor> Unpickler::ToTensor(std::string_view name, const Value& value) const {
  if (value.kind != Kind::kTensor) {
    return Invalid(value.offset, "entry '", Printable(name), "' is a ",
                   AsAbsl(KindName(value.kind)), ", not a tensor; only a state dict of tensors is "
                   "accepted");
  }
  const Tensor& tensor = tensors_[value.ref];
  const Storage& storage = storages_[tensor.storage];
  PickledTensor out{std::string(name), storage.type, std::string(storage.key),
                    std::string(storage.location), storage.numel, tensor.offset, tensor.shape,
                    tensor.stride};
  if (out.shape.size() != out.stride.size()) {
    return Invalid(value.offset, "tensor '", Printable(name), "' has ", out.shape.size(),
                   " dimensions but ", out.stride.size(), " strides");
  }
  int64_t expected = 1;
  for (size_t i = out.shape.size(); i-- > 0;) {
    if (out.shape[i] != 1 && out.stride[i] != expected) {
      return Invalid(value.offset, "tensor '", Printable(name), "' is not contiguous (size (",
                     absl::StrJoin(out.shape, ", "), "), stride (", absl::StrJoin(out.stride, ", "),
                     ")); save it after .contiguous()");
    }
    if (__builtin_mul_overflow(expected, out.shape[i], &expected)) {
      return Invalid(value.offset, "tensor '", Printable(name), "' has too many elements");
    }
  }
  if (tensor.offset > storage.numel || expected > storage.numel - tensor.offset) {
    return Invalid(value.offset, "tensor '", Printable(name), "' reads elements [", tensor.offset,
                   ", ", tensor.offset, " + ", expected, ") of storage '", Printable(storage.key),
                   "', which holds ", storage.numel);
  }
  return out;
}

absl::StatusOr<std::vector<PickledTensor>> Unpickler::Collect(const Value& top) const {
  if (top.kind != Kind::kDict) {
    return Invalid(top.offset, "the pickle holds a ", AsAbsl(KindName(top.kind)),
                   ", not a state dict (a dict of tensors)");
  }
  const std::vector<Value>& items = containers_[top.ref];
  std::vector<PickledTensor> out;
  absl::flat_hash_set<std::string_view> names;
  for (size_t i = 0; i + 1 < items.size(); i += 2) {
    if (items[i].kind != Kind::kString) {
      return Invalid(items[i].offset, "the state dict has a ", AsAbsl(KindName(items[i].kind)),
                     " key, not a str");
    }
    if (!names.insert(items[i].text).second) {
      return Invalid(items[i].offset, "the state dict names '", Printable(items[i].text),
                     "' twice");
    }
    RWKV_ASSIGN_OR_RETURN(PickledTensor tensor, ToTensor(items[i].text, items[i + 1]));
    out.push_back(std::move(tensor));
  }
  return out;
}

}  // namespace

std::string_view TorchStorageTypeName(TorchStorageType type) {
  switch (type) {
    case TorchStorageType::kFloat: return "FloatStorage";
    case TorchStorageType::kHalf: return "HalfStorage";
    case TorchStorageType::kBFloat16: return "BFloat16Storage";
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
  Unpickler unpickler(pickle, what);
  RWKV_ASSIGN_OR_RETURN(const Value top, unpickler.Run());
  return unpickler.Collect(top);
}

}  // namespace rwkv::engine
