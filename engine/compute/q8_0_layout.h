// The packed Q8_0 layout (q8_0_matmul.h), shared by its kernels.
//
// Output groups of kQ8_0GroupOutputs in order; within a group, its blocks in input order; a
// group-block is 16 input pairs of 32 bytes (pair p: for each of the 16 outputs, its inputs 2p
// and 2p+1 adjacent, vpdpwssd's operand shape once sign-extended to int16), then the 16 outputs'
// fp16 scales. 544 bytes, a multiple of 32, so no 32-byte load straddles a cache line.
#ifndef RWKV_ENGINE_COMPUTE_Q8_0_LAYOUT_H_
#define RWKV_ENGINE_COMPUTE_Q8_0_LAYOUT_H_

#include <cstdint>

#include "engine/compute/q8_0_matmul.h"

namespace rwkv::engine::q8_0_layout {

inline constexpr int64_t kPairs = kQ8_0BlockInputs / 2;
inline constexpr int64_t kPairBytes = kQ8_0GroupOutputs * 2;
inline constexpr int64_t kScalesOffset = kPairs * kPairBytes;
inline constexpr int64_t kGroupBlockBytes = kScalesOffset + kQ8_0GroupOutputs * 2;

inline int64_t Groups(int64_t out) { return (out + kQ8_0GroupOutputs - 1) / kQ8_0GroupOutputs; }

}  // namespace rwkv::engine::q8_0_layout

#endif  // RWKV_ENGINE_COMPUTE_Q8_0_LAYOUT_H_
