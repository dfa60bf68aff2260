// Checkpoint families: the naming schemes RWKV weights are published under, each mapped onto
// BlinkDL's training names and shapes (the names rwkv.cpp's converter starts from).
//
//   BlinkDL      emb.weight, blocks.N.att.*, blocks.N.ffn.* (.pth releases, Ai00, rwkv_lightning)
//   fla-hub      model.embeddings.weight, model.layers.N.attn.* (Hugging Face RWKV7ForCausalLM)
//   transformers rwkv.embeddings.weight, rwkv.blocks.N.attention.* (Hugging Face RWKV-4/5/6)
//   GGUF         token_embd.weight, blk.N.time_mix_* (llama.cpp's rwkv6 and rwkv7 architectures)
//
//   RWKV_ASSIGN_OR_RETURN(BlinkdlView view, MapToBlinkdl(stored, /*head_size_hint=*/0));
//   const Part* emb = view.Find("emb.weight");
#ifndef RWKV_ENGINE_MODEL_FORMATS_CHECKPOINT_FAMILIES_H_
#define RWKV_ENGINE_MODEL_FORMATS_CHECKPOINT_FAMILIES_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/model/formats/stored_tensors.h"
#include "engine/model/formats/tensor_plan.h"

namespace rwkv::engine {

struct BlinkdlView {
  // "BlinkDL", "Hugging Face RWKV7ForCausalLM (fla-hub)", "Hugging Face transformers RWKV",
  // "llama.cpp GGUF rwkv6"...
  std::string family;
  // BlinkDL name -> how it is made, in the order the stored tensors came.
  std::vector<std::pair<std::string, Part>> tensors;
  // Stored tensors no BlinkDL tensor uses (e.g. GGUF's dummy layer-0 value LoRA).
  std::vector<std::string> unused;

  const Part* Find(std::string_view name) const;
  // Appends `name`; false (and nothing added) when the view already has it.
  bool Add(std::string name, Part part);

 private:
  absl::flat_hash_map<std::string, size_t> index_;  // name -> position in `tensors`
};

// Recognizes the family from the stored names and maps every tensor. `head_size_hint` (0 when
// unknown) is the head size from a config.json, for checkpoints that store RWKV-7's r_k flat.
// INVALID_ARGUMENT naming the file and what it found when the tensors are not an RWKV checkpoint
// of a known family (no embedding, no layers), or a tensor has an unexpected shape.
absl::StatusOr<BlinkdlView> MapToBlinkdl(const StoredTensors& stored, int head_size_hint);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_FORMATS_CHECKPOINT_FAMILIES_H_
