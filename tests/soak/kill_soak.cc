#include "tests/soak/kill_soak.h"

#include <signal.h>

#include <atomic>
#include <iostream>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/rwkv_client.h"

namespace rwkv::soak {
namespace {

using testing::ServerProcess;

constexpr int kKilledExitCode = 128 + SIGKILL;  // ServerProcess::Stop's code for a SIGKILL
constexpr absl::Duration kReportEvery = absl::Minutes(1);  // a progress line on stderr

std::string LogTail(const ServerProcess& server) {
  const std::string log = server.Log();
  constexpr size_t kTail = 3000;
  return log.size() <= kTail ? log : log.substr(log.size() - kTail);
}

}  // namespace

KillSoak::KillSoak(const SoakOptions& options, SoakStats& stats)
    : options_(options), stats_(stats), random_(options.seed) {
  for (int i = 0; i < options_.workers; ++i) {
    workers_.push_back(std::make_unique<SoakWorker>(i, options_.worker, random_(), stats_));
  }
}

absl::Duration KillSoak::Uniform(absl::Duration low, absl::Duration high) {
  const int64_t low_us = absl::ToInt64Microseconds(low);
  const int64_t high_us = std::max(low_us, absl::ToInt64Microseconds(high));
  return absl::Microseconds(std::uniform_int_distribution<int64_t>(low_us, high_us)(random_));
}

absl::StatusOr<std::unique_ptr<ServerProcess>> KillSoak::StartServer() {
  std::vector<std::string> args = {"--model",         options_.model,        "--data-dir",
                                   options_.data_dir, "--commit-durability", "sync"};
  args.insert(args.end(), options_.server_args.begin(), options_.server_args.end());
  if (starts_++ > 0) stats_.counters.restarts++;
  if (std::bernoulli_distribution(options_.startup_kill_probability)(random_)) {
    // Ports bound: the model may be loading and RocksDB recovering its log.
    absl::StatusOr<std::unique_ptr<ServerProcess>> starting = ServerProcess::StartLoading(args);
    if (!starting.ok()) return starting.status();
    absl::SleepFor(Uniform(absl::ZeroDuration(), options_.max_startup_kill_after));
    const int code = (*starting)->Stop(SIGKILL, absl::Seconds(10));
    if (code != kKilledExitCode) {
      stats_.Fail(
          absl::StrCat("the server exited with ", code, " while starting:\n", LogTail(**starting)));
    }
    stats_.counters.startup_kills++;
  }
  return ServerProcess::Start(args);
}

void KillSoak::KillAtRandom(ServerProcess& server, std::atomic<bool>& killing) {
  absl::SleepFor(Uniform(options_.min_kill_after, options_.max_kill_after));
  // Set before the kill, so that every call the kill breaks sees it.
  killing = true;
  const int code = server.Stop(SIGKILL, absl::Seconds(10));
  if (code != kKilledExitCode) {
    stats_.Fail(absl::StrCat("the server died by itself (exit ", code, "):\n", LogTail(server)));
  }
  stats_.counters.kills++;
}

bool KillSoak::RunEpoch(bool last) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = StartServer();
  if (!server.ok()) {
    stats_.Fail(absl::StrCat("the server did not start: ", server.status().ToString()));
    return false;
  }
  client::RwkvClient client((*server)->Channel());
  std::atomic<bool> killing{false};
  std::atomic<int> checked{0};
  std::vector<std::thread> threads;
  for (auto& worker : workers_) {
    threads.emplace_back([&, w = worker.get()] {
      w->CheckAfterRestart(client);
      ++checked;
      if (!last) w->RunUntilKilled(client, killing);
    });
  }
  // Checks end on their own (every call has a hang guard); the kill comes after them so that
  // each epoch checks every session.
  while (checked < static_cast<int>(workers_.size())) absl::SleepFor(absl::Milliseconds(10));
  if (last) {
    for (std::thread& t : threads) t.join();
    const int code = (*server)->Terminate(absl::Seconds(60));
    if (code != 0) {
      stats_.Fail(absl::StrCat("SIGTERM: the server exited with ", code, ":\n", LogTail(**server)));
    }
    return true;
  }
  KillAtRandom(**server, killing);
  for (std::thread& t : threads) t.join();
  return true;
}

void KillSoak::Run() {
  const absl::Time start = absl::Now();
  const absl::Time end = start + options_.duration;
  absl::Time next_report = start + kReportEvery;
  while (absl::Now() < end) {
    if (!RunEpoch(/*last=*/false)) return;
    if (absl::Now() >= next_report) {
      next_report += kReportEvery;
      const SoakCounters& c = stats_.counters;
      std::cerr << absl::StrCat("rwkv-soak: ", absl::ToInt64Seconds(absl::Now() - start),
                                " s: ", c.turns_started.load(), " turns, ", c.kills.load(),
                                " kills, ", c.continuation_checks.load(),
                                " continuations checked, ", stats_.failures(), " failures\n");
    }
  }
  RunEpoch(/*last=*/true);
}

}  // namespace rwkv::soak
