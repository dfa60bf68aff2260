#include "tests/util/reference_data.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cctype>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "tests/util/shared_data.h"

namespace rwkv::testing {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

absl::StatusOr<Struct> ReadJson(const std::string& path) {
  RWKV_ASSIGN_OR_RETURN(std::string text, ReadFileBytes(path));
  Struct out;
  auto status = google::protobuf::util::JsonStringToMessage(text, &out);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", status.ToString()));
  }
  return out;
}

const Value& Field(const Struct& s, const std::string& key) {
  static const Value* empty = new Value();
  auto it = s.fields().find(key);
  return it == s.fields().end() ? *empty : it->second;
}

template <typename T>
std::vector<T> NumberList(const Value& v) {
  std::vector<T> out;
  for (const Value& item : v.list_value().values())
    out.push_back(static_cast<T>(item.number_value()));
  return out;
}

absl::StatusOr<ReferenceSet> LoadSet(const Struct& entry) {
  ReferenceSet set;
  const std::string sidecar = Field(entry, "sidecar").string_value();
  set.name = sidecar.substr(0, sidecar.size() - std::strlen(".json"));
  set.model_path = SharedPath(Field(entry, "model_file").string_value());
  std::vector<std::string> parts = absl::StrSplit(set.name, absl::ByAnyChar("-."));
  set.weight_type = parts.size() >= 2 ? parts[parts.size() - 2] : "";
  RWKV_ASSIGN_OR_RETURN(Struct meta, ReadJson(SharedPath(absl::StrCat("reference/", sidecar))));
  set.vocab = static_cast<int64_t>(Field(meta, "n_vocab").number_value());
  set.prompt = NumberList<int32_t>(Field(meta, "prompt_bytes"));
  const Struct& greedy = Field(meta, "greedy").struct_value();
  set.greedy = NumberList<int32_t>(Field(greedy, "tokens"));
  set.greedy_margins = NumberList<float>(Field(greedy, "top1_top2_margins"));
  const Struct& files = Field(entry, "files").struct_value();
  auto file = [&](const char* kind) {
    return SharedPath(absl::StrCat("reference/", Field(files, kind).string_value()));
  };
  RWKV_ASSIGN_OR_RETURN(set.logits, ReadF32File(file("logits")));
  RWKV_ASSIGN_OR_RETURN(set.state, ReadF32File(file("state")));
  RWKV_ASSIGN_OR_RETURN(set.greedy_logits, ReadF32File(file("greedy_logits")));
  if (set.logits.size() != set.prompt.size() * set.vocab ||
      set.greedy_logits.size() != set.greedy.size() * set.vocab) {
    return absl::DataLossError(absl::StrCat(set.name, ": reference files have unexpected sizes"));
  }
  return set;
}

}  // namespace

std::string TestNameOf(const ReferenceSet& set) {
  std::string name = set.name;
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

absl::StatusOr<std::vector<float>> ReadF32File(const std::string& path) {
  RWKV_ASSIGN_OR_RETURN(std::string bytes, ReadFileBytes(path));
  if (bytes.size() % sizeof(float) != 0) {
    return absl::DataLossError(absl::StrCat(path, " is not a float32 array"));
  }
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

absl::StatusOr<std::vector<ReferenceSet>> LoadReferenceSets() {
  RWKV_ASSIGN_OR_RETURN(Struct index, ReadJson(SharedPath("reference/index.json")));
  std::vector<ReferenceSet> sets;
  for (const Value& entry : Field(index, "sets").list_value().values()) {
    RWKV_ASSIGN_OR_RETURN(ReferenceSet set, LoadSet(entry.struct_value()));
    sets.push_back(std::move(set));
  }
  if (sets.empty()) return absl::NotFoundError("reference/index.json lists no sets");
  return sets;
}

}  // namespace rwkv::testing
