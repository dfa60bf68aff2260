// Scheduler::ReservePlace: a place in the queue taken before a request exists (before its state
// is loaded), so that a full queue is refused before it costs a store read (issue 11).
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "gtest/gtest.h"
#include "server/scheduler/scheduler.h"
#include "tests/fakes/fake_engine.h"
#include "tests/fakes/test_sink.h"

namespace rwkv::server {
namespace {

using testing::FakeEngine;
using testing::TestSink;

class SchedulerPlacesTest : public ::testing::Test {
 protected:
  // One batch slot, `max_queued` places in the queue; not started, so that nothing leaves the
  // queue unless a test starts the loop.
  void Create(int max_queued) {
    Scheduler::Options options;
    options.max_batch_sequences = 1;
    options.max_queued_requests = max_queued;
    scheduler_ = std::make_unique<Scheduler>(&engine_, &tokenizer_, options);
  }

  GenerationRequest Request() {
    GenerationRequest request;
    request.prompt = {'H', 'i'};
    request.state = engine_.InitialState();
    request.sampling.temperature = 0;
    request.max_tokens = 2;
    return request;
  }

  TestSink& NewSink() {
    sinks_.push_back(std::make_unique<TestSink>(scheduler_.get()));
    return *sinks_.back();
  }

  FakeEngine engine_;
  engine::ByteTokenizer tokenizer_;
  std::vector<std::unique_ptr<TestSink>> sinks_;
  std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(SchedulerPlacesTest, PlacesCountAgainstTheQueueBound) {
  Create(/*max_queued=*/2);
  absl::StatusOr<Scheduler::QueuePlace> first = scheduler_->ReservePlace();
  absl::StatusOr<Scheduler::QueuePlace> second = scheduler_->ReservePlace();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  // Both places are taken: a third place and a plain Submit are refused.
  absl::StatusOr<Scheduler::QueuePlace> third = scheduler_->ReservePlace();
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted) << third.status();
  EXPECT_EQ(scheduler_->Submit(Request(), &NewSink()).code(),
            absl::StatusCode::kResourceExhausted);
  // A request in a place is accepted (it takes the place, so the queue is still full).
  EXPECT_TRUE(scheduler_->Submit(Request(), &NewSink(), *std::move(first)).ok());
  EXPECT_EQ(scheduler_->stats().waiting, 1);
  EXPECT_EQ(scheduler_->ReservePlace().status().code(), absl::StatusCode::kResourceExhausted);
  // A place dropped unused is given back.
  second = absl::CancelledError("dropped");
  EXPECT_TRUE(scheduler_->ReservePlace().ok());
}

TEST_F(SchedulerPlacesTest, AFailedSubmitGivesThePlaceBack) {
  Create(/*max_queued=*/1);
  absl::StatusOr<Scheduler::QueuePlace> place = scheduler_->ReservePlace();
  ASSERT_TRUE(place.ok()) << place.status();
  GenerationRequest bad = Request();
  bad.state.pop_back();  // does not fit the model
  EXPECT_EQ(scheduler_->Submit(std::move(bad), &NewSink(), *std::move(place)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(scheduler_->ReservePlace().ok()) << "the failed request kept its place";
}

TEST_F(SchedulerPlacesTest, MovedPlacesAreGivenBackOnce) {
  Create(/*max_queued=*/2);
  std::optional<Scheduler::QueuePlace> a = *scheduler_->ReservePlace();
  Scheduler::QueuePlace b = *scheduler_->ReservePlace();
  Scheduler::QueuePlace c = std::move(b);  // b is empty now
  b = std::move(*a);                        // b takes a's place; a is empty
  a.reset();                                // gives nothing back
  EXPECT_EQ(scheduler_->ReservePlace().status().code(), absl::StatusCode::kResourceExhausted);
  c = Scheduler::QueuePlace();              // gives c's place back, once
  absl::StatusOr<Scheduler::QueuePlace> d = scheduler_->ReservePlace();
  EXPECT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(scheduler_->ReservePlace().status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(SchedulerPlacesTest, DrainingRefusesPlacesAndRequestsInPlaces) {
  Create(/*max_queued=*/4);
  scheduler_->Start();
  absl::StatusOr<Scheduler::QueuePlace> place = scheduler_->ReservePlace();
  ASSERT_TRUE(place.ok()) << place.status();
  EXPECT_TRUE(scheduler_->Drain(absl::Seconds(10)));
  EXPECT_EQ(scheduler_->ReservePlace().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(scheduler_->Submit(Request(), &NewSink(), *std::move(place)).code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(SchedulerPlacesTest, RequestsInPlacesRun) {
  Create(/*max_queued=*/1);
  scheduler_->Start();
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<Scheduler::QueuePlace> place = scheduler_->ReservePlace();
    ASSERT_TRUE(place.ok()) << place.status();
    TestSink& sink = NewSink();
    ASSERT_TRUE(scheduler_->Submit(Request(), &sink, *std::move(place)).ok());
    absl::StatusOr<GenerationResult> result = sink.WaitForResult();
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_TRUE(result->status.ok()) << result->status;
  }
}

}  // namespace
}  // namespace rwkv::server
