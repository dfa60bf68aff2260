// Fuzzes the 20B byte-level BPE tokenizer (BpeTokenizer, engine/tokenizer/bpe_tokenizer.h) with
// arbitrary bytes as text. Needs 20B_tokenizer.json (found as Find20bTokenizer() does, e.g. under
// $RWKV_SHARED_DIR/tokenizers, which scripts/fuzz.sh sets).
//
// Encoding never fails and gives ids in range that decode. Without the special tokens' text in
// the input, the decoded bytes are exactly the input with each byte that has no token replaced by
// U+FFFD and valid UTF-8 runs in NFC (so the input itself when it is already so), and encoding
// them again gives the same ids.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/bpe_pretokenizer.h"
#include "engine/tokenizer/bpe_tokenizer.h"
#include "engine/tokenizer/tokenizer_factory.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using rwkv::engine::BpeTokenizer;

const BpeTokenizer& Tokenizer() {
  static const BpeTokenizer* const tokenizer = [] {
    const std::string path = rwkv::engine::Find20bTokenizer();
    absl::StatusOr<std::unique_ptr<BpeTokenizer>> loaded = BpeTokenizer::Load(path);
    if (!loaded.ok()) {
      std::cerr << "bpe_tokenizer_fuzzer: cannot load the 20B tokenizer (set RWKV_SHARED_DIR or "
                   "RWKV_20B_TOKENIZER): "
                << loaded.status() << std::endl;
      std::abort();
    }
    return loaded->release();
  }();
  return *tokenizer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const BpeTokenizer& tokenizer = Tokenizer();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<std::vector<int32_t>> ids = tokenizer.Encode(text);
  FUZZ_CHECK(ids.ok(), ids.status());
  for (const int32_t id : *ids) FUZZ_CHECK(id >= 0 && id < tokenizer.VocabSize(), id);
  const absl::StatusOr<std::string> decoded = tokenizer.Decode(*ids);
  FUZZ_CHECK(decoded.ok(), decoded.status());
  if (text.find("<|endoftext|>") != std::string_view::npos ||
      text.find("<|padding|>") != std::string_view::npos) {
    return 0;
  }
  std::string expected;
  for (const char c : text) {
    if (tokenizer.HasByteToken(static_cast<uint8_t>(c))) {
      expected.push_back(c);
    } else {
      expected.append("\xEF\xBF\xBD");
    }
  }
  FUZZ_CHECK(*decoded == rwkv::engine::NormalizeNfc(expected),
             "Decode(Encode(text)) is not the text's NFC form");
  const absl::StatusOr<std::vector<int32_t>> again = tokenizer.Encode(*decoded);
  FUZZ_CHECK(again.ok() && *again == *ids, "encoding the decoded text gives other ids");
  return 0;
}
