// InFlightTable: one mark per ID, released by its Hold however the Hold ends.
#include "server/sessions/in_flight_table.h"

#include <utility>

#include "gtest/gtest.h"

namespace rwkv::server {
namespace {

TEST(InFlightTableTest, OneHoldPerId) {
  InFlightTable table;
  absl::StatusOr<InFlightTable::Hold> hold = table.Acquire("a");
  ASSERT_TRUE(hold.ok()) << hold.status();
  EXPECT_TRUE(hold->held());
  EXPECT_TRUE(table.Contains("a"));
  const absl::Status second = table.Acquire("a").status();
  EXPECT_EQ(second.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(second.message(), "session a already has a turn in flight");
  EXPECT_TRUE(table.Acquire("b").ok());  // and released at once
  EXPECT_FALSE(table.Contains("b"));
}

TEST(InFlightTableTest, ReleasedByDestructionResetAndAssignment) {
  InFlightTable table;
  { InFlightTable::Hold hold = table.Acquire("a").value(); }
  EXPECT_FALSE(table.Contains("a"));

  InFlightTable::Hold hold = table.Acquire("a").value();
  hold.Reset();
  EXPECT_FALSE(hold.held());
  EXPECT_FALSE(table.Contains("a"));
  hold.Reset();  // twice is harmless

  hold = table.Acquire("a").value();
  hold = table.Acquire("b").value();  // assigning over a Hold releases what it held
  EXPECT_FALSE(table.Contains("a"));
  EXPECT_TRUE(table.Contains("b"));
}

TEST(InFlightTableTest, MovedHoldKeepsTheMark) {
  InFlightTable table;
  InFlightTable::Hold first = table.Acquire("a").value();
  InFlightTable::Hold second = std::move(first);
  EXPECT_FALSE(first.held());  // NOLINT(bugprone-use-after-move): moved-from is specified
  EXPECT_TRUE(second.held());
  first = InFlightTable::Hold();  // the moved-from Hold releases nothing
  EXPECT_TRUE(table.Contains("a"));
  second.Reset();
  EXPECT_FALSE(table.Contains("a"));
}

}  // namespace
}  // namespace rwkv::server
