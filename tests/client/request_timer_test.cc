#include "client/request_timer.h"

#include <chrono>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rwkv::client {
namespace {

using ::testing::DoubleEq;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

RequestTimer::Clock::time_point At(int ms) {
  return RequestTimer::Clock::time_point() + std::chrono::milliseconds(ms);
}

TEST(RequestTimerTest, OneTokenPerDelta) {
  RequestTimer timer(At(1000));
  timer.OnTokens(At(1100), 1);
  timer.OnTokens(At(1120), 1);
  timer.OnTokens(At(1150), 1);
  timer.OnEnd(At(1160));
  EXPECT_EQ(timer.tokens(), 3);
  EXPECT_DOUBLE_EQ(timer.ttft_s(), 0.100);
  EXPECT_THAT(timer.inter_token_s(), ElementsAre(DoubleEq(0.020), DoubleEq(0.030)));
  EXPECT_DOUBLE_EQ(timer.end_to_end_s(), 0.160);
  EXPECT_DOUBLE_EQ(timer.decode_tokens_per_s(), 2 / 0.050);
}

TEST(RequestTimerTest, ExtraTokensOfADeltaGetZeroGaps) {
  RequestTimer timer(At(0));
  timer.OnTokens(At(50), 3);  // first token at 50 ms, two more with it
  timer.OnTokens(At(80), 2);
  timer.OnEnd(At(90));
  EXPECT_EQ(timer.tokens(), 5);
  EXPECT_DOUBLE_EQ(timer.ttft_s(), 0.050);
  EXPECT_THAT(timer.inter_token_s(),
              ElementsAre(DoubleEq(0), DoubleEq(0), DoubleEq(0.030), DoubleEq(0)));
}

TEST(RequestTimerTest, DeltasWithoutTokensDoNotCount) {
  RequestTimer timer(At(0));
  timer.OnTokens(At(10), 0);
  timer.OnTokens(At(40), 1);
  EXPECT_DOUBLE_EQ(timer.ttft_s(), 0.040);
  EXPECT_THAT(timer.inter_token_s(), IsEmpty());
  EXPECT_EQ(timer.decode_tokens_per_s(), 0);
}

TEST(RequestTimerTest, NoTokens) {
  RequestTimer timer(At(0));
  timer.OnEnd(At(30));
  EXPECT_EQ(timer.tokens(), 0);
  EXPECT_EQ(timer.ttft_s(), 0);
  EXPECT_DOUBLE_EQ(timer.end_to_end_s(), 0.030);
}

}  // namespace
}  // namespace rwkv::client
