#include "engine/onednn_engine.h"

#include <omp.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/compute/ops.h"
#include "engine/forward/weight_reader.h"
#include "engine/forward/wkv7_chunked.h"

namespace rwkv::engine {

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(const EngineOptions& options) {
  if (options.model.empty()) return absl::InvalidArgumentError("no model given");
  RWKV_ASSIGN_OR_RETURN(ModelFile model, OpenModelSource(options.model));
  RWKV_ASSIGN_OR_RETURN(std::unique_ptr<OnednnEngine> engine,
                        OnednnEngine::Load(*model.source, options));
  engine->vocabulary_ = std::move(model.vocabulary);
  return std::unique_ptr<Engine>(std::move(engine));
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::FromSource(const TensorSource& source,
                                                           const EngineOptions& options) {
  RWKV_ASSIGN_OR_RETURN(std::unique_ptr<OnednnEngine> engine,
                        OnednnEngine::Load(source, options));
  return std::unique_ptr<Engine>(std::move(engine));
}

absl::StatusOr<std::unique_ptr<OnednnEngine>> OnednnEngine::Load(const TensorSource& source,
                                                                 const EngineOptions& options) {
  if (options.threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("threads must be >= 0 (0 = all cores), got ", options.threads));
  }
  const int chunk = options.prefill_wkv_chunk;
  if (chunk != 0 && (chunk < kMinWkvChunk || chunk > kMaxWkvChunk || chunk % kMinWkvChunk != 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prefill_wkv_chunk must be 0 or 16, 32, 48 or 64, got ", options.prefill_wkv_chunk));
  }
  auto engine = std::unique_ptr<OnednnEngine>(new OnednnEngine());
  engine->packed_.wkv7_chunk = chunk;
  engine->threads_ = options.threads > 0 ? options.threads : omp_get_num_procs();
  omp_set_num_threads(engine->threads_);
  const Precision precision =
      options.auto_precision && MatricesStoredAsQ8_0(source) ? Precision::kQ8_0 : options.precision;
  RWKV_ASSIGN_OR_RETURN(engine->model_, Model::Load(source, engine->matmul_, precision));
  return engine;
}

void OnednnEngine::Pack(absl::Span<const SequenceInput> batch) {
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
}

absl::StatusOr<LogitsView> OnednnEngine::Forward(absl::Span<const SequenceInput> batch) {
  RWKV_RETURN_IF_ERROR(ValidateBatch(batch, config(), state_check_));
  omp_set_num_threads(threads_);
  EnableFlushToZero();
  Pack(batch);
  const size_t logits_floats = wanted_rows_.size() * static_cast<size_t>(config().n_vocab);
  if (logits_.size() < logits_floats) logits_.resize(logits_floats);
  RWKV_RETURN_IF_ERROR(model_->Forward(packed_, tokens_, wanted_rows_, matmul_, step_arena_,
                                       scratch_arena_, logits_.data()));
  return LogitsView(logits_.data(), config().n_vocab, first_logits_row_);
}

void OnednnEngine::ParallelFor(int64_t count, absl::FunctionRef<void(int64_t)> task) {
  // Dynamic: tasks differ in cost (a greedy row takes microseconds, a top-p draw a hundred).
#pragma omp parallel for schedule(dynamic) num_threads(threads_) if (threads_ > 1 && count > 1)
  for (int64_t i = 0; i < count; ++i) task(i);
}

}  // namespace rwkv::engine
