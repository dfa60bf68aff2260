#include "tests/server/turns/turn_test_fixture.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "server/store/state_store.h"
#include "tests/fakes/test_turn_sink.h"

namespace rwkv::server {

void TurnTestFixture::Open(const Limits& limits) {
  io_.reset();
  scheduler_.reset();
  absl::StatusOr<std::unique_ptr<StateStore>> memory = OpenStateStore("memory:");
  ASSERT_TRUE(memory.ok()) << memory.status();
  faults_ = std::make_unique<testing::FaultInjectingStore>(std::move(*memory));
  SessionManager::Options options;
  options.model_fingerprint = engine_.fingerprint();
  options.initial_state = engine_.InitialState();
  options.clock = &clock_;
  options.hot_cache_bytes = limits.hot_cache_bytes;
  absl::StatusOr<std::unique_ptr<SessionManager>> sessions =
      SessionManager::Create(faults_->Share(), std::move(options));
  ASSERT_TRUE(sessions.ok()) << sessions.status();
  sessions_ = *std::move(sessions);
  budget_.reset();
  if (limits.budget_turns.has_value()) {
    budget_ = std::make_unique<StateBudget>(*limits.budget_turns * TurnBytes());
  }
  Scheduler::Options scheduler_options;
  scheduler_options.max_queued_requests = limits.max_queued_requests;
  scheduler_options.max_batch_sequences = limits.max_batch_sequences;
  scheduler_options.clock = &clock_;
  scheduler_ = std::make_unique<Scheduler>(&engine_, &tokenizer_, scheduler_options);
  scheduler_->Start();
  io_ = std::make_unique<IoExecutor>(limits.io_threads, limits.max_io_queue);
}

TurnRequest TurnTestFixture::Request(absl::string_view prompt, int max_tokens,
                                     std::string session) {
  TurnRequest request;
  request.generation.prompt = Bytes(prompt);
  request.generation.sampling.temperature = 0;
  request.generation.sampling.seed = 7;
  request.generation.max_tokens = max_tokens;
  request.generation.received = clock_.Now();
  request.create_session = !session.empty();
  request.session_id = std::move(session);
  return request;
}

absl::StatusOr<TurnResult> TurnTestFixture::Run(TurnRequest request) {
  testing::TestTurnSink sink;
  TurnRunner turn(services(), &sink);
  turn.Start(std::move(request));
  return sink.WaitForResult();
}

void TurnTestFixture::Create(absl::string_view id) {
  absl::StatusOr<SessionRecord> record = sessions_->CreateSession(id, {});
  ASSERT_TRUE(record.ok()) << record.status();
}

std::vector<int32_t> TurnTestFixture::StoredHistory(absl::string_view id,
                                                    absl::string_view tenant) {
  absl::StatusOr<SessionManager::Turn> turn = sessions_->BeginTurn(tenant, id, {});
  if (!turn.ok()) {
    ADD_FAILURE() << turn.status();
    return {};
  }
  std::vector<int32_t> history = testing::FakeEngine::History(turn->TakeState());
  sessions_->Abort(*std::move(turn));
  return history;
}

}  // namespace rwkv::server
