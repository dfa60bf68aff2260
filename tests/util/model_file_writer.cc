#include "tests/util/model_file_writer.h"

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/model/quantization.h"
#include "common/status_macros.h"

namespace rwkv::testing {

using engine::GgmlType;

void AppendU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

std::string FileHeader(uint32_t version, int32_t n_vocab, int32_t n_embed,
                       int32_t n_layer, int32_t data_type, uint32_t magic) {
  std::string out;
  for (uint32_t v : {magic, version, static_cast<uint32_t>(n_vocab), static_cast<uint32_t>(n_embed),
                     static_cast<uint32_t>(n_layer), static_cast<uint32_t>(data_type)}) {
    AppendU32(out, v);
  }
  return out;
}

std::string RawRecord(int32_t dim_count, int32_t name_length, int32_t type_code,
                      const std::vector<int32_t>& ne, std::string_view name, size_t data_bytes) {
  std::string out;
  for (int32_t v : {dim_count, name_length, type_code}) AppendU32(out, static_cast<uint32_t>(v));
  for (int32_t n : ne) AppendU32(out, static_cast<uint32_t>(n));
  out.append(name);
  out.append(data_bytes, '\0');
  return out;
}

std::string Record(std::string_view name, const std::vector<int32_t>& ne, GgmlType type,
                   const std::vector<float>& values) {
  std::string out = RawRecord(static_cast<int32_t>(ne.size()), static_cast<int32_t>(name.size()),
                              static_cast<int32_t>(type), ne, name, 0);
  const std::vector<uint8_t> data = *QuantizeRow(type, values);
  out.append(reinterpret_cast<const char*>(data.data()), data.size());
  return out;
}

namespace {

bool IsLargeLayerMatrix(const std::string& name) {
  for (const char* suffix : {"att.receptance.weight", "att.key.weight", "att.value.weight",
                             "att.output.weight", "ffn.key.weight", "ffn.value.weight"}) {
    if (absl::EndsWith(name, suffix)) return true;
  }
  return false;
}

}  // namespace

absl::Status WriteQuantizedCopy(const std::string& source_path, GgmlType type,
                                const std::string& out_path) {
  RWKV_ASSIGN_OR_RETURN(auto source, engine::RwkvCppFile::Open(source_path));
  const auto& h = source->header();
  std::string out = FileHeader(101, h.n_vocab, h.n_embed, h.n_layer, static_cast<int32_t>(type));
  for (const engine::TensorInfo& info : source->Tensors()) {
    std::vector<float> values(info.NumElements());
    RWKV_RETURN_IF_ERROR(source->ReadF32(info.name, absl::MakeSpan(values)));
    std::vector<int32_t> ne(info.ne.begin(), info.ne.end());
    out += Record(info.name, ne, IsLargeLayerMatrix(info.name) ? type : GgmlType::kF32, values);
  }
  std::ofstream file(out_path, std::ios::binary | std::ios::trunc);
  file.write(out.data(), static_cast<std::streamsize>(out.size()));
  if (!file) return absl::PermissionDeniedError(absl::StrCat("cannot write ", out_path));
  return absl::OkStatus();
}

}  // namespace rwkv::testing
