// What the time mix of every version shares: its place in the state, the receptance / key /
// value / output projections, and the token-shifted input. Used only by time_mix_v*.cc.
#ifndef RWKV_ENGINE_FORWARD_TIME_MIX_BASE_H_
#define RWKV_ENGINE_FORWARD_TIME_MIX_BASE_H_

#include <initializer_list>
#include <vector>

#include "absl/types/span.h"
#include "engine/forward/layer_modules.h"
#include "engine/forward/token_shift.h"
#include "engine/model/state_layout.h"
#include "common/status_macros.h"

namespace rwkv::engine {

class TimeMixBase : public TimeMix {
 protected:
  // Rows of receptance, key and value for the current step.
  struct Rkv {
    float* r;
    float* k;
    float* v;
  };

  TimeMixBase(const ModelConfig& config, int layer)
      : layer_(layer),
        width_(config.n_embed),
        heads_(config.n_head),
        head_size_(config.head_size),
        eps_(config.group_norm_eps) {
    StateLayout layout(config);
    shift_offset_ = layout.AttShift(layer);
    wkv_offset_ = layout.Wkv(layer);
  }

  std::string Name(const char* suffix) const { return BlockTensor(layer_, suffix); }

  absl::Status LoadProjections(WeightReader& reader) {
    const int64_t c = width_;
    RWKV_ASSIGN_OR_RETURN(receptance_, reader.Matrix(Name("att.receptance.weight"), c, c));
    RWKV_ASSIGN_OR_RETURN(key_, reader.Matrix(Name("att.key.weight"), c, c));
    RWKV_ASSIGN_OR_RETURN(value_, reader.Matrix(Name("att.value.weight"), c, c));
    RWKV_ASSIGN_OR_RETURN(output_, reader.Matrix(Name("att.output.weight"), c, c));
    return absl::OkStatus();
  }

  // Loads one C-vector per name into `out`, in order.
  absl::Status LoadVectors(WeightReader& reader, std::initializer_list<const char*> names,
                           std::initializer_list<std::vector<float>*> out) {
    auto target = out.begin();
    for (const char* name : names) {
      RWKV_ASSIGN_OR_RETURN(**target++, reader.Vector(Name(name), {width_}));
    }
    return absl::OkStatus();
  }

  // The previous token's ln1 output for every row (and saves the last rows in the state).
  float* ShiftedInput(StepContext& step, const float* a) const {
    float* prev = step.scratch.Alloc(step.batch.rows * width_);
    TokenShift(step.batch, a, width_, shift_offset_, prev);
    return prev;
  }

  // r, k, v from their mixed inputs; `r_epilogue` is kSigmoid for v4, kNone after.
  absl::StatusOr<Rkv> Project(StepContext& step, const float* xr, const float* xk, const float* xv,
                              Epilogue r_epilogue) const {
    const int64_t rows = step.batch.rows;
    Rkv out{step.scratch.Alloc(rows * width_), step.scratch.Alloc(rows * width_),
            step.scratch.Alloc(rows * width_)};
    RWKV_RETURN_IF_ERROR(receptance_.Apply(step.matmul, xr, rows, out.r, r_epilogue));
    RWKV_RETURN_IF_ERROR(key_.Apply(step.matmul, xk, rows, out.k));
    RWKV_RETURN_IF_ERROR(value_.Apply(step.matmul, xv, rows, out.v));
    return out;
  }

  // v4/v5: xk, xv, xr lerp-mixed with the previous token, then projected. `gate` (may be null):
  // one more mix (v5.2's gate input), computed in the same pass.
  absl::StatusOr<Rkv> LerpProject(StepContext& step, const float* a, const float* prev,
                                  const std::vector<float>& mix_k, const std::vector<float>& mix_v,
                                  const std::vector<float>& mix_r, Epilogue r_epilogue,
                                  const MixTarget* gate = nullptr) const {
    const int64_t n = step.batch.rows * width_;
    float* xk = step.scratch.Alloc(n);
    float* xv = step.scratch.Alloc(n);
    float* xr = step.scratch.Alloc(n);
    const MixTarget targets[] = {{mix_k.data(), xk},
                                 {mix_v.data(), xv},
                                 {mix_r.data(), xr},
                                 gate != nullptr ? *gate : MixTarget{}};
    LerpMix(step.batch.rows, width_, a, prev,
            absl::MakeConstSpan(targets, gate != nullptr ? 4 : 3));
    return Project(step, xr, xk, xv, r_epilogue);
  }

  // x += W_o y.
  absl::Status Output(StepContext& step, const float* y, float* x) const {
    return output_.Apply(step.matmul, y, step.batch.rows, x, Epilogue::kAccumulate);
  }

  int layer_;
  int64_t width_, heads_, head_size_;
  float eps_;
  int64_t shift_offset_ = 0;
  int64_t wkv_offset_ = 0;
  Linear receptance_, key_, value_, output_;
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_FORWARD_TIME_MIX_BASE_H_
