#include "tests/util/safetensors_writer.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace rwkv::testing {

std::string SafetensorsBytes(const std::vector<SafetensorsEntry>& entries) {
  std::vector<std::string> fields;
  std::string data;
  for (const SafetensorsEntry& e : entries) {
    fields.push_back(absl::StrCat("\"", e.name, "\":{\"dtype\":\"", e.dtype, "\",\"shape\":[",
                                  absl::StrJoin(e.shape, ","), "],\"data_offsets\":[",
                                  data.size(), ",", data.size() + e.bytes.size(), "]}"));
    data += e.bytes;
  }
  std::string header = absl::StrCat("{", absl::StrJoin(fields, ","), "}");
  while (header.size() % 8 != 0) header.push_back(' ');
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  return out + header + data;
}

SafetensorsEntry EntryOf(const engine::StoredTensors& source, const std::string& name) {
  const engine::TensorInfo& info = *source.Find(name);
  const auto raw = *source.RawData(name);
  return {name, std::string(engine::GgmlTypeName(info.type)),
          std::vector<int64_t>(info.ne.rbegin(), info.ne.rend()),
          std::string(reinterpret_cast<const char*>(raw.data()), raw.size())};
}

}  // namespace rwkv::testing
