#include "engine/model/rwkv_cpp_file.h"

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/absl_view.h"
#include "engine/model/quantization.h"
#include "engine/model/stored_rows.h"
#include "common/hash64.h"
#include "common/status_macros.h"

namespace rwkv::engine {
namespace {

constexpr int64_t kRecordFixedBytes = 12;  // dim_count, name_length, data_type.

absl::string_view TypeName(GgmlType type) { return AsAbsl(GgmlTypeName(type)); }

// Every integer in the file is little-endian, whatever the host.
uint32_t LoadU32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
int32_t LoadI32(const uint8_t* p) { return static_cast<int32_t>(LoadU32(p)); }

// The file, seen as bytes; every read goes through Has() first.
struct Bytes {
  const uint8_t* base;
  int64_t size;
  const std::string& path;

  bool Has(int64_t offset, int64_t count) const { return count <= size - offset; }
};

absl::Status ValidateHeaderType(const Bytes& file, const RwkvCppFile::Header& header) {
  absl::StatusOr<GgmlType> type = GgmlTypeFromCode(header.data_type);
  if (!type.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path, ": header: ", type.status().message()));
  }
  if (header.version == 100 && IsBlockQuantized(*type)) {
    return absl::InvalidArgumentError(absl::StrCat(
        file.path, ": header: data type ", TypeName(*type),
        " in a version 100 file, whose old quantized block layout is not supported; reconvert "
        "the model to file version 101"));
  }
  return absl::OkStatus();
}

absl::StatusOr<RwkvCppFile::Header> ParseHeader(const Bytes& file) {
  // A short file with the wrong magic is "not a model file" rather than "truncated".
  if (file.Has(0, 4) && LoadU32(file.base) != RwkvCppFile::kMagic) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s is not an rwkv.cpp model file (magic 0x%08x, expected 0x%08x)",
                        file.path, LoadU32(file.base), RwkvCppFile::kMagic));
  }
  if (!file.Has(0, RwkvCppFile::kHeaderBytes)) {
    return absl::DataLossError(absl::StrCat(file.path, ": truncated: the header needs ",
                                            RwkvCppFile::kHeaderBytes,
                                            " bytes but the file has only ", file.size));
  }
  RwkvCppFile::Header header;
  header.version = LoadU32(file.base + 4);
  header.n_vocab = LoadI32(file.base + 8);
  header.n_embed = LoadI32(file.base + 12);
  header.n_layer = LoadI32(file.base + 16);
  header.data_type = LoadI32(file.base + 20);
  if (header.version != 100 && header.version != 101) {
    return absl::InvalidArgumentError(absl::StrCat(file.path, ": unsupported file version ",
                                                   header.version, " (expected 100 or 101)"));
  }
  if (header.n_vocab <= 0 || header.n_embed <= 0 || header.n_layer <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path, ": header dimensions must be positive: n_vocab ", header.n_vocab,
                     ", n_embed ", header.n_embed, ", n_layer ", header.n_layer));
  }
  RWKV_RETURN_IF_ERROR(ValidateHeaderType(file, header));
  return header;
}

struct Record {
  TensorInfo info;
  int64_t data_offset = 0;
  int64_t data_bytes = 0;
};

// Where a record starts, for messages about it.
std::string RecordPlace(int index, int64_t offset) {
  return absl::StrCat("tensor record #", index, " at offset ", offset);
}

// Checks the shape and type of a record whose name is known; returns its data size in bytes.
absl::StatusOr<int64_t> ValidateTensor(const Bytes& file, uint32_t version, int32_t type_code,
                                       const std::string& where, TensorInfo& info) {
  auto invalid = [&](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(file.path, ": ", where, ": ", parts...));
  };
  absl::StatusOr<GgmlType> type = GgmlTypeFromCode(type_code);
  if (!type.ok()) return invalid(type.status().message());
  info.type = *type;
  for (size_t i = 0; i < info.ne.size(); ++i) {
    if (info.ne[i] <= 0) return invalid("ne[", i, "] = ", info.ne[i], " is not positive");
  }
  const int64_t elements = info.NumElements();
  if (elements < 0) return invalid("element count of shape ", info.ShapeString(), " overflows");
  if (IsBlockQuantized(info.type)) {
    if (version == 100) {
      return invalid("quantized type ", TypeName(info.type),
                     " in a version 100 file, whose old block layout is not supported; "
                     "reconvert the model to file version 101");
    }
    if (info.ne[0] % kQuantBlockElements != 0) {
      return invalid(TypeName(info.type), " needs ne[0] to be a multiple of ", kQuantBlockElements,
                     ", shape is ", info.ShapeString());
    }
  }
  absl::StatusOr<int64_t> bytes = StoredBytes(info.type, elements);
  if (!bytes.ok()) return invalid(bytes.status().message());
  return *bytes;
}

// Parses the record at `offset` (< file.size) and checks that its data lies inside the file.
absl::StatusOr<Record> ParseRecord(const Bytes& file, uint32_t version, int index, int64_t offset) {
  const std::string place = RecordPlace(index, offset);
  auto truncated = [&](std::string_view what, int64_t need, int64_t at) {
    return absl::DataLossError(absl::StrCat(file.path, ": truncated: ", AsAbsl(what), " of ", place,
                                            " needs ", need, " bytes at offset ", at,
                                            " but the file has only ", file.size - at));
  };
  if (!file.Has(offset, kRecordFixedBytes)) {
    return truncated("header", kRecordFixedBytes, offset);
  }
  const int32_t dim_count = LoadI32(file.base + offset);
  const int32_t name_length = LoadI32(file.base + offset + 4);
  const int32_t type_code = LoadI32(file.base + offset + 8);
  if (dim_count < 1 || dim_count > 3) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path, ": ", place, ": dim_count ", dim_count, " is not 1, 2 or 3"));
  }
  if (name_length < 1 || name_length > RwkvCppFile::kMaxNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat(file.path, ": ", place, ": name length ",
                                                   name_length, " is not in 1..",
                                                   RwkvCppFile::kMaxNameBytes));
  }
  const int64_t ne_offset = offset + kRecordFixedBytes;
  if (!file.Has(ne_offset, 4 * dim_count)) return truncated("sizes", 4 * dim_count, ne_offset);
  const int64_t name_offset = ne_offset + 4 * dim_count;
  if (!file.Has(name_offset, name_length)) return truncated("name", name_length, name_offset);

  Record record;
  for (int i = 0; i < dim_count; ++i) {
    record.info.ne.push_back(LoadI32(file.base + ne_offset + 4 * i));
  }
  record.info.name.assign(reinterpret_cast<const char*>(file.base + name_offset), name_length);
  const std::string where = absl::StrCat("tensor '", record.info.name, "' (", place, ")");
  RWKV_ASSIGN_OR_RETURN(record.data_bytes,
                        ValidateTensor(file, version, type_code, where, record.info));
  record.data_offset = name_offset + name_length;
  if (!file.Has(record.data_offset, record.data_bytes)) {
    return absl::DataLossError(absl::StrCat(
        file.path, ": truncated: tensor '", record.info.name, "' needs ", record.data_bytes,
        " bytes at offset ", record.data_offset, " but the file has only ",
        file.size - record.data_offset, " (file size ", file.size, ")"));
  }
  return record;
}

}  // namespace

absl::Status RwkvCppFile::Map() {
  absl::StatusOr<std::shared_ptr<const MappedFile>> file = MappedFile::Open(path_);
  if (!file.ok()) {
    return absl::Status(file.status().code(),
                        absl::StrCat(file.status().message(), " (an rwkv.cpp model file starts with ",
                                     "a ", kHeaderBytes, "-byte header)"));
  }
  file_ = *std::move(file);
  base_ = file_->bytes().data();
  size_ = file_->size();
  return absl::OkStatus();
}

absl::Status RwkvCppFile::Parse() {
  const Bytes bytes{base_, size_, path_};
  RWKV_ASSIGN_OR_RETURN(header_, ParseHeader(bytes));
  int64_t offset = kHeaderBytes;
  for (int index = 0; offset < size_; ++index) {
    RWKV_ASSIGN_OR_RETURN(Record record, ParseRecord(bytes, header_.version, index, offset));
    const auto [it, inserted] = index_.emplace(record.info.name, tensors_.size());
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          path_, ": duplicate tensor '", record.info.name, "' (", RecordPlace(index, offset),
          "; first at data offset ", extents_[it->second].offset, ")"));
    }
    offset = record.data_offset + record.data_bytes;
    extents_.push_back({record.data_offset, record.data_bytes});
    tensors_.push_back(std::move(record.info));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<RwkvCppFile>> RwkvCppFile::Open(const std::string& path) {
  auto file = absl::WrapUnique(new RwkvCppFile(path));
  RWKV_RETURN_IF_ERROR(file->Map());
  RWKV_RETURN_IF_ERROR(file->Parse());
  // Reading the records' headers paged in large parts of the file around them (the kernel maps
  // whole folios): 114 MiB of a 365 MiB file. Tensors page their bytes in as they are read.
  file->file_->Release(file->file_->bytes());
  return file;
}

absl::StatusOr<std::unique_ptr<RwkvCppFile>> RwkvCppFile::FromBytes(std::string name,
                                                                    std::string bytes) {
  auto file = absl::WrapUnique(new RwkvCppFile(std::move(name)));
  file->file_ = MappedFile::FromBytes(file->path_, std::move(bytes));
  file->base_ = file->file_->bytes().data();
  file->size_ = file->file_->size();
  RWKV_RETURN_IF_ERROR(file->Parse());
  return file;
}

const TensorInfo* RwkvCppFile::Find(std::string_view name) const {
  const auto it = index_.find(AsAbsl(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

absl::StatusOr<absl::Span<const uint8_t>> RwkvCppFile::RawData(std::string_view name) const {
  const auto it = index_.find(AsAbsl(name));
  if (it == index_.end()) {
    return absl::NotFoundError(absl::StrCat(path_, ": no tensor named '", AsAbsl(name), "'"));
  }
  const Extent& extent = extents_[it->second];
  return absl::Span<const uint8_t>(base_ + extent.offset, static_cast<size_t>(extent.bytes));
}

int64_t RwkvCppFile::DataOffset(std::string_view name) const {
  const auto it = index_.find(AsAbsl(name));
  return it == index_.end() ? -1 : extents_[it->second].offset;
}

absl::Status RwkvCppFile::ReadF32(std::string_view name, absl::Span<float> out) const {
  const TensorInfo* info = Find(name);
  if (info == nullptr) {
    return absl::NotFoundError(absl::StrCat(path_, ": no tensor named '", AsAbsl(name), "'"));
  }
  if (static_cast<int64_t>(out.size()) != info->NumElements()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": tensor '", AsAbsl(name), "' has ", info->NumElements(), " elements ",
                     info->ShapeString(), " but the output holds ", out.size()));
  }
  RWKV_ASSIGN_OR_RETURN(const absl::Span<const uint8_t> data, RawData(name));
  const absl::Status status = DequantizeRow(info->type, data.data(), data.size(), out);
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat(path_, ": tensor '", AsAbsl(name), "': ", status.message()));
  }
  return absl::OkStatus();
}

absl::Status RwkvCppFile::ReadF32Rows(std::string_view name, absl::Span<float> buffer,
                                      RowConsumer consume) const {
  const TensorInfo* info = Find(name);
  if (info == nullptr || !RowsDecodeAlone(*info)) {
    return TensorSource::ReadF32Rows(name, buffer, consume);
  }
  return DecodeStoredRows(path_, *info, *RawData(name), *file_, buffer, consume);
}

absl::Status RwkvCppFile::ReadStoredRows(std::string_view name, int64_t max_rows,
                                         StoredRowConsumer consume) const {
  const TensorInfo* info = Find(name);
  if (info == nullptr || !RowsDecodeAlone(*info)) {
    return TensorSource::ReadStoredRows(name, max_rows, consume);
  }
  const absl::Span<const uint8_t> data = *RawData(name);
  return ReadStoredRunsOf(path_, *info, data, *file_, max_rows, consume);
}

uint64_t RwkvCppFile::ContentHash(std::string_view name) const {
  const TensorInfo* info = Find(name);
  if (info == nullptr) return 0;
  return HashStoredTensor(*info, *RawData(name), *file_);
}

}  // namespace rwkv::engine
