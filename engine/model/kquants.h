// ggml's K-quant block formats, decoded: super-blocks of 256 elements in 8 (Q4_K, Q5_K) or 16
// (Q6_K) sub-blocks, as published GGUF files store them (ggml-quants.c's dequantize_row_q*_K,
// exactly). Used through DequantizeRow (quantization.h); each function decodes one super-block
// of kKQuantBlockElements floats from BlockBytes(type) bytes.
#ifndef RWKV_ENGINE_MODEL_KQUANTS_H_
#define RWKV_ENGINE_MODEL_KQUANTS_H_

#include <cstdint>

namespace rwkv::engine {

void DequantizeBlockQ4_K(const uint8_t* block, float* out);
void DequantizeBlockQ5_K(const uint8_t* block, float* out);
void DequantizeBlockQ6_K(const uint8_t* block, float* out);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_KQUANTS_H_
