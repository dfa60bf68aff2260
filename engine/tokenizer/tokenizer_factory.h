// Choosing the tokenizer for a model from a flag value and the model's vocabulary size.
//
//   // --tokenizer="" picks by vocabulary size: 256 -> bytes, 65536 -> world.
//   RWKV_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer,
//                         CreateTokenizer(flags.tokenizer, model.vocab_size()));
#ifndef RWKV_ENGINE_TOKENIZER_TOKENIZER_FACTORY_H_
#define RWKV_ENGINE_TOKENIZER_TOKENIZER_FACTORY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/tokenizer/tokenizer.h"

namespace rwkv::engine {

// The World vocabulary file name shipped with rwkv-serve.
inline constexpr std::string_view kWorldVocabFileName = "rwkv_vocab_v20230424.txt";

// `spec` is "bytes", "world", "" (auto by `model_vocab_size`: 256 -> bytes, 65536 -> world) or the
// path of a World-format vocabulary file. Errors:
//   INVALID_ARGUMENT: model_vocab_size <= 0; auto with a vocabulary size no tokenizer is known
//     for; a malformed vocabulary file.
//   NOT_FOUND: "world" and FindWorldVocab() found nothing (the message lists the places tried);
//     a spec that is neither a known name nor an existing file.
//   FAILED_PRECONDITION: the tokenizer can produce ids the model does not have (its vocabulary
//     is larger than model_vocab_size, e.g. world on a 256-token model).
absl::StatusOr<std::unique_ptr<Tokenizer>> CreateTokenizer(std::string_view spec,
                                                           int32_t model_vocab_size);

// The first existing file of: $RWKV_WORLD_VOCAB; $RWKV_SHARED_DIR/tokenizers/<file>;
// /usr/share/rwkv-serve/<file>; <dir of /proc/self/exe>/../share/rwkv-serve/<file>;
// ../shared/tokenizers/<file> (relative to the working directory). "" when none exists.
std::string FindWorldVocab();

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_TOKENIZER_TOKENIZER_FACTORY_H_
