// rwkv-soak: the kill soak (see kill_soak.h). Runs build/bin/rwkv-server on a fresh RocksDB
// data directory, drives concurrent sessions against it, SIGKILLs and restarts it at random
// moments and checks every session after each restart.
//
//   build/bin/rwkv-soak --duration-s 120                 # what CTest runs (label soak)
//   nice -n 10 build/bin/rwkv-soak --duration-s 1800     # a long run
//
// Exit status: 0 when every check passed, 1 when any failed (after the summary), 2 for a usage
// error.
#include <stdlib.h>

#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/command_line.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/soak/kill_soak.h"

ABSL_FLAG(int32_t, duration_s, 120, "How long to drive and kill the server, in seconds.");
ABSL_FLAG(int32_t, workers, 16, "Concurrent sessions (one client thread each).");
ABSL_FLAG(std::string, model, "", "Model file (default: the tiny RWKV-7 model in ../shared).");
ABSL_FLAG(std::string, data_dir, "",
          "The server's --data-dir (default: a new temporary directory, removed after a run "
          "that passed).");
ABSL_FLAG(bool, keep_failed_data, true,
          "Keep the temporary data directory of a run that failed, for inspection.");
ABSL_FLAG(std::string, server_args, "", "More server flags, separated by spaces.");
ABSL_FLAG(uint64_t, seed, 0, "Seed of the soak's random choices (0: a random seed, printed).");
ABSL_FLAG(int32_t, kill_min_ms, 500, "Shortest time from the end of the checks to a kill.");
ABSL_FLAG(int32_t, kill_max_ms, 5000, "Longest time from the end of the checks to a kill.");
ABSL_FLAG(double, startup_kill_probability, 0.2,
          "Chance that a start is first killed while the server starts.");
ABSL_FLAG(double, keep_probability, 0.5, "Share of turns with CANCEL_POLICY_KEEP (else DISCARD).");
ABSL_FLAG(double, cancel_probability, 0.2, "Share of turns cancelled after a random token.");
ABSL_FLAG(double, deadline_probability, 0.15, "Share of turns with a short client deadline.");
ABSL_FLAG(int32_t, deadline_max_ms, 200, "Longest of those deadlines.");
ABSL_FLAG(int32_t, max_prompt_tokens, 24, "Longest random prompt.");
ABSL_FLAG(int32_t, max_new_tokens, 48, "Largest random max_tokens of a turn.");
ABSL_FLAG(int32_t, max_history_tokens, 3000,
          "A session whose history passes this is deleted and replaced by a new one.");

namespace rwkv::soak {
namespace {

SoakOptions OptionsFromFlags() {
  SoakOptions options;
  options.duration = absl::Seconds(absl::GetFlag(FLAGS_duration_s));
  options.workers = absl::GetFlag(FLAGS_workers);
  options.model = absl::GetFlag(FLAGS_model);
  if (options.model.empty()) options.model = testing::TinyModel();
  for (absl::string_view arg :
       absl::StrSplit(absl::GetFlag(FLAGS_server_args), ' ', absl::SkipEmpty())) {
    options.server_args.emplace_back(arg);
  }
  options.seed = absl::GetFlag(FLAGS_seed);
  if (options.seed == 0) options.seed = std::random_device()();
  options.min_kill_after = absl::Milliseconds(absl::GetFlag(FLAGS_kill_min_ms));
  options.max_kill_after = absl::Milliseconds(absl::GetFlag(FLAGS_kill_max_ms));
  options.startup_kill_probability = absl::GetFlag(FLAGS_startup_kill_probability);
  WorkerOptions& worker = options.worker;
  worker.keep_probability = absl::GetFlag(FLAGS_keep_probability);
  worker.cancel_probability = absl::GetFlag(FLAGS_cancel_probability);
  worker.deadline_probability = absl::GetFlag(FLAGS_deadline_probability);
  worker.max_deadline = absl::Milliseconds(absl::GetFlag(FLAGS_deadline_max_ms));
  worker.max_prompt_tokens = absl::GetFlag(FLAGS_max_prompt_tokens);
  worker.max_new_tokens = absl::GetFlag(FLAGS_max_new_tokens);
  worker.max_history_tokens = absl::GetFlag(FLAGS_max_history_tokens);
  return options;
}

// A usage error, or "" when the options make sense.
std::string Validate(const SoakOptions& options) {
  const WorkerOptions& w = options.worker;
  if (options.duration < absl::ZeroDuration()) return "--duration-s must be >= 0";
  if (options.workers < 1) return "--workers must be >= 1";
  if (options.min_kill_after < absl::ZeroDuration() ||
      options.max_kill_after < options.min_kill_after) {
    return "need 0 <= --kill-min-ms <= --kill-max-ms";
  }
  for (double p : {options.startup_kill_probability, w.keep_probability, w.cancel_probability,
                   w.deadline_probability}) {
    if (p < 0 || p > 1) return "probabilities must be in [0, 1]";
  }
  if (w.cancel_probability + w.deadline_probability > 1) {
    return "--cancel-probability + --deadline-probability must be at most 1";
  }
  if (w.max_deadline < absl::Microseconds(1)) return "--deadline-max-ms must be >= 1";
  if (w.max_prompt_tokens < 1 || w.max_new_tokens < 1) {
    return "--max-prompt-tokens and --max-new-tokens must be >= 1";
  }
  return "";
}

}  // namespace
}  // namespace rwkv::soak

int main(int argc, char** argv) {
  std::vector<char*> positional = rwkv::ParseCommandLine(
      argc, argv,
      "Kill soak for rwkv-serve: concurrent greedy sessions with random cancels and deadlines\n"
      "against build/bin/rwkv-server on RocksDB (--commit-durability sync), SIGKILLed and\n"
      "restarted at random moments; after each restart every session's stored version and\n"
      "token count, and a resumed continuation against a stateless run, are checked.\n"
      "  rwkv-soak [--duration-s 120] [--workers 16] [--seed S] [--data-dir DIR] ...\n"
      "Exit status 1 if any check failed.");
  if (positional.size() > 1) {
    std::cerr << "rwkv-soak: unexpected argument '" << positional[1] << "' (see --help)\n";
    return 2;
  }
  rwkv::soak::SoakOptions options = rwkv::soak::OptionsFromFlags();
  if (const std::string error = rwkv::soak::Validate(options); !error.empty()) {
    std::cerr << "rwkv-soak: " << error << " (see --help)\n";
    return 2;
  }
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  const bool temporary = options.data_dir.empty();
  if (temporary) {
    std::string pattern = (std::filesystem::temp_directory_path() / "rwkv-soak-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      std::cerr << "rwkv-soak: cannot make a temporary directory\n";
      return 1;
    }
    options.data_dir = pattern;
  }
  std::cerr << "rwkv-soak: " << options.workers << " sessions for "
            << absl::FormatDuration(options.duration) << ", seed " << options.seed << ", data in "
            << options.data_dir << "\n";

  rwkv::soak::SoakStats stats;
  const absl::Time start = absl::Now();
  rwkv::soak::KillSoak(options, stats).Run();
  std::cout << stats.Summary(absl::ToDoubleSeconds(absl::Now() - start)) << std::flush;
  const bool passed = stats.failures() == 0;
  if (temporary && (passed || !absl::GetFlag(FLAGS_keep_failed_data))) {
    std::error_code ignored;
    std::filesystem::remove_all(options.data_dir, ignored);
  }
  if (!passed) {
    std::cerr << "rwkv-soak: FAILED (seed " << options.seed << "); data directory "
              << options.data_dir << "\n";
  }
  return passed ? 0 : 1;
}
