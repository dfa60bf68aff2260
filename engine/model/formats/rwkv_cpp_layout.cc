#include "engine/model/formats/rwkv_cpp_layout.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/absl_view.h"
#include "common/status_macros.h"

namespace rwkv::engine {
namespace {

enum class Version { kV4, kV5_1, kV5_2, kV6, kV7 };

// rwkv.cpp's loader order (§2.7): the last rule that matches wins.
Version DetectVersion(const BlinkdlView& view) {
  Version version = Version::kV4;
  if (view.Find("blocks.0.att.ln_x.weight") != nullptr) {
    version = view.Find("blocks.0.att.gate.weight") != nullptr ? Version::kV5_2 : Version::kV5_1;
  }
  if (view.Find("blocks.0.att.time_maa_x") != nullptr) version = Version::kV6;
  if (view.Find("blocks.0.att.r_k") != nullptr || view.Find("blocks.0.att.k_k") != nullptr) {
    version = Version::kV7;
  }
  return version;
}

// The BlinkDL shape of a part (its data shape after its reordering).
std::vector<int64_t> BlinkdlShape(const Part& part) {
  std::vector<int64_t> shape = part.shape;
  (void)ApplyLayoutToShape(part.layout, shape);  // Validated when the part was made.
  return shape;
}

std::vector<int64_t> Squeeze(std::vector<int64_t> shape) {
  shape.erase(std::remove(shape.begin(), shape.end(), 1), shape.end());
  return shape;
}

// The layer prefix "blocks.N." of a name, or "".
std::string LayerPrefix(std::string_view name) {
  if (!absl::StartsWith(AsAbsl(name), "blocks.")) return "";
  const size_t dot = name.find('.', 7);
  return dot == std::string_view::npos ? "" : std::string(name.substr(0, dot + 1));
}

class Planner {
 public:
  Planner(const BlinkdlView& view, std::string_view describe)
      : view_(view), describe_(describe), version_(DetectVersion(view)) {}

  absl::StatusOr<std::vector<TensorPlan>> Run() {
    for (const auto& [name, part] : view_.tensors) RWKV_RETURN_IF_ERROR(PlanOne(name, part));
    return std::move(plans_);
  }

 private:
  absl::Status PlanOne(const std::string& name, const Part& part) {
    if (version_ == Version::kV7 && IsTokenShiftMix7(name)) return PlanRwkvag(name);
    TensorPlan plan;
    plan.name = name;
    plan.parts = {part};
    plan.shape = BlinkdlShape(part);
    if (absl::StrContains(name, ".time_")) plan.shape = Squeeze(plan.shape);
    RWKV_RETURN_IF_ERROR(ApplyVersionRules(name, plan));
    RWKV_RETURN_IF_ERROR(ApplyLayoutToShape(plan.layout, plan.shape));
    plans_.push_back(std::move(plan));
    return absl::OkStatus();
  }

  static bool IsTokenShiftMix7(std::string_view name) {
    for (const char* x : {"x_r", "x_w", "x_k", "x_v", "x_a", "x_g"}) {
      if (absl::EndsWith(AsAbsl(name), absl::StrCat(".att.", x))) return true;
    }
    return false;
  }

  // v7: x_r, x_w, x_k, x_v, x_a, x_g become one (6, 1, C) tensor, emitted where x_r was.
  absl::Status PlanRwkvag(const std::string& name) {
    if (!absl::EndsWith(name, ".att.x_r")) return absl::OkStatus();
    const std::string prefix = name.substr(0, name.size() - 3);
    TensorPlan plan;
    plan.name = prefix + "x_rwkvag";
    int64_t width = 0;
    for (const char x : std::string_view("rwkvag")) {
      const std::string part_name = absl::StrCat(prefix, "x_", std::string(1, x));
      const Part* part = view_.Find(part_name);
      if (part == nullptr) return Missing(part_name, plan.name);
      width = ShapeElements(BlinkdlShape(*part));
      plan.parts.push_back(*part);
    }
    plan.shape = {6, 1, width};
    plans_.push_back(std::move(plan));
    return absl::OkStatus();
  }

  absl::Status Missing(std::string_view needed, std::string_view for_name) const {
    return absl::InvalidArgumentError(absl::StrCat(describe_, ": tensor '", AsAbsl(needed),
                                                   "' is missing (needed for '",
                                                   AsAbsl(for_name), "')"));
  }

  // (H, N) of a layer's heads, from the tensor that defines them in this version.
  absl::StatusOr<std::vector<int64_t>> Heads(const std::string& prefix, std::string_view name) {
    const std::string source =
        prefix + (version_ == Version::kV5_2 ? "att.time_decay" : "att.time_faaaa");
    const Part* part = view_.Find(source);
    if (part == nullptr) return Missing(source, name);
    std::vector<int64_t> shape = Squeeze(BlinkdlShape(*part));
    if (shape.size() == 1) shape.insert(shape.begin(), 1);  // A single head.
    if (shape.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(describe_, ": tensor '", source,
                                                     "' should be (heads, head size), is (",
                                                     absl::StrJoin(shape, ", "), ")"));
    }
    return shape;
  }

  absl::Status ApplyVersionRules(const std::string& name, TensorPlan& plan) {
    const std::string prefix = LayerPrefix(name);
    const absl::string_view rest = absl::string_view(name).substr(prefix.size());
    const int64_t elements = ShapeElements(plan.shape);
    switch (version_) {
      case Version::kV4:
        if (rest == "att.time_decay") plan.value = ValueOp::kNegExp;
        return absl::OkStatus();
      case Version::kV5_1:
        if (rest == "att.time_decay") plan.value = ValueOp::kExpNegExp;
        if (rest == "att.time_first") plan.value = ValueOp::kExp;
        if (rest == "att.time_decay" || rest == "att.time_first") plan.shape = {elements, 1, 1};
        return absl::OkStatus();
      case Version::kV5_2:
      case Version::kV6: {
        if (rest == "att.time_decay" && version_ == Version::kV5_2) {
          plan.value = ValueOp::kExpNegExp;
        }
        if (rest == "att.time_decay" || rest == "att.time_faaaa") {
          RWKV_ASSIGN_OR_RETURN(std::vector<int64_t> heads, Heads(prefix, name));
          if (heads[0] * heads[1] != elements) {
            return absl::InvalidArgumentError(absl::StrCat(
                describe_, ": tensor '", name, "' has ", elements, " elements, not heads x size ",
                heads[0], " x ", heads[1]));
          }
          plan.shape = {heads[0], heads[1], 1};
        }
        if (rest == "att.time_maa_w1" || rest == "att.time_decay_w1" ||
            rest == "att.time_decay_w2") {
          plan.layout = Layout::kTranspose;
        }
        if (rest == "att.time_maa_w2") plan.layout = Layout::kSwap12;
        return absl::OkStatus();
      }
      case Version::kV7:
        if (rest.size() == 6 && absl::StartsWith(rest, "att.") &&
            absl::StrContains("wavg", rest[4]) && (rest[5] == '1' || rest[5] == '2')) {
          plan.layout = Layout::kTranspose;
        }
        return absl::OkStatus();
    }
    return absl::OkStatus();
  }

  const BlinkdlView& view_;
  const std::string describe_;
  const Version version_;
  std::vector<TensorPlan> plans_;
};

}  // namespace

absl::StatusOr<std::vector<TensorPlan>> PlanRwkvCppTensors(const BlinkdlView& view,
                                                           std::string_view describe) {
  return Planner(view, describe).Run();
}

bool RwkvCppKeepsF16(std::string_view name, absl::Span<const int64_t> shape) {
  if (shape.size() < 2) return false;
  for (const char* small : {".time_", ".k_k", ".k_a", ".r_k", ".x_rwkvag", ".x_k", ".w0", ".a0",
                            ".v0"}) {
    if (absl::StrContains(AsAbsl(name), small)) return false;
  }
  return true;
}

}  // namespace rwkv::engine
