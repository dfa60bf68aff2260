#include "engine/model/formats/restricted_unpickler.h"

#include <algorithm>
#include <iterator>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/absl_view.h"
#include "common/status_macros.h"

namespace rwkv::engine {
namespace pickle {
namespace {

// Bounds that no state dict comes near; they keep a hostile pickle's memory small. Values live in
// an arena and refer to containers by index, so nothing recurses and cycles cannot leak.
constexpr size_t kMaxStack = size_t{1} << 20;
constexpr size_t kMaxMarks = 64;
constexpr size_t kMaxMemo = size_t{1} << 22;
constexpr size_t kMaxDims = 16;
constexpr int kHighestProtocol = 5;

// The pickle opcodes a state dict uses (names as in CPython's Lib/pickletools.py).
namespace opcode {
enum : uint8_t {
  kMark = '(',
  kStop = '.',
  kNone = 'N',
  kNewTrue = 0x88,
  kNewFalse = 0x89,
  kBinInt = 'J',
  kBinInt1 = 'K',
  kBinInt2 = 'M',
  kLong1 = 0x8a,
  kBinFloat = 'G',
  kBinUnicode = 'X',
  kShortBinUnicode = 0x8c,
  kBinUnicode8 = 0x8d,
  kEmptyDict = '}',
  kEmptyList = ']',
  kEmptyTuple = ')',
  kTuple = 't',
  kTuple1 = 0x85,
  kTuple2 = 0x86,
  kTuple3 = 0x87,
  kSetItem = 's',
  kAppend = 'a',
  kSetItems = 'u',
  kAppends = 'e',
  kBinPut = 'q',
  kLongBinPut = 'r',
  kMemoize = 0x94,
  kBinGet = 'h',
  kLongBinGet = 'j',
  kGlobal = 'c',
  kStackGlobal = 0x93,
  kReduce = 'R',
  kBinPersId = 'Q',
  kBuild = 'b',
  kProto = 0x80,
  kFrame = 0x95,
};
}  // namespace opcode

constexpr AllowedGlobal kAllowedGlobals[] = {
    {"collections", "OrderedDict", Global::kOrderedDict},
    {"torch._utils", "_rebuild_tensor_v2", Global::kRebuildTensor},
    {"torch._utils", "_rebuild_parameter", Global::kRebuildParameter},
    {"torch", "FloatStorage", Global::kStorage, TorchStorageType::kFloat},
    {"torch", "HalfStorage", Global::kStorage, TorchStorageType::kHalf},
    {"torch", "BFloat16Storage", Global::kStorage, TorchStorageType::kBFloat16},
};

std::string Printable(std::string_view s) {
  return absl::CHexEscape(AsAbsl(s.substr(0, std::min<size_t>(s.size(), 120))));
}

}  // namespace

std::string_view KindName(Kind kind) {
  static constexpr std::string_view kNames[] = {"None",   "bool",    "int",   "float",
                                                "str",    "tuple",   "list",  "dict",
                                                "global", "storage", "tensor"};
  return kNames[static_cast<int>(kind)];
}

absl::StatusOr<const uint8_t*> RestrictedUnpickler::Take(uint64_t count) {
  if (count > data_.size() - pos_) {
    return Invalid(op_offset_, "the opcode's argument of ", count, " bytes runs past the end (",
                   data_.size(), " bytes)");
  }
  const uint8_t* p = data_.data() + pos_;
  pos_ += count;
  return p;
}

absl::StatusOr<uint64_t> RestrictedUnpickler::TakeLittleEndian(int bytes) {
  RWKV_ASSIGN_OR_RETURN(const uint8_t* p, Take(bytes));
  uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

absl::StatusOr<std::string_view> RestrictedUnpickler::TakeString(int length_bytes) {
  RWKV_ASSIGN_OR_RETURN(const uint64_t length, TakeLittleEndian(length_bytes));
  RWKV_ASSIGN_OR_RETURN(const uint8_t* p, Take(length));
  return std::string_view(reinterpret_cast<const char*>(p), length);
}

absl::StatusOr<std::string_view> RestrictedUnpickler::TakeLine() {
  const uint8_t* begin = data_.data() + pos_;
  const uint8_t* end = data_.data() + data_.size();
  const uint8_t* newline = std::find(begin, end, '\n');
  if (newline == end) return Invalid(op_offset_, "GLOBAL's name has no terminating newline");
  pos_ += newline - begin + 1;
  return std::string_view(reinterpret_cast<const char*>(begin), newline - begin);
}

absl::Status RestrictedUnpickler::Push(Value value) {
  if (stack_.size() >= kMaxStack) {
    return Invalid(op_offset_, "the stack grows past ", kMaxStack, " values");
  }
  value.offset = op_offset_;
  stack_.push_back(std::move(value));
  return absl::OkStatus();
}

absl::StatusOr<Value> RestrictedUnpickler::Pop() {
  const size_t floor = marks_.empty() ? 0 : marks_.back();
  if (stack_.size() <= floor) return Invalid(op_offset_, "the opcode pops an empty stack");
  Value value = std::move(stack_.back());
  stack_.pop_back();
  return value;
}

absl::StatusOr<std::vector<Value>> RestrictedUnpickler::PopToMark() {
  if (marks_.empty()) return Invalid(op_offset_, "the opcode needs a MARK and there is none");
  const size_t mark = marks_.back();
  marks_.pop_back();
  std::vector<Value> items(std::make_move_iterator(stack_.begin() + mark),
                           std::make_move_iterator(stack_.end()));
  stack_.resize(mark);
  return items;
}

absl::StatusOr<Value*> RestrictedUnpickler::Top(Kind kind, std::string_view op) {
  const size_t floor = marks_.empty() ? 0 : marks_.back();
  if (stack_.size() <= floor) return Invalid(op_offset_, AsAbsl(op), " has no target on the stack");
  Value& top = stack_.back();
  if (top.kind != kind) {
    return Invalid(op_offset_, AsAbsl(op), " needs a ", AsAbsl(KindName(kind)),
                   ", the stack has a ", AsAbsl(KindName(top.kind)));
  }
  return &top;
}

Value RestrictedUnpickler::NewContainer(Kind kind, std::vector<Value> items) {
  containers_.push_back(std::move(items));
  Value value;
  value.kind = kind;
  value.ref = static_cast<uint32_t>(containers_.size() - 1);
  return value;
}

absl::Status RestrictedUnpickler::PushGlobal(std::string_view module, std::string_view name) {
  for (size_t i = 0; i < std::size(kAllowedGlobals); ++i) {
    if (kAllowedGlobals[i].module != module || kAllowedGlobals[i].name != name) continue;
    Value value;
    value.kind = Kind::kGlobal;
    value.ref = static_cast<uint32_t>(i);
    return Push(value);
  }
  return Invalid(op_offset_, "pickle names global '", Printable(module), ".", Printable(name),
                 "'; only a state dict of tensors is accepted (collections.OrderedDict, "
                 "torch._utils._rebuild_tensor_v2 and the float32/float16/bfloat16 storages)");
}

absl::Status RestrictedUnpickler::Memoize(uint64_t index) {
  if (stack_.empty()) return Invalid(op_offset_, "memoizes an empty stack");
  if (memo_.size() >= kMaxMemo && !memo_.contains(index)) {
    return Invalid(op_offset_, "the memo grows past ", kMaxMemo, " entries");
  }
  memo_.insert_or_assign(index, stack_.back());
  return absl::OkStatus();
}

absl::Status RestrictedUnpickler::Recall(uint64_t index) {
  const auto it = memo_.find(index);
  if (it == memo_.end()) return Invalid(op_offset_, "memo entry ", index, " was never stored");
  return Push(it->second);
}

absl::Status RestrictedUnpickler::AddItems(std::vector<Value> items, Kind kind,
                                           std::string_view op) {
  RWKV_ASSIGN_OR_RETURN(Value * target, Top(kind, op));
  if (kind == Kind::kDict && items.size() % 2 != 0) {
    return Invalid(op_offset_, AsAbsl(op), " has a key without a value");
  }
  std::vector<Value>& container = containers_[target->ref];
  for (Value& item : items) container.push_back(std::move(item));
  return absl::OkStatus();
}

absl::Status RestrictedUnpickler::Reduce() {
  RWKV_ASSIGN_OR_RETURN(const Value args, Pop());
  RWKV_ASSIGN_OR_RETURN(const Value callable, Pop());
  if (callable.kind != Kind::kGlobal || args.kind != Kind::kTuple) {
    return Invalid(op_offset_, "REDUCE calls a ", AsAbsl(KindName(callable.kind)), " with a ",
                   AsAbsl(KindName(args.kind)), "; only the allowed globals can be called");
  }
  const AllowedGlobal& global = kAllowedGlobals[callable.ref];
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

absl::StatusOr<std::vector<int64_t>> RestrictedUnpickler::IntTuple(const Value& value,
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
absl::Status RestrictedUnpickler::RebuildTensor(const std::vector<Value>& args, int64_t at) {
  if (args.size() != 6 && args.size() != 7) {
    return Invalid(op_offset_, "_rebuild_tensor_v2 (named at byte ", at, ") gets ", args.size(),
                   " arguments, not 6 or 7");
  }
  if (args[0].kind != Kind::kStorage || args[1].kind != Kind::kInt || args[1].number < 0) {
    return Invalid(op_offset_,
                   "_rebuild_tensor_v2 needs a storage and a non-negative offset, gets a ",
                   AsAbsl(KindName(args[0].kind)), " and a ", AsAbsl(KindName(args[1].kind)));
  }
  TensorRecord tensor{args[0].ref, args[1].number, {}, {}};
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
absl::Status RestrictedUnpickler::PersistentId() {
  RWKV_ASSIGN_OR_RETURN(const Value pid, Pop());
  const std::vector<Value>* items = pid.kind == Kind::kTuple ? &containers_[pid.ref] : nullptr;
  if (items == nullptr || items->size() != 5 || (*items)[0].kind != Kind::kString ||
      (*items)[0].text != "storage") {
    return Invalid(op_offset_,
                   "the persistent ID is not a ('storage', type, key, location, numel) tuple");
  }
  const std::vector<Value>& id = *items;
  if (id[1].kind != Kind::kGlobal || kAllowedGlobals[id[1].ref].global != Global::kStorage ||
      id[2].kind != Kind::kString || id[3].kind != Kind::kString || id[4].kind != Kind::kInt ||
      id[4].number < 0) {
    return Invalid(op_offset_,
                   "the persistent ID needs a storage class, a str key, a str location and a "
                   "non-negative numel");
  }
  storages_.push_back({kAllowedGlobals[id[1].ref].storage, id[2].text, id[3].text, id[4].number});
  Value value;
  value.kind = Kind::kStorage;
  value.ref = static_cast<uint32_t>(storages_.size() - 1);
  return Push(value);
}

// A state dict's BUILD sets `_metadata` on the OrderedDict; that is accepted and ignored.
absl::Status RestrictedUnpickler::Build() {
  RWKV_ASSIGN_OR_RETURN(const Value state, Pop());
  RWKV_ASSIGN_OR_RETURN(Value * target, Top(Kind::kDict, "BUILD"));
  (void)target;
  if (state.kind != Kind::kDict && state.kind != Kind::kNone) {
    return Invalid(op_offset_, "BUILD sets a dict's state from a ", AsAbsl(KindName(state.kind)));
  }
  return absl::OkStatus();
}

// Opcodes that push one plain value.
absl::Status RestrictedUnpickler::StepValue(uint8_t op, bool& handled) {
  handled = true;
  Value value;
  switch (op) {
    case opcode::kNone:
      return Push(value);
    case opcode::kNewTrue:
    case opcode::kNewFalse:
      value.kind = Kind::kBool;
      value.number = op == opcode::kNewTrue;
      return Push(value);
    case opcode::kBinInt:
    case opcode::kBinInt1:
    case opcode::kBinInt2: {
      const int bytes = op == opcode::kBinInt ? 4 : op == opcode::kBinInt1 ? 1 : 2;
      RWKV_ASSIGN_OR_RETURN(const uint64_t raw, TakeLittleEndian(bytes));
      value.kind = Kind::kInt;
      value.number = op == opcode::kBinInt ? static_cast<int32_t>(raw) : static_cast<int64_t>(raw);
      return Push(value);
    }
    case opcode::kLong1: {  // LONG1: a little-endian two's complement integer of n bytes.
      RWKV_ASSIGN_OR_RETURN(const uint64_t n, TakeLittleEndian(1));
      if (n > 8) return Invalid(op_offset_, "LONG1 integer of ", n, " bytes is too large");
      RWKV_ASSIGN_OR_RETURN(uint64_t raw, TakeLittleEndian(static_cast<int>(n)));
      if (n > 0 && n < 8 && (raw >> (8 * n - 1)) != 0) raw |= ~uint64_t{0} << (8 * n);
      value.kind = Kind::kInt;
      value.number = static_cast<int64_t>(raw);
      return Push(value);
    }
    case opcode::kBinFloat: {  // BINFLOAT, big-endian; kept as a float only so that it can be
                               // skipped.
      RWKV_RETURN_IF_ERROR(Take(8).status());
      value.kind = Kind::kFloat;
      return Push(value);
    }
    case opcode::kBinUnicode:
    case opcode::kShortBinUnicode:
    case opcode::kBinUnicode8: {
      RWKV_ASSIGN_OR_RETURN(value.text, TakeString(op == opcode::kBinUnicode        ? 4
                                                   : op == opcode::kShortBinUnicode ? 1
                                                                                    : 8));
      value.kind = Kind::kString;
      return Push(value);
    }
    case opcode::kEmptyDict:
      return Push(NewContainer(Kind::kDict, {}));
    case opcode::kEmptyList:
      return Push(NewContainer(Kind::kList, {}));
    case opcode::kEmptyTuple:
      return Push(NewContainer(Kind::kTuple, {}));
  }
  handled = false;
  return absl::OkStatus();
}

// Opcodes that build, store or call.
absl::Status RestrictedUnpickler::StepStructure(uint8_t op, bool& handled) {
  handled = true;
  switch (op) {
    case opcode::kMark:
      if (marks_.size() >= kMaxMarks) {
        return Invalid(op_offset_, "MARKs nest deeper than ", kMaxMarks);
      }
      marks_.push_back(stack_.size());
      return absl::OkStatus();
    case opcode::kTuple: {
      RWKV_ASSIGN_OR_RETURN(std::vector<Value> items, PopToMark());
      return Push(NewContainer(Kind::kTuple, std::move(items)));
    }
    case opcode::kTuple1:
    case opcode::kTuple2:
    case opcode::kTuple3: {
      std::vector<Value> items(op - opcode::kTuple1 + 1);
      for (size_t i = items.size(); i-- > 0;) {
        RWKV_ASSIGN_OR_RETURN(items[i], Pop());
      }
      return Push(NewContainer(Kind::kTuple, std::move(items)));
    }
    case opcode::kSetItem:
    case opcode::kAppend: {
      std::vector<Value> items(op == opcode::kSetItem ? 2 : 1);
      for (size_t i = items.size(); i-- > 0;) {
        RWKV_ASSIGN_OR_RETURN(items[i], Pop());
      }
      return AddItems(std::move(items), op == opcode::kSetItem ? Kind::kDict : Kind::kList,
                      op == opcode::kSetItem ? "SETITEM" : "APPEND");
    }
    case opcode::kSetItems:
    case opcode::kAppends: {
      RWKV_ASSIGN_OR_RETURN(std::vector<Value> items, PopToMark());
      return AddItems(std::move(items), op == opcode::kSetItems ? Kind::kDict : Kind::kList,
                      op == opcode::kSetItems ? "SETITEMS" : "APPENDS");
    }
    case opcode::kBinPut:
    case opcode::kLongBinPut: {
      RWKV_ASSIGN_OR_RETURN(const uint64_t index, TakeLittleEndian(op == opcode::kBinPut ? 1 : 4));
      return Memoize(index);
    }
    case opcode::kMemoize:
      return Memoize(memo_.size());
    case opcode::kBinGet:
    case opcode::kLongBinGet: {
      RWKV_ASSIGN_OR_RETURN(const uint64_t index, TakeLittleEndian(op == opcode::kBinGet ? 1 : 4));
      return Recall(index);
    }
    case opcode::kGlobal: {  // GLOBAL "module\nname\n"
      RWKV_ASSIGN_OR_RETURN(const std::string_view module, TakeLine());
      RWKV_ASSIGN_OR_RETURN(const std::string_view name, TakeLine());
      return PushGlobal(module, name);
    }
    case opcode::kStackGlobal: {
      RWKV_ASSIGN_OR_RETURN(const Value name, Pop());
      RWKV_ASSIGN_OR_RETURN(const Value module, Pop());
      if (name.kind != Kind::kString || module.kind != Kind::kString) {
        return Invalid(op_offset_, "STACK_GLOBAL needs two strings");
      }
      return PushGlobal(module.text, name.text);
    }
    case opcode::kReduce:
      return Reduce();
    case opcode::kBinPersId:
      return PersistentId();
    case opcode::kBuild:
      return Build();
  }
  handled = false;
  return absl::OkStatus();
}

absl::Status RestrictedUnpickler::Step(uint8_t op) {
  switch (op) {
    case opcode::kProto: {
      RWKV_ASSIGN_OR_RETURN(const uint64_t protocol, TakeLittleEndian(1));
      if (protocol > kHighestProtocol) {
        return Invalid(op_offset_, "pickle protocol ", protocol, " is newer than ",
                       kHighestProtocol);
      }
      return absl::OkStatus();
    }
    case opcode::kFrame:  // FRAME: a length hint for buffered readers; the bytes follow inline.
      return Take(8).status();
    case opcode::kStop:
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

absl::StatusOr<Value> RestrictedUnpickler::Run() {
  while (!stopped_) {
    if (pos_ >= data_.size()) {
      return Invalid(static_cast<int64_t>(pos_), "the pickle ends without a STOP opcode");
    }
    op_offset_ = static_cast<int64_t>(pos_);
    RWKV_RETURN_IF_ERROR(Step(data_[pos_++]));
  }
  return Pop();
}

}  // namespace pickle
}  // namespace rwkv::engine
