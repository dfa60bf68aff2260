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

Embedding::Embedding(int64_t rows, int64_t width, Precision precision)
    : width_(width), precision_(precision) {
  const size_t n = static_cast<size_t>(rows * width);
  switch (precision) {
    case Precision::kF32:
      f32_.resize(n);
      break;
    case Precision::kBf16:
      bf16_.resize(n);
      break;
    case Precision::kInt8:
    case Precision::kInt8Fast:
    case Precision::kQ8_0:
      int8_.resize(n);
      scales_.resize(rows * GroupsPerRow());
      break;
  }
}

void Embedding::SetRows(int64_t first_row, absl::Span<const float> values) {
  const size_t base = static_cast<size_t>(first_row * width_);
  switch (precision_) {
    case Precision::kF32:
      std::copy(values.begin(), values.end(), f32_.begin() + base);
      break;
    case Precision::kBf16:
      for (size_t i = 0; i < values.size(); ++i) bf16_[base + i] = ToBf16(values[i]);
      break;
    case Precision::kInt8:
    case Precision::kInt8Fast:
    case Precision::kQ8_0:
      for (int64_t r = 0; r * width_ < static_cast<int64_t>(values.size()); ++r) {
        for (int64_t g = 0; g < GroupsPerRow(); ++g) {
          const int64_t begin = g * kInt8Group, end = std::min(width_, begin + kInt8Group);
          const float* row = values.data() + r * width_;
          float amax = 0.0f;
          for (int64_t c = begin; c < end; ++c) amax = std::max(amax, std::fabs(row[c]));
          const float scale = amax > 0.0f ? amax / 127.0f : 1.0f;
          for (int64_t c = begin; c < end; ++c) {
            int8_[base + r * width_ + c] = static_cast<int8_t>(std::nearbyint(row[c] / scale));
          }
          scales_[(first_row + r) * GroupsPerRow() + g] = scale;
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
    case Precision::kInt8Fast:
    case Precision::kQ8_0: {
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
