#include "engine/tokenizer/world_tokenizer.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/tokenizer/utf8_detokenizer.h"
#include "common/read_file.h"
#include "common/status_macros.h"

namespace rwkv::engine {
namespace {

// Appends the UTF-8 form of code point `cp`; false for surrogates and values above U+10FFFF,
// which Python's str.encode("utf-8") rejects.
bool AppendUtf8(uint32_t cp, std::string* out) {
  if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return false;
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return true;
}

// Value of text[pos, pos + digits) read in `base` (8 or 16); nullopt if any digit is missing.
std::optional<uint32_t> ParseDigits(std::string_view text, size_t pos, size_t digits, int base) {
  if (pos + digits > text.size()) return std::nullopt;
  uint32_t value = 0;
  for (size_t i = pos; i < pos + digits; ++i) {
    const char c = text[i];
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    if (digit < 0 || digit >= base) return std::nullopt;
    value = value * base + digit;
  }
  return value;
}

// Unsigned decimal without sign or spaces (absl::SimpleAtoi would accept both).
std::optional<int64_t> ParseDecimal(std::string_view text) {
  if (text.empty() || text.size() > 9) return std::nullopt;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

// The character a one-letter Python escape such as \n stands for, or nullopt.
std::optional<char> SimpleEscape(char e) {
  constexpr std::string_view kFrom = "\\'\"ntrabfv";
  constexpr std::string_view kTo = "\\'\"\n\t\r\a\b\f\v";
  const size_t i = kFrom.find(e);
  if (i == std::string_view::npos) return std::nullopt;
  return kTo[i];
}

// Number of digits and base of the numeric escape \<e> (octal's first digit is `e` itself);
// {0, 0} if `e` starts none. \u and \U exist only in str literals.
std::pair<size_t, int> NumericEscape(std::string_view body, size_t pos, char e, bool is_bytes) {
  if (e >= '0' && e <= '7') {  // 1 to 3 octal digits, counted from the backslash's successor
    size_t digits = 1;
    while (digits < 3 && ParseDigits(body, pos - 1, digits + 1, 8).has_value()) ++digits;
    return {digits, 8};
  }
  if (e == 'x') return {2, 16};
  if (e == 'u' && !is_bytes) return {4, 16};
  if (e == 'U' && !is_bytes) return {8, 16};
  return {0, 0};
}

// Handles the escape starting at body[*pos] (just after the backslash) and advances *pos past
// it. `\xHH` and octal escapes are a code point in a str literal but a byte in a bytes literal.
absl::Status AppendEscape(std::string_view body, bool is_bytes, size_t* pos, std::string* out) {
  const char e = body[(*pos)++];
  if (const std::optional<char> simple = SimpleEscape(e); simple.has_value()) {
    out->push_back(*simple);
    return absl::OkStatus();
  }
  const auto [digits, base] = NumericEscape(body, *pos, e, is_bytes);
  if (digits == 0) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported escape \\", std::string(1, e)));
  }
  const size_t start = base == 8 ? *pos - 1 : *pos;
  const std::optional<uint32_t> value = ParseDigits(body, start, digits, base);
  if (!value.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\\", std::string(1, e), " needs ", digits, " hex digits"));
  }
  *pos = start + digits;
  if (is_bytes) {
    if (*value > 0xFF) return absl::InvalidArgumentError("octal escape above \\377 in bytes");
    out->push_back(static_cast<char>(*value));
  } else if (!AppendUtf8(*value, out)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("code point U+%04X has no UTF-8 form", *value));
  }
  return absl::OkStatus();
}

// The bytes of a Python literal '...', "..." (UTF-8 of the text) or b'...' (the bytes as is).
absl::StatusOr<std::string> EvalPythonLiteral(std::string_view literal) {
  const bool is_bytes = !literal.empty() && literal.front() == 'b';
  if (is_bytes) literal.remove_prefix(1);
  if (literal.size() < 2 || (literal.front() != '\'' && literal.front() != '"') ||
      literal.back() != literal.front()) {
    return absl::InvalidArgumentError("expected a quoted Python str or bytes literal");
  }
  const char quote = literal.front();
  const std::string_view body = literal.substr(1, literal.size() - 2);
  std::string out;
  size_t pos = 0;
  while (pos < body.size()) {
    const char c = body[pos++];
    if (c == quote) return absl::InvalidArgumentError("unescaped quote inside the literal");
    if (c != '\\') {
      if (is_bytes && static_cast<uint8_t>(c) >= 0x80) {
        return absl::InvalidArgumentError("non-ASCII character in a bytes literal");
      }
      out.push_back(c);
      continue;
    }
    if (pos == body.size()) return absl::InvalidArgumentError("literal ends with a backslash");
    RWKV_RETURN_IF_ERROR(AppendEscape(body, is_bytes, &pos, &out));
  }
  return out;
}

struct VocabLine {
  int64_t id;
  std::string bytes;
};

// Parses `<id> <literal> <byte length>`, split at the first and last space because the literal
// may contain spaces. Errors carry no location; the caller adds path and line.
absl::StatusOr<VocabLine> ParseLine(std::string_view line) {
  if (!IsValidUtf8(line)) return absl::InvalidArgumentError("line is not valid UTF-8");
  const size_t first = line.find(' ');
  const size_t last = line.rfind(' ');
  if (first == std::string_view::npos || first == last) {
    return absl::InvalidArgumentError("expected '<id> <literal> <byte length>'");
  }
  const std::optional<int64_t> id = ParseDecimal(line.substr(0, first));
  if (!id.has_value()) return absl::InvalidArgumentError("token id is not a decimal number");
  const std::optional<int64_t> length = ParseDecimal(line.substr(last + 1));
  if (!length.has_value()) return absl::InvalidArgumentError("byte length is not a decimal number");
  RWKV_ASSIGN_OR_RETURN(std::string bytes,
                        EvalPythonLiteral(line.substr(first + 1, last - first - 1)));
  if (static_cast<int64_t>(bytes.size()) != *length) {
    return absl::InvalidArgumentError(
        absl::StrCat("literal is ", bytes.size(), " bytes but the line says ", *length));
  }
  if (bytes.empty()) return absl::InvalidArgumentError("empty token");
  return VocabLine{*id, std::move(bytes)};
}

}  // namespace

absl::StatusOr<std::unique_ptr<WorldTokenizer>> WorldTokenizer::Load(
    const std::string& vocab_path) {
  RWKV_ASSIGN_OR_RETURN(const std::string contents, ReadWholeFile(vocab_path));
  return Parse(contents, vocab_path);
}

absl::StatusOr<std::unique_ptr<WorldTokenizer>> WorldTokenizer::Parse(std::string_view contents,
                                                                      const std::string& name) {
  std::unique_ptr<WorldTokenizer> tokenizer(new WorldTokenizer());
  RWKV_RETURN_IF_ERROR(tokenizer->ParseVocab(contents, name));
  RWKV_RETURN_IF_ERROR(tokenizer->BuildTrie(name));
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<WorldTokenizer>> WorldTokenizer::FromTokens(
    absl::Span<const std::string> tokens, const std::string& name) {
  size_t total = 0;
  for (const std::string& token : tokens) total += token.size();
  if (tokens.size() > static_cast<size_t>(INT32_MAX) || total > UINT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", tokens.size(), " tokens of ", total, " bytes are too many"));
  }
  std::unique_ptr<WorldTokenizer> tokenizer(new WorldTokenizer());
  tokenizer->vocab_size_ = static_cast<int32_t>(tokens.size());
  tokenizer->token_bytes_.reserve(total);
  // Id 0 keeps an empty range, so the trie never matches it (it is end-of-text).
  tokenizer->token_offsets_.assign(2, 0);
  for (size_t id = 1; id < tokens.size(); ++id) {
    tokenizer->token_bytes_.append(tokens[id]);
    tokenizer->token_offsets_.push_back(static_cast<uint32_t>(tokenizer->token_bytes_.size()));
  }
  RWKV_RETURN_IF_ERROR(tokenizer->BuildTrie(name));
  return tokenizer;
}

absl::Status WorldTokenizer::ParseVocab(std::string_view contents, const std::string& path) {
  token_bytes_.reserve(contents.size());
  token_offsets_.assign(1, 0);
  int64_t previous_id = 0;
  int line_number = 0;
  while (!contents.empty()) {
    ++line_number;
    const size_t end = contents.find('\n');
    std::string_view line = contents.substr(0, end);
    contents.remove_prefix(end == std::string_view::npos ? contents.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // tolerate CRLF files
    absl::StatusOr<VocabLine> parsed = ParseLine(line);
    std::string error;
    if (!parsed.ok()) {
      error = std::string(parsed.status().message());
    } else if (parsed->id <= previous_id) {
      error = absl::StrCat("token id ", parsed->id, " does not follow ", previous_id,
                           " (ids must increase, starting at 1)");
    } else if (parsed->id >= kVocabSize) {
      error = absl::StrCat("token id ", parsed->id, " is not below ", kVocabSize);
    }
    if (!error.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", line_number, ": ", error));
    }
    // Ids skipped between previous_id and this one get an empty range: not in the vocabulary.
    token_offsets_.resize(parsed->id + 1, token_bytes_.size());
    token_bytes_.append(parsed->bytes);
    previous_id = parsed->id;
  }
  token_offsets_.push_back(token_bytes_.size());  // the end of the last token
  return absl::OkStatus();
}

absl::Status WorldTokenizer::BuildTrie(const std::string& path) {
  std::vector<int32_t> ids;  // present ids, sorted below by their bytes
  for (size_t id = 1; id + 1 < token_offsets_.size(); ++id) {
    if (token_offsets_[id + 1] > token_offsets_[id]) ids.push_back(static_cast<int32_t>(id));
  }
  const auto bytes = [this](int32_t id) {
    return std::string_view(token_bytes_)
        .substr(token_offsets_[id], token_offsets_[id + 1] - token_offsets_[id]);
  };
  // Stable, so duplicates are reported in id order.
  std::stable_sort(ids.begin(), ids.end(),
                   [&](int32_t a, int32_t b) { return bytes(a) < bytes(b); });

  // Breadth-first: when a node is expanded, all of its children are appended at once, so siblings
  // are contiguous. Each queue entry is a node and the sorted range of tokens below it.
  struct Pending {
    uint32_t node, lo, hi, depth;
  };
  std::vector<Pending> queue = {{0, 0, static_cast<uint32_t>(ids.size()), 0}};
  nodes_.assign(1, TrieNode());
  labels_.assign(1, 0);
  for (size_t head = 0; head < queue.size(); ++head) {
    const Pending p = queue[head];
    uint32_t lo = p.lo;
    // A token equal to this node's prefix sorts first in the range; a second one is a duplicate.
    if (lo < p.hi && bytes(ids[lo]).size() == p.depth) {
      if (lo + 1 < p.hi && bytes(ids[lo + 1]).size() == p.depth) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": tokens ", ids[lo], " and ", ids[lo + 1], " have the same bytes"));
      }
      nodes_[p.node].token = ids[lo++];
    }
    nodes_[p.node].first_child = nodes_.size();
    while (lo < p.hi) {
      const char label = bytes(ids[lo])[p.depth];
      uint32_t end = lo + 1;
      while (end < p.hi && bytes(ids[end])[p.depth] == label) ++end;
      queue.push_back({static_cast<uint32_t>(nodes_.size()), lo, end, p.depth + 1});
      nodes_.emplace_back();
      labels_.push_back(static_cast<uint8_t>(label));
      ++nodes_[p.node].num_children;
      lo = end;
    }
  }
  // Greedy matching always advances only if every byte is a token by itself.
  for (int byte = 0; byte < 256; ++byte) {
    const int64_t child = FindChild(0, static_cast<uint8_t>(byte));
    if (child < 0 || nodes_[child].token < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: no token for the single byte 0x%02X", path, byte));
    }
  }
  return absl::OkStatus();
}

int64_t WorldTokenizer::FindChild(uint32_t node, uint8_t byte) const {
  const TrieNode& n = nodes_[node];
  if (n.num_children == 256) return n.first_child + byte;  // the root: every byte is present
  const uint8_t* begin = labels_.data() + n.first_child;
  const uint8_t* end = begin + n.num_children;
  const uint8_t* it = std::lower_bound(begin, end, byte);
  if (it == end || *it != byte) return -1;
  return it - labels_.data();
}

absl::StatusOr<std::vector<int32_t>> WorldTokenizer::Encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 1);  // English averages about 4 bytes per token
  size_t pos = 0;
  while (pos < text.size()) {
    int32_t best_token = -1;
    size_t best_length = 0;
    uint32_t node = 0;
    for (size_t i = pos; i < text.size(); ++i) {
      const int64_t child = FindChild(node, static_cast<uint8_t>(text[i]));
      if (child < 0) break;
      node = static_cast<uint32_t>(child);
      if (nodes_[node].token >= 0) {
        best_token = nodes_[node].token;
        best_length = i - pos + 1;
      }
    }
    // BuildTrie guaranteed a single-byte token, so best_length >= 1 here.
    ids.push_back(best_token);
    pos += best_length;
  }
  return ids;
}

absl::StatusOr<std::string_view> WorldTokenizer::TokenBytes(int32_t id) const {
  if (id == kEndOfText) return std::string_view();
  if (id < 0 || id >= vocab_size_ || static_cast<size_t>(id) + 1 >= token_offsets_.size() ||
      token_offsets_[id + 1] == token_offsets_[id]) {
    return absl::InvalidArgumentError(
        absl::StrCat("token id ", id, " is not in the World vocabulary"));
  }
  return std::string_view(token_bytes_)
      .substr(token_offsets_[id], token_offsets_[id + 1] - token_offsets_[id]);
}

}  // namespace rwkv::engine
