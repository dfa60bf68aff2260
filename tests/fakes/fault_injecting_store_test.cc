// FaultInjectingStore: each operation fails on demand, independently, through every handle.
#include "tests/fakes/fault_injecting_store.h"

#include <memory>

#include "gtest/gtest.h"
#include "server/store/memory_state_store.h"

namespace rwkv::testing {
namespace {

using server::MemoryStateStore;
using server::WriteBatch;

class FaultInjectingStoreTest : public ::testing::Test {
 protected:
  absl::Status Put(server::StateStore& store, absl::string_view key) {
    WriteBatch batch;
    batch.Put(key, "v");
    return store.Write(batch);
  }

  std::shared_ptr<server::StateStore> inner_ = std::make_shared<MemoryStateStore>();
  FaultInjectingStore faults_{inner_};
};

TEST_F(FaultInjectingStoreTest, PassesThroughUntilTold) {
  EXPECT_EQ(faults_.Backend(), "memory");
  ASSERT_TRUE(Put(faults_, "k").ok());
  EXPECT_EQ(faults_.Get("k").value(), "v");
  EXPECT_EQ(faults_.Scan("", "", 10).value().size(), 1u);
  EXPECT_TRUE(faults_.Flush().ok());
  EXPECT_EQ(faults_.calls(StoreOp::kWrite), 1);
  EXPECT_EQ(faults_.failures(StoreOp::kWrite), 0);
}

TEST_F(FaultInjectingStoreTest, FailNextFailsThatManyCallsOfThatOperation) {
  ASSERT_TRUE(Put(faults_, "k").ok());
  faults_.FailNext(StoreOp::kGet, 2);
  const absl::Status first = faults_.Get("k").status();
  EXPECT_EQ(first.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(first.message(), "injected get failure");
  EXPECT_TRUE(Put(faults_, "other").ok());  // other operations are unaffected
  EXPECT_TRUE(faults_.Scan("", "", 10).ok());
  EXPECT_EQ(faults_.Get("k").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(faults_.Get("k").ok());
  EXPECT_EQ(faults_.calls(StoreOp::kGet), 3);
  EXPECT_EQ(faults_.failures(StoreOp::kGet), 2);
}

TEST_F(FaultInjectingStoreTest, FailAllUntilClearedWithTheChosenStatus) {
  faults_.FailAll(StoreOp::kWrite, absl::ResourceExhaustedError("disk full"));
  faults_.FailAll(StoreOp::kFlush);
  for (int i = 0; i < 3; ++i) {
    const absl::Status status = Put(faults_, "k");
    EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_EQ(status.message(), "disk full");
  }
  EXPECT_EQ(inner_->Get("k").status().code(), absl::StatusCode::kNotFound);  // nothing applied
  EXPECT_EQ(faults_.Flush().code(), absl::StatusCode::kUnavailable);
  faults_.Clear(StoreOp::kWrite);
  EXPECT_TRUE(Put(faults_, "k").ok());
  EXPECT_EQ(faults_.Flush().code(), absl::StatusCode::kUnavailable);
  faults_.ClearAll();
  EXPECT_TRUE(faults_.Flush().ok());
}

TEST_F(FaultInjectingStoreTest, SharedHandlesShareFaultsAndCounts) {
  std::unique_ptr<FaultInjectingStore> handle = faults_.Share();
  faults_.FailNext(StoreOp::kScan, 1, absl::DataLossError("bad sector"));
  EXPECT_EQ(handle->Scan("", "", 10).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(faults_.Scan("", "", 10).ok());
  EXPECT_EQ(faults_.calls(StoreOp::kScan), 2);
  EXPECT_EQ(handle->failures(StoreOp::kScan), 1);
  ASSERT_TRUE(Put(*handle, "k").ok());
  EXPECT_EQ(faults_.Get("k").value(), "v");
  handle.reset();  // the store outlives any one handle
  EXPECT_EQ(faults_.Get("k").value(), "v");
}

}  // namespace
}  // namespace rwkv::testing
