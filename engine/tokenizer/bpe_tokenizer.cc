#include "engine/tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <queue>
#include <string>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/read_file.h"
#include "common/status_macros.h"
#include "engine/tokenizer/bpe_pretokenizer.h"
#include "nlohmann/json.hpp"
#include "utf8proc.h"

namespace rwkv::engine {
namespace {

using Json = nlohmann::json;

// Ids above this are refused: a hostile file could otherwise make us allocate gigabytes.
constexpr int64_t kMaxTokenId = (1 << 24) - 1;
// Words up to this many bytes are remembered within one Encode call; longer ones are rare.
constexpr size_t kMaxCachedWordBytes = 64;
// Longer words (a megabyte of letters without a space) are merged in pieces of this size, which
// keeps the merge positions in int32_t and its memory bounded; no real text has such words.
constexpr size_t kMaxWordBytes = size_t{1} << 20;
// U+FFFD in UTF-8: what a byte without a token of its own is encoded as.
constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

// What a tokenizer JSON says, before it is turned into lookup tables.
struct TokenizerFile {
  bool nfc = false;
  std::vector<std::pair<std::string, int64_t>> vocab;  // byte-level strings
  std::vector<std::pair<std::string, std::string>> merges;
  struct Added {
    std::string content;
    int64_t id;
    bool normalized;
  };
  std::vector<Added> added;
};

// GPT-2's byte-to-unicode map, inverted: the byte each code point of a vocabulary string stands
// for, or -1. Printable Latin-1 bytes stand for themselves; the others (controls, space, 0x7F-0xA0,
// 0xAD) take the code points from 256 on, in byte order.
const std::vector<int>& ByteOfCodePoint() {
  static const std::vector<int>* const table = [] {
    auto* t = new std::vector<int>(256 + 68, -1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      (*t)[printable ? b : next++] = b;
    }
    return t;
  }();
  return *table;
}

// The raw bytes a byte-level vocabulary string stands for; nullopt if it has a character outside
// the byte alphabet (or is not UTF-8).
std::optional<std::string> ByteLevelToBytes(std::string_view text) {
  const std::vector<int>& byte_of = ByteOfCodePoint();
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    utf8proc_int32_t cp = -1;
    const utf8proc_ssize_t length =
        utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + pos),
                         static_cast<utf8proc_ssize_t>(text.size() - pos), &cp);
    if (length <= 0 || cp < 0 || static_cast<size_t>(cp) >= byte_of.size() || byte_of[cp] < 0) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(byte_of[cp]));
    pos += static_cast<size_t>(length);
  }
  return out;
}

std::string TypeOf(const Json& object) {
  if (!object.is_object()) return "";
  const auto it = object.find("type");
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

bool IsNullOrEmptyString(const Json& object, const char* key) {
  const auto it = object.find(key);
  return it == object.end() || it->is_null() || (it->is_string() && it->get<std::string>().empty());
}

// Throws nlohmann::json exceptions for wrongly typed entries; the caller turns them into a status.
absl::Status ReadNormalizerAndPreTokenizer(const Json& doc, TokenizerFile* file) {
  const Json& normalizer = doc.at("normalizer");
  if (!normalizer.is_null()) {
    if (TypeOf(normalizer) != "NFC") {
      return absl::InvalidArgumentError(
          absl::StrCat("normalizer ", normalizer.dump(), " is not supported (only NFC or null)"));
    }
    file->nfc = true;
  }
  const Json& pre = doc.at("pre_tokenizer");
  if (TypeOf(pre) != "ByteLevel" || pre.value("add_prefix_space", false) ||
      !pre.value("use_regex", true)) {
    return absl::InvalidArgumentError(
        absl::StrCat("pre_tokenizer ", pre.dump(),
                     " is not supported (only ByteLevel with add_prefix_space false)"));
  }
  return absl::OkStatus();
}

absl::Status ReadModel(const Json& model, TokenizerFile* file) {
  if (model.contains("type") && TypeOf(model) != "BPE") {
    return absl::InvalidArgumentError(
        absl::StrCat("model type ", model.at("type").dump(), " is not BPE"));
  }
  if (!IsNullOrEmptyString(model, "continuing_subword_prefix") ||
      !IsNullOrEmptyString(model, "end_of_word_suffix") || model.value("byte_fallback", false) ||
      model.value("ignore_merges", false) || !model.value("dropout", Json()).is_null()) {
    return absl::InvalidArgumentError(
        "model options continuing_subword_prefix, end_of_word_suffix, byte_fallback, "
        "ignore_merges and dropout are not supported");
  }
  for (const auto& [text, id] : model.at("vocab").items()) {
    file->vocab.emplace_back(text, id.get<int64_t>());
  }
  for (const Json& merge : model.at("merges")) {
    if (merge.is_array() && merge.size() == 2) {
      file->merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
      continue;
    }
    const std::string text = merge.get<std::string>();
    const size_t space = text.find(' ');
    if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("merge \"", text, "\" is not two tokens"));
    }
    file->merges.emplace_back(text.substr(0, space), text.substr(space + 1));
  }
  return absl::OkStatus();
}

absl::Status ReadAddedTokens(const Json& added, TokenizerFile* file) {
  if (added.is_null()) return absl::OkStatus();
  for (const Json& token : added) {
    const std::string content = token.at("content").get<std::string>();
    if (token.value("lstrip", false) || token.value("rstrip", false) ||
        token.value("single_word", false)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "added token \"", content, "\": lstrip, rstrip and single_word are not supported"));
    }
    // `tokenizers` defaults "normalized" to the opposite of "special".
    const bool special = token.value("special", false);
    file->added.push_back(
        {content, token.at("id").get<int64_t>(), token.value("normalized", !special)});
  }
  return absl::OkStatus();
}

absl::StatusOr<TokenizerFile> ReadTokenizerFile(std::string_view json) {
  const Json doc = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("not valid JSON");
  if (!doc.is_object()) return absl::InvalidArgumentError("not a JSON object");
  TokenizerFile file;
  try {
    RWKV_RETURN_IF_ERROR(ReadNormalizerAndPreTokenizer(doc, &file));
    RWKV_RETURN_IF_ERROR(ReadModel(doc.at("model"), &file));
    RWKV_RETURN_IF_ERROR(ReadAddedTokens(doc.value("added_tokens", Json()), &file));
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(e.what());
  }
  return file;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpeTokenizer>> BpeTokenizer::Load(const std::string& json_path) {
  RWKV_ASSIGN_OR_RETURN(const std::string contents, ReadWholeFile(json_path));
  return Parse(contents, json_path);
}

absl::StatusOr<std::unique_ptr<BpeTokenizer>> BpeTokenizer::Parse(std::string_view json,
                                                                  const std::string& name) {
  std::unique_ptr<BpeTokenizer> tokenizer(new BpeTokenizer());
  if (absl::Status status = tokenizer->ParseJson(json); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", status.message()));
  }
  return tokenizer;
}

absl::Status BpeTokenizer::ParseJson(std::string_view json) {
  RWKV_ASSIGN_OR_RETURN(TokenizerFile file, ReadTokenizerFile(json));
  nfc_ = file.nfc;
  int64_t max_id = -1;
  for (const auto& [text, id] : file.vocab) max_id = std::max(max_id, id);
  for (const TokenizerFile::Added& added : file.added) max_id = std::max(max_id, added.id);
  if (max_id > kMaxTokenId) {
    return absl::InvalidArgumentError(absl::StrCat("token id ", max_id, " is above ", kMaxTokenId));
  }
  vocab_size_ = static_cast<int32_t>(max_id + 1);
  token_bytes_.assign(vocab_size_, std::string());
  for (auto& [text, id] : file.vocab) {
    std::optional<std::string> bytes = ByteLevelToBytes(text);
    if (!bytes.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("vocabulary entry \"", text, "\" (id ", id,
                                                     ") has a character outside the byte map"));
    }
    RWKV_RETURN_IF_ERROR(SetToken(static_cast<int32_t>(id), *std::move(bytes), text));
    id_of_bytes_.try_emplace(token_bytes_[id], static_cast<int32_t>(id));
  }
  for (int b = 0; b < 256; ++b) {
    const auto it = id_of_bytes_.find(std::string(1, static_cast<char>(b)));
    byte_token_[b] = it == id_of_bytes_.end() ? -1 : it->second;
    all_bytes_have_tokens_ = all_bytes_have_tokens_ && byte_token_[b] >= 0;
  }
  for (char c : kReplacementCharacter) {
    if (!all_bytes_have_tokens_ && byte_token_[static_cast<uint8_t>(c)] < 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "no token for the byte 0x%02X, which stands in for bytes without a token", c & 0xFF));
    }
  }
  RWKV_RETURN_IF_ERROR(BuildMerges(file.merges));
  for (TokenizerFile::Added& added : file.added) {
    if (added.id < 0) {
      return absl::InvalidArgumentError(absl::StrCat("added token id ", added.id, " is negative"));
    }
    RWKV_RETURN_IF_ERROR(
        AddAddedToken(std::move(added.content), static_cast<int32_t>(added.id), added.normalized));
  }
  // Longest first, so that the first match at a position is the longest one.
  for (auto* list : {&raw_added_, &normalized_added_}) {
    std::stable_sort(list->begin(), list->end(), [](const AddedToken& a, const AddedToken& b) {
      return a.content.size() > b.content.size();
    });
  }
  return absl::OkStatus();
}

absl::Status BpeTokenizer::SetToken(int32_t id, std::string bytes, const std::string& entry) {
  if (id < 0) return absl::InvalidArgumentError(absl::StrCat("token \"", entry, "\" has id ", id));
  if (bytes.empty()) return absl::InvalidArgumentError(absl::StrCat("token ", id, " is empty"));
  if (!token_bytes_[id].empty() && token_bytes_[id] != bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("id ", id, " is given to two different tokens (\"", entry, "\")"));
  }
  token_bytes_[id] = std::move(bytes);
  return absl::OkStatus();
}

absl::Status BpeTokenizer::BuildMerges(
    const std::vector<std::pair<std::string, std::string>>& merges) {
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const std::optional<std::string> a = ByteLevelToBytes(left);
    const std::optional<std::string> b = ByteLevelToBytes(right);
    const auto a_id = a ? id_of_bytes_.find(*a) : id_of_bytes_.end();
    const auto b_id = b ? id_of_bytes_.find(*b) : id_of_bytes_.end();
    const auto merged = a && b ? id_of_bytes_.find(*a + *b) : id_of_bytes_.end();
    if (a_id == id_of_bytes_.end() || b_id == id_of_bytes_.end() || merged == id_of_bytes_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("merge ", rank, " (\"", left, "\" \"", right,
                                                     "\") names a token not in the vocabulary"));
    }
    // The first rank of a repeated pair wins: later ones could never apply.
    merges_.try_emplace(PairKey(a_id->second, b_id->second),
                        Merge{static_cast<int32_t>(rank), merged->second});
  }
  return absl::OkStatus();
}

absl::Status BpeTokenizer::AddAddedToken(std::string content, int32_t id, bool normalized) {
  RWKV_RETURN_IF_ERROR(SetToken(id, content, content));
  if (content == "<|endoftext|>") end_of_text_ = id;
  (normalized ? normalized_added_ : raw_added_).push_back({std::move(content), id});
  return absl::OkStatus();
}

template <typename OnPiece>
void BpeTokenizer::SplitOnAdded(std::string_view text, const std::vector<AddedToken>& added,
                                OnPiece on_piece) {
  size_t piece_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const AddedToken* match = nullptr;
    for (const AddedToken& token : added) {
      if (text.compare(pos, token.content.size(), token.content) == 0) {
        match = &token;
        break;
      }
    }
    if (match == nullptr) {
      ++pos;
      continue;
    }
    if (pos > piece_start) on_piece(text.substr(piece_start, pos - piece_start), -1);
    on_piece(std::string_view(), match->id);
    pos += match->content.size();
    piece_start = pos;
  }
  if (piece_start < text.size()) on_piece(text.substr(piece_start), -1);
}

std::string BpeTokenizer::ReplaceBytesWithoutToken(std::string_view text) const {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (byte_token_[static_cast<uint8_t>(c)] >= 0) {
      out.push_back(c);
    } else {
      out.append(kReplacementCharacter);
    }
  }
  return out;
}

absl::StatusOr<std::vector<int32_t>> BpeTokenizer::Encode(std::string_view input) const {
  std::string replaced;
  if (!all_bytes_have_tokens_) {
    replaced = ReplaceBytesWithoutToken(input);
    input = replaced;
  }
  const std::string_view text = input;
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 1);
  absl::flat_hash_map<std::string, std::vector<int32_t>> cache;
  std::vector<std::string_view> words;
  const auto encode_part = [&](std::string_view part, int32_t added_id) {
    if (added_id >= 0) {
      ids.push_back(added_id);
      return;
    }
    words.clear();
    SplitGpt2Words(part, &words);
    for (std::string_view word : words) EncodeWord(word, &cache, &ids);
  };
  SplitOnAdded(text, raw_added_, [&](std::string_view piece, int32_t added_id) {
    if (added_id >= 0) {
      ids.push_back(added_id);
      return;
    }
    if (!nfc_) return SplitOnAdded(piece, normalized_added_, encode_part);
    const std::string normalized = NormalizeNfc(piece);
    SplitOnAdded(normalized, normalized_added_, encode_part);
  });
  return ids;
}

void BpeTokenizer::EncodeWord(std::string_view word,
                              absl::flat_hash_map<std::string, std::vector<int32_t>>* cache,
                              std::vector<int32_t>* ids) const {
  if (word.size() > kMaxCachedWordBytes) {
    for (size_t pos = 0; pos < word.size(); pos += kMaxWordBytes) {
      MergeWord(word.substr(pos, kMaxWordBytes), ids);
    }
    return;
  }
  auto [it, inserted] = cache->try_emplace(std::string(word));
  if (inserted) MergeWord(word, &it->second);
  ids->insert(ids->end(), it->second.begin(), it->second.end());
}

void BpeTokenizer::MergeWord(std::string_view word, std::vector<int32_t>* out) const {
  // A doubly linked list of symbols, one per byte to start with; merged-away symbols get id -1.
  struct Symbol {
    int32_t id, prev, next;
  };
  const int32_t n = static_cast<int32_t>(word.size());
  std::vector<Symbol> symbols(n);
  for (int32_t i = 0; i < n; ++i) {
    symbols[i] = {byte_token_[static_cast<uint8_t>(word[i])], i - 1, i + 1 < n ? i + 1 : -1};
  }
  // Candidate merges by (rank, position of the left symbol), smallest first. Entries go stale
  // when a neighbour merges; a popped entry is applied only if its pair still has that rank.
  using Candidate = std::pair<int32_t, int32_t>;
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  const auto push = [&](int32_t left) {
    if (left < 0 || symbols[left].next < 0) return;
    const auto it = merges_.find(PairKey(symbols[left].id, symbols[symbols[left].next].id));
    if (it != merges_.end()) queue.push({it->second.rank, left});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!queue.empty()) {
    const auto [rank, left] = queue.top();
    queue.pop();
    Symbol& symbol = symbols[left];
    if (symbol.id < 0 || symbol.next < 0) continue;
    const auto it = merges_.find(PairKey(symbol.id, symbols[symbol.next].id));
    if (it == merges_.end() || it->second.rank != rank) continue;
    Symbol& right = symbols[symbol.next];
    symbol.id = it->second.merged;
    right.id = -1;
    symbol.next = right.next;
    if (symbol.next >= 0) symbols[symbol.next].prev = left;
    push(symbol.prev);
    push(left);
  }
  for (int32_t i = 0; i >= 0 && i < n; i = symbols[i].next) out->push_back(symbols[i].id);
}

absl::StatusOr<std::string_view> BpeTokenizer::TokenBytes(int32_t id) const {
  if (end_of_text_.has_value() && id == *end_of_text_) return std::string_view();
  if (id < 0 || id >= vocab_size_ || token_bytes_[id].empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token id ", id, " is not in the BPE vocabulary"));
  }
  return std::string_view(token_bytes_[id]);
}

}  // namespace rwkv::engine
