#include "engine/model/formats/pickle_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/types/span.h"
#include "tests/engine/model/formats/torch_test_files.h"

namespace rwkv::engine {
namespace {

using namespace torch_test;  // NOLINT: the builders read as a pickle's opcodes.

absl::StatusOr<std::vector<PickledTensor>> Read(const std::string& pickle) {
  return ReadStateDictPickle(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(pickle.data()), pickle.size()),
      "test.pth: archive/data.pkl");
}

// Expects `pickle` refused with INVALID_ARGUMENT, naming the pickle and each of `fragments`.
void ExpectRefused(const std::string& pickle, const std::vector<std::string>& fragments) {
  const absl::Status status = Read(pickle).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "test.pth: archive/data.pkl: at byte "))
      << status;
  for (const std::string& fragment : fragments) {
    EXPECT_TRUE(absl::StrContains(status.message(), fragment)) << status << "\nlacks: " << fragment;
  }
}

TEST(PickleReaderTest, ReadsAStateDict) {
  const auto tensors = Read(StateDictPickle(
      {TensorItem("blocks.0.w", "BFloat16Storage", "0", 300, 0, {3, 100}, {100, 1}),
       TensorItem("b", "HalfStorage", "1", 8, 2, {5}, {1}),
       TensorItem("scalar", "FloatStorage", "2", 1, 0, {}, {}),
       TensorItem("view", "BFloat16Storage", "0", 300, 100, {1, 1, 200}, {7, 9, 1})}));
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  ASSERT_EQ(tensors->size(), 4u);
  const PickledTensor& w = (*tensors)[0];
  EXPECT_EQ(w.name, "blocks.0.w");
  EXPECT_EQ(w.storage_type, TorchStorageType::kBFloat16);
  EXPECT_EQ(w.storage_key, "0");
  EXPECT_EQ(w.location, "cpu");
  EXPECT_EQ(w.storage_numel, 300);
  EXPECT_EQ(w.shape, (std::vector<int64_t>{3, 100}));
  EXPECT_EQ(w.stride, (std::vector<int64_t>{100, 1}));
  EXPECT_EQ((*tensors)[1].storage_type, TorchStorageType::kHalf);
  EXPECT_EQ((*tensors)[1].storage_offset, 2);
  EXPECT_EQ((*tensors)[2].NumElements(), 1);     // 0-d
  EXPECT_EQ((*tensors)[3].storage_offset, 100);  // Size-1 dimensions may have any stride.
  EXPECT_EQ((*tensors)[3].NumElements(), 200);
}

TEST(PickleReaderTest, ReadsProtocolFourOpcodes) {
  // FRAME, SHORT_BINUNICODE, BINUNICODE8, STACK_GLOBAL, MEMOIZE, BININT, LONG1, lists, floats,
  // None and True inside a tensor's (ignored) metadata, and _rebuild_parameter.
  std::string short_w = "\x8c\x01w";
  std::string long_key = "\x8d";
  PutLE(long_key, 1, 8);
  long_key += "0";
  std::string stack_global = "\x8c\x0ctorch._utils\x94\x8c\x12_rebuild_tensor_v2\x94\x93\x94";
  std::string frame = "\x95";
  PutLE(frame, 0, 8);
  const std::string hooks = Global("collections", "OrderedDict") + ")R";
  const std::string metadata = "]\x94(N\x88G" + std::string(8, '\0') + "e";
  std::string numel = "J";
  PutLE(numel, 6, 4);
  const std::string pickle =
      "\x80\x04" + frame + "}\x94(" + short_w + Global("torch._utils", "_rebuild_parameter") +
      stack_global + "((" + Str("storage") + Global("torch", "FloatStorage") + long_key +
      Str("cpu") + numel + "tQ" + std::string("\x8a\x00", 2) + IntTuple({2, 3}) + IntTuple({3, 1}) +
      "\x89" + hooks + metadata + "tR\x88" + hooks + "\x87Ru.";
  const auto tensors = Read(pickle);
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  ASSERT_EQ(tensors->size(), 1u);
  EXPECT_EQ((*tensors)[0].name, "w");
  EXPECT_EQ((*tensors)[0].storage_key, "0");
  EXPECT_EQ((*tensors)[0].shape, (std::vector<int64_t>{2, 3}));
}

TEST(PickleReaderTest, RefusesOtherGlobals) {
  ExpectRefused("\x80\x02" + Global("posix", "system") + Str("ls") + "\x85R.",
                {"at byte 2: pickle names global 'posix.system'",
                 "only a state dict of tensors is accepted"});
  ExpectRefused("\x80\x02" + Global("os", "system") + ".", {"'os.system'"});
  ExpectRefused(
      "\x80\x04\x8c\x08"
      "builtins\x8c\x04"
      "eval\x93.",
      {"at byte 18: pickle names global 'builtins.eval'"});
  ExpectRefused("\x80\x02" + Global("torch._utils", "_rebuild_tensor") + ".",
                {"'torch._utils._rebuild_tensor'"});
  ExpectRefused("\x80\x02" + Global("torch", "IntStorage") + ".", {"'torch.IntStorage'"});
  ExpectRefused("\x80\x02" + Global(std::string("collections\0x", 13), "OrderedDict") + ".",
                {"'collections"});
}

TEST(PickleReaderTest, RefusesCallsOfStoragesAndValues) {
  ExpectRefused("\x80\x02" + Global("torch", "FloatStorage") + ")R.", {"cannot be called"});
  ExpectRefused("\x80\x02" + Str("x") + ")R.", {"REDUCE calls a str"});
  ExpectRefused("\x80\x02" + Global("collections", "OrderedDict") + "(K\x01tR.",
                {"OrderedDict called with arguments"});
}

TEST(PickleReaderTest, RefusesUnknownOpcodes) {
  ExpectRefused("\x80\x02(i__builtin__\nobject\n.", {"opcode 0x69"});
  ExpectRefused("\x80\x02\xff.", {"opcode 0xff"});
  ExpectRefused("\x80\x06}.", {"protocol 6"});
}

TEST(PickleReaderTest, RefusesWhatIsNotAStateDictOfTensors) {
  ExpectRefused("\x80\x02].", {"holds a list, not a state dict"});
  ExpectRefused("\x80\x02}" + Str("x") + "K\x01s.", {"entry 'x' is not a tensor (it is int)"});
  ExpectRefused("\x80\x02}K\x01K\x02s.", {"has a key of type int, not str"});
  ExpectRefused(StateDictPickle({TensorItem("a", "FloatStorage", "0", 6, 0, {6}, {1}),
                                 TensorItem("a", "FloatStorage", "1", 6, 0, {6}, {1})}),
                {"names 'a' twice"});
}

TEST(PickleReaderTest, RefusesNonContiguousAndOutOfRangeTensors) {
  ExpectRefused(StateDictPickle({TensorItem("t", "FloatStorage", "0", 6, 0, {2, 3}, {1, 2})}),
                {"tensor 't' is not contiguous (size (2, 3), stride (1, 2))"});
  ExpectRefused(StateDictPickle({TensorItem("t", "FloatStorage", "0", 6, 1, {2, 3}, {3, 1})}),
                {"tensor 't' reads elements [1, 1 + 6) of storage '0', which holds 6"});
  ExpectRefused(StateDictPickle({TensorItem("t", "FloatStorage", "0", 6, 0, {2, 3}, {3})}),
                {"2 dimensions but 1 strides"});
  ExpectRefused(StateDictPickle({TensorItem("t", "FloatStorage", "0", 6, 0,
                                            {int64_t{1} << 40, int64_t{1} << 40}, {1, 1})}),
                {"not contiguous"});
  ExpectRefused(
      StateDictPickle({TensorItem("t", "FloatStorage", "0", 6, 0,
                                  {int64_t{1} << 40, int64_t{1} << 40}, {int64_t{1} << 40, 1})}),
      {"too many elements"});
  ExpectRefused(
      StateDictPickle({TensorItem("t", "FloatStorage", "0", 6, 0, std::vector<int64_t>(17, 1),
                                  std::vector<int64_t>(17, 1))}),
      {"17 dimensions"});
}

TEST(PickleReaderTest, RefusesMalformedPersistentIds) {
  ExpectRefused("\x80\x02" + Str("storage") + "Q.", {"persistent ID is not a"});
  ExpectRefused("\x80\x02(" + Str("storage") + Global("collections", "OrderedDict") + Str("0") +
                    Str("cpu") + "K\x01tQ.",
                {"needs a storage class"});
}

TEST(PickleReaderTest, BoundsHostileInputs) {
  std::string huge = "\x80\x02X";
  PutLE(huge, 0xffffffff, 4);
  ExpectRefused(huge + ".", {"argument of 4294967295 bytes runs past the end"});
  std::string huge8 = "\x80\x04\x8d";
  PutLE(huge8, ~uint64_t{0}, 8);
  ExpectRefused(huge8 + ".", {"runs past the end"});
  ExpectRefused("\x80\x02" + std::string(100, '(') + ".", {"MARKs nest deeper than 64"});
  ExpectRefused("\x80\x02\x8a\x09" + std::string(9, '\1') + ".", {"LONG1 integer of 9 bytes"});
  ExpectRefused("\x80\x02h\x05.", {"memo entry 5 was never stored"});
  ExpectRefused("\x80\x02s.", {"pops an empty stack"});
  ExpectRefused("\x80\x02(.", {"pops an empty stack"});
  ExpectRefused("\x80\x02t.", {"needs a MARK"});
  ExpectRefused("\x80\x02}", {"ends without a STOP"});
  ExpectRefused("", {"ends without a STOP"});
  ExpectRefused(
      "\x80\x02"
      "cos\nsystem",
      {"no terminating newline"});
  // A list that holds itself: values refer to containers by index, so nothing recurses or leaks.
  ExpectRefused(std::string("\x80\x02]q\x00h\x00"
                            "a.",
                            9),
                {"holds a list"});
  // Many values: bounded by the stack limit, refused before memory grows further.
  ExpectRefused("\x80\x02" + std::string((1 << 20) + 1, 'N') + ".", {"stack grows past"});
}

TEST(PickleReaderTest, EveryTruncationIsRefused) {
  const std::string pickle =
      StateDictPickle({TensorItem("a", "FloatStorage", "0", 6, 0, {2, 3}, {3, 1}),
                       TensorItem("b", "HalfStorage", "1", 4, 0, {4}, {1})});
  ASSERT_TRUE(Read(pickle).ok()) << Read(pickle).status();
  for (size_t size = 0; size < pickle.size(); ++size) {
    const absl::Status status = Read(pickle.substr(0, size)).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << size << ": " << status;
  }
}

TEST(PickleReaderTest, StorageTypeNames) {
  EXPECT_EQ(TorchStorageTypeName(TorchStorageType::kBFloat16), "BFloat16Storage");
  EXPECT_EQ(TorchStorageElementBytes(TorchStorageType::kFloat), 4);
  EXPECT_EQ(TorchStorageElementBytes(TorchStorageType::kHalf), 2);
}

}  // namespace
}  // namespace rwkv::engine
