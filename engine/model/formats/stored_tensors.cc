#include "engine/model/formats/stored_tensors.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/absl_view.h"
#include "common/status_macros.h"
#include "engine/model/quantization.h"
#include "engine/model/stored_rows.h"

namespace rwkv::engine {

std::string DescribeMetadataValue(const MetadataValue& value) {
  struct Visitor {
    std::string operator()(int64_t v) const { return absl::StrCat(v); }
    std::string operator()(double v) const { return absl::StrFormat("%g", v); }
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(const std::string& v) const {
      return v.size() <= 80 ? absl::StrCat("\"", v, "\"")
                            : absl::StrCat("\"", v.substr(0, 77), "...\"");
    }
    std::string operator()(const std::vector<std::string>& v) const {
      return absl::StrCat("[", v.size(), " strings]");
    }
    std::string operator()(const std::vector<int64_t>& v) const {
      return absl::StrCat("[", v.size(), " integers]");
    }
    std::string operator()(const std::vector<double>& v) const {
      return absl::StrCat("[", v.size(), " numbers]");
    }
  };
  return std::visit(Visitor{}, value);
}

StoredTensors::StoredTensors(std::shared_ptr<const MappedFile> file, std::string format)
    : file_(std::move(file)), format_(std::move(format)), description_(file_->path()) {}

absl::Status StoredTensors::Add(TensorInfo info, absl::Span<const uint8_t> data) {
  auto invalid = [&](auto&&... parts) {
    return absl::InvalidArgumentError(
        absl::StrCat(description_, ": tensor '", info.name, "': ", parts...));
  };
  for (size_t i = 0; i < info.ne.size(); ++i) {
    if (info.ne[i] <= 0) return invalid("dimension ", i, " is ", info.ne[i], ", not positive");
  }
  const int64_t elements = info.NumElements();
  if (elements < 0) return invalid("element count of shape ", info.ShapeString(), " overflows");
  const int block = BlockElements(info.type);
  if (block > 1 && (info.ne.empty() || info.ne[0] % block != 0)) {
    return invalid(AsAbsl(GgmlTypeName(info.type)), " needs a row length that is a multiple of ", block,
                   ", shape is ", info.ShapeString());
  }
  absl::StatusOr<int64_t> bytes = StoredBytes(info.type, elements);
  if (!bytes.ok()) return invalid(bytes.status().message());
  if (static_cast<int64_t>(data.size()) != *bytes) {
    return invalid(AsAbsl(GgmlTypeName(info.type)), " ", info.ShapeString(), " needs ", *bytes,
                   " bytes, the file gives ", data.size());
  }
  const auto [it, inserted] = index_.emplace(info.name, tensors_.size());
  if (!inserted) return invalid("appears twice");
  tensors_.push_back(std::move(info));
  data_.push_back(data);
  return absl::OkStatus();
}

void StoredTensors::KeepAlive(std::shared_ptr<const MappedFile> other) {
  kept_alive_.push_back(std::move(other));
}

void StoredTensors::SetMetadata(std::string key, MetadataValue value) {
  metadata_.insert_or_assign(std::move(key), std::move(value));
}

const MetadataValue* StoredTensors::FindMetadata(std::string_view key) const {
  const auto it = metadata_.find(std::string(key));
  return it == metadata_.end() ? nullptr : &it->second;
}

const TensorInfo* StoredTensors::Find(std::string_view name) const {
  const auto it = index_.find(AsAbsl(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

absl::StatusOr<absl::Span<const uint8_t>> StoredTensors::RawData(std::string_view name) const {
  const auto it = index_.find(AsAbsl(name));
  if (it == index_.end()) {
    return absl::NotFoundError(
        absl::StrCat(description_, ": no tensor named '", AsAbsl(name), "'"));
  }
  return data_[it->second];
}

absl::Status StoredTensors::ReadF32(std::string_view name, absl::Span<float> out) const {
  RWKV_ASSIGN_OR_RETURN(const absl::Span<const uint8_t> data, RawData(name));
  const TensorInfo& info = *Find(name);
  if (static_cast<int64_t>(out.size()) != info.NumElements()) {
    return absl::InvalidArgumentError(
        absl::StrCat(description_, ": tensor '", info.name, "' has ", info.NumElements(),
                     " elements ", info.ShapeString(), " but the output holds ", out.size()));
  }
  const absl::Status status = DequantizeRow(info.type, data.data(), data.size(), out);
  if (!status.ok()) {
    return absl::Status(status.code(), absl::StrCat(description_, ": tensor '", info.name,
                                                    "': ", status.message()));
  }
  return absl::OkStatus();
}

absl::Status StoredTensors::ReadF32Rows(std::string_view name, absl::Span<float> buffer,
                                        RowConsumer consume) const {
  const TensorInfo* info = Find(name);
  if (info == nullptr || !RowsDecodeAlone(*info)) {
    return TensorSource::ReadF32Rows(name, buffer, consume);
  }
  const absl::Span<const uint8_t> data = *RawData(name);
  return DecodeStoredRows(description_, *info, data, Holder(data), buffer, consume);
}

absl::Status StoredTensors::ReadStoredRows(std::string_view name, int64_t max_rows,
                                           StoredRowConsumer consume) const {
  const TensorInfo* info = Find(name);
  if (info == nullptr || !RowsDecodeAlone(*info)) {
    return TensorSource::ReadStoredRows(name, max_rows, consume);
  }
  const absl::Span<const uint8_t> data = *RawData(name);
  return ReadStoredRunsOf(description_, *info, data, Holder(data), max_rows, consume);
}

uint64_t StoredTensors::ContentHash(std::string_view name) const {
  const TensorInfo* info = Find(name);
  return info == nullptr ? 0 : HashStoredAs(*info, name);
}

uint64_t StoredTensors::HashStoredAs(const TensorInfo& info, std::string_view name) const {
  const absl::StatusOr<absl::Span<const uint8_t>> data = RawData(name);
  return data.ok() ? HashStoredTensor(info, *data, Holder(*data)) : 0;
}

const MappedFile& StoredTensors::Holder(absl::Span<const uint8_t> data) const {
  for (const auto& other : kept_alive_) {
    if (other->Contains(data)) return *other;
  }
  return *file_;
}

void StoredTensors::ReleaseAll() const {
  file_->Release(file_->bytes());
  for (const auto& other : kept_alive_) other->Release(other->bytes());
}

void StoredTensors::Release(std::string_view name) const {
  const absl::StatusOr<absl::Span<const uint8_t>> data = RawData(name);
  if (data.ok()) Holder(*data).Release(*data);
}

}  // namespace rwkv::engine
