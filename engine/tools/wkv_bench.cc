// rwkv-wkv-bench: RWKV-7's WKV alone, the sequential recurrence (WkvV7) against the chunked
// matrix form (WkvV7Chunked), for one sequence of T prompt tokens.
//
//   rwkv-wkv-bench [--heads 12] [--head-size 64] [--threads 1] [--seconds 0.5] [--chunk L]
//
// Prints, per T and chunk length L, the median time per call, the speedup over WkvV7 and the
// largest relative difference of y and of the final state (per head row: max |diff| / max |ref|).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "common/command_line.h"
#include "engine/forward/wkv.h"
#include "engine/forward/wkv7_chunked.h"
#include "engine/tools/median_seconds.h"
#include "engine/tools/wkv7_inputs.h"

ABSL_FLAG(int64_t, heads, 12, "Heads of the sequence.");
ABSL_FLAG(int64_t, head_size, 64, "Head size.");
ABSL_FLAG(int32_t, threads, 1, "OpenMP threads.");
ABSL_FLAG(double, seconds, 0.5, "Minimum measuring time per figure.");
ABSL_FLAG(int64_t, chunk, 0, "Chunk length; 0: 16, 32 and 64.");

namespace rwkv::engine {
namespace {

struct Flags {
  int64_t heads = 12;
  int64_t head_size = 64;
  int threads = 1;
  double seconds = 0.5;
  int64_t chunk = 0;  // 0: 16, 32 and 64
};

struct Run {
  std::vector<float> y, state;
};

// One call on `run`'s state; chunk 0 is the sequential WkvV7.
void Call(const Wkv7Inputs& in, const Flags& flags, int64_t tokens, int64_t chunk, Run& run) {
  PackedBatch batch{{{0, tokens, run.state.data()}}, tokens};
  const WkvShape shape{flags.heads, flags.head_size, 0};
  if (chunk == 0) {
    WkvV7(batch, shape, in.r.data(), in.w.data(), in.k.data(), in.v.data(), in.a.data(),
          in.b.data(), run.y.data());
  } else {
    WkvV7Chunked(batch, shape, chunk, in.r.data(), in.w.data(), in.k.data(), in.v.data(),
                 in.a.data(), in.b.data(), run.y.data());
  }
}

void Bench(const Flags& flags) {
  std::printf("WKV-7, H=%lld N=%lld, %d thread(s), interleaved medians over >= %.1f s per T\n",
              static_cast<long long>(flags.heads), static_cast<long long>(flags.head_size),
              flags.threads, flags.seconds);
  std::printf("%6s %6s %12s %12s %9s %12s %12s\n", "T", "L", "ms/call", "us/token", "speedup",
              "y rel diff", "S rel diff");
  for (int64_t tokens : {64, 128, 512}) {
    const Wkv7Inputs in = RandomWkv7Inputs(tokens, flags.heads, flags.head_size, 7);
    std::vector<float> state0(flags.heads * flags.head_size * flags.head_size);
    for (size_t i = 0; i < state0.size(); ++i) state0[i] = 0.1f * std::sin(0.37f * i);
    Run ref{std::vector<float>(in.r.size()), state0};
    Call(in, flags, tokens, 0, ref);
    std::vector<int64_t> chunks = {0, 16, 32, 64};
    if (flags.chunk > 0) chunks = {0, flags.chunk};
    // Timed on states that keep evolving (the cost does not depend on their values).
    std::vector<Run> runs(chunks.size(), Run{std::vector<float>(in.r.size()), state0});
    std::vector<std::function<void()>> calls;
    for (size_t i = 0; i < chunks.size(); ++i) {
      calls.push_back([&, i] { Call(in, flags, tokens, chunks[i], runs[i]); });
    }
    const std::vector<double> seconds = MedianSeconds(calls, flags.seconds);
    for (size_t i = 0; i < chunks.size(); ++i) {
      Run run{std::vector<float>(in.r.size()), state0};
      Call(in, flags, tokens, chunks[i], run);
      std::printf("%6lld %6s %12.3f %12.3f %8.2fx %12.2e %12.2e\n", static_cast<long long>(tokens),
                  chunks[i] == 0 ? "seq" : std::to_string(chunks[i]).c_str(), seconds[i] * 1e3,
                  seconds[i] * 1e6 / static_cast<double>(tokens), seconds[0] / seconds[i],
                  MaxRowRelDiff(run.y, ref.y, flags.head_size),
                  MaxRowRelDiff(run.state, ref.state, flags.head_size));
    }
  }
}

}  // namespace
}  // namespace rwkv::engine

int main(int argc, char** argv) {
  rwkv::ParseCommandLine(argc, argv,
                         "RWKV-7's WKV alone: the sequential recurrence against the chunked form.\n"
                         "  rwkv-wkv-bench [--heads 12] [--head-size 64] [--threads 1] "
                         "[--seconds 0.5] [--chunk L]");
  rwkv::engine::Flags flags;
  flags.heads = absl::GetFlag(FLAGS_heads);
  flags.head_size = absl::GetFlag(FLAGS_head_size);
  flags.threads = absl::GetFlag(FLAGS_threads);
  flags.chunk = absl::GetFlag(FLAGS_chunk);
  flags.seconds = absl::GetFlag(FLAGS_seconds);
  if (flags.heads < 1 || flags.head_size < 1 || flags.threads < 1) {
    std::fprintf(stderr, "--heads, --head-size and --threads must be >= 1\n");
    return 2;
  }
  omp_set_num_threads(flags.threads);
  rwkv::engine::Bench(flags);
  return 0;
}
