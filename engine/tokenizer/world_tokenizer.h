// The RWKV "World" tokenizer (rwkv_vocab_v20230424.txt, models with vocabulary 65536).
//
// Encoding is greedy longest match over bytes: at each position the longest vocabulary entry that
// prefixes the remaining bytes wins. There is no normalization or merge ranking, every single byte
// is a token (id = byte + 1), and tokens may end in the middle of a UTF-8 character. Id 0 is not
// in the file; models use it as end-of-text.
//
//   RWKV_ASSIGN_OR_RETURN(std::unique_ptr<WorldTokenizer> world,
//                         WorldTokenizer::Load("/usr/share/rwkv-serve/rwkv_vocab_v20230424.txt"));
//   world->Encode("Hello world");  // {33155, 40213}
//
// Immutable after Load, so all methods are safe to call concurrently.
#ifndef RWKV_ENGINE_TOKENIZER_WORLD_TOKENIZER_H_
#define RWKV_ENGINE_TOKENIZER_WORLD_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/tokenizer/tokenizer.h"

namespace rwkv::engine {

class WorldTokenizer final : public Tokenizer {
 public:
  static constexpr int32_t kVocabSize = 65536;
  static constexpr int32_t kEndOfText = 0;

  // Reads a vocabulary of lines `<id> <Python str or bytes literal> <byte length>` (split at the
  // first and last space). Errors: the errno-derived code when the file cannot be read (NOT_FOUND
  // if it does not exist); INVALID_ARGUMENT naming the path and line for a malformed line (bad
  // literal or escape, wrong byte length, ids not strictly increasing or outside [1, 65536)),
  // duplicate byte strings, or a missing single-byte token (then some texts would not encode).
  static absl::StatusOr<std::unique_ptr<WorldTokenizer>> Load(const std::string& vocab_path);

  // Load() over a vocabulary's contents already in memory; `name` stands for the path in
  // messages. The same checks and errors, except those of reading a file.
  static absl::StatusOr<std::unique_ptr<WorldTokenizer>> Parse(std::string_view contents,
                                                               const std::string& name);

  // A tokenizer over a model file's embedded vocabulary (a GGUF's token list): tokens[id] is the
  // raw bytes of token id. Encoding is the same greedy longest match. Id 0 is end-of-text and
  // never matched by text whatever its bytes (GGUF World files put "<s>" there), and an empty
  // entry is an id that text never encodes to (pass "" for control and padding tokens such as
  // llama.cpp's "[PAD65530]"). VocabSize() is tokens.size(). INVALID_ARGUMENT naming `name` for
  // duplicate byte strings, a byte with no single-byte token, or more than 2^31 - 1 tokens.
  static absl::StatusOr<std::unique_ptr<WorldTokenizer>> FromTokens(
      absl::Span<const std::string> tokens, const std::string& name);

  std::string_view Name() const override { return "world"; }
  int32_t VocabSize() const override { return vocab_size_; }

  // Never fails for a loaded vocabulary: every byte has a token.
  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text) const override;

  // "" for end-of-text (0); INVALID_ARGUMENT for ids outside [0, VocabSize()) or absent from the
  // vocabulary.
  absl::StatusOr<std::string_view> TokenBytes(int32_t id) const override;

  std::optional<int32_t> EndOfTextToken() const override { return kEndOfText; }

 private:
  // A byte trie stored breadth-first in flat arrays: the children of a node are the consecutive
  // nodes [first_child, first_child + num_children), sorted by the byte on their incoming edge.
  // 13 bytes per node (116k nodes, about 1.5 MB for World) instead of a 256-wide table per node,
  // and a child lookup is one binary search over a handful of contiguous bytes.
  struct TrieNode {
    uint32_t first_child = 0;
    int32_t token = -1;  // token ending at this node, or -1
    uint16_t num_children = 0;
  };

  WorldTokenizer() = default;

  // Fills token_bytes_/token_offsets_ from the file contents; `path` is for error messages.
  absl::Status ParseVocab(std::string_view contents, const std::string& path);
  // Builds the trie from the parsed tokens; rejects duplicates and missing single bytes.
  absl::Status BuildTrie(const std::string& path);
  // Index of the child of `node` reached by `byte`, or -1.
  int64_t FindChild(uint32_t node, uint8_t byte) const;

  // Bytes of token id are token_bytes_[token_offsets_[id], token_offsets_[id + 1]); an empty
  // range means the id is not in the vocabulary (file tokens are never empty), and so do ids past
  // the highest one in the file, where token_offsets_ ends (its size does not depend on
  // kVocabSize, so a small vocabulary parses in time proportional to its own size).
  int32_t vocab_size_ = kVocabSize;
  std::string token_bytes_;
  std::vector<uint32_t> token_offsets_;
  std::vector<TrieNode> nodes_;  // nodes_[0] is the root
  std::vector<uint8_t> labels_;  // labels_[n]: the byte on the edge into node n
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_TOKENIZER_WORLD_TOKENIZER_H_
