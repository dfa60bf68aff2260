// Channel mix (the FFN, architecture doc §4.5) of every version, and the per-version dispatch of
// the layer modules.
#include "engine/compute/ops.h"
#include "engine/forward/layer_modules.h"
#include "engine/forward/token_shift.h"
#include "engine/model/state_layout.h"
#include "common/status_macros.h"

namespace rwkv::engine {
namespace {

// v4-v6: out = sigmoid(W_r xr) * W_v relu(W_k xk)^2.   v7: out = W_v relu(W_k xk)^2.
class ChannelMixImpl final : public ChannelMix {
 public:
  ChannelMixImpl(const ModelConfig& config, int layer)
      : version_(config.version), width_(config.n_embed), hidden_(config.ffn_size) {
    shift_offset_ = StateLayout(config).FfnShift(layer);
  }

  absl::Status Load(WeightReader& reader, int layer) {
    const int64_t c = width_;
    auto name = [layer](const char* suffix) { return BlockTensor(layer, suffix); };
    switch (version_) {
      case ArchVersion::kV4:
      case ArchVersion::kV5_1:
      case ArchVersion::kV5_2: {
        RWKV_ASSIGN_OR_RETURN(mix_k_, reader.Vector(name("ffn.time_mix_k"), {c}));
        RWKV_ASSIGN_OR_RETURN(mix_r_, reader.Vector(name("ffn.time_mix_r"), {c}));
        break;
      }
      case ArchVersion::kV6: {
        RWKV_ASSIGN_OR_RETURN(mix_k_, reader.Vector(name("ffn.time_maa_k"), {c}));
        RWKV_ASSIGN_OR_RETURN(mix_r_, reader.Vector(name("ffn.time_maa_r"), {c}));
        break;
      }
      case ArchVersion::kV7: {
        RWKV_ASSIGN_OR_RETURN(mix_k_, reader.Vector(name("ffn.x_k"), {c, 1, 1}));
        break;
      }
    }
    if (HasReceptance()) {
      RWKV_ASSIGN_OR_RETURN(receptance_, reader.Matrix(name("ffn.receptance.weight"), c, c));
    }
    RWKV_ASSIGN_OR_RETURN(key_, reader.Matrix(name("ffn.key.weight"), c, hidden_));
    RWKV_ASSIGN_OR_RETURN(value_, reader.Matrix(name("ffn.value.weight"), hidden_, c));
    return absl::OkStatus();
  }

  absl::Status Forward(StepContext& step, const float* b, float* x) const override {
    const int64_t rows = step.batch.rows;
    const int64_t n = rows * width_;
    float* prev = step.scratch.Alloc(n);
    TokenShift(step.batch, b, width_, shift_offset_, prev);
    float* xk = step.scratch.Alloc(n);
    float* hidden = step.scratch.Alloc(rows * hidden_);
    if (!HasReceptance()) {
      MaaMix(rows, width_, b, prev, {{mix_k_.data(), xk}});
      RWKV_RETURN_IF_ERROR(key_.Apply(step.matmul, xk, rows, hidden, Epilogue::kReluSquare));
      return value_.Apply(step.matmul, hidden, rows, x, Epilogue::kAccumulate);
    }
    float* xr = step.scratch.Alloc(n);
    if (version_ == ArchVersion::kV6) {
      MaaMix(rows, width_, b, prev, {{mix_k_.data(), xk}, {mix_r_.data(), xr}});
    } else {
      LerpMix(rows, width_, b, prev, {{mix_k_.data(), xk}, {mix_r_.data(), xr}});
    }
    float* r = step.scratch.Alloc(n);
    float* kv = step.scratch.Alloc(n);
    RWKV_RETURN_IF_ERROR(receptance_.Apply(step.matmul, xr, rows, r, Epilogue::kSigmoid));
    RWKV_RETURN_IF_ERROR(key_.Apply(step.matmul, xk, rows, hidden, Epilogue::kReluSquare));
    RWKV_RETURN_IF_ERROR(value_.Apply(step.matmul, hidden, rows, kv));
    AddProductRows(rows, width_, r, kv, x);
    return absl::OkStatus();
  }

 private:
  bool HasReceptance() const { return version_ != ArchVersion::kV7; }

  ArchVersion version_;
  int64_t width_, hidden_;
  int64_t shift_offset_ = 0;
  std::vector<float> mix_k_, mix_r_;
  Linear receptance_, key_, value_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TimeMix>> LoadTimeMix(WeightReader& reader,
                                                     const ModelConfig& config, int layer) {
  switch (config.version) {
    case ArchVersion::kV4:
      return LoadTimeMixV4(reader, config, layer);
    case ArchVersion::kV5_1:
    case ArchVersion::kV5_2:
      return LoadTimeMixV5(reader, config, layer);
    case ArchVersion::kV6:
      return LoadTimeMixV6(reader, config, layer);
    case ArchVersion::kV7:
      return LoadTimeMixV7(reader, config, layer);
  }
  return absl::InternalError("unknown RWKV version");
}

absl::StatusOr<std::unique_ptr<ChannelMix>> LoadChannelMix(WeightReader& reader,
                                                           const ModelConfig& config, int layer) {
  auto module = std::make_unique<ChannelMixImpl>(config, layer);
  RWKV_RETURN_IF_ERROR(module->Load(reader, layer));
  return module;
}

}  // namespace rwkv::engine
