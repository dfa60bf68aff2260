#include "engine/tokenizer/byte_tokenizer.h"

#include <array>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace rwkv::engine {
namespace {

// All 256 bytes in order, so TokenBytes can return a view that outlives the call.
constexpr std::array<char, ByteTokenizer::kVocabSize> MakeByteTable() {
  std::array<char, ByteTokenizer::kVocabSize> table{};
  for (int i = 0; i < ByteTokenizer::kVocabSize; ++i) table[i] = static_cast<char>(i);
  return table;
}

constexpr std::array<char, ByteTokenizer::kVocabSize> kByteTable = MakeByteTable();

}  // namespace

absl::StatusOr<std::vector<int32_t>> ByteTokenizer::Encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  for (char c : text) ids.push_back(static_cast<unsigned char>(c));
  return ids;
}

absl::StatusOr<std::string_view> ByteTokenizer::TokenBytes(int32_t id) const {
  if (id < 0 || id >= kVocabSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("token id ", id, " is outside the byte vocabulary [0, 256)"));
  }
  return std::string_view(&kByteTable[id], 1);
}

}  // namespace rwkv::engine
