// Fuzzes the RWKV World vocabulary parser (WorldTokenizer::Parse, engine/tokenizer/
// world_tokenizer.h) with whole vocabulary files, and the tokenizer built from one that loads.
//
// A refused vocabulary must be INVALID_ARGUMENT. A loaded one has every single byte as a token, so
// encoding any text must succeed and decode back to exactly that text; the input's own first bytes
// serve as the text.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "engine/tokenizer/world_tokenizer.h"
#include "tests/fuzz/fuzz_check.h"

using rwkv::engine::WorldTokenizer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view contents(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::unique_ptr<WorldTokenizer>> tokenizer =
      WorldTokenizer::Parse(contents, "fuzz_vocab.txt");
  if (!tokenizer.ok()) {
    FUZZ_CHECK(tokenizer.status().code() == absl::StatusCode::kInvalidArgument,
               tokenizer.status());
    return 0;
  }
  const std::string_view text = contents.substr(0, 1024);
  const absl::StatusOr<std::vector<int32_t>> ids = (*tokenizer)->Encode(text);
  FUZZ_CHECK(ids.ok(), ids.status());
  FUZZ_CHECK(ids->size() <= text.size(), ids->size());
  const absl::StatusOr<std::string> decoded = (*tokenizer)->Decode(*ids);
  FUZZ_CHECK(decoded.ok(), decoded.status());
  FUZZ_CHECK(*decoded == text, "Decode(Encode(text)) != text");
  for (const int32_t id : {-1, 0, 1, 256, 65535, 65536}) (void)(*tokenizer)->TokenBytes(id);
  return 0;
}
