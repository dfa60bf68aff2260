// TEMPORARY scalar stand-in (lead's scratch; replaced by the helper's module).
#ifndef RWKV_ENGINE_COMPUTE_Q8_0_MATMUL_H_
#define RWKV_ENGINE_COMPUTE_Q8_0_MATMUL_H_
#include <cstddef>
#include <cstdint>
namespace rwkv::engine {
inline constexpr int64_t kQ8_0BlockInputs = 32;
inline constexpr int64_t kQ8_0BlockBytes = 34;
bool Q8_0Applies(int64_t in);
size_t Q8_0PackedBytes(int64_t in, int64_t out);
void PackQ8_0Rows(const uint8_t* blocks, int64_t first_row, int64_t rows, int64_t in, int64_t out,
                  uint8_t* packed);
void UnpackQ8_0Row(const uint8_t* packed, int64_t o, int64_t in, int64_t out, uint8_t* blocks);
void QuantizeRowsInt16(const float* x, int64_t rows, int64_t in, int16_t* q, float* scales);
void Q8_0Matmul(const int16_t* q, const float* row_scales, int64_t rows, int64_t in, int64_t out,
                const uint8_t* packed, float* y);
}  // namespace rwkv::engine
#endif
