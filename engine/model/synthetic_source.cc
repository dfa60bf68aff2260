#include "engine/model/synthetic_source.h"

#include <cmath>
#include <cstddef>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/hash64.h"
#include "common/status_macros.h"

namespace rwkv::engine {
namespace {

// RWKV-LM's default LoRA rank: max(32, round(factor * sqrt(C) / 32) * 32).
int64_t LoraRank(int64_t width, double factor) {
  const int64_t rank = std::llround(factor * std::sqrt(static_cast<double>(width)) / 32.0) * 32;
  return std::max<int64_t>(32, rank);
}

// splitmix64: small, fast and good enough to fill weights reproducibly.
uint64_t NextRandom(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

const std::vector<SyntheticShape>& SyntheticShapes() {
  static const auto* shapes = new std::vector<SyntheticShape>{
      {"rwkv7-0.1b", 768, 12},
      {"rwkv7-0.4b", 1024, 24},
      {"rwkv7-1.5b", 2048, 24},
  };
  return *shapes;
}

absl::StatusOr<std::unique_ptr<SyntheticSource>> SyntheticSource::Create(
    absl::string_view shape_name) {
  std::vector<std::string> known;
  for (const SyntheticShape& shape : SyntheticShapes()) {
    if (shape.name == shape_name) return FromShape(shape);
    known.push_back(shape.name);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown synthetic model shape '", shape_name,
                                                 "'; known: ", absl::StrJoin(known, ", ")));
}

std::unique_ptr<SyntheticSource> SyntheticSource::FromShape(const SyntheticShape& shape) {
  return std::unique_ptr<SyntheticSource>(new SyntheticSource(shape));
}

SyntheticSource::SyntheticSource(const SyntheticShape& shape)
    : shape_(shape), description_(absl::StrCat("synthetic:", shape.name)) {
  const int64_t c = shape.n_embed;
  const float unit = 1.0f / std::sqrt(static_cast<float>(c));
  Add("emb.weight", {c, shape.n_vocab}, {0.0f, 1.0f});
  Add("blocks.0.ln0.weight", {c}, {1.0f, 0.0f});
  Add("blocks.0.ln0.bias", {c}, {0.0f, 0.0f});
  for (int l = 0; l < shape.n_layer; ++l) AddLayer(l);
  Add("ln_out.weight", {c}, {1.0f, 0.0f});
  Add("ln_out.bias", {c}, {0.0f, 0.0f});
  Add("head.weight", {c, shape.n_vocab}, {0.0f, unit});
}

void SyntheticSource::AddLayer(int l) {
  const int64_t c = shape_.n_embed;
  const int64_t f = 4 * c;
  const int64_t heads = c / shape_.head_size;
  const float unit = 1.0f / std::sqrt(static_cast<float>(c));
  auto name = [l](absl::string_view suffix) { return absl::StrCat("blocks.", l, ".", suffix); };
  auto lora = [&](absl::string_view down, absl::string_view up, int64_t rank) {
    Add(name(down), {c, rank}, {0.0f, unit});
    Add(name(up), {rank, c}, {0.0f, 1.0f / std::sqrt(static_cast<float>(rank))});
  };
  Add(name("ln1.weight"), {c}, {1.0f, 0.0f});
  Add(name("ln1.bias"), {c}, {0.0f, 0.0f});
  Add(name("ln2.weight"), {c}, {1.0f, 0.0f});
  Add(name("ln2.bias"), {c}, {0.0f, 0.0f});
  Add(name("att.x_rwkvag"), {c, 1, 6}, {0.5f, 0.5f});
  Add(name("att.w0"), {c, 1, 1}, {0.0f, 2.0f});
  lora("att.w1", "att.w2", LoraRank(c, 2.5));
  Add(name("att.a0"), {c, 1, 1}, {0.0f, 1.0f});
  lora("att.a1", "att.a2", LoraRank(c, 2.5));
  if (l > 0) {
    Add(name("att.v0"), {c, 1, 1}, {0.0f, 1.0f});
    lora("att.v1", "att.v2", LoraRank(c, 1.7));
  }
  lora("att.g1", "att.g2", LoraRank(c, 5.0));
  Add(name("att.k_k"), {c, 1, 1}, {0.8f, 0.2f});
  Add(name("att.k_a"), {c, 1, 1}, {0.8f, 0.2f});
  Add(name("att.r_k"), {shape_.head_size, heads}, {0.0f, 0.1f});
  for (const char* m : {"receptance", "key", "value", "output"}) {
    Add(name(absl::StrCat("att.", m, ".weight")), {c, c}, {0.0f, unit});
  }
  Add(name("att.ln_x.weight"), {c}, {1.0f, 0.0f});
  Add(name("att.ln_x.bias"), {c}, {0.0f, 0.0f});
  Add(name("ffn.x_k"), {c, 1, 1}, {0.5f, 0.5f});
  Add(name("ffn.key.weight"), {c, f}, {0.0f, unit});
  Add(name("ffn.value.weight"), {f, c}, {0.0f, 1.0f / std::sqrt(static_cast<float>(f))});
}

void SyntheticSource::Add(std::string name, std::vector<int64_t> ne, Fill fill) {
  index_[name] = tensors_.size();
  tensors_.push_back({std::move(name), std::move(ne), GgmlType::kF32});
  fills_.push_back(fill);
}

const TensorInfo* SyntheticSource::Find(std::string_view name) const {
  auto it = index_.find(absl::string_view(name.data(), name.size()));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

absl::Status SyntheticSource::ReadF32(std::string_view std_name, absl::Span<float> out) const {
  const absl::string_view name(std_name.data(), std_name.size());
  auto it = index_.find(name);
  if (it == index_.end()) {
    return absl::NotFoundError(absl::StrCat(description_, ": no tensor '", name, "'"));
  }
  const TensorInfo& info = tensors_[it->second];
  if (static_cast<int64_t>(out.size()) != info.NumElements()) {
    return absl::InvalidArgumentError(absl::StrCat(description_, ": tensor '", name, "' has ",
                                                   info.NumElements(), " elements, not ",
                                                   out.size()));
  }
  uint64_t state = ContentHash(std_name);
  Draw(fills_[it->second], state, out);
  return absl::OkStatus();
}

void SyntheticSource::Draw(const Fill& fill, uint64_t& state, absl::Span<float> out) {
  for (float& value : out) {
    const float unit = static_cast<float>(NextRandom(state) >> 40) * 0x1.0p-24f;  // [0, 1)
    value = fill.center + fill.spread * (2.0f * unit - 1.0f);
  }
}

absl::Status SyntheticSource::ReadF32Rows(std::string_view std_name, absl::Span<float> buffer,
                                          RowConsumer consume) const {
  auto it = index_.find(absl::string_view(std_name.data(), std_name.size()));
  if (it == index_.end()) return TensorSource::ReadF32Rows(std_name, buffer, consume);
  uint64_t state = ContentHash(std_name);
  return ForEachRowRun(description_, tensors_[it->second], buffer.size(),
                       [&](int64_t first_row, int64_t, int64_t count) {
                         const absl::Span<float> values =
                             buffer.subspan(0, static_cast<size_t>(count));
                         Draw(fills_[it->second], state, values);
                         return consume(first_row, values);
                       });
}

uint64_t SyntheticSource::ContentHash(std::string_view name) const {
  Hash64 hash;
  hash.Update(description_.data(), description_.size());
  hash.Update(name.data(), name.size());
  return hash.Digest();
}

}  // namespace rwkv::engine
