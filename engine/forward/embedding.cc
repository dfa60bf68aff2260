#include "engine/forward/embedding.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace rwkv::engine {
namespace {

// Round to nearest even, as oneDNN converts (inputs here are finite).
uint16_t ToBf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float FromBf16(uint16_t value) {
  const uint32_t bits = static_cast<uint32_t>(value) << 16;
  float out;
  std::memcpy(&out, &bits, sizeof(out));
  return out;
}

}  // namespace

Embedding::Embedding(const std::vector<float>& table, int64_t rows, int64_t width,
                     Precision precision)
    : width_(width), precision_(precision) {
  const size_t n = static_cast<size_t>(rows * width);
  switch (precision) {
    case Precision::kF32:
      f32_.assign(table.begin(), table.begin() + n);
      break;
    case Precision::kBf16:
      bf16_.resize(n);
      for (size_t i = 0; i < n; ++i) bf16_[i] = ToBf16(table[i]);
      break;
    case Precision::kInt8:
    case Precision::kInt8Fast:
      int8_.resize(n);
      scales_.resize(rows * GroupsPerRow());
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t g = 0; g < GroupsPerRow(); ++g) {
          const int64_t begin = g * kInt8Group, end = std::min(width, begin + kInt8Group);
          const float* row = table.data() + r * width;
          float amax = 0.0f;
          for (int64_t c = begin; c < end; ++c) amax = std::max(amax, std::fabs(row[c]));
          const float scale = amax > 0.0f ? amax / 127.0f : 1.0f;
          for (int64_t c = begin; c < end; ++c) {
            int8_[r * width + c] = static_cast<int8_t>(std::nearbyint(row[c] / scale));
          }
          scales_[r * GroupsPerRow() + g] = scale;
        }
      }
      break;
  }
}

void Embedding::Lookup(int32_t token, float* out) const {
  const size_t base = static_cast<size_t>(token) * width_;
  switch (precision_) {
    case Precision::kF32:
      std::memcpy(out, f32_.data() + base, sizeof(float) * width_);
      return;
    case Precision::kBf16:
      for (int64_t c = 0; c < width_; ++c) out[c] = FromBf16(bf16_[base + c]);
      return;
    case Precision::kInt8:
    case Precision::kInt8Fast: {
      const float* scales = scales_.data() + token * GroupsPerRow();
      for (int64_t c = 0; c < width_; ++c) out[c] = int8_[base + c] * scales[c / kInt8Group];
      return;
    }
  }
}

int64_t Embedding::Bytes() const {
  return static_cast<int64_t>(f32_.size() * 4 + bf16_.size() * 2 + int8_.size() +
                              scales_.size() * 4);
}

}  // namespace rwkv::engine
