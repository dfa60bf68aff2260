// FuzzInput: splits a fuzzer's bytes into the fields of a structured input, and AppendChunk writes
// those fields (for the seed corpora, tests/fuzz/seed_corpus_main.cc).
//
// A chunk is a length byte followed by that many bytes (fewer if the input ends first), so that
// every byte value can appear in every field and a mutation of one field leaves the others whole.
//
//   FuzzInput in(data, size);
//   const int count = in.Byte() % 20;
//   std::string_view first = in.Chunk();
#ifndef RWKV_TESTS_FUZZ_FUZZ_INPUT_H_
#define RWKV_TESTS_FUZZ_FUZZ_INPUT_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rwkv::fuzz {

inline constexpr size_t kMaxChunkBytes = 255;

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size)
      : rest_(reinterpret_cast<const char*>(data), size) {}

  bool empty() const { return rest_.empty(); }

  // The next byte; 0 once the input is used up.
  uint8_t Byte() {
    if (rest_.empty()) return 0;
    const uint8_t byte = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return byte;
  }

  // The next chunk; empty once the input is used up.
  std::string_view Chunk() {
    const size_t size = std::min<size_t>(Byte(), rest_.size());
    const std::string_view chunk = rest_.substr(0, size);
    rest_.remove_prefix(size);
    return chunk;
  }

  // Everything not read yet.
  std::string_view Rest() {
    const std::string_view rest = rest_;
    rest_ = std::string_view();
    return rest;
  }

 private:
  std::string_view rest_;
};

// Appends `chunk` as Chunk() reads it; longer chunks are cut to kMaxChunkBytes.
inline void AppendChunk(std::string& out, std::string_view chunk) {
  chunk = chunk.substr(0, kMaxChunkBytes);
  out.push_back(static_cast<char>(chunk.size()));
  out.append(chunk);
}

}  // namespace rwkv::fuzz

#endif  // RWKV_TESTS_FUZZ_FUZZ_INPUT_H_
