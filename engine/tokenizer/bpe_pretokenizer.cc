#include "engine/tokenizer/bpe_pretokenizer.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "utf8proc.h"

namespace rwkv::engine {
namespace {

// The classes the GPT-2 regex distinguishes.
enum class CharClass : uint8_t { kLetter, kNumber, kSpace, kOther };

struct Char {
  size_t begin;
  size_t end;
  int32_t code_point;  // -1 for a byte that is not valid UTF-8
  CharClass cls;
};

// Unicode White_Space, which is what Oniguruma's \s matches in UTF-8 mode.
bool IsWhiteSpace(int32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

CharClass Classify(int32_t cp) {
  if (cp < 0) return CharClass::kOther;
  if (IsWhiteSpace(cp)) return CharClass::kSpace;
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return CharClass::kLetter;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return CharClass::kNumber;
    default:
      return CharClass::kOther;
  }
}

// Length of the valid UTF-8 sequence at text[pos] and its code point, or 0 if it is not one.
size_t DecodeAt(std::string_view text, size_t pos, int32_t* code_point) {
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data() + pos);
  const utf8proc_ssize_t length =
      utf8proc_iterate(bytes, static_cast<utf8proc_ssize_t>(text.size() - pos), code_point);
  return length > 0 ? static_cast<size_t>(length) : 0;
}

std::vector<Char> DecodeChars(std::string_view text) {
  std::vector<Char> chars;
  chars.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    int32_t cp = -1;
    size_t length = DecodeAt(text, pos, &cp);
    if (length == 0) {
      cp = -1;
      length = 1;
    }
    chars.push_back({pos, pos + length, cp, Classify(cp)});
    pos += length;
  }
  return chars;
}

// Length in characters of a contraction ('s 't 're 've 'm 'll 'd) starting at chars[i], or 0.
// Case-sensitive, as in GPT-2.
size_t ContractionAt(const std::vector<Char>& chars, size_t i) {
  if (chars[i].code_point != '\'' || i + 1 >= chars.size()) return 0;
  const int32_t a = chars[i + 1].code_point;
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 >= chars.size()) return 0;
  const int32_t b = chars[i + 2].code_point;
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// End (in characters) of the word starting at chars[i], following the regex's alternatives in
// order.
size_t WordEnd(const std::vector<Char>& chars, size_t i) {
  const size_t n = chars.size();
  if (const size_t contraction = ContractionAt(chars, i); contraction > 0) return i + contraction;
  // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional U+0020 then a run of one class.
  size_t start = i;
  if (chars[i].code_point == ' ' && i + 1 < n && chars[i + 1].cls != CharClass::kSpace) ++start;
  if (chars[start].cls != CharClass::kSpace) {
    size_t end = start + 1;
    while (end < n && chars[end].cls == chars[start].cls) ++end;
    return end;
  }
  // `\s+(?!\S)`: the whitespace run, less its last character when a non-space follows (that
  // character then prefixes the next word); `\s+` when only one whitespace character is left.
  size_t end = i + 1;
  while (end < n && chars[end].cls == CharClass::kSpace) ++end;
  if (end < n && end - i >= 2) --end;
  return end;
}

}  // namespace

std::string NormalizeNfc(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    // The maximal valid run from pos, and whether it is all ASCII (already NFC).
    size_t end = pos;
    bool ascii = true;
    int32_t cp;
    while (end < text.size()) {
      const size_t length = DecodeAt(text, end, &cp);
      if (length == 0) break;
      ascii = ascii && cp < 0x80;
      end += length;
    }
    const std::string_view run = text.substr(pos, end - pos);
    utf8proc_uint8_t* normalized = nullptr;
    const utf8proc_ssize_t length =
        ascii || run.empty()
            ? -1
            : utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(run.data()),
                           static_cast<utf8proc_ssize_t>(run.size()), &normalized,
                           static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (length >= 0 && normalized != nullptr) {
      out.append(reinterpret_cast<const char*>(normalized), static_cast<size_t>(length));
    } else {
      out.append(run);  // ASCII, or (never expected for a valid run) utf8proc refused it
    }
    std::free(normalized);
    if (end < text.size()) out.push_back(text[end++]);  // the invalid byte, kept as is
    pos = end;
  }
  return out;
}

void SplitGpt2Words(std::string_view text, std::vector<std::string_view>* words) {
  const std::vector<Char> chars = DecodeChars(text);
  size_t i = 0;
  while (i < chars.size()) {
    const size_t end = WordEnd(chars, i);
    words->push_back(text.substr(chars[i].begin, chars[end - 1].end - chars[i].begin));
    i = end;
  }
}

}  // namespace rwkv::engine
