#include "tests/fuzz/checkpoint_seeds.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/model/formats/gguf_file.h"
#include "engine/model/formats/mapped_file.h"
#include "engine/model/formats/safetensors_file.h"
#include "engine/model/quantization.h"
#include "nlohmann/json.hpp"
#include "tests/util/gguf_writer.h"

namespace rwkv::fuzz {
namespace {

namespace fs = std::filesystem;
using engine::GgmlType;
using engine::MetadataValue;
using engine::StoredTensors;
using engine::TensorInfo;
using testing::GgufStr;
using testing::GgufU32;
using testing::GgufU64;
using testing::GgufWriter;

// Tensors whose data is at most this size go into the miniatures, at most kMaxTensors of them.
constexpr size_t kMaxTensorBytes = 4096;
constexpr size_t kMaxTensors = 8;

std::vector<fs::path> Fixtures(const fs::path& shared, const std::string& extension) {
  std::vector<fs::path> paths;
  for (const auto& entry : fs::directory_iterator(shared / "models" / "formats")) {
    if (entry.path().extension() == extension) paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

template <typename Reader>
std::unique_ptr<StoredTensors> OpenOrDie(const fs::path& path, Reader read) {
  auto file = engine::MappedFile::Open(path.string());
  if (file.ok()) {
    auto tensors = read(*file);
    if (tensors.ok()) return std::move(*tensors);
    file = tensors.status();
  }
  std::fprintf(stderr, "rwkv-fuzz-seeds: %s\n", file.status().ToString().c_str());
  std::exit(1);
}

std::string Bytes(absl::Span<const uint8_t> data) {
  return std::string(reinterpret_cast<const char*>(data.data()), data.size());
}

// The small tensors of `tensors` (name order kept), as (info, bytes).
std::vector<std::pair<TensorInfo, std::string>> SmallTensors(const StoredTensors& tensors) {
  std::vector<std::pair<TensorInfo, std::string>> small;
  for (const TensorInfo& info : tensors.Tensors()) {
    const std::string data = Bytes(*tensors.RawData(info.name));
    if (data.size() <= kMaxTensorBytes && small.size() < kMaxTensors) small.push_back({info, data});
  }
  return small;
}

// ---- safetensors ----

// The first 8 bytes of `bytes` (at least 8 long) as a little-endian number.
uint64_t LittleEndianU64(const std::string& bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<uint8_t>(bytes[i]);
  return value;
}

std::string Safetensors(const std::vector<std::pair<TensorInfo, std::string>>& tensors,
                        const nlohmann::json& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string data;
  for (const auto& [info, bytes] : tensors) {
    std::vector<int64_t> shape(info.ne.rbegin(), info.ne.rend());
    header[info.name] = {{"dtype", std::string(engine::GgmlTypeName(info.type))},
                         {"shape", shape},
                         {"data_offsets", {data.size(), data.size() + bytes.size()}}};
    data += bytes;
  }
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');
  return GgufU64(text.size()) + text + data;
}

// ---- GGUF ----

// One metadata value as a GGUF type and value bytes (integers as i64, floats as f64).
std::pair<uint32_t, std::string> EncodeValue(const MetadataValue& value) {
  struct Visitor {
    std::pair<uint32_t, std::string> operator()(int64_t v) const {
      return {11, GgufU64(static_cast<uint64_t>(v))};
    }
    std::pair<uint32_t, std::string> operator()(double v) const {
      return {12, GgufU64(std::bit_cast<uint64_t>(v))};
    }
    std::pair<uint32_t, std::string> operator()(bool v) const { return {7, std::string(1, v)}; }
    std::pair<uint32_t, std::string> operator()(const std::string& v) const {
      return {8, GgufStr(v)};
    }
    std::pair<uint32_t, std::string> operator()(const std::vector<std::string>& v) const {
      std::string out = GgufU32(8) + GgufU64(v.size());
      for (const std::string& s : v) out += GgufStr(s);
      return {9, out};
    }
    std::pair<uint32_t, std::string> operator()(const std::vector<int64_t>& v) const {
      std::string out = GgufU32(11) + GgufU64(v.size());
      for (int64_t n : v) out += GgufU64(static_cast<uint64_t>(n));
      return {9, out};
    }
    std::pair<uint32_t, std::string> operator()(const std::vector<double>& v) const {
      std::string out = GgufU32(12) + GgufU64(v.size());
      for (double d : v) out += GgufU64(std::bit_cast<uint64_t>(d));
      return {9, out};
    }
  };
  return std::visit(Visitor{}, value);
}

// A GGUF with `tensors`' metadata (but its alignment) and these tensors.
std::string Gguf(const StoredTensors& source,
                 const std::vector<std::pair<TensorInfo, std::string>>& tensors) {
  GgufWriter writer;
  for (const auto& [key, value] : source.metadata()) {
    if (key == "GGUF.version" || key == "general.alignment") continue;
    const auto [type, bytes] = EncodeValue(value);
    writer.Kv(key, type, bytes);
  }
  for (const auto& [info, bytes] : tensors) {
    writer.Tensor(info.name, std::vector<uint64_t>(info.ne.begin(), info.ne.end()),
                  testing::GgufTypeCode(info.type), bytes);
  }
  return writer.Build();
}

// One small tensor of every type the reader supports, plus metadata of every value type.
std::string EveryTypeGguf() {
  GgufWriter writer;
  writer.Kv("general.architecture", 8, GgufStr("rwkv7"))
      .Kv("u8", 0, "\x07")
      .Kv("i16", 3, "\xfe\xff")
      .Kv("f32", 6, GgufU32(std::bit_cast<uint32_t>(1e-5f)))
      .Kv("flags", 9, GgufU32(7) + GgufU64(2) + std::string("\x01\x00", 2));
  std::vector<float> row(256);
  for (size_t i = 0; i < row.size(); ++i) row[i] = static_cast<float>(i % 17) / 8.0f - 1.0f;
  for (GgmlType type : {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16, GgmlType::kQ4_0,
                        GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ8_0}) {
    const size_t n = engine::IsBlockQuantized(type) ? 32 : 4;
    const std::vector<uint8_t> bytes = *engine::QuantizeRow(type, absl::MakeSpan(row.data(), n));
    writer.Tensor("t." + std::string(engine::GgmlTypeName(type)), {n}, testing::GgufTypeCode(type),
                  Bytes(bytes));
  }
  for (GgmlType type : {GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
    std::string block(engine::BlockBytes(type), '\0');
    for (size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>(i * 37 + 11);
    block[type == GgmlType::kQ6_K ? 209 : 1] = 0x3c;  // d = 1-ish: a finite scale.
    writer.Tensor("t." + std::string(engine::GgmlTypeName(type)), {256},
                  testing::GgufTypeCode(type), block);
  }
  return writer.Build();
}

}  // namespace

void SafetensorsSeeds(const fs::path& shared, const SeedSink& add) {
  for (const fs::path& path : Fixtures(shared, ".safetensors")) {
    const std::string stem = path.stem().string();
    std::unique_ptr<StoredTensors> tensors = OpenOrDie(path, engine::ReadSafetensors);
    nlohmann::json metadata = nlohmann::json::object();
    for (const auto& [key, value] : tensors->metadata()) {
      if (const auto* text = std::get_if<std::string>(&value)) metadata[key] = *text;
    }
    add(stem + "-mini", Safetensors(SmallTensors(*tensors), metadata));
    // The real header without the data: every entry is parsed, the first is past the end. Two
    // of these (BlinkDL and Hugging Face names) are enough; at ~35 KB they run slowly.
    if (stem.find("7v0") == std::string::npos) continue;
    const std::string bytes = Bytes(tensors->file().bytes());
    const uint64_t header_end = 8 + LittleEndianU64(bytes);
    add(stem + "-header", bytes.substr(0, std::min<uint64_t>(header_end, bytes.size())));
  }
  std::vector<std::pair<TensorInfo, std::string>> small = {
      {TensorInfo{"f32", {2}, GgmlType::kF32}, std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0", 8)},
      {TensorInfo{"f16", {1, 2}, GgmlType::kF16}, std::string("\x00\x3c\x00\xbc", 4)},
      {TensorInfo{"bf16", {1}, GgmlType::kBF16}, std::string("\x80\x3f", 2)},
  };
  add("every-dtype", Safetensors(small, nlohmann::json::object()));
}

void GgufSeeds(const fs::path& shared, const SeedSink& add) {
  for (const fs::path& path : Fixtures(shared, ".gguf")) {
    const std::string stem = path.stem().string();
    std::unique_ptr<StoredTensors> tensors = OpenOrDie(path, engine::ReadGguf);
    add(stem + "-mini", Gguf(*tensors, SmallTensors(*tensors)));
    add(stem + "-metadata", Gguf(*tensors, {}));
  }
  add("every-type", EveryTypeGguf());
}

}  // namespace rwkv::fuzz
