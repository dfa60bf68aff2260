#include "engine/model/formats/model_file.h"

#include <sys/stat.h>


#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/read_file.h"
#include "common/status_macros.h"
#include "engine/model/formats/gguf_file.h"
#include "engine/model/formats/mapped_file.h"
#include "engine/model/formats/rwkv_checkpoint.h"
#include "engine/model/formats/safetensors_file.h"
#include "engine/model/formats/strict_json.h"
#include "engine/model/formats/torch_checkpoint.h"
#include "engine/model/model_config.h"
#include "engine/model/rwkv_cpp_file.h"

namespace rwkv::engine {
namespace {

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool IsFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// What a Hugging Face config.json says about the shapes, to check the tensors against.
struct HfConfig {
  std::string path;
  int head_size = 0;
  int64_t hidden_size = 0;
  int64_t layers = 0;
  int64_t vocab_size = 0;
};

int64_t IntField(const nlohmann::json& json, std::initializer_list<const char*> keys) {
  for (const char* key : keys) {
    const auto it = json.find(key);
    if (it != json.end() && it->is_number_integer()) return it->get<int64_t>();
  }
  return 0;
}

absl::StatusOr<HfConfig> ReadHfConfig(const std::string& path) {
  RWKV_ASSIGN_OR_RETURN(const std::string text, ReadWholeFile(path));
  RWKV_ASSIGN_OR_RETURN(const nlohmann::json json, ParseStrictJson(text, path, 0));
  if (!json.is_object()) return absl::InvalidArgumentError(absl::StrCat(path, " is not a JSON object"));
  HfConfig config;
  config.path = path;
  config.head_size = static_cast<int>(IntField(json, {"head_dim", "head_size"}));
  config.hidden_size = IntField(json, {"hidden_size"});
  config.layers = IntField(json, {"num_hidden_layers"});
  config.vocab_size = IntField(json, {"vocab_size"});
  return config;
}

// A config.json that disagrees with the tensors means the files do not belong together.
absl::Status CheckAgainstConfig(const HfConfig& hf, const TensorSource& source) {
  RWKV_ASSIGN_OR_RETURN(const ModelConfig config, InferModelConfig(source));
  const struct {
    const char* key;
    int64_t says;
    int64_t has;
  } checks[] = {{"hidden_size", hf.hidden_size, config.n_embed},
                {"num_hidden_layers", hf.layers, config.n_layer},
                {"vocab_size", hf.vocab_size, config.n_vocab}};
  for (const auto& check : checks) {
    if (check.says != 0 && check.says != check.has) {
      return absl::InvalidArgumentError(absl::StrCat(hf.path, " says ", check.key, " is ",
                                                     check.says, " but the tensors have ",
                                                     check.has));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelFile> FromStored(absl::StatusOr<std::unique_ptr<StoredTensors>> stored,
                                     ModelFormat format, int head_size_hint) {
  RWKV_RETURN_IF_ERROR(stored.status());
  RWKV_ASSIGN_OR_RETURN(std::unique_ptr<RwkvCheckpoint> checkpoint,
                        RwkvCheckpoint::Create(*std::move(stored), head_size_hint));
  // Parsing paged in parts of the file; tensors page their bytes in again as they are read.
  checkpoint->stored().ReleaseAll();
  ModelFile model;
  model.format = format;
  model.family = checkpoint->family();
  model.vocabulary = checkpoint->embedded_vocabulary();
  model.unused_tensors = checkpoint->unused();
  model.source = std::move(checkpoint);
  return model;
}

absl::StatusOr<ModelFile> OpenDirectory(const std::string& dir) {
  const std::string index = dir + "/model.safetensors.index.json";
  const std::string single = dir + "/model.safetensors";
  const std::string config_path = dir + "/config.json";
  HfConfig config;
  if (IsFile(config_path)) {
    RWKV_ASSIGN_OR_RETURN(config, ReadHfConfig(config_path));
  }
  absl::StatusOr<ModelFile> model;
  if (IsFile(index)) {
    model = FromStored(ReadSafetensorsShards(dir), ModelFormat::kSafetensors, config.head_size);
  } else if (IsFile(single)) {
    RWKV_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::Open(single));
    model = FromStored(ReadSafetensors(file), ModelFormat::kSafetensors, config.head_size);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        dir, " is a directory without model.safetensors or model.safetensors.index.json (a ",
        "model directory is a Hugging Face export; otherwise pass the model file itself)"));
  }
  RWKV_RETURN_IF_ERROR(model.status());
  if (!config.path.empty()) RWKV_RETURN_IF_ERROR(CheckAgainstConfig(config, *model->source));
  return model;
}

std::string HexHead(absl::Span<const uint8_t> head) {
  std::string hex;
  for (size_t i = 0; i < head.size() && i < 8; ++i) absl::StrAppendFormat(&hex, "%02x ", head[i]);
  return hex.empty() ? hex : hex.substr(0, hex.size() - 1);
}

}  // namespace

std::string_view ModelFormatName(ModelFormat format) {
  switch (format) {
    case ModelFormat::kRwkvCpp:
      return "rwkv.cpp .bin";
    case ModelFormat::kPyTorch:
      return "PyTorch .pth";
    case ModelFormat::kLegacyPyTorch:
      return "legacy PyTorch pickle";
    case ModelFormat::kSafetensors:
      return "safetensors";
    case ModelFormat::kGguf:
      return "GGUF";
    case ModelFormat::kUnknown:
      break;
  }
  return "unknown";
}

ModelFormat DetectModelFormat(absl::Span<const uint8_t> head, int64_t file_size) {
  auto starts = [&](std::string_view magic) {
    return head.size() >= magic.size() &&
           std::equal(magic.begin(), magic.end(), reinterpret_cast<const char*>(head.data()));
  };
  if (starts("GGUF")) return ModelFormat::kGguf;
  if (starts("PK\x03\x04") || starts("PK\x05\x06")) return ModelFormat::kPyTorch;
  if (starts("fmgg")) return ModelFormat::kRwkvCpp;  // 0x67676d66 little-endian
  if (head.size() >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5) {
    return ModelFormat::kLegacyPyTorch;
  }
  if (head.size() >= 9 && head[8] == '{') {
    uint64_t length = 0;
    for (int i = 7; i >= 0; --i) length = (length << 8) | head[i];
    if (length >= 2 && length <= static_cast<uint64_t>(file_size - 8)) {
      return ModelFormat::kSafetensors;
    }
  }
  return ModelFormat::kUnknown;
}

absl::StatusOr<ModelFile> OpenModelFile(const std::string& path) {
  if (IsDirectory(path)) return OpenDirectory(path);
  RWKV_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::Open(path));
  return OpenModelMapping(std::move(file));
}

absl::StatusOr<ModelFile> OpenModelMapping(std::shared_ptr<const MappedFile> file) {
  const std::string& path = file->path();
  const absl::Span<const uint8_t> bytes = file->bytes();
  const ModelFormat format = DetectModelFormat(bytes.subspan(0, 16), file->size());
  switch (format) {
    case ModelFormat::kRwkvCpp: {
      RWKV_ASSIGN_OR_RETURN(
          std::unique_ptr<RwkvCppFile> bin,
          file->is_mapped()
              ? RwkvCppFile::Open(path)
              : RwkvCppFile::FromBytes(path, std::string(reinterpret_cast<const char*>(bytes.data()),
                                                         bytes.size())));
      ModelFile model;
      model.format = format;
      model.family = "rwkv.cpp";
      model.source = std::move(bin);
      return model;
    }
    case ModelFormat::kPyTorch:
      return FromStored(ReadTorchCheckpoint(file), format, 0);
    case ModelFormat::kSafetensors:
      return FromStored(ReadSafetensors(file), format, 0);
    case ModelFormat::kGguf:
      return FromStored(ReadGguf(file), format, 0);
    case ModelFormat::kLegacyPyTorch:
      return absl::InvalidArgumentError(absl::StrCat(
          path, " is a legacy (before PyTorch 1.6) torch.save pickle, which is not supported: ",
          "re-save it with torch.save(state_dict, path) from a current PyTorch"));
    case ModelFormat::kUnknown:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      path, " is not a model file this server reads (it starts with ", HexHead(bytes),
      "); expected an rwkv.cpp .bin, a PyTorch .pth, a safetensors file, a GGUF file, or a ",
      "Hugging Face model directory"));
}

}  // namespace rwkv::engine
