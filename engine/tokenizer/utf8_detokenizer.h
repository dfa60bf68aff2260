// Turning a stream of token bytes into text a client can display.
//
// Tokens may end in the middle of a UTF-8 character, and a model may emit bytes that never form
// valid UTF-8. Utf8Detokenizer holds back an incomplete trailing character until the next token
// completes it, and replaces bytes that can never be valid by U+FFFD, so every piece it returns is
// valid UTF-8 on its own (gRPC string fields and JSON require that).
//
//   Utf8Detokenizer detok;
//   for (int32_t id : generated) client.Send(detok.Push(*tokenizer.TokenBytes(id)));
//   client.Send(detok.Flush());
//
// One Utf8Detokenizer per output stream; it is not thread-safe.
#ifndef RWKV_ENGINE_TOKENIZER_UTF8_DETOKENIZER_H_
#define RWKV_ENGINE_TOKENIZER_UTF8_DETOKENIZER_H_

#include <string>
#include <string_view>

namespace rwkv::engine {

// True when `text` is well-formed UTF-8 (no overlong forms, surrogates, code points above
// U+10FFFF, or truncated final character).
bool IsValidUtf8(std::string_view text);

class Utf8Detokenizer {
 public:
  // Returns the longest prefix of (held bytes + `bytes`) made of complete characters and holds
  // back an incomplete trailing sequence (at most 3 bytes). Each maximal invalid subpart (as
  // defined by Unicode §3.9 / WHATWG) becomes one U+FFFD. The result is always valid UTF-8.
  std::string Push(std::string_view bytes);

  // Ends the stream: the held incomplete sequence as one U+FFFD, or "" when nothing is held.
  std::string Flush();

  // Number of bytes held back waiting for the rest of a character (0..3).
  size_t held_bytes() const { return held_.size(); }

 private:
  std::string held_;
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_TOKENIZER_UTF8_DETOKENIZER_H_
