#include "engine/model/formats/gguf_file.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <numeric>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/model/formats/gguf_cursor.h"
#include "engine/model/quantization.h"

namespace rwkv::engine {
namespace {

// GGUF metadata value types (gguf.h's enum gguf_type).
enum ValueType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

// Bytes one value of `type` takes at least (a string: its length field); 0 for unknown types.
uint64_t MinValueBytes(uint32_t type) {
  switch (type) {
    case kU8:
    case kI8:
    case kBool:
      return 1;
    case kU16:
    case kI16:
      return 2;
    case kU32:
    case kI32:
    case kF32:
      return 4;
    case kU64:
    case kI64:
    case kF64:
    case kString:
      return 8;
    case kArray:
      return 12;  // Element type and count.
  }
  return 0;
}

bool IsIntegerType(uint32_t type) {
  return type == kU8 || type == kI8 || type == kU16 || type == kI16 || type == kU32 ||
         type == kI32 || type == kU64 || type == kI64;
}

absl::StatusOr<int64_t> ReadInteger(GgufCursor& in, uint32_t type) {
  switch (type) {
    case kU8:
      return in.ReadLE<uint8_t>("u8 value");
    case kI8: {
      RWKV_ASSIGN_OR_RETURN(const uint8_t bits, in.ReadLE<uint8_t>("i8 value"));
      return static_cast<int8_t>(bits);
    }
    case kU16:
      return in.ReadLE<uint16_t>("u16 value");
    case kI16: {
      RWKV_ASSIGN_OR_RETURN(const uint16_t bits, in.ReadLE<uint16_t>("i16 value"));
      return static_cast<int16_t>(bits);
    }
    case kU32:
      return in.ReadLE<uint32_t>("u32 value");
    case kI32: {
      RWKV_ASSIGN_OR_RETURN(const uint32_t bits, in.ReadLE<uint32_t>("i32 value"));
      return static_cast<int32_t>(bits);
    }
    case kI64: {
      RWKV_ASSIGN_OR_RETURN(const uint64_t bits, in.ReadLE<uint64_t>("i64 value"));
      return static_cast<int64_t>(bits);
    }
    default: {  // kU64
      RWKV_ASSIGN_OR_RETURN(const uint64_t value, in.ReadLE<uint64_t>("u64 value"));
      if (value > static_cast<uint64_t>(INT64_MAX)) {
        return in.Invalid(absl::StrCat("u64 value ", value, " is above INT64_MAX"));
      }
      return static_cast<int64_t>(value);
    }
  }
}

absl::StatusOr<double> ReadFloat(GgufCursor& in, uint32_t type) {
  if (type == kF32) {
    RWKV_ASSIGN_OR_RETURN(const uint32_t bits, in.ReadLE<uint32_t>("f32 value"));
    return std::bit_cast<float>(bits);
  }
  RWKV_ASSIGN_OR_RETURN(const uint64_t bits, in.ReadLE<uint64_t>("f64 value"));
  return std::bit_cast<double>(bits);
}

absl::StatusOr<bool> ReadBool(GgufCursor& in) {
  RWKV_ASSIGN_OR_RETURN(const uint8_t byte, in.ReadLE<uint8_t>("bool value"));
  if (byte > 1) return in.Invalid(absl::StrCat("bool value ", byte, " is neither 0 nor 1"));
  return byte == 1;
}

// `count` elements of `type`, each read by `read`, into a vector of T. The caller has checked
// that `count` elements can fit in the rest of the file, so reserve() is bounded by its size.
template <typename T, typename ReadOne>
absl::StatusOr<MetadataValue> ReadVector(uint64_t count, ReadOne read) {
  std::vector<T> values;
  values.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    RWKV_ASSIGN_OR_RETURN(T value, read());
    values.push_back(std::move(value));
  }
  return values;
}

absl::StatusOr<MetadataValue> ReadArray(GgufCursor& in) {
  RWKV_ASSIGN_OR_RETURN(const uint32_t type, in.ReadLE<uint32_t>("array element type"));
  RWKV_ASSIGN_OR_RETURN(const uint64_t count, in.ReadLE<uint64_t>("array length"));
  if (type == kArray) return in.Invalid("arrays of arrays are not supported");
  if (MinValueBytes(type) == 0) {
    return in.Invalid(absl::StrCat("unknown array element type ", type));
  }
  RWKV_RETURN_IF_ERROR(in.CheckCount(count, MinValueBytes(type), "array elements"));
  if (type == kString) {
    return ReadVector<std::string>(count, [&] { return in.ReadString("string element"); });
  }
  if (type == kF32 || type == kF64) {
    return ReadVector<double>(count, [&] { return ReadFloat(in, type); });
  }
  if (type == kBool) {
    return ReadVector<int64_t>(count, [&]() -> absl::StatusOr<int64_t> {
      RWKV_ASSIGN_OR_RETURN(const bool value, ReadBool(in));
      return value ? 1 : 0;
    });
  }
  return ReadVector<int64_t>(count, [&] { return ReadInteger(in, type); });
}

absl::StatusOr<MetadataValue> ReadValue(GgufCursor& in, uint32_t type) {
  if (MinValueBytes(type) == 0) return in.Invalid(absl::StrCat("unknown value type ", type));
  if (IsIntegerType(type)) return ReadInteger(in, type);
  switch (type) {
    case kF32:
    case kF64: {
      RWKV_ASSIGN_OR_RETURN(const double value, ReadFloat(in, type));
      return value;
    }
    case kBool: {
      RWKV_ASSIGN_OR_RETURN(const bool value, ReadBool(in));
      return value;
    }
    case kString:
      return in.ReadString("string value");
    default:
      return ReadArray(in);
  }
}

// Every key/value pair into `tensors`' metadata.
absl::Status ReadMetadata(GgufCursor& in, uint64_t count, StoredTensors& tensors) {
  absl::flat_hash_set<std::string> keys;
  for (uint64_t i = 0; i < count; ++i) {
    const int64_t start = in.offset();
    in.SetContext(absl::StrCat("metadata entry ", i, " (at offset ", start, ")"));
    RWKV_ASSIGN_OR_RETURN(std::string key, in.ReadString("key"));
    in.SetContext(absl::StrCat("metadata key '", key, "' (entry at offset ", start, ")"));
    if (!keys.insert(key).second) return in.Invalid("appears twice");
    RWKV_ASSIGN_OR_RETURN(const uint32_t type, in.ReadLE<uint32_t>("value type"));
    RWKV_ASSIGN_OR_RETURN(MetadataValue value, ReadValue(in, type));
    tensors.SetMetadata(std::move(key), std::move(value));
  }
  return absl::OkStatus();
}

// One tensor description, with its offset relative to the data section.
struct TensorEntry {
  TensorInfo info;
  uint64_t offset = 0;
  int64_t header_offset = 0;  // Where its description starts, for messages.
};

// A tensor description: name, n_dims, ne[n_dims], type, offset.
absl::StatusOr<TensorEntry> ReadTensorInfo(GgufCursor& in, uint64_t index) {
  TensorEntry entry;
  entry.header_offset = in.offset();
  in.SetContext(absl::StrCat("tensor ", index, " (described at offset ", entry.header_offset, ")"));
  RWKV_ASSIGN_OR_RETURN(entry.info.name, in.ReadString("name"));
  in.SetContext(absl::StrCat("tensor '", entry.info.name, "' (described at offset ",
                             entry.header_offset, ")"));
  RWKV_ASSIGN_OR_RETURN(const uint32_t n_dims, in.ReadLE<uint32_t>("dimension count"));
  if (n_dims == 0 || n_dims > 4) {
    return in.Invalid(absl::StrCat(n_dims, " dimensions (1 to 4 allowed)"));
  }
  for (uint32_t d = 0; d < n_dims; ++d) {
    RWKV_ASSIGN_OR_RETURN(const uint64_t n, in.ReadLE<uint64_t>("dimension"));
    if (n > static_cast<uint64_t>(INT64_MAX)) {
      return in.Invalid(absl::StrCat("dimension ", d, " is ", n));
    }
    entry.info.ne.push_back(static_cast<int64_t>(n));
  }
  RWKV_ASSIGN_OR_RETURN(const uint32_t type_code, in.ReadLE<uint32_t>("type"));
  const absl::StatusOr<GgmlType> type = GgufTypeFromCode(type_code);
  if (!type.ok()) return in.Invalid(std::string(type.status().message()));
  entry.info.type = *type;
  RWKV_ASSIGN_OR_RETURN(entry.offset, in.ReadLE<uint64_t>("data offset"));
  return entry;
}

// general.alignment if present: a power of two that fits a u32.
absl::StatusOr<uint64_t> Alignment(const StoredTensors& tensors) {
  const MetadataValue* value = tensors.FindMetadata("general.alignment");
  if (value == nullptr) return kGgufDefaultAlignment;
  const int64_t* alignment = std::get_if<int64_t>(value);
  if (alignment == nullptr || *alignment <= 0 || *alignment > UINT32_MAX ||
      (*alignment & (*alignment - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(tensors.file().path(), ": general.alignment is ",
                                                   DescribeMetadataValue(*value),
                                                   ", not a power of two"));
  }
  return static_cast<uint64_t>(*alignment);
}

// Alignment, bounds and overlap checks; then adds every tensor in header order.
absl::Status AddTensors(const std::vector<TensorEntry>& entries, uint64_t data_start,
                        uint64_t alignment, StoredTensors& tensors) {
  const MappedFile& file = tensors.file();
  const uint64_t data_bytes = static_cast<uint64_t>(file.size()) - data_start;
  std::vector<uint64_t> ends(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const TensorEntry& entry = entries[i];
    const std::string where = absl::StrCat(file.path(), ": tensor '", entry.info.name,
                                           "' (described at offset ", entry.header_offset, ")");
    if (entry.offset % alignment != 0) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": data offset ", entry.offset,
                                                     " is not a multiple of the alignment ",
                                                     alignment));
    }
    const int64_t elements = entry.info.NumElements();
    if (elements < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": shape ", entry.info.ShapeString(), " is invalid or overflows"));
    }
    const absl::StatusOr<int64_t> bytes = StoredBytes(entry.info.type, elements);
    if (!bytes.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", bytes.status().message()));
    }
    if (entry.offset > data_bytes || static_cast<uint64_t>(*bytes) > data_bytes - entry.offset) {
      return absl::DataLossError(
          absl::StrCat(where, ": its ", *bytes, " bytes at file offset ", data_start, " + ",
                       entry.offset, " run past the end of the file (", file.size(), " bytes)"));
    }
    ends[i] = entry.offset + static_cast<uint64_t>(*bytes);
  }
  std::vector<size_t> order(entries.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return entries[a].offset < entries[b].offset; });
  for (size_t i = 1; i < order.size(); ++i) {
    const TensorEntry& previous = entries[order[i - 1]];
    const TensorEntry& entry = entries[order[i]];
    if (entry.offset < ends[order[i - 1]]) {
      return absl::InvalidArgumentError(
          absl::StrCat(file.path(), ": tensor '", entry.info.name, "' at data offset ",
                       entry.offset, " overlaps tensor '", previous.info.name, "' at [",
                       previous.offset, ", ", ends[order[i - 1]], ")"));
    }
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto data =
        file.bytes().subspan(data_start + entries[i].offset, ends[i] - entries[i].offset);
    RWKV_RETURN_IF_ERROR(tensors.Add(entries[i].info, data));
  }
  return absl::OkStatus();
}

// Magic, version and the two counts.
struct Header {
  uint32_t version = 0;
  uint64_t tensor_count = 0;
  uint64_t kv_count = 0;
};

absl::StatusOr<Header> ReadHeader(GgufCursor& in) {
  in.SetContext("header");
  RWKV_ASSIGN_OR_RETURN(const uint32_t magic, in.ReadLE<uint32_t>("magic"));
  if (magic != kGgufMagic) {
    return in.Invalid(absl::StrCat("magic 0x", absl::Hex(magic), " is not \"GGUF\""));
  }
  Header header;
  RWKV_ASSIGN_OR_RETURN(header.version, in.ReadLE<uint32_t>("version"));
  if (header.version != 2 && header.version != 3) {
    const bool swapped = header.version == 0x02000000u || header.version == 0x03000000u;
    return in.Invalid(absl::StrCat("version ", header.version, " is not supported (2 and 3 are)",
                                   swapped ? "; this looks like a big-endian GGUF" : ""));
  }
  RWKV_ASSIGN_OR_RETURN(header.tensor_count, in.ReadLE<uint64_t>("tensor count"));
  RWKV_ASSIGN_OR_RETURN(header.kv_count, in.ReadLE<uint64_t>("metadata count"));
  // A description takes at least 24 bytes (name length, n_dims, type, offset), a key/value 13.
  RWKV_RETURN_IF_ERROR(in.CheckCount(header.tensor_count, 24, "tensor descriptions"));
  RWKV_RETURN_IF_ERROR(in.CheckCount(header.kv_count, 13, "metadata entries"));
  return header;
}

}  // namespace

absl::StatusOr<std::unique_ptr<StoredTensors>> ReadGguf(std::shared_ptr<const MappedFile> file) {
  GgufCursor in(*file);
  RWKV_ASSIGN_OR_RETURN(const Header header, ReadHeader(in));
  auto tensors = std::make_unique<StoredTensors>(file, "GGUF");
  tensors->SetMetadata("GGUF.version", static_cast<int64_t>(header.version));
  RWKV_RETURN_IF_ERROR(ReadMetadata(in, header.kv_count, *tensors));
  std::vector<TensorEntry> entries;
  entries.reserve(header.tensor_count);
  for (uint64_t i = 0; i < header.tensor_count; ++i) {
    RWKV_ASSIGN_OR_RETURN(TensorEntry entry, ReadTensorInfo(in, i));
    entries.push_back(std::move(entry));
  }
  RWKV_ASSIGN_OR_RETURN(const uint64_t alignment, Alignment(*tensors));
  const uint64_t header_end = static_cast<uint64_t>(in.offset());
  const uint64_t data_start = (header_end + alignment - 1) / alignment * alignment;
  if (entries.empty()) return tensors;
  if (data_start > static_cast<uint64_t>(file->size())) {
    return absl::DataLossError(absl::StrCat(file->path(),
                                            ": truncated: the data section starts at ", data_start,
                                            ", the file has ", file->size(), " bytes"));
  }
  RWKV_RETURN_IF_ERROR(AddTensors(entries, data_start, alignment, *tensors));
  return tensors;
}

}  // namespace rwkv::engine
