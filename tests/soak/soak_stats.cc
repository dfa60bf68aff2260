#include "tests/soak/soak_stats.h"

#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rwkv::soak {

void SoakStats::Fail(const std::string& what) {
  std::cerr << "rwkv-soak: FAILED: " << what << "\n";
  absl::MutexLock lock(&mu_);
  ++failures_;
  if (first_failures_.size() < kFailuresKept) first_failures_.push_back(what);
}

int64_t SoakStats::failures() const {
  absl::MutexLock lock(&mu_);
  return failures_;
}

std::string SoakStats::Summary(double seconds) const {
  const SoakCounters& c = counters;
  const std::pair<const char*, int64_t> rows[] = {
      {"turns started", c.turns_started},
      {"turns committed (Done received)", c.turns_committed},
      {"turns cancelled by the client", c.turns_cancelled},
      {"turns past their deadline", c.turns_deadline},
      {"turns broken by a kill", c.turns_killed},
      {"kills while serving", c.kills},
      {"kills during start-up", c.startup_kills},
      {"restarts", c.restarts},
      {"store checks (version, token count)", c.store_checks},
      {"continuation checks (resumed == stateless)", c.continuation_checks},
      {"tokens compared in continuation checks", c.reference_tokens},
      {"unacknowledged turns resolved", c.pending_resolved},
      {"  ... found committed", c.pending_committed},
      {"  ... KEEP with part of the prompt", c.partial_prompts_kept},
      {"  ... DISCARD stored whole (done before the break)", c.discard_turns_committed},
      {"      of which the client had cancelled", c.discard_committed_after_cancel},
      {"      of which the deadline had passed", c.discard_committed_after_deadline},
      {"  ... tokens never received, recomputed", c.tokens_reconstructed},
      {"sessions retired (history limit)", c.sessions_retired},
      {"DATA_LOSS statuses", c.data_loss},
  };
  std::string out = absl::StrFormat("rwkv-soak summary after %.0f s\n", seconds);
  for (const auto& [name, value] : rows) {
    absl::StrAppend(&out, absl::StrFormat("  %-52s %10d\n", name, value));
  }
  absl::MutexLock lock(&mu_);
  absl::StrAppend(&out, absl::StrFormat("  %-52s %10d\n", "failed checks", failures_));
  for (const std::string& failure : first_failures_) absl::StrAppend(&out, "  - ", failure, "\n");
  return out;
}

}  // namespace rwkv::soak
