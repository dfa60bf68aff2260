// TurnTestFixture: the fixture the TurnRunner tests share. A TurnRunner's services are the real
// Scheduler over a FakeEngine, a SessionManager over the memory store behind a
// FaultInjectingStore, an IoExecutor, a FakeClock and, when asked for, a StateBudget.
//
//   class TurnThingTest : public TurnTestFixture {};
//   TEST_F(TurnThingTest, CommitsTheTurn) {
//     Create("chat-1");
//     absl::StatusOr<TurnResult> result = Run(Request("Hi", 3, "chat-1"));
//     EXPECT_THAT(StoredHistory("chat-1"), ElementsAreArray(Bytes("Hicde")));
//   }
//
// Greedy requests: the fake engine's default policy continues any history of n tokens with
// 'a' + n % 26, so "Hi" goes on "cde...".
#ifndef RWKV_TESTS_SERVER_TURNS_TURN_TEST_FIXTURE_H_
#define RWKV_TESTS_SERVER_TURNS_TURN_TEST_FIXTURE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "gtest/gtest.h"
#include "server/scheduler/scheduler.h"
#include "server/sessions/session_manager.h"
#include "server/turns/io_executor.h"
#include "server/turns/state_budget.h"
#include "server/turns/turn_runner.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_engine.h"
#include "tests/fakes/fault_injecting_store.h"

namespace rwkv::server {

class TurnTestFixture : public ::testing::Test {
 protected:
  struct Limits {
    int max_queued_requests = 256;
    int max_batch_sequences = Scheduler::Options().max_batch_sequences;
    int io_threads = 2;
    int max_io_queue = IoExecutor::kUnbounded;
    // The StateBudget, in turns with a 2-token prompt (TurnBytes); none: no budget.
    std::optional<int64_t> budget_turns;
    int64_t hot_cache_bytes = SessionManager::Options().hot_cache_bytes;
  };

  void SetUp() override { Open(Limits()); }
  // A failed test must not leave the engine thread parked at a hold (the scheduler joins it).
  void TearDown() override { engine_.Release(); }

  // (Re)opens every service with `limits`, over a new, empty memory store.
  void Open(const Limits& limits);

  TurnRunner::Services services() {
    return {&engine_, scheduler_.get(), sessions_.get(), io_.get(), &clock_, budget_.get()};
  }
  // What a turn with a 2-token prompt holds in the StateBudget.
  int64_t TurnBytes() const { return StateBudget::TurnBytes(engine_.config(), 2); }

  static std::vector<int32_t> Bytes(absl::string_view text) { return {text.begin(), text.end()}; }
  // Greedy, seed 7, on `session` (created when missing) unless empty.
  TurnRequest Request(absl::string_view prompt, int max_tokens, std::string session = "");
  // Runs `request` to its end.
  absl::StatusOr<TurnResult> Run(TurnRequest request);

  void Create(absl::string_view id);
  // The tokens the stored state of `id` has been fed (via a turn that is then aborted).
  std::vector<int32_t> StoredHistory(absl::string_view id, absl::string_view tenant = "");

  testing::FakeClock clock_;
  testing::FakeEngine engine_;
  engine::ByteTokenizer tokenizer_;
  std::unique_ptr<testing::FaultInjectingStore> faults_;
  std::unique_ptr<SessionManager> sessions_;
  std::unique_ptr<StateBudget> budget_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<IoExecutor> io_;  // destroyed first: every posted task runs before the rest go
};

}  // namespace rwkv::server

#endif  // RWKV_TESTS_SERVER_TURNS_TURN_TEST_FIXTURE_H_
