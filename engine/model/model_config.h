// ModelConfig: what an RWKV model is (version and every dimension), read from its tensors.
//
//   RWKV_ASSIGN_OR_RETURN(ModelConfig config, InferModelConfig(*source));
//   config.version == ArchVersion::kV7; config.head_size == 64;
//
// Nothing here is taken on trust from a file header: dimensions come from tensor shapes, and every
// tensor the forward pass needs is checked for presence and shape by the weight loader.
#ifndef RWKV_ENGINE_MODEL_MODEL_CONFIG_H_
#define RWKV_ENGINE_MODEL_MODEL_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/model/tensor_source.h"

namespace rwkv::engine {

enum class ArchVersion { kV4, kV5_1, kV5_2, kV6, kV7 };

// "4", "5.1", "5.2", "6", "7".
absl::string_view ArchVersionName(ArchVersion version);

struct ModelConfig {
  ArchVersion version = ArchVersion::kV7;
  int32_t n_vocab = 0;
  int32_t n_embed = 0;    // C
  int32_t n_layer = 0;    // L
  int32_t n_head = 0;     // H (v5-v7); 0 for v4
  int32_t head_size = 0;  // N (v5-v7); 0 for v4
  int32_t ffn_size = 0;   // F
  // LoRA ranks. v6: token-shift mix (Dm) and decay (Dd). v7: w, a, v (layers >= 1), g.
  int32_t lora_mix = 0;
  int32_t lora_decay = 0;
  int32_t lora_w = 0;
  int32_t lora_a = 0;
  int32_t lora_v = 0;
  int32_t lora_g = 0;
  // GroupNorm epsilon of the time-mix output (v5: 1e-5 as rwkv.cpp; v6, v7: 64e-5).
  float group_norm_eps = 0.0f;

  // Floats in one session's recurrent state (see engine/model/state_layout.h).
  int64_t StateFloats() const;
  int64_t StateBytes() const { return StateFloats() * static_cast<int64_t>(sizeof(float)); }
  // "RWKV-7, 12 layers, 768 wide, 12 heads x 64, FFN 3072, vocab 65536".
  std::string Summary() const;
};

// Detects the version (rwkv.cpp's rules, architecture doc §2.7) and reads every dimension from the
// tensor shapes. INVALID_ARGUMENT naming the source and tensor when a defining tensor is missing or
// its shape is inconsistent.
absl::StatusOr<ModelConfig> InferModelConfig(const TensorSource& source);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_MODEL_CONFIG_H_
