#include "engine/model/formats/strict_json.h"

#include <stdexcept>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace rwkv::engine {
namespace {

using Json = nlohmann::json;

// Thrown from the parser callback to stop parsing at once; caught below.
struct Refusal : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace

absl::StatusOr<Json> ParseStrictJson(std::string_view text, const std::string& what,
                                     int64_t base_offset) {
  // One set of keys per object being parsed.
  std::vector<absl::flat_hash_set<std::string>> open_objects;
  const Json::parser_callback_t callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (depth > kMaxJsonDepth) {
      throw Refusal(absl::StrCat("nested deeper than ", kMaxJsonDepth, " levels"));
    }
    if (event == Json::parse_event_t::object_start) open_objects.emplace_back();
    if (event == Json::parse_event_t::object_end && !open_objects.empty()) open_objects.pop_back();
    if (event == Json::parse_event_t::key && !open_objects.empty() &&
        !open_objects.back().insert(parsed.get<std::string>()).second) {
      throw Refusal(absl::StrCat("the key \"", parsed.get<std::string>(), "\" appears twice"));
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), callback);
  } catch (const Json::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": bad JSON at file offset ",
                                                   base_offset + static_cast<int64_t>(e.byte), ": ",
                                                   e.what()));
  } catch (const Refusal& e) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", e.what()));
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": bad JSON: ", e.what()));
  }
}

}  // namespace rwkv::engine
