// The tokenizer interface: text <-> token ids for one model vocabulary.
//
// A Tokenizer is immutable once built, so every method may be called from any thread at once.
// Token ids are int32_t because that is what the model's embedding lookup and the sampler use.
//
//   RWKV_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, CreateTokenizer("", 65536));
//   RWKV_ASSIGN_OR_RETURN(std::vector<int32_t> ids, tokenizer->Encode("Hello world"));
//   RWKV_ASSIGN_OR_RETURN(std::string bytes, tokenizer->Decode(ids));
//
// Decoded bytes are not necessarily valid UTF-8 (a token may end mid-character); stream them to
// clients through a Utf8Detokenizer.
#ifndef RWKV_ENGINE_TOKENIZER_TOKENIZER_H_
#define RWKV_ENGINE_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace rwkv::engine {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Short stable name for logs: "bytes", "world" or "bpe".
  virtual std::string_view Name() const = 0;

  // Number of ids the tokenizer may produce or accept; must not exceed the model's vocabulary.
  virtual int32_t VocabSize() const = 0;

  // Token ids for the bytes of `text` (any bytes, not only valid UTF-8).
  virtual absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text) const = 0;

  // Raw bytes of one token, valid as long as the tokenizer lives. INVALID_ARGUMENT naming the id
  // when it is out of range or not in the vocabulary. The end-of-text token has no bytes ("").
  virtual absl::StatusOr<std::string_view> TokenBytes(int32_t id) const = 0;

  // Concatenated bytes of `ids` (may be invalid UTF-8 or end mid-character); the first bad id's
  // error otherwise.
  absl::StatusOr<std::string> Decode(absl::Span<const int32_t> ids) const {
    std::string out;
    for (int32_t id : ids) {
      absl::StatusOr<std::string_view> bytes = TokenBytes(id);
      if (!bytes.ok()) return bytes.status();
      out.append(*bytes);
    }
    return out;
  }

  // The token that ends a document, if the vocabulary has one (World: 0), else nullopt.
  virtual std::optional<int32_t> EndOfTextToken() const = 0;
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_TOKENIZER_TOKENIZER_H_
