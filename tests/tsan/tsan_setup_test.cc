// Checks that the TSan build can be trusted (built only with RWKV_TSAN): it reports a real race,
// and stays silent on accesses ordered by absl::Mutex, absl::CondVar, absl::Notification and
// gRPC's gpr_mu, which only holds when the instrumented libabsl_synchronization is the one loaded
// (scripts/tsan-abseil.sh). Without it every ABSL_GUARDED_BY field would be reported.
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/run_command.h"

namespace rwkv::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

CommandResult RunProbe(const std::string& mode) {
  return RunCommand(absl::StrCat(RWKV_TSAN_PROBE, " ", mode, " 2>&1"));
}

TEST(TsanSetupTest, ReportsAnUnlockedRace) {
  const CommandResult result = RunProbe("unlocked");
  EXPECT_EQ(result.exit_code, 66) << result.output;  // TSan's exit code after a report
  EXPECT_THAT(result.output, HasSubstr("WARNING: ThreadSanitizer: data race"));
  EXPECT_THAT(result.output, HasSubstr("RacyIncrement"));  // symbolized, with the racing frame
}

class LockedProbeTest : public ::testing::TestWithParam<const char*> {};

TEST_P(LockedProbeTest, ReportsNothing) {
  const CommandResult result = RunProbe(GetParam());
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, Not(HasSubstr("ThreadSanitizer")));
  EXPECT_THAT(result.output, HasSubstr("counter 2000"));
}

INSTANTIATE_TEST_SUITE_P(Locks, LockedProbeTest,
                         ::testing::Values("absl-mutex", "absl-await", "notification",
                                           "gpr-mutex"));

}  // namespace
}  // namespace rwkv::testing
