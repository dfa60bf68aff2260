#include "engine/model/formats/safetensors_file.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/absl_view.h"
#include "common/little_endian.h"
#include "common/status_macros.h"
#include "engine/model/formats/strict_json.h"
#include "engine/model/quantization.h"

namespace rwkv::engine {
namespace {

using Json = nlohmann::json;

// The bound the reference implementation uses; real headers are well under 1 MB.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr uint64_t kLengthBytes = 8;
// ggml tensors have at most 4; a little room for other writers.
constexpr size_t kMaxDimensions = 8;

// One tensor as the header describes it; offsets relative to the data area.
struct HeaderEntry {
  TensorInfo info;
  uint64_t begin = 0;
  uint64_t end = 0;
};

absl::StatusOr<GgmlType> DtypeFromName(const std::string& dtype) {
  if (dtype == "F32") return GgmlType::kF32;
  if (dtype == "F16") return GgmlType::kF16;
  if (dtype == "BF16") return GgmlType::kBF16;
  return absl::InvalidArgumentError(
      absl::StrCat("dtype '", dtype, "' is not supported (F32, F16 and BF16 are)"));
}

// A JSON number that is a non-negative integer, as uint64.
bool GetUnsigned(const Json& value, uint64_t* out) {
  if (!value.is_number_unsigned()) return false;
  *out = value.get<uint64_t>();
  return true;
}

// Checks one tensor's entry ("dtype", "shape", "data_offsets") and fills `entry`; messages name
// only the problem (the caller adds the file and tensor).
absl::Status ParseEntry(const Json& value, HeaderEntry* entry) {
  if (!value.is_object()) return absl::InvalidArgumentError("the entry is not a JSON object");
  const auto dtype = value.find("dtype");
  const auto shape = value.find("shape");
  const auto offsets = value.find("data_offsets");
  if (dtype == value.end() || !dtype->is_string()) {
    return absl::InvalidArgumentError("no \"dtype\" string");
  }
  RWKV_ASSIGN_OR_RETURN(entry->info.type, DtypeFromName(dtype->get_ref<const std::string&>()));
  if (shape == value.end() || !shape->is_array() || shape->size() > kMaxDimensions) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"shape\" is not an array of at most ", kMaxDimensions, " integers"));
  }
  // safetensors lists the outermost dimension first; ggml's ne is innermost first.
  for (auto it = shape->rbegin(); it != shape->rend(); ++it) {
    uint64_t n;
    if (!GetUnsigned(*it, &n) || n > static_cast<uint64_t>(INT64_MAX)) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"shape\" holds ", it->dump(), ", not a dimension"));
    }
    entry->info.ne.push_back(static_cast<int64_t>(n));
  }
  if (offsets == value.end() || !offsets->is_array() || offsets->size() != 2 ||
      !GetUnsigned((*offsets)[0], &entry->begin) || !GetUnsigned((*offsets)[1], &entry->end)) {
    return absl::InvalidArgumentError("\"data_offsets\" is not a pair of byte offsets");
  }
  if (entry->end < entry->begin) {
    return absl::InvalidArgumentError(absl::StrCat("\"data_offsets\" [", entry->begin, ", ",
                                                   entry->end, ") ends before it begins"));
  }
  return absl::OkStatus();
}

// The header's JSON text: [8, 8 + length) of the file.
absl::StatusOr<std::string_view> HeaderText(const MappedFile& file) {
  if (!file.Has(0, kLengthBytes)) {
    return absl::DataLossError(absl::StrCat(file.path(), ": truncated: ", file.size(),
                                            " bytes, a safetensors file starts with 8"));
  }
  const uint64_t length = LoadLittleEndian<uint64_t>(file.bytes().data());
  if (length > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": the header length at offset 0 says ", length,
                     " bytes (at most ", kMaxHeaderBytes, " allowed): not a safetensors file"));
  }
  if (!file.Has(kLengthBytes, static_cast<int64_t>(length))) {
    return absl::DataLossError(absl::StrCat(file.path(), ": truncated: the ", length,
                                            "-byte header from offset 8 runs past the end (",
                                            file.size(), " bytes)"));
  }
  return std::string_view(reinterpret_cast<const char*>(file.bytes().data()) + kLengthBytes,
                          length);
}

// Every tensor entry of `header`, sorted by where its bytes start; metadata goes to `tensors`.
absl::StatusOr<std::vector<HeaderEntry>> ParseHeader(const Json& header, StoredTensors& tensors) {
  const std::string& path = tensors.file().path();
  std::vector<HeaderEntry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": __metadata__ is not an object"));
      }
      for (const auto& [name, text] : value.items()) {
        if (!text.is_string()) {
          return absl::InvalidArgumentError(absl::StrCat(path, ": __metadata__ entry '", name,
                                                         "' is ", text.dump(), ", not a string"));
        }
        tensors.SetMetadata(name, text.get<std::string>());
      }
      continue;
    }
    HeaderEntry entry;
    entry.info.name = key;
    const absl::Status status = ParseEntry(value, &entry);
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat(path, ": tensor '", key, "': ", status.message()));
    }
    entries.push_back(std::move(entry));
  }
  std::stable_sort(entries.begin(), entries.end(), [](const HeaderEntry& a, const HeaderEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  return entries;
}

// Bounds, size and overlap checks, then adds every entry, viewing the data area from `data_start`.
absl::Status AddEntries(const std::vector<HeaderEntry>& entries, uint64_t data_start,
                        StoredTensors& tensors) {
  const MappedFile& file = tensors.file();
  const uint64_t data_bytes = static_cast<uint64_t>(file.size()) - data_start;
  for (size_t i = 0; i < entries.size(); ++i) {
    const HeaderEntry& entry = entries[i];
    const std::string where =
        absl::StrCat(file.path(), ": tensor '", entry.info.name, "' at data offsets [", entry.begin,
                     ", ", entry.end, ")");
    if (entry.end > data_bytes) {
      return absl::DataLossError(absl::StrCat(where, " (file offset ", data_start,
                                              " + begin): past the end of the ", data_bytes,
                                              "-byte data area (truncated?)"));
    }
    if (i > 0 && entry.begin < entries[i - 1].end) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": overlaps tensor '", entries[i - 1].info.name, "' at [",
                       entries[i - 1].begin, ", ", entries[i - 1].end, ")"));
    }
    const int64_t elements = entry.info.NumElements();
    if (elements < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": shape ", entry.info.ShapeString(), " overflows"));
    }
    RWKV_ASSIGN_OR_RETURN(const int64_t bytes, StoredBytes(entry.info.type, elements));
    if (static_cast<uint64_t>(bytes) != entry.end - entry.begin) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": ", AsAbsl(GgmlTypeName(entry.info.type)), " ", entry.info.ShapeString(),
          " needs ", bytes, " bytes, the offsets give ", entry.end - entry.begin));
    }
    const auto data = file.bytes().subspan(data_start + entry.begin, entry.end - entry.begin);
    RWKV_RETURN_IF_ERROR(tensors.Add(entry.info, data));
  }
  return absl::OkStatus();
}

// A shard file name from the index: a plain name in the model's directory.
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find_first_of(std::string_view("/\\\0", 3)) == std::string::npos;
}

// weight_map as shard file -> tensors it should hold (shards sorted by name).
absl::StatusOr<std::map<std::string, std::vector<std::string>>> ParseWeightMap(
    const std::string& path, const Json& index) {
  const auto weight_map = index.is_object() ? index.find("weight_map") : index.end();
  if (weight_map == index.end() || !weight_map->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no \"weight_map\" object"));
  }
  std::map<std::string, std::vector<std::string>> shards;
  for (const auto& [tensor, shard] : weight_map->items()) {
    if (!shard.is_string() || !IsPlainFileName(shard.get_ref<const std::string&>())) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": weight_map entry '", tensor, "' is ",
                                                     shard.dump(),
                                                     ", not a file name in the same directory"));
    }
    shards[shard.get<std::string>()].push_back(tensor);
  }
  if (shards.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": empty weight_map"));
  return shards;
}

// The index's own "metadata" (e.g. total_size): strings and integers are kept.
void AddIndexMetadata(const Json& index, StoredTensors& tensors) {
  const auto metadata = index.find("metadata");
  if (metadata == index.end() || !metadata->is_object()) return;
  for (const auto& [key, value] : metadata->items()) {
    if (value.is_string()) tensors.SetMetadata(key, value.get<std::string>());
    if (value.is_number_integer() && (!value.is_number_unsigned() ||
                                      value.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX))) {
      tensors.SetMetadata(key, value.get<int64_t>());
    }
  }
}

// Opens one shard, checks it holds `listed`, and moves its tensors and metadata into `merged`.
absl::Status MergeShard(const std::string& path, const std::vector<std::string>& listed,
                        StoredTensors& merged) {
  RWKV_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::Open(path));
  RWKV_ASSIGN_OR_RETURN(std::unique_ptr<StoredTensors> shard, ReadSafetensors(file));
  for (const std::string& name : listed) {
    if (shard->Find(name) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(merged.file().path(), ": tensor '", name,
                                                     "' should be in ", path, ", which lacks it"));
    }
  }
  for (const TensorInfo& info : shard->Tensors()) {
    RWKV_ASSIGN_OR_RETURN(const absl::Span<const uint8_t> data, shard->RawData(info.name));
    RWKV_RETURN_IF_ERROR(merged.Add(info, data));
  }
  for (const auto& [key, value] : shard->metadata()) merged.SetMetadata(key, value);
  merged.KeepAlive(std::move(file));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<StoredTensors>> ReadSafetensors(
    std::shared_ptr<const MappedFile> file) {
  RWKV_ASSIGN_OR_RETURN(const std::string_view text, HeaderText(*file));
  RWKV_ASSIGN_OR_RETURN(const Json header,
                        ParseStrictJson(text, absl::StrCat(file->path(), ": header"),
                                        static_cast<int64_t>(kLengthBytes)));
  if (!header.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file->path(), ": the header at offset 8 is not a JSON object"));
  }
  auto tensors = std::make_unique<StoredTensors>(file, "safetensors");
  RWKV_ASSIGN_OR_RETURN(std::vector<HeaderEntry> entries, ParseHeader(header, *tensors));
  RWKV_RETURN_IF_ERROR(AddEntries(entries, kLengthBytes + text.size(), *tensors));
  return tensors;
}

absl::StatusOr<std::unique_ptr<StoredTensors>> ReadSafetensorsShards(const std::string& dir) {
  const std::string index_path = absl::StrCat(dir, "/", kSafetensorsIndexName);
  RWKV_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> index_file, MappedFile::Open(index_path));
  if (static_cast<uint64_t>(index_file->size()) > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(index_path, ": ", index_file->size(), " bytes is too large for an index"));
  }
  const std::string_view text(reinterpret_cast<const char*>(index_file->bytes().data()),
                              index_file->bytes().size());
  RWKV_ASSIGN_OR_RETURN(const Json index, ParseStrictJson(text, index_path, 0));
  RWKV_ASSIGN_OR_RETURN(const auto shards, ParseWeightMap(index_path, index));
  auto merged = std::make_unique<StoredTensors>(index_file, "safetensors");
  merged->SetDescription(dir);
  for (const auto& [shard, listed] : shards) {
    RWKV_RETURN_IF_ERROR(MergeShard(absl::StrCat(dir, "/", shard), listed, *merged));
  }
  AddIndexMetadata(index, *merged);
  return merged;
}

}  // namespace rwkv::engine
