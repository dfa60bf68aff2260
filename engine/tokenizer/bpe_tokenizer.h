// A byte-level BPE tokenizer read from a Hugging Face `tokenizers` JSON file: GPT-NeoX's
// 20B_tokenizer.json, used by RWKV-4 Pile and Raven models (vocabulary 50277).
//
//   RWKV_ASSIGN_OR_RETURN(std::unique_ptr<BpeTokenizer> bpe,
//                         BpeTokenizer::Load("../shared/tokenizers/20B_tokenizer.json"));
//   bpe->Encode("Hello World");  // {12092, 3645}
//
// Encoding follows `tokenizers`: added tokens that are not "normalized" (<|endoftext|>,
// <|padding|>) are split out of the raw text first, leftmost-longest; each remaining piece is
// NFC-normalized, then the "normalized" added tokens (20B's runs of 2 to 24 spaces) are split out
// of it the same way; what remains is cut into words by the GPT-2 pre-tokenizer, and each word's
// bytes are merged pairwise, lowest merge rank first (leftmost among equals), starting from one
// token per byte. (Words over 1 MiB, which no real text has, are merged a megabyte at a time.)
//
// Any bytes encode (see bpe_pretokenizer.h for invalid UTF-8). A byte the vocabulary has no
// token for (20B lacks the 13 bytes that never occur in UTF-8: C0, C1, F5..FF) is encoded as
// U+FFFD, the replacement character, as text decoded with errors="replace" would hold it. So
// Decode(Encode(b)) == b whenever b has none of those bytes, its valid UTF-8 runs are already NFC
// (all ASCII and almost all real text) and it does not contain "<|endoftext|>" (which decodes to
// nothing, as every tokenizer's end-of-text does). Otherwise it is that form of b.
//
// Immutable after Load, so all methods are safe to call concurrently.
#ifndef RWKV_ENGINE_TOKENIZER_BPE_TOKENIZER_H_
#define RWKV_ENGINE_TOKENIZER_BPE_TOKENIZER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/tokenizer/tokenizer.h"

namespace rwkv::engine {

class BpeTokenizer final : public Tokenizer {
 public:
  // The file name of GPT-NeoX's tokenizer, as shipped with rwkv.cpp and ChatRWKV.
  static constexpr std::string_view k20bFileName = "20B_tokenizer.json";

  // Reads a `tokenizers` JSON file. Errors: the errno-derived code when it cannot be read
  // (NOT_FOUND if missing); INVALID_ARGUMENT naming the path and the offending entry for JSON
  // that does not parse or is not a byte-level BPE tokenizer this class implements (model type
  // other than BPE, a normalizer other than NFC or none, a pre-tokenizer other than ByteLevel
  // without prefix space, added-token options lstrip/rstrip/single_word, a vocabulary entry
  // outside the byte alphabet, a merge of unknown tokens, a byte with no token when U+FFFD's
  // bytes do not all have one).
  static absl::StatusOr<std::unique_ptr<BpeTokenizer>> Load(const std::string& json_path);

  // Load() over file contents already in memory; `name` stands for the path in messages.
  static absl::StatusOr<std::unique_ptr<BpeTokenizer>> Parse(std::string_view json,
                                                             const std::string& name);

  std::string_view Name() const override { return "bpe"; }
  // Whether `byte` has a token of its own; Encode replaces bytes that do not by U+FFFD.
  bool HasByteToken(uint8_t byte) const { return byte_token_[byte] >= 0; }

  // One past the highest id of the vocabulary and the added tokens (50277 for 20B).
  int32_t VocabSize() const override { return vocab_size_; }

  // Never fails.
  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text) const override;

  // The token's raw bytes (an added token's content as written); "" for the end-of-text token;
  // INVALID_ARGUMENT for an id outside [0, VocabSize()) or one that no entry of the file defines.
  absl::StatusOr<std::string_view> TokenBytes(int32_t id) const override;

  // The id of the added token "<|endoftext|>", if the file has one (20B: 0).
  std::optional<int32_t> EndOfTextToken() const override { return end_of_text_; }

 private:
  struct AddedToken {
    std::string content;
    int32_t id;
  };
  struct Merge {
    int32_t rank;
    int32_t merged;
  };

  BpeTokenizer() = default;

  absl::Status ParseJson(std::string_view json);
  // `entry` is the token as the file writes it, for messages.
  absl::Status SetToken(int32_t id, std::string bytes, const std::string& entry);
  absl::Status BuildMerges(const std::vector<std::pair<std::string, std::string>>& merges);
  absl::Status AddAddedToken(std::string content, int32_t id, bool normalized);

  // Calls on_piece(piece, -1) for text between added tokens of `added` and on_piece("", id) for
  // each added token found, in order; leftmost-longest matching.
  template <typename OnPiece>
  static void SplitOnAdded(std::string_view text, const std::vector<AddedToken>& added,
                           OnPiece on_piece);
  // `text` with each byte that has no token replaced by U+FFFD.
  std::string ReplaceBytesWithoutToken(std::string_view text) const;
  // Appends the ids of one pre-tokenized word; `cache` holds words seen earlier in this Encode.
  void EncodeWord(std::string_view word,
                  absl::flat_hash_map<std::string, std::vector<int32_t>>* cache,
                  std::vector<int32_t>* ids) const;
  void MergeWord(std::string_view word, std::vector<int32_t>* out) const;

  static uint64_t PairKey(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  int32_t vocab_size_ = 0;
  std::optional<int32_t> end_of_text_;
  bool nfc_ = false;                      // the file's normalizer is NFC (else none)
  std::vector<std::string> token_bytes_;  // by id; empty = no such token (none is empty)
  absl::flat_hash_map<std::string, int32_t> id_of_bytes_;  // vocabulary entries only
  std::array<int32_t, 256> byte_token_{};                  // the token of each single byte, or -1
  bool all_bytes_have_tokens_ = true;
  absl::flat_hash_map<uint64_t, Merge> merges_;  // by PairKey(left id, right id)
  std::vector<AddedToken> raw_added_;            // matched before normalization (longest first)
  std::vector<AddedToken> normalized_added_;     // matched after it (longest first)
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_TOKENIZER_BPE_TOKENIZER_H_
