// End to end with a real Prometheus: rwkv-server (tiny model) and Debian's prometheus on
// 127.0.0.1, scraping every second; rwkv-loadgen drives traffic; what Prometheus scraped must
// equal what the load generator received.

#include <cstdio>
#include <string>

#include "gtest/gtest.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/server/e2e/prometheus_process.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/http_get.h"
#include "tests/util/run_command.h"
#include "tests/util/scoped_temp_dir.h"
#include "tests/util/shared_data.h"
#include "tests/util/wait_for.h"

namespace rwkv::testing {
namespace {

struct LoadgenResult {
  int exit_code = -1;
  std::string output;
  double requests_ok = -1;
  double generated_tokens = -1;
};

// Runs rwkv-loadgen under timeout(1), so that a stuck run ends (exit code 124) instead of hanging
// the test.
LoadgenResult RunLoadgen(const std::string& address, const std::string& flags,
                         const std::string& json) {
  LoadgenResult result;
  const std::string command =
      absl::StrCat("timeout -k 10 ", absl::ToInt64Seconds(kWaitLimit), " ", RWKV_BIN_DIR,
                   "/rwkv-loadgen --server ", address, " ", flags, " --json ", json, " 2>&1");
  const CommandResult run = RunCommand(command);
  result.exit_code = run.exit_code;
  result.output = run.output;
  absl::StatusOr<std::string> report = ReadFileBytes(json);
  google::protobuf::Struct parsed;
  if (report.ok() && google::protobuf::util::JsonStringToMessage(*report, &parsed).ok()) {
    result.requests_ok = parsed.fields().at("requests_ok").number_value();
    result.generated_tokens = parsed.fields().at("generated_tokens").number_value();
  }
  return result;
}

// The lines of the server's /metrics naming `metric` (for the test's output).
std::string Excerpt(const std::string& metrics, const std::string& metric) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
    if (absl::StartsWith(line, metric)) absl::StrAppend(&out, line, "\n");
  }
  return out;
}

TEST(PrometheusE2eTest, ScrapedCountersEqualWhatTheLoadgenReceived) {
  auto server = ServerProcess::Start({"--model", TinyModel(), "--state-store", "memory:"});
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->metrics_port(), 0);
  auto prometheus = PrometheusProcess::Start((*server)->metrics_port());
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();

  ScopedTempDir dir;
  const LoadgenResult load = RunLoadgen((*server)->Address(),
                                        "--sessions 4 --turns 3 --max-tokens 16",
                                        dir.path() + ".json");
  ASSERT_EQ(load.exit_code, 0) << load.output;
  ASSERT_EQ(load.requests_ok, 12) << load.output;
  ASSERT_EQ(load.generated_tokens, 12 * 16) << load.output;
  // A call is counted when the server is done with it, which may be just after the client has
  // its status: wait until the server's own exposition has all twelve.
  const std::string all_counted = "rwkv_requests_total{code=\"OK\",method=\"Generate\"} 12\n";
  auto counted = [&] {
    absl::StatusOr<HttpResponse> metrics = HttpGet((*server)->metrics_port(), "/metrics");
    return metrics.ok() && absl::StrContains(metrics->body, all_counted);
  };
  ASSERT_TRUE(WaitFor(kWaitLimit, counted, absl::Milliseconds(100)))
      << "the server's /metrics never counted the twelve requests";
  const absl::Time load_done = absl::Now();

  // Wait for a scrape that started after the last request finished, then compare once.
  absl::StatusOr<absl::Time> scraped = absl::InfinitePast();
  auto scraped_after = [&] {
    scraped = (*prometheus)->LastScrape();
    return scraped.ok() && *scraped > load_done + absl::Milliseconds(100);
  };
  ASSERT_TRUE(WaitFor(kWaitLimit, scraped_after, absl::Milliseconds(100)))
      << "Prometheus never scraped after the load ended:\n"
      << (*prometheus)->Log();

  const absl::StatusOr<double> tokens = (*prometheus)->Query("rwkv_generated_tokens_total");
  const absl::StatusOr<double> ttft =
      (*prometheus)->Query("rwkv_time_to_first_token_seconds_count");
  const absl::StatusOr<double> generate_ok =
      (*prometheus)->Query("rwkv_requests_total{method=\"Generate\",code=\"OK\"}");
  const absl::StatusOr<double> length =
      (*prometheus)->Query("rwkv_finished_generations_total{reason=\"length\"}");
  const absl::StatusOr<double> up = (*prometheus)->Query("up{job=\"rwkv-server\"}");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ASSERT_TRUE(ttft.ok()) << ttft.status();
  EXPECT_EQ(*tokens, load.generated_tokens);
  EXPECT_EQ(*ttft, load.requests_ok);
  EXPECT_EQ(generate_ok.value_or(-1), load.requests_ok);
  EXPECT_EQ(length.value_or(-1), load.requests_ok);
  EXPECT_EQ(up.value_or(-1), 1);
  std::printf("loadgen: requests_ok=%.0f generated_tokens=%.0f\n", load.requests_ok,
              load.generated_tokens);
  std::printf("prometheus: rwkv_generated_tokens_total=%.0f "
              "rwkv_time_to_first_token_seconds_count=%.0f "
              "rwkv_requests_total{method=\"Generate\",code=\"OK\"}=%.0f up=%.0f\n",
              *tokens, *ttft, generate_ok.value_or(-1), up.value_or(-1));

  // The server's own exposition agrees.
  absl::StatusOr<HttpResponse> metrics = HttpGet((*server)->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_NE(metrics->body.find(absl::StrCat("rwkv_generated_tokens_total ",
                                            static_cast<int>(load.generated_tokens), "\n")),
            std::string::npos)
      << metrics->body;
  std::printf("/metrics excerpt:\n%s%s%s%s%s",
              Excerpt(metrics->body, "rwkv_generated_tokens_total").c_str(),
              Excerpt(metrics->body, "rwkv_prompt_tokens_total").c_str(),
              Excerpt(metrics->body, "rwkv_time_to_first_token_seconds").c_str(),
              Excerpt(metrics->body, "rwkv_requests_total").c_str(),
              Excerpt(metrics->body, "rwkv_session_events_total").c_str());

  (*prometheus)->Stop();
  EXPECT_EQ((*server)->Terminate(absl::Seconds(30)), 0);
}

}  // namespace
}  // namespace rwkv::testing
