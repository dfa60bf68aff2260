// Choosing the tokenizer for a model from a flag value, the model's vocabulary size and, for
// model files that carry one (GGUF), the model's own token list.
//
//   // --tokenizer="" picks by vocabulary: 256 -> bytes, 65536 -> world, 50277 -> 20b.
//   RWKV_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer,
//                         CreateTokenizer(flags.tokenizer, model.vocab_size()));
//   // A GGUF's tokenizer.ggml.tokens, unescaped to raw bytes by the caller:
//   RWKV_ASSIGN_OR_RETURN(tokenizer, CreateTokenizer("", n_vocab, gguf_token_bytes));
#ifndef RWKV_ENGINE_TOKENIZER_TOKENIZER_FACTORY_H_
#define RWKV_ENGINE_TOKENIZER_TOKENIZER_FACTORY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/tokenizer/tokenizer.h"

namespace rwkv::engine {

// The World vocabulary file name shipped with rwkv-serve.
inline constexpr std::string_view kWorldVocabFileName = "rwkv_vocab_v20230424.txt";
// GPT-NeoX's tokenizer (RWKV-4 Pile and Raven models), as shipped with rwkv.cpp and ChatRWKV.
inline constexpr std::string_view k20bTokenizerFileName = "20B_tokenizer.json";

// `spec` is "bytes", "world", "20b", the path of a `tokenizers` JSON file (a name ending in
// ".json": byte-level BPE) or of a World-format vocabulary file (any other name), or "" to choose
// automatically. Auto with a non-empty `embedded_vocab` (token id -> the token's raw bytes, from
// the model file): the byte tokenizer if it is exactly the 256 single bytes in order, else a
// greedy World-style tokenizer over the list (id 0 is end-of-text, never matched by text; an
// empty entry is never produced). Auto without one goes by `model_vocab_size`: 256 -> bytes,
// 65536 -> world, 50277 -> 20b. Errors:
//   INVALID_ARGUMENT: model_vocab_size <= 0; auto with a vocabulary size no tokenizer is known
//     for; a malformed vocabulary or tokenizer file or embedded vocabulary.
//   NOT_FOUND: "world" or "20b" and its file was not found (the message lists the places
//     tried); a spec that is neither a known name nor an existing file.
//   FAILED_PRECONDITION: the tokenizer can produce ids the model does not have (its vocabulary
//     is larger than model_vocab_size, e.g. world on a 256-token model).
absl::StatusOr<std::unique_ptr<Tokenizer>> CreateTokenizer(
    std::string_view spec, int32_t model_vocab_size,
    absl::Span<const std::string> embedded_vocab = {});

// The first existing file of: $<env_var>; $RWKV_SHARED_DIR/tokenizers/<file_name>;
// /usr/share/rwkv-serve/<file_name>; <dir of /proc/self/exe>/../share/rwkv-serve/<file_name>;
// ../shared/tokenizers/<file_name> (relative to the working directory). "" when none exists.
std::string FindTokenizerFile(std::string_view file_name, const char* env_var);

// FindTokenizerFile(kWorldVocabFileName, "RWKV_WORLD_VOCAB").
std::string FindWorldVocab();

// FindTokenizerFile(k20bTokenizerFileName, "RWKV_20B_TOKENIZER").
std::string Find20bTokenizer();

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_TOKENIZER_TOKENIZER_FACTORY_H_
