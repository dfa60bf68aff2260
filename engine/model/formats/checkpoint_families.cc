#include "engine/model/formats/checkpoint_families.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "common/absl_view.h"
#include "common/status_macros.h"

namespace rwkv::engine {
namespace {

// The stored tensor's PyTorch shape (ggml's ne reversed).
std::vector<int64_t> TorchShape(const TensorInfo& info) {
  return std::vector<int64_t>(info.ne.rbegin(), info.ne.rend());
}

// Builds BlinkdlView::tensors, checking that every part's element count fits its sources.
class ViewBuilder {
 public:
  ViewBuilder(const StoredTensors& stored, std::string family) : stored_(stored) {
    view_.family = std::move(family);
  }

  // The stored tensor as-is under a BlinkDL name, with BlinkDL's shape `shape` (empty: the
  // stored shape), reordered by `layout` first.
  absl::Status Add(std::string name, const TensorInfo& source, std::vector<int64_t> shape = {},
                   Layout layout = Layout::kAsIs, float scale = 1.0f) {
    Part part;
    part.sources = {source.name};
    part.shape = TorchShape(source);
    part.layout = layout;
    part.scale = scale;
    std::vector<int64_t> blinkdl = part.shape;
    RWKV_RETURN_IF_ERROR(Annotate(source, ApplyLayoutToShape(layout, blinkdl)));
    if (!shape.empty()) {
      if (ShapeElements(shape) != ShapeElements(blinkdl)) return ShapeError(source, shape);
      // A reshape after an as-is layout keeps the data; record the BlinkDL shape directly.
      if (layout == Layout::kAsIs) part.shape = shape;
    }
    return Emit(std::move(name), std::move(part));
  }

  // Slice `slice` of `slices` of a fused stored tensor, with BlinkDL shape `shape`.
  absl::Status AddSlice(std::string name, const TensorInfo& source, int slice, int slices,
                        std::vector<int64_t> shape) {
    if (source.NumElements() % slices != 0 ||
        ShapeElements(shape) != source.NumElements() / slices) {
      return ShapeError(source, shape, slices);
    }
    Part part;
    part.sources = {source.name};
    part.slice = slice;
    part.slices = slices;
    part.shape = std::move(shape);
    return Emit(std::move(name), std::move(part));
  }

  void Unused(const TensorInfo& source) { view_.unused.push_back(source.name); }
  const StoredTensors& stored() const { return stored_; }
  BlinkdlView Finish() { return std::move(view_); }

  absl::Status ShapeError(const TensorInfo& source, absl::Span<const int64_t> shape,
                          int slices = 1) const {
    return absl::InvalidArgumentError(absl::StrCat(
        stored_.Describe(), ": tensor '", source.name, "' has ggml shape ", source.ShapeString(),
        slices > 1 ? absl::StrCat(", which does not split into ", slices, " parts of (")
                   : std::string(", which does not fit ("),
        absl::StrJoin(shape, ", "), ")"));
  }

 private:
  absl::Status Annotate(const TensorInfo& source, absl::Status status) const {
    if (status.ok()) return status;
    return absl::InvalidArgumentError(
        absl::StrCat(stored_.Describe(), ": tensor '", source.name, "': ", status.message()));
  }

  absl::Status Emit(std::string name, Part part) {
    const std::string second = part.sources.front();
    if (!view_.Add(name, std::move(part))) {
      return absl::InvalidArgumentError(absl::StrCat(stored_.Describe(), ": two tensors map to '",
                                                     name, "' (the second is '", second, "')"));
    }
    return absl::OkStatus();
  }

  const StoredTensors& stored_;
  BlinkdlView view_;
};

// Splits "<prefix>N.<rest>" into N and rest.
std::optional<std::pair<int, std::string>> LayerAndRest(std::string_view name,
                                                        std::string_view prefix) {
  absl::string_view s = AsAbsl(name);
  if (!absl::ConsumePrefix(&s, AsAbsl(prefix))) return std::nullopt;
  const size_t dot = s.find('.');
  int layer = 0;
  if (dot == absl::string_view::npos || !absl::SimpleAtoi(s.substr(0, dot), &layer) ||
      layer < 0) {
    return std::nullopt;
  }
  return std::make_pair(layer, std::string(s.substr(dot + 1)));
}

std::string Block(int layer, std::string_view rest) {
  return absl::StrCat("blocks.", layer, ".", AsAbsl(rest));
}

int64_t Width(const TensorInfo& info) { return info.NumElements(); }

// (H, N) for RWKV-7's r_k stored flat (GGUF, some fla exports).
absl::StatusOr<std::vector<int64_t>> HeadShape(const ViewBuilder& b, const TensorInfo& r_k,
                                               int head_size) {
  if (r_k.ne.size() == 2) return TorchShape(r_k);
  if (head_size <= 0 || r_k.NumElements() % head_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        b.stored().Describe(), ": tensor '", r_k.name, "' is stored flat ", r_k.ShapeString(),
        " and the head size needed to shape it is ",
        head_size <= 0 ? "unknown" : absl::StrCat(head_size, ", which does not divide it")));
  }
  return std::vector<int64_t>{r_k.NumElements() / head_size, head_size};
}

// ---- BlinkDL and transformers ----

absl::Status MapBlinkdl(ViewBuilder& b) {
  for (const TensorInfo& info : b.stored().Tensors()) RWKV_RETURN_IF_ERROR(b.Add(info.name, info));
  return absl::OkStatus();
}

// transformers' convert_rwkv_checkpoint_to_hf.py renames, undone.
std::string FromTransformersName(std::string_view stored) {
  absl::string_view s = AsAbsl(stored);
  absl::ConsumePrefix(&s, "rwkv.");
  std::string name = absl::StrReplaceAll(
      s, {{"embeddings.", "emb."}, {".pre_ln.", ".ln0."}, {".attention.", ".att."},
          {".feed_forward.", ".ffn."}});
  for (const auto& [from, to] :
       std::vector<std::pair<std::string, std::string>>{{".time_mix_key", ".time_mix_k"},
                                                        {".time_mix_value", ".time_mix_v"},
                                                        {".time_mix_receptance", ".time_mix_r"},
                                                        {".time_mix_gate", ".time_mix_g"}}) {
    if (absl::EndsWith(name, from)) name = name.substr(0, name.size() - from.size()) + to;
  }
  return name;
}

absl::Status MapTransformers(ViewBuilder& b) {
  for (const TensorInfo& info : b.stored().Tensors()) {
    RWKV_RETURN_IF_ERROR(b.Add(FromTransformersName(info.name), info));
  }
  return absl::OkStatus();
}

// ---- fla-hub RWKV7ForCausalLM ----

constexpr std::string_view kLerps7 = "rwkvag";  // fla's fused x_x order, as rwkv.cpp's

absl::Status MapFlaLayerTensor(ViewBuilder& b, const TensorInfo& info, int layer,
                               const std::string& rest, int head_size) {
  static const auto* renames = new absl::flat_hash_map<std::string, std::string>{
      {"pre_norm.weight", "ln0.weight"},       {"pre_norm.bias", "ln0.bias"},
      {"attn_norm.weight", "ln1.weight"},      {"attn_norm.bias", "ln1.bias"},
      {"ffn_norm.weight", "ln2.weight"},       {"ffn_norm.bias", "ln2.bias"},
      {"attn.r_proj.weight", "att.receptance.weight"},
      {"attn.k_proj.weight", "att.key.weight"}, {"attn.v_proj.weight", "att.value.weight"},
      {"attn.o_proj.weight", "att.output.weight"}, {"attn.g_norm.weight", "att.ln_x.weight"},
      {"attn.g_norm.bias", "att.ln_x.bias"},   {"ffn.key.weight", "ffn.key.weight"},
      {"ffn.value.weight", "ffn.value.weight"}};
  const std::vector<int64_t> row = {1, 1, Width(info)};
  if (const auto it = renames->find(rest); it != renames->end()) {
    return b.Add(Block(layer, it->second), info);
  }
  if (rest == "attn.k_k" || rest == "attn.k_a" || rest == "ffn.x_k" ||
      (absl::StartsWith(rest, "attn.x_") && rest.size() == 8 && rest != "attn.x_x")) {
    const std::string name = absl::StrReplaceAll(rest, {{"attn.", "att."}});
    return b.Add(Block(layer, name), info, row);
  }
  if (rest == "attn.x_x") {
    const int64_t c = info.NumElements() / static_cast<int64_t>(kLerps7.size());
    for (size_t j = 0; j < kLerps7.size(); ++j) {
      RWKV_RETURN_IF_ERROR(b.AddSlice(Block(layer, absl::StrCat("att.x_", AsAbsl(kLerps7.substr(j, 1)))),
                                      info, static_cast<int>(j), kLerps7.size(), {1, 1, c}));
    }
    return absl::OkStatus();
  }
  if (rest == "attn.r_k") {
    RWKV_ASSIGN_OR_RETURN(std::vector<int64_t> shape, HeadShape(b, info, head_size));
    return b.Add(Block(layer, "att.r_k"), info, shape);
  }
  // LoRAs: lora.0 is Linear(C, D) (weight (D, C) = w1 transposed), lora.2 is Linear(D, C) with
  // the bias w0/a0/v0.
  for (const char x : std::string_view("wavg")) {
    const std::string lora = absl::StrCat("attn.", std::string(1, x), "_lora.lora.");
    absl::string_view tail = rest;
    if (!absl::ConsumePrefix(&tail, lora)) continue;
    if (x == 'v' && layer == 0) {  // Layer 0 has no value residual; dummies are never used.
      b.Unused(info);
      return absl::OkStatus();
    }
    const std::string att = absl::StrCat("att.", std::string(1, x));
    if (tail == "0.weight") return b.Add(Block(layer, att + "1"), info, {}, Layout::kTranspose);
    if (tail == "2.weight") return b.Add(Block(layer, att + "2"), info, {}, Layout::kTranspose);
    if (tail == "2.bias") return b.Add(Block(layer, att + "0"), info, row);
  }
  b.Unused(info);
  return absl::OkStatus();
}

absl::Status MapFla(ViewBuilder& b, int head_size) {
  for (const TensorInfo& info : b.stored().Tensors()) {
    if (info.name == "model.embeddings.weight") {
      RWKV_RETURN_IF_ERROR(b.Add("emb.weight", info));
    } else if (info.name == "lm_head.weight") {
      RWKV_RETURN_IF_ERROR(b.Add("head.weight", info));
    } else if (info.name == "model.norm.weight" || info.name == "model.norm.bias") {
      RWKV_RETURN_IF_ERROR(b.Add(absl::StrCat("ln_out.", info.name.substr(11)), info));
    } else if (auto layer = LayerAndRest(info.name, "model.layers.")) {
      RWKV_RETURN_IF_ERROR(MapFlaLayerTensor(b, info, layer->first, layer->second, head_size));
    } else {
      b.Unused(info);
    }
  }
  return absl::OkStatus();
}

// ---- llama.cpp GGUF (convert_hf_to_gguf.py's Rwkv6Model / Rwkv7Model, undone) ----

struct GgufHparams {
  std::string arch;  // "rwkv6" or "rwkv7"
  int64_t rescale_every = 0;
  int64_t head_size = 0;
};

int64_t MetadataInt(const StoredTensors& stored, const std::string& key) {
  const MetadataValue* value = stored.FindMetadata(key);
  if (value == nullptr) return 0;
  if (const auto* i = std::get_if<int64_t>(value)) return *i;
  return 0;
}

absl::StatusOr<GgufHparams> ReadGgufHparams(const StoredTensors& stored) {
  const MetadataValue* arch = stored.FindMetadata("general.architecture");
  const std::string* name = arch == nullptr ? nullptr : std::get_if<std::string>(arch);
  if (name == nullptr || (*name != "rwkv6" && *name != "rwkv7")) {
    return absl::InvalidArgumentError(absl::StrCat(
        stored.Describe(), ": GGUF architecture ",
        name == nullptr ? std::string("(missing)") : absl::StrCat("'", *name, "'"),
        " is not an RWKV model this server runs (rwkv6 or rwkv7)"));
  }
  GgufHparams h;
  h.arch = *name;
  h.rescale_every = MetadataInt(stored, h.arch + ".rescale_every_n_layers");
  h.head_size = MetadataInt(stored, h.arch + ".wkv.head_size");
  return h;
}

absl::Status MapGgufShared(ViewBuilder& b, const TensorInfo& info, int layer,
                           const std::string& rest, const GgufHparams& h, bool& mapped) {
  static const auto* renames = new absl::flat_hash_map<std::string, std::string>{
      {"attn_norm.weight", "ln1.weight"},        {"attn_norm.bias", "ln1.bias"},
      {"attn_norm_2.weight", "ln2.weight"},      {"attn_norm_2.bias", "ln2.bias"},
      {"time_mix_ln.weight", "att.ln_x.weight"}, {"time_mix_ln.bias", "att.ln_x.bias"},
      {"time_mix_receptance.weight", "att.receptance.weight"},
      {"time_mix_key.weight", "att.key.weight"}, {"time_mix_value.weight", "att.value.weight"},
      {"time_mix_gate.weight", "att.gate.weight"},
      {"time_mix_output.weight", "att.output.weight"},
      {"channel_mix_key.weight", "ffn.key.weight"},
      {"channel_mix_value.weight", "ffn.value.weight"},
      {"channel_mix_receptance.weight", "ffn.receptance.weight"}};
  const auto it = renames->find(rest);
  if (it == renames->end()) return absl::OkStatus();
  mapped = true;
  float scale = 1.0f;
  // The converter divides these by 2^(layer / n) for llama.cpp, which halves the residual after
  // every n-th layer instead; multiplying back (exact: a power of two) restores the weights.
  if (h.rescale_every > 0 &&
      (rest == "time_mix_output.weight" || rest == "channel_mix_value.weight")) {
    scale = std::ldexp(1.0f, static_cast<int>(layer / h.rescale_every));
  }
  return b.Add(Block(layer, it->second), info, {}, Layout::kAsIs, scale);
}

absl::Status MapGgufRwkv6(ViewBuilder& b, const TensorInfo& info, int layer,
                          const std::string& rest) {
  const std::vector<int64_t> row = {1, 1, info.ne.empty() ? 0 : info.ne[0]};
  if (rest == "time_mix_lerp_fused.weight") {
    constexpr std::string_view kOrder = "wkvrg";
    for (size_t j = 0; j < kOrder.size(); ++j) {
      RWKV_RETURN_IF_ERROR(
          b.AddSlice(Block(layer, absl::StrCat("att.time_maa_", AsAbsl(kOrder.substr(j, 1)))),
                     info, static_cast<int>(j), kOrder.size(), row));
    }
    return absl::OkStatus();
  }
  if (rest == "time_mix_lerp_x.weight") return b.Add(Block(layer, "att.time_maa_x"), info, row);
  if (rest == "time_mix_decay.weight") return b.Add(Block(layer, "att.time_decay"), info, row);
  if (rest == "time_mix_first.weight") return b.Add(Block(layer, "att.time_faaaa"), info);
  if (rest == "channel_mix_lerp_k.weight") return b.Add(Block(layer, "ffn.time_maa_k"), info, row);
  if (rest == "channel_mix_lerp_r.weight") return b.Add(Block(layer, "ffn.time_maa_r"), info, row);
  if (rest == "time_mix_w1.weight") {
    return b.Add(Block(layer, "att.time_maa_w1"), info, {}, Layout::kTranspose);
  }
  if (rest == "time_mix_w2.weight") {
    return b.Add(Block(layer, "att.time_maa_w2"), info, {}, Layout::kSwap12);
  }
  if (rest == "time_mix_decay_w1.weight" || rest == "time_mix_decay_w2.weight") {
    return b.Add(Block(layer, absl::StrCat("att.time_decay_w", rest.substr(16, 1))), info, {},
                 Layout::kTranspose);
  }
  b.Unused(info);
  return absl::OkStatus();
}

absl::Status MapGgufRwkv7(ViewBuilder& b, const TensorInfo& info, int layer,
                          const std::string& rest, const GgufHparams& h) {
  const std::vector<int64_t> row = {1, 1, info.ne.empty() ? 0 : info.ne[0]};
  if (rest == "time_mix_lerp_fused.weight") {
    for (size_t j = 0; j < kLerps7.size(); ++j) {
      RWKV_RETURN_IF_ERROR(
          b.AddSlice(Block(layer, absl::StrCat("att.x_", AsAbsl(kLerps7.substr(j, 1)))), info,
                     static_cast<int>(j), kLerps7.size(), row));
    }
    return absl::OkStatus();
  }
  if (rest == "channel_mix_lerp_k.weight") return b.Add(Block(layer, "ffn.x_k"), info, row);
  if (rest == "time_mix_k_k.weight") return b.Add(Block(layer, "att.k_k"), info, row);
  if (rest == "time_mix_k_a.weight") return b.Add(Block(layer, "att.k_a"), info, row);
  if (rest == "time_mix_r_k.weight") {
    RWKV_ASSIGN_OR_RETURN(std::vector<int64_t> shape,
                          HeadShape(b, info, static_cast<int>(h.head_size)));
    return b.Add(Block(layer, "att.r_k"), info, shape);
  }
  // time_mix_{w,a,v,g}{0,1,2}: 0 is a row, 1 and 2 are the LoRA matrices, transposed by the
  // converter (from BlinkDL's layout). Layer 0's value LoRA is a dummy copy of the a LoRA.
  absl::string_view tail = rest;
  if (absl::ConsumePrefix(&tail, "time_mix_") && absl::ConsumeSuffix(&tail, ".weight") &&
      tail.size() == 2 && absl::StrContains("wavg", tail[0]) && absl::StrContains("012", tail[1])) {
    if (tail[0] == 'v' && layer == 0) {
      b.Unused(info);
      return absl::OkStatus();
    }
    const std::string name = Block(layer, absl::StrCat("att.", tail));
    if (tail[1] == '0') return b.Add(name, info, row);
    return b.Add(name, info, {}, Layout::kTranspose);
  }
  b.Unused(info);
  return absl::OkStatus();
}

absl::Status MapGguf(ViewBuilder& b) {
  RWKV_ASSIGN_OR_RETURN(const GgufHparams h, ReadGgufHparams(b.stored()));
  static const auto* top = new absl::flat_hash_map<std::string, std::string>{
      {"token_embd.weight", "emb.weight"},
      {"token_embd_norm.weight", "blocks.0.ln0.weight"},
      {"token_embd_norm.bias", "blocks.0.ln0.bias"},
      {"output_norm.weight", "ln_out.weight"},
      {"output_norm.bias", "ln_out.bias"},
      {"output.weight", "head.weight"}};
  for (const TensorInfo& info : b.stored().Tensors()) {
    if (const auto it = top->find(info.name); it != top->end()) {
      RWKV_RETURN_IF_ERROR(b.Add(it->second, info));
      continue;
    }
    const auto layer = LayerAndRest(info.name, "blk.");
    if (!layer) {
      b.Unused(info);
      continue;
    }
    bool mapped = false;
    RWKV_RETURN_IF_ERROR(MapGgufShared(b, info, layer->first, layer->second, h, mapped));
    if (mapped) continue;
    RWKV_RETURN_IF_ERROR(h.arch == "rwkv6"
                             ? MapGgufRwkv6(b, info, layer->first, layer->second)
                             : MapGgufRwkv7(b, info, layer->first, layer->second, h));
  }
  return absl::OkStatus();
}

// "not an RWKV checkpoint" with what the file does hold.
absl::Status NotRwkv(const StoredTensors& stored) {
  std::vector<std::string> names;
  for (const TensorInfo& info : stored.Tensors()) {
    if (names.size() == 6) {
      names.push_back("...");
      break;
    }
    names.push_back(info.name);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      stored.Describe(), ": not an RWKV checkpoint: no emb.weight / blocks.0.ln1.weight (nor the ",
      "Hugging Face or GGUF names for them); the ", stored.format(), " file holds ",
      stored.Tensors().size(), " tensors: ", absl::StrJoin(names, ", ")));
}

}  // namespace

const Part* BlinkdlView::Find(std::string_view name) const {
  const auto it = index_.find(AsAbsl(name));
  return it == index_.end() ? nullptr : &tensors[it->second].second;
}

bool BlinkdlView::Add(std::string name, Part part) {
  if (!index_.emplace(name, tensors.size()).second) return false;
  tensors.emplace_back(std::move(name), std::move(part));
  return true;
}

absl::StatusOr<BlinkdlView> MapToBlinkdl(const StoredTensors& stored, int head_size_hint) {
  auto has = [&](std::string_view name) { return stored.Find(name) != nullptr; };
  std::optional<ViewBuilder> builder;
  absl::Status status;
  if (has("token_embd.weight")) {
    builder.emplace(stored, "llama.cpp GGUF");
    status = MapGguf(*builder);
  } else if (has("model.embeddings.weight")) {
    builder.emplace(stored, "Hugging Face RWKV7ForCausalLM (fla-hub)");
    status = MapFla(*builder, head_size_hint);
  } else if (has("rwkv.embeddings.weight")) {
    builder.emplace(stored, "Hugging Face transformers RWKV");
    status = MapTransformers(*builder);
  } else if (has("emb.weight")) {
    builder.emplace(stored, "BlinkDL");
    status = MapBlinkdl(*builder);
  } else {
    return NotRwkv(stored);
  }
  RWKV_RETURN_IF_ERROR(status);
  BlinkdlView view = builder->Finish();
  if (view.Find("blocks.0.ln1.weight") == nullptr) return NotRwkv(stored);
  if (const MetadataValue* arch = stored.FindMetadata("general.architecture")) {
    if (const auto* name = std::get_if<std::string>(arch)) {
      view.family = absl::StrCat(view.family, " ", *name);
    }
  }
  return view;
}

}  // namespace rwkv::engine
