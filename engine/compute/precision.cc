#include "engine/compute/precision.h"

#include <oneapi/dnnl/dnnl.hpp>

#include "absl/strings/str_cat.h"

namespace rwkv::engine {

absl::string_view PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kF32:
      return "f32";
    case Precision::kBf16:
      return "bf16";
    case Precision::kInt8:
      return "int8";
    case Precision::kInt8Fast:
      return "int8-fast";
    case Precision::kQ8_0:
      return "q8_0";
  }
  return "?";
}

absl::StatusOr<Precision> ParsePrecision(absl::string_view name) {
  if (name == "f32") return Precision::kF32;
  if (name == "bf16") return Precision::kBf16;
  if (name == "int8") return Precision::kInt8;
  if (name == "int8-fast") return Precision::kInt8Fast;
  if (name == "q8_0") return Precision::kQ8_0;
  if (name == "auto" || name.empty()) return DefaultPrecision();
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown precision '", name, "'; expected f32, bf16, int8, int8-fast, q8_0 or auto"));
}

Precision DefaultPrecision() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  const bool native_bf16 = isa == dnnl::cpu_isa::avx512_core_bf16 ||
                           isa == dnnl::cpu_isa::avx512_core_amx;
  return native_bf16 ? Precision::kBf16 : Precision::kF32;
}

std::string CpuIsaName() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::sse41:
      return "sse41";
    default:
      return "other";
  }
}

}  // namespace rwkv::engine
