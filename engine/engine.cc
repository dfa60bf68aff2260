#include "engine/engine.h"

#include <omp.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/compute/ops.h"
#include "engine/model/rwkv_cpp_file.h"
#include "engine/model/state_layout.h"
#include "engine/model/synthetic_source.h"
#include "engine/util/status_macros.h"

namespace rwkv::engine {

absl::StatusOr<std::unique_ptr<TensorSource>> OpenModelSource(const std::string& spec) {
  constexpr absl::string_view kSynthetic = "synthetic:";
  if (absl::StartsWith(spec, kSynthetic)) {
    RWKV_ASSIGN_OR_RETURN(auto source, SyntheticSource::Create(spec.substr(kSynthetic.size())));
    return std::unique_ptr<TensorSource>(std::move(source));
  }
  RWKV_ASSIGN_OR_RETURN(auto file, RwkvCppFile::Open(spec));
  return std::unique_ptr<TensorSource>(std::move(file));
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(const EngineOptions& options) {
  if (options.model.empty()) return absl::InvalidArgumentError("no model given");
  RWKV_ASSIGN_OR_RETURN(std::unique_ptr<TensorSource> source, OpenModelSource(options.model));
  return FromSource(*source, options);
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::FromSource(const TensorSource& source,
                                                           const EngineOptions& options) {
  if (options.threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("threads must be >= 0 (0 = all cores), got ", options.threads));
  }
  auto engine = std::unique_ptr<Engine>(new Engine());
  engine->threads_ = options.threads > 0 ? options.threads : omp_get_num_procs();
  omp_set_num_threads(engine->threads_);
  RWKV_ASSIGN_OR_RETURN(engine->model_,
                        Model::Load(source, engine->matmul_, options.precision));
  return engine;
}

std::vector<float> Engine::InitialState() const { return StateLayout(config()).InitialState(); }

void Engine::ResetState(absl::Span<float> state) const { StateLayout(config()).Initialize(state); }

absl::Status Engine::Validate(absl::Span<const SequenceInput> batch) {
  if (batch.empty()) return absl::InvalidArgumentError("empty batch");
  const int64_t state_floats = StateFloats();
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
      if (seq.tokens[t] < 0 || seq.tokens[t] >= config().n_vocab) {
        return absl::InvalidArgumentError(
            absl::StrCat("sequence ", s, ": token ", t, " is ", seq.tokens[t],
                         ", outside the vocabulary [0, ", config().n_vocab, ")"));
      }
    }
  }
  // Two sequences on one state buffer would corrupt it. Sorting a reused vector keeps the check
  // allocation-free.
  state_check_.clear();
  for (const SequenceInput& seq : batch) state_check_.push_back(seq.state.data());
  std::sort(state_check_.begin(), state_check_.end());
  if (std::adjacent_find(state_check_.begin(), state_check_.end()) != state_check_.end()) {
    return absl::InvalidArgumentError("two sequences share one state buffer");
  }
  return absl::OkStatus();
}

absl::StatusOr<LogitsView> Engine::Forward(absl::Span<const SequenceInput> batch) {
  RWKV_RETURN_IF_ERROR(Validate(batch));
  omp_set_num_threads(threads_);
  EnableFlushToZero();
  packed_.sequences.clear();
  packed_.rows = 0;
  tokens_.clear();
  wanted_rows_.clear();
  first_logits_row_.clear();
  for (const SequenceInput& seq : batch) {
    const int64_t count = static_cast<int64_t>(seq.tokens.size());
    packed_.sequences.push_back({packed_.rows, count, seq.state.data()});
    tokens_.insert(tokens_.end(), seq.tokens.begin(), seq.tokens.end());
    first_logits_row_.push_back(static_cast<int64_t>(wanted_rows_.size()));
    if (seq.logits == LogitsMode::kLast) {
      wanted_rows_.push_back(packed_.rows + count - 1);
    } else if (seq.logits == LogitsMode::kAll) {
      for (int64_t t = 0; t < count; ++t) wanted_rows_.push_back(packed_.rows + t);
    }
    packed_.rows += count;
  }
  first_logits_row_.push_back(static_cast<int64_t>(wanted_rows_.size()));
  const size_t logits_floats = wanted_rows_.size() * static_cast<size_t>(config().n_vocab);
  if (logits_.size() < logits_floats) logits_.resize(logits_floats);
  RWKV_RETURN_IF_ERROR(model_->Forward(packed_, tokens_, wanted_rows_, matmul_, step_arena_,
                                       scratch_arena_, logits_.data()));
  LogitsView view(first_logits_row_);
  view.data_ = logits_.data();
  view.vocab_ = config().n_vocab;
  return view;
}

}  // namespace rwkv::engine
