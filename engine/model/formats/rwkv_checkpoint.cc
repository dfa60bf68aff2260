#include "engine/model/formats/rwkv_checkpoint.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/absl_view.h"
#include "common/status_macros.h"
#include "engine/model/formats/checkpoint_families.h"
#include "engine/model/formats/rwkv_cpp_layout.h"
#include "engine/model/quantization.h"

namespace rwkv::engine {
namespace {

std::vector<int64_t> Reversed(const std::vector<int64_t>& shape) {
  return std::vector<int64_t>(shape.rbegin(), shape.rend());
}

// The vocabulary of a GGUF whose tokenizer is "rwkv" (llama.cpp's World-tokenizer export).
absl::StatusOr<std::vector<std::string>> GgufVocabulary(const StoredTensors& stored) {
  const MetadataValue* model = stored.FindMetadata("tokenizer.ggml.model");
  const MetadataValue* tokens = stored.FindMetadata("tokenizer.ggml.tokens");
  if (model == nullptr || tokens == nullptr) return std::vector<std::string>{};
  const auto* model_name = std::get_if<std::string>(model);
  const auto* list = std::get_if<std::vector<std::string>>(tokens);
  if (model_name == nullptr || *model_name != "rwkv" || list == nullptr) {
    return std::vector<std::string>{};
  }
  // llama.cpp marks padding ([PAD65530]...) UNUSED and <s> CONTROL: no text may encode to them.
  const MetadataValue* types = stored.FindMetadata("tokenizer.ggml.token_type");
  const auto* type_list = types == nullptr ? nullptr : std::get_if<std::vector<int64_t>>(types);
  constexpr int64_t kNormal = 1;
  std::vector<std::string> vocabulary;
  vocabulary.reserve(list->size());
  for (size_t id = 0; id < list->size(); ++id) {
    if (type_list != nullptr && id < type_list->size() && (*type_list)[id] != kNormal) {
      vocabulary.emplace_back();
      continue;
    }
    absl::StatusOr<std::string> bytes = UnescapeRwkvGgufToken((*list)[id]);
    if (!bytes.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(stored.Describe(), ": token ", id,
                                                     " of tokenizer.ggml.tokens: ",
                                                     bytes.status().message()));
    }
    vocabulary.push_back(*std::move(bytes));
  }
  return vocabulary;
}

}  // namespace

absl::StatusOr<std::string> UnescapeRwkvGgufToken(std::string_view token) {
  std::string out;
  for (size_t i = 0; i < token.size(); ++i) {
    if (token[i] != '\\') {
      out.push_back(token[i]);
      continue;
    }
    if (++i == token.size()) return absl::InvalidArgumentError("token ends inside an escape");
    switch (token[i]) {
      case '\\': case '\'': case '"': out.push_back(token[i]); break;
      case 'n': out.push_back('\n'); break;
      case 't': out.push_back('\t'); break;
      case 'r': out.push_back('\r'); break;
      case 'x': {
        int value = 0;
        if (token.size() - i < 3 || !absl::ascii_isxdigit(token[i + 1]) ||
            !absl::ascii_isxdigit(token[i + 2]) ||
            !absl::SimpleHexAtoi(AsAbsl(token.substr(i + 1, 2)), &value)) {
          return absl::InvalidArgumentError(absl::StrCat("bad \\x escape in '", AsAbsl(token), "'"));
        }
        out.push_back(static_cast<char>(value));
        i += 2;
        break;
      }
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("unknown escape \\", std::string(1, token[i]), " in '", AsAbsl(token), "'"));
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<RwkvCheckpoint>> RwkvCheckpoint::Create(
    std::unique_ptr<StoredTensors> stored, int head_size_hint) {
  auto checkpoint = std::unique_ptr<RwkvCheckpoint>(new RwkvCheckpoint());
  RWKV_ASSIGN_OR_RETURN(BlinkdlView view, MapToBlinkdl(*stored, head_size_hint));
  RWKV_ASSIGN_OR_RETURN(std::vector<TensorPlan> plans,
                        PlanRwkvCppTensors(view, stored->Describe()));
  checkpoint->family_ = std::move(view.family);
  checkpoint->unused_ = std::move(view.unused);
  checkpoint->stored_ = std::move(stored);
  for (TensorPlan& plan : plans) RWKV_RETURN_IF_ERROR(checkpoint->AddPlan(std::move(plan)));
  RWKV_ASSIGN_OR_RETURN(checkpoint->vocabulary_, GgufVocabulary(*checkpoint->stored_));
  return checkpoint;
}

absl::Status RwkvCheckpoint::AddPlan(TensorPlan plan) {
  TensorInfo info{plan.name, Reversed(plan.shape), GgmlType::kF32};
  if (info.NumElements() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(Describe(), ": tensor '", plan.name,
                                                   "' has an invalid shape ", info.ShapeString()));
  }
  int64_t parts_elements = 0;
  for (const Part& part : plan.parts) parts_elements += ShapeElements(part.shape);
  if (parts_elements != info.NumElements()) {
    return absl::InvalidArgumentError(absl::StrCat(Describe(), ": tensor '", plan.name, "' needs ",
                                                   info.NumElements(), " elements, its sources ",
                                                   "give ", parts_elements));
  }
  Entry entry;
  const Part& first = plan.parts.front();
  const TensorInfo* source = stored_->Find(first.sources.front());
  const bool unchanged = plan.parts.size() == 1 && first.sources.size() == 1 &&
                         first.slices == 1 && first.scale == 1.0f &&
                         plan.value == ValueOp::kNone && LayoutsCancel(first.layout, plan.layout);
  if (unchanged && source != nullptr) {
    const GgmlType type = source->type;
    const bool keeps_type =
        type == GgmlType::kF32 ||
        (type == GgmlType::kF16 && RwkvCppKeepsF16(plan.name, plan.shape)) ||
        (IsBlockQuantized(type) && !info.ne.empty() && info.ne[0] == source->ne[0]);
    if (keeps_type) {
      entry.passthrough = true;
      info.type = type;
    }
  }
  // An F16 tensor that is only reordered (v7's transposed LoRAs) stays F16, as rwkv.cpp's
  // converter keeps it: the values are exact in F16, so the content hash (and the fingerprint)
  // equals that of the FP16 .bin.
  const bool reordered_f16 =
      plan.parts.size() == 1 && first.sources.size() == 1 && first.slices == 1 &&
      first.scale == 1.0f && plan.value == ValueOp::kNone && source != nullptr &&
      source->type == GgmlType::kF16 && RwkvCppKeepsF16(plan.name, plan.shape);
  if (!entry.passthrough && reordered_f16) info.type = GgmlType::kF16;
  entry.plan = std::move(plan);
  const auto [it, inserted] = index_.emplace(info.name, tensors_.size());
  if (!inserted) {
    return absl::InvalidArgumentError(
        absl::StrCat(Describe(), ": two tensors map to '", info.name, "'"));
  }
  tensors_.push_back(std::move(info));
  entries_.push_back(std::move(entry));
  return absl::OkStatus();
}

const TensorInfo* RwkvCheckpoint::Find(std::string_view name) const {
  const auto it = index_.find(AsAbsl(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

absl::Status RwkvCheckpoint::ReadF32(std::string_view name, absl::Span<float> out) const {
  const auto it = index_.find(AsAbsl(name));
  if (it == index_.end()) {
    return absl::NotFoundError(absl::StrCat(Describe(), ": no tensor named '", AsAbsl(name), "'"));
  }
  const TensorInfo& info = tensors_[it->second];
  if (static_cast<int64_t>(out.size()) != info.NumElements()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Describe(), ": tensor '", info.name, "' has ", info.NumElements(),
                     " elements ", info.ShapeString(), " but the output holds ", out.size()));
  }
  return ReadEntry(entries_[it->second], out);
}

absl::Status RwkvCheckpoint::ReadF32Rows(std::string_view name, absl::Span<float> buffer,
                                         RowConsumer consume) const {
  const auto it = index_.find(AsAbsl(name));
  if (it == index_.end()) return TensorSource::ReadF32Rows(name, buffer, consume);
  const TensorInfo& info = tensors_[it->second];
  const Entry& entry = entries_[it->second];
  const TensorPlan& plan = entry.plan;
  if (IsElementwise(plan)) {
    // The stored tensor in its own rows, converted as ReadEntry converts it, when they are ours.
    const Part& part = plan.parts[0];
    const TensorInfo& source = *stored_->Find(part.sources[0]);
    if (RowElements(source) == RowElements(info) && source.NumElements() == info.NumElements()) {
      return stored_->ReadF32Rows(source.name, buffer,
                                  [&](int64_t first_row, absl::Span<float> rows) {
                                    if (part.scale != 1.0f) {
                                      for (float& x : rows) x *= part.scale;
                                    }
                                    ApplyValueOp(plan.value, rows);
                                    return consume(first_row, rows);
                                  });
    }
  }
  RWKV_RETURN_IF_ERROR(TensorSource::ReadF32Rows(name, buffer, consume));
  ReleaseSources(entry);
  return absl::OkStatus();
}

absl::Status RwkvCheckpoint::ReadStoredRows(std::string_view name, int64_t max_rows,
                                            StoredRowConsumer consume) const {
  const auto it = index_.find(AsAbsl(name));
  if (it == index_.end() || !entries_[it->second].passthrough) {
    return TensorSource::ReadStoredRows(name, max_rows, consume);
  }
  // Stored as the engine reads it, under another name.
  return stored_->ReadStoredRows(entries_[it->second].plan.parts[0].sources[0], max_rows, consume);
}

void RwkvCheckpoint::ReleaseSources(const Entry& entry) const {
  for (const Part& part : entry.plan.parts) {
    for (const std::string& source : part.sources) stored_->Release(source);
  }
}

absl::Status RwkvCheckpoint::ReadEntry(const Entry& entry, absl::Span<float> out) const {
  const TensorPlan& plan = entry.plan;
  std::vector<float> scratch;
  if (IsElementwise(plan)) {
    // The common case (a bf16 matrix): converted straight into `out`.
    const Part& part = plan.parts[0];
    RWKV_RETURN_IF_ERROR(stored_->ReadF32(part.sources[0], out));
    if (part.scale != 1.0f) {
      for (float& x : out) x *= part.scale;
    }
  } else {
    std::vector<float> joined(out.size());
    size_t offset = 0;
    for (const Part& part : plan.parts) {
      const size_t n = static_cast<size_t>(ShapeElements(part.shape));
      RWKV_RETURN_IF_ERROR(ReadPart(part, scratch, absl::MakeSpan(joined).subspan(offset, n)));
      offset += n;
    }
    std::vector<int64_t> shape = plan.shape;
    // The plan's layout maps the joined BlinkDL shape to `plan.shape`; undo it for the input.
    if (plan.layout != Layout::kAsIs) {
      shape = plan.parts[0].shape;
      RWKV_RETURN_IF_ERROR(ApplyLayoutToShape(plan.parts[0].layout, shape));
    }
    ApplyLayout(plan.layout, shape, joined, out);
  }
  ApplyValueOp(plan.value, out);
  return absl::OkStatus();
}

// Reads `part` into `out` (its BlinkDL shape, scaled). `scratch` holds the sources.
absl::Status RwkvCheckpoint::ReadPart(const Part& part, std::vector<float>& scratch,
                                      absl::Span<float> out) const {
  int64_t total = 0;
  for (const std::string& source : part.sources) total += stored_->Find(source)->NumElements();
  scratch.resize(static_cast<size_t>(total));
  size_t offset = 0;
  for (const std::string& source : part.sources) {
    const size_t n = static_cast<size_t>(stored_->Find(source)->NumElements());
    RWKV_RETURN_IF_ERROR(stored_->ReadF32(source, absl::MakeSpan(scratch).subspan(offset, n)));
    offset += n;
  }
  const size_t n = out.size();
  const absl::Span<const float> slice =
      absl::MakeConstSpan(scratch).subspan(static_cast<size_t>(part.slice) * n, n);
  ApplyLayout(part.layout, part.shape, slice, out);
  if (part.scale != 1.0f) {
    for (float& x : out) x *= part.scale;
  }
  return absl::OkStatus();
}

bool RwkvCheckpoint::IsElementwise(const TensorPlan& plan) {
  // Two reorderings that cancel leave the stored order.
  return plan.parts.size() == 1 && plan.parts[0].sources.size() == 1 &&
         plan.parts[0].slices == 1 && LayoutsCancel(plan.parts[0].layout, plan.layout);
}

// The hash of the converted f32 values, converted a chunk at a time: a bf16 embedding of a large
// vocabulary would otherwise need a whole f32 copy next to the loaded model.
uint64_t RwkvCheckpoint::HashConvertedInChunks(const TensorInfo& info) const {
  const int64_t total = info.NumElements();
  constexpr int64_t kChunk = int64_t{1} << 18;
  std::vector<float> chunk(
      static_cast<size_t>(std::min(total, std::max(kChunk, RowElements(info)))));
  TensorContentHasher hasher(info, static_cast<uint64_t>(total) * sizeof(float));
  // ReadF32Rows releases the stored pages behind each run.
  const absl::Status read =
      ReadF32Rows(info.name, absl::MakeSpan(chunk), [&](int64_t, absl::Span<float> values) {
        hasher.Update(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(values.data()),
                                          values.size() * sizeof(float)));
        return absl::OkStatus();
      });
  return read.ok() ? hasher.Digest() : 0;
}

uint64_t RwkvCheckpoint::ContentHash(std::string_view name) const {
  const auto it = index_.find(AsAbsl(name));
  if (it == index_.end()) return 0;
  const uint64_t hash = HashEntry(tensors_[it->second], entries_[it->second]);
  ReleaseSources(entries_[it->second]);
  return hash;
}

uint64_t RwkvCheckpoint::HashEntry(const TensorInfo& info, const Entry& entry) const {
  if (entry.passthrough) return stored_->HashStoredAs(info, entry.plan.parts[0].sources[0]);
  if (info.type == GgmlType::kF32 && IsElementwise(entry.plan)) {
    return HashConvertedInChunks(info);
  }
  std::vector<float> values(static_cast<size_t>(info.NumElements()));
  if (!ReadEntry(entry, absl::MakeSpan(values)).ok()) return 0;
  if (info.type == GgmlType::kF16) {
    const absl::StatusOr<std::vector<uint8_t>> f16 = QuantizeRow(GgmlType::kF16, values);
    return f16.ok() ? HashTensorContent(info, *f16) : 0;
  }
  return HashTensorContent(
      info, absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(values.data()),
                                values.size() * sizeof(float)));
}

}  // namespace rwkv::engine
