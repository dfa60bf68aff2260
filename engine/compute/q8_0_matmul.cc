#include "engine/compute/q8_0_matmul.h"
#include <algorithm>
#include <cmath>
#include <cstring>
namespace rwkv::engine {
namespace {
float Half(const uint8_t* b) {
  uint16_t h; std::memcpy(&h, b, 2);
  const uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 31, man = h & 1023;
  float v;
  if (exp == 0) v = std::ldexp(static_cast<float>(man), -24);
  else if (exp == 31) v = man ? NAN : INFINITY;
  else v = std::ldexp(static_cast<float>(man | 1024), static_cast<int>(exp) - 25);
  return sign ? -v : v;
}
}
bool Q8_0Applies(int64_t in) { return in > 0 && in % 32 == 0; }
size_t Q8_0PackedBytes(int64_t in, int64_t out) { return static_cast<size_t>(in / 32 * out * 34); }
void PackQ8_0Rows(const uint8_t* blocks, int64_t first_row, int64_t rows, int64_t in, int64_t,
                  uint8_t* packed) {
  std::memcpy(packed + first_row * (in / 32) * 34, blocks, rows * (in / 32) * 34);
}
void UnpackQ8_0Row(const uint8_t* packed, int64_t o, int64_t in, int64_t, uint8_t* blocks) {
  std::memcpy(blocks, packed + o * (in / 32) * 34, (in / 32) * 34);
}
void QuantizeRowsInt16(const float* x, int64_t rows, int64_t in, int16_t* q, float* scales) {
  for (int64_t r = 0; r < rows; ++r) {
    float amax = 0;
    for (int64_t k = 0; k < in; ++k) amax = std::max(amax, std::fabs(x[r * in + k]));
    const float s = amax > 0 ? amax / 32767.0f : 1.0f;
    for (int64_t k = 0; k < in; ++k)
      q[r * in + k] = static_cast<int16_t>(std::clamp(std::nearbyint(x[r * in + k] / s), -32767.0f, 32767.0f));
    scales[r] = s;
  }
}
void Q8_0Matmul(const int16_t* q, const float* row_scales, int64_t rows, int64_t in, int64_t out,
                const uint8_t* packed, float* y) {
  const int64_t nb = in / 32;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      float acc = 0;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = packed + (o * nb + b) * 34;
        int32_t s = 0;
        for (int j = 0; j < 32; ++j) s += q[r * in + b * 32 + j] * static_cast<int8_t>(blk[2 + j]);
        acc = std::fma(static_cast<float>(s), Half(blk), acc);
      }
      y[r * out + o] = row_scales[r] * acc;
    }
}
}  // namespace rwkv::engine
