// rwkv-bench: engine throughput on synthetic models with real RWKV-7 shapes, or on a model file.
//
//   rwkv-bench --shape rwkv7-0.1b --threads 1 --json out.json
//
// Measures decode tokens/s at batch 1, 8, 32 and 64 (one token per sequence per step, logits for
// every sequence, as a server step needs), prefill tokens/s for one 512-token prompt, the state
// size per session, the resident memory right after loading, its peak while loading, and the
// peak resident memory of the whole run. Prints a table and optionally writes JSON.

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "engine/engine.h"
#include "engine/tools/roofline.h"
#include "engine/tools/sampling_bench.h"
#include "common/command_line.h"
#include "common/process_memory.h"
#include "common/status_macros.h"

ABSL_FLAG(std::string, shape, "rwkv7-0.1b",
          "Synthetic shape: rwkv7-0.1b, rwkv7-0.4b or rwkv7-1.5b (ignored with --model).");
ABSL_FLAG(std::string, model, "", "Benchmark this model file instead of a synthetic shape.");
ABSL_FLAG(int32_t, threads, 1, "Engine threads.");
ABSL_FLAG(std::string, precision, "auto", "Weight format: f32 | bf16 | int8 | int8-fast | q8_0 | auto.");
ABSL_FLAG(std::string, batches, "1,8,32,64", "Decode batch sizes.");
ABSL_FLAG(int32_t, prefill_tokens, 512, "Prompt length for the prefill measurement.");
ABSL_FLAG(int32_t, prefill_prompts, 16,
          "Also measure prefill of this many prompts sharing --prefill-tokens in one step, each "
          "with its logits (what a server step does with many short prompts); 0: skip.");
ABSL_FLAG(int32_t, prefill_wkv_chunk, 0,
          "RWKV-7 prompts: 0 = sequential WKV; 16 | 32 | 48 | 64 = chunked matrix form "
          "(EngineOptions::prefill_wkv_chunk).");
ABSL_FLAG(int32_t, turn_prompt_tokens, 0,
          "Also measure whole turns at each batch size as the server runs them: every sequence's "
          "prompt of this many tokens in one step, then --turn-new-tokens decode steps in "
          "lockstep (the last feeding the final token without logits); generated tokens/s. 0: "
          "skip.");
ABSL_FLAG(int32_t, turn_new_tokens, 64, "Tokens each turn generates (see --turn-prompt-tokens).");
ABSL_FLAG(double, seconds, 2.0, "Minimum measuring time per figure.");
ABSL_FLAG(std::string, json, "", "Also write the results as JSON to this file.");
ABSL_FLAG(bool, roofline, true,
          "Also measure the memory bandwidth and the matmul peak of this machine and report "
          "each result as a fraction of its limit.");
ABSL_FLAG(bool, load_only, false,
          "Only load the model: print the load time and peak RSS, and exit (for load "
          "benchmarks such as scripts/bench-load.sh).");
ABSL_FLAG(bool, sampling_only, false,
          "Only load the model and time the sampler on one row of its logits and on a peaked "
          "rescaling of it (microseconds per token), and exit.");

namespace rwkv::engine {
namespace {

struct Results {
  std::string shape;
  std::string precision;
  int threads = 0;
  std::vector<std::pair<int, double>> decode;  // batch, tok/s
  std::vector<double> decode_step_ms;
  std::vector<std::pair<int, double>> turns;  // batch, generated tok/s (--turn-prompt-tokens)
  double prefill_tok_s = 0;
  double prefill_many_tok_s = 0;  // --prefill-prompts prompts in one step
  int64_t state_bytes = 0;
  int64_t weight_bytes = 0;           // the weights in their compute format
  int64_t load_rss_bytes = 0;         // resident right after loading (VmRSS)
  int64_t load_peak_rss_bytes = 0;    // the most resident while loading (VmHWM)
  int64_t peak_rss_bytes = 0;         // the whole run (every batch's states and step buffers)
  int64_t single_peak_rss_bytes = 0;  // serving one sequence: the prefill and batch-1 decode
  double load_seconds = 0;
  std::vector<SamplingCost> sampling;  // per token and sequence, on the engine thread
  // Roofline: limits of this machine and what one token needs.
  int64_t bytes_per_token = 0;
  int64_t flops_per_token = 0;
  double bandwidth = 0;    // bytes/s
  double matmul_peak = 0;  // FLOP/s

  // The most tokens/s a decode step of `batch` sequences could reach here: each step must stream
  // every weight once and read and write every sequence's state once (memory), and do the
  // matrix products of every token (compute); the slower of the two bounds the step.
  double DecodeRoofline(int batch) const {
    if (bandwidth <= 0 || matmul_peak <= 0) return 0;
    const double memory_s = (bytes_per_token + 2.0 * batch * state_bytes) / bandwidth;
    const double compute_s = batch * static_cast<double>(flops_per_token) / matmul_peak;
    return batch / std::max(memory_s, compute_s);
  }
  // Prefill streams weights and state once per chunk: it is bound by the matrix products.
  double PrefillRoofline() const {
    return matmul_peak > 0 ? matmul_peak / flops_per_token : 0;
  }
};

// VmHWM, as the load figures read it; 0 where /proc cannot be read.
int64_t PeakRssBytes() {
  const absl::StatusOr<ProcessMemory> memory = ReadProcessMemory();
  return memory.ok() ? memory->peak_rss_bytes : 0;
}

// Runs `step` until at least --seconds and 3 repetitions have passed, after 2 warm-up runs;
// returns the mean seconds per run.
template <typename Step>
absl::StatusOr<double> TimeSteps(Step step) {
  for (int i = 0; i < 2; ++i) RWKV_RETURN_IF_ERROR(step());
  const double min_seconds = absl::GetFlag(FLAGS_seconds);
  const absl::Time start = absl::Now();
  int runs = 0;
  double elapsed = 0;
  while (runs < 3 || elapsed < min_seconds) {
    RWKV_RETURN_IF_ERROR(step());
    ++runs;
    elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  }
  return elapsed / runs;
}

std::vector<int32_t> SomeTokens(int64_t count, int32_t vocab, uint32_t seed) {
  std::vector<int32_t> tokens(count);
  for (int32_t& t : tokens) {
    seed = seed * 1664525u + 1013904223u;
    t = static_cast<int32_t>((seed >> 8) % static_cast<uint32_t>(vocab));
  }
  return tokens;
}

absl::StatusOr<double> MeasureDecode(Engine& engine, int batch, double* step_ms) {
  std::vector<std::vector<float>> states(batch, engine.InitialState());
  const std::vector<int32_t> tokens = SomeTokens(batch, engine.config().n_vocab, 7);
  std::vector<SequenceInput> inputs;
  for (int b = 0; b < batch; ++b) {
    inputs.push_back({absl::MakeSpan(states[b]), absl::MakeConstSpan(&tokens[b], 1)});
  }
  RWKV_ASSIGN_OR_RETURN(double seconds,
                        TimeSteps([&]() { return engine.Forward(inputs).status(); }));
  *step_ms = seconds * 1000;
  return batch / seconds;
}

// Whole turns of `batch` sequences as the server's scheduler steps them: the prompts in one step
// (last logits each), then one token per sequence per step with its logits, and a last step
// feeding the final sampled token without logits. Sampling is left out (the server's own cost).
absl::StatusOr<double> MeasureTurns(Engine& engine, int batch, int prompt_tokens,
                                    int new_tokens) {
  std::vector<std::vector<float>> states(batch, engine.InitialState());
  const int32_t vocab = engine.config().n_vocab;
  const std::vector<int32_t> prompts = SomeTokens(int64_t{batch} * prompt_tokens, vocab, 17);
  const std::vector<int32_t> tokens = SomeTokens(batch, vocab, 19);
  std::vector<SequenceInput> prefill, decode, finish;
  for (int b = 0; b < batch; ++b) {
    const absl::Span<float> state = absl::MakeSpan(states[b]);
    prefill.push_back(
        {state, absl::MakeConstSpan(prompts).subspan(int64_t{b} * prompt_tokens, prompt_tokens)});
    decode.push_back({state, absl::MakeConstSpan(&tokens[b], 1)});
    finish.push_back({state, absl::MakeConstSpan(&tokens[b], 1), LogitsMode::kNone});
  }
  RWKV_ASSIGN_OR_RETURN(double seconds, TimeSteps([&]() -> absl::Status {
                          for (auto& state : states) engine.ResetState(absl::MakeSpan(state));
                          RWKV_RETURN_IF_ERROR(engine.Forward(prefill).status());
                          for (int t = 1; t < new_tokens; ++t) {
                            RWKV_RETURN_IF_ERROR(engine.Forward(decode).status());
                          }
                          return engine.Forward(finish).status();
                        }));
  return static_cast<double>(batch) * new_tokens / seconds;
}

// `length` prompt tokens split over `prompts` sequences in one step, each with its last logits.
absl::StatusOr<double> MeasurePrefill(Engine& engine, int64_t length, int prompts = 1) {
  std::vector<std::vector<float>> states(prompts, engine.InitialState());
  const std::vector<int32_t> tokens = SomeTokens(length, engine.config().n_vocab, 11);
  std::vector<SequenceInput> inputs;
  const int64_t each = length / prompts;
  for (int p = 0; p < prompts; ++p) {
    inputs.push_back({absl::MakeSpan(states[p]), absl::MakeConstSpan(tokens).subspan(p * each, each)});
  }
  RWKV_ASSIGN_OR_RETURN(double seconds, TimeSteps([&]() {
                          for (auto& state : states) engine.ResetState(absl::MakeSpan(state));
                          return engine.Forward(inputs).status();
                        }));
  return static_cast<double>(each * prompts) / seconds;
}

// The logits of one decode step of this model.
absl::StatusOr<std::vector<float>> SomeLogits(Engine& engine) {
  std::vector<float> state = engine.InitialState();
  const std::vector<int32_t> prompt = SomeTokens(16, engine.config().n_vocab, 13);
  RWKV_ASSIGN_OR_RETURN(LogitsView logits, engine.Forward({{absl::MakeSpan(state), prompt}}));
  return std::vector<float>(logits.Row(0).begin(), logits.Row(0).end());
}

// The sampling figures on the logits of one decode step of this model.
absl::StatusOr<std::vector<SamplingCost>> MeasureSamplingOn(Engine& engine) {
  RWKV_ASSIGN_OR_RETURN(const std::vector<float> row, SomeLogits(engine));
  return MeasureSampling(row, std::min(absl::GetFlag(FLAGS_seconds), 1.0));
}

// --sampling-only: "| logits | setting | µs |" rows, the model's own logits and peaked ones.
absl::Status PrintSamplingOnly(Engine& engine) {
  RWKV_ASSIGN_OR_RETURN(const std::vector<float> row, SomeLogits(engine));
  const std::pair<const char*, std::vector<float>> rows[] = {{"model", row},
                                                             {"peaked", PeakedLogits(row)}};
  for (const auto& [name, logits] : rows) {
    RWKV_ASSIGN_OR_RETURN(const std::vector<SamplingCost> costs,
                          MeasureSampling(logits, absl::GetFlag(FLAGS_seconds)));
    for (const SamplingCost& cost : costs) {
      std::cout << absl::StrFormat("| %s | %s | %.2f |\n", name, cost.setting, cost.microseconds);
    }
  }
  return absl::OkStatus();
}

// "memory after load: 206.5 MiB resident (weights 197.0 MiB), loading peak 213.4 MiB".
std::string LoadMemoryLine(const Results& r) {
  return absl::StrFormat(
      "memory after load: %.1f MiB resident (weights %.1f MiB), loading peak %.1f MiB",
      r.load_rss_bytes / 1048576.0, r.weight_bytes / 1048576.0, r.load_peak_rss_bytes / 1048576.0);
}

void PrintTable(const Results& r, const ModelConfig& config) {
  std::cout << absl::StrFormat("model: %s (%s)\nprecision %s, %d threads, loaded in %.1f s\n",
                               r.shape, config.Summary(), r.precision, r.threads, r.load_seconds);
  std::cout << "| measure | tok/s | ms/step | roofline tok/s | reached |\n|---|---|---|---|---|\n";
  auto fraction = [](double value, double limit) { return limit > 0 ? 100 * value / limit : 0.0; };
  for (size_t i = 0; i < r.decode.size(); ++i) {
    const auto [batch, tok_s] = r.decode[i];
    std::cout << absl::StrFormat("| decode, batch %d | %.1f | %.2f | %.0f | %.0f%% |\n", batch,
                                 tok_s, r.decode_step_ms[i], r.DecodeRoofline(batch),
                                 fraction(tok_s, r.DecodeRoofline(batch)));
  }
  std::cout << absl::StrFormat("| prefill, %d-token prompt | %.1f | | %.0f | %.0f%% |\n",
                               absl::GetFlag(FLAGS_prefill_tokens), r.prefill_tok_s,
                               r.PrefillRoofline(), fraction(r.prefill_tok_s, r.PrefillRoofline()));
  if (const int prompts = absl::GetFlag(FLAGS_prefill_prompts); prompts > 0) {
    std::cout << absl::StrFormat("| prefill, %d prompts of %d tokens | %.1f | | %.0f | %.0f%% |\n",
                                 prompts, absl::GetFlag(FLAGS_prefill_tokens) / prompts,
                                 r.prefill_many_tok_s, r.PrefillRoofline(),
                                 fraction(r.prefill_many_tok_s, r.PrefillRoofline()));
  }
  for (const auto& [batch, tok_s] : r.turns) {
    std::cout << absl::StrFormat(
        "| turns, %d sequences x (%d prompt + %d new tokens), generated | %.1f | | | |\n", batch,
        absl::GetFlag(FLAGS_turn_prompt_tokens), absl::GetFlag(FLAGS_turn_new_tokens), tok_s);
  }
  if (r.bandwidth > 0) {
    std::cout << absl::StrFormat(
        "limits: read bandwidth %.1f GB/s, matmul peak %.0f GFLOP/s (%s, 64 x %d x %d); per "
        "token: %.1f MB of weights, %.2f GFLOP; a decode step also reads and writes each "
        "sequence's state\n",
        r.bandwidth / 1e9, r.matmul_peak / 1e9, r.precision, config.n_embed, config.n_embed,
        r.bytes_per_token / 1e6, r.flops_per_token / 1e9);
  }
  for (const SamplingCost& cost : r.sampling) {
    std::cout << absl::StrFormat("| sampling, %s | | %.3f | | |\n", cost.setting,
                                 cost.microseconds / 1000);
  }
  std::cout << absl::StrFormat("%s\n", LoadMemoryLine(r));
  std::cout << absl::StrFormat(
      "state: %d bytes per session; peak RSS: %.1f MiB serving one sequence (prefill, batch 1), "
      "%.1f MiB overall (with %d sessions' states and step buffers)\n",
      r.state_bytes, r.single_peak_rss_bytes / 1048576.0, r.peak_rss_bytes / 1048576.0,
      r.decode.empty() ? 1 : r.decode.back().first);
}

absl::Status WriteJson(const Results& r, const std::string& path) {
  std::vector<std::string> decode;
  std::vector<std::string> fractions;
  std::vector<std::string> turns;
  for (const auto& [batch, tok_s] : r.decode) {
    decode.push_back(absl::StrFormat("\"%d\": %.3f", batch, tok_s));
    fractions.push_back(absl::StrFormat("\"%d\": %.1f", batch, r.DecodeRoofline(batch)));
  }
  for (const auto& [batch, tok_s] : r.turns) {
    turns.push_back(absl::StrFormat("\"%d\": %.3f", batch, tok_s));
  }
  const std::string json = absl::StrFormat(
      "{\"shape\": \"%s\", \"precision\": \"%s\", \"threads\": %d, \"decode_tok_s\": {%s}, "
      "\"turn_tok_s\": {%s}, "
      "\"prefill_tok_s\": %.3f, \"prefill_tokens\": %d, \"prefill_many_tok_s\": %.3f, "
      "\"prefill_prompts\": %d, \"state_bytes\": %d, "
      "\"weight_bytes\": %d, \"load_rss_bytes\": %d, \"load_peak_rss_bytes\": %d, "
      "\"peak_rss_bytes\": %d, \"single_sequence_peak_rss_bytes\": %d, \"bytes_per_token\": %d, "
      "\"flops_per_token\": %d, "
      "\"read_bandwidth_bytes_s\": %.0f, \"matmul_peak_flop_s\": %.0f, "
      "\"decode_roofline_tok_s\": {%s}, \"prefill_roofline_tok_s\": %.1f}\n",
      r.shape, r.precision, r.threads, absl::StrJoin(decode, ", "), absl::StrJoin(turns, ", "),
      r.prefill_tok_s,
      absl::GetFlag(FLAGS_prefill_tokens), r.prefill_many_tok_s, absl::GetFlag(FLAGS_prefill_prompts),
      r.state_bytes, r.weight_bytes, r.load_rss_bytes,
      r.load_peak_rss_bytes, r.peak_rss_bytes, r.single_peak_rss_bytes, r.bytes_per_token,
      r.flops_per_token, r.bandwidth, r.matmul_peak, absl::StrJoin(fractions, ", "),
      r.PrefillRoofline());
  std::ofstream out(path, std::ios::trunc);
  out << json;
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::Status Run() {
  Results r;
  const std::string model = absl::GetFlag(FLAGS_model);
  r.shape = model.empty() ? absl::GetFlag(FLAGS_shape) : model;
  r.threads = absl::GetFlag(FLAGS_threads);
  RWKV_ASSIGN_OR_RETURN(Precision precision, ParsePrecision(absl::GetFlag(FLAGS_precision)));
  const absl::Time start = absl::Now();
  RWKV_ASSIGN_OR_RETURN(
      auto engine,
      Engine::Create({.model = model.empty() ? "synthetic:" + r.shape : model,
                      .threads = r.threads,
                      .precision = precision,
                      .prefill_wkv_chunk = absl::GetFlag(FLAGS_prefill_wkv_chunk),
                      .auto_precision = IsAutoPrecision(absl::GetFlag(FLAGS_precision))}));
  precision = engine->precision();
  r.precision = std::string(PrecisionName(precision));
  r.load_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  RWKV_ASSIGN_OR_RETURN(const ProcessMemory loaded, ReadProcessMemory());
  r.weight_bytes = engine->WeightBytes();
  r.load_rss_bytes = loaded.rss_bytes;
  r.load_peak_rss_bytes = loaded.peak_rss_bytes;
  if (absl::GetFlag(FLAGS_load_only)) {
    std::cout << absl::StrFormat(
        "model: %s (%s)\nprecision %s, %d threads, loaded in %.3f s, "
        "peak RSS %.1f MiB\n%s\n",
        r.shape, engine->config().Summary(), r.precision, r.threads, r.load_seconds,
        PeakRssBytes() / 1048576.0, LoadMemoryLine(r));
    return absl::OkStatus();
  }
  if (absl::GetFlag(FLAGS_sampling_only)) return PrintSamplingOnly(*engine);
  r.state_bytes = engine->config().StateBytes();
  // Prefill and batch 1 first: the peak RSS of serving one sequence is what single-sequence
  // engines report.
  RWKV_ASSIGN_OR_RETURN(r.prefill_tok_s,
                        MeasurePrefill(*engine, absl::GetFlag(FLAGS_prefill_tokens)));
  if (const int prompts = absl::GetFlag(FLAGS_prefill_prompts); prompts > 0) {
    if (prompts > absl::GetFlag(FLAGS_prefill_tokens)) {
      return absl::InvalidArgumentError("--prefill-prompts must not exceed --prefill-tokens");
    }
    RWKV_ASSIGN_OR_RETURN(r.prefill_many_tok_s,
                          MeasurePrefill(*engine, absl::GetFlag(FLAGS_prefill_tokens), prompts));
  }
  std::vector<int> batches;
  for (absl::string_view part : absl::StrSplit(absl::GetFlag(FLAGS_batches), ',')) {
    int batch = 0;
    if (!absl::SimpleAtoi(part, &batch) || batch <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("bad --batches entry '", part, "'"));
    }
    batches.push_back(batch);
  }
  std::sort(batches.begin(), batches.end());
  for (const int batch : batches) {
    if (batch > 1 && r.single_peak_rss_bytes == 0) r.single_peak_rss_bytes = PeakRssBytes();
    double step_ms = 0;
    RWKV_ASSIGN_OR_RETURN(double tok_s, MeasureDecode(*engine, batch, &step_ms));
    r.decode.emplace_back(batch, tok_s);
    r.decode_step_ms.push_back(step_ms);
    if (const int prompt = absl::GetFlag(FLAGS_turn_prompt_tokens); prompt > 0) {
      const int new_tokens = absl::GetFlag(FLAGS_turn_new_tokens);
      if (new_tokens < 1) return absl::InvalidArgumentError("--turn-new-tokens must be >= 1");
      RWKV_ASSIGN_OR_RETURN(double turn_tok_s, MeasureTurns(*engine, batch, prompt, new_tokens));
      r.turns.emplace_back(batch, turn_tok_s);
    }
  }
  if (r.single_peak_rss_bytes == 0) r.single_peak_rss_bytes = PeakRssBytes();
  r.peak_rss_bytes = PeakRssBytes();
  RWKV_ASSIGN_OR_RETURN(r.sampling, MeasureSamplingOn(*engine));  // before the roofline probes allocate their buffers
  r.bytes_per_token = engine->MatrixBytesPerToken();
  r.flops_per_token = engine->MatrixFlopsPerToken();
  if (absl::GetFlag(FLAGS_roofline)) {
    r.bandwidth = MeasureReadBandwidth(engine->threads());
    RWKV_ASSIGN_OR_RETURN(r.matmul_peak, MeasureMatmulPeak(precision, engine->config().n_embed,
                                                           64, engine->threads()));
  }
  PrintTable(r, engine->config());
  const std::string json = absl::GetFlag(FLAGS_json);
  return json.empty() ? absl::OkStatus() : WriteJson(r, json);
}

}  // namespace
}  // namespace rwkv::engine

int main(int argc, char** argv) {
  rwkv::ParseCommandLine(argc, argv,
                         "Benchmarks the engine.\n"
                         "  rwkv-bench [--shape rwkv7-0.1b | --model FILE] [--threads N] "
                         "[--json FILE]");
  absl::Status status = rwkv::engine::Run();
  if (!status.ok()) {
    std::cerr << "rwkv-bench: " << status << "\n";
    return 1;
  }
  return 0;
}
