#include "engine/model/model_config.h"

#include <algorithm>
#include <initializer_list>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

namespace rwkv::engine {
namespace {

absl::Status ShapeError(const TensorSource& source, const TensorInfo& info, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(source.Describe(), ": tensor '", info.name,
                                                 "' has shape ", info.ShapeString(), ": ", why));
}

// The tensor, which must exist with exactly `dims` dimensions.
absl::StatusOr<const TensorInfo*> Require(const TensorSource& source, const std::string& name,
                                          size_t dims) {
  const TensorInfo* info = source.Find(name);
  if (info == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(source.Describe(), ": missing tensor '", name, "'"));
  }
  if (info->ne.size() != dims) {
    return ShapeError(source, *info, absl::StrCat("expected ", dims, " dimensions"));
  }
  return info;
}

bool Has(const TensorSource& source, const std::string& name) {
  return source.Find(name) != nullptr;
}

bool HasAny(const TensorSource& source, std::initializer_list<const char*> suffixes) {
  for (const char* suffix : suffixes) {
    if (Has(source, absl::StrCat("blocks.0.att.", suffix))) return true;
  }
  return false;
}

// rwkv.cpp's rules (doc §2.7), newest version first, each keyed on several tensors that only
// that version has, so one missing tensor is reported by name instead of changing the version.
ArchVersion DetectVersion(const TensorSource& source) {
  if (HasAny(source, {"r_k", "x_rwkvag", "k_k", "w0"})) return ArchVersion::kV7;
  if (HasAny(source, {"time_maa_x", "time_maa_w1", "time_decay_w1"})) return ArchVersion::kV6;
  if (HasAny(source, {"ln_x.weight", "ln_x.bias"})) {
    return HasAny(source, {"gate.weight", "time_faaaa", "time_mix_g"}) ? ArchVersion::kV5_2
                                                                       : ArchVersion::kV5_1;
  }
  return ArchVersion::kV4;
}

// One more than the highest N of any "blocks.N." tensor, so that a layer with a missing tensor
// is reported as such instead of silently shortening the model.
int32_t CountLayers(const TensorSource& source) {
  int32_t layers = 0;
  for (const TensorInfo& info : source.Tensors()) {
    absl::string_view name(info.name);
    if (!absl::ConsumePrefix(&name, "blocks.")) continue;
    const size_t dot = name.find('.');
    int32_t index = 0;
    if (dot != absl::string_view::npos && absl::SimpleAtoi(name.substr(0, dot), &index) &&
        index >= 0 && index < (1 << 16)) {
      layers = std::max(layers, index + 1);
    }
  }
  return layers;
}

// Second ggml dimension of a 2-D tensor: a LoRA rank or output width.
absl::StatusOr<int32_t> Dim(const TensorSource& source, const std::string& name, size_t dims,
                            size_t index) {
  RWKV_ASSIGN_OR_RETURN(const TensorInfo* info, Require(source, name, dims));
  return static_cast<int32_t>(info->ne[index]);
}

absl::Status InferHeads(const TensorSource& source, ModelConfig& config) {
  switch (config.version) {
    case ArchVersion::kV4:
      return absl::OkStatus();
    case ArchVersion::kV5_1:
    case ArchVersion::kV5_2:
    case ArchVersion::kV6: {
      // [1, 1, H] (5.1) or [1, N, H] (5.2, 6).
      RWKV_ASSIGN_OR_RETURN(config.n_head, Dim(source, "blocks.0.att.time_decay", 3, 2));
      break;
    }
    case ArchVersion::kV7: {
      RWKV_ASSIGN_OR_RETURN(config.n_head, Dim(source, "blocks.0.att.r_k", 2, 1));
      break;
    }
  }
  const TensorInfo* probe = source.Find(
      config.version == ArchVersion::kV7 ? "blocks.0.att.r_k" : "blocks.0.att.time_decay");
  if (config.n_head <= 0 || config.n_embed % config.n_head != 0) {
    return ShapeError(source, *probe,
                      absl::StrCat("head count must divide n_embed ", config.n_embed));
  }
  config.head_size = config.n_embed / config.n_head;
  return absl::OkStatus();
}

absl::Status InferLoraRanks(const TensorSource& source, ModelConfig& config) {
  if (config.version == ArchVersion::kV6) {
    RWKV_ASSIGN_OR_RETURN(int32_t mix5, Dim(source, "blocks.0.att.time_maa_w1", 2, 1));
    if (mix5 % 5 != 0) {
      return ShapeError(source, *source.Find("blocks.0.att.time_maa_w1"),
                        "second dimension must be 5 x the mix LoRA rank");
    }
    config.lora_mix = mix5 / 5;
    RWKV_ASSIGN_OR_RETURN(config.lora_decay, Dim(source, "blocks.0.att.time_decay_w1", 2, 1));
  } else if (config.version == ArchVersion::kV7) {
    RWKV_ASSIGN_OR_RETURN(config.lora_w, Dim(source, "blocks.0.att.w1", 2, 1));
    RWKV_ASSIGN_OR_RETURN(config.lora_a, Dim(source, "blocks.0.att.a1", 2, 1));
    RWKV_ASSIGN_OR_RETURN(config.lora_g, Dim(source, "blocks.0.att.g1", 2, 1));
    if (config.n_layer > 1) {
      RWKV_ASSIGN_OR_RETURN(config.lora_v, Dim(source, "blocks.1.att.v1", 2, 1));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view ArchVersionName(ArchVersion version) {
  switch (version) {
    case ArchVersion::kV4:
      return "4";
    case ArchVersion::kV5_1:
      return "5.1";
    case ArchVersion::kV5_2:
      return "5.2";
    case ArchVersion::kV6:
      return "6";
    case ArchVersion::kV7:
      return "7";
  }
  return "?";
}

int64_t ModelConfig::StateFloats() const {
  const int64_t per_layer = version == ArchVersion::kV4
                                ? 5 * int64_t{n_embed}
                                : (2 + int64_t{head_size}) * int64_t{n_embed};
  return per_layer * n_layer;
}

std::string ModelConfig::Summary() const {
  std::string heads = version == ArchVersion::kV4
                          ? std::string()
                          : absl::StrFormat(", %d heads x %d", n_head, head_size);
  return absl::StrFormat("RWKV-%s, %d layers, %d wide%s, FFN %d, vocab %d",
                         ArchVersionName(version), n_layer, n_embed, heads, ffn_size, n_vocab);
}

absl::StatusOr<ModelConfig> InferModelConfig(const TensorSource& source) {
  ModelConfig config;
  RWKV_ASSIGN_OR_RETURN(const TensorInfo* emb, Require(source, "emb.weight", 2));
  config.n_embed = static_cast<int32_t>(emb->ne[0]);
  config.n_vocab = static_cast<int32_t>(emb->ne[1]);
  config.n_layer = CountLayers(source);
  if (config.n_layer == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(source.Describe(), ": no 'blocks.N.' tensors (no layers)"));
  }
  config.version = DetectVersion(source);
  RWKV_ASSIGN_OR_RETURN(const TensorInfo* ffn_key, Require(source, "blocks.0.ffn.key.weight", 2));
  config.ffn_size = static_cast<int32_t>(ffn_key->ne[1]);
  RWKV_RETURN_IF_ERROR(InferHeads(source, config));
  RWKV_RETURN_IF_ERROR(InferLoraRanks(source, config));
  config.group_norm_eps =
      (config.version == ArchVersion::kV6 || config.version == ArchVersion::kV7) ? 64e-5f : 1e-5f;
  return config;
}

}  // namespace rwkv::engine
