#include "engine/engine.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/model/state_layout.h"
#include "engine/model/synthetic_source.h"

namespace rwkv::engine {

absl::StatusOr<ModelFile> OpenModelSource(const std::string& spec) {
  constexpr absl::string_view kSynthetic = "synthetic:";
  if (absl::StartsWith(spec, kSynthetic)) {
    RWKV_ASSIGN_OR_RETURN(auto source, SyntheticSource::Create(spec.substr(kSynthetic.size())));
    ModelFile model;
    model.family = "synthetic";
    model.source = std::move(source);
    return model;
  }
  return OpenModelFile(spec);
}

std::vector<float> Engine::InitialState() const { return StateLayout(config()).InitialState(); }

void Engine::ResetState(absl::Span<float> state) const { StateLayout(config()).Initialize(state); }

absl::Status ValidateBatch(absl::Span<const SequenceInput> batch, const ModelConfig& config,
                           std::vector<const float*>& scratch) {
  if (batch.empty()) return absl::InvalidArgumentError("empty batch");
  const int64_t state_floats = config.StateFloats();
  for (size_t s = 0; s < batch.size(); ++s) {
    const SequenceInput& seq = batch[s];
    if (seq.tokens.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", s, " has no tokens"));
    }
    if (static_cast<int64_t>(seq.state.size()) != state_floats) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", s, " has a state of ",
                                                     seq.state.size(), " floats, the model needs ",
                                                     state_floats));
    }
    for (size_t t = 0; t < seq.tokens.size(); ++t) {
      if (seq.tokens[t] < 0 || seq.tokens[t] >= config.n_vocab) {
        return absl::InvalidArgumentError(
            absl::StrCat("sequence ", s, ": token ", t, " is ", seq.tokens[t],
                         ", outside the vocabulary [0, ", config.n_vocab, ")"));
      }
    }
  }
  // Two sequences on one state buffer would corrupt it. Sorting a reused vector keeps the check
  // allocation-free.
  scratch.clear();
  for (const SequenceInput& seq : batch) scratch.push_back(seq.state.data());
  std::sort(scratch.begin(), scratch.end());
  if (std::adjacent_find(scratch.begin(), scratch.end()) != scratch.end()) {
    return absl::InvalidArgumentError("two sequences share one state buffer");
  }
  return absl::OkStatus();
}

}  // namespace rwkv::engine
