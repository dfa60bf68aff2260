// The tokenizer of byte-level models (vocabulary 256): token id = byte value, with no offset
// (unlike World ids, which are byte + 1). Used by the tiny test models.
//
//   ByteTokenizer tokenizer;
//   tokenizer.Encode("\"in");  // {34, 105, 110}
#ifndef RWKV_ENGINE_TOKENIZER_BYTE_TOKENIZER_H_
#define RWKV_ENGINE_TOKENIZER_BYTE_TOKENIZER_H_

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tokenizer/tokenizer.h"

namespace rwkv::engine {

class ByteTokenizer final : public Tokenizer {
 public:
  static constexpr int32_t kVocabSize = 256;

  std::string_view Name() const override { return "bytes"; }
  int32_t VocabSize() const override { return kVocabSize; }

  // Never fails: every byte string is representable.
  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text) const override;

  // INVALID_ARGUMENT for ids outside [0, 256).
  absl::StatusOr<std::string_view> TokenBytes(int32_t id) const override;

  // Byte models have no document separator.
  std::optional<int32_t> EndOfTextToken() const override { return std::nullopt; }
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_TOKENIZER_BYTE_TOKENIZER_H_
