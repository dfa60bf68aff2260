#include "client/loadgen.h"

#include <chrono>
#include <string>

#include "client/loadgen_report.h"
#include "common/json_quote.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/fake_rwkv_server.h"

namespace rwkv::client {
namespace {

using ::testing::ElementsAre;
using testing::FakeRwkvServer;
using testing::FakeTurn;
using ::testing::HasSubstr;

RequestTimer::Clock::time_point At(int ms) {
  return RequestTimer::Clock::time_point() + std::chrono::milliseconds(ms);
}

TEST(LoadgenOptionsTest, DefaultsAreValid) {
  EXPECT_TRUE(ValidateLoadgenOptions(LoadgenOptions()).ok());
  EXPECT_GE(kDefaultLoadgenPrompt.size(), 90u);
  EXPECT_LE(kDefaultLoadgenPrompt.size(), 110u);
}

TEST(LoadgenOptionsTest, RejectsOutOfRangeValues) {
  auto invalid = [](auto mutate) {
    LoadgenOptions options;
    mutate(options);
    return ValidateLoadgenOptions(options).code() == absl::StatusCode::kInvalidArgument;
  };
  EXPECT_TRUE(invalid([](LoadgenOptions& o) { o.sessions = 0; }));
  EXPECT_TRUE(invalid([](LoadgenOptions& o) { o.turns = 0; }));
  EXPECT_TRUE(invalid([](LoadgenOptions& o) { o.warmup_turns = -1; }));
  EXPECT_TRUE(invalid([](LoadgenOptions& o) { o.max_tokens = -1; }));
  EXPECT_TRUE(invalid([](LoadgenOptions& o) { o.prompt_tokens = -1; }));
  EXPECT_TRUE(invalid([](LoadgenOptions& o) { o.prompt.clear(); }));
  EXPECT_TRUE(invalid([](LoadgenOptions& o) { o.session_prefix = "has space"; }));
  EXPECT_TRUE(invalid([](LoadgenOptions& o) { o.session_prefix = ".hidden"; }));
  EXPECT_TRUE(invalid([](LoadgenOptions& o) { o.session_prefix = ""; }));
  EXPECT_TRUE(invalid([](LoadgenOptions& o) { o.request_timeout = absl::ZeroDuration(); }));
  // Without sessions the prefix is irrelevant; with token prompts the text is.
  EXPECT_FALSE(invalid([](LoadgenOptions& o) {
    o.use_sessions = false;
    o.session_prefix = "";
  }));
  EXPECT_FALSE(invalid([](LoadgenOptions& o) {
    o.prompt.clear();
    o.prompt_tokens = 5;
  }));
}

TEST(LoadgenRequestTest, CyclingPromptTokensWrapAfterTilde) {
  const std::vector<int32_t> ids = CyclingPromptTokens(97);
  ASSERT_EQ(ids.size(), 97u);
  EXPECT_EQ(ids[0], 32);
  EXPECT_EQ(ids[94], 126);
  EXPECT_EQ(ids[95], 32);
  EXPECT_EQ(ids[96], 33);
  EXPECT_TRUE(CyclingPromptTokens(0).empty());
}

TEST(LoadgenRequestTest, TextPromptWithSession) {
  LoadgenOptions options;
  options.session_prefix = "bench";
  options.max_tokens = 32;
  options.temperature = 0.5f;
  const rwkv::v1::GenerateRequest request = BuildLoadgenRequest(options, 3);
  EXPECT_EQ(request.text(), kDefaultLoadgenPrompt);
  EXPECT_EQ(request.session_id(), "bench-3");
  EXPECT_TRUE(request.create_session());
  EXPECT_FLOAT_EQ(request.sampling().temperature(), 0.5f);
  EXPECT_TRUE(request.sampling().has_temperature());
  EXPECT_FALSE(request.sampling().has_top_p());  // 1, off: the server's default
  EXPECT_EQ(request.stop().max_tokens(), 32);
  EXPECT_TRUE(request.stop().ignore_end_of_text());
}

TEST(LoadgenRequestTest, TokenPromptWithoutSession) {
  LoadgenOptions options;
  options.use_sessions = false;
  options.prompt_tokens = 3;
  options.ignore_eos = false;
  const rwkv::v1::GenerateRequest request = BuildLoadgenRequest(options, 0);
  ASSERT_TRUE(request.has_tokens());
  EXPECT_THAT(request.tokens().ids(), ElementsAre(32, 33, 34));
  EXPECT_TRUE(request.session_id().empty());
  EXPECT_FALSE(request.create_session());
  EXPECT_TRUE(request.sampling().has_temperature());  // 0 must be sent: the server default is 1
  EXPECT_EQ(request.sampling().temperature(), 0);
  EXPECT_FALSE(request.stop().ignore_end_of_text());
}

TEST(LoadgenRequestTest, TopPIsSentBelowOneAndCheckedOnTheWay) {
  LoadgenOptions options;
  options.temperature = 1.0f;
  options.top_p = 0.9f;
  EXPECT_FLOAT_EQ(BuildLoadgenRequest(options, 0).sampling().top_p(), 0.9f);
  EXPECT_TRUE(ValidateLoadgenOptions(options).ok());
  for (float bad : {0.0f, -0.5f, 1.5f}) {
    options.top_p = bad;
    const absl::Status status = ValidateLoadgenOptions(options);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(status.message(), "--top-p must be in (0, 1]") << bad;
  }
}

TEST(LoadgenResultsTest, SummarisesSuccessesAndCountsFailuresByCode) {
  LoadgenResults a;
  RequestTimer fast(At(0));
  fast.OnTokens(At(10), 1);
  fast.OnTokens(At(20), 2);
  fast.OnEnd(At(25));
  a.Record(absl::OkStatus(), fast, /*warmup=*/false);
  a.Record(absl::OkStatus(), fast, /*warmup=*/true);  // ignored
  a.Record(absl::UnavailableError("down"), RequestTimer(At(0)), /*warmup=*/false);
  LoadgenResults b;
  RequestTimer slow(At(0));
  slow.OnTokens(At(100), 1);
  slow.OnEnd(At(110));
  b.Record(absl::OkStatus(), slow, false);
  b.Record(absl::UnavailableError("still down"), RequestTimer(At(0)), false);
  b.Record(absl::AbortedError("busy"), RequestTimer(At(0)), true);
  a.Merge(b);

  const LoadgenReport report = a.ToReport(/*wall_s=*/2.0);
  EXPECT_EQ(report.requests_ok, 2);
  EXPECT_EQ(report.requests_failed, 2);
  EXPECT_EQ(report.warmup_failed, 1);
  EXPECT_TRUE(report.AnyFailed());
  EXPECT_EQ(report.generated_tokens, 4);
  EXPECT_DOUBLE_EQ(report.throughput_tok_s, 2.0);
  EXPECT_EQ(report.ttft.count, 2);
  EXPECT_DOUBLE_EQ(report.ttft.p50, 0.010);
  EXPECT_DOUBLE_EQ(report.ttft.max, 0.100);
  EXPECT_EQ(report.inter_token.count, 2);  // 10 ms and 0 from `fast`; none from `slow`
  EXPECT_DOUBLE_EQ(report.inter_token.max, 0.010);
  EXPECT_EQ(report.end_to_end.count, 2);
  ASSERT_EQ(report.errors.size(), 2u);
  EXPECT_EQ(report.errors.at("UNAVAILABLE").count, 2);
  EXPECT_EQ(report.errors.at("UNAVAILABLE").first_message, "down");
  EXPECT_EQ(report.errors.at("ABORTED").count, 1);
}

TEST(LoadgenReportTest, TableAndJsonCarryTheNumbers) {
  LoadgenReport report;
  report.sessions = 4;
  report.turns = 2;
  report.requests_ok = 7;
  report.requests_failed = 1;
  report.wall_s = 2;
  report.generated_tokens = 448;
  report.throughput_tok_s = 224;
  report.ttft = {7, 0.02, 0.01, 0.015, 0.03, 0.04, 0.04};
  report.errors["UNAVAILABLE"] = {1, "connection \"refused\"\n"};
  LoadgenOptions options;
  const std::string table = FormatLoadgenTable(report, options, "host:1");
  EXPECT_THAT(table, HasSubstr("7 ok, 1 failed"));
  EXPECT_THAT(table, HasSubstr("224.0 tok/s"));
  EXPECT_THAT(table, HasSubstr("15.0"));  // TTFT p50 in ms
  EXPECT_THAT(table, HasSubstr("UNAVAILABLE: 1"));
  const std::string json = FormatLoadgenJson(report, options, "host:1");
  EXPECT_THAT(json, HasSubstr("\"requests_ok\": 7"));
  EXPECT_THAT(json, HasSubstr("\"throughput_tok_s\": 224"));
  EXPECT_THAT(json, HasSubstr("\"ttft_s\": {\"count\": 7, \"mean\": 0.02"));
  EXPECT_THAT(json, HasSubstr("\"p50\": 0.015"));
  EXPECT_THAT(json, HasSubstr("\"first_message\": \"connection \\\"refused\\\"\\n\""));
}

TEST(LoadgenReportTest, JsonQuoteEscapes) {
  EXPECT_EQ(JsonQuote("a\"b\\c\n\t\x01"), "\"a\\\"b\\\\c\\n\\t\\u0001\"");
  EXPECT_EQ(JsonQuote("h\xc3\xa9"), "\"h\xc3\xa9\"");
}

TEST(RunLoadgenTest, RunsEveryTurnAndCleansUpSessions) {
  FakeRwkvServer server;  // default turn: 3 tokens in 2 deltas
  RwkvClient client(server.NewChannel());
  LoadgenOptions options;
  options.sessions = 3;
  options.turns = 2;
  options.warmup_turns = 1;
  options.session_prefix = "lg";
  absl::StatusOr<LoadgenReport> report = RunLoadgen(client, options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->requests_ok, 6);
  EXPECT_EQ(report->requests_failed, 0);
  EXPECT_FALSE(report->AnyFailed());
  EXPECT_EQ(report->generated_tokens, 18);
  EXPECT_EQ(report->ttft.count, 6);
  EXPECT_EQ(report->inter_token.count, 12);
  EXPECT_GT(report->wall_s, 0);
  EXPECT_EQ(report->sessions_not_deleted, 0);
  const std::vector<rwkv::v1::GenerateRequest> requests = server.service().generate_requests();
  ASSERT_EQ(requests.size(), 9u);
  int on_lg1 = 0;
  for (const auto& request : requests) on_lg1 += request.session_id() == "lg-1";
  EXPECT_EQ(on_lg1, 3);
  EXPECT_FALSE(server.service().HasSession("lg-0"));  // deleted after the run
  // Every turn and every clean-up names its session in the routing metadata.
  for (const testing::RecordedCall& call : server.service().calls()) {
    ASSERT_EQ(call.session_ids.size(), 1u) << call.method;
    EXPECT_THAT(call.session_ids[0], ::testing::StartsWith("lg-")) << call.method;
  }
}

TEST(RunLoadgenTest, FailuresAreReportedByCode) {
  FakeRwkvServer server;
  FakeTurn failing;
  failing.status = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "queue full");
  server.service().SetDefaultTurn(failing);
  RwkvClient client(server.NewChannel());
  LoadgenOptions options;
  options.sessions = 2;
  options.turns = 2;
  options.use_sessions = false;
  absl::StatusOr<LoadgenReport> report = RunLoadgen(client, options);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->requests_ok, 0);
  EXPECT_EQ(report->requests_failed, 4);
  EXPECT_EQ(report->errors.at("RESOURCE_EXHAUSTED").count, 4);
  EXPECT_EQ(report->errors.at("RESOURCE_EXHAUSTED").first_message, "queue full");
  EXPECT_EQ(report->ttft.count, 0);
}

TEST(RunLoadgenTest, InvalidOptionsAreAnError) {
  FakeRwkvServer server;
  RwkvClient client(server.NewChannel());
  LoadgenOptions options;
  options.sessions = 0;
  EXPECT_EQ(RunLoadgen(client, options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rwkv::client
