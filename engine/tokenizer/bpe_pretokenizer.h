// The text preparation of GPT-2-style byte-level BPE tokenizers (Hugging Face `tokenizers`'
// NFC normalizer and ByteLevel pre-tokenizer): NFC normalization and the split into words that
// BPE then encodes one at a time.
//
//   const std::string text = NormalizeNfc("cafe\xCC\x81");          // "caf\xC3\xA9"
//   std::vector<std::string_view> words = SplitGpt2Words("I'm  ok");  // "I" "'m" " " " ok"
//
// Both work on arbitrary bytes. A byte that does not start a valid UTF-8 sequence (stray
// continuation bytes, truncated or overlong sequences, surrogates) is one character of its own,
// of no Unicode category: NFC leaves it as is, and the split treats it like punctuation. So the
// words always concatenate back to exactly the input.
#ifndef RWKV_ENGINE_TOKENIZER_BPE_PRETOKENIZER_H_
#define RWKV_ENGINE_TOKENIZER_BPE_PRETOKENIZER_H_

#include <string>
#include <string_view>
#include <vector>

namespace rwkv::engine {

// `text` with every maximal run of valid UTF-8 replaced by its NFC form (utf8proc); bytes that
// are not valid UTF-8 are copied unchanged between the runs.
std::string NormalizeNfc(std::string_view text);

// Appends to `words` the pieces of `text` that the GPT-2 regex
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// matches, in order; they cover `text` exactly. A hand-written scanner, because no regex library
// installed here has both \p{L} classes and lookahead. \s is Unicode White_Space (as in
// Oniguruma, which `tokenizers` uses); \p{L} and \p{N} come from utf8proc's categories.
void SplitGpt2Words(std::string_view text, std::vector<std::string_view>* words);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_TOKENIZER_BPE_PRETOKENIZER_H_
