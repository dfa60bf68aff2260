#include "engine/tokenizer/utf8_detokenizer.h"

#include <cstdint>
#include <utility>

namespace rwkv::engine {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

enum class SeqKind { kValid, kInvalid, kIncomplete };

struct Sequence {
  SeqKind kind;
  // kValid: bytes in the character; kInvalid: bytes in the maximal invalid subpart (>= 1);
  // kIncomplete: bytes available, all consistent with a valid character.
  size_t length;
};

// Classifies the sequence starting at text[pos], following the well-formed byte table of
// Unicode §3.9 (Table 3-7). Restricting the second byte's range is what rejects overlong forms,
// surrogates and code points above U+10FFFF without decoding the value.
Sequence ClassifyAt(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t lead = byte(pos);
  if (lead < 0x80) return {SeqKind::kValid, 1};
  size_t needed = 0;  // continuation bytes after the lead
  uint8_t second_lo = 0x80, second_hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    needed = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    needed = 2;
    if (lead == 0xE0) second_lo = 0xA0;  // overlong
    if (lead == 0xED) second_hi = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    needed = 3;
    if (lead == 0xF0) second_lo = 0x90;  // overlong
    if (lead == 0xF4) second_hi = 0x8F;  // above U+10FFFF
  } else {
    return {SeqKind::kInvalid, 1};  // continuation byte, C0/C1 or F5..FF
  }
  for (size_t k = 1; k <= needed; ++k) {
    if (pos + k >= text.size()) return {SeqKind::kIncomplete, k};
    const uint8_t lo = k == 1 ? second_lo : 0x80;
    const uint8_t hi = k == 1 ? second_hi : 0xBF;
    const uint8_t b = byte(pos + k);
    if (b < lo || b > hi) return {SeqKind::kInvalid, k};
  }
  return {SeqKind::kValid, needed + 1};
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    const Sequence seq = ClassifyAt(text, pos);
    if (seq.kind != SeqKind::kValid) return false;
    pos += seq.length;
  }
  return true;
}

std::string Utf8Detokenizer::Push(std::string_view bytes) {
  std::string input = std::move(held_);
  input.append(bytes);
  held_.clear();
  std::string out;
  out.reserve(input.size());
  size_t pos = 0;
  while (pos < input.size()) {
    const Sequence seq = ClassifyAt(input, pos);
    if (seq.kind == SeqKind::kIncomplete) {
      held_.assign(input, pos, std::string::npos);
      break;
    }
    if (seq.kind == SeqKind::kValid) {
      out.append(input, pos, seq.length);
    } else {
      out.append(kReplacement);
    }
    pos += seq.length;
  }
  return out;
}

std::string Utf8Detokenizer::Flush() {
  // The held bytes are a prefix of one valid character, i.e. a single maximal subpart.
  std::string out = held_.empty() ? "" : std::string(kReplacement);
  held_.clear();
  return out;
}

}  // namespace rwkv::engine
