// Arena: scratch float buffers for one engine step, reused across steps.
//
//   arena.Reset();                         // at the start of a step
//   float* k = arena.Alloc(rows * width);  // 64-byte aligned, valid until the next Reset
//
// Pointers never move while in use: when the current block is full a new one is added, and at
// the next Reset the blocks are merged into one of the peak size. After the first steps of a
// given batch shape, Alloc never touches the heap.
#ifndef RWKV_ENGINE_COMPUTE_ARENA_H_
#define RWKV_ENGINE_COMPUTE_ARENA_H_

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

namespace rwkv::engine {

class Arena {
 public:
  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  float* Alloc(int64_t floats) {
    const size_t bytes = RoundUp(static_cast<size_t>(floats) * sizeof(float));
    if (blocks_.empty() || used_ + bytes > blocks_.back().size) AddBlock(bytes);
    char* p = blocks_.back().data.get() + used_;
    used_ += bytes;
    total_used_ += bytes;
    return reinterpret_cast<float*>(p);
  }

  void Reset() {
    if (blocks_.size() > 1) {
      const size_t peak = total_used_;
      blocks_.clear();
      AddBlockExact(peak);
    }
    used_ = 0;
    total_used_ = 0;
  }

  size_t CapacityBytes() const {
    size_t total = 0;
    for (const Block& b : blocks_) total += b.size;
    return total;
  }

 private:
  static constexpr size_t kAlign = 64;
  struct FreeDeleter {
    void operator()(char* p) const { std::free(p); }
  };
  struct Block {
    std::unique_ptr<char, FreeDeleter> data;
    size_t size = 0;
  };

  static size_t RoundUp(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

  void AddBlock(size_t at_least) {
    size_t size = blocks_.empty() ? size_t{1} << 20 : blocks_.back().size * 2;
    while (size < at_least) size *= 2;
    AddBlockExact(size);
  }

  void AddBlockExact(size_t size) {
    size = RoundUp(size == 0 ? kAlign : size);
    Block block;
    block.data.reset(static_cast<char*>(std::aligned_alloc(kAlign, size)));
    block.size = size;
    blocks_.push_back(std::move(block));
    used_ = 0;
  }

  std::vector<Block> blocks_;
  size_t used_ = 0;        // in the last block
  size_t total_used_ = 0;  // over all blocks since Reset
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_COMPUTE_ARENA_H_
