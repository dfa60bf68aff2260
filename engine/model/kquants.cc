#include "engine/model/kquants.h"

#include "engine/model/quantization.h"

namespace rwkv::engine {
namespace {

uint16_t LoadU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
float LoadHalf(const uint8_t* p) { return Fp16ToF32(LoadU16(p)); }

// Q4_K/Q5_K pack 8 six-bit scales and 8 six-bit mins in 12 bytes: sub-blocks 0..3 in the low 6
// bits of bytes 0..3 (scales) and 4..7 (mins); 4..7 in the nibbles of bytes 8..11 plus the top 2
// bits of bytes 0..7 (ggml's get_scale_min_k4).
void ScaleMinK4(int j, const uint8_t* q, int* scale, int* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

}  // namespace

// The scales and minimums of group g's two halves of 32 (sub-blocks 2g and 2g + 1), shared by
// Q4_K and Q5_K.
void GroupScales(int group, float d, float dmin, const uint8_t* scales, float* d1, float* m1,
                 float* d2, float* m2) {
  int sc, m;
  ScaleMinK4(2 * group, scales, &sc, &m);
  *d1 = d * static_cast<float>(sc);
  *m1 = dmin * static_cast<float>(m);
  ScaleMinK4(2 * group + 1, scales, &sc, &m);
  *d2 = d * static_cast<float>(sc);
  *m2 = dmin * static_cast<float>(m);
}

// block_q4_K: f16 d, f16 dmin, u8 scales[12], u8 qs[128]. Each 64 elements share 32 bytes of qs:
// the low nibbles are the first 32 elements, the high nibbles the next 32.
void DequantizeBlockQ4_K(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  const float dmin = LoadHalf(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  for (int group = 0; group < 4; ++group, q += 32) {
    float d1, m1, d2, m2;
    GroupScales(group, d, dmin, scales, &d1, &m1, &d2, &m2);
    for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
  }
}

// block_q5_K: f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]; as Q4_K, with the 5th bit
// of element l of group g's two halves in bits 2g and 2g+1 of qh[l].
void DequantizeBlockQ5_K(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  const float dmin = LoadHalf(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 48;
  for (int group = 0; group < 4; ++group, ql += 32) {
    float d1, m1, d2, m2;
    GroupScales(group, d, dmin, scales, &d1, &m1, &d2, &m2);
    const int low_bit = 2 * group, high_bit = 2 * group + 1;
    for (int l = 0; l < 32; ++l) {
      *y++ = d1 * static_cast<float>((ql[l] & 0xF) + (((qh[l] >> low_bit) & 1) << 4)) - m1;
    }
    for (int l = 0; l < 32; ++l) {
      *y++ = d2 * static_cast<float>((ql[l] >> 4) + (((qh[l] >> high_bit) & 1) << 4)) - m2;
    }
  }
}

// block_q6_K: u8 ql[128] (low 4 bits), u8 qh[64] (high 2 bits), i8 scales[16], f16 d. Each half
// of 128 elements uses 64 bytes of ql, 32 of qh and 8 scales (one per 16 elements).
void DequantizeBlockQ6_K(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const uint8_t* scales = b + 192;
  const float d = LoadHalf(b + 208);
  for (int half = 0; half < 2; ++half, y += 128, ql += 64, qh += 32, scales += 8) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      auto scale = [&](int i) { return d * static_cast<float>(static_cast<int8_t>(scales[i])); };
      y[l] = scale(is) * static_cast<float>(q1);
      y[l + 32] = scale(is + 2) * static_cast<float>(q2);
      y[l + 64] = scale(is + 4) * static_cast<float>(q3);
      y[l + 96] = scale(is + 6) * static_cast<float>(q4);
    }
  }
}

}  // namespace rwkv::engine
