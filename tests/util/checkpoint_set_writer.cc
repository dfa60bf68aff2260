#include "tests/util/checkpoint_set_writer.h"

#include <cstring>
#include <fstream>
#include <functional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "engine/model/formats/rwkv_cpp_layout.h"
#include "engine/model/model_config.h"
#include "engine/model/quantization.h"
#include "tests/engine/model/formats/torch_test_files.h"
#include "tests/util/gguf_writer.h"
#include "tests/util/model_file_writer.h"

namespace rwkv::testing {
namespace {

using engine::GgmlType;
using engine::TensorInfo;
using engine::TensorSource;

// A tensor of an output file, in ggml order; `values` is empty while only planning the layout.
struct OutTensor {
  std::string name;
  std::vector<int64_t> ne;
  GgmlType type = GgmlType::kF32;
  std::vector<float> values;
};

// One source tensor (rwkv.cpp layout) as the output format's tensors.
using Converter =
    std::function<absl::StatusOr<std::vector<OutTensor>>(const TensorInfo&, std::vector<float>)>;

std::vector<int64_t> Reversed(const std::vector<int64_t>& ne) {
  return std::vector<int64_t>(ne.rbegin(), ne.rend());
}

bool KeepsF16(const TensorInfo& info) {
  return engine::RwkvCppKeepsF16(info.name, Reversed(info.ne));
}

// The tensor's values rounded to f16 (the one rounding every file shares).
absl::StatusOr<std::vector<float>> ReadRounded(const TensorSource& source, const TensorInfo& info) {
  std::vector<float> values(static_cast<size_t>(info.NumElements()));
  RWKV_RETURN_IF_ERROR(source.ReadF32(info.name, absl::MakeSpan(values)));
  RWKV_ASSIGN_OR_RETURN(std::vector<uint8_t> f16, engine::QuantizeRow(GgmlType::kF16, values));
  RWKV_RETURN_IF_ERROR(
      engine::DequantizeRow(GgmlType::kF16, f16.data(), f16.size(), absl::MakeSpan(values)));
  return values;
}

absl::StatusOr<std::string> Encode(GgmlType type, const std::vector<float>& values) {
  RWKV_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, engine::QuantizeRow(type, values));
  return std::string(bytes.begin(), bytes.end());
}

// Plans the output tensors of every source tensor (no values read).
absl::StatusOr<std::vector<OutTensor>> PlanOutputs(const TensorSource& source,
                                                   const Converter& convert) {
  std::vector<OutTensor> all;
  for (const TensorInfo& info : source.Tensors()) {
    RWKV_ASSIGN_OR_RETURN(std::vector<OutTensor> outs, convert(info, {}));
    for (OutTensor& out : outs) all.push_back(std::move(out));
  }
  return all;
}

// Reads each source tensor in turn and hands its output tensors (with values) to `write`.
absl::Status EmitOutputs(const TensorSource& source, const Converter& convert,
                         const std::function<absl::Status(const OutTensor&)>& write) {
  for (const TensorInfo& info : source.Tensors()) {
    RWKV_ASSIGN_OR_RETURN(std::vector<float> values, ReadRounded(source, info));
    RWKV_ASSIGN_OR_RETURN(std::vector<OutTensor> outs, convert(info, std::move(values)));
    for (const OutTensor& out : outs) RWKV_RETURN_IF_ERROR(write(out));
  }
  return absl::OkStatus();
}

absl::Status Written(const std::ofstream& file, const std::string& path) {
  if (file) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
}

// ne {n0, n1} -> ne {n1, n0}.
std::vector<float> Transposed(const std::vector<float>& in, int64_t n0, int64_t n1) {
  if (in.empty()) return {};
  std::vector<float> out(in.size());
  for (int64_t j = 0; j < n1; ++j) {
    for (int64_t i = 0; i < n0; ++i) out[i * n1 + j] = in[j * n0 + i];
  }
  return out;
}

std::vector<float> Slice(const std::vector<float>& in, size_t index, size_t count) {
  if (in.empty()) return {};
  return std::vector<float>(in.begin() + index * count, in.begin() + (index + 1) * count);
}

// "blocks.N.att.w1", "...att.a2", ...: the LoRA matrices rwkv.cpp stores transposed.
bool IsLora(absl::string_view name) {
  const size_t n = name.size();
  return n > 7 && absl::EndsWith(name.substr(0, n - 2), ".att.") &&
         absl::StrContains("wavg", name[n - 2]) && (name[n - 1] == '1' || name[n - 1] == '2');
}

int64_t Elements(const std::vector<int64_t>& ne) {
  int64_t n = 1;
  for (const int64_t d : ne) n *= d;
  return n;
}

// ---- BlinkDL (.pth): rwkv.cpp's conversion undone ----

constexpr absl::string_view kLerps = "rwkvag";

absl::StatusOr<std::vector<OutTensor>> ToBlinkdl(const TensorInfo& info, std::vector<float> v) {
  absl::string_view prefix = info.name;
  if (absl::ConsumeSuffix(&prefix, "att.x_rwkvag")) {
    const size_t width = static_cast<size_t>(info.ne[0]);
    std::vector<OutTensor> outs;
    for (size_t j = 0; j < kLerps.size(); ++j) {
      outs.push_back({absl::StrCat(prefix, "att.x_", kLerps.substr(j, 1)),
                      {static_cast<int64_t>(width), 1, 1},
                      GgmlType::kF32,
                      Slice(v, j, width)});
    }
    return outs;
  }
  if (IsLora(info.name) && info.ne.size() == 2) {
    return std::vector<OutTensor>{{info.name,
                                   {info.ne[1], info.ne[0]},
                                   GgmlType::kF32,
                                   Transposed(v, info.ne[0], info.ne[1])}};
  }
  return std::vector<OutTensor>{{info.name, info.ne, GgmlType::kF32, std::move(v)}};
}

std::vector<int64_t> ContiguousStrides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  return strides;
}

// ---- llama.cpp GGUF rwkv7 (convert_hf_to_gguf.py's layout) ----

// Names of rwkv.cpp's per-layer tensors in llama.cpp, those renamed only.
absl::string_view GgufLayerName(absl::string_view rest) {
  static const auto* names = new absl::flat_hash_map<std::string, std::string>{
      {"ln1.weight", "attn_norm.weight"},
      {"ln1.bias", "attn_norm.bias"},
      {"ln2.weight", "attn_norm_2.weight"},
      {"ln2.bias", "attn_norm_2.bias"},
      {"att.ln_x.weight", "time_mix_ln.weight"},
      {"att.ln_x.bias", "time_mix_ln.bias"},
      {"att.receptance.weight", "time_mix_receptance.weight"},
      {"att.key.weight", "time_mix_key.weight"},
      {"att.value.weight", "time_mix_value.weight"},
      {"att.output.weight", "time_mix_output.weight"},
      {"ffn.key.weight", "channel_mix_key.weight"},
      {"ffn.value.weight", "channel_mix_value.weight"}};
  const auto it = names->find(rest);
  return it == names->end() ? absl::string_view() : absl::string_view(it->second);
}

absl::StatusOr<std::vector<OutTensor>> ToGgufLayer(const TensorInfo& info, int layer,
                                                   absl::string_view rest, std::vector<float> v) {
  const GgmlType type = KeepsF16(info) ? GgmlType::kF16 : GgmlType::kF32;
  const std::string blk = absl::StrCat("blk.", layer, ".");
  const int64_t n = info.NumElements();
  if (const absl::string_view name = GgufLayerName(rest); !name.empty()) {
    return std::vector<OutTensor>{{blk + std::string(name), info.ne, type, std::move(v)}};
  }
  if (rest == "att.x_rwkvag") {
    return std::vector<OutTensor>{
        {blk + "time_mix_lerp_fused.weight", {info.ne[0], 1, 1, 6}, type, std::move(v)}};
  }
  if (rest == "ffn.x_k") {
    return std::vector<OutTensor>{
        {blk + "channel_mix_lerp_k.weight", {n, 1, 1}, type, std::move(v)}};
  }
  if (rest == "att.k_k" || rest == "att.k_a" || rest == "att.r_k") {  // stored flat
    return std::vector<OutTensor>{
        {absl::StrCat(blk, "time_mix_", rest.substr(4), ".weight"), {n}, type, std::move(v)}};
  }
  absl::string_view lora = rest;
  if (absl::ConsumePrefix(&lora, "att.") && lora.size() == 2 &&
      absl::StrContains("wavg", lora[0]) && absl::StrContains("012", lora[1])) {
    // Layer 0 has no value residual: its value LoRA (if any) is replaced by the dummy below.
    if (layer == 0 && lora[0] == 'v') return std::vector<OutTensor>{};
    // Rows (w0, a0, v0) flat; LoRA matrices as rwkv.cpp stores them.
    const std::vector<int64_t> ne = lora[1] == '0' ? std::vector<int64_t>{n} : info.ne;
    std::vector<OutTensor> outs = {{absl::StrCat(blk, "time_mix_", lora, ".weight"), ne, type, v}};
    // llama.cpp needs a layer-0 value LoRA: its converter copies the a LoRA there.
    if (layer == 0 && lora[0] == 'a') {
      outs.push_back(
          {absl::StrCat(blk, "time_mix_v", lora.substr(1), ".weight"), ne, type, std::move(v)});
    }
    return outs;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("tensor '", info.name, "' is not one of RWKV-7's (no GGUF name for it)"));
}

absl::StatusOr<std::vector<OutTensor>> ToGguf(const TensorInfo& info, std::vector<float> v) {
  static const auto* top = new absl::flat_hash_map<std::string, std::string>{
      {"emb.weight", "token_embd.weight"},
      {"blocks.0.ln0.weight", "token_embd_norm.weight"},
      {"blocks.0.ln0.bias", "token_embd_norm.bias"},
      {"ln_out.weight", "output_norm.weight"},
      {"ln_out.bias", "output_norm.bias"},
      {"head.weight", "output.weight"}};
  const GgmlType type = KeepsF16(info) ? GgmlType::kF16 : GgmlType::kF32;
  if (const auto it = top->find(info.name); it != top->end()) {
    return std::vector<OutTensor>{{it->second, info.ne, type, std::move(v)}};
  }
  absl::string_view rest = info.name;
  int layer = 0;
  if (absl::ConsumePrefix(&rest, "blocks.")) {
    const size_t dot = rest.find('.');
    if (dot != absl::string_view::npos && absl::SimpleAtoi(rest.substr(0, dot), &layer)) {
      return ToGgufLayer(info, layer, rest.substr(dot + 1), std::move(v));
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("tensor '", info.name, "' is not one of RWKV-7's (no GGUF name for it)"));
}

std::string GgufF32(float value) {
  uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof(bits));
  return GgufU32(bits);
}

// llama.cpp's rwkv7 hyperparameters and the World tokenizer's name.
void AddGgufMetadata(const engine::ModelConfig& c, GgufWriter& writer) {
  constexpr uint32_t kGgufF32 = 6;
  writer.Kv("general.architecture", kGgufString, GgufStr("rwkv7"))
      .Kv("general.name", kGgufString, GgufStr("rwkv-write-checkpoints"))
      .Kv("general.file_type", kGgufU32, GgufU32(1))  // mostly F16
      .Kv("rwkv7.context_length", kGgufU32, GgufU32(1048576))
      .Kv("rwkv7.block_count", kGgufU32, GgufU32(c.n_layer))
      .Kv("rwkv7.embedding_length", kGgufU32, GgufU32(c.n_embed))
      .Kv("rwkv7.feed_forward_length", kGgufU32, GgufU32(c.ffn_size))
      .Kv("rwkv7.attention.layer_norm_epsilon", kGgufF32, GgufF32(1e-5f))
      .Kv("rwkv7.wkv.head_size", kGgufU32, GgufU32(c.head_size))
      .Kv("rwkv7.attention.decay_lora_rank", kGgufU32, GgufU32(c.lora_w))
      .Kv("rwkv7.attention.iclr_lora_rank", kGgufU32, GgufU32(c.lora_a))
      .Kv("rwkv7.attention.value_residual_mix_lora_rank", kGgufU32, GgufU32(c.lora_v))
      .Kv("rwkv7.attention.gate_lora_rank", kGgufU32, GgufU32(c.lora_g))
      .Kv("rwkv7.token_shift_count", kGgufU32, GgufU32(2))
      .Kv("tokenizer.ggml.model", kGgufString, GgufStr("rwkv"));
}

absl::StatusOr<engine::ModelConfig> RequireV7(const TensorSource& source) {
  RWKV_ASSIGN_OR_RETURN(engine::ModelConfig config, engine::InferModelConfig(source));
  if (config.version != engine::ArchVersion::kV7) {
    return absl::InvalidArgumentError(absl::StrCat(source.Describe(), ": RWKV-",
                                                   engine::ArchVersionName(config.version),
                                                   ", but only RWKV-7 is written"));
  }
  return config;
}

}  // namespace

absl::Status WriteRwkvCppFp16(const TensorSource& source, const std::string& path) {
  return WriteRwkvCpp(source, /*fp32=*/false, path);
}

absl::Status WriteRwkvCppFp32(const TensorSource& source, const std::string& path) {
  return WriteRwkvCpp(source, /*fp32=*/true, path);
}

absl::Status WriteRwkvCpp(const TensorSource& source, bool fp32, const std::string& path) {
  RWKV_ASSIGN_OR_RETURN(const engine::ModelConfig c, RequireV7(source));
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  const int32_t data_type = fp32 ? 0 : 1;  // rwkv.cpp's FP32 and FP16
  file << FileHeader(101, c.n_vocab, c.n_embed, c.n_layer, data_type);
  RWKV_RETURN_IF_ERROR(EmitOutputs(
      source,
      [&](const TensorInfo& info, std::vector<float> v) -> absl::StatusOr<std::vector<OutTensor>> {
        const bool f16 = !fp32 && KeepsF16(info);
        return std::vector<OutTensor>{
            {info.name, info.ne, f16 ? GgmlType::kF16 : GgmlType::kF32, std::move(v)}};
      },
      [&](const OutTensor& t) {
        file << Record(t.name, std::vector<int32_t>(t.ne.begin(), t.ne.end()), t.type, t.values);
        return Written(file, path);
      }));
  file.close();
  return Written(file, path);
}

absl::Status WriteBlinkdlPth(const TensorSource& source, GgmlType storage,
                             const std::string& path) {
  namespace tt = engine::torch_test;
  RWKV_RETURN_IF_ERROR(RequireV7(source).status());
  const std::string storage_class = storage == GgmlType::kBF16 ? "BFloat16Storage" : "HalfStorage";
  RWKV_ASSIGN_OR_RETURN(const std::vector<OutTensor> plan, PlanOutputs(source, ToBlinkdl));
  std::vector<std::string> items;
  for (const OutTensor& t : plan) {
    const std::vector<int64_t> shape = Reversed(t.ne);
    items.push_back(tt::TensorItem(t.name, storage_class, absl::StrCat(items.size()),
                                   Elements(t.ne), 0, shape, ContiguousStrides(shape)));
  }
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  tt::ZipOptions options;
  options.align = 64;  // As torch.save: records start 64-byte aligned.
  options.crc32 = true;
  tt::StoredZipWriter zip(file, options);
  const std::string pickle = tt::StateDictPickle(items);
  zip.Begin("archive/data.pkl");
  zip.Append(pickle.data(), pickle.size());
  zip.Begin("archive/byteorder");
  zip.Append("little", 6);
  int key = 0;
  RWKV_RETURN_IF_ERROR(EmitOutputs(source, ToBlinkdl, [&](const OutTensor& t) -> absl::Status {
    RWKV_ASSIGN_OR_RETURN(const std::string bytes, Encode(storage, t.values));
    zip.Begin(absl::StrCat("archive/data/", key++));
    zip.Append(bytes.data(), bytes.size());
    return Written(file, path);
  }));
  zip.Begin("archive/version");
  zip.Append("3\n", 2);
  zip.Finish();
  file.close();
  return Written(file, path);
}

absl::Status WriteGgufRwkv7(const TensorSource& source, const std::string& path) {
  RWKV_ASSIGN_OR_RETURN(const engine::ModelConfig config, RequireV7(source));
  RWKV_ASSIGN_OR_RETURN(const std::vector<OutTensor> plan, PlanOutputs(source, ToGguf));
  constexpr uint64_t kAlignment = 32;  // GGUF's default
  auto align = [](uint64_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; };
  GgufWriter writer;
  AddGgufMetadata(config, writer);
  uint64_t offset = 0;
  for (const OutTensor& t : plan) {
    RWKV_ASSIGN_OR_RETURN(const int64_t bytes, engine::StoredBytes(t.type, Elements(t.ne)));
    offset = align(offset);
    writer.Info(t.name, std::vector<uint64_t>(t.ne.begin(), t.ne.end()), GgufTypeCode(t.type),
                offset);
    offset += static_cast<uint64_t>(bytes);
  }
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << writer.Build();  // Header, padded to the alignment: data offsets count from here.
  uint64_t written = 0;
  RWKV_RETURN_IF_ERROR(EmitOutputs(source, ToGguf, [&](const OutTensor& t) -> absl::Status {
    RWKV_ASSIGN_OR_RETURN(const std::string bytes, Encode(t.type, t.values));
    file << std::string(align(written) - written, '\0') << bytes;
    written = align(written) + bytes.size();
    return Written(file, path);
  }));
  file.close();
  return Written(file, path);
}

absl::StatusOr<CheckpointSet> WriteCheckpointSet(const TensorSource& source,
                                                 const std::string& dir) {
  CheckpointSet set{dir + "/model-FP16.bin", dir + "/model-f16.pth", dir + "/model-bf16.pth",
                    dir + "/model-F16.gguf"};
  RWKV_RETURN_IF_ERROR(WriteRwkvCppFp16(source, set.bin_fp16));
  RWKV_RETURN_IF_ERROR(WriteBlinkdlPth(source, GgmlType::kF16, set.pth_f16));
  RWKV_RETURN_IF_ERROR(WriteBlinkdlPth(source, GgmlType::kBF16, set.pth_bf16));
  RWKV_RETURN_IF_ERROR(WriteGgufRwkv7(source, set.gguf_f16));
  return set;
}

}  // namespace rwkv::testing
